/* The data-quality trend chart. Data comes from a JSON block (no inline script: CSP). */
(function () {
  "use strict";
  var SERIES = [
    ["identification_rate", "Usable identity", "#2563eb"],
    ["profile_completeness", "Profile completeness", "#16a34a"],
    ["consent_coverage", "Consent recorded", "#9333ea"],
    ["duplicate_rate", "Suspected duplicates", "#dc2626"],
    ["stale_rate", "Stale", "#ca8a04"],
    ["invalid_rate", "Invalid values", "#64748b"]
  ];

  function draw(canvas) {
    var source = document.getElementById(canvas.getAttribute("data-trend"));
    if (!source || !window.Chart) return;
    var days = JSON.parse(source.textContent);
    new window.Chart(canvas, {
      type: "line",
      data: {
        labels: days.map(function (d) { return d.day; }),
        datasets: SERIES.map(function (s) {
          return {
            label: s[1],
            data: days.map(function (d) { return d[s[0]]; }),
            borderColor: s[2],
            backgroundColor: s[2],
            spanGaps: true,
            tension: 0.2
          };
        })
      },
      options: {
        responsive: true,
        animation: false,
        scales: { y: { min: 0, max: 100, ticks: { callback: function (v) { return v + " %"; } } } }
      }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("canvas[data-trend]").forEach(draw);
  });
})();
