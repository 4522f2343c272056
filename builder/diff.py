"""What changed between two versions of a sequence, as a list a reviewer reads at a glance.

Pure Python like spec.py (no Django): `diff_specs(before, after, templates)` compares two
`spec.SequenceSpec` values and returns a `SequenceDiff` of named changes — steps added, removed,
moved or changed (wait, type, template with its subject/body diff, threading, required), the
sending schedule as a per-day before/after grid, time zone and name. Template text comes from
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

from builder import schedule, spec, steps

SLOTS_PER_DAY = schedule.SLOTS_PER_DAY  # the schedule grid's half-hours
_BODY_CONTEXT = 1  # unchanged lines shown around each changed line of a template body


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
        if self.kind != "changed" or not self.fields:
            return self.title
        first = self.fields[0]
        more = f" (+{len(self.fields) - 1} more)" if len(self.fields) > 1 else ""
        change = f"{first.label.lower()} {first.before} → {first.after}{more}"
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
) -> SequenceDiff:
    """The changes that turn `before` into `after`; `before=None` shows all of `after` as new."""
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
        spec.apply_threading_rule(before.steps), spec.apply_threading_rule(after.steps), templates
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
            )
            changes.append(((after_index, 1), change))
            continue
        old = before[before_index]
        fields, template = _step_fields(old, step, templates)
        is_moved = after_index in moved
        if not fields and not is_moved:
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
    for attribute in (kind.template_field for kind in steps.template_kinds()):
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
