// Review page (templates/builder/sequence_review.html): "Quote in comment". A reviewer selects
// words of a step's copy (its subject, body or SMS message) and the button of that step puts
// them in the comment form as the comment's quote (the hidden quote / quote_field inputs, shown
// in #comment-quote), with the step chosen under "About". The server checks the quote again
// (builder/review.py). Without JavaScript the buttons stay hidden and comments work without a
// quote. Every word the page shows comes from the template (data-* attributes): this script
// never words anything itself.
(function () {
  "use strict";

  const MAX_QUOTE = 1000; // characters; review.MAX_QUOTE_LENGTH

  // The selection the buttons would quote: {copy, field, label, text}, or null.
  let chosen = null;

  function buttons() {
    return document.querySelectorAll("button[data-quote]");
  }

  function fieldOf(node) {
    if (!node) return null;
    const element = node.nodeType === Node.ELEMENT_NODE ? node : node.parentElement;
    return element ? element.closest("[data-quote-field]") : null;
  }

  // The selected words, when they lie within one copy field of one step.
  function selectedQuote() {
    const selection = document.getSelection();
    if (!selection || selection.rangeCount === 0 || selection.isCollapsed) return null;
    const range = selection.getRangeAt(0);
    const field = fieldOf(range.startContainer);
    if (!field || field !== fieldOf(range.endContainer)) return null;
    const copy = field.closest("[data-quote-step]");
    const text = selection.toString().replace(/\r\n?/g, "\n").trim();
    if (!copy || !text) return null;
    return {
      copy: copy,
      field: field.dataset.quoteField,
      label: field.dataset.quoteLabel || field.dataset.quoteField,
      text: text,
    };
  }

  function showHelp(tooLong) {
    const help = document.getElementById("quote-help");
    if (!help) return;
    if (!help.dataset.usual) help.dataset.usual = help.textContent;
    help.textContent = tooLong ? help.dataset.tooLong : help.dataset.usual;
    help.classList.toggle("error", tooLong);
  }

  // Enable the button of the step the selection is in; every other one stays disabled.
  function update() {
    const quote = selectedQuote();
    const active = document.activeElement;
    if (!quote && active && active.matches("button[data-quote]") && chosen) {
      return; // tabbing to the button may move the caret: keep what was selected
    }
    const tooLong = Boolean(quote && quote.text.length > MAX_QUOTE);
    chosen = quote && !tooLong ? quote : null;
    buttons().forEach((button) => {
      button.disabled = !chosen || !chosen.copy.contains(button);
    });
    showHelp(tooLong);
  }

  function form() {
    return document.querySelector("form.comment-form");
  }

  function setQuote(quote, stepKey) {
    const target = form();
    if (!target) return;
    const preview = target.querySelector("#comment-quote");
    const body = target.querySelector("textarea[name=body]");
    target.querySelector("input[name=quote]").value = quote ? quote.text : "";
    target.querySelector("input[name=quote_field]").value = quote ? quote.field : "";
    preview.querySelector("[data-quote-label]").textContent = quote ? quote.label : "";
    preview.querySelector("[data-quote-text]").textContent = quote ? quote.text : "";
    preview.dataset.step = quote ? stepKey : "";
    preview.hidden = !quote;
    if (quote) {
      body.setAttribute("aria-describedby", preview.id);
    } else {
      body.removeAttribute("aria-describedby");
    }
  }

  function quoteInComment(button) {
    const copy = button.closest("[data-quote-step]");
    const target = form();
    if (!chosen || !copy || chosen.copy !== copy || !target) return;
    const about = target.querySelector("select[name=step]");
    const stepKey = copy.dataset.quoteStep;
    if (!Array.from(about.options).some((option) => option.value === stepKey)) return;
    about.value = stepKey;
    setQuote(chosen, stepKey);
    target.querySelector("textarea[name=body]").focus();
  }

  document.addEventListener("DOMContentLoaded", () => {
    buttons().forEach((button) => {
      button.hidden = false;
    });
    update();
  });
  document.addEventListener("selectionchange", update);

  // Pressing the button must not take the selection away before the click quotes it.
  document.addEventListener("mousedown", (event) => {
    if (event.target.closest("button[data-quote]")) event.preventDefault();
  });

  document.addEventListener("click", (event) => {
    const quote = event.target.closest("button[data-quote]");
    if (quote) {
      quoteInComment(quote);
      return;
    }
    const remove = event.target.closest("button[data-quote-remove]");
    if (remove) {
      setQuote(null, "");
      const target = form();
      if (target) target.querySelector("textarea[name=body]").focus();
    }
  });

  // A quote belongs to its step: choosing another step under "About" drops it.
  document.addEventListener("change", (event) => {
    const about = event.target.closest("form.comment-form select[name=step]");
    if (!about) return;
    const preview = document.getElementById("comment-quote");
    if (preview && !preview.hidden && preview.dataset.step !== about.value) setQuote(null, "");
  });
})();
