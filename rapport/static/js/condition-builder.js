// The visual condition builder (core/condition_builder.py): rows of field · operator · value
// drawn over a hidden textarea that keeps the condition's JSON, which is what the form posts.
(function () {
  "use strict";

  var NO_VALUE = { is_empty: true, is_not_empty: true };
  var LISTS = { in: true, not_in: true };

  function element(tag, attributes, text) {
    var node = document.createElement(tag);
    Object.keys(attributes || {}).forEach(function (name) {
      if (attributes[name] !== null && attributes[name] !== undefined) {
        node.setAttribute(name, attributes[name]);
      }
    });
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function option(value, label, selected) {
    var node = element("option", { value: value }, label);
    if (selected) node.selected = true;
    return node;
  }

  // {"all": [leaf, ...]} or {"any": [...]} or empty: what rows can show; null otherwise.
  function readRows(text) {
    var condition;
    if (!text || !text.trim()) return { match: "all", rows: [] };
    try { condition = JSON.parse(text); } catch (error) { return null; }
    if (!condition || typeof condition !== "object" || Array.isArray(condition)) return null;
    var keys = Object.keys(condition);
    if (keys.length === 1 && (keys[0] === "all" || keys[0] === "any") && Array.isArray(condition[keys[0]])) {
      var rows = condition[keys[0]];
      var flat = rows.every(function (row) {
        return row && typeof row === "object" && typeof row.field === "string";
      });
      return flat ? { match: keys[0], rows: rows } : null;
    }
    if (typeof condition.field === "string") return { match: "all", rows: [condition] };
    return null;
  }

  function setup(builder) {
    if (builder.dataset.conditionBuilderReady) return;
    builder.dataset.conditionBuilderReady = "1";
    var fields = JSON.parse(builder.dataset.fields);
    var words = JSON.parse(builder.dataset.operators);
    var byName = {};
    fields.forEach(function (field) { byName[field.name] = field; });
    var source = builder.querySelector("[data-condition-source]");
    var rowsBox = builder.querySelector("[data-condition-rows]");
    var note = builder.querySelector("[data-condition-note]");
    var empty = builder.dataset.empty || "No conditions.";
    var state = readRows(source.value);
    var asText = state === null;
    var label = source.id ? document.querySelector('label[for="' + source.id + '"]') : null;
    var match = element("select", { "aria-label": "Match" });
    match.appendChild(option("all", "all", !state || state.match === "all"));
    match.appendChild(option("any", "any", !!state && state.match === "any"));
    var intro = element("p", { class: "condition-builder-match" });
    intro.appendChild(document.createTextNode("Match "));
    intro.appendChild(match);
    intro.appendChild(document.createTextNode(" of these conditions"));
    rowsBox.appendChild(intro);
    var list = element("ol", { class: "condition-builder-list" });
    rowsBox.appendChild(list);
    var add = element("button", { type: "button", class: "secondary small" }, "Add condition");
    rowsBox.appendChild(add);
    // Any condition as text (nested all / any / not groups), and back to rows when they can show it.
    var toggle = element("button", { type: "button", class: "link small" }, "Edit as JSON");
    builder.insertBefore(toggle, source.nextSibling);
    if (label) {
      label.id = label.id || source.id + "_label";
      builder.setAttribute("role", "group");
      builder.setAttribute("aria-labelledby", label.id);
    }

    // The fields' menu: under their groups' headings when they have groups.
    function fieldMenu(index, chosen) {
      var menu = element("select", { "aria-label": "Field of condition " + (index + 1), "data-part": "field" });
      var group = null;
      fields.forEach(function (candidate) {
        var parent = menu;
        if (candidate.group) {
          if (!group || group.label !== candidate.group) {
            group = element("optgroup", { label: candidate.group });
            menu.appendChild(group);
          }
          parent = group;
        }
        parent.appendChild(option(candidate.name, candidate.label, candidate.name === chosen));
      });
      return menu;
    }

    function showText(why) {
      asText = true;
      rowsBox.hidden = true;
      source.hidden = false;
      note.textContent = why || "";
      note.hidden = !why;
      toggle.textContent = "Edit with menus";
    }

    function showRows() {
      asText = false;
      rowsBox.hidden = false;
      source.hidden = true;
      note.hidden = true;
      toggle.textContent = "Edit as JSON";
    }

    var NESTED = "This condition has nested groups that the rows cannot show, so it is shown as written. Edit it here; written as one group of conditions (or cleared), it opens in the menus again.";

    function valueControl(field, op, value, index) {
      var box = element("span", { class: "condition-value" });
      if (NO_VALUE[op]) return box;
      var name = "Value of condition " + (index + 1);
      function input(type, current, extra) {
        var node = element("input", Object.assign({ type: type, "aria-label": extra || name }, type === "number" ? { step: "any" } : {}));
        if (current !== undefined && current !== null) node.value = current;
        return node;
      }
      if (op === "between") {
        var pair = Array.isArray(value) ? value : [null, null];
        var type = field.kind === "date" ? "date" : "number";
        box.appendChild(input(type, pair[0], name + ", from"));
        box.appendChild(document.createTextNode(" and "));
        box.appendChild(input(type, pair[1], name + ", to"));
        return box;
      }
      if (field.kind === "boolean") {
        var yesNo = element("select", { "aria-label": name });
        yesNo.appendChild(option("true", "Yes", value !== false));
        yesNo.appendChild(option("false", "No", value === false));
        box.appendChild(yesNo);
        return box;
      }
      if (field.choices.length) {
        var many = !!LISTS[op];
        var select = element("select", { "aria-label": name });
        if (many) { select.multiple = true; select.size = Math.min(field.choices.length, 6); }
        var chosen = many ? (Array.isArray(value) ? value.map(String) : []) : [String(value)];
        field.choices.forEach(function (pair) {
          select.appendChild(option(pair[0], pair[1], chosen.indexOf(pair[0]) >= 0));
        });
        box.appendChild(select);
        return box;
      }
      if (LISTS[op]) {
        var text = input("text", Array.isArray(value) ? value.join(", ") : "", name + " (separate values with commas)");
        text.placeholder = "first, second, …";
        box.appendChild(text);
        return box;
      }
      box.appendChild(input(field.kind === "number" ? "number" : field.kind === "date" ? "date" : "text", value));
      return box;
    }

    function drawRow(row, index) {
      var item = element("li", { class: "condition-row" });
      var field = byName[row.field] || fields[0];
      var fieldSelect = fieldMenu(index, field.name);
      var op = field.operators.indexOf(row.op) >= 0 ? row.op : field.operators[0];
      var opSelect = element("select", { "aria-label": "Operator of condition " + (index + 1), "data-part": "op" });
      field.operators.forEach(function (candidate) {
        opSelect.appendChild(option(candidate, words[candidate] || candidate, candidate === op));
      });
      var remove = element("button", { type: "button", class: "link small", "aria-label": "Remove condition " + (index + 1) }, "Remove");
      item.appendChild(fieldSelect);
      item.appendChild(opSelect);
      item.appendChild(valueControl(field, op, row.value, index));
      item.appendChild(remove);
      return item;
    }

    function draw() {
      list.textContent = "";
      state.rows.forEach(function (row, index) { list.appendChild(drawRow(row, index)); });
      if (!state.rows.length) {
        list.appendChild(element("li", { class: "muted small" }, empty));
      }
    }

    function readValue(item, field, op) {
      var controls = item.querySelectorAll(".condition-value input, .condition-value select");
      if (NO_VALUE[op]) return undefined;
      function cast(text) {
        if (field.kind === "number") return text === "" ? null : Number(text);
        return text;
      }
      // Controls drawn for another operator (the menu just changed) give no value yet.
      if (op === "between") {
        return controls.length === 2 ? [cast(controls[0].value), cast(controls[1].value)] : [null, null];
      }
      var control = controls[0];
      if (!control || controls.length !== 1) return undefined;
      if (field.kind === "boolean") return control.value === "true";
      if (control.multiple) {
        return Array.prototype.filter.call(control.options, function (o) { return o.selected; })
          .map(function (o) { return o.value; });
      }
      if (LISTS[op]) {
        return control.value.split(",").map(function (part) { return part.trim(); })
          .filter(function (part) { return part; }).map(cast);
      }
      return cast(control.value);
    }

    // The rows written back as JSON; `announce` tells listeners of the textarea (a live count).
    function collect(announce) {
      if (asText) return;
      var before = source.value;
      state.match = match.value;
      state.rows = Array.prototype.map.call(list.querySelectorAll(".condition-row"), function (item) {
        var field = byName[item.querySelector('[data-part="field"]').value];
        var op = item.querySelector('[data-part="op"]').value;
        var row = { field: field.name, op: op };
        var value = readValue(item, field, op);
        if (value !== undefined) row.value = value;
        return row;
      });
      var condition = {};
      condition[state.match] = state.rows;
      source.value = JSON.stringify(condition, null, 2);
      if (announce !== false && source.value !== before) {
        source.dispatchEvent(new Event("change", { bubbles: true }));
      }
    }

    builder.addEventListener("change", function (event) {
      if (asText || !rowsBox.contains(event.target)) return;
      var part = event.target.dataset.part;
      if (part === "field" || part === "op") {
        var item = event.target.closest(".condition-row");
        var index = Array.prototype.indexOf.call(list.children, item);
        var previous = state.rows[index];
        collect(false);
        var row = state.rows[index];
        // A new field or operator starts with an empty value of the right shape.
        if (part === "field") row.op = "";
        if (part === "field" || previous.op !== row.op) delete row.value;
        draw();
        var next = list.children[index].querySelector(part === "field" ? '[data-part="op"]' : ".condition-value input, .condition-value select");
        if (next) next.focus();
      }
      collect();
    });
    builder.addEventListener("input", function (event) {
      if (!asText && rowsBox.contains(event.target)) collect();
    });
    builder.addEventListener("click", function (event) {
      if (event.target === toggle) {
        if (!asText) {
          collect();
          showText("");
          source.focus();
          return;
        }
        var read = readRows(source.value);
        if (read === null) {
          showText(NESTED);
          return;
        }
        state = read;
        match.value = state.match;
        showRows();
        draw();
        collect();
        match.focus();
      } else if (event.target === add) {
        collect(false);
        state.rows.push({ field: fields[0].name, op: "" });
        draw();
        collect();
        list.lastElementChild.querySelector('[data-part="field"]').focus();
      } else if (event.target.closest(".condition-row") && event.target.tagName === "BUTTON") {
        var item = event.target.closest(".condition-row");
        var index = Array.prototype.indexOf.call(list.children, item);
        collect(false);
        state.rows.splice(index, 1);
        draw();
        collect();
        add.focus();
      }
    });
    if (asText) {
      showText(NESTED);
      state = { match: "all", rows: [] };
      return;
    }
    showRows();
    draw();
    collect(false);
  }

  function initialise(root) {
    (root.querySelectorAll ? root : document).querySelectorAll("[data-condition-builder]").forEach(setup);
  }

  document.addEventListener("DOMContentLoaded", function () { initialise(document); });
  document.addEventListener("htmx:load", function (event) { initialise(event.target); });
})();
