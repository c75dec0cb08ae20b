// Aquastand customer display: redraws the view every second from the page's JSON endpoint
// (no reload), and takes the staff's log-in pages back to it when they are left untouched.
// Plain JavaScript, no dependencies; names and texts go in as text, never as HTML.
(function () {
  "use strict";
  var POLL_MS = 1000;

  // --- the display ---
  var display = document.getElementById("display");
  if (display && display.dataset.viewUrl) {
    var text = display.querySelector("[data-text]");
    var figures = display.querySelector("[data-figures]");
    var show = function (view) {
      display.className = "display kind-" + view.kind;
      display.dataset.kind = view.kind;
      if (text.textContent !== view.text) text.textContent = view.text;
      var rows = view.lines.map(function (line) {
        var row = document.createElement("div");
        var label = document.createElement("dt");
        var value = document.createElement("dd");
        row.className = "figure";
        label.textContent = line.label;
        value.textContent = line.value;
        if (line.negative) value.className = "negative";
        row.appendChild(label);
        row.appendChild(value);
        return row;
      });
      figures.replaceChildren.apply(figures, rows);
    };
    var poll = function () {
      fetch(display.dataset.viewUrl, { cache: "no-store" })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (view) { if (view) show(view); })
        .catch(function () { /* the stand is restarting: the next poll tries again */ })
        .then(function () { setTimeout(poll, POLL_MS); });
    };
    setTimeout(poll, POLL_MS);
  }

  // --- back to the display from the staff's log-in pages ---
  var back = document.getElementById("back-to-customer");
  var afterMs = back ? Number(back.dataset.afterS || 0) * 1000 : 0;
  if (afterMs > 0) {
    var timer = 0;
    var arm = function () {
      clearTimeout(timer);
      timer = setTimeout(function () { window.location.assign(back.dataset.url); }, afterMs);
    };
    ["pointerdown", "keydown", "input"].forEach(function (type) {
      document.addEventListener(type, arm, true);
    });
    arm();
  }
})();
