// The best-of-N workbench, keyboard first. In the message box Ctrl+Enter asks the endpoints (htmx swaps the candidates
// in). Then, outside any text box: 1-9 picks a candidate, E opens the editor with the pick's text, Enter sends; in the
// editor Ctrl+Enter sends and Esc closes it (the edit is dropped). After a send, N (or any click) returns to the
// message box. Every send is the same htmx form POST a mouse click makes; which model wrote what stays on the server.
(function () {
  "use strict";
  var message = document.getElementById("wb-message");
  var askForm = document.getElementById("wb-form");
  if (!message || !askForm) return;

  function pickForm() { return document.getElementById("wb-pick"); }
  function inTextBox(target) { return target && target.closest && target.closest("textarea, input, select, [contenteditable]"); }

  function select(position) {
    var form = pickForm();
    var card = form && form.querySelector(".fb-candidate[data-index='" + position + "']");
    if (!card) return false;
    form.querySelectorAll(".fb-candidate").forEach(function (other) { other.classList.toggle("selected", other === card); });
    form.elements.index.value = String(position);
    document.getElementById("wb-send").disabled = false;
    var editor = document.getElementById("wb-editor");
    if (!editor.hidden) document.getElementById("wb-edited").value = card.querySelector(".fb-text").textContent;
    return true;
  }

  function openEditor() {
    var form = pickForm();
    if (!form) return;
    if (!form.elements.index.value) select(1);
    var card = form.querySelector(".fb-candidate.selected");
    var editor = document.getElementById("wb-editor");
    var box = document.getElementById("wb-edited");
    editor.hidden = false;
    box.value = card.querySelector(".fb-text").textContent;
    box.focus();
  }

  function closeEditor() {
    var editor = document.getElementById("wb-editor");
    if (!editor) return;
    editor.hidden = true;
    document.getElementById("wb-edited").value = "";
    document.activeElement.blur();
  }

  function send() {
    var form = pickForm();
    // hx-sync="this:drop" on the form ignores repeats while a send is in flight; the server records a pick once anyway.
    if (form && form.elements.index.value) form.requestSubmit();
  }

  function nextMessage() {
    message.focus();
    message.select();
  }

  message.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      askForm.requestSubmit();
    }
  });

  document.addEventListener("click", function (event) {
    var card = event.target.closest && event.target.closest(".fb-candidate");
    if (card) select(card.getAttribute("data-index"));
  });

  document.body.addEventListener("htmx:afterSwap", function (event) {
    if (event.detail.target.id !== "wb-candidates") return;
    document.getElementById("wb-error-slot").textContent = "";
    if (pickForm()) document.activeElement.blur();  // the digits now pick instead of typing into the message box
  });

  document.addEventListener("keydown", function (event) {
    if (event.altKey || event.repeat) return;
    if (event.target && event.target.id === "wb-edited") {
      if (event.key === "Escape") { event.preventDefault(); closeEditor(); }
      else if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) { event.preventDefault(); send(); }
      return;
    }
    if (event.ctrlKey || event.metaKey || inTextBox(event.target)) return;
    if (/^[1-9]$/.test(event.key)) {
      if (select(event.key)) event.preventDefault();
    } else if (event.key === "e" || event.key === "E") {
      if (pickForm()) { event.preventDefault(); openEditor(); }
    } else if (event.key === "Enter") {
      if (pickForm()) { event.preventDefault(); send(); }
    } else if (event.key === "n" || event.key === "N") {
      if (document.getElementById("wb-picked")) { event.preventDefault(); nextMessage(); }
    }
  });
})();
