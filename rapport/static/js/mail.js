// The mail pages: insert merge fields at the cursor, and keep the preview frame current.
(function () {
  "use strict";

  function insertAtCursor(textarea, text) {
    var start = textarea.selectionStart;
    var end = textarea.selectionEnd;
    if (typeof start !== "number") {
      textarea.value += text;
    } else {
      textarea.value = textarea.value.slice(0, start) + text + textarea.value.slice(end);
      textarea.selectionStart = textarea.selectionEnd = start + text.length;
    }
    textarea.focus();
    textarea.dispatchEvent(new Event("input", { bubbles: true }));
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-merge-insert]");
    if (!button) return;
    var box = button.closest("[data-merge-target]");
    var textarea = box && document.getElementById(box.getAttribute("data-merge-target"));
    var select = box && box.querySelector("[data-merge-select]");
    if (!textarea || !select || !select.value) return;
    insertAtCursor(textarea, "{{ " + select.value + " }}");
  });

  // The preview is the form posted into the sandboxed frame (formtarget): no script runs there.
  function refreshPreview(form) {
    var button = form.querySelector("[data-mail-preview-button]");
    if (!button || typeof form.requestSubmit !== "function") return;
    form.requestSubmit(button);
  }

  var timers = new WeakMap();
  function schedule(form, delay) {
    clearTimeout(timers.get(form));
    timers.set(form, setTimeout(function () { refreshPreview(form); }, delay));
  }

  document.addEventListener("input", function (event) {
    var form = event.target.closest("form[data-live-preview]");
    if (form && event.target.type !== "search") schedule(form, 900);
  });
  document.addEventListener("change", function (event) {
    var form = event.target.closest("form[data-mail-preview-form]");
    if (form && event.target.name !== "template") schedule(form, 200);
  });
  // A chosen template replaced the subject and body: show what it gives.
  document.addEventListener("htmx:afterSwap", function (event) {
    var form = event.target.closest && event.target.closest("form[data-mail-preview-form]");
    if (form) schedule(form, 100);
  });

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form[data-mail-preview-form]").forEach(function (form) {
      var body = form.querySelector("textarea[name=body_html]");
      if (body && body.value.trim()) refreshPreview(form);
    });
  });
})();
