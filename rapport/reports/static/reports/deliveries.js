// The recipients of a scheduled email: each person picked by name in the "Add a person" picker
// (js/record-picker.js) joins the ticked list at once, so several can be added before saving.
(function () {
  "use strict";

  function setup(people) {
    var chosen = people.querySelector("[data-delivery-chosen]");
    var nobody = people.querySelector("[data-delivery-nobody]");
    var picker = people.querySelector("[data-record-picker]");
    if (!chosen || !picker) return;
    var value = picker.querySelector("[data-record-picker-value]");
    var input = picker.querySelector("[data-record-picker-input]");
    var name = chosen.dataset.name || "recipients";
    value.addEventListener("change", function () {
      var id = value.value;
      if (!id) return;
      var existing = chosen.querySelector('input[value="' + CSS.escape(id) + '"]');
      if (existing) {
        existing.checked = true;
      } else {
        var label = document.createElement("label");
        label.className = "checkbox";
        var box = document.createElement("input");
        box.type = "checkbox";
        box.name = name;
        box.value = id;
        box.checked = true;
        label.appendChild(box);
        label.appendChild(document.createTextNode(" " + input.value));
        chosen.insertBefore(label, nobody);
      }
      if (nobody) nobody.hidden = true;
      value.value = "";
      input.value = "";
      input.focus();
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-delivery-people]").forEach(setup);
  });
})();
