"""A Close sequence ("Workflow") as plain values: what a valid one is, and its Close JSON.

This module is the single source of truth for validity: the editor shows `validate()`'s problems
next to the fields they name, and publishing refuses anything `blocking()` returns. It knows
nothing about Django or HTTP; `builder/close.py` sends the payloads built here.

Field rules follow close-api.md §4, §5 and §12. Messages are written for sales-ops people:
steps and ranges are numbered from 1 in messages, while problem paths use 0-based indexes.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import re
import zoneinfo
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from builder import copytext
from builder import steps as step_kinds

# The registered kinds when this module was imported; code that must see kinds registered
# later (tests) asks step_kinds.kind_of() instead.
STEP_TYPES = step_kinds.keys()
THREADING = tuple(step_kinds.THREADING_WORDS)
STATUSES = ("active", "paused")
MAX_DELAY_SECONDS = 365 * 86400  # product rule: more than a year between steps is a mistake
MAX_NAME_LENGTH = 200
# Far beyond any real cadence; keeps one editor page, one revision and one payload bounded.
# Every way steps arrive (the editor, files, imports from Close) and publishing obey this one.
MAX_STEPS = 200
ERROR, WARNING = "error", "warning"

_TIME = re.compile(r"(?:[01]\d|2[0-3]):[0-5]\d")
_TIME_WITH_SECONDS = re.compile(r"\d\d:\d\d:\d\d")
_DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_UNITS = (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1))


@dataclass(frozen=True)
class ScheduleRange:
    weekday: int  # 1 = Monday ... 7 = Sunday (ISO)
    start: str  # "HH:MM"
    end: str  # "HH:MM", inclusive last minute (Close writes 9-to-5 as 09:00-16:59)


@dataclass
class Step:
    step_type: str | None
    delay: int = 0  # seconds after the previous step (first: after enrollment)
    email_template_id: str | None = None
    sms_template_id: str | None = None
    threading: str | None = None
    required: bool = True
    # Where an email's or SMS's words live: "template" (a shared Close template picked by id) or
    # "written" (subject/body or text written in the step, reviewed with the draft; publishing
    # creates or updates the Close template that carries it and keeps its id above).
    content_source: str = "template"
    subject: str | None = None  # a written email's subject (merge tags allowed)
    body: str | None = None  # a written email's body: HTML in copytext.BODY_TAGS only
    text: str | None = None  # a written SMS's text
    close_id: str | None = None  # Close's seqstep_ id once published/imported
    # For step types we do not model (Close's "task", ...): the whole step as Close sent it.
    extra: dict = field(default_factory=dict)
    # Our own stable identity for the step (the database row), kept in revision snapshots so a
    # diff can tell a moved step from a removed one before Close has given it an id. Never sent
    # to Close.
    key: str | None = None


_STEP_FIELDS = dataclasses.fields(Step)


@dataclass
class SequenceSpec:
    name: str
    timezone: str
    steps: list[Step]
    schedule: list[ScheduleRange] | None = None  # None = send at any time (no schedule key sent)
    status: str | None = None  # "active" | "paused" | None (omit -> Close default)


@dataclass(frozen=True)
class TemplateInfo:
    """What validation needs to know about a Close template (from the local cache)."""

    id: str
    kind: str  # "email" | "sms"
    name: str
    is_shared: bool
    is_archived: bool


@dataclass(frozen=True)
class Problem:
    path: str  # dotted field path with 0-based indexes: "steps.1.email_template_id"
    severity: str  # ERROR blocks publishing; WARNING informs
    message: str
    code: str  # stable machine code, e.g. "template_not_shared"


# --- Validation ------------------------------------------------------------------------------


def validate(
    spec: SequenceSpec, templates: Mapping[str, TemplateInfo] | None = None
) -> list[Problem]:
    """Every problem with `spec`, in field order.

    `templates` maps template ids to the synced cache; None skips the checks that need it
    (existence, kind, shared, archived).
    """
    problems = [*_check_name(spec.name), *_check_timezone(spec.timezone)]
    if spec.status is not None and spec.status not in STATUSES:
        problems.append(_error("status", "status_invalid", "The status must be active or paused."))
    if not spec.steps:
        problems.append(_error("steps", "steps_required", "Add at least one step."))
    if len(spec.steps) > MAX_STEPS:
        # Checking each of thousands of steps would bury the one message that matters under
        # thousands of others (and take the time the limit exists to bound).
        return [*problems, *step_count_problems(spec.steps)]
    first_email = first_email_index(spec.steps)
    for index, step in enumerate(spec.steps):
        problems += _checked_step(index, step, templates, is_first_email=index == first_email)
    if spec.schedule is not None:
        problems += _check_schedule(spec.schedule)
    return problems


def step_count_problems(steps) -> list[Problem]:
    """The step limit on its own, for callers that store steps without a full validation."""
    if len(steps) <= MAX_STEPS:
        return []
    message = f"A sequence can have at most {MAX_STEPS} steps; this one has {len(steps)}."
    return [_error("steps", "steps_too_many", message)]


def blocking(problems: Iterable[Problem]) -> list[Problem]:
    """The problems that stop publishing."""
    return [problem for problem in problems if problem.severity == ERROR]


def _error(path: str, code: str, message: str) -> Problem:
    return Problem(path, ERROR, message, code)


def _warning(path: str, code: str, message: str) -> Problem:
    return Problem(path, WARNING, message, code)


def _check_name(name) -> list[Problem]:
    if not isinstance(name, str) or not name.strip():
        return [_error("name", "name_required", "Give the sequence a name.")]
    if len(name) > MAX_NAME_LENGTH:
        return [
            _error(
                "name",
                "name_too_long",
                f"The name is {len(name)} characters long; keep it to {MAX_NAME_LENGTH}.",
            )
        ]
    return []


@functools.cache
def _known_timezones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def _check_timezone(timezone) -> list[Problem]:
    if not timezone:
        return [
            _error(
                "timezone",
                "timezone_required",
                "Choose a time zone: Close needs one to read the sending hours.",
            )
        ]
    if timezone in _known_timezones():
        return []
    return [
        _error(
            "timezone",
            "timezone_invalid",
            f'"{timezone}" is not a time zone name. {_suggest_timezone(str(timezone))}',
        )
    ]


def _suggest_timezone(wrong: str) -> str:
    exact = canonical_timezone(str(wrong))
    if exact:  # an alias: there is no doubt what was meant
        return f'Did you mean "{exact}"?'
    suggestions = suggest_timezones(str(wrong))
    if not suggestions:
        return 'Use a name like "America/New_York".'
    best, *others = (f'"{name}"' for name in suggestions)
    return f"Did you mean {best}?" + (f" Or {' or '.join(others)}?" if others else "")


# Names people type for a timezone that are not the IANA name Close should get: abbreviations,
# regions, and IANA's own old names (US/Pacific is an IANA link; Close accepts it, but one
# stored spelling per zone keeps diffs and comparisons honest). Keys are lower case.
# Abbreviations name the zone people mean, not tzdata's fixed-offset zone of that name ("EST"
# in tzdata never observes DST; someone typing EST means New York). CET, a link to
# Europe/Brussels in tzdata, maps to Europe/Berlin, the largest city on Central European Time.
_ZONE_ALIASES = {
    "America/Los_Angeles": "pst pdt pt pacific, pacific time, pacific standard time, us/pacific",
    "America/Denver": "mst mdt mt mountain, mountain time, mountain standard time, us/mountain",
    "America/Phoenix": "arizona, us/arizona",
    "America/Chicago": "cst cdt ct central, central time, central standard time, us/central",
    "America/New_York": "est edt et eastern, eastern time, eastern standard time, us/eastern",
    "America/Anchorage": "akst akdt alaska, us/alaska",
    "Pacific/Honolulu": "hst hawaii, us/hawaii",
    "America/Halifax": "ast adt atlantic, canada/atlantic",
    "America/Toronto": "canada/eastern",
    "America/Winnipeg": "canada/central",
    "America/Edmonton": "canada/mountain",
    "America/Vancouver": "canada/pacific",
    "UTC": "utc gmt z zulu universal, etc/utc, etc/gmt, etc/universal, etc/zulu, gmt0",
    "Europe/London": "bst uk gb, gb-eire, british time",
    "Europe/Berlin": "cet cest, central european time",
    "Europe/Athens": "eet eest, eastern european time",
    "Europe/Lisbon": "wet west, western european time",
    "Europe/Kyiv": "europe/kiev",
    "Asia/Kolkata": "ist india, asia/calcutta",
    "Asia/Tokyo": "jst japan",
    "Asia/Singapore": "sgt singapore",
    "Asia/Shanghai": "prc, china, asia/chongqing, asia/harbin",
    "Australia/Sydney": "aest aedt, australia/nsw, australia/act",
    "Pacific/Auckland": "nzst nzdt nz",
}
TIMEZONE_ALIASES = {
    alias: zone
    for zone, text in _ZONE_ALIASES.items()
    for group in text.split(", ")
    for alias in (group.split() if "/" not in group and " time" not in group else [group])
}


def _typed_key(text: str) -> str:
    return " ".join(str(text or "").lower().replace("_", " ").split())


@functools.cache
def _zones_by_key() -> dict[str, str]:
    """Lower-case, space-for-underscore IANA names, and each zone's unique city part."""
    names = _known_timezones()
    by_key = {_typed_key(name): name for name in names}
    cities: dict[str, list[str]] = {}
    for name in names:
        if "/" in name and not name.startswith(("Etc/", "SystemV/")):
            cities.setdefault(_typed_key(name.rsplit("/", 1)[1]), []).append(name)
    for city, zones in cities.items():
        if len(zones) == 1:
            by_key.setdefault(city, zones[0])
    return by_key


