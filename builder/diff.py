"""What changed between two versions of a sequence, as a list a reviewer reads at a glance.

Pure Python like spec.py (no Django): `diff_specs(before, after, templates)` compares two
`spec.SequenceSpec` values and returns a `SequenceDiff` of named changes — steps added, removed,
moved or changed (wait, type, template with its subject/body diff, threading, required, where
the words come from), the copy written in a step word by word (`CopyDiff`: subject, body and SMS
text; a body's bold/italic/list and link changes listed apart from its words), the sending
schedule as a per-day before/after grid, time zone and name. Template text comes from
`templates`, a mapping of template id -> TemplateText that the caller fills from its cache.

Steps are matched by identity, not by position, so inserting a step at the top reads as one
added step rather than every step changing: first by Close's step id, then by our own step key
(the database row), and only steps that carry no identity on one side are lined up by content.
"""

from __future__ import annotations

import bisect
import dataclasses
import difflib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from html.parser import HTMLParser

from builder import copytext, schedule, spec, steps

SLOTS_PER_DAY = schedule.SLOTS_PER_DAY  # the schedule grid's half-hours
_BODY_CONTEXT = 1  # unchanged lines shown around each changed line of a template body
COPY_CONTEXT_WORDS = 8  # unchanged words of copy shown on either side of a change
_MIN_GAP_WORDS = 5  # fewer unchanged words than this are shown rather than folded away
# Above this many token pairs, a changed stretch of copy is shown as removed + added whole
# rather than matched word by word (SequenceMatcher is quadratic; a pasted novel must not
# stall the review page).
_MAX_MATCH_PAIRS = 250_000
_QUOTE_LENGTH = 60  # a formatting change quotes at most this many characters of the words


@dataclass(frozen=True)
class TemplateText:
    """A template's words as the cache holds them (subject is empty for SMS)."""

    id: str
    name: str
    subject: str = ""
    body: str = ""
    kind: str = "email"  # "email" (HTML body) | "sms" (plain text)


@dataclass(frozen=True)
class FieldChange:
    label: str  # "Wait", "Email template", "Threading", ...
    before: str
    after: str
    # A change that reads better as one sentence than as "before → after" ("Now written here
    # (was the template “Intro”)"); shown instead of the pair when set.
    sentence: str = ""

    def phrase(self) -> str:
        """The change inside a headline: "wait 1 day → 2 days", "now written here (…)"."""
        if self.sentence:
            return self.sentence[0].lower() + self.sentence[1:]
        return f"{self.label.lower()} {self.before} → {self.after}"


@dataclass(frozen=True)
class WordRun:
    """A stretch of copy that stayed, went or came; "gap" is unchanged words folded away."""

    op: str  # "same" | "removed" | "added" | "gap"
    text: str
    block: bool = False  # shown as lines of its own (a change of several lines on both sides)

    @property
    def words(self) -> int:
        return len(self.text.split())

    @property
    def gap_label(self) -> str:
        return f"{self.words} unchanged word{'' if self.words == 1 else 's'}"

    @property
    def is_break(self) -> bool:
        """Only a line break: invisible on the page unless it is marked."""
        return "\n" in self.text and not self.text.strip()

    @property
    def shown(self) -> str:
        """A gap's or block's words, without the line breaks at its edges (it has its own)."""
        return self.text.strip("\n")


@dataclass
class CopyDiff:
    """One copy field of a step (subject, body or SMS text) before and after, word by word.

    `runs` are the words as unchanged / removed / added stretches, long unchanged stretches
    folded into "gap" runs. A body is compared as the text a reader sees (one line per block
    or list item); what changed in its formatting and links is listed apart, in words.
    """

    name: str  # "subject" | "body" | "text"
    label: str  # "Subject", "Body", "Message"
    kind: str = "changed"  # "changed" | "added" (all of it is new) | "removed" (all of it went)
    runs: list[WordRun] = field(default_factory=list)
    formatting: list[str] = field(default_factory=list)  # "“quick question” is now bold"
    links: list[str] = field(default_factory=list)  # "Link “site”: https://a → https://b"
    # Set when one side is a shared template's text rather than words written in the step.
    compared_with: str = ""  # "the template “Intro”"


@dataclass(frozen=True)
class DiffLine:
    op: str  # "added" | "removed" | "same" | "gap" (unchanged lines left out)
    text: str


@dataclass
class TemplateDiff:
    """Two templates side by side: the subject change and the body's changed lines."""

    before_name: str
    after_name: str
    subject: FieldChange | None = None
    body: list[DiffLine] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # ids whose text the cache lacks


