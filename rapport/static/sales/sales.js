/* Small behaviours shared by the sales pages (no inline script: CSP). */
(function () {
  "use strict";

  // <select data-autosubmit> submits its form on change (the pipeline switcher).
  document.addEventListener("change", function (event) {
    var select = event.target.closest("select[data-autosubmit]");
    if (select && select.form) {
      select.form.submit();
    }
  });

  // <button data-confirm="…"> asks before its form is sent.
  document.addEventListener("click", function (event) {
    var button = event.target.closest("button[data-confirm]");
    if (button && !window.confirm(button.getAttribute("data-confirm"))) {
      event.preventDefault();
    }
  });
})();
