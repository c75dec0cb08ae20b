// On a phone a table too wide for the screen becomes cards: one card per row, each cell
// labelled with its column's header (aquastand.css, "table.cards"). A table that fits stays a
// table; without this script a wide table scrolls inside itself, the page never sideways.
(function () {
  "use strict";
  var phone = window.matchMedia("(max-width: 640px)");

  function headers(table) {
    var head = table.tHead && table.tHead.rows[0];
    var names = [];
    if (!head) { return names; }
    Array.prototype.forEach.call(head.cells, function (cell) {
      for (var i = 0; i < cell.colSpan; i++) { names.push(cell.textContent.trim()); }
    });
    return names;
  }

  // Rows a server refresh replaced (stands.js) are labelled again: labels are idempotent.
  function label(table, names) {
    var bodies = Array.prototype.slice.call(table.tBodies);
    if (table.tFoot) { bodies.push(table.tFoot); }
    bodies.forEach(function (body) {
      Array.prototype.forEach.call(body.rows, function (row) {
        var column = 0;
        Array.prototype.forEach.call(row.cells, function (cell) {
          if (cell.colSpan === 1 && names[column]) { cell.setAttribute("data-label", names[column]); }
          column += cell.colSpan;
        });
      });
    });
  }

  function fit() {
    document.querySelectorAll("main table").forEach(function (table) {
      table.classList.remove("cards");
      if (!phone.matches || table.scrollWidth <= table.clientWidth + 1) { return; }
      var names = headers(table);
      if (names.some(Boolean)) {
        label(table, names);
        table.classList.add("cards");
      }
    });
  }

  fit();
  phone.addEventListener("change", fit);
  new MutationObserver(function () {
    document.querySelectorAll("main table.cards").forEach(function (table) {
      label(table, headers(table));
    });
  }).observe(document.querySelector("main"), { childList: true, subtree: true });
})();
