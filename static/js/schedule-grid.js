// The Schedule page: paint the weekly grid, keep the exact-time rows in step with it, pick a
// timezone, refresh the timeline preview while someone edits, and save as they go (like the
// Steps page: a short pause after painting or typing, then one htmx post of the whole form).
//
// builder/schedule.py is the reference for every rule here (the schedule is a set of open
// minutes per day; painting a cell changes only its 30 minutes; a day header clears a day or
// fills an empty one like the nearest earlier day). The server re-validates whatever is posted;
// it also writes every description and problem, so this script never words one itself: the
// sentences it shows while someone edits (titles, labels, the status line) are the template's,
// in #schedule-messages (data-* attributes, with {name} placeholders) and the day buttons'
// data-day-name.
(function () {
  "use strict";

  const MINUTES = 24 * 60;
  const SLOT = 30;
  const SLOTS = MINUTES / SLOT;
  const DAYS = [1, 2, 3, 4, 5, 6, 7];
  const TIME = /^([01]\d|2[0-3]):[0-5]\d$/;

  const form = document.getElementById("schedule-form");
  const grid = document.getElementById("schedule-grid");
  const dataNode = document.getElementById("schedule-data");
  if (!form || !grid || !dataNode) return;
  document.documentElement.classList.add("js");

  const data = JSON.parse(dataNode.textContent);
  const messages = (document.getElementById("schedule-messages") || { dataset: {} }).dataset;
  const dayNames = {};
  grid.querySelectorAll(".day-toggle[data-day-name]").forEach((button) => {
    dayNames[button.dataset.day] = button.dataset.dayName;
  });

  // The template's sentence for `key`, its {placeholders} filled from `values`.
  function say(key, values = {}) {
    return (messages[key] || "").replace(/\{(\w+)\}/g, (whole, name) => (name in values ? String(values[name]) : whole));
  }

  const editable = Boolean(data.editable);
  const rowsBody = document.getElementById("range-rows");
  const rowTemplate = document.getElementById("range-row-template");
  const tzInput = document.getElementById("id_timezone");
  const tzNow = document.getElementById("timezone-now");
  const SAVE_DELAY = 600; // ms after the last stroke or keypress: one save per gesture, not per cell
  const timelineForm = document.getElementById("timeline-form");
  const cells = new Map(); // "day:slot" -> td
  grid.querySelectorAll("td.cell").forEach((td) => cells.set(`${td.dataset.day}:${td.dataset.slot}`, td));

  // --- The model: rows as typed, and the open minutes they make ---------------------------
  let rows = data.ranges.map((r) => ({ weekday: String(r.weekday), start: r.start, end: r.end }));
  let minutes = minutesFromRows(rows);

  function toMinute(text) {
    return TIME.test(text) ? Number(text.slice(0, 2)) * 60 + Number(text.slice(3)) : NaN;
  }

  function toTime(minute) {
    return `${String(Math.floor(minute / 60)).padStart(2, "0")}:${String(minute % 60).padStart(2, "0")}`;
  }

  function isBlank(row) {
    return !row.weekday && !row.start && !row.end;
  }

  function isValid(row) {
    return /^[1-7]$/.test(row.weekday) && toMinute(row.start) < toMinute(row.end);
  }

  function emptyWeek() {
    return DAYS.reduce((week, day) => ((week[day] = new Uint8Array(MINUTES)), week), []);
  }

  function copyWeek(week) {
    return DAYS.reduce((copy, day) => ((copy[day] = week[day].slice()), copy), []);
  }

  function minutesFromRows(list) {
    const week = emptyWeek();
    list.filter(isValid).forEach((row) => week[Number(row.weekday)].fill(1, toMinute(row.start), toMinute(row.end) + 1));
    return week;
  }

  function runsOf(dayMinutes) {
    const runs = [];
    for (let m = 0; m < MINUTES; m++) {
      if (!dayMinutes[m]) continue;
      if (runs.length && runs[runs.length - 1][1] === m - 1) runs[runs.length - 1][1] = m;
      else runs.push([m, m]);
    }
    return runs;
  }

  function rangesFromMinutes(week) {
    return DAYS.flatMap((day) =>
      runsOf(week[day]).map(([first, last]) => ({ weekday: String(day), start: toTime(first), end: toTime(last) }))
    );
  }

  function paintRect(snapshot, from, to, open) {
    const week = copyWeek(snapshot);
    const [d1, d2] = [Math.min(from.day, to.day), Math.max(from.day, to.day)];
    const [s1, s2] = [Math.min(from.slot, to.slot), Math.max(from.slot, to.slot)];
    for (let day = d1; day <= d2; day++) week[day].fill(open ? 1 : 0, s1 * SLOT, (s2 + 1) * SLOT);
    return week;
  }

  function cellCoverage(week, day, slot) {
    const part = week[day].subarray(slot * SLOT, (slot + 1) * SLOT);
    let count = 0, first = -1, last = -1;
    part.forEach((open, i) => {
      if (!open) return;
      count++;
      if (first < 0) first = i;
      last = i;
    });
    return { count, first, last };
  }

  function isFull(week, day, slot) {
    return cellCoverage(week, day, slot).count === SLOT;
  }

  function sourceDayFor(week, day) {
    for (let back = 1; back < 7; back++) {
      const source = ((day - 1 - back + 7) % 7) + 1;
      if (week[source].includes(1)) return source;
    }
    return null;
  }

  function toggleDay(week, day) {
    const next = copyWeek(week);
    if (week[day].includes(1)) next[day].fill(0);
    else {
      const source = sourceDayFor(week, day);
      next[day] = source ? week[source].slice() : new Uint8Array(MINUTES).fill(1);
    }
    return next;
  }

  function toggleTitle(week, day) {
    const name = dayNames[day];
    if (week[day].includes(1)) return say("clearDay", { day: name });
    const source = sourceDayFor(week, day);
    if (!source) return say("openDay", { day: name });
    const hours = runsOf(week[source]).map(([a, b]) => `${toTime(a)}–${toTime(b)}`).join(", ");
    return say("copyDay", { day: name, source: dayNames[source], hours });
  }

  // --- Drawing ------------------------------------------------------------------------------
  function renderGrid(week) {
    cells.forEach((td) => {
      const day = Number(td.dataset.day), slot = Number(td.dataset.slot);
      const { count, first, last } = cellCoverage(week, day, slot);
      const full = count === SLOT, partial = count > 0 && !full;
      td.classList.toggle("full", full);
      td.classList.toggle("partial", partial);
      td.setAttribute("aria-selected", String(full));
      if (partial) {
        const base = slot * SLOT;
        const text = runsOf(week[day].subarray(base, base + SLOT))
          .map(([a, b]) => `${toTime(base + a)}–${toTime(base + b)}`)
          .join(", ");
        td.setAttribute("aria-description", say("partlyOpen", { hours: text }));
        td.title = say("partlyOpenTitle", { cell: td.getAttribute("aria-label"), hours: text });
        td.style.setProperty("--fill-from", `${(first * 100) / SLOT}%`);
        td.style.setProperty("--fill-to", `${((last + 1) * 100) / SLOT}%`);
      } else if (td.hasAttribute("aria-description")) {
        td.removeAttribute("aria-description");
        td.removeAttribute("title");
      }
    });
    grid.querySelectorAll(".day-toggle").forEach((button) => {
      button.title = toggleTitle(week, Number(button.dataset.day));
    });
  }

  function renderRows() {
    if (!rowsBody || !rowTemplate) return;
    rowsBody.replaceChildren(
      ...rows.map((row, index) => {
        const tr = rowTemplate.content.firstElementChild.cloneNode(true);
        const number = index + 1;
        const [select, start, end] = tr.querySelectorAll("select, input");
        const remove = tr.querySelector(".remove-row");
        select.value = row.weekday;
        start.value = row.start;
        end.value = row.end;
        select.setAttribute("aria-label", say("rowDay", { number }));
        start.setAttribute("aria-label", say("rowFrom", { number }));
        end.setAttribute("aria-label", say("rowUntil", { number }));
        remove.value = String(index);
        remove.setAttribute("aria-label", say("rowRemove", { number }));
        markRow(tr, row);
        return tr;
      })
    );
  }

  function markRow(tr, row) {
    const invalid = !isBlank(row) && !isValid(row);
    tr.classList.toggle("invalid", invalid);
    tr.querySelectorAll("select, input").forEach((field) => {
      if (invalid) field.setAttribute("aria-invalid", "true");
      else field.removeAttribute("aria-invalid");
    });
  }

  function readRows() {
    rows = Array.from(rowsBody.querySelectorAll("tr")).map((tr) => {
      const [select, start, end] = tr.querySelectorAll("select, input");
      const row = { weekday: select.value, start: start.value, end: end.value };
      markRow(tr, row);
      return row;
    });
  }

  // --- Keeping the form, the save state and the preview in step ---------------------------
  const rangesInput = document.createElement("input");
  rangesInput.type = "hidden";
  rangesInput.name = "ranges";
  form.appendChild(rangesInput);

  function postedRanges() {
    return rows
      .filter((row) => !isBlank(row))
      .map((row) => ({ weekday: /^\d+$/.test(row.weekday) ? Number(row.weekday) : row.weekday, start: row.start, end: row.end }));
  }

  function sendingValue() {
    const checked = form.querySelector('input[name="has_schedule"]:checked');
    return checked ? checked.value : "hours";
  }

  function isDirty() {
    if (rows.some((row) => !isBlank(row) && !isValid(row))) return true;
    const current = {
      timezone: tzInput ? tzInput.value.trim() : data.saved.timezone,
      has_schedule: sendingValue(),
      ranges: rangesFromMinutes(minutes).map((r) => ({ weekday: Number(r.weekday), start: r.start, end: r.end })),
    };
    return JSON.stringify(current) !== JSON.stringify(data.saved);
  }

  let dirty = false;
  let previewTimer = null;

  function changed({ redrawRows = false, preview = true, save = true } = {}) {
    renderGrid(minutes);
    if (redrawRows) renderRows();
    rangesInput.value = JSON.stringify(postedRanges());
    dirty = isDirty();
    clearTimeout(previewTimer);
    if (preview) previewTimer = setTimeout(refreshPreview, 250);
    if (save && dirty) scheduleSave();
  }

  // `replaceRows`: a preset or Clear stands for the whole schedule, so it replaces every row,
  // a half-typed invalid one too. A stroke on the grid keeps such a row for validation to name.
  function commit(week, { replaceRows = false } = {}) {
    const keep = replaceRows ? [] : rows.filter((row) => !isBlank(row) && !isValid(row));
    minutes = week;
    rows = rangesFromMinutes(week).concat(keep);
    changed({ redrawRows: true });
  }

  // --- Saving as you go ------------------------------------------------------------------------
  // The form posts through htmx (hx-trigger="autosave", hx-sync queues the last one). The answer
  // swaps in the status line (and the version the next save must send) and the described hours;
  // a 422 or 409 answers with the same fragments saying why (base.html's refusal convention).
  let saveTimer = null;
  let saving = 0;
  let conflicted = false; // someone else saved first: the status line offers Reload; stop here

  function setStatus(text) {
    const status = document.getElementById("save-status");
    if (!status || status.classList.contains("is-error")) return; // keep a refusal readable
    const label = status.querySelector(".save-text");
    const detail = status.querySelector(".save-detail");
    if (label) label.textContent = text;
    if (detail) detail.textContent = "";
  }

  function scheduleSave(delay = SAVE_DELAY) {
    if (!editable || conflicted || !window.htmx) return;
    clearTimeout(saveTimer);
    saveTimer = setTimeout(saveNow, delay);
    setStatus(say("saving")); // not "Saved" while a change waits for the pause that sends it
  }

  // What the last save posted: the same thing twice (Enter, then the change event it causes)
  // is one save, so a "No changes" answer never hides the line that said what changed.
  let lastPosted = null;

  function postedState() {
    return JSON.stringify([postedRanges(), tzInput ? tzInput.value : "", sendingValue()]);
  }

  function saveNow() {
    clearTimeout(saveTimer);
    saveTimer = null;
    if (!editable || conflicted || !window.htmx || drag) return;
    rangesInput.value = JSON.stringify(postedRanges());
    if (postedState() === lastPosted) return;
    lastPosted = postedState();
    window.htmx.trigger(form, "autosave");
  }

  // htmx adds the last clicked submit button to a form's values. Those buttons (a preset, a
  // day's name, a row's Remove) are for the page without JavaScript; here the script has already
  // applied them to the ranges it posts, and the server must not apply them a second time.
  form.addEventListener("htmx:configRequest", (event) => {
    if (event.detail.elt !== form) return;
    ["preset", "toggle_day", "remove"].forEach((name) => delete event.detail.parameters[name]);
  });

  form.addEventListener("htmx:beforeRequest", (event) => {
    if (event.detail.elt !== form) return;
    saving += 1;
    const status = document.getElementById("save-status");
    if (status) status.classList.remove("is-error"); // a new attempt: the old refusal is history
    setStatus(say("saving"));
  });
  form.addEventListener("htmx:afterRequest", (event) => {
    if (event.detail.elt !== form) return;
    saving = Math.max(0, saving - 1);
    if (event.detail.xhr && event.detail.xhr.status === 409) conflicted = true;
  });
  // Anything the app did not answer on purpose (a lost connection, a stale CSRF token, a
  // server error) still gets a visible line; the changes stay on the page, unsaved.
  form.addEventListener("htmx:sendError", () => showFailure(say("unreachable")));
  form.addEventListener("htmx:responseError", (event) => {
    if (event.detail.elt !== form) return;
    showFailure(say("failed", { status: event.detail.xhr.status }));
  });

  function showFailure(text) {
    lastPosted = null; // not saved: the same state may be posted again
    const status = document.getElementById("save-status");
    if (!status) return;
    status.classList.remove("is-error");
    setStatus(text);
    status.classList.add("is-error");
  }

  // The server says what is saved now: the page is clean again unless more changed meanwhile
  // (then another save is already on its way).
  let tzSent = null;
  form.addEventListener("htmx:configRequest", (event) => {
    if (event.detail.elt === form && tzInput) tzSent = tzInput.value;
  });

  document.body.addEventListener("schedule-saved", (event) => {
    data.saved = event.detail.saved;
    // "pst" was saved as America/Los_Angeles: show the stored name, unless typing went on.
    if (tzInput && tzInput.value === tzSent && tzInput.value !== data.saved.timezone) {
      tzInput.value = data.saved.timezone;
      timezoneChanged();
    }
    dirty = isDirty();
    clearTimeout(previewTimer);
    previewTimer = setTimeout(refreshPreview, 0);
  });

  function refreshPreview() {
    if (!timelineForm || !window.htmx) return;
    const fields = {
      draft_ranges: JSON.stringify(postedRanges()),
      draft_timezone: tzInput ? tzInput.value : "",
      draft_has_schedule: sendingValue(),
    };
    Object.entries(fields).forEach(([name, value]) => {
      const input = timelineForm.elements[name];
      input.value = value;
      input.disabled = !dirty; // clean: the server previews the saved schedule
    });
    window.htmx.trigger(timelineForm, "refresh");
  }

  // --- Pointer painting ----------------------------------------------------------------------
  let drag = null; // {anchor, open, snapshot, preview, last}
  let keyAnchor = null; // {cell, open, snapshot}: where Shift+arrows extend from
  let focused = { day: 1, slot: 18 }; // the cell in the tab order; Monday 09:00 to start

  function cellAt(td) {
    return td ? { day: Number(td.dataset.day), slot: Number(td.dataset.slot) } : null;
  }

  function tdOf(cell) {
    return cells.get(`${cell.day}:${cell.slot}`);
  }

  // The cell under a point, read from the grid's geometry rather than elementFromPoint: under
  // the sticky day headers, or past the grid's edge while the page scrolls, the nearest cell.
  function cellFromPoint({ x, y }) {
    const body = grid.tBodies[0].getBoundingClientRect();
    const slot = Math.min(SLOTS - 1, Math.max(0, Math.floor(((y - body.top) * SLOTS) / body.height)));
    let day = 1;
    DAYS.forEach((d) => {
      if (x >= tdOf({ day: d, slot: 0 }).getBoundingClientRect().left) day = d;
    });
    return { day, slot };
  }

  function paintTo(point) {
    const cell = cellFromPoint(point);
    if (cell.day === drag.last.day && cell.slot === drag.last.slot) return;
    drag.last = cell;
    drag.preview = paintRect(drag.snapshot, drag.anchor, cell, drag.open);
    focusCell(cell);
    renderGrid(drag.preview);
  }

  // Painting near the top or bottom of the window scrolls the page, faster the closer the
  // pointer is to the edge, and keeps painting to the cell now under it: a working day fits in
  // one stroke whatever the window's height.
  const EDGE = 56; // px
  let pointer = null;
  let scrollFrame = 0;

  function autoScroll() {
    scrollFrame = 0;
    if (!drag || !pointer) return;
    const bottom = window.innerHeight - EDGE;
    let step = 0;
    if (pointer.y < EDGE) step = -Math.ceil((EDGE - pointer.y) / 4);
    else if (pointer.y > bottom) step = Math.ceil((pointer.y - bottom) / 4);
    if (!step) return;
    const before = window.scrollY;
    window.scrollBy(0, step);
    if (window.scrollY === before) return; // at the end of the page: nothing more to reach
    paintTo(pointer);
    scrollFrame = requestAnimationFrame(autoScroll);
  }

  if (editable) {
    grid.addEventListener("pointerdown", (event) => {
      const td = event.target.closest("td.cell");
      if (!td || event.button !== 0) return;
      event.preventDefault();
      const anchor = cellAt(td);
      const open = !isFull(minutes, anchor.day, anchor.slot);
      drag = { anchor, open, snapshot: copyWeek(minutes), last: anchor };
      drag.preview = paintRect(drag.snapshot, anchor, anchor, open);
      keyAnchor = { cell: anchor, open, snapshot: drag.snapshot };
      grid.setPointerCapture(event.pointerId);
      focusCell(anchor);
      renderGrid(drag.preview);
    });

    grid.addEventListener("pointermove", (event) => {
      if (!drag) return;
      pointer = { x: event.clientX, y: event.clientY };
      paintTo(pointer);
      if (!scrollFrame) scrollFrame = requestAnimationFrame(autoScroll);
    });

    const endDrag = (event) => {
      if (!drag) return;
      const week = event.type === "pointercancel" ? drag.snapshot : drag.preview;
      drag = null;
      pointer = null;
      cancelAnimationFrame(scrollFrame);
      scrollFrame = 0;
      commit(week);
    };
    grid.addEventListener("pointerup", endDrag);
    grid.addEventListener("pointercancel", endDrag);
  }

  // --- Keyboard ------------------------------------------------------------------------------
  // One cell is in the tab order (roving tabindex); arrows move it. Space (or Enter) paints or
  // erases the focused cell and makes it the anchor; Shift+arrows paint the rectangle from the
  // anchor to the focused cell the same way, like dragging.
  cells.forEach((td) => (td.tabIndex = -1));
  tdOf(focused).tabIndex = 0;

  function focusCell(cell) {
    tdOf(focused).tabIndex = -1;
    focused = cell;
    const td = tdOf(cell);
    td.tabIndex = 0;
    td.focus({ preventScroll: Boolean(drag) });
  }

  const MOVES = {
    ArrowUp: [0, -1], ArrowDown: [0, 1], ArrowLeft: [-1, 0], ArrowRight: [1, 0],
    PageUp: [0, -8], PageDown: [0, 8], Home: [0, -SLOTS], End: [0, SLOTS],
  };

  grid.addEventListener("keydown", (event) => {
    const td = event.target.closest("td.cell");
    if (!td) return;
    const here = cellAt(td);
    if (event.key in MOVES) {
      event.preventDefault();
      const [dx, dy] = MOVES[event.key];
      const next = {
        day: Math.min(7, Math.max(1, here.day + dx)),
        slot: Math.min(SLOTS - 1, Math.max(0, here.slot + dy)),
      };
      if (event.shiftKey && editable) {
        if (!keyAnchor) keyAnchor = { cell: here, open: true, snapshot: copyWeek(minutes) };
        focusCell(next);
        commit(paintRect(keyAnchor.snapshot, keyAnchor.cell, next, keyAnchor.open));
      } else {
        keyAnchor = null;
        focusCell(next);
      }
    } else if ((event.key === " " || event.key === "Enter") && editable) {
      event.preventDefault();
      const open = !isFull(minutes, here.day, here.slot);
      keyAnchor = { cell: here, open, snapshot: copyWeek(minutes) };
      commit(paintRect(keyAnchor.snapshot, here, here, open));
    }
  });

  // --- Buttons: presets, day headers, rows -----------------------------------------------------
  form.addEventListener("click", (event) => {
    const button = event.target.closest("button");
    if (!button || !editable) return;
    if (button.name === "preset") {
      event.preventDefault();
      const preset = (data.presets[button.value] || []).map((r) => ({ ...r, weekday: String(r.weekday) }));
      commit(minutesFromRows(preset), { replaceRows: true });
      keyAnchor = null;
    } else if (button.name === "toggle_day") {
      event.preventDefault();
      commit(toggleDay(minutes, Number(button.value)));
      keyAnchor = null;
    } else if (button.name === "remove") {
      event.preventDefault();
      readRows();
      const index = Number(button.value);
      rows.splice(index, 1);
      minutes = minutesFromRows(rows);
      changed({ redrawRows: true });
      const next = rowsBody.querySelectorAll(".remove-row")[Math.min(index, rows.length - 1)];
      (next || document.getElementById("add-range")).focus();
    } else if (button.id === "add-range") {
      readRows();
      rows.push({ weekday: "", start: "", end: "" });
      changed({ redrawRows: true });
      rowsBody.querySelector("tr:last-child select").focus();
    }
  });

  if (rowsBody) {
    rowsBody.addEventListener("change", () => {
      readRows();
      minutes = minutesFromRows(rows);
      changed();
    });
    // Typing a time saves once it reads as HH:MM (or is emptied); "16:5" is still being typed.
    rowsBody.addEventListener("input", (event) => {
      const value = event.target.value;
      if (event.target.tagName !== "INPUT" || (value && !TIME.test(value))) return;
      readRows();
      minutes = minutesFromRows(rows);
      changed();
    });
  }

  form.querySelectorAll('input[name="has_schedule"]').forEach((radio) => radio.addEventListener("change", () => changed()));

  // --- Timezone ----------------------------------------------------------------------------------
  const browserZone = Intl.DateTimeFormat().resolvedOptions().timeZone || "";

  function zoneNow(zone) {
    try {
      const parts = new Intl.DateTimeFormat("en-GB", {
        timeZone: zone, hour: "2-digit", minute: "2-digit", hourCycle: "h23", timeZoneName: "longOffset",
      }).formatToParts(new Date());
      const get = (type) => (parts.find((p) => p.type === type) || {}).value || "";
      const offset = get("timeZoneName").replace("GMT", "UTC");
      return { time: `${get("hour")}:${get("minute")}`, offset: offset === "UTC" ? "UTC+00:00" : offset };
    } catch (error) {
      return null; // not a zone name
    }
  }

  if (browserZone) {
    document.cookie = `viewer_tz=${encodeURIComponent(browserZone)}; path=/; max-age=31536000; SameSite=Lax`;
    const options = document.getElementById("timezone-options");
    const now = zoneNow(browserZone);
    if (options && now) {
      const option = document.createElement("option");
      option.value = browserZone;
      option.label = say("browserZone", { offset: now.offset });
      options.prepend(option);
    }
  }

  const useBrowserZone = document.getElementById("use-browser-zone");

  // What the server will store for a typed name (spec.canonical_timezone, in short): an alias
  // ("PST", "eastern", "US/Pacific"), or a zone from the list in any case. Only for the hint;
  // the server decides.
  const zoneNames = new Map(
    Array.from(document.querySelectorAll("#timezone-options option")).map((o) => [o.value.toLowerCase(), o.value])
  );
  function canonicalZone(text) {
    const key = text.trim().toLowerCase().replace(/_/g, " ").replace(/\s+/g, " ");
    return (data.timezoneAliases || {})[key] || zoneNames.get(key.replace(/ /g, "_")) || "";
  }

  function timezoneChanged() {
    const typed = tzInput.value.trim();
    const zone = canonicalZone(typed) || typed;
    const now = zone ? zoneNow(zone) : null;
    const means = zone !== typed ? `${say("zoneMeans", { typed, zone })} ` : "";
    tzNow.textContent = now ? means + say("zoneNow", { time: now.time, offset: now.offset }) : say("zoneUnknown");
    grid.setAttribute("aria-label", say("gridLabel", { zone }));
    const gridZone = document.getElementById("grid-zone");
    if (gridZone) gridZone.textContent = zone;
    if (useBrowserZone) {
      useBrowserZone.hidden = !browserZone || zone === browserZone;
      const mine = zoneNow(browserZone);
      useBrowserZone.textContent = mine
        ? say("useMyZoneOffset", { zone: browserZone, offset: mine.offset })
        : say("useMyZone", { zone: browserZone });
    }
  }

  if (tzInput) {
    // Each keystroke redraws the hints and the preview; the save waits for the name to be
    // finished (Enter, leaving the field, or picking from the list, which fires change too).
    tzInput.addEventListener("input", () => {
      timezoneChanged();
      changed({ save: false });
    });
    tzInput.addEventListener("change", () => {
      changed();
      if (dirty) saveNow();
    });
    timezoneChanged();
  }
  if (useBrowserZone) {
    useBrowserZone.addEventListener("click", () => {
      tzInput.value = browserZone;
      tzInput.dispatchEvent(new Event("input", { bubbles: true }));
      tzInput.dispatchEvent(new Event("change", { bubbles: true }));
    });
  }

  // --- Save, leave, first preview ------------------------------------------------------------------
  // Enter in a field submits the form: with JavaScript that is "save now", not a page load.
  form.addEventListener("submit", (event) => {
    if (!window.htmx) return;
    event.preventDefault();
    if (tzInput && document.activeElement === tzInput) tzInput.dispatchEvent(new Event("change"));
    changed({ save: false });
    saveNow();
  });
  // Only unsaved work keeps someone on the page: once a save has answered, leaving is safe.
  window.addEventListener("beforeunload", (event) => {
    if (editable && !conflicted && (dirty || saving > 0)) event.preventDefault();
  });

  renderRows();
  changed({ preview: false, save: false });
  if (dirty) whenReady(refreshPreview); // a refused save: preview what is on the page

  // The server only knows the browser's zone from the cookie set above: on a first visit the
  // timeline was drawn for UTC, so draw it again for this browser (and "now" in its zone).
  if (timelineForm && browserZone && !data.viewerGiven && data.viewerTimezone !== browserZone) {
    timelineForm.elements.viewer_tz.value = browserZone;
    if (!data.enrollGiven) {
      const d = new Date();
      const pad = (n) => String(n).padStart(2, "0");
      timelineForm.elements.enroll.value = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
    }
    // After htmx has set up the timeline form (it does so on DOMContentLoaded, like this).
    whenReady(() => {
      clearTimeout(previewTimer);
      refreshPreview();
    });
  }

  function whenReady(callback) {
    if (document.readyState === "complete") callback();
    else document.addEventListener("DOMContentLoaded", callback);
  }
})();