@dataclass
class StepChange:
    kind: str  # "added" | "removed" | "changed" (a changed step may also have moved)
    before_number: int | None  # 1-based, as people number steps
    after_number: int | None
    step_type: str
    description: str  # the whole step in one line, for added and removed steps
    moved: bool = False
    fields: list[FieldChange] = field(default_factory=list)
    template: TemplateDiff | None = None
    # The copy written in the step: for an added step all of it as added, for a removed one
    # all of it as removed, for a changed one the fields whose words or formatting changed.
    copy: list[CopyDiff] = field(default_factory=list)

    @property
    def type_label(self) -> str:
        return type_label(self.step_type)

    @property
    def label(self) -> str:
        """ "Step 2", or "Step 2 (was 3)": steps are named by their number after the change."""
        if self.kind == "removed":
            return f"Step {self.before_number}"  # it has no number after the change
        return step_label(self.after_number, self.before_number)

    @property
    def title(self) -> str:
        if self.kind == "added":
            return f"{self.label} added"
        if self.kind == "removed":
            return f"{self.label} removed"
        if self.moved:
            return f"{self.label}: {move_words(self.after_number, self.before_number)}"
        return f"{self.label} changed"

    def headline(self) -> str:
        """One short line for lists such as the history page."""
        if self.kind != "changed" or not (self.fields or self.copy):
            return self.title
        phrases = [change.phrase() for change in self.fields]
        if self.copy:
            phrases.append(f"{_and([copy.label.lower() for copy in self.copy])} changed")
        more = f" (+{len(phrases) - 1} more)" if len(phrases) > 1 else ""
        change = f"{phrases[0]}{more}"
        if self.moved:
            change = f"{move_words(self.after_number, self.before_number)}; {change}"
        return f"{self.label}: {change}"


def step_label(after_number: int | None, before_number: int | None = None) -> str:
    """ "Step 2", or "Step 2 (was 3)" when the step's number changed.

    Every summary, history line and diff names a step this way, so one entry never mixes a
    step's old number with another step's new one.
    """
    if before_number is None or before_number == after_number:
        return f"Step {after_number}"
    return f"Step {after_number} (was {before_number})"


def move_words(after_number: int, before_number: int) -> str:
    return "moved up" if after_number < before_number else "moved down"


def moved_steps(before: Sequence, after: Sequence) -> list[tuple[int, int]]:
    """(number after, number before) of the steps that moved between two orders of the same ids.

    As in a diff, the longest run that kept its order stays put: dragging one card moves one
    step, and the steps it passed are only renumbered.
    """
    old_index = {item: index for index, item in enumerate(before)}
    pairs = {index: old_index[item] for index, item in enumerate(after) if item in old_index}
    return [(index + 1, pairs[index] + 1) for index in sorted(_moved(pairs))]


@dataclass(frozen=True)
class ScheduleDay:
    weekday: int
    name: str
    before: str  # "09:00–16:59", "—" (no hours), "Any time"
    after: str
    changed: bool
    # One state per half-hour slot: "on" (both sides), "added", "removed", "changed" (open on
    # both sides but for different minutes of the half-hour) or "" (closed on both).
    cells: tuple[str, ...]

    @property
    def runs(self) -> list[SlotRun]:
        """Consecutive slots in the same state, for drawing a day as a few bars."""
        runs: list[SlotRun] = []
        for slot, state in enumerate(self.cells):
            if runs and runs[-1].state == state and runs[-1].start + runs[-1].length == slot:
                runs[-1] = SlotRun(runs[-1].start, runs[-1].length + 1, state)
            elif state:
                runs.append(SlotRun(slot, 1, state))
        return runs


@dataclass(frozen=True)
class SlotRun:
    start: int  # first half-hour slot (0 = 00:00)
    length: int
    state: str


@dataclass
class ScheduleDiff:
    before: str  # describe_schedule() of each side
    after: str
    days: list[ScheduleDay]

    @property
    def changed_days(self) -> list[ScheduleDay]:
        return [day for day in self.days if day.changed]


@dataclass
class SequenceDiff:
    is_new: bool  # nothing to compare with: every part of `after` is shown as added
    name: FieldChange | None = None
    timezone: FieldChange | None = None
    schedule: ScheduleDiff | None = None
    steps: list[StepChange] = field(default_factory=list)
    unchanged_steps: int = 0

    @property
    def count(self) -> int:
        return (
            len(self.steps)
            + (self.name is not None)
            + (self.timezone is not None)
            + (self.schedule is not None)
        )

    @property
    def is_empty(self) -> bool:
        return self.count == 0

    def headlines(self) -> list[str]:
        lines = []
        if self.name:
            lines.append(f"Name: {self.name.before} → {self.name.after}")
        lines += [step.headline() for step in self.steps]
        if self.schedule:
            lines.append(f"Sending hours: {self.schedule.before} → {self.schedule.after}")
        if self.timezone:
            lines.append(f"Time zone: {self.timezone.before} → {self.timezone.after}")
        return lines


# --- The diff ---------------------------------------------------------------------------------


def diff_specs(
    before: spec.SequenceSpec | None,
    after: spec.SequenceSpec,
    templates: Mapping[str, TemplateText] | None = None,
    *,
    copy_words: bool = True,
) -> SequenceDiff:
    """The changes that turn `before` into `after`; `before=None` shows all of `after` as new.

    `copy_words=False` only notes which copy fields changed, without comparing their words
    (the history's one-line summaries need no more).
    """
    templates = templates or {}
    is_new = before is None
    if before is None:
        before = spec.SequenceSpec(name="", timezone="", steps=[], schedule=None)
    result = SequenceDiff(is_new=is_new)
    if before.name != after.name:
        result.name = FieldChange("Name", _text(before.name), _text(after.name))
    if before.timezone != after.timezone:
        result.timezone = FieldChange("Time zone", _text(before.timezone), _text(after.timezone))
    if is_new:
        result.schedule = _all_new_schedule(after.schedule)
    elif _schedule_key(before.schedule) != _schedule_key(after.schedule):
        result.schedule = diff_schedule(before.schedule, after.schedule)
    # What Close gets: a reply stored on the first email starts the thread (spec.py keeps the
    # person's choice for when it moves), so only a change Close would see is listed.
    result.steps, result.unchanged_steps = _diff_steps(
        spec.apply_threading_rule(before.steps),
        spec.apply_threading_rule(after.steps),
        templates,
        copy_words=copy_words,
    )
    return result


