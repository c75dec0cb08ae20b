// Aquastand stand touchscreen: PIN keypad, live session cards, status bar, idle lock.
// Plain JavaScript, no dependencies. Costs come from the server (the engine prices them);
// the clocks tick here between polls.
(function () {
  "use strict";
  var POLL_MS = 2500;
  var body = document.body;

  // --- PIN keypad ---
  var pin = document.getElementById("pin");
  document.querySelectorAll(".keypad button[data-digit]").forEach(function (button) {
    button.addEventListener("click", function () {
      if (pin.value.length < 12) pin.value += button.dataset.digit;
    });
  });
  document.querySelectorAll(".keypad button[data-key=back]").forEach(function (button) {
    button.addEventListener("click", function () { pin.value = pin.value.slice(0, -1); });
  });

  if (!body.dataset.liveUrl) return; // not signed in: nothing live, nothing to lock

  // --- idle lock ---
  var idleMs = Number(body.dataset.idleS || 0) * 1000;
  var lastTouch = Date.now();
  var touchedSincePoll = false;
  ["pointerdown", "keydown", "input"].forEach(function (type) {
    document.addEventListener(type, function () {
      lastTouch = Date.now();
      touchedSincePoll = true;
    }, true);
  });
  function lock(url) { window.location.assign(url || body.dataset.lockUrl); }

  // --- live cards ---
  var container = document.getElementById("cards");
  var live = container && !container.dataset.static;
  var loadedAt = Date.now();

  function clockText(seconds) {
    var h = Math.floor(seconds / 3600), m = Math.floor(seconds % 3600 / 60), s = seconds % 60;
    return h + ":" + (m < 10 ? "0" : "") + m + ":" + (s < 10 ? "0" : "") + s;
  }
  function cards() { return container ? container.querySelectorAll(".session-card") : []; }
  function tick() {
    var now = Date.now();
    cards().forEach(function (card) {
      var passed = Math.floor((now - Number(card.dataset.base || loadedAt)) / 1000);
      card.querySelector("[data-clock]").textContent = clockText(Number(card.dataset.elapsed) + passed);
    });
    if (idleMs > 0 && Date.now() - lastTouch > idleMs) lock();
  }
  function sameIds(sessions) {
    var shown = Array.prototype.map.call(cards(), function (c) { return c.dataset.id; });
    return shown.length === sessions.length &&
      sessions.every(function (s, i) { return s.id === shown[i]; });
  }
  function showStatus(status) {
    var set = function (name, text, ok) {
      var el = document.querySelector("[data-status=" + name + "]");
      if (!el) return;
      el.textContent = text;
      if (ok !== undefined) { el.classList.toggle("ok", ok); el.classList.toggle("bad", !ok); }
    };
    set("online", status.online_text, status.online);
    set("directory", status.directory);
    set("outbox", status.outbox_text);
    set("reader", status.reader.text, status.reader.state === "ok");
    set("camera", status.camera.text, status.camera.state === "ok");
  }
  function reloadCards() {
    return fetch(container.dataset.cardsUrl, { credentials: "same-origin" }).then(function (r) {
      if (r.status === 401) return r.json().then(function (d) { lock(d.location); });
      return r.text().then(function (html) { loadedAt = Date.now(); container.innerHTML = html; });
    });
  }
  function poll() {
    var url = body.dataset.liveUrl + (touchedSincePoll ? "?active=1" : "");
    touchedSincePoll = false;
    fetch(url, { credentials: "same-origin", cache: "no-store" }).then(function (r) {
      return r.json().then(function (data) {
        if (r.status === 401) { lock(data.location); return; }
        showStatus(data.status);
        if (live && !sameIds(data.sessions)) { reloadCards(); return; }
        var byId = {};
        data.sessions.forEach(function (s) { byId[s.id] = s; });
        cards().forEach(function (card) {
          var s = byId[card.dataset.id];
          if (!s) return; // ended elsewhere: the card on an account page stays as it was
          card.dataset.elapsed = s.elapsed_s;
          card.dataset.base = Date.now();
          card.querySelector("[data-cost]").textContent = s.cost;
        });
        tick();
      });
    }).catch(function () { /* the next poll tries again */ });
  }
  setInterval(tick, 1000);
  setInterval(poll, POLL_MS);
})();
