// Publish page: "Copy" buttons for the request JSON and the curl command.
// Without JavaScript the buttons stay hidden and the text can be selected by hand.
(function () {
  function showButtons(root) {
    root.querySelectorAll("button[data-copy]").forEach(function (button) {
      button.hidden = false;
    });
  }

  document.addEventListener("DOMContentLoaded", function () { showButtons(document); });
  // The request block is swapped by htmx when the status choice changes.
  document.addEventListener("htmx:afterSwap", function (event) { showButtons(event.target); });

  document.addEventListener("click", function (event) {
    var button = event.target.closest("button[data-copy]");
    if (!button) return;
    var source = document.getElementById(button.dataset.copy);
    if (!source) return;
    var label = button.textContent;
    function done(text) {
      button.textContent = text;
      setTimeout(function () { button.textContent = label; }, 1500);
    }
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(source.textContent).then(
        function () { done("Copied"); },
        function () { selectText(source); done("Press Ctrl+C to copy"); }
      );
    } else {
      selectText(source);
      done("Press Ctrl+C to copy");
    }
  });

  function selectText(element) {
    var range = document.createRange();
    range.selectNodeContents(element);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }
})();