def canonical_timezone(text: str) -> str | None:
    """The IANA name someone meant, or None: "PST", "pacific", "US/Pacific" ->
    "America/Los_Angeles"; "europe/paris", "Paris" -> "Europe/Paris"; "utc", "GMT" -> "UTC"."""
    key = _typed_key(text)
    if not key:
        return None
    alias = TIMEZONE_ALIASES.get(key) or TIMEZONE_ALIASES.get(key.replace(" ", "_"))
    return alias or _zones_by_key().get(key)


def suggest_timezones(wrong: str, n: int = 3) -> list[str]:
    """Up to `n` IANA names close to what was typed, best first."""
    key = _typed_key(wrong)
    exact = canonical_timezone(wrong)
    keys = {**_zones_by_key(), **TIMEZONE_ALIASES}
    close = difflib.get_close_matches(key, keys, n=n * 2)
    names = [exact] if exact else []
    names += [keys[k] for k in close]
    return list(dict.fromkeys(names))[:n]


# Every save validates the whole sequence, and all but one of its steps are as they were: their
# problems come from this cache, keyed on everything _check_step reads (the step's values, its
# place, the templates it names and the registered kinds), so a hit is the same answer.
_STEP_CHECKS: dict[tuple, tuple[Problem, ...]] = {}
_STEP_CHECKS_LIMIT = 20_000


