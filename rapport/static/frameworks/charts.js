/* Charts of the CRM-model pages: KPI sparklines, the IDIC funnel, the maturity radar, a KPI's
   history and an objective's trend with its projection. Data comes from <script
   type="application/json"> blocks written by Django's json_script (the CSP forbids inline
   script); every chart has the same figures in a table or text beside it. */
(function () {
  "use strict";

  function readJSON(id) {
    var element = document.getElementById(id);
    if (!element) return null;
    try { return JSON.parse(element.textContent); } catch (error) { return null; }
  }

  function ready(callback) {
    if (document.readyState !== "loading") callback();
    else document.addEventListener("DOMContentLoaded", callback);
  }

  function css(name, fallback) {
    var value = window.getComputedStyle(document.documentElement).getPropertyValue(name).trim();
    return value || fallback;
  }

  var reduced = window.matchMedia && window.matchMedia("(prefers-reduced-motion: reduce)").matches;

  function make(canvas, config) {
    if (!canvas || !window.Chart) return null;
    config.options = config.options || {};
    config.options.responsive = true;
    config.options.maintainAspectRatio = false;
    if (reduced) config.options.animation = false;
    return new window.Chart(canvas, config);
  }

  function day(text) { return new Date(text + "T00:00:00").getTime(); }
  function dayLabel(value) {
    return new Date(value).toLocaleDateString(undefined, { day: "numeric", month: "short", year: "2-digit" });
  }

  function sparklines() {
    var data = readJSON("sparklines-data");
    if (!data) return;
    var accent = css("--accent", "#4f46e5");
    var muted = css("--muted", "#6b7280");
    document.querySelectorAll("canvas[data-sparkline]").forEach(function (canvas) {
      var series = data[canvas.getAttribute("data-sparkline")];
      if (!series) return;
      var datasets = [{
        data: series.values, borderColor: accent, borderWidth: 1.5, pointRadius: 0, tension: 0.25, fill: false
      }];
      if (series.target !== null && series.target !== undefined) {
        datasets.push({
          data: series.values.map(function () { return series.target; }),
          borderColor: muted, borderWidth: 1, borderDash: [3, 3], pointRadius: 0, fill: false
        });
      }
      make(canvas, {
        type: "line",
        data: { labels: series.labels, datasets: datasets },
        options: {
          animation: false,
          plugins: { legend: { display: false }, tooltip: { enabled: true, displayColors: false } },
          scales: { x: { display: false }, y: { display: false } },
          elements: { line: { capBezierPoints: true } }
        }
      });
    });
  }

  function funnel() {
    var data = readJSON("funnel-data");
    var canvas = document.getElementById("funnel-chart");
    if (!data || !canvas) return;
    make(canvas, {
      type: "bar",
      data: { labels: data.labels, datasets: [{ data: data.values, backgroundColor: css("--accent", "#4f46e5") }] },
      options: {
        indexAxis: "y",
        plugins: { legend: { display: false } },
        scales: { x: { beginAtZero: true, ticks: { precision: 0 } } }
      }
    });
  }

  var RADAR_COLOURS = ["#4f46e5", "#f79009", "#0e9384", "#c11574"];

  function radar() {
    var data = readJSON("radar-data");
    var canvas = document.getElementById("radar-chart");
    if (!data || !canvas) return;
    make(canvas, {
      type: "radar",
      data: {
        labels: data.labels,
        datasets: data.datasets.map(function (set, index) {
          var colour = RADAR_COLOURS[index % RADAR_COLOURS.length];
          return {
            label: set.label, data: set.values, borderColor: colour,
            backgroundColor: colour + "22", pointBackgroundColor: colour, spanGaps: true
          };
        })
      },
      options: { scales: { r: { min: 0, max: 5, ticks: { stepSize: 1 } } } }
    });
  }

  function history() {
    var data = readJSON("history-data");
    var canvas = document.getElementById("history-chart");
    if (!data || !canvas || !data.values.length) return;
    var points = data.labels.map(function (label, index) { return { x: day(label), y: data.values[index] }; });
    make(canvas, {
      type: "line",
      data: { datasets: [{ label: data.name || "Value", data: points, borderColor: css("--accent", "#4f46e5"), pointRadius: 2, tension: 0.2 }] },
      options: {
        parsing: false,
        plugins: { legend: { display: false }, tooltip: { callbacks: { title: function (items) { return dayLabel(items[0].parsed.x); } } } },
        scales: { x: { type: "linear", ticks: { callback: dayLabel, maxTicksLimit: 8 } } }
      }
    });
  }

  function objective() {
    var data = readJSON("objective-data");
    var canvas = document.getElementById("objective-chart");
    if (!data || !canvas) return;
    var measured = data.labels.map(function (label, index) { return { x: day(label), y: data.values[index] }; });
    var start = day(data.baseline_day);
    var end = day(data.deadline);
    var datasets = [
      { label: "Measured", data: measured, borderColor: css("--accent", "#4f46e5"), pointRadius: 2, tension: 0.2 },
      { label: "Target", data: [{ x: start, y: data.target }, { x: end, y: data.target }], borderColor: css("--success", "#067647"), borderDash: [6, 4], pointRadius: 0 }
    ];
    if (data.projection.length) {
      datasets.push({
        label: "Projection", data: data.projection.map(function (p) { return { x: day(p.x), y: p.y }; }),
        borderColor: css("--warning", "#93370d"), borderDash: [2, 3], pointRadius: 3
      });
    }
    make(canvas, {
      type: "line",
      data: { datasets: datasets },
      options: {
        parsing: false,
        plugins: { tooltip: { callbacks: { title: function (items) { return dayLabel(items[0].parsed.x); } } } },
        scales: { x: { type: "linear", ticks: { callback: dayLabel, maxTicksLimit: 8 } } }
      }
    });
  }

  ready(function () {
    sparklines();
    funnel();
    radar();
    history();
    objective();
  });
})();
