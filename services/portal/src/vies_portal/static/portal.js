// After a form comes back with errors, the error summary takes the focus: screen readers
// announce it and keyboard users start from the list of fields to correct.
document.addEventListener("DOMContentLoaded", function () {
  var summary = document.getElementById("error-summary");
  if (summary) {
    summary.focus();
  }
});
