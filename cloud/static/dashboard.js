// Dashboard of open sessions: ticks each card's time every second and refreshes the cards
// from live.json every few seconds (costs are computed on the server, by the shared pricing
// code). Elapsed time is measured on the server's clock, so a wrong browser clock does not
// show wrong times.
(function () {
  "use strict";
  var grid = document.getElementById("sessions");
  if (!grid) { return; }
  var template = document.getElementById("session-card-template");
  var empty = document.getElementById("no-sessions");
  var status = document.getElementById("live-status");
  var refreshMs = (parseInt(grid.dataset.refreshSeconds, 10) || 5) * 1000;
  var longSeconds = parseInt(grid.dataset.longSeconds, 10) || 0;
  var skewMs = 0; // server clock minus browser clock

  function setServerTime(iso) {
    var server = Date.parse(iso);
    if (!isNaN(server)) { skewMs = server - Date.now(); }
  }

  function pad(n) { return (n < 10 ? "0" : "") + n; }

  // The same form as the server's |duration filter: m:ss, or h:mm:ss from an hour on.
  function formatDuration(total) {
    var hours = Math.floor(total / 3600);
    var minutes = Math.floor((total % 3600) / 60);
    var seconds = total % 60;
    return hours ? hours + ":" + pad(minutes) + ":" + pad(seconds) : minutes + ":" + pad(seconds);
  }

  function tick() {
    var now = Date.now() + skewMs;
    grid.querySelectorAll(".session-card").forEach(function (card) {
      var started = Date.parse(card.dataset.startedAt);
      if (isNaN(started)) { return; }
      var elapsed = Math.max(0, Math.floor((now - started) / 1000));
      card.querySelector("[data-field=elapsed_text]").textContent = formatDuration(elapsed);
      markLong(card, longSeconds > 0 && elapsed >= longSeconds);
    });
  }

  // A session open longer than long_session_minutes: highlighted, with a note.
  function markLong(card, isLong) {
    card.classList.toggle("long", isLong);
    card.querySelector(".long-note").hidden = !isLong;
  }

  function fill(card, data) {
    card.querySelector(".session-card-link").href = data.client_url;
    var remote = card.querySelector(".end-remote");
    if (remote) {
      remote.hidden = Boolean(data.end_requested);
      remote.querySelector("form").action = data.end_url;
    }
    card.querySelector(".end-requested").hidden = !data.end_requested;
    card.dataset.sessionId = data.id;
    card.dataset.startedAt = data.started_at;
    card.querySelectorAll("[data-field]").forEach(function (el) {
      var value = data[el.dataset.field];
      el.textContent = value === null || value === undefined ? "" : value;
    });
    card.querySelector("[data-field=kind_label]").className = "badge " + data.client_kind;
    card.querySelector("[data-field=plate]").hidden = !data.client_full_name;
    markLong(card, Boolean(data.long));
  }

  function render(cards) {
    var existing = {};
    grid.querySelectorAll(".session-card").forEach(function (card) {
      existing[card.dataset.sessionId] = card;
    });
    var ordered = cards.map(function (data) {
      var card = existing[String(data.id)];
      if (!card) { card = template.content.firstElementChild.cloneNode(true); }
      fill(card, data);
      delete existing[String(data.id)];
      return card;
    });
    Object.keys(existing).forEach(function (id) { existing[id].remove(); });
    ordered.forEach(function (card) { grid.appendChild(card); });
    empty.hidden = cards.length > 0;
  }

  function refresh() {
    fetch(grid.dataset.liveUrl, { headers: { "Accept": "application/json" }, credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok || response.redirected) { throw new Error("HTTP " + response.status); }
        return response.json();
      })
      .then(function (data) {
        setServerTime(data.server_time);
        render(data.cards);
        status.textContent = "";
        tick();
      })
      .catch(function () { status.textContent = status.dataset.staleText; });
  }

  setServerTime(grid.dataset.serverTime);
  tick();
  setInterval(tick, 1000);
  setInterval(refresh, refreshMs);
})();
