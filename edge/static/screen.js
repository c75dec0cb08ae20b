// Aquastand stand touchscreen: PIN keypad, the client's tabs, a card linked by a tap, the
// chosen tariff's rates, live session cards, status bar, idle lock (the on-screen keyboard
// is keyboard.js).
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

  // --- the client's tabs (the server marks the one to show first) ---
  document.querySelectorAll(".tabs [data-tab]").forEach(function (tab) {
    tab.addEventListener("click", function () {
      document.querySelectorAll(".tabs [data-tab]").forEach(function (other) {
        other.classList.toggle("active", other === tab);
        other.setAttribute("aria-selected", String(other === tab));
        document.getElementById("tab-" + other.dataset.tab).classList.toggle("active", other === tab);
      });
    });
  });

  // --- a card linked by a tap: wait for the reader, fill the field ---
  var csrf = document.querySelector("meta[name=csrf-token]");
  document.querySelectorAll("[data-card-link]").forEach(function (box) {
    var input = box.querySelector("input[name=card]");
    var button = box.querySelector("[data-card-wait]");
    var status = box.querySelector("[data-card-status]");
    var label = button.textContent, since = null, timer = null;
    function post(url) {
      return fetch(url, { method: "POST", credentials: "same-origin", headers: { "X-CSRFToken": csrf.content } });
    }
    function show(text, kind) { status.textContent = text; status.className = "card-status " + (kind || ""); }
    function stop() { since = null; clearTimeout(timer); button.textContent = label; }
    function poll() {
      var asked = since;
      fetch(box.dataset.tappedUrl + "?since=" + asked, { credentials: "same-origin", cache: "no-store" })
        .then(function (r) {
          return r.json().then(function (data) {
            if (r.status === 401) { window.location.assign(data.location); return; }
            if (since !== asked) return; // cancelled meanwhile
            if (data.waiting) { timer = setTimeout(poll, 400); return; }
            stop();
            if (data.uid) {
              input.value = data.uid;
              input.dispatchEvent(new Event("input", { bubbles: true }));
              show(status.dataset.readText + " " + data.uid, "ok");
            } else {
              show(data.error || "", "bad");
            }
          });
        })
        .catch(function () { if (since === asked) timer = setTimeout(poll, 1000); });
    }
    button.addEventListener("click", function () {
      if (since !== null) { stop(); show("", ""); post(box.dataset.cancelUrl); return; }
      since = "";
      button.textContent = button.dataset.cancelText;
      show(status.dataset.waitingText, "waiting");
      post(box.dataset.waitUrl).then(function (r) {
        if (!r.ok) throw new Error(String(r.status));
        return r.json();
      }).then(function (data) {
        if (since !== "") return; // cancelled before the stand answered
        since = data.since;
        timer = setTimeout(poll, 400);
      }).catch(function () { stop(); show(status.dataset.failedText, "bad"); });
    });
    window.addEventListener("pagehide", function () {
      if (since === null) return; // leaving while the stand waits: taps are taps again
      var form = new FormData();
      form.append("csrf_token", csrf.content);
      navigator.sendBeacon(box.dataset.cancelUrl, form);
    });
  });

  // --- the rates (the tariffs on offer, or a running session's): the chosen tariff's rows
  // marked and scrolled to, its band at the top, or further if that leaves its row in force
  // now out of view ---
  var rates = document.getElementById("rates");
  if (rates) {
    var tariff = document.querySelector("select[name=tariff_id]");
    var showChosen = function () {
      var chosen = tariff ? rates.querySelector("tbody[data-tariff='" + tariff.value + "']")
                          : rates.querySelector("tbody");
      rates.querySelectorAll("tbody").forEach(function (rows) {
        rows.classList.toggle("chosen", rows === chosen);
      });
      if (!chosen) return;
      rates.scrollTop += chosen.getBoundingClientRect().top - rates.getBoundingClientRect().top;
      var now = chosen.querySelector("tr.now");
      var hidden = now ? now.getBoundingClientRect().bottom - rates.getBoundingClientRect().bottom : 0;
      if (hidden > 0) rates.scrollTop += hidden + 1;
    };
    if (tariff) tariff.addEventListener("change", showChosen);
    showChosen();
  }

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
