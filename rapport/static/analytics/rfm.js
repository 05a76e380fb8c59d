/* RFM page: customers per segment as bars; a bar opens that segment's customers. The grid
   itself is an HTML table (shaded by CSS classes), readable without JavaScript. */
(function () {
  "use strict";
  var charts = window.RapportCharts;
  charts.ready(function () {
    var data = charts.readJSON("rfm-segments-data");
    if (!data) return;
    charts.make("rfm-segments-chart", {
      type: "bar",
      data: {
        labels: data.labels,
        datasets: [{
          label: "Customers",
          data: data.customers,
          backgroundColor: charts.color("--accent", "#4f46e5")
        }]
      },
      options: {
        indexAxis: "y",
        plugins: {
          legend: { display: false },
          tooltip: {
            callbacks: {
              afterLabel: function (item) { return "Revenue: " + Math.round(data.revenue[item.dataIndex]).toLocaleString(); }
            }
          }
        },
        scales: { x: { beginAtZero: true, title: { display: true, text: "customers" } } },
        onClick: charts.openOnClick(function (index) { return data.urls[index]; }),
        onHover: charts.pointerOnHover
      }
    });
  });
})();
