/* A report's chart, drawn from the JSON the page writes with json_script (the CSP allows no
   inline script). Each bar, point or slice opens the records behind it; the table under the
   chart has the same figures and links for those who do not use the chart. */
(function () {
  "use strict";
  var charts = window.RapportCharts;
  var PALETTE = ["#4f46e5", "#0891b2", "#16a34a", "#ca8a04", "#dc2626", "#9333ea", "#db2777",
    "#0d9488", "#ea580c", "#2563eb", "#65a30d", "#7c3aed", "#be123c", "#0284c7", "#a16207",
    "#15803d", "#c026d3", "#475569", "#b91c1c", "#4338ca"];

  function colour(index) { return PALETTE[index % PALETTE.length]; }

  /* Also used by the dashboards (reports/dashboards.js) for their report widgets. */
  function draw(canvasId, data) {
    var round = data.type === "pie" || data.type === "doughnut";
    var datasets = data.datasets.map(function (set, index) {
      return {
        label: set.label,
        data: set.data,
        fill: data.fill,
        tension: 0.2,
        backgroundColor: round ? set.data.map(function (_v, i) { return colour(i); }) : colour(index),
        borderColor: round ? "#ffffff" : colour(index)
      };
    });
    var options = {
      plugins: { legend: { display: round || datasets.length > 1 } },
      onClick: charts.openOnClick(function (index, datasetIndex) {
        return data.datasets[datasetIndex || 0].urls[index];
      }),
      onHover: charts.pointerOnHover
    };
    if (!round) {
      var valueAxis = { beginAtZero: true, title: { display: true, text: data.measure } };
      options.scales = data.horizontal ? { x: valueAxis } : { y: valueAxis };
      if (data.horizontal) options.indexAxis = "y";
    }
    return charts.make(canvasId, { type: data.type, data: { labels: data.labels, datasets: datasets }, options: options });
  }

  window.RapportReportChart = { draw: draw };

  charts.ready(function () {
    var data = charts.readJSON("report-chart-data");
    if (data) draw("report-chart", data);
  });
})();
