/* Inline edit on the 360° pages (contacts/inline.py): Escape in a one-field form cancels it,
   as its Cancel button does (which fetches the value back without saving). HTMX does the rest;
   the value's Edit button and the form's first input take the focus through data-autofocus. */
(function () {
  "use strict";

  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape" || !event.target.closest) return;
    var form = event.target.closest("form[data-inline-edit]");
    if (!form) return;
    var cancel = form.querySelector("[data-inline-cancel]");
    if (!cancel) return;
    event.preventDefault();
    cancel.click();
  });
})();