def template_ids(*specs: spec.SequenceSpec | None) -> set[str]:
    """Every template id the specs use: what the caller should load into `templates`."""
    return {
        template_id
        for sequence_spec in specs
        if sequence_spec is not None
        for step in sequence_spec.steps
        for template_id in steps.template_ids(step)
        if template_id
    }


def _text(value) -> str:
    return str(value) if value not in (None, "") else "—"


# --- Steps ------------------------------------------------------------------------------------


def _diff_steps(
    before: Sequence[spec.Step],
    after: Sequence[spec.Step],
    templates: Mapping[str, TemplateText],
    *,
    copy_words: bool = True,
) -> tuple[list[StepChange], int]:
    pairs = match_steps(before, after)  # after index -> before index
    moved = _moved(pairs)
    changes: list[tuple[tuple[float, int], StepChange]] = []
    unchanged = 0
    for after_index, step in enumerate(after):
        before_index = pairs.get(after_index)
        if before_index is None:
            change = StepChange(
                kind="added",
                before_number=None,
                after_number=after_index + 1,
                step_type=step.step_type or "",
                description=describe_step(step, templates),
                copy=copy_diffs(None, step, templates, words=copy_words),
            )
            changes.append(((after_index, 1), change))
            continue
        old = before[before_index]
        fields, template = _step_fields(old, step, templates)
        copy = copy_diffs(old, step, templates, words=copy_words)
        is_moved = after_index in moved
        if not fields and not copy and not is_moved:
            unchanged += 1
            continue
        change = StepChange(
            kind="changed",
            before_number=before_index + 1,
            after_number=after_index + 1,
            step_type=step.step_type or "",
            description=describe_step(step, templates),
            moved=is_moved,
            fields=fields,
            template=template,
            copy=copy,
        )
        changes.append(((after_index, 1), change))
    # A removed step is listed where it used to be: after the step that preceded it.
    after_of_before = {b: a for a, b in pairs.items()}
    for before_index, step in enumerate(before):
        if before_index in after_of_before:
            continue
        previous = [after_of_before[b] for b in range(before_index) if b in after_of_before]
        anchor = max(previous) if previous else -1
        change = StepChange(
            kind="removed",
            before_number=before_index + 1,
            after_number=None,
            step_type=step.step_type or "",
            description=describe_step(step, templates),
            copy=copy_diffs(step, None, templates, words=copy_words),
        )
        changes.append(((anchor + 0.5, before_index), change))
    changes.sort(key=lambda item: item[0])
    return [change for _, change in changes], unchanged


def match_steps(before: Sequence[spec.Step], after: Sequence[spec.Step]) -> dict[int, int]:
    """Pair steps of `after` with steps of `before`: {after index: before index}.

    By Close's step id, then by our step key; steps without an identity on one side (old
    revisions, imports) are lined up by content, never against a step that is known to be a
    different one.
    """
    pairs: dict[int, int] = {}
    used: set[int] = set()
    for attribute in ("close_id", "key"):
        index = {}
        for i, step in enumerate(before):
            value = getattr(step, attribute)
            if value and i not in used:
                index.setdefault(value, i)
        for j, step in enumerate(after):
            value = getattr(step, attribute)
            if j in pairs or not value or value not in index or index[value] in used:
                continue
            pairs[j] = index[value]
            used.add(index[value])
    rest_before = [i for i in range(len(before)) if i not in used]
    rest_after = [j for j in range(len(after)) if j not in pairs]
    if not rest_before or not rest_after:
        return pairs
    matcher = difflib.SequenceMatcher(
        None,
        [_content(before[i]) for i in rest_before],
        [_content(after[j]) for j in rest_after],
        autojunk=False,
    )
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag not in ("equal", "replace"):
            continue
        for i, j in zip(rest_before[i1:i2], rest_after[j1:j2], strict=False):
            if _may_be_same(before[i], after[j]):
                pairs[j] = i
    return pairs


# What a step says, for lining up steps without identity: every spec.Step field but the
# identities (matched first) and Close's kept data (a dict, unhashable, and Close's to change).
_CONTENT_FIELDS = tuple(
    f.name for f in dataclasses.fields(spec.Step) if f.name not in ("close_id", "key", "extra")
)


def _content(step: spec.Step) -> tuple:
    return tuple(getattr(step, name) for name in _CONTENT_FIELDS)


def _may_be_same(old: spec.Step, new: spec.Step) -> bool:
    """Two steps with different identities of the same kind are different steps."""
    return not (old.key and new.key) and not (old.close_id and new.close_id)


def _moved(pairs: Mapping[int, int]) -> set[int]:
    """After-indexes of matched steps whose order changed relative to the others.

    The longest run of matched steps that kept their relative order stays put; the rest moved.
    Steps only renumbered by an insert or removal above them do not count as moved.
    """
    by_before = sorted(pairs.items(), key=lambda item: item[1])
    order = [after_index for after_index, _ in by_before]
    keep = set(_longest_increasing(order))
    return {after_index for after_index in order if after_index not in keep}


