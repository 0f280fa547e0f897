// Check-all for row checkboxes: a checkbox with data-check-all="NAME" toggles every input[name=NAME].
document.addEventListener("change", function (event) {
  var name = event.target.dataset && event.target.dataset.checkAll;
  if (!name) return;
  document.querySelectorAll('input[type=checkbox][name="' + name + '"]').forEach(function (box) {
    box.checked = event.target.checked;
  });
});

// "Select all N matching" (form.bulk-form .select-across): hidden until every row of the page is
// ticked, like the admin's select-across; without JavaScript the checkbox is simply always shown.
(function () {
  function hideSelectAcross(root) {
    root.querySelectorAll("form.bulk-form .select-across").forEach(function (label) {
      label.hidden = true;
    });
  }
  document.addEventListener("DOMContentLoaded", function () { hideSelectAcross(document); });
  document.addEventListener("htmx:afterSwap", function () { hideSelectAcross(document); });
  document.addEventListener("change", function (event) {
    var form = event.target.closest && event.target.closest("form.bulk-form");
    var across = form && form.querySelector(".select-across");
    if (!across || event.target.name === "select_across") return;
    var boxes = Array.prototype.slice.call(form.querySelectorAll('input[type=checkbox][name="evse"]'));
    var allTicked = boxes.length > 0 && boxes.every(function (box) { return box.checked; });
    across.hidden = !allTicked;
    if (!allTicked) across.querySelector("input").checked = false;
  });
})();
