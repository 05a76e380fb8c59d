/* Rapport page behaviours. The CSP forbids inline script, so every behaviour hangs off a
   data-attribute and is wired here by event delegation (it keeps working for HTMX-swapped HTML). */
(function () {
  "use strict";

  function randomKey() {
    var bytes = new Uint8Array(4);
    window.crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  /* Mobile navigation toggle. */
  function toggleNav(button) {
    var nav = document.getElementById(button.getAttribute("aria-controls"));
    if (!nav) return;
    var open = !nav.classList.contains("open");
    nav.classList.toggle("open", open);
    button.setAttribute("aria-expanded", open ? "true" : "false");
  }

  /* Repeated rows (emails, phones): add from a <template>, remove, keep one primary. */
  function addRow(kind) {
    var template = document.getElementById(kind + "-row-template");
    var container = document.querySelector('[data-rows="' + kind + '"]');
    if (!template || !container) return null;
    var key = randomKey();
    var html = template.innerHTML.split("__key__").join(key);
    var holder = document.createElement("div");
    holder.innerHTML = html.trim();
    var row = holder.firstElementChild;
    container.appendChild(row);
    if (!container.querySelector('input[type="radio"]:checked')) {
      var radio = row.querySelector('input[type="radio"]');
      if (radio) radio.checked = true;
    }
    return row;
  }

  function removeRow(button) {
    var row = button.closest("[data-row]");
    if (!row) return;
    var container = row.parentElement;
    var kind = container.getAttribute("data-rows");
    var wasPrimary = !!row.querySelector('input[type="radio"]:checked');
    row.remove();
    var rows = container.querySelectorAll("[data-row]");
    if (!rows.length) {
      var fresh = addRow(kind);
      if (fresh) focusFirstInput(fresh);
      return;
    }
    if (wasPrimary) {
      var radio = rows[0].querySelector('input[type="radio"]');
      if (radio) radio.checked = true;
    }
    focusFirstInput(rows[rows.length - 1]);
  }

  function focusFirstInput(element) {
    var input = element.querySelector("input:not([type=hidden]), select, textarea");
    if (input) input.focus();
  }

  /* Interaction form: outcome and duration only make sense for some kinds. */
  function syncKindFields(form) {
    var checked = form.querySelector('input[name="kind"]:checked');
    var kind = checked ? checked.value : "";
    form.querySelectorAll("[data-show-for-kinds]").forEach(function (element) {
      var kinds = element.getAttribute("data-show-for-kinds").split(" ");
      var visible = kinds.indexOf(kind) !== -1;
      element.hidden = !visible;
      element.querySelectorAll("input, select, textarea").forEach(function (input) {
        input.disabled = !visible;
      });
    });
    form.querySelectorAll("optgroup[data-kind]").forEach(function (group) {
      var matches = group.getAttribute("data-kind") === kind;
      group.hidden = !matches;
      group.disabled = !matches;
      if (!matches) {
        group.querySelectorAll("option:checked").forEach(function (option) { option.selected = false; });
      }
    });
  }

  /* A table that scrolls sideways in its box must be reachable by keyboard to be scrolled
     (arrow keys scroll a focused box); one that fits needs no extra tab stop. */
  function makeScrollBoxesFocusable(root) {
    root.querySelectorAll(".table-wrap").forEach(function (box) {
      var scrolls = box.scrollWidth > box.clientWidth + 1;
      if (scrolls && !box.hasAttribute("tabindex")) box.setAttribute("tabindex", "0");
      else if (!scrolls && box.getAttribute("tabindex") === "0") box.removeAttribute("tabindex");
    });
  }

  function initialise(root) {
    makeScrollBoxesFocusable(root === document ? document : root.parentElement || root);
    // htmx:load's target is the swapped element itself (the log form swaps its outerHTML), and
    // querySelectorAll only looks below it.
    if (root.matches && root.matches("form[data-kind-form]")) syncKindFields(root);
    root.querySelectorAll("form[data-kind-form]").forEach(syncKindFields);
    var focus = root.querySelector("[data-autofocus]");
    if (focus && root !== document) focus.focus();
  }

  document.addEventListener("click", function (event) {
    var target = event.target;
    var navToggle = target.closest("[data-nav-toggle]");
    if (navToggle) { toggleNav(navToggle); return; }

    var dismiss = target.closest("[data-dismiss]");
    if (dismiss) {
      var message = dismiss.closest(".message");
      if (message) message.remove();
      return;
    }

    var add = target.closest("[data-add-row]");
    if (add) {
      event.preventDefault();
      var row = addRow(add.getAttribute("data-add-row"));
      if (row) focusFirstInput(row);
      return;
    }

    var remove = target.closest("[data-remove-row]");
    if (remove) {
      event.preventDefault();
      removeRow(remove);
      return;
    }

    // A click outside an open dropdown closes it.
    document.querySelectorAll("details[data-dropdown][open]").forEach(function (details) {
      if (!details.contains(target)) details.removeAttribute("open");
    });
  });

  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    document.querySelectorAll("details[data-dropdown][open]").forEach(function (details) {
      details.removeAttribute("open");
      var summary = details.querySelector("summary");
      if (summary) summary.focus();
    });
  });

  document.addEventListener("change", function (event) {
    var form = event.target.closest("form[data-kind-form]");
    if (form && event.target.name === "kind") syncKindFields(form);
  });

  /* Plain (non-HTMX) forms that need a confirmation: <form data-confirm="Archive this contact?">. */
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) {
      event.preventDefault();
    }
  });

  /* HTMX: a signed-out session answers with the login page; go there instead of swapping it
     into the page. Errors the page cannot show in place get a message at the top. */
  document.addEventListener("htmx:beforeSwap", function (event) {
    var xhr = event.detail.xhr;
    if (xhr && xhr.responseURL && xhr.responseURL.indexOf("/accounts/login/") !== -1) {
      event.detail.shouldSwap = false;
      window.location.href = xhr.responseURL;
    }
  });

  function flash(text, kind) {
    var box = document.getElementById("messages");
    if (!box) return;
    var message = document.createElement("div");
    message.className = "message " + (kind || "error");
    message.setAttribute("role", "alert");
    var span = document.createElement("span");
    span.textContent = text;
    var close = document.createElement("button");
    close.type = "button";
    close.className = "message-close";
    close.setAttribute("data-dismiss", "");
    close.setAttribute("aria-label", "Dismiss");
    close.textContent = "×";
    message.appendChild(span);
    message.appendChild(close);
    box.appendChild(message);
  }

  document.addEventListener("htmx:responseError", function (event) {
    var status = event.detail.xhr ? event.detail.xhr.status : 0;
    if (status === 403) flash("You do not have permission to do that.");
    else if (status === 404) flash("That record no longer exists or is outside your access.");
    else if (status === 429) flash("Too many requests. Wait a moment and try again.");
    else flash("Something went wrong (" + status + "). Reload the page and try again.");
  });

  document.addEventListener("htmx:sendError", function () {
    flash("Rapport cannot be reached. Check your connection and try again.");
  });

  document.addEventListener("DOMContentLoaded", function () { initialise(document); });
  window.addEventListener("resize", function () { makeScrollBoxesFocusable(document); });
  document.addEventListener("htmx:load", function (event) { initialise(event.target); });
})();
