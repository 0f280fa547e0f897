// The one bulk-selection behaviour of every table with row checkboxes (form.bulk-form):
// - a header checkbox with data-check-all="NAME" ticks every row checkbox named NAME;
// - "Select all N matching" (.select-across) shows once every row of the page is ticked, as in
//   the Django admin; without JavaScript it is simply always shown;
// - a live counter (.selection-count) says how many rows are selected;
// - with data-owner-check, rows of different owners (data-owner on each checkbox) are refused
//   before leaving the page, with the same words the server uses.
// Everything here is an enhancement: the forms post and are checked on the server without it.
(function () {
  "use strict";

  function rowBoxes(form) {
    var name = form.dataset.rowName;
    return Array.prototype.slice.call(
      form.querySelectorAll('input[type=checkbox][name="' + name + '"]')
    );
  }

  function plural(count, noun) {
    return count.toLocaleString("en-US") + " " + noun + (count === 1 ? "" : "s");
  }

  function ownersOf(boxes) {
    var names = {};
    boxes.forEach(function (box) {
      if (box.dataset.owner) names[box.dataset.owner] = box.dataset.ownerName;
    });
    return Object.keys(names).map(function (key) { return names[key]; }).sort();
  }

  function across(form) {
    var label = form.querySelector(".select-across");
    return label && label.querySelector("input");
  }

  function update(form) {
    var boxes = rowBoxes(form);
    var ticked = boxes.filter(function (box) { return box.checked; });
    var label = form.querySelector(".select-across");
    var allTicked = boxes.length > 0 && ticked.length === boxes.length;
    if (label) {
      label.hidden = !allTicked;
      if (!allTicked) label.querySelector("input").checked = false;
    }
    var counter = form.querySelector(".selection-count");
    if (counter) {
      var noun = counter.dataset.noun || "row";
      var total = parseInt(counter.dataset.total || "0", 10);
      if (across(form) && across(form).checked) {
        counter.textContent = "All " + plural(total, noun) + " matching the filters selected";
      } else if (ticked.length) {
        counter.textContent = plural(ticked.length, noun) + " selected";
      } else {
        counter.textContent = "0 selected: tick the " + noun + "s first";
      }
    }
    var error = form.querySelector(".selection-error");
    if (error) error.hidden = true;
  }

  function ownerProblem(form) {
    if (!form.hasAttribute("data-owner-check")) return "";
    if (across(form) && across(form).checked) return "";
    var owners = ownersOf(rowBoxes(form).filter(function (box) { return box.checked; }));
    if (owners.length < 2) return "";
    return "The selected EVSEs belong to different owners (" + owners.join(", ") +
      "). Select EVSEs of one owner at a time.";
  }

  function init(root) {
    root.querySelectorAll("form.bulk-form").forEach(update);
    // Narrow screens start with the filters folded behind their "Filters" button.
    if (window.matchMedia("(max-width: 767px)").matches) {
      root.querySelectorAll("details.filters-panel").forEach(function (panel) {
        panel.open = false;
      });
    }
  }

  document.addEventListener("change", function (event) {
    var target = event.target;
    var name = target.dataset && target.dataset.checkAll;
    if (name) {
      document.querySelectorAll('input[type=checkbox][name="' + name + '"]').forEach(
        function (box) { box.checked = target.checked; }
      );
    }
    var form = target.closest && target.closest("form.bulk-form");
    if (form) update(form);
  });

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.classList || !form.classList.contains("bulk-form")) return;
    var problem = ownerProblem(form);
    var error = form.querySelector(".selection-error");
    if (problem && error) {
      event.preventDefault();
      error.textContent = problem;
      error.hidden = false;
    }
  });

  document.addEventListener("DOMContentLoaded", function () { init(document); });
  document.addEventListener("htmx:afterSwap", function () { init(document); });
})();
