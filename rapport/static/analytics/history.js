/* A customer's value history: predicted CLV and P(alive) per snapshot day. */
(function () {
  "use strict";
  var charts = window.RapportCharts;
  charts.ready(function () {
    var data = charts.readJSON("history-data");
    if (!data || !data.labels.length) return;
    charts.make("history-chart", {
      type: "line",
      data: {
        labels: data.labels,
        datasets: [
          { label: "Predicted CLV", data: data.clv, borderColor: charts.color("--accent", "#4f46e5"), yAxisID: "clv", pointRadius: 2 },
          { label: "P(alive)", data: data.p_alive, borderColor: "#0e9384", yAxisID: "alive", pointRadius: 2 }
        ]
      },
      options: {
        scales: {
          clv: { type: "linear", position: "left", beginAtZero: true, title: { display: true, text: "CLV" } },
          alive: { type: "linear", position: "right", min: 0, max: 1, grid: { drawOnChartArea: false }, ticks: { callback: charts.percent } }
        }
      }
    });
  });
})();
