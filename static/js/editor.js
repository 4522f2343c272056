// The step editor on top of htmx (templates/builder/sequence_edit.html, builder/views/editor.py).
// htmx does the requests and swaps; this file adds what htmx cannot say in attributes (CSP: no
// inline handlers, no eval): the page's version on every save, the status line, live day
// totals, drag-and-drop reorder, and focus after a card moves, appears or disappears.
(function () {
  "use strict";

  // (The page marks itself html.js in its head, before the first layout.)

  function editor() {
    return document.getElementById("editor");
  }

  function inEditor(element) {
    const root = editor();
    return Boolean(root && element && root.contains(element));
  }

  // --- Version and status line ------------------------------------------------------------
  // Each save answers with the new version (in #editor-version, swapped in out of band); the
  // next save sends it, so a page that someone else saved after is refused, never overwritten.
  document.body.addEventListener("htmx:configRequest", function (event) {
    const version = document.getElementById("editor-version");
    if (!version || !inEditor(event.detail.elt)) return;
    if (event.detail.verb !== "get" || isCardsRequest(event.detail)) {
      event.detail.parameters["version"] = version.value;
    }
    // The cards the page holds as heads alone: the answer re-sends those, not their parts.
    const pending = pendingCards().map(function (card) {
      return card.dataset.stepId;
    });
    if (pending.length) event.detail.headers["Pending-Steps"] = pending.join(",");
  });

  // The step buttons submit the shared #step-actions form (button form= and formaction=).
  // htmx learns which button from focus and click events on buttons it has processed; a button
  // swapped in and focused before htmx processed it would post to the form's own action. The
  // browser's SubmitEvent.submitter always knows, so use it.
  document.body.addEventListener("htmx:configRequest", function (event) {
    const submitter = event.detail.triggeringEvent && event.detail.triggeringEvent.submitter;
    if (!submitter || event.detail.elt.id !== "step-actions") return;
    const action = submitter.getAttribute("formaction");
    if (action) event.detail.path = action;
    if (submitter.name) event.detail.parameters[submitter.name] = submitter.value;
  });

  function setStatus(text, isError) {
    const status = document.getElementById("save-status");
    if (!status) return;
    const label = status.querySelector(".save-text");
    const detail = status.querySelector(".save-detail");
    if (label) label.textContent = text;
    if (detail) detail.textContent = "";
    status.classList.toggle("is-error", Boolean(isError));
  }

  // --- One save per edit ------------------------------------------------------------------
  // The name box, a card's wait boxes and its copy (Subject, Body, Message) save after a pause
  // in typing ("input changed delay", Trix's "trix-change delay") and when the person leaves the
  // box ("change", "trix-blur"). After a pause, leaving fires `change` for the
  // value just saved: a second save would only answer "No changes" and hide the real one from
  // the status line. So an autosave whose fields are exactly those last sent is not sent.
  // (Compared when htmx is about to issue it, recorded when it really goes out: a save queued
  // behind another one is compared again when its turn comes.)
  const AUTOSAVES = "#sequence-name, fieldset.delay, div.copy";
  const lastSent = new WeakMap();

  function autosaveFields(element) {
    const form = element.closest("form");
    if (!form) return null;
    const fields = new URLSearchParams(new FormData(form));
    fields.delete("version"); // the page's version changes with every save, the edit does not
    return fields.toString();
  }

  document.body.addEventListener("htmx:confirm", function (event) {
    const element = event.detail.elt;
    if (!inEditor(element) || !element.matches(AUTOSAVES)) return;
    // Typing in a box outside the card's form (form="": Trix's link address) is no edit.
    const source = event.detail.triggeringEvent && event.detail.triggeringEvent.target;
    if (source && source.matches && source.matches("input, textarea") && !source.form) {
      event.preventDefault();
      return;
    }
    const form = element.closest("form");
    if (form && lastSent.get(form) === autosaveFields(element)) event.preventDefault();
  });
  document.body.addEventListener("htmx:beforeRequest", function (event) {
    // Any save of the card or the name (a ticked box, a picked template) sends its fields too.
    const element = event.detail.elt;
    const form = inEditor(element) && element.closest("form.step-fields, #name-form");
    if (form && event.detail.requestConfig.verb === "post") lastSent.set(form, autosaveFields(form));
  });
  // A save that did not arrive may be sent again as it is.
  ["htmx:sendError", "htmx:responseError"].forEach(function (name) {
    document.body.addEventListener(name, function (event) {
      const form = event.detail.elt && event.detail.elt.closest && event.detail.elt.closest("form");
      if (form) lastSent.delete(form);
    });
  });

  let saving = 0;
  document.body.addEventListener("htmx:beforeRequest", function (event) {
    if (event.detail.requestConfig.verb !== "get" && inEditor(event.detail.elt)) {
      saving += 1;
      setStatus("Saving…", false);
    }
  });
  document.body.addEventListener("htmx:afterRequest", function (event) {
    if (event.detail.requestConfig.verb !== "get" && inEditor(event.detail.elt)) {
      saving = Math.max(0, saving - 1);
    }
  });
  window.addEventListener("beforeunload", function (event) {
    if (saving > 0) event.preventDefault();
  });

  // Refusals (422 invalid input, 409 changed meanwhile) carry fragments that say why; htmx swaps
  // them like a 200 (base.html's htmx-config). Anything else that failed (a stale CSRF token, a
  // lost role, a server error) is not swapped, but still gets a visible line.
  document.body.addEventListener("htmx:responseError", function (event) {
    if (!inEditor(event.detail.elt)) return;
    const status = event.detail.xhr.status;
    if (event.detail.requestConfig.verb === "get") {
      setStatus("Could not load that (error " + status + "). Reload the page.", true);
      return;
    }
    const why = status === 403
      ? "the server refused it (your session may have expired)."
      : "the server had a problem (error " + status + ").";
    setStatus("Not saved: " + why + " Reload the page and try again.", true);
  });
  document.body.addEventListener("htmx:sendError", function (event) {
    if (!inEditor(event.detail.elt)) return;
    setStatus("Not saved: the server cannot be reached. Check your connection, then try again.", true);
  });

  // --- The status line covers nothing ---------------------------------------------------
  // It is fixed at the bottom of the screen. Its height goes to --save-status-height, which
  // editor.css keeps free below whatever is focused or scrolled to; when it grows over the field
  // being edited (a refusal on a phone runs to several lines), that field scrolls back above it.
  function overlaps(a, b) {
    return a.bottom > b.top && a.top < b.bottom && a.right > b.left && a.left < b.right;
  }

  function keepFocusClear() {
    const status = document.getElementById("save-status");
    const active = document.activeElement;
    if (!status || !inEditor(active) || status.contains(active)) return;
    if (overlaps(active.getBoundingClientRect(), status.getBoundingClientRect())) {
      active.scrollIntoView({ block: "nearest" });
    }
  }

  function fitStatus() {
    const status = document.getElementById("save-status");
    if (!status) return;
    const height = Math.ceil(status.getBoundingClientRect().height);
    document.documentElement.style.setProperty("--save-status-height", height + "px");
    keepFocusClear();
  }

  document.body.addEventListener("htmx:afterSettle", fitStatus);
  // A box clicked where it sat under the status line (clicks go through it) comes out from under.
  // Text boxes only: a button or checkbox that moved between mousedown and mouseup would miss
  // its click.
  document.addEventListener("focusin", function (event) {
    if (event.target.matches('input[type="text"], input[type="search"], textarea')) keepFocusClear();
  });
  window.addEventListener("resize", fitStatus);
  // In the first frame, with the browser's own layout: measuring now, while the page is still
  // being set up, would lay the whole page out once more.
  window.requestAnimationFrame(fitStatus);

  // --- Wait boxes with errors --------------------------------------------------------------
  // A refusal sends a card's error notes, never its boxes (the person may be typing in them):
  // the boxes the errors name are marked invalid and described by the errors here, and unmarked
  // once a save clears them. (The page without JavaScript renders the same attributes.)
  // For each element an answer brings (htmx.onLoad), only the cards it is in or holds: an
  // answer's few fragments cost the same at 10 steps as at 200. (The page as loaded already
  // has them right.)
  function markDelayErrors(element) {
    if (element === document.body || !element.closest) return;
    const around = element.closest("#step-list > li.step");
    const cards = around ? [around] : element.querySelectorAll("#step-list > li.step");
    cards.forEach(function (card) {
      const errors = card.querySelector('[id$="-delay-errors"]');
      const fields = errors ? errors.dataset.fields.split(" ") : [];
      card.querySelectorAll(".delay-part input").forEach(function (input) {
        if (fields.includes(input.name)) {
          input.setAttribute("aria-invalid", "true");
          input.setAttribute("aria-describedby", errors.id);
        } else {
          input.removeAttribute("aria-invalid");
          input.removeAttribute("aria-describedby");
        }
      });
    });
  }
  htmx.onLoad(markDelayErrors);

  // --- Focus ------------------------------------------------------------------------------
  // The server names what should have focus after a change (HX-Trigger-After-Settle): the
  // moved card's button, a new card, or "Undo" after a removal. Not when the person has
  // already gone on typing in a field by then: pulling them out of it would lose keystrokes.
  document.body.addEventListener("editor-focus", function (event) {
    const target = document.querySelector(event.detail.target);
    const active = document.activeElement;
    if (active && active !== target && active.matches("input, textarea, select, trix-editor")) return;
    if (target) {
      target.focus({ preventScroll: true });
      target.scrollIntoView({ block: "nearest" });
    }
  });

  // --- Live day totals --------------------------------------------------------------------
  // While a wait is typed, every later card's "Day N" and "starts on day N" follow at once;
  // the server says the same after the save (builder/cards.py describe_start).
  const UNITS = [["day", 86400], ["hour", 3600], ["minute", 60], ["second", 1]];

  function describeDelay(seconds) {
    const parts = [];
    for (const [unit, size] of UNITS) {
      const count = Math.floor(seconds / size);
      seconds -= count * size;
      if (count) parts.push(count + " " + unit + (count === 1 ? "" : "s"));
    }
    return parts.join(" ") || "immediately";
  }

  function describeStart(total) {
    const days = Math.floor(total / 86400);
    const rest = total % 86400;
    return "starts on day " + (days + 1) + (rest ? ", " + describeDelay(rest) + " in" : "");
  }

  function typedDelay(card) {
    let total = 0;
    for (const [name, size] of [["days", 86400], ["hours", 3600], ["minutes", 60]]) {
      const input = card.querySelector('input[name="' + name + '"]');
      if (!input) return null;
      const text = input.value.trim();
      if (!/^\d*$/.test(text)) return null;
      total += (text ? parseInt(text, 10) : 0) * size;
    }
    return total;
  }

  function updateTotals() {
    let total = 0;
    document.querySelectorAll("#step-list > li.step").forEach(function (card) {
      const typed = typedDelay(card);
      const head = card.querySelector(".step-head");
      total += typed === null ? parseInt((head && head.dataset.delay) || "0", 10) : typed;
      const day = card.querySelector(".step-day");
      const starts = card.querySelector(".starts-on");
      if (day) day.textContent = "Day " + (Math.floor(total / 86400) + 1);
      if (starts) starts.textContent = describeStart(total);
    });
  }

  document.addEventListener("input", function (event) {
    if (event.target.closest && event.target.closest(".delay-part")) updateTotals();
  });

  // --- Template search --------------------------------------------------------------------
  // Keyboard only: Down from the search box goes to the first result, Up and Down move through
  // the results (Up from the first returns to the box), Enter on a result picks it (it is a
  // submit button), Escape closes the results and returns to the box.
  function pickerParts(element) {
    const picker = element.closest && element.closest(".picker");
    if (!picker) return null;
    const search = picker.querySelector('.picker-search input[type="search"]');
    const results = search && document.getElementById(search.getAttribute("aria-controls"));
    if (!results) return null;
    return { search: search, results: results, buttons: Array.from(results.querySelectorAll(".pick-use")) };
  }

  document.addEventListener("keydown", function (event) {
    if (!["ArrowDown", "ArrowUp", "Escape"].includes(event.key)) return;
    const target = event.target;
    const inBox = target.matches && target.matches('.picker-search input[type="search"]');
    const onResult = target.matches && target.matches(".pick-use");
    if (!inBox && !onResult) return;
    const parts = pickerParts(target);
    if (!parts) return;
    if (event.key === "Escape") {
      parts.results.replaceChildren();
      parts.results.classList.remove("is-open");
      if (onResult) parts.search.focus();
      event.preventDefault();
      return;
    }
    const index = parts.buttons.indexOf(target);
    let next = null;
    if (event.key === "ArrowDown") {
      next = inBox ? parts.buttons[0] : parts.buttons[index + 1];
    } else if (onResult) {
      next = index > 0 ? parts.buttons[index - 1] : parts.search;
    }
    if (next) {
      event.preventDefault(); // arrows would otherwise scroll the page or move the caret
      next.focus();
    }
  });

  // --- "Insert step" menus ---------------------------------------------------------------
  // One open at a time; Escape closes it and returns to its toggle.
  document.addEventListener("toggle", function (event) {
    const opened = event.target;
    if (!opened.matches || !opened.matches("details.insert") || !opened.open) return;
    document.querySelectorAll("details.insert[open]").forEach(function (other) {
      if (other !== opened) other.open = false;
    });
  }, true);
  document.addEventListener("keydown", function (event) {
    const menu = event.key === "Escape" && event.target.closest && event.target.closest("details.insert[open]");
    if (menu) {
      menu.open = false;
      menu.querySelector("summary").focus();
    }
  });

  // --- Drag and drop ----------------------------------------------------------------------
  // SortableJS moves the card in the page; the new order goes to the reorder endpoint, which
  // checks it lists exactly this sequence's steps and answers with the moved cards' new numbers.
  let focusAfterReorder = null;

  function submitOrder(list) {
    const form = document.getElementById("reorder-form");
    if (!form) return;
    form.querySelectorAll('input[name="order"]').forEach(function (input) {
      input.remove();
    });
    list.querySelectorAll(":scope > li.step").forEach(function (card) {
      const input = document.createElement("input");
      input.type = "hidden";
      input.name = "order";
      input.value = card.dataset.stepId;
      form.appendChild(input);
    });
    htmx.trigger(form, "reorder");
  }

  function makeSortable(list) {
    if (!window.Sortable || !list || list.dataset.sortable || !list.querySelector(".drag-handle")) {
      return;
    }
    list.dataset.sortable = "on";
    window.Sortable.create(list, {
      handle: ".drag-handle",
      draggable: "li.step",
      // Cards slide aside while one is dragged, unless the person asked for less motion.
      animation: window.matchMedia("(prefers-reduced-motion: reduce)").matches ? 0 : 150,
      forceFallback: true, // the same pointer-driven drag in every browser and on touch screens
      fallbackOnBody: true,
      ghostClass: "is-drop-target",
      chosenClass: "is-chosen",
      dragClass: "is-dragging",
      onEnd: function (event) {
        if (event.oldIndex === event.newIndex) return;
        focusAfterReorder = "#step-" + event.item.dataset.stepId;
        submitOrder(list);
      },
    });
  }

  // --- Cards further down ---------------------------------------------------------------
  // A long list arrives with its first cards whole and the rest as heads (li.is-pending,
  // views/editor.py first_screen). The heads within two screens of the view are asked for whole,
  // all at once, in the editor's queue (#editor hx-sync): the request carries the version the
  // page shows when it goes out, like a save, and the server refuses a page that is behind.
  function pendingCards() {
    return Array.from(document.querySelectorAll("#step-list > li.step.is-pending"));
  }

  function isCardsRequest(detail) {
    const list = document.getElementById("step-list");
    return Boolean(list && list.dataset.cardsUrl && detail.path === list.dataset.cardsUrl);
  }

  const nearCards = new Set();
  const cardWatcher = "IntersectionObserver" in window
    ? new IntersectionObserver(function (entries) {
      entries.forEach(function (entry) {
        if (entry.isIntersecting) nearCards.add(entry.target);
        else nearCards.delete(entry.target);
      });
      loadNearCards();
    }, { rootMargin: "200% 0px" })
    : null;

  function loadNearCards() {
    const list = document.getElementById("step-list");
    const wanted = Array.from(nearCards).filter(function (card) {
      return card.isConnected && card.classList.contains("is-pending") && !card.dataset.requested;
    });
    nearCards.clear();
    if (!list || !wanted.length) return;
    wanted.forEach(function (card) {
      card.dataset.requested = "yes";
      if (cardWatcher) cardWatcher.unobserve(card);
    });
    htmx.ajax("GET", list.dataset.cardsUrl, {
      source: list,
      target: list,
      swap: "none",
      values: { ids: wanted.map(function (card) { return card.dataset.stepId; }).join(",") },
    });
  }

  // Watched from the page's load event on: the first screen's cards come first, the ones
  // below it right after (a card asked for focus or followed comes at once, whenever).
  let pageLoaded = document.readyState === "complete";
  window.addEventListener("load", function () {
    pageLoaded = true;
    watchPending(document.body);
  });

  function watchPending(root) {
    if (!pageLoaded || !root.querySelectorAll) return;
    const cards = root.matches && root.matches("li.step.is-pending")
      ? [root]
      : Array.from(root.querySelectorAll("li.step.is-pending"));
    cards.forEach(function (card) {
      if (cardWatcher) {
        cardWatcher.observe(card);
      } else {
        nearCards.add(card); // no IntersectionObserver: load them all
      }
    });
    if (!cardWatcher) loadNearCards();
  }

  // Tab reaches a head's link ("Show step 12 in full"): focused or followed, its card is asked
  // for at once (the page without JavaScript follows it to every card in full).
  function loadNow(event) {
    const link = event.target.closest && event.target.closest(".step-pending-link");
    const card = link && link.closest("li.step.is-pending");
    if (!card) return;
    if (event.type === "click") event.preventDefault();
    nearCards.add(card);
    loadNearCards();
  }
  document.addEventListener("focusin", loadNow);
  document.addEventListener("click", loadNow);

  // A whole card that arrives for a head the page no longer holds (the list changed while it
  // was asked for, and a later answer already brought the card) is not swapped in again: the
  // person may be typing in it. Focus inside a head moves into its whole card.
  let focusInPending = null;
  document.body.addEventListener("htmx:oobBeforeSwap", function (event) {
    const incoming = event.detail.fragment && event.detail.fragment.firstElementChild;
    const target = event.detail.target;
    if (!incoming || !incoming.matches || !incoming.matches("li.step[data-late-card]")) return;
    if (!target.classList.contains("is-pending")) {
      event.detail.shouldSwap = false;
      return;
    }
    if (target.contains(document.activeElement)) focusInPending = target.id;
  });
  document.body.addEventListener("htmx:afterSettle", function () {
    if (!focusInPending) return;
    const card = document.getElementById(focusInPending);
    focusInPending = null;
    if (card) card.focus({ preventScroll: true });
  });

  htmx.onLoad(function (element) {
    watchPending(element);
    if (element.id === "step-list") {
      makeSortable(element);
    } else if (element.querySelector) {
      makeSortable(element.querySelector("#step-list"));
    }
  });

  document.body.addEventListener("htmx:afterSettle", function (event) {
    if (focusAfterReorder && event.target.id === "step-list") {
      const card = document.querySelector(focusAfterReorder);
      focusAfterReorder = null;
      if (card) card.focus({ preventScroll: true });
    }
  });
})();
