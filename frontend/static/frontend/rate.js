// Blind rating, keyboard first: digits 1–5 score the highlighted criterion and move on to the next; after the last one
// the rating is sent once every criterion has a score. ↑ and ↓ move between criteria, Enter sends. The keys tick the
// same radio buttons a mouse does, so the rating travels as the same plain form POST. Time is measured from page load.
(function () {
  "use strict";
  var form = document.getElementById("rating-form");
  if (!form) return;
  var shownAt = Date.now();
  var sent = false;
  var criteria = Array.prototype.slice.call(form.querySelectorAll(".rating-criterion"));
  var current = 0;

  function highlight(index) {
    current = Math.max(0, Math.min(criteria.length - 1, index));
    criteria.forEach(function (fieldset, i) { fieldset.classList.toggle("current", i === current); });
  }

  function complete() {
    return criteria.every(function (fieldset) { return fieldset.querySelector("input:checked"); });
  }

  criteria.forEach(function (fieldset, i) {
    fieldset.addEventListener("change", function () { highlight(i); });
  });

  form.addEventListener("submit", function (event) {
    if (sent || !complete()) { event.preventDefault(); return; }  // one rating per page, and only a complete one
    sent = true;
    form.elements.time_spent_ms.value = String(Date.now() - shownAt);
    form.classList.add("sending");
  });

  document.addEventListener("keydown", function (event) {
    if (event.altKey || event.ctrlKey || event.metaKey || event.repeat) return;
    var target = event.target;
    if (target && target.closest && target.closest("textarea, select, [contenteditable], input[type=text]")) return;
    if (/^[1-5]$/.test(event.key)) {
      event.preventDefault();
      var radio = criteria[current].querySelector("input[value='" + event.key + "']");
      radio.checked = true;
      if (current < criteria.length - 1) { highlight(current + 1); }
      else if (complete()) { form.requestSubmit ? form.requestSubmit() : form.submit(); }
      return;
    }
    if (event.key === "ArrowDown") { event.preventDefault(); highlight(current + 1); }
    else if (event.key === "ArrowUp") { event.preventDefault(); highlight(current - 1); }
    else if (event.key === "Enter") { event.preventDefault(); if (complete()) form.requestSubmit(); }
  });

  highlight(0);
})();
