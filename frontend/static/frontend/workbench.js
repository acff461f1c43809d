// The annotation workbench: keyboard shortcuts and idle-aware time tracking.
// The page works without this file (plain form posts); this only makes it fast to use with the keyboard.
//
// Keys: digits pick labels by their number, Enter submits, E edits the answer, Ctrl/Cmd+Enter submits while
// editing, S skips, ? shows the keys, Esc leaves the answer box or closes the help. On a schema with a rating, R then a
// digit rates (0 stands for 10), + and - move the rating; T goes to the free-text answer. On an A/B comparison, A and B
// pick the better answer and = a tie (= then no longer moves the rating; + still does). On a ranking item, K starts
// the ranking afresh and each digit then places that answer next, best first (the last one places itself);
// Backspace takes the last placed answer back, Esc stops.
// Time spent counts only while the page is visible and the annotator did something in the last 60 seconds.
// While the annotator is active, a heartbeat renews the lease on the item (and the items reserved ahead) a third of the
// way into the lease, so a slow item is not taken away; an idle or hidden page lets the lease run out.
(function () {
  "use strict";

  var IDLE_AFTER_MS = 60000;
  var TICK_MS = 1000;
  var DIGIT_WAIT_MS = 700;

  var state = {
    assignmentId: null,
    activeMs: 0,
    lastTick: Date.now(),
    lastActivity: Date.now(),
    digits: "",
    digitTimer: null,
    rating: false,
    ranking: false,
    lastBeat: Date.now(),
    beating: false,
  };

  function $(id) {
    return document.getElementById(id);
  }

  function storageKey() {
    return "whetstone-workbench-ms-" + state.assignmentId;
  }

  function readStoredTime() {
    try {
      return parseInt(window.sessionStorage.getItem(storageKey()) || "0", 10) || 0;
    } catch (error) {
      return 0; // storage may be disabled; the time then restarts on reload
    }
  }

  function writeTime() {
    var input = $("time-spent-ms");
    if (input) input.value = String(Math.round(state.activeMs));
    if (!state.assignmentId) return;
    try {
      window.sessionStorage.setItem(storageKey(), String(Math.round(state.activeMs)));
    } catch (error) {
      // storage full or disabled: the hidden input still carries the time
    }
  }

  // Called on load and after every htmx swap: a new assignment starts its clock at zero (or where a reload left it).
  function itemStart() {
    var workbench = $("workbench");
    var id = workbench ? workbench.getAttribute("data-assignment-id") : null;
    // Every htmx swap lands here, the prefetch status's too: only a new item resets what the keys were building.
    if (id !== state.assignmentId) {
      state.assignmentId = id;
      state.activeMs = id ? readStoredTime() : 0;
      state.lastBeat = Date.now();
      state.digits = "";
      state.ranking = false;
    }
    state.lastTick = Date.now();
    state.lastActivity = Date.now();
    rankingArm(state.ranking && !!$("ranking"));
    selectedSync();
    rankingSync();
    writeTime();
    digitsShow(state.digits);
    // Keys work without a click first: when nothing on the page has the focus (a fresh page, or the button that
    // fetched this item was swapped away), the workbench takes it.
    if (workbench && (!document.activeElement || document.activeElement === document.body)) {
      if (!workbench.hasAttribute("tabindex")) workbench.setAttribute("tabindex", "-1");
      workbench.focus({ preventScroll: true });
    }
    // Keys pressed before this runs would be lost or reset: scripts (and tests) wait for data-ready before typing.
    if (workbench) workbench.setAttribute("data-ready", "");
  }

  // Adds the time since the last call if the annotator counts as working: page visible, active in the last minute.
  function accumulate() {
    var now = Date.now();
    // Capped, so a timer the browser paused (a sleeping laptop) does not count the pause; a busy machine may run late.
    var elapsed = Math.min(now - state.lastTick, 5 * TICK_MS);
    state.lastTick = now;
    if (!state.assignmentId || document.visibilityState !== "visible") return;
    if (now - state.lastActivity > IDLE_AFTER_MS) return;
    state.activeMs += elapsed;
  }

  function tick() {
    accumulate();
    writeTime();
    heartbeatMaybe();
  }

  function csrfToken() {
    try {
      return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"] || "";
    } catch (error) {
      return "";
    }
  }

  function errorShow(text) {
    var box = $("wb-error");
    if (!box) return;
    box.textContent = text;
    box.hidden = false;
  }

  function heartbeatMaybe() {
    var workbench = $("workbench");
    if (!workbench || !state.assignmentId || state.beating) return;
    var url = workbench.getAttribute("data-heartbeat-url");
    var leaseMs = (parseInt(workbench.getAttribute("data-lease-seconds") || "0", 10) || 600) * 1000;
    var now = Date.now();
    if (now - state.lastBeat < leaseMs / 3) return;
    if (document.visibilityState !== "visible" || now - state.lastActivity > IDLE_AFTER_MS) return;
    state.beating = true;
    state.lastBeat = now;
    var beatFor = state.assignmentId;
    window.fetch(url, { method: "POST", headers: { "X-CSRFToken": csrfToken() }, credentials: "same-origin" })
      .then(function (response) {
        return response.json().then(function (body) {
          if (beatFor !== state.assignmentId) return;
          if (!response.ok) {
            errorShow(body.detail || "");
            return;
          }
          var lease = $("lease-until");
          if (lease) {
            lease.textContent = lease.textContent.replace(lease.getAttribute("data-until"), body.until);
            lease.setAttribute("data-until", body.until);
          }
        });
      })
      .catch(function () {
        state.lastBeat = Date.now() - leaseMs / 3 + 10000; // offline for a moment: try again in ten seconds
      })
      .then(function () {
        state.beating = false;
      });
  }

  function activity() {
    state.lastActivity = Date.now();
  }

  function labelOptions() {
    return Array.prototype.slice.call(document.querySelectorAll("#label-tree .label-option[data-shortcut]"));
  }

  function selectedSync() {
    labelOptions().forEach(function (option) {
      var input = option.querySelector("input");
      option.classList.toggle("selected", !!(input && input.checked));
    });
    Array.prototype.slice.call(document.querySelectorAll("#rating .rating-option input, #pairwise .pairwise-option input")).forEach(function (input) {
      input.parentNode.classList.toggle("selected", input.checked);
    });
  }

  function labelPick(option) {
    var input = option.querySelector("input");
    if (!input) return;
    input.checked = input.type === "checkbox" ? !input.checked : true;
    input.dispatchEvent(new Event("change", { bubbles: true }));
    selectedSync();
  }

  // While a number is being typed, the labels it could still become are marked and the digits so far are shown, so a
  // first digit is seen at once even when the pick waits for a possible second one.
  function digitsShow(typed) {
    labelOptions().forEach(function (option) {
      option.classList.toggle("prefix-match", !!typed && option.getAttribute("data-shortcut").indexOf(typed) === 0);
    });
    var shown = $("digits-typed");
    if (shown) {
      shown.textContent = typed ? typed + "…" : "";
      shown.hidden = !typed;
    }
  }

  // Digits build a number; it is picked as soon as no longer number could still follow, else after a short pause.
  function digitPush(digit) {
    window.clearTimeout(state.digitTimer);
    state.digits += digit;
    var typed = state.digits;
    var options = labelOptions();
    var exact = null;
    var longer = false;
    options.forEach(function (option) {
      var shortcut = option.getAttribute("data-shortcut");
      if (shortcut === typed) exact = option;
      else if (shortcut.indexOf(typed) === 0) longer = true;
    });
    if (!longer) {
      state.digits = "";
      digitsShow("");
      if (exact) labelPick(exact);
      return;
    }
    digitsShow(typed);
    state.digitTimer = window.setTimeout(function () {
      state.digits = "";
      digitsShow("");
      if (exact) labelPick(exact);
    }, DIGIT_WAIT_MS);
  }

  function ratingOptions() {
    return Array.prototype.slice.call(document.querySelectorAll("#rating .rating-option input"));
  }

  function ratingSet(value) {
    var options = ratingOptions();
    options.forEach(function (input) {
      input.checked = parseInt(input.value, 10) === value;
      input.parentNode.classList.toggle("selected", input.checked);
    });
  }

  function ratingCurrent() {
    var checked = ratingOptions().filter(function (input) { return input.checked; })[0];
    return checked ? parseInt(checked.value, 10) : 0;
  }

  function preferenceSet(value) {
    Array.prototype.slice.call(document.querySelectorAll("#pairwise .pairwise-option input")).forEach(function (input) {
      input.checked = input.value === value;
      input.parentNode.classList.toggle("selected", input.checked);
    });
  }

  function ratingArm(on) {
    state.rating = on;
    var fieldset = $("rating");
    if (fieldset) fieldset.classList.toggle("armed", on);
  }

  // Ranking: each answer's place lives in its select (the page works without this file); keys fill them in order.
  function rankSelects() {
    return Array.prototype.slice.call(document.querySelectorAll("#ranking select[data-number]"));
  }

  function rankOrder() {
    return rankSelects().filter(function (select) { return select.value; })
      .sort(function (a, b) { return parseInt(a.value, 10) - parseInt(b.value, 10); })
      .map(function (select) { return select.getAttribute("data-number"); });
  }

  function rankingSync() {
    var output = $("ranking-order");
    if (!output) return;
    var order = rankOrder();
    output.textContent = order.length ? order.join(" > ") : "";
    Array.prototype.slice.call(document.querySelectorAll("#candidates .candidate")).forEach(function (card) {
      var place = order.indexOf(card.getAttribute("data-number")) + 1;
      card.classList.toggle("placed", place > 0);
      var badge = card.querySelector(".place");
      if (place && !badge) {
        badge = document.createElement("span");
        badge.className = "place";
        card.insertBefore(badge, card.firstChild);
      }
      if (badge) badge.textContent = place ? "#" + place : "";
    });
  }

  function rankingArm(on) {
    state.ranking = on;
    var fieldset = $("ranking");
    if (fieldset) fieldset.classList.toggle("armed", on);
  }

  function rankingStart() {
    rankSelects().forEach(function (select) { select.value = ""; });
    rankingArm(true);
    rankingSync();
  }

  function rankPush(number) {
    var selects = rankSelects();
    var select = selects.filter(function (s) { return s.getAttribute("data-number") === number; })[0];
    if (!select || select.value) return;
    select.value = String(rankOrder().length + 1);
    var left = selects.filter(function (s) { return !s.value; });
    if (left.length === 1) left[0].value = String(selects.length);
    if (left.length <= 1) rankingArm(false);
    rankingSync();
  }

  function rankPop() {
    var order = rankOrder();
    if (!order.length) return;
    var last = order[order.length - 1];
    rankSelects().forEach(function (select) {
      if (select.getAttribute("data-number") === last) select.value = "";
    });
    rankingArm(true);
    rankingSync();
  }

  function formSubmit(form, button) {
    if (!form) return;
    if (form.requestSubmit) form.requestSubmit(button || undefined);
    else form.submit();
  }

  function helpToggle(show) {
    var help = $("keys-help");
    if (!help) return;
    help.hidden = show === undefined ? !help.hidden : !show;
  }

  function isTyping(element) {
    if (!element) return false;
    var tag = element.tagName;
    if (tag === "TEXTAREA" || tag === "SELECT" || element.isContentEditable) return true;
    return tag === "INPUT" && ["text", "search", "number", "email", "url"].indexOf(element.type) !== -1;
  }

  function onKeydown(event) {
    var form = $("annotation-form");
    var target = event.target;
    if (event.key === "Escape") {
      if (state.ranking) {
        rankingArm(false);
        return;
      }
      var help = $("keys-help");
      if (help && !help.hidden) helpToggle(false);
      else if (isTyping(target)) target.blur();
      return;
    }
    if (isTyping(target)) {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey) && form && form.contains(target)) {
        event.preventDefault();
        formSubmit(form, $("submit-annotation"));
      }
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.key === "?") {
      event.preventDefault();
      helpToggle();
      return;
    }
    if (!form) return;
    var scale = $("rating") ? parseInt($("rating").getAttribute("data-scale"), 10) : 0;
    if (state.rating && /^[0-9]$/.test(event.key)) {
      event.preventDefault();
      ratingArm(false);
      var value = event.key === "0" ? 10 : parseInt(event.key, 10);
      if (value <= scale) ratingSet(value);
      return;
    }
    ratingArm(false);
    if (state.ranking && /^[1-9]$/.test(event.key)) {
      event.preventDefault();
      rankPush(event.key);
      return;
    }
    if (state.ranking && event.key === "Backspace") {
      event.preventDefault();
      rankPop();
      return;
    }
    if ((event.key === "k" || event.key === "K") && $("ranking")) {
      event.preventDefault();
      rankingStart();
      return;
    }
    var pairwise = !!$("pairwise");
    if (/^[0-9]$/.test(event.key)) {
      event.preventDefault();
      digitPush(event.key);
    } else if (pairwise && (event.key === "a" || event.key === "A" || event.key === "b" || event.key === "B" || event.key === "=")) {
      event.preventDefault();
      preferenceSet(event.key === "=" ? "tie" : event.key.toLowerCase());
    } else if ((event.key === "r" || event.key === "R") && scale) {
      event.preventDefault();
      ratingArm(true);
    } else if ((event.key === "+" || event.key === "=" || event.key === "-") && scale) {
      event.preventDefault();
      var current = ratingCurrent();
      ratingSet(event.key === "-" ? Math.max(1, current - 1) : Math.min(scale, current + 1));
    } else if (event.key === "t" || event.key === "T") {
      var text = $("free-text");
      if (!text) return;
      event.preventDefault();
      text.focus();
    } else if (event.key === "Enter") {
      // A focused button or link does its own thing on Enter; submitting as well would send twice.
      if (target && (target.tagName === "BUTTON" || target.tagName === "A")) return;
      event.preventDefault();
      formSubmit(form, $("submit-annotation"));
    } else if (event.key === "e" || event.key === "E") {
      var answer = $("corrected-response");
      if (!answer) return;
      event.preventDefault();
      answer.focus();
      answer.setSelectionRange(answer.value.length, answer.value.length);
    } else if (event.key === "s" || event.key === "S") {
      event.preventDefault();
      formSubmit($("skip-form"), $("skip-annotation"));
    }
  }

  ["keydown", "mousedown", "mousemove", "wheel", "touchstart", "input"].forEach(function (name) {
    document.addEventListener(name, activity, { passive: true, capture: true });
  });
  document.addEventListener("keydown", onKeydown);
  document.addEventListener("change", selectedSync);
  document.addEventListener("change", rankingSync);
  // Capture phase: runs before htmx reads the form, so the request carries the time up to this moment.
  document.addEventListener("submit", tick, true);
  document.addEventListener("visibilitychange", function () {
    state.lastTick = Date.now();
    if (document.visibilityState === "visible") activity();
  });
  document.addEventListener("htmx:afterSettle", itemStart);
  window.setInterval(tick, TICK_MS);
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", itemStart);
  else itemStart();
})();