def _checked_step(index, step, templates, *, is_first_email) -> list[Problem]:
    try:
        key = _step_check_key(index, step, templates, is_first_email)
    except TypeError:  # an unhashable value (odd input from a file): just check it
        return _check_step(index, step, templates, is_first_email=is_first_email)
    problems = _STEP_CHECKS.get(key)
    if problems is None:
        if len(_STEP_CHECKS) >= _STEP_CHECKS_LIMIT:
            _STEP_CHECKS.clear()
        problems = _STEP_CHECKS[key] = tuple(
            _check_step(index, step, templates, is_first_email=is_first_email)
        )
    return list(problems)


def _step_check_key(index, step, templates, is_first_email) -> tuple:
    values = tuple(
        getattr(step, f.name) for f in _STEP_FIELDS if f.name not in ("extra", "key", "close_id")
    )
    extra = tuple(sorted((k, repr(v)) for k, v in step.extra.items())) if step.extra else ()
    named = tuple(
        None if templates is None or not template_id else templates.get(template_id)
        for template_id in step_kinds.template_ids(step)
    )
    kinds = tuple(map(id, step_kinds.KINDS))
    close = bool(step.close_id)
    hash(values)  # raises TypeError now rather than as a dict key below
    return (index, is_first_email, values, extra, close, templates is None, named, kinds)


