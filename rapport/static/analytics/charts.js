/* Shared helpers of the analytics charts. Data comes from <script type="application/json">
   blocks written by Django's json_script (no inline script: the CSP forbids it). Every chart
   has the same figures in a table beside it, and a click on a bar or point opens the customers
   behind it. */
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

  function color(name, fallback) {
    var value = window.getComputedStyle(document.documentElement).getPropertyValue(name).trim();
    return value || fallback;
  }

  function make(canvasId, config) {
    var canvas = document.getElementById(canvasId);
    if (!canvas || !window.Chart) return null;
    config.options = config.options || {};
    config.options.responsive = true;
    config.options.maintainAspectRatio = false;
    config.options.animation = window.matchMedia("(prefers-reduced-motion: reduce)").matches ? false : config.options.animation;
    return new window.Chart(canvas, config);
  }

  /* onClick handler: open urlFor(index, datasetIndex) for the clicked element. */
  function openOnClick(urlFor) {
    return function (event, elements) {
      if (!elements || !elements.length) return;
      var url = urlFor(elements[0].index, elements[0].datasetIndex);
      if (url) window.location.assign(url);
    };
  }

  function pointerOnHover(event, elements) {
    var target = event.native && event.native.target;
    if (target) target.style.cursor = elements && elements.length ? "pointer" : "default";
  }

  function percent(value) { return Math.round(value * 1000) / 10 + " %"; }

  window.RapportCharts = {
    readJSON: readJSON,
    ready: ready,
    color: color,
    make: make,
    openOnClick: openOnClick,
    pointerOnHover: pointerOnHover,
    percent: percent
  };
})();
