/* Rapport web form embed: submits a Rapport lead form in place and shows the answer.
 * Loaded by the snippet on any website. Without it (or without fetch) the browser simply posts
 * the form and Rapport answers with its thank-you page or the configured redirect. */
(function () {
  "use strict";

  function message(form, text, isError) {
    var box = form.querySelector(".rapport-form-message");
    if (!box) {
      box = document.createElement("p");
      box.className = "rapport-form-message";
      box.setAttribute("role", "status");
      form.appendChild(box);
    }
    box.textContent = text;
    box.hidden = false;
    box.classList.toggle("rapport-form-message--error", Boolean(isError));
  }

  function clearErrors(form) {
    Array.prototype.forEach.call(form.querySelectorAll(".rapport-error"), function (node) {
      node.parentNode.removeChild(node);
    });
  }

  function fieldError(form, name, text) {
    var holder = null;
    Array.prototype.forEach.call(form.querySelectorAll("[data-field]"), function (node) {
      if (node.getAttribute("data-field") === name) {
        holder = node;
      }
    });
    if (!holder) {
      return false;
    }
    var span = document.createElement("span");
    span.className = "rapport-error";
    span.textContent = text;
    holder.appendChild(span);
    var input = holder.querySelector("input, select, textarea");
    if (input) {
      input.setAttribute("aria-invalid", "true");
    }
    return true;
  }

  function done(form, text) {
    Array.prototype.forEach.call(
      form.querySelectorAll(".rapport-field, .rapport-hp, button"),
      function (node) {
        node.hidden = true;
      }
    );
    message(form, text, false);
    form.setAttribute("data-rapport-state", "sent");
  }

  function submit(event) {
    var form = event.currentTarget;
    if (!window.fetch || !window.FormData) {
      return;
    }
    event.preventDefault();
    var button = form.querySelector('button[type="submit"]');
    if (button) {
      button.disabled = true;
    }
    clearErrors(form);
    fetch(form.action, {
      method: "POST",
      body: new FormData(form),
      headers: { Accept: "application/json" },
      mode: "cors",
      credentials: "omit",
    })
      .then(function (response) {
        return response.json().then(function (body) {
          return { status: response.status, body: body };
        });
      })
      .then(function (answer) {
        var body = answer.body || {};
        if (body.ok) {
          if (body.redirect) {
            window.location.assign(body.redirect);
          } else {
            done(form, body.message);
          }
          return;
        }
        var unplaced = [];
        (body.errors || []).forEach(function (error) {
          if (!fieldError(form, error.field, error.message)) {
            unplaced.push(error.message);
          }
        });
        message(form, [body.message || "The form could not be sent."].concat(unplaced).join(" "), true);
      })
      .catch(function () {
        message(form, "The form could not be sent. Please try again.", true);
      })
      .then(function () {
        if (button) {
          button.disabled = false;
        }
      });
  }

  function init() {
    Array.prototype.forEach.call(document.querySelectorAll("form[data-rapport-form]"), function (form) {
      if (form.getAttribute("data-rapport-ready")) {
        return;
      }
      form.setAttribute("data-rapport-ready", "1");
      form.addEventListener("submit", submit);
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