def _check_step(
    index: int,
    step: Step,
    templates: Mapping[str, TemplateInfo] | None,
    *,
    is_first_email: bool = False,
) -> list[Problem]:
    label, path = f"Step {index + 1}", f"steps.{index}"
    if not step.step_type:
        return [_error(f"{path}.step_type", "step_type_required", f"{label} has no type.")]
    kind = step_kinds.kind_of(step.step_type)
    if not kind.editable:
        if step.extra and step.close_id:
            # Imported from Close: we send it back by id, so Close keeps it as it is.
            return [
                _warning(
                    f"{path}.step_type",
                    "step_type_kept",
                    f"{label} is a Close '{step.step_type}' step; Sequence Builder keeps it "
                    "unchanged.",
                )
            ]
        return [
            _error(
                f"{path}.step_type",
                "step_type_unknown",
                f"{label} has the unknown type '{step.step_type}'; choose "
                f"{step_kinds.choice_words(article=False)}.",
            )
        ]

    problems = _check_delay(label, path, step.delay)
    place = step_kinds.StepPlace(label, path, is_first_email, _error, _warning)
    others = {
        owned.name: owned
        for other in step_kinds.KINDS
        if other is not kind
        for owned in other.owns
        if owned.unexpected_code and owned.name not in kind.owned_names
    }
    # In the order of Step's fields, so problems read top to bottom like the card.
    for name in (f.name for f in dataclasses.fields(Step)):
        if name == kind.template_field and step_kinds.is_written(step):
            continue  # written copy: the template is ours, created when publishing
        if name == kind.template_field:
            problems += _check_template(label, path, kind, getattr(step, name), templates)
        elif name in kind.field_checks:
            problems += kind.field_checks[name](step, place)
        elif name in others:
            problems += _check_unexpected(label, path, step, kind, others[name])
    return problems


def _check_delay(label: str, path: str, delay) -> list[Problem]:
    if isinstance(delay, bool) or not isinstance(delay, int):
        return [_error(f"{path}.delay", "delay_invalid", f"{label} has an invalid wait time.")]
    if delay < 0:
        return [_error(f"{path}.delay", "delay_negative", f"{label} cannot wait a negative time.")]
    if delay > MAX_DELAY_SECONDS:
        return [
            _error(
                f"{path}.delay",
                "delay_too_long",
                f"{label} waits {describe_delay(delay)}; more than a year between steps "
                "is almost certainly a mistake.",
            )
        ]
    return []


def _check_template(
    label: str,
    path: str,
    kind: step_kinds.StepKind,
    template_id: str | None,
    templates: Mapping[str, TemplateInfo] | None,
) -> list[Problem]:
    path, word = f"{path}.{kind.template_field}", kind.noun
    if not template_id:
        return [
            _error(path, f"{kind.key}_template_required", f"{label} needs {kind.words} template.")
        ]
    if templates is None:
        return []
    template = templates.get(template_id)
    if template is None:
        return [
            _error(
                path,
                "template_not_synced",
                f"{label}'s {word} template is not among the synced templates. "
                "Sync templates from Close, or pick another template.",
            )
        ]
    if template.kind != kind.key:
        return [
            _error(
                path,
                "template_wrong_kind",
                f'{label} is {kind.words} step, but "{template.name}" is not {kind.words} '
                "template.",
            )
        ]
    problems = []
    if not template.is_shared:
        problems.append(
            _error(
                path,
                "template_not_shared",
                f'{label} uses "{template.name}", which is not shared. Close refuses unshared '
                "templates in Workflows: share it in Close, then sync templates.",
            )
        )
    if template.is_archived:
        problems.append(
            _error(
                path,
                "template_archived",
                f'{label} uses "{template.name}", which is archived in Close. '
                "Pick another template.",
            )
        )
    return problems


def _check_unexpected(
    label: str, path: str, step: Step, kind: step_kinds.StepKind, owned: step_kinds.OwnedField
) -> list[Problem]:
    """A field that belongs to another step type (the editor may leave it behind on a switch)."""
    if not getattr(step, owned.name):
        return []
    return [
        _error(
            f"{path}.{owned.name}",
            owned.unexpected_code,
            f"{label} is {kind.words} step, so it cannot have {owned.words}.",
        )
    ]


