/* Cohort page: the heatmap is an HTML table shaded by CSS classes; this draws the retention
   curve of the newest cohorts beside the size-weighted average, and a click on a cohort's line
   opens its customers. */
(function () {
  "use strict";
  var charts = window.RapportCharts;
  var palette = ["#4f46e5", "#0e9384", "#f79009", "#d92d20", "#7a5af8", "#2e90fa"];
  charts.ready(function () {
    var data = charts.readJSON("cohort-data");
    if (!data || !data.cohorts || !data.cohorts.length) return;
    var columns = data.columns;
    var labels = [];
    for (var k = 0; k < columns; k++) labels.push(k);
    var sums = new Array(columns).fill(0);
    var weights = new Array(columns).fill(0);
    data.cohorts.forEach(function (row) {
      row.retention.forEach(function (value, k) {
        if (value === null) return;
        sums[k] += value * row.customers;
        weights[k] += row.customers;
      });
    });
    var average = sums.map(function (sum, k) { return weights[k] ? sum / weights[k] : null; });
    var newest = data.cohorts.slice(-6);
    var datasets = newest.map(function (row, i) {
      return {
        label: row.month,
        data: row.retention,
        borderColor: palette[i % palette.length],
        backgroundColor: palette[i % palette.length],
        pointRadius: 2,
        spanGaps: false,
        url: row.url
      };
    });
    datasets.push({
      label: "Average of all cohorts",
      data: average,
      borderColor: charts.color("--text", "#1b1f27"),
      borderWidth: 3,
      pointRadius: 0
    });
    charts.make("cohort-chart", {
      type: "line",
      data: { labels: labels, datasets: datasets },
      options: {
        scales: {
          x: { title: { display: true, text: "months since first order" } },
          y: { min: 0, max: 1, title: { display: true, text: "share of the cohort ordering" }, ticks: { callback: charts.percent } }
        },
        plugins: { tooltip: { callbacks: { label: function (item) { return item.dataset.label + ": " + charts.percent(item.parsed.y); } } } },
        onClick: charts.openOnClick(function (index, dataset) { return datasets[dataset].url || null; }),
        onHover: charts.pointerOnHover
      }
    });
  });
})();
