// Publish page (templates/builder/sequence_publish.html): "Copy" buttons for the request JSON and
// the curl command. Without JavaScript the buttons stay hidden and the text can be selected by
// hand. The words a button shows afterwards come from the template (data-copied,
// data-copy-by-hand): this script never words anything itself.
(function () {
  "use strict";

  const SHOW_FOR = 1500; // ms the button says what happened before its label comes back

  function showButtons(root) {
    root.querySelectorAll("button[data-copy]").forEach((button) => {
      button.hidden = false;
    });
  }

  function selectText(element) {
    const range = document.createRange();
    range.selectNodeContents(element);
    const selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }

  document.addEventListener("DOMContentLoaded", () => showButtons(document));
  // The request block is swapped by htmx when the status choice changes.
  document.addEventListener("htmx:afterSwap", (event) => showButtons(event.target));

  document.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-copy]");
    if (!button) return;
    const source = document.getElementById(button.dataset.copy);
    if (!source) return;
    const label = button.textContent;
    const say = (text) => {
      if (!text) return;
      button.textContent = text;
      setTimeout(() => {
        button.textContent = label;
      }, SHOW_FOR);
    };
    const byHand = () => {
      selectText(source);
      say(button.dataset.copyByHand);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(source.textContent).then(() => say(button.dataset.copied), byHand);
    } else {
      byHand();
    }
  });
})();