def _longest_increasing(values: list[int]) -> list[int]:
    """Patience sorting, O(n log n); returns one longest strictly increasing subsequence."""
    tails: list[int] = []  # tails[k] = index into values of the smallest tail of length k+1
    tail_values: list[int] = []
    parents = [-1] * len(values)
    for i, value in enumerate(values):
        k = bisect.bisect_left(tail_values, value)
        if k > 0:
            parents[i] = tails[k - 1]
        if k == len(tails):
            tails.append(i)
            tail_values.append(value)
        else:
            tails[k] = i
            tail_values[k] = value
    result = []
    i = tails[-1] if tails else -1
    while i >= 0:
        result.append(values[i])
        i = parents[i]
    return result[::-1]


def _step_fields(
    old: spec.Step, new: spec.Step, templates: Mapping[str, TemplateText]
) -> tuple[list[FieldChange], TemplateDiff | None]:
    fields = []
    template = None
    if old.step_type != new.step_type:
        label = steps.FIELD_LABELS["step_type"]
        fields.append(FieldChange(label, type_label(old.step_type), type_label(new.step_type)))
    if old.delay != new.delay:
        fields.append(FieldChange(steps.FIELD_LABELS["delay"], _wait(old.delay), _wait(new.delay)))
    if steps.is_written(old) != steps.is_written(new) and _has_copy(old) and _has_copy(new):
        fields.append(_source_change(old, new, templates))
    # A written step's template id is publishing's bookkeeping (the Close template that carries
    # its copy), not a choice anyone made: its words are compared instead (copy_diffs).
    template_attributes = (
        ()
        if steps.is_written(old) or steps.is_written(new)
        else (kind.template_field for kind in steps.template_kinds())
    )
    for attribute in template_attributes:
        label = steps.FIELD_LABELS.get(attribute, attribute)
        old_id, new_id = getattr(old, attribute), getattr(new, attribute)
        if old_id == new_id:
            continue
        fields.append(
            FieldChange(label, _template_name(old_id, templates), _template_name(new_id, templates))
        )
        if old_id and new_id and template is None:
            template = diff_templates(old_id, new_id, templates)
    if old.threading != new.threading and (old.threading or new.threading):
        label = steps.FIELD_LABELS["threading"]
        fields.append(FieldChange(label, _threading(old.threading), _threading(new.threading)))
    if old.extra != new.extra and old.step_type == new.step_type and (old.extra or new.extra):
        fields.append(FieldChange("Close settings", "as before", "changed in Close"))
    return fields, template


def _has_copy(step: spec.Step) -> bool:
    return bool(steps.kind_of(step.step_type).copy_fields)


def _template_id(step: spec.Step) -> str | None:
    template_field = steps.kind_of(step.step_type).template_field
    return getattr(step, template_field) if template_field else None


def _source_change(
    old: spec.Step, new: spec.Step, templates: Mapping[str, TemplateText]
) -> FieldChange:
    """Written here ⇄ a shared template, in one sentence naming the template."""
    label = steps.FIELD_LABELS["content_source"]
    if steps.is_written(new):
        template_id = _template_id(old)
        was = (
            f"was the template {_template_name(template_id, templates)}"
            if template_id
            else "no template was picked"
        )
        return FieldChange(label, "Shared template", "Written here", f"Now written here ({was})")
    template_id = _template_id(new)
    kept = "the written copy is kept in the history"
    sentence = (
        f"Now uses the template {_template_name(template_id, templates)} ({kept})"
        if template_id
        else f"Now uses a shared template (none picked yet; {kept})"
    )
    return FieldChange(label, "Written here", "Shared template", sentence)


def describe_step(step: spec.Step, templates: Mapping[str, TemplateText]) -> str:
    """ "Email · wait 1 day · “Intro” · starts a new thread" (steps.describe, as one line)."""
    wait = "no wait" if step.delay == 0 else f"wait {_wait(step.delay)}"
    description = steps.describe(step, lambda template_id: _template_name(template_id, templates))
    return description.line(wait=wait)


def type_label(step_type: str | None) -> str:
    return steps.type_label(step_type)


def _wait(delay) -> str:
    if isinstance(delay, int) and not isinstance(delay, bool) and delay >= 0:
        return spec.describe_delay(delay)
    return f"invalid ({delay!r})"


def _threading(value: str | None) -> str:
    if not value:
        return "—"
    words = steps.THREADING_WORDS.get(value)
    return words[0].upper() + words[1:] if words else value


def _template_name(template_id: str | None, templates: Mapping[str, TemplateText]) -> str:
    if not template_id:
        return "—"
    template = templates.get(template_id)
    if template is None:
        return f"{template_id} (not in the synced templates)"
    return f"“{template.name}”"


# --- Templates --------------------------------------------------------------------------------


def diff_templates(old_id: str, new_id: str, templates: Mapping[str, TemplateText]) -> TemplateDiff:
    """Subject and body of the template swapped out against the one swapped in."""
    old, new = templates.get(old_id), templates.get(new_id)
    result = TemplateDiff(
        before_name=_template_name(old_id, templates),
        after_name=_template_name(new_id, templates),
        missing=[tid for tid, t in ((old_id, old), (new_id, new)) if t is None],
    )
    if old is None or new is None:
        return result
    if old.subject != new.subject:
        result.subject = FieldChange("Subject", _text(old.subject), _text(new.subject))
    result.body = diff_lines(_body_lines(old), _body_lines(new))
    return result


