// Type-ahead record pickers (core/widgets.RecordPicker): type a name, pick from the list.
(function () {
  "use strict";

  function setup(picker) {
    if (picker.dataset.recordPickerReady) return;
    picker.dataset.recordPickerReady = "1";
    var input = picker.querySelector("[data-record-picker-input]");
    var value = picker.querySelector("[data-record-picker-value]");
    var list = picker.querySelector("[data-record-picker-options]");
    var timer = null;
    var active = -1;
    var request = 0;

    function close() {
      list.hidden = true;
      input.setAttribute("aria-expanded", "false");
      input.removeAttribute("aria-activedescendant");
      active = -1;
    }

    function choose(option) {
      value.value = option.dataset.id;
      input.value = option.dataset.label;
      close();
      value.dispatchEvent(new Event("change", { bubbles: true }));
    }

    function highlight(index) {
      var options = list.querySelectorAll("[role=option]");
      if (!options.length) return;
      active = (index + options.length) % options.length;
      options.forEach(function (option, i) {
        option.setAttribute("aria-selected", i === active ? "true" : "false");
      });
      input.setAttribute("aria-activedescendant", options[active].id);
    }

    function show(records) {
      list.textContent = "";
      if (!records.length) {
        var empty = document.createElement("li");
        empty.className = "record-picker-empty";
        empty.textContent = "No match among the records you can see.";
        list.appendChild(empty);
      }
      records.forEach(function (record, i) {
        var option = document.createElement("li");
        option.id = list.id + "_" + i;
        option.setAttribute("role", "option");
        option.dataset.id = record.id;
        option.dataset.label = record.label;
        var name = document.createElement("span");
        name.textContent = record.label;
        option.appendChild(name);
        if (record.detail) {
          var detail = document.createElement("span");
          detail.className = "muted small";
          detail.textContent = " " + record.detail;
          option.appendChild(detail);
        }
        list.appendChild(option);
      });
      list.hidden = false;
      input.setAttribute("aria-expanded", "true");
      active = -1;
    }

    function search() {
      var text = input.value.trim();
      if (text.length < 2) { close(); return; }
      var mine = ++request;
      var url = picker.dataset.suggestUrl + "?q=" + encodeURIComponent(text);
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) { return response.ok ? response.json() : []; })
        .then(function (records) { if (mine === request) show(records); })
        .catch(function () { close(); });
    }

    input.addEventListener("input", function () {
      value.value = "";
      clearTimeout(timer);
      timer = setTimeout(search, 150);
    });
    input.addEventListener("keydown", function (event) {
      if (list.hidden) return;
      if (event.key === "ArrowDown") { event.preventDefault(); highlight(active + 1); }
      else if (event.key === "ArrowUp") { event.preventDefault(); highlight(active - 1); }
      else if (event.key === "Enter" && active >= 0) {
        event.preventDefault();
        choose(list.querySelectorAll("[role=option]")[active]);
      } else if (event.key === "Escape") { close(); }
    });
    list.addEventListener("mousedown", function (event) {
      var option = event.target.closest("[role=option]");
      if (option) { event.preventDefault(); choose(option); }
    });
    input.addEventListener("blur", function () { setTimeout(close, 100); });
  }

  function initialise(root) {
    (root.querySelectorAll ? root : document).querySelectorAll("[data-record-picker]").forEach(setup);
  }

  document.addEventListener("DOMContentLoaded", function () { initialise(document); });
  document.addEventListener("htmx:load", function (event) { initialise(event.target); });
})();
