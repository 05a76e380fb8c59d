/* Model fit page: mean predicted vs actual holdout purchases by calibration frequency. */
(function () {
  "use strict";
  var charts = window.RapportCharts;
  charts.ready(function () {
    var data = charts.readJSON("holdout-data");
    if (!data) return;
    charts.make("holdout-chart", {
      type: "bar",
      data: {
        labels: data.labels,
        datasets: [
          { label: "Predicted", data: data.predicted, backgroundColor: charts.color("--accent", "#4f46e5") },
          { label: "Actual", data: data.actual, backgroundColor: "#0e9384" }
        ]
      },
      options: {
        scales: {
          x: { title: { display: true, text: "repeat purchases in the calibration period" } },
          y: { beginAtZero: true, title: { display: true, text: "purchases per customer in the holdout" } }
        }
      }
    });
  });
})();