def diff_lines(old: list[str], new: list[str], context: int = _BODY_CONTEXT) -> list[DiffLine]:
    """Changed lines with `context` unchanged lines around them; longer gaps become "gap"."""
    lines: list[DiffLine] = []
    matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
    opcodes = matcher.get_opcodes()
    for index, (tag, i1, i2, j1, j2) in enumerate(opcodes):
        if tag == "equal":
            same = old[i1:i2]
            head = same[:context] if index > 0 else []
            tail = same[-context:] if index < len(opcodes) - 1 and context else []
            if len(same) <= len(head) + len(tail) + 1:  # a gap must hide at least two lines
                lines += [DiffLine("same", text) for text in same]
                continue
            lines += [DiffLine("same", text) for text in head]
            lines.append(DiffLine("gap", f"{len(same) - len(head) - len(tail)} unchanged lines"))
            lines += [DiffLine("same", text) for text in tail]
            continue
        lines += [DiffLine("removed", text) for text in old[i1:i2]]
        lines += [DiffLine("added", text) for text in new[j1:j2]]
    if lines and all(line.op in ("same", "gap") for line in lines):
        return []
    return lines


def _body_lines(template: TemplateText) -> list[str]:
    if template.kind == "email":
        return html_to_lines(template.body)
    return [line.strip() for line in template.body.splitlines() if line.strip()]


class _TextExtractor(HTMLParser):
    _BREAKS = frozenset(
        {"p", "br", "div", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "ul", "ol"}
    )

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag in self._BREAKS:
            self.parts.append("\n")

    def handle_endtag(self, tag):
        if tag in self._BREAKS:
            self.parts.append("\n")

    def handle_data(self, data):
        self.parts.append(data)


def html_to_lines(html: str) -> list[str]:
    """An HTML email body as the lines of text a reader sees (tags dropped, entities decoded)."""
    parser = _TextExtractor()
    parser.feed(html or "")
    parser.close()
    text = "".join(parser.parts)
    return [" ".join(line.split()) for line in text.splitlines() if line.strip()]


# --- Copy written in a step -------------------------------------------------------------------


def copy_diffs(
    old: spec.Step | None,
    new: spec.Step | None,
    templates: Mapping[str, TemplateText],
    *,
    words: bool = True,
) -> list[CopyDiff]:
    """The copy fields that changed between two versions of a step (None: the step is new, or
    gone), in the order the step's kind shows them.

    Only copy in use is compared: a step written here on either side. When it switches from a
    shared template (or to one), its words are compared with that template's text when the
    cache has it; a new step's copy is all added.
    """
    old_written = old is not None and steps.is_written(old)
    new_written = new is not None and steps.is_written(new)
    if not old_written and not new_written:
        return []
    old_values, old_from = _copy_side(old, templates)
    new_values, new_from = _copy_side(new, templates)
    if new is not None and not new_written and not new_values:
        # Now a template we hold no text for: nothing to compare the written copy with, and
        # showing all of it as removed would say it was deleted (it stays in the history).
        return []
    names = list(dict.fromkeys([*_copy_fields(new), *_copy_fields(old)]))
    result = []
    for name in names:
        if name not in old_values and name not in new_values:
            continue
        change = diff_copy(
            name,
            old_values.get(name),
            new_values.get(name),
            compared_with=old_from or new_from,
            words=words,
        )
        if change is not None:
            result.append(change)
    return result


def _copy_fields(step: spec.Step | None) -> tuple[str, ...]:
    return steps.kind_of(step.step_type).copy_fields if step is not None else ()


def _copy_side(
    step: spec.Step | None, templates: Mapping[str, TemplateText]
) -> tuple[dict[str, str], str]:
    """A step's copy by field, and "the template “Intro”" when it is a template's text."""
    if step is None:
        return {}, ""
    kind = steps.kind_of(step.step_type)
    if steps.is_written(step):
        return {name: getattr(step, name) or "" for name in kind.copy_fields}, ""
    template_id = _template_id(step)
    template = templates.get(template_id) if template_id else None
    if template is None:
        return {}, ""
    values = (
        {"subject": template.subject, "body": template.body}
        if template.kind == "email"
        else {"text": template.body}
    )
    values = {name: value for name, value in values.items() if name in kind.copy_fields}
    return values, f"the template {_template_name(template_id, templates)}"


def diff_copy(
    name: str,
    old: str | None,
    new: str | None,
    *,
    compared_with: str = "",
    words: bool = True,
) -> CopyDiff | None:
    """One copy field before and after; None when it did not change.

    A body is compared as stored (copytext.clean_body, again: an old revision or a Close
    template may predate today's rules) and shown as its text; `words=False` only says that it
    changed.
    """
    is_html = name == "body"
    old_value, new_value = _copy_value(name, old), _copy_value(name, new)
    if old_value == new_value:
        return None
    old_text = _body_words(old_value) if is_html else old_value
    new_text = _body_words(new_value) if is_html else new_value
    label = steps.FIELD_LABELS.get(name, name.capitalize())
    result = CopyDiff(name=name, label=label, compared_with=compared_with)
    if not old_text.strip() and new_text.strip():
        result.kind = "added"
        result.runs = [WordRun("added", new_text)] if words else []
        return result
    if not new_text.strip() and old_text.strip():
        result.kind = "removed"
        result.runs = [WordRun("removed", old_text)] if words else []
        return result
    if not words:
        return result
    runs = word_runs(old_text, new_text)
    result.runs = trim_runs(runs) if any(run.op != "same" for run in runs) else []
    if is_html:
        result.formatting = formatting_changes(old_value, new_value)
        result.links = link_changes(old_value, new_value)
        if not (result.runs or result.formatting or result.links):
            result.formatting = ["Only the layout changed (blank lines or blocks)."]
    return result


