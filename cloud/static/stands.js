// Refresh the table every few seconds from this same page (the server draws it).
(function () {
  "use strict";
  var table = document.getElementById("stands");
  var status = document.getElementById("stands-status");
  var refreshMs = (parseInt(table.dataset.refreshSeconds, 10) || 5) * 1000;
  setInterval(function () {
    fetch(window.location.href, { credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok || response.redirected) { throw new Error("HTTP " + response.status); }
        return response.text();
      })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("stands");
        if (!fresh) { throw new Error("no table"); }
        table.querySelector("tbody").replaceWith(fresh.querySelector("tbody"));
        status.textContent = "";
      })
      .catch(function () { status.textContent = status.dataset.staleText; });
  }, refreshMs);
})();
