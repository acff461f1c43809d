// Blind voting, keyboard first: ← left, → right, T tie, B both bad; digits pick the optional label (0 none). Each key presses the matching button, so the
// vote travels as the same plain form POST a mouse click sends. The time spent is measured from page load.
(function () {
  "use strict";
  var form = document.getElementById("vote-form");
  if (!form) return;
  var shownAt = Date.now();
  var sent = false;
  var keys = { ArrowLeft: "vote-left", ArrowRight: "vote-right", t: "vote-tie", T: "vote-tie", b: "vote-both-bad", B: "vote-both-bad" };

  form.addEventListener("submit", function (event) {
    if (sent) { event.preventDefault(); return; }  // one vote per page, however fast the keys repeat
    sent = true;
    form.elements.time_spent_ms.value = String(Date.now() - shownAt);
    form.classList.add("sending");
  });

  document.addEventListener("keydown", function (event) {
    if (event.altKey || event.ctrlKey || event.metaKey || event.repeat) return;
    var target = event.target;
    if (target && target.closest && target.closest("textarea, input, select, [contenteditable]")) return;
    if (/^[0-9]$/.test(event.key)) {
      var radio = event.key === "0" ? form.querySelector("input[name=label][value='']")
                                    : form.querySelector("input[name=label][data-key='" + event.key + "']");
      if (radio) { event.preventDefault(); radio.checked = true; }
      return;
    }
    var id = keys[event.key];
    if (!id) return;
    event.preventDefault();
    var button = document.getElementById(id);
    if (button) button.click();
  });
})();
