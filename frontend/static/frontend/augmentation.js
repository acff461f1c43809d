// The augmentation review: keyboard decisions on candidates. The page works without this file (plain form posts,
// or htmx on click); this only makes it fast with the keyboard.
//
// Keys: j / ArrowDown next, k / ArrowUp previous, a accept, r reject, u undo (back to pending),
// Shift+A accept every passing candidate. After a decision the next candidate is focused.
(function () {
  "use strict";

  var current = 0;

  function rows() {
    return Array.prototype.slice.call(document.querySelectorAll("#candidates tr.candidate"));
  }

  function focus(index) {
    var all = rows();
    if (!all.length) return;
    current = Math.max(0, Math.min(index, all.length - 1));
    all.forEach(function (row, i) { row.classList.toggle("current", i === current); });
    all[current].focus({preventScroll: true});
    all[current].scrollIntoView({block: "nearest"});
  }

  function decide(key) {
    var row = rows()[current];
    if (!row) return;
    var button = row.querySelector('button[data-key="' + key + '"]');
    if (!button) return;
    var id = row.id;
    document.body.addEventListener("htmx:afterSwap", function moved(event) {
      if (event.detail.target && event.detail.target.id === id) {
        document.body.removeEventListener("htmx:afterSwap", moved);
        focus(current + 1);
      }
    });
    button.click();
  }

  document.addEventListener("keydown", function (event) {
    var target = event.target;
    if (target && (target.tagName === "INPUT" || target.tagName === "TEXTAREA" || target.tagName === "SELECT")) return;
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.key === "A" && event.shiftKey) {
      var form = document.getElementById("accept-passing-form");
      if (form) form.submit();
      event.preventDefault();
      return;
    }
    switch (event.key) {
      case "j": case "ArrowDown": focus(current + 1); break;
      case "k": case "ArrowUp": focus(current - 1); break;
      case "a": case "r": case "u": decide(event.key); break;
      default: return;
    }
    event.preventDefault();
  });

  document.addEventListener("DOMContentLoaded", function () { focus(0); });
})();