def _copy_value(name: str, value: str | None) -> str:
    value = (value or "").replace("\r\n", "\n")
    return copytext.clean_body(value) if name == "body" else value


def _body_words(html: str) -> str:
    """A body as a reader sees its words: a line per block or list item, single spaces."""
    return "\n".join(" ".join(line.split()) for line in copytext.body_text(html).splitlines())


def word_runs(old: str, new: str) -> list[WordRun]:
    """`old` → `new` as unchanged, removed and added runs, word by word (copytext.words).

    Lines are matched first, then the words of the lines that changed, so an edit in one
    paragraph never lines up with words of another, and a long text costs little.
    """
    pieces: list[tuple[str, str]] = []
    old_lines, new_lines = old.splitlines(keepends=True), new.splitlines(keepends=True)
    for tag, i1, i2, j1, j2 in _opcodes(old_lines, new_lines):
        before, after = "".join(old_lines[i1:i2]), "".join(new_lines[j1:j2])
        if tag == "equal":
            pieces.append(("same", before))
        elif tag == "replace":
            pieces += _word_pieces(before, after)
        else:
            pieces += [("removed", before), ("added", after)]
    return _tidy(pieces)


def _word_pieces(old: str, new: str) -> list[tuple[str, str]]:
    old_words, new_words = list(copytext.words(old)), list(copytext.words(new))
    pieces = []
    for tag, i1, i2, j1, j2 in _opcodes(old_words, new_words):
        if tag == "equal":
            pieces.append(("same", "".join(old_words[i1:i2])))
            continue
        pieces.append(("removed", "".join(old_words[i1:i2])))
        pieces.append(("added", "".join(new_words[j1:j2])))
    return pieces


def _opcodes(old: Sequence, new: Sequence) -> list[tuple[str, int, int, int, int]]:
    """SequenceMatcher's opcodes, after taking off the common start and end (one edit in a long
    text is then cheap), and whole-block replaced when the middle is too large to match."""
    start = 0
    while start < min(len(old), len(new)) and old[start] == new[start]:
        start += 1
    end = 0
    while end < min(len(old), len(new)) - start and old[-1 - end] == new[-1 - end]:
        end += 1
    codes = [("equal", 0, start, 0, start)] if start else []
    old_end, new_end = len(old) - end, len(new) - end
    middle_old, middle_new = old[start:old_end], new[start:new_end]
    if middle_old and middle_new and len(middle_old) * len(middle_new) <= _MAX_MATCH_PAIRS:
        matcher = difflib.SequenceMatcher(None, middle_old, middle_new, autojunk=False)
        codes += [
            (tag, i1 + start, i2 + start, j1 + start, j2 + start)
            for tag, i1, i2, j1, j2 in matcher.get_opcodes()
        ]
    elif middle_old or middle_new:
        codes.append(("replace", start, old_end, start, new_end))
    if end:
        codes.append(("equal", old_end, len(old), new_end, len(new)))
    return codes


def _tidy(pieces: Iterable[tuple[str, str]]) -> list[WordRun]:
    """Runs as people read a change: empty pieces dropped, neighbours of one kind joined, the
    removed words before the added ones, and a few unchanged words between two larger changes
    made part of one change (a rewritten paragraph does not keep a stray "about" in place; two
    swapped words a space apart are one phrase). A change of several lines on both sides is
    marked `block`: shown as its own lines, its removed words never run into its added ones."""
    groups: list[list[str]] = []  # ["same", text] | ["change", removed, added(, "joined")]
    for op, text in pieces:
        if not text:
            continue
        if op == "same":
            if groups and groups[-1][0] == "same":
                groups[-1][1] += text
            else:
                groups.append(["same", text])
            continue
        if not groups or groups[-1][0] != "change":
            groups.append(["change", "", ""])
        groups[-1][1 if op == "removed" else 2] += text
    index = 1
    while index < len(groups) - 1:
        if _absorbed(*groups[index - 1 : index + 2]):
            left, same, right = groups[index - 1 : index + 2]
            left[1] += same[1] + right[1]
            left[2] += same[1] + right[2]
            left.append("joined")
            del groups[index : index + 2]
            # The joined change is larger now: the unchanged words before it may go too.
            index = max(1, index - 2)
        else:
            index += 1
    runs = []
    for group in groups:
        if group[0] == "same":
            runs.append(WordRun("same", group[1]))
            continue
        removed, added = group[1], group[2]
        if len(group) > 3:  # joined: a space it carried into a side without words is no change
            removed, added = (text if text.strip() or "\n" in text else "" for text in group[1:3])
        block = bool(removed.strip() and added.strip()) and any(
            "\n" in text.strip() for text in (removed, added)
        )
        if removed:
            runs.append(WordRun("removed", removed, block=block))
        if added:
            runs.append(WordRun("added", added, block=block))
    return runs


