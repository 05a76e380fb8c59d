// Row selection for bulk actions (templates/bulk/_selection_bar.html, core/bulk.py).
// Adds a checkbox to every row of the list beside the bar and a "select this page" box to its
// header; the bar shows once something is picked. "Select all N that match" sends the list's
// filter (scope=all), never ids. Ids picked are kept per list and filter while paging.
(function () {
  "use strict";
  if (window.rapportBulkSelect) return;
  window.rapportBulkSelect = true;

  function storageKey(bar) {
    return "rapport-bulk:" + bar.dataset.bulkList + ":" + bar.querySelector("[data-bulk-filter]").value;
  }

  function load(bar) {
    try {
      return new Set(JSON.parse(window.sessionStorage.getItem(storageKey(bar)) || "[]"));
    } catch (error) {
      return new Set();
    }
  }

  function save(bar, ids) {
    try {
      window.sessionStorage.setItem(storageKey(bar), JSON.stringify(Array.from(ids)));
    } catch (error) {
      // Storage full or refused: the selection then lasts only for this page.
    }
  }

  function rowId(row, pattern) {
    var links = row.querySelectorAll("a[href]");
    for (var i = 0; i < links.length; i++) {
      var match = new URL(links[i].href, window.location.href).pathname.match(pattern);
      if (match) return match[1];
    }
    return row.dataset.bulkId || null;
  }

  function setup(bar) {
    if (bar.dataset.bulkReady) return;
    bar.dataset.bulkReady = "1";
    var table = bar.parentElement.querySelector("table");
    if (!table || !bar.dataset.bulkIdPattern) return;
    var pattern = new RegExp(bar.dataset.bulkIdPattern);
    var ids = load(bar);
    var scope = bar.querySelector("[data-bulk-scope]");
    var summary = bar.querySelector("[data-bulk-summary]");
    var selectAll = bar.querySelector("[data-bulk-select-all]");
    var errorBox = bar.querySelector("[data-bulk-error]");
    var noun = bar.dataset.bulkNoun;
    var nounPlural = bar.dataset.bulkNounPlural;
    var boxes = [];

    var headRow = table.querySelector("thead tr");
    var pageBox = null;
    if (headRow) {
      var th = document.createElement("th");
      th.scope = "col";
      th.className = "bulk-select";
      pageBox = document.createElement("input");
      pageBox.type = "checkbox";
      pageBox.setAttribute("aria-label", "Select every " + noun + " on this page");
      pageBox.dataset.bulkPage = "1";
      th.appendChild(pageBox);
      headRow.insertBefore(th, headRow.firstChild);
    }
    table.querySelectorAll("tbody tr").forEach(function (row) {
      var id = rowId(row, pattern);
      if (!id) {
        var first = row.firstElementChild;
        if (first && first.colSpan > 1) first.colSpan += 1;
        else row.insertBefore(document.createElement("td"), row.firstChild);
        return;
      }
      var cell = document.createElement("td");
      cell.className = "bulk-select";
      var box = document.createElement("input");
      box.type = "checkbox";
      box.value = id;
      box.dataset.bulkRow = "1";
      box.checked = ids.has(id);
      var label = row.querySelector("a[href]");
      box.setAttribute("aria-label", "Select " + (label ? label.textContent.trim() : noun + " " + id));
      cell.appendChild(box);
      row.insertBefore(cell, row.firstChild);
      boxes.push(box);
    });

    function render() {
      var all = scope.value === "all";
      if (all) {
        summary.textContent = "All " + Number(selectAll.dataset.bulkTotal).toLocaleString() + " " + nounPlural + " that match are selected";
      } else {
        summary.textContent = ids.size + " " + (ids.size === 1 ? noun : nounPlural) + " selected";
      }
      bar.hidden = !all && ids.size === 0;
      if (selectAll) selectAll.hidden = all;
      boxes.forEach(function (box) { box.checked = all || ids.has(box.value); box.disabled = all; });
      if (pageBox) {
        var picked = boxes.filter(function (box) { return box.checked; }).length;
        pageBox.checked = boxes.length > 0 && picked === boxes.length;
        pageBox.indeterminate = picked > 0 && picked < boxes.length;
        pageBox.disabled = all;
      }
      errorBox.hidden = true;
    }

    table.addEventListener("change", function (event) {
      var target = event.target;
      if (target.dataset.bulkRow) {
        if (target.checked) ids.add(target.value); else ids.delete(target.value);
      } else if (target.dataset.bulkPage) {
        boxes.forEach(function (box) {
          if (target.checked) ids.add(box.value); else ids.delete(box.value);
        });
      } else {
        return;
      }
      save(bar, ids);
      render();
    });
    if (selectAll) {
      selectAll.addEventListener("click", function () { scope.value = "all"; render(); });
    }
    bar.querySelector("[data-bulk-clear]").addEventListener("click", function () {
      scope.value = "ids";
      ids.clear();
      save(bar, ids);
      render();
    });
    bar.addEventListener("submit", function (event) {
      var holder = bar.querySelector("[data-bulk-ids]");
      holder.textContent = "";
      if (scope.value !== "all") {
        if (ids.size === 0) {
          event.preventDefault();
          errorBox.textContent = "Select at least one " + noun + ".";
          errorBox.hidden = false;
          return;
        }
        ids.forEach(function (id) {
          var input = document.createElement("input");
          input.type = "hidden";
          input.name = "ids";
          input.value = id;
          holder.appendChild(input);
        });
      }
      // The selection is spent: going back to the list starts afresh.
      window.sessionStorage.removeItem(storageKey(bar));
    });
    render();
  }

  function initialise(root) {
    root = root || document;
    if (root.matches && root.matches("[data-bulk-bar]")) setup(root);
    if (root.querySelectorAll) root.querySelectorAll("[data-bulk-bar]").forEach(setup);
  }

  document.addEventListener("DOMContentLoaded", function () { initialise(document); });
  document.addEventListener("htmx:load", function (event) { initialise(event.target); });
  if (document.readyState !== "loading") initialise(document);
})();
