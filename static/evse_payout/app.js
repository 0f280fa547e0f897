// Check-all for row checkboxes: a checkbox with data-check-all="NAME" toggles every input[name=NAME].
document.addEventListener("change", function (event) {
  var name = event.target.dataset && event.target.dataset.checkAll;
  if (!name) return;
  document.querySelectorAll('input[type=checkbox][name="' + name + '"]').forEach(function (box) {
    box.checked = event.target.checked;
  });
});