def _check_schedule(ranges: Sequence[ScheduleRange]) -> list[Problem]:
    if not ranges:
        # Blocking, not a note: Close would hold every step forever. A team that wants no hours
        # says so with "Send at any time" (schedule None), which is valid.
        return [
            _error(
                "schedule",
                "schedule_empty",
                "No sending hours: Close would never send these steps. Paint some sending "
                "hours, or choose “Send at any time”.",
            )
        ]
    problems = []
    valid_ranges_by_day: dict[int, list[ScheduleRange]] = {}
    warned_days = set()
    for index, time_range in enumerate(ranges):
        own_problems = _check_range(index, time_range)
        problems += own_problems
        if own_problems:
            continue  # comparing a broken range with others would only add noise
        day = time_range.weekday
        same_day = valid_ranges_by_day.setdefault(day, [])
        overlapping = next((r for r in same_day if _overlaps(r, time_range)), None)
        if overlapping:
            problems.append(
                _error(
                    f"schedule.{index}",
                    "ranges_overlap",
                    f"Sending hours on {weekday_name(day)}: {_hours(overlapping)} and "
                    f"{_hours(time_range)} overlap (the end minute is included).",
                )
            )
        elif same_day and day not in warned_days:
            warned_days.add(day)
            problems.append(
                _warning(
                    f"schedule.{index}",
                    "several_ranges_per_day",
                    f"{weekday_name(day)} has more than one block of sending hours; "
                    "Close has not confirmed that it honours that.",
                )
            )
        same_day.append(time_range)
    return problems


def _check_range(index: int, time_range: ScheduleRange) -> list[Problem]:
    path, weekday = f"schedule.{index}", time_range.weekday
    problems = []
    if _is_weekday(weekday):
        label = f"Sending hours on {weekday_name(weekday)}"
    else:
        label = f"Sending hours row {index + 1}"
        problems.append(
            _error(f"{path}.weekday", "weekday_invalid", f"{label}: pick a day, Monday to Sunday.")
        )
    for end in ("start", "end"):
        value = getattr(time_range, end)
        if not _is_time(value):
            given = (
                f'the {end} time "{value}" is not valid' if value else f"the {end} time is missing"
            )
            message = f"{label}: {given}; use 24-hour HH:MM, such as 09:00 or 16:59."
            problems.append(_error(f"{path}.{end}", "time_invalid", message))
    times_valid = _is_time(time_range.start) and _is_time(time_range.end)
    # Zero-padded HH:MM strings sort like the times they name.
    if times_valid and time_range.start >= time_range.end:
        problems.append(
            _error(
                f"{path}.end",
                "range_end_before_start",
                f"{label}: the end must be after the start.",
            )
        )
    return problems


def is_valid_range(time_range: ScheduleRange) -> bool:
    """The range on its own is valid (day, HH:MM times, start before end); schedule.py uses it."""
    return not _check_range(0, time_range)