def _absorbed(left: list[str], same: list[str], right: list[str]) -> bool:
    """Whether the unchanged `same` between two changes reads better as part of them: no longer
    than either change, and within one line (line breaks keep the text's shape)."""
    if left[0] != "change" or same[0] != "same" or right[0] != "change" or "\n" in same[1]:
        return False
    words = len(same[1].split())
    if words == 0:  # only spaces: two changes a space apart are one
        return True
    # Measured on the line the unchanged words are on: an added line after them is no reason.
    left_words = max(len(text.rsplit("\n", 1)[-1].split()) for text in left[1:])
    right_words = max(len(text.split("\n", 1)[0].split()) for text in right[1:])
    return words < left_words and words < right_words


def trim_runs(runs: list[WordRun], context: int = COPY_CONTEXT_WORDS) -> list[WordRun]:
    """Long unchanged stretches folded into "gap" runs, keeping `context` words (at most to the
    line's edge) next to each change: the reviewer sees the change, not three pages."""
    result: list[WordRun] = []
    last = len(runs) - 1
    for index, run in enumerate(runs):
        if run.op != "same":
            result.append(run)
            continue
        tokens = list(copytext.words(run.text))
        head_end = 0 if index == 0 else _context_end(tokens, context)
        tail_start = len(tokens) if index == last else _context_start(tokens, context)
        hidden = "".join(tokens[head_end:tail_start]) if head_end < tail_start else ""
        if len(hidden.split()) < _MIN_GAP_WORDS:
            result.append(run)
            continue
        head, tail = "".join(tokens[:head_end]), "".join(tokens[tail_start:])
        if head:
            result.append(WordRun("same", head))
        result.append(WordRun("gap", hidden))
        if tail:
            result.append(WordRun("same", tail))
    return result


def _context_end(tokens: list[str], count: int) -> int:
    """Where the context after a change ends: after `count` words, or at the line's end."""
    seen = 0
    for index, token in enumerate(tokens):
        if "\n" in token:
            return index
        if not token.isspace():
            seen += 1
            if seen > count:
                return index
    return len(tokens)


def _context_start(tokens: list[str], count: int) -> int:
    """Where the context before a change starts: `count` words back, or the line's start."""
    seen = 0
    for index in range(len(tokens) - 1, -1, -1):
        token = tokens[index]
        if "\n" in token:
            return index + 1
        if not token.isspace():
            seen += 1
            if seen > count:
                return index + 1
    return 0


# --- A body's formatting and links ------------------------------------------------------------


@dataclass
class _MarkedWord:
    text: str
    length: int  # characters
    bold: int  # how many of them are bold
    italic: int
    list_kind: str  # "bulleted" | "numbered" | "" (not in a list)


class _MarkReader(HTMLParser):
    """A body's words with the formatting of each: bold, italic, and the list it is in."""

    _BREAKS = frozenset({"div", "p", "br", "li", "ul", "ol", "h1", "h2", "h3", "blockquote"})

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.words: list[_MarkedWord] = []
        self._bold = self._italic = 0
        self._lists: list[str] = []
        self._in_word = False  # the next text continues the last word ("quick<b>ly</b>")

    def handle_starttag(self, tag, attrs):
        if tag in ("strong", "b"):
            self._bold += 1
        elif tag in ("em", "i"):
            self._italic += 1
        elif tag in ("ul", "ol"):
            self._lists.append("bulleted" if tag == "ul" else "numbered")
        if tag in self._BREAKS:
            self._in_word = False

    def handle_endtag(self, tag):
        if tag in ("strong", "b"):
            self._bold = max(0, self._bold - 1)
        elif tag in ("em", "i"):
            self._italic = max(0, self._italic - 1)
        elif tag in ("ul", "ol") and self._lists:
            self._lists.pop()
        if tag in self._BREAKS:
            self._in_word = False

    def handle_data(self, data):
        for piece in copytext.words(data):
            if piece.isspace():
                self._in_word = False
                continue
            length = len(piece)
            bold, italic = length if self._bold else 0, length if self._italic else 0
            if self._in_word and self.words:
                word = self.words[-1]
                word.text += piece
                word.length += length
                word.bold += bold
                word.italic += italic
            else:
                list_kind = self._lists[-1] if self._lists else ""
                self.words.append(_MarkedWord(piece, length, bold, italic, list_kind))
            self._in_word = True


def _marked_words(html: str) -> list[_MarkedWord]:
    reader = _MarkReader()
    reader.feed(html or "")
    reader.close()
    return reader.words


def _share(marked: int, length: int) -> str:
    return "all" if marked and marked >= length else "some" if marked else "none"


