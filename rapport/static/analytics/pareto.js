/* Pareto page: cumulative share of revenue against share of customers, best customers first.
   A click at x % opens the top x % of customers by revenue. */
(function () {
  "use strict";
  var charts = window.RapportCharts;
  charts.ready(function () {
    var data = charts.readJSON("pareto-data");
    if (!data || !data.customer_share.length) return;
    var points = data.customer_share.map(function (x, i) { return { x: x, y: data.revenue_share[i] }; });
    charts.make("pareto-chart", {
      type: "line",
      data: {
        datasets: [
          {
            label: "Share of revenue",
            data: points,
            borderColor: charts.color("--accent", "#4f46e5"),
            backgroundColor: "rgba(79, 70, 229, 0.12)",
            fill: true,
            pointRadius: 0,
            pointHitRadius: 6,
            tension: 0
          },
          {
            label: "Everyone equal",
            data: [{ x: 0, y: 0 }, { x: 1, y: 1 }],
            borderColor: charts.color("--muted", "#6b7280"),
            borderDash: [4, 4],
            pointRadius: 0,
            fill: false
          }
        ]
      },
      options: {
        parsing: false,
        interaction: { mode: "nearest", intersect: false, axis: "x" },
        scales: {
          x: { type: "linear", min: 0, max: 1, title: { display: true, text: "share of customers, best first" }, ticks: { callback: charts.percent } },
          y: { min: 0, max: 1, title: { display: true, text: "share of revenue" }, ticks: { callback: charts.percent } }
        },
        plugins: {
          tooltip: {
            filter: function (item) { return item.datasetIndex === 0; },
            callbacks: {
              title: function (items) { return "Top " + charts.percent(items[0].parsed.x) + " of customers"; },
              label: function (item) { return charts.percent(item.parsed.y) + " of revenue"; }
            }
          }
        },
        onClick: charts.openOnClick(function (index, dataset) {
          if (dataset !== 0) return null;
          var share = Math.max(1, Math.round(points[index].x * 100));
          return data.url + share;
        }),
        onHover: charts.pointerOnHover
      }
    });
  });
})();