def _is_weekday(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 7


def _is_time(value) -> bool:
    return isinstance(value, str) and _TIME.fullmatch(value) is not None


def _overlaps(a: ScheduleRange, b: ScheduleRange) -> bool:
    return a.start <= b.end and b.start <= a.end  # both ends inclusive


def _hours(time_range: ScheduleRange) -> str:
    return f"{time_range.start}–{time_range.end}"


# --- Close JSON ------------------------------------------------------------------------------


def to_close_payload(spec: SequenceSpec) -> dict:
    """The JSON body for POST /sequence/ (close-create-sequence.txt).

    The first email starts the thread here, whatever the step stores (apply_threading_rule).
    """
    return _payload(spec, [_step_payload(step) for step in apply_threading_rule(spec.steps)])


def to_close_update_payload(spec: SequenceSpec) -> dict:
    """The JSON body for PUT /sequence/{id}/.

    Close replaces the step list with the one sent and deletes steps whose id is missing, so
    every step published before carries its id. Step types we do not model are sent as the
    bare id, which Close documents as "keep this step unchanged".

    Unlike create, "schedule" is always sent: PUT patches, so leaving it out would keep
    Close's old sending hours when the user switched to "any time".
    """
    steps = []
    for step in apply_threading_rule(spec.steps):
        if step.close_id and not step_kinds.kind_of(step.step_type).editable and step.extra:
            steps.append({"id": step.close_id})
        elif step.close_id:
            steps.append({"id": step.close_id, **_step_payload(step)})
        else:
            steps.append(_step_payload(step))
    payload = _payload(spec, steps)
    payload.setdefault("schedule", None)
    return payload


def _payload(spec: SequenceSpec, steps: list[dict]) -> dict:
    payload: dict = {"name": spec.name, "timezone": spec.timezone}
    if spec.status is not None:
        payload["status"] = spec.status
    if spec.schedule is not None:
        payload["schedule"] = {
            "ranges": [
                {"weekday": r.weekday, "start": r.start, "end": r.end} for r in spec.schedule
            ]
        }
    payload["steps"] = steps
    return payload


def _step_payload(step: Step) -> dict:
    return step_kinds.kind_of(step.step_type).payload(step)


def from_close(data: Mapping) -> SequenceSpec:
    """A spec from a Close create request or a sequence object Close returned.

    Lenient on purpose: odd values are kept as they are so `validate()` can name them.
    """
    schedule = data.get("schedule")
    ranges = None
    if schedule is not None:
        ranges = [
            ScheduleRange(
                weekday=item.get("weekday"),
                start=_drop_seconds(item.get("start")),
                end=_drop_seconds(item.get("end")),
            )
            for item in schedule.get("ranges") or []
        ]
    return SequenceSpec(
        name=data.get("name") or "",
        timezone=data.get("timezone") or "",
        steps=[_step_from_close(item) for item in data.get("steps") or []],
        schedule=ranges,
        status=data.get("status"),
    )


def _step_from_close(data: Mapping) -> Step:
    kind = data.get("step_type") or None
    required = data.get("required")
    return Step(
        step_type=kind,
        delay=data.get("delay", 0),
        email_template_id=data.get("email_template_id"),
        sms_template_id=data.get("sms_template_id"),
        threading=data.get("threading"),
        required=required if isinstance(required, bool) else True,
        **_copy_from_file(data.get("copy")),
        close_id=data.get("id"),
        # Only steps we cannot model keep Close's data, so they can go back untouched; for the
        # others, Close's bookkeeping fields (dates, step_allowed_delay, ...) are dropped.
        extra=dict(data) if kind and not step_kinds.is_known(kind) else {},
    )


def _copy_from_file(copy) -> dict:
    """A sequence file's written copy (`"copy": {"subject": …, "body": …}` on a step; Close's
    own step JSON has none: a Close import reads the templates' copy instead). The body is
    cleaned to the editor's subset here, on the way in, like every other way copy arrives."""
    if not isinstance(copy, Mapping):
        return {}
    values = {name: copy.get(name) for name in ("subject", "body", "text")}
    values = {name: value for name, value in values.items() if isinstance(value, str)}
    if "body" in values:
        values["body"] = copytext.clean_body(values["body"])
    return {"content_source": step_kinds.WRITTEN, **values}


def _drop_seconds(value):
    """Close echoes "09:00" back as "09:00:00"."""
    if isinstance(value, str) and _TIME_WITH_SECONDS.fullmatch(value):
        return value[:5]
    return value


# --- Editor helpers --------------------------------------------------------------------------


def split_delay(seconds: int) -> tuple[int, int, int]:
    """(days, hours, minutes) for the editor's fields; see leftover_seconds for the rest."""
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    return days, hours, rest // 60


def leftover_seconds(seconds: int) -> int:
    """The seconds of a delay that the editor's days/hours/minutes boxes cannot show.

    Only delays made outside the editor (imported from Close or a file) have them.
    """
    return seconds % 60


def join_delay(days: int, hours: int, minutes: int) -> int:
    return days * 86400 + hours * 3600 + minutes * 60


def edited_delay(days: int, hours: int, minutes: int, *, previous: int) -> int:
    """The delay the editor's boxes say, with the seconds of the `previous` delay kept.

    The boxes cannot show seconds, so the person never touched them: editing Hours on an
    imported 90061 s (1 day 1 hour 1 minute 1 second) wait must change the hours only.
    """
    return join_delay(days, hours, minutes) + leftover_seconds(previous)


def describe_delay(seconds: int) -> str:
    """ "immediately", "1 day", "2 days 3 hours", "45 minutes"."""
    if seconds < 0:
        raise ValueError(f"a delay cannot be negative: {seconds}")
    parts = []
    for unit, size in _UNITS:
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count} {unit}{'' if count == 1 else 's'}")
    return " ".join(parts) or "immediately"