def formatting_changes(old_html: str, new_html: str) -> list[str]:
    """What turned bold or italic, or into or out of a list, among the words both bodies have:
    "“quick question” is now bold". Words that changed are the word diff's; their formatting
    is not listed again."""
    old_words, new_words = _marked_words(old_html), _marked_words(new_html)
    changes: list[tuple[int, int, str]] = []  # (position in the new body, aspect, sentence)
    open_runs: dict[str, list] = {}  # aspect -> [key, first index, last index, words]

    def close(aspect):
        run = open_runs.pop(aspect, None)
        if run is not None:
            key, first, _, words_of_run = run
            order = ("bold", "italic", "list").index(aspect)
            changes.append((first, order, _formatting_sentence(aspect, key, words_of_run)))

    codes = _opcodes([w.text for w in old_words], [w.text for w in new_words])
    for tag, i1, i2, j1, _ in codes:
        if tag != "equal":
            for aspect in list(open_runs):
                close(aspect)
            continue
        for offset in range(i2 - i1):
            old, new, index = old_words[i1 + offset], new_words[j1 + offset], j1 + offset
            keys = {
                "bold": (_share(old.bold, old.length), _share(new.bold, new.length)),
                "italic": (_share(old.italic, old.length), _share(new.italic, new.length)),
                "list": (old.list_kind, new.list_kind),
            }
            for aspect, key in keys.items():
                run = open_runs.get(aspect)
                if run is not None and (run[0] != key or run[2] != index - 1):
                    close(aspect)
                    run = None
                if key[0] == key[1]:
                    continue
                if run is None:
                    open_runs[aspect] = [key, index, index, [new.text]]
                else:
                    run[2] = index
                    run[3].append(new.text)
    for aspect in list(open_runs):
        close(aspect)
    return [sentence for _, _, sentence in sorted(changes)]


def _formatting_sentence(aspect: str, key: tuple[str, str], words_of_run: list[str]) -> str:
    quoted = f"“{_shorten(' '.join(words_of_run))}”"
    before, after = key
    if aspect == "list":
        if not after:
            return f"{quoted} is no longer a {before} list"
        was = f" (was {before})" if before else ""
        return f"{quoted} is now a {after} list{was}"
    if after == "all":
        return f"{quoted} is now {aspect}"
    if after == "some":
        return f"{quoted} is now partly {aspect}"
    return f"{quoted} is no longer {aspect}"


def link_changes(old_html: str, new_html: str) -> list[str]:
    """Links added, removed, pointed elsewhere or reworded, each in words."""
    old = [(_shorten(" ".join(text.split())), href) for text, href in copytext.body_links(old_html)]
    new = [(_shorten(" ".join(text.split())), href) for text, href in copytext.body_links(new_html)]
    for link in list(new):
        if link in old:
            old.remove(link)
            new.remove(link)
    changes = []
    for same in (0, 1):  # the same words pointing elsewhere, then the same address reworded
        for link in list(new):
            match = next((before for before in old if before[same] == link[same]), None)
            if match is None:
                continue
            old.remove(match)
            new.remove(link)
            if same == 0:
                changes.append(f"Link {_link_text(link[0])}: {match[1]} → {link[1]}")
            else:
                changes.append(f"Link to {link[1]}: {_link_text(match[0])} → {_link_text(link[0])}")
    changes += [f"Link added: {_link_text(text)} → {href}" for text, href in new]
    changes += [f"Link removed: {_link_text(text)} (was {href})" for text, href in old]
    return changes


def _link_text(text: str) -> str:
    return f"“{text}”" if text else "(a link without words)"


def _shorten(text: str, length: int = _QUOTE_LENGTH) -> str:
    return text if len(text) <= length else text[: length - 1].rstrip() + "…"


def _and(items: list[str]) -> str:
    """ "subject", "subject and body", "a, b and c"."""
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} and {items[-1]}"


# --- Schedule ---------------------------------------------------------------------------------


def _schedule_key(ranges: Iterable[spec.ScheduleRange] | None):
    if ranges is None:
        return None
    return sorted((str(r.weekday), str(r.start), str(r.end)) for r in ranges)


def diff_schedule(
    before: Sequence[spec.ScheduleRange] | None, after: Sequence[spec.ScheduleRange] | None
) -> ScheduleDiff:
    """Each weekday's hours before and after, with a half-hour grid of what was added/removed.

    The grid's cells are the schedule page's (schedule.cell_states): a half-hour is open when
    the ranges cover any of its minutes ("Any time" opens all of them).
    """
    old_states, new_states = _cell_states(before), _cell_states(after)
    days = []
    for weekday in range(1, 8):
        cells = tuple(
            _cell(old_states(weekday, slot), new_states(weekday, slot))
            for slot in range(SLOTS_PER_DAY)
        )
        old_text, new_text = _day_hours(before, weekday), _day_hours(after, weekday)
        days.append(
            ScheduleDay(
                weekday=weekday,
                name=spec.weekday_name(weekday),
                before=old_text,
                after=new_text,
                changed=old_text != new_text,
                cells=cells,
            )
        )
    return ScheduleDiff(
        before=spec.describe_schedule(before), after=spec.describe_schedule(after), days=days
    )


def _all_new_schedule(after: Sequence[spec.ScheduleRange] | None) -> ScheduleDiff:
    """A new sequence: every sending hour is added, there was nothing before."""
    result = diff_schedule([], after)
    result.before = "—"
    return result


def _cell_states(ranges: Sequence[spec.ScheduleRange] | None):
    """(weekday, slot) -> "full", "partial" or "" for one side of the diff."""
    if ranges is None:
        return lambda weekday, slot: schedule.FULL
    states = schedule.cell_states(ranges)
    return lambda weekday, slot: states.get((weekday, slot), "")


def _cell(old: str, new: str) -> str:
    if old and new:
        return "on" if old == new else "changed"
    if new:
        return "added"
    if old:
        return "removed"
    return ""


def _day_hours(ranges: Sequence[spec.ScheduleRange] | None, weekday: int) -> str:
    if ranges is None:
        return "Any time"
    hours = sorted(
        f"{r.start}–{r.end}" for r in ranges if r.weekday == weekday
    )  # invalid ones too: the reviewer should see them
    return ", ".join(hours) or "—"
