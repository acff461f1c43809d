// Keyboard review of a dedupe dry run: J / K move between decisions, X flips the current one (keep <-> drop).
// The flip is the decision's own htmx button, so the server (the same service as the API) decides what happens.
(function () {
  var current = -1;

  function decisions() { return Array.prototype.slice.call(document.querySelectorAll(".dedupe-decision")); }

  function mark(index) {
    var items = decisions();
    if (!items.length) return;
    current = Math.max(0, Math.min(index, items.length - 1));
    items.forEach(function (item, i) { item.classList.toggle("current", i === current); });
    items[current].scrollIntoView({block: "center"});
  }

  document.addEventListener("keydown", function (event) {
    var target = event.target;
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (target && (target.tagName === "INPUT" || target.tagName === "TEXTAREA" || target.tagName === "SELECT")) return;
    var key = event.key.toLowerCase();
    if (key === "j") { mark(current + 1); event.preventDefault(); }
    else if (key === "k") { mark(current - 1); event.preventDefault(); }
    else if (key === "x" && current >= 0) {
      var button = decisions()[current] && decisions()[current].querySelector("button.flip");
      if (button) { button.click(); event.preventDefault(); }
    }
  });

  // A flipped decision is swapped in by htmx: keep the marker on it.
  document.addEventListener("htmx:afterSwap", function () { if (current >= 0) mark(current); });
})();
