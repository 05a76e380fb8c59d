/* Pipeline analytics charts, drawn with the vendored Chart.js from the page's JSON data. */
(function () {
  "use strict";

  function draw() {
    var source = document.getElementById("pipeline-analytics-data");
    if (!source || !window.Chart) {
      return;
    }
    var data = JSON.parse(source.textContent);
    var accent = "#4f46e5";
    var green = "#12b76a";
    var grey = "#98a2b3";

    function bar(canvas, labels, values, options) {
      return new window.Chart(canvas, {
        type: "bar",
        data: {
          labels: labels,
          datasets: [
            {
              label: options.label,
              data: values,
              backgroundColor: options.color || accent,
            },
          ],
        },
        options: {
          indexAxis: options.horizontal ? "y" : "x",
          responsive: true,
          animation: false,
          plugins: { legend: { display: false } },
          scales: options.percent
            ? { [options.horizontal ? "x" : "y"]: { min: 0, max: 100, ticks: { callback: function (v) { return v + " %"; } } } }
            : {},
        },
      });
    }

    document.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
      var kind = canvas.getAttribute("data-chart");
      if (kind === "conversion") {
        bar(canvas, data.conversion.labels, data.conversion.rates, { label: "Conversion %", percent: true, horizontal: true });
      } else if (kind === "time") {
        bar(canvas, data.time.labels, data.time.median_days, { label: "Median days", color: grey });
      } else if (kind === "win_source") {
        bar(canvas, data.win_source.labels, data.win_source.rates, { label: "Win rate %", percent: true, color: green });
      } else if (kind === "win_owner") {
        bar(canvas, data.win_owner.labels, data.win_owner.rates, { label: "Win rate %", percent: true, color: green });
      } else if (kind === "forecast") {
        new window.Chart(canvas, {
          type: "bar",
          data: {
            labels: data.forecast.labels,
            datasets: [
              { label: "Won (" + data.currency + ")", data: data.forecast.won, backgroundColor: green, stack: "f" },
              { label: "Open × probability (" + data.currency + ")", data: data.forecast.weighted, backgroundColor: accent, stack: "f" },
            ],
          },
          options: {
            responsive: true,
            animation: false,
            scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true } },
          },
        });
      }
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();
