// Aquastand stand touchscreen: the on-screen keyboard. The stand runs under cage with no
// physical keyboard, so every text field opens this one when focused: Cyrillic (ЙЦУКЕН),
// Latin (QWERTY) and digits, with shift (a second touch locks it), backspace, space and
// "done". Numeric fields (inputmode numeric or decimal, type tel) open the digits; a field
// chooses its own with data-osk="ru|en|digits", or none with data-osk="off" (the PIN, which
// has its keypad on the page). The keyboard docks at the bottom and the page scrolls the
// field above it. Plain JavaScript, no dependencies; labels come from the page's #osk.
(function () {
  "use strict";
  var osk = document.getElementById("osk");
  if (!osk) return;
  var LETTERS = {
    ru: ["йцукенгшщзхъ", "фывапролджэё", "ячсмитьбю"],
    en: ["qwertyuiop", "asdfghjkl", "zxcvbnm"]
  };
  var DIGITS = [["1", "2", "3", "back"], ["4", "5", "6", "+"], ["7", "8", "9", ","], ["letters", "0", "space", "done"]];
  var TEXT_TYPES = ["text", "search", "tel", "email", "password", "number", "url"];
  var labels = osk.dataset;
  var field = null; // the field being typed into
  var layout = "ru"; // ru, en or digits
  var letters = document.documentElement.lang === "en" ? "en" : "ru"; // the letters last used
  var shift = 0; // 0 off, 1 the next letter, 2 locked

  function takesKeyboard(el) {
    if (!el || el.disabled || el.readOnly || el.dataset.osk === "off") return false;
    return el.tagName === "TEXTAREA" ||
      (el.tagName === "INPUT" && TEXT_TYPES.indexOf(el.type) >= 0);
  }
  function layoutFor(el) {
    var asked = el.dataset.osk;
    if (asked === "ru" || asked === "en" || asked === "digits") return asked;
    if (asked === "latin" || el.type === "email" || el.type === "url") return "en";
    var mode = el.getAttribute("inputmode");
    if (el.type === "tel" || el.type === "number" || mode === "numeric" || mode === "decimal") return "digits";
    return letters;
  }

  // --- typing ---
  function changed() { field.dispatchEvent(new Event("input", { bubbles: true })); }
  function insert(text) {
    var max = field.maxLength > 0 ? field.maxLength : Infinity;
    var start = field.selectionStart, end = field.selectionEnd;
    if (start === null || start === undefined) { // no caret (type number): append
      if (field.value.length + text.length <= max) field.value += text;
    } else if (field.value.length - (end - start) + text.length <= max) {
      field.setRangeText(text, start, end, "end");
    }
    changed();
  }
  function backspace() {
    var start = field.selectionStart, end = field.selectionEnd;
    if (start === null || start === undefined) field.value = field.value.slice(0, -1);
    else if (start !== end) field.setRangeText("", start, end, "end");
    else if (start > 0) field.setRangeText("", start - 1, start, "end");
    changed();
  }
  function press(key) {
    if (!field) return;
    if (document.activeElement !== field) field.focus({ preventScroll: true });
    if (key === "done") { close(true); return; }
    if (key === "back") { backspace(); return; }
    if (key === "shift") { shift = (shift + 1) % 3; render(); return; }
    if (key === "digits" || key === "letters" || key === "lang") {
      if (key === "lang") letters = letters === "ru" ? "en" : "ru";
      layout = key === "digits" ? "digits" : letters;
      render();
      return;
    }
    var text = key === "space" ? " " : key;
    if (shift && text.length === 1) text = text.toUpperCase();
    insert(text);
    if (shift === 1 && text.toLowerCase() !== text.toUpperCase()) { shift = 0; render(); }
  }

  // --- the keys ---
  function keyButton(key, label, wide) {
    var button = document.createElement("button");
    button.type = "button";
    button.tabIndex = -1;
    button.dataset.oskKey = key;
    button.textContent = label;
    if (wide && layout !== "digits") button.style.flexGrow = String(wide); // a grid there
    if (key === "done") button.className = "primary";
    if (key === "shift" && shift) button.className = shift === 2 ? "on locked" : "on";
    if (key === "back") button.setAttribute("aria-label", labels.back);
    if (key === "shift") button.setAttribute("aria-label", labels.shift);
    return button;
  }
  function row(keys) {
    var div = document.createElement("div");
    div.className = "osk-row";
    keys.forEach(function (k) { div.appendChild(k); });
    return div;
  }
  function special(key) {
    var names = {
      back: ["⌫", 1.5], done: [labels.done, 2], shift: ["⇧", 1.5],
      space: [layout === "digits" ? "␣" : labels.space, 5],
      digits: ["123", 1.5], letters: [labels.letters, 1], lang: [letters === "ru" ? "EN" : "RU", 1.2]
    };
    return keyButton(key, names[key][0], names[key][1]);
  }
  function charKey(ch) {
    var shown = shift ? ch.toUpperCase() : ch;
    return keyButton(ch, shown);
  }
  function render() {
    osk.textContent = "";
    osk.dataset.layout = layout;
    if (layout === "digits") {
      DIGITS.forEach(function (keys) {
        osk.appendChild(row(keys.map(function (k) {
          return k.length > 1 ? special(k) : keyButton(k, k);
        })));
      });
      return;
    }
    var rows = LETTERS[layout];
    osk.appendChild(row(rows[0].split("").map(charKey)));
    osk.appendChild(row(rows[1].split("").map(charKey)));
    osk.appendChild(row([special("shift")].concat(rows[2].split("").map(charKey), [special("back")])));
    var last = [special("digits"), special("lang"), keyButton("-", "-"), special("space"), keyButton(".", ".")];
    if (layout === "en") last.push(keyButton("@", "@"));
    osk.appendChild(row(last.concat([special("done")])));
  }

  // --- opening and closing ---
  function reveal() {
    // Room below the page for the keyboard, then the field just above it.
    document.documentElement.style.setProperty("--osk-h", osk.offsetHeight + "px");
    var top = window.innerHeight - osk.offsetHeight;
    var box = field.getBoundingClientRect();
    if (box.bottom > top - 8) window.scrollBy(0, box.bottom - top + 8);
    else if (box.top < 0) window.scrollBy(0, box.top - 8);
  }
  function open(el) {
    if (field !== el) { shift = 0; layout = layoutFor(el); }
    field = el;
    render();
    osk.hidden = false;
    document.documentElement.classList.add("osk-open");
    reveal();
  }
  function close(blur) {
    var was = field;
    field = null;
    osk.hidden = true;
    document.documentElement.classList.remove("osk-open");
    if (blur && was) was.blur();
  }

  // Keys must not take the focus from the field (its caret stays where it was).
  ["pointerdown", "mousedown"].forEach(function (type) {
    osk.addEventListener(type, function (event) { event.preventDefault(); });
  });
  osk.addEventListener("click", function (event) {
    var button = event.target.closest("button[data-osk-key]");
    if (button) press(button.dataset.oskKey);
  });
  document.addEventListener("focusin", function (event) {
    if (takesKeyboard(event.target)) open(event.target);
  });
  document.addEventListener("focusout", function (event) {
    // Closed when the focus goes elsewhere than another field (e.g. a touch on the page).
    if (event.target !== field) return;
    setTimeout(function () {
      if (!takesKeyboard(document.activeElement)) close(false);
    }, 0);
  });
  window.addEventListener("resize", function () { if (field) reveal(); });
  if (takesKeyboard(document.activeElement)) open(document.activeElement); // autofocus
})();
