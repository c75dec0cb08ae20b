// The cabinet in the browser: registers the service worker (offline copies of the home page,
// the QR code and the balance), and marks a copy older than a minute with its age (the page
// came from the service worker's cache: no network). The words come from the page
// (data-age-text on <body>, "{minutes}" replaced).
(function () {
  "use strict";
  var script = document.currentScript;
  if ("serviceWorker" in navigator && script && script.dataset.sw) {
    navigator.serviceWorker.register(script.dataset.sw, {scope: "/my/"}).catch(function () {});
  }
  function showAge(box, asOf) {
    var label = box.querySelector("[data-age]");
    if (!label || !asOf) { return; }
    var minutes = Math.floor((Date.now() - Date.parse(asOf)) / 60000);
    if (minutes < 1) { return; }
    label.textContent = (document.body.dataset.ageText || "{minutes}").replace("{minutes}", minutes);
    label.hidden = false;
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-as-of]").forEach(function (box) {
      showAge(box, box.dataset.asOf);
    });
  });
})();
