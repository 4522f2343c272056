// The words of email and SMS steps (templates/builder/steps/_email_copy.html, _sms_copy.html and
// the step-content part of sequence_edit.html): the body's rich-text editor (Trix, limited to
// what copytext.clean_body keeps), the SMS length, and the "Insert merge field" menu. Saving is
// htmx's and editor.js's, like every other box of a card.
(function () {
  "use strict";

  // --- Trix: bold, italic, links and lists, nothing else --------------------------------------
  // Without these entries Trix neither offers nor keeps headings, quotes, code or strikethrough,
  // pasted ones included (they arrive as plain text). The server cleans whatever arrives anyway.
  if (window.Trix) {
    ["heading1", "quote", "code"].forEach(function (name) {
      delete window.Trix.config.blockAttributes[name];
    });
    delete window.Trix.config.textAttributes.strike;
  }
  // No files: an email body here is words and links (images are not part of the subset).
  document.addEventListener("trix-file-accept", function (event) {
    event.preventDefault();
  });
  document.addEventListener("trix-attachment-add", function (event) {
    event.attachment.remove();
  });

  // --- Pasted and dropped HTML ------------------------------------------------------------
  // Trix reads pasted HTML through a document made with createHTMLDocument, where images load
  // and their onerror handlers try to run (the CSP blocks them, and says so). So the HTML is
  // cleaned here first, in an inert DOMParser document, to the subset copytext.clean_body keeps,
  // with what Google Docs and Word write for bold and italic (styled spans) understood; Trix
  // gets only that. The server cleans the saved body again whatever happens here.
  const DROPPED = new Set([
    "script", "style", "svg", "math", "iframe", "object", "embed", "template", "noscript",
    "head", "title", "meta", "link", "img", "video", "audio", "canvas", "form", "input",
    "button", "select", "textarea",
  ]);
  const BLOCKS = new Set([
    "p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "section", "article",
    "header", "footer", "table", "tr",
  ]);
  const SAFE_LINK = /^(https?:|mailto:)/i;

  function styleOf(element) {
    return (element.getAttribute("style") || "").toLowerCase().replace(/\s+/g, "");
  }

  function isBold(element) {
    // Google Docs wraps a whole paste in <b style="font-weight:normal">: that is not bold.
    if (["b", "strong"].includes(element.localName)) {
      return !/font-weight:(normal|[1-4]00)/.test(styleOf(element));
    }
    return /font-weight:(bold|[6-9]00)/.test(styleOf(element));
  }

  function isItalic(element) {
    return ["i", "em"].includes(element.localName) || /font-style:italic/.test(styleOf(element));
  }

  function cleanChildren(source, target) {
    source.childNodes.forEach(function (node) {
      if (node.nodeType === Node.TEXT_NODE) {
        target.appendChild(target.ownerDocument.createTextNode(node.data));
      } else if (node.nodeType === Node.ELEMENT_NODE) {
        cleanElement(node, target);
      }
    });
  }

  function cleanElement(element, target) {
    const name = element.localName;
    const doc = target.ownerDocument;
    if (DROPPED.has(name)) return;
    let outer = null;
    let inner = null;
    function wrap(tag) {
      const made = doc.createElement(tag);
      if (inner) inner.appendChild(made);
      else outer = made;
      inner = made;
    }
    if (name === "br") {
      target.appendChild(doc.createElement("br"));
      return;
    }
    if (name === "ul" || name === "ol" || name === "li") wrap(name);
    else if (BLOCKS.has(name)) wrap("div");
    if (name === "a") {
      const href = (element.getAttribute("href") || "").trim();
      if (SAFE_LINK.test(href)) {
        wrap("a");
        inner.setAttribute("href", href);
      }
    }
    if (isBold(element)) wrap("strong");
    if (isItalic(element)) wrap("em");
    if (outer) {
      cleanChildren(element, inner);
      target.appendChild(outer);
    } else {
      cleanChildren(element, target);
    }
  }

  // Even an inert document reports each on…= attribute it parses as a CSP violation (nothing
  // runs, but the console fills up): such attributes are renamed before parsing. No attribute
  // but a link's href is kept anyway.
  const HANDLER_ATTRIBUTE = /(<[a-z][^>]*?[\s/"'])on(?=[a-z-]*\s*=)/gi;

  function withoutHandlers(html) {
    for (let round = 0; round < 100; round += 1) {
      const next = html.replace(HANDLER_ATTRIBUTE, "$1data-dropped-on");
      if (next === html) break;
      html = next;
    }
    return html;
  }

  function cleanHTML(html) {
    const source = new DOMParser().parseFromString(withoutHandlers(html), "text/html");
    const clean = document.implementation.createHTMLDocument("");
    const holder = clean.createElement("div");
    cleanChildren(source.body, holder);
    return holder.innerHTML;
  }
  window.copyEditor = { cleanHTML: cleanHTML };

  function insertCleanHTML(event, data) {
    const editor = event.target.closest && event.target.closest("trix-editor");
    const html = data && data.getData("text/html");
    if (!editor || !editor.editor || !html) return; // plain text: Trix inserts it as text
    event.preventDefault();
    event.stopImmediatePropagation();
    editor.editor.insertHTML(cleanHTML(html));
  }

  // Capture phase: before Trix's own handlers on the editor.
  document.addEventListener("paste", function (event) {
    insertCleanHTML(event, event.clipboardData);
  }, true);
  document.addEventListener("drop", function (event) {
    const data = event.dataTransfer;
    // Text moved within an editor is Trix's own (already clean); anything from outside is not.
    if (data && !data.types.includes("application/x-trix-dragging")) insertCleanHTML(event, data);
  }, true);

  // --- SMS length ----------------------------------------------------------------------------
  // The exact rules of copytext.sms_length: GSM-7 when every character is in the GSM alphabet
  // (the extension set counts two), 160 in one segment, 153 per part; otherwise UCS-2 (UTF-16
  // code units), 70, then 67 per part.
  const GSM7_BASIC = new Set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
  );
  const GSM7_EXTENSION = new Set("^{}\\[~]|€\f");

  function smsLength(text) {
    const characters = Array.from(text);
    const gsm = characters.every(function (char) {
      return GSM7_BASIC.has(char) || GSM7_EXTENSION.has(char);
    });
    let units, single, multi;
    if (gsm) {
      units = characters.reduce(function (sum, char) {
        return sum + (GSM7_EXTENSION.has(char) ? 2 : 1);
      }, 0);
      single = 160;
      multi = 153;
    } else {
      units = text.length; // UTF-16 code units: an emoji is two
      single = 70;
      multi = 67;
    }
    const segments = units === 0 ? 0 : units <= single ? 1 : Math.ceil(units / multi);
    return { characters: characters.length, encoding: gsm ? "GSM-7" : "UCS-2", segments: segments };
  }

  function smsSentence(text) {
    const length = smsLength(text);
    return (
      length.characters + " character" + (length.characters === 1 ? "" : "s") + " · " +
      length.segments + " SMS segment" + (length.segments === 1 ? "" : "s") +
      " (" + length.encoding + ")"
    );
  }
  // The browser tests compare this with copytext.sms_length.
  window.copyEditor.smsSentence = smsSentence;

  function updateSmsLength(textarea) {
    const output = document.getElementById(textarea.id + "-length");
    if (output) output.textContent = smsSentence(textarea.value.replace(/\r\n/g, "\n"));
  }

  document.addEventListener("input", function (event) {
    if (event.target.matches && event.target.matches("textarea.copy-text")) {
      updateSmsLength(event.target);
    }
  });

  // --- The copy box focused last, per card ----------------------------------------------------
  // "Insert merge field" puts the tag where the person was: Subject, Body or Message, at the
  // caret (a text box keeps its selection when it loses focus; Trix's is read as it leaves).
  const COPY_FIELDS = "input.copy-subject, textarea.copy-text, trix-editor.copy-body";
  const lastField = new Map(); // card id -> {id, range}

  function cardOf(element) {
    const card = element.closest && element.closest("li.step");
    return card ? card.dataset.stepId : null;
  }

  document.addEventListener("focusin", function (event) {
    const field = event.target.closest && event.target.closest(COPY_FIELDS);
    if (field) lastField.set(cardOf(field), { id: field.id, range: null });
  });
  document.addEventListener("trix-blur", function (event) {
    const editor = event.target.editor;
    const last = lastField.get(cardOf(event.target));
    if (editor && last && last.id === event.target.id) last.range = editor.getSelectedRange();
  });

  function insertTag(cardId, tag) {
    const card = document.getElementById("step-" + cardId);
    if (!card) return;
    const last = lastField.get(cardId);
    let field = last && document.getElementById(last.id);
    if (!field || !card.contains(field)) field = card.querySelector(COPY_FIELDS);
    if (!field) return;
    if (field.matches("trix-editor")) {
      field.focus();
      if (last && last.id === field.id && last.range) field.editor.setSelectedRange(last.range);
      field.editor.insertString(tag); // Trix says trix-change: the card saves
      return;
    }
    field.focus();
    const start = field.selectionStart === null ? field.value.length : field.selectionStart;
    const end = field.selectionEnd === null ? start : field.selectionEnd;
    field.setRangeText(tag, start, end, "end");
    // As if typed: the card saves after a pause, and the SMS length follows.
    field.dispatchEvent(new Event("input", { bubbles: true }));
  }

  // --- "Insert merge field" ---------------------------------------------------------------
  // A menu button: Enter, Space or Down opens it on the first field (Up on the last); Up, Down,
  // Home and End move; Enter inserts; Escape closes it and returns to the button. The optional
  // fallback box sits above the list (Shift+Tab from the list reaches it).
  function menuParts(element) {
    const root = element.closest && element.closest(".merge");
    if (!root) return null;
    return {
      root: root,
      button: root.querySelector(".merge-button"),
      popup: root.querySelector(".merge-popup"),
      fallback: root.querySelector(".merge-fallback input"),
      items: Array.from(root.querySelectorAll('[role="menuitem"]')),
    };
  }

  function moveTo(parts, index) {
    const count = parts.items.length;
    const item = parts.items[((index % count) + count) % count];
    parts.items.forEach(function (other) {
      other.tabIndex = other === item ? 0 : -1;
    });
    item.focus();
  }

  function openMenu(parts, index) {
    parts.popup.hidden = false;
    parts.button.setAttribute("aria-expanded", "true");
    moveTo(parts, index);
  }

  function closeMenu(parts, returnFocus) {
    if (parts.popup.hidden) return;
    parts.popup.hidden = true;
    parts.button.setAttribute("aria-expanded", "false");
    if (returnFocus) parts.button.focus();
  }

  function tagText(name, fallback) {
    fallback = fallback.trim().replace(/"/g, "'");
    return "{{ " + name + (fallback ? ' | default:"' + fallback + '"' : "") + " }}";
  }

  function choose(parts, item) {
    const tag = tagText(item.dataset.tag, parts.fallback ? parts.fallback.value : "");
    closeMenu(parts, false);
    insertTag(parts.root.dataset.mergeFor, tag);
  }

  document.addEventListener("click", function (event) {
    const parts = menuParts(event.target);
    document.querySelectorAll(".merge-popup:not([hidden])").forEach(function (popup) {
      const other = menuParts(popup);
      if (!parts || other.root !== parts.root) closeMenu(other, false);
    });
    if (!parts) return;
    if (event.target.closest(".merge-button")) {
      if (parts.popup.hidden) openMenu(parts, 0);
      else closeMenu(parts, true);
    } else if (event.target.closest('[role="menuitem"]')) {
      choose(parts, event.target.closest('[role="menuitem"]'));
    }
  });

  document.addEventListener("keydown", function (event) {
    const parts = menuParts(event.target);
    if (!parts) return;
    const onButton = event.target === parts.button;
    const index = parts.items.indexOf(event.target);
    if (event.key === "Escape" && !parts.popup.hidden) {
      event.preventDefault();
      closeMenu(parts, true);
      return;
    }
    if (onButton) {
      // Enter and Space click the button (the click handler opens it).
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        event.preventDefault();
        openMenu(parts, event.key === "ArrowDown" ? 0 : -1);
      }
      return;
    }
    if (event.target === parts.fallback && (event.key === "ArrowDown" || event.key === "Enter")) {
      event.preventDefault(); // Enter would submit the card's form
      moveTo(parts, 0);
      return;
    }
    if (index < 0) return;
    const moves = { ArrowDown: index + 1, ArrowUp: index - 1, Home: 0, End: -1 };
    if (event.key in moves) {
      event.preventDefault();
      moveTo(parts, moves[event.key]);
    } else if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      choose(parts, event.target);
    }
  });

  // Leaving the menu (Tab past it, a click elsewhere) closes it.
  document.addEventListener("focusout", function (event) {
    const parts = menuParts(event.target);
    if (!parts || parts.popup.hidden) return;
    const next = event.relatedTarget;
    if (next && parts.root.contains(next)) return;
    if (next) closeMenu(parts, false);
  });
})();
