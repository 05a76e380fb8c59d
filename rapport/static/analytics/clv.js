/* CLV page: the distribution of predicted CLV on log-spaced bins; a bar opens its customers. */
(function () {
  "use strict";
  var charts = window.RapportCharts;
  charts.ready(function () {
    var data = charts.readJSON("clv-data");
    if (!data || !data.labels.length) return;
    charts.make("clv-chart", {
      type: "bar",
      data: {
        labels: data.labels,
        datasets: [{ label: "Customers", data: data.customers, backgroundColor: charts.color("--accent", "#4f46e5") }]
      },
      options: {
        plugins: { legend: { display: false } },
        scales: {
          x: { title: { display: true, text: "predicted CLV" } },
          y: { beginAtZero: true, title: { display: true, text: "customers" } }
        },
        onClick: charts.openOnClick(function (index) { return data.urls[index]; }),
        onHover: charts.pointerOnHover
      }
    });
  });
})();