def require_calls(spec: SequenceSpec) -> list[str]:
    """Make every call step required, in place; a note for each one that was not.

    The one rule for `required`: Close's call steps are always required, so the editor shows
    it as a fact and every way in (import from Close, a JSON file) stores it the same way,
    saying so instead of refusing the data or flagging a problem nobody can fix.
    """
    notes = []
    for number, step in enumerate(spec.steps, start=1):
        if step.step_type == "call" and step.required is not True:
            step.required = True
            notes.append(
                f"Step {number} is a call marked not required; Close's call steps are always "
                "required, so it is required here."
            )
    return notes


def first_email_index(steps: Sequence[Step]) -> int | None:
    return next((i for i, step in enumerate(steps) if step.step_type == "email"), None)


def apply_threading_rule(steps: Sequence[Step]) -> list[Step]:
    """The steps with the first email starting a new thread; the input is not changed.

    The first email has no earlier thread to reply in. What Close does with old_thread there is
    undocumented (close-api.md §5), so payloads apply this rule; steps keep the person's choice,
    so a reply moved to the top and back down replies again.
    """
    steps = list(steps)
    first = first_email_index(steps)
    if first is not None and steps[first].threading != "new_thread":
        steps[first] = dataclasses.replace(steps[first], threading="new_thread")
    return steps


def weekday_name(weekday: int) -> str:
    """1 -> "Monday" ... 7 -> "Sunday"."""
    if not _is_weekday(weekday):
        raise ValueError(f"weekday must be 1 (Monday) to 7 (Sunday), not {weekday!r}")
    return _DAY_NAMES[weekday - 1]


def describe_schedule(ranges: Sequence[ScheduleRange] | None) -> str:
    """ "Mon–Fri 09:00–16:59"; "Mon, Wed 09:00–12:00; Tue 13:00–14:59".

    Days with the same hours share one entry, and runs of three or more days become "Mon–Fri".
    """
    if ranges is None:
        return "Any time"
    if not ranges:
        return "No sending hours"
    hours_by_day: dict = {}
    for r in sorted(ranges, key=lambda r: (_sort_key(r.weekday), str(r.start), str(r.end))):
        hours_by_day.setdefault(r.weekday, []).append(_hours(r))
    days_by_hours: dict[str, list] = {}
    for day, hours in hours_by_day.items():  # days in week order, so groups are too
        days_by_hours.setdefault(" and ".join(hours), []).append(day)
    return "; ".join(f"{_describe_days(days)} {hours}" for hours, days in days_by_hours.items())


def _sort_key(weekday) -> tuple:
    # Invalid weekdays (the editor may describe a schedule that has problems) sort last.
    return (0, weekday) if _is_weekday(weekday) else (1, str(weekday))


def _describe_days(days: list) -> str:
    runs: list[list] = []
    for day in days:
        if runs and _is_weekday(day) and _is_weekday(runs[-1][-1]) and day == runs[-1][-1] + 1:
            runs[-1].append(day)
        else:
            runs.append([day])
    parts = []
    for run in runs:
        if len(run) >= 3:
            parts.append(f"{_short_day(run[0])}–{_short_day(run[-1])}")
        else:
            parts.extend(_short_day(day) for day in run)
    return ", ".join(parts)


def _short_day(weekday) -> str:
    return weekday_name(weekday)[:3] if _is_weekday(weekday) else f"day {weekday}"


# --- Snapshots --------------------------------------------------------------------------------
# A revision stores the whole spec as plain JSON; these two functions are exact inverses.


def to_snapshot(spec: SequenceSpec) -> dict:
    """The spec as JSON-ready values (revisions store this)."""
    return dataclasses.asdict(spec)


def from_snapshot(data: Mapping) -> SequenceSpec:
    schedule = data.get("schedule")
    return SequenceSpec(
        name=data.get("name", ""),
        timezone=data.get("timezone", ""),
        steps=[Step(**step) for step in data.get("steps", [])],
        schedule=None if schedule is None else [ScheduleRange(**r) for r in schedule],
        status=data.get("status"),
    )
