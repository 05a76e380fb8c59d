/* A dashboard's report widgets arrive after the page (hx-trigger="load"): draw each chart as its
   fragment is swapped in, with the report page's own drawing (reports/chart.js). The figures
   come in the canvas's data-report-chart attribute: htmx drops script elements it swaps in. */
(function () {
  "use strict";

  function drawIn(root) {
    if (!root || !root.querySelectorAll || !window.RapportReportChart) return;
    var canvases = root.querySelectorAll("canvas[data-report-chart]");
    Array.prototype.forEach.call(canvases, function (canvas) {
      if (canvas.dataset.drawn) return;
      var data;
      try { data = JSON.parse(canvas.dataset.reportChart); } catch (error) { return; }
      canvas.dataset.drawn = "1";
      window.RapportReportChart.draw(canvas.id, data);
    });
  }

  document.addEventListener("htmx:load", function (event) { drawIn(event.detail.elt); });
  // A widget may have arrived before this script ran (htmx starts while deferred scripts load).
  window.RapportCharts.ready(function () { drawIn(document.body); });
})();
