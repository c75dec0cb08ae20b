// What inline handlers did before the Content-Security-Policy forbade them (scripts come only
// from /static): a form with data-confirm asks first, a button with data-print prints the
// page, a link with data-back goes back in history, a field with data-select-on-focus selects
// its text when focused.
(function () {
  "use strict";
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.dataset && form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
      event.preventDefault();
    }
  });
  document.addEventListener("click", function (event) {
    if (!event.target.closest) { return; }
    if (event.target.closest("[data-print]")) { window.print(); }
    if (event.target.closest("[data-back]") && window.history.length > 1) {
      event.preventDefault();
      window.history.back();
    }
  });
  document.addEventListener("focusin", function (event) {
    if (event.target.matches && event.target.matches("[data-select-on-focus]")) {
      event.target.select();
    }
  });
})();
