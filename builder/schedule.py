"""The weekly sending schedule as a grid, and a timeline of when each step would fire.

Pure Python, no Django: part of the spec layer, built on spec.py (ScheduleRange, Problem,
validation messages). The schedule page and its script follow the rules written here.

The grid
--------
The page draws a week as 7 day columns (Monday first) × 48 half-hour cells. Cell (weekday, slot)
covers the minutes slot*30 … slot*30+29 of that day. Close's ranges name their last minute
(close-api.md §4), so a painted 16:30 cell ends a range at 16:59 and a day painted to midnight
ends at 23:59. Weekday 1 = Monday … 7 = Sunday.

* cells → ranges: contiguous painted cells of one day merge into one range.
* ranges → cells: a cell is FULL when the ranges cover all 30 of its minutes, PARTIAL when they
  cover some, empty otherwise. A range starting at 09:15 makes the 09:00 cell PARTIAL: the page
  draws the covered part of the cell filled (the lower half here; striped without JavaScript)
  and names the exact minutes ("09:15–09:29") in the cell's description; it is not "selected".
* Editing works on minutes, not cells: painting or erasing a cell changes only its 30 minutes.
  So ranges on the half-hour grid round-trip exactly, and a 09:15 start survives every edit
  that does not touch its cell (painting that cell makes it a full 09:00 cell).
* Canonical form: ranges of one day that overlap or touch (one ends 11:59, the next starts
  12:00) are the same sending hours and become one range. Separate blocks on one day (a lunch
  break) stay separate; spec.validate() warns about them because Close has not confirmed that
  it honours several ranges per day.

The timeline
------------
For an enrollment instant, each step is due `delay` seconds after the previous step fired (the
first: after enrollment). Delays are elapsed time (Close stores them in seconds), so a one-day
delay across a DST change moves the wall-clock time by an hour. A step due outside the schedule
fires at the start of the next open window, read in the sequence's timezone with zoneinfo: a
window that starts inside the spring-forward gap opens at the first real minute after it, and a
window in the repeated autumn hour opens at its first occurrence. Call steps are assumed to be
done when due (Close waits for the call; we cannot know how long).

Warnings (spec.Problem, severity WARNING):
* "no_open_hours": there is a schedule but no valid open minute in it; nothing would ever send.
* "weekend": a step fires on a Saturday or Sunday, in the sequence's timezone or in the viewer's,
  while the team sends on weekdays. "The team sends on weekdays" means the schedule opens on no
  Saturday or Sunday; "Any time" (no schedule) counts as weekdays too, because that is the
  usual mistake (Close then sends on weekends). A schedule with weekend hours is a deliberate
  weekend team and gets no warning. In the sequence's own timezone only "Any time" can land on a
  weekend; with a Mon–Fri schedule in Asia/Tokyo, Monday 09:00 is Sunday evening for a viewer
  in America/New_York, and that is worth a warning too.
* "longer_than_90_days": from enrollment to the last step takes more than 90 days.
"""

from __future__ import annotations

import functools
import json
import zoneinfo
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock

from builder import spec
from builder.spec import WARNING, Problem, ScheduleRange

MINUTES_PER_DAY = 24 * 60
SLOT_MINUTES = 30
SLOTS_PER_DAY = MINUTES_PER_DAY // SLOT_MINUTES  # 48
WEEKDAYS = tuple(range(1, 8))  # 1 = Monday ... 7 = Sunday
WEEKEND = frozenset({6, 7})
FULL, PARTIAL = "full", "partial"
# More blocks than any real week needs (the grid itself can draw at most 7 × 24 = 168): a
# cheap bound that keeps validation and the page fast whatever is posted.
MAX_RANGES = 200
LONG_SEQUENCE = timedelta(days=90)
# The enrollment moments the timeline accepts. datetime stops at years 1 and 9999; a step may
# wait a year and a sequence may have a couple of hundred steps, so the last one of a late
# enrollment must still fit. Nobody plans an enrollment outside these years.
ENROLL_YEARS = (1970, 2999)
# Any valid range recurs weekly; two weeks covers a window lost to a DST gap.
_SEARCH_DAYS = 15

PRESETS = {
    "weekdays": ("Weekdays 9–5", [ScheduleRange(day, "09:00", "16:59") for day in range(1, 6)]),
    "every_day": ("Every day 8–8", [ScheduleRange(day, "08:00", "19:59") for day in WEEKDAYS]),
    "clear": ("Clear", []),
}


class ScheduleInputError(ValueError):
    """Posted schedule data we cannot even read as ranges (wrong shape, far too many)."""


# --- Minutes ---------------------------------------------------------------------------------


def to_minute(hhmm: str) -> int:
    """ "09:15" -> 555."""
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


def from_minute(minute: int) -> str:
    """555 -> "09:15"."""
    return f"{minute // 60:02d}:{minute % 60:02d}"


def slot_time(slot: int) -> str:
    """The start of a half-hour cell: 21 -> "10:30"."""
    return from_minute(slot * SLOT_MINUTES)


Intervals = dict[int, list[tuple[int, int]]]  # weekday -> sorted, disjoint (first, last) minutes


def _intervals(ranges: Iterable[ScheduleRange]) -> Intervals:
    """Per weekday, the covered minutes as merged inclusive intervals (invalid ranges skipped)."""
    by_day: dict[int, list[tuple[int, int]]] = {}
    for r in ranges:
        if spec.is_valid_range(r):  # invalid ones: validate() names them
            by_day.setdefault(r.weekday, []).append((to_minute(r.start), to_minute(r.end)))
    merged: Intervals = {}
    for day in sorted(by_day):
        runs: list[tuple[int, int]] = []
        for first, last in sorted(by_day[day]):
            if runs and first <= runs[-1][1] + 1:  # overlapping or touching
                runs[-1] = (runs[-1][0], max(runs[-1][1], last))
            else:
                runs.append((first, last))
        merged[day] = runs
    return merged


def _ranges(intervals: Intervals) -> list[ScheduleRange]:
    return [
        ScheduleRange(day, from_minute(first), from_minute(last))
        for day in sorted(intervals)
        for first, last in intervals[day]
    ]


def normalize(ranges: Iterable[ScheduleRange]) -> list[ScheduleRange]:
    """The same sending hours in canonical form: by day and start, touching blocks merged.

    Invalid ranges are dropped; validate them first.
    """
    return _ranges(_intervals(ranges))


# --- Grid ------------------------------------------------------------------------------------


def cells_to_ranges(cells: Iterable[tuple[int, int]]) -> list[ScheduleRange]:
    """Painted (weekday, slot) cells as Close ranges, one per run of contiguous cells."""
    by_day: Intervals = {}
    for day, slot in cells:
        if day not in WEEKDAYS or not 0 <= slot < SLOTS_PER_DAY:
            raise ValueError(f"no such cell: weekday {day!r}, slot {slot!r}")
        first = slot * SLOT_MINUTES
        by_day.setdefault(day, []).append((first, first + SLOT_MINUTES - 1))
    return normalize(
        ScheduleRange(day, from_minute(first), from_minute(last))
        for day, runs in by_day.items()
        for first, last in runs
    )


def cell_states(ranges: Iterable[ScheduleRange]) -> dict[tuple[int, int], str]:
    """(weekday, slot) -> FULL or PARTIAL for every cell the ranges touch; others are empty."""
    states = {}
    for day, runs in _intervals(ranges).items():
        for first, last in runs:
            for slot in range(first // SLOT_MINUTES, last // SLOT_MINUTES + 1):
                covered = _covered_in_slot(runs, slot)
                states[(day, slot)] = FULL if covered == SLOT_MINUTES else PARTIAL
    return states


def ranges_to_cells(ranges: Iterable[ScheduleRange]) -> set[tuple[int, int]]:
    """The cells the grid shows as painted (fully covered)."""
    return {cell for cell, state in cell_states(ranges).items() if state == FULL}


def _covered_in_slot(runs: list[tuple[int, int]], slot: int) -> int:
    lo, hi = slot * SLOT_MINUTES, slot * SLOT_MINUTES + SLOT_MINUTES - 1
    return sum(max(0, min(hi, last) - max(lo, first) + 1) for first, last in runs)


def set_cells(
    ranges: Iterable[ScheduleRange], cells: Iterable[tuple[int, int]], *, is_open: bool
) -> list[ScheduleRange]:
    """Paint (is_open=True) or erase cells; minutes outside those cells stay exactly as they were.

    This is what the page's script does on a drag, a Space press or a day-header click.
    """
    minutes: dict[int, set[int]] = {}
    for day, runs in _intervals(ranges).items():
        minutes[day] = {m for first, last in runs for m in range(first, last + 1)}
    for day, slot in cells:
        cell = set(range(slot * SLOT_MINUTES, (slot + 1) * SLOT_MINUTES))
        day_minutes = minutes.setdefault(day, set())
        if is_open:
            day_minutes |= cell
        else:
            day_minutes -= cell
    intervals: Intervals = {}
    for day, day_minutes in minutes.items():
        runs: list[tuple[int, int]] = []
        for minute in sorted(day_minutes):
            if runs and minute == runs[-1][1] + 1:
                runs[-1] = (runs[-1][0], minute)
            else:
                runs.append((minute, minute))
        if runs:
            intervals[day] = runs
    return _ranges(intervals)


def toggle_day(ranges: Sequence[ScheduleRange], weekday: int) -> list[ScheduleRange]:
    """A click on a day's header. A day with any sending hours is cleared. An empty day gets the
    hours of the nearest earlier day that has some (Saturday after a Mon–Fri 9–5 week gets
    09:00–16:59), or the whole day (00:00–23:59) when no day has hours.

    Invalid ranges are kept as they are, for validation to name.
    """
    valid = normalize(ranges)
    invalid = [r for r in ranges if not spec.is_valid_range(r)]
    others = [r for r in valid if r.weekday != weekday]
    if len(others) < len(valid):
        return others + invalid
    source = _toggle_source(valid, weekday)
    if source is None:
        added = [ScheduleRange(weekday, "00:00", "23:59")]
    else:
        added = [ScheduleRange(weekday, r.start, r.end) for r in valid if r.weekday == source]
    return normalize(others + added) + invalid


def _toggle_source(valid: list[ScheduleRange], weekday: int) -> int | None:
    days = {r.weekday for r in valid}
    for back in range(1, 7):
        source = (weekday - 1 - back) % 7 + 1
        if source in days:
            return source
    return None


def describe_toggle(ranges: Sequence[ScheduleRange], weekday: int) -> str:
    """What clicking the day's header will do, for its tooltip."""
    name = spec.weekday_name(weekday)
    valid = normalize(ranges)
    if any(r.weekday == weekday for r in valid):
        return f"Clear {name}"
    source = _toggle_source(valid, weekday)
    if source is None:
        return f"Open all of {name}"
    hours = ", ".join(f"{r.start}–{r.end}" for r in valid if r.weekday == source)
    return f"Give {name} the hours of {spec.weekday_name(source)} ({hours})"


@dataclass(frozen=True)
class GridCell:
    weekday: int
    slot: int
    name: str  # accessible name, "Tuesday 10:30"
    state: str  # FULL, PARTIAL or ""
    covered: str = ""  # for a PARTIAL cell, the minutes it covers: "09:15–09:29"


@dataclass(frozen=True)
class GridRow:
    slot: int
    time: str  # "10:30"
    on_the_hour: bool
    cells: tuple[GridCell, ...]


def grid(ranges: Iterable[ScheduleRange]) -> list[GridRow]:
    """The 48 rows × 7 days the page draws, with each cell's state."""
    intervals = _intervals(ranges)
    rows = []
    for slot in range(SLOTS_PER_DAY):
        cells = []
        for day in WEEKDAYS:
            cells.append(_grid_cell(day, slot, intervals.get(day, [])))
        rows.append(GridRow(slot, slot_time(slot), slot % 2 == 0, tuple(cells)))
    return rows


def _grid_cell(day: int, slot: int, runs: list[tuple[int, int]]) -> GridCell:
    name = f"{spec.weekday_name(day)} {slot_time(slot)}"
    lo, hi = slot * SLOT_MINUTES, (slot + 1) * SLOT_MINUTES - 1
    parts = [(max(lo, first), min(hi, last)) for first, last in runs if first <= hi and last >= lo]
    covered = sum(last - first + 1 for first, last in parts)
    if not covered:
        return GridCell(day, slot, name, "")
    if covered == SLOT_MINUTES:
        return GridCell(day, slot, name, FULL)
    text = ", ".join(f"{from_minute(first)}–{from_minute(last)}" for first, last in parts)
    return GridCell(day, slot, name, PARTIAL, text)


# --- Reading posted schedules ------------------------------------------------------------------


def parse_ranges(items) -> list[ScheduleRange]:
    """Ranges from posted data: a list of {"weekday", "start", "end"} objects.

    Raises ScheduleInputError when the data is not shaped like ranges at all. Values that are
    readable but wrong (weekday 8, "25:00", an end before its start) come back as they are, so
    spec.validate() can name the problem next to the right range.
    """
    if not isinstance(items, list):
        raise ScheduleInputError("The sending hours must be a list of day, start and end.")
    if len(items) > MAX_RANGES:
        raise ScheduleInputError(
            f"{len(items)} blocks of sending hours is far too many; "
            f"a schedule can have at most {MAX_RANGES}."
        )
    ranges = []
    for number, item in enumerate(items, start=1):
        if not isinstance(item, Mapping) or not {"weekday", "start", "end"} <= item.keys():
            raise ScheduleInputError(
                f"Sending hours row {number} needs a weekday, a start and an end."
            )
        ranges.append(
            ScheduleRange(
                weekday=_read_weekday(item["weekday"]),
                start=_read_text(item["start"]),
                end=_read_text(item["end"]),
            )
        )
    return ranges


def parse_ranges_json(text: str) -> list[ScheduleRange]:
    try:
        items = json.loads(text)
    except (ValueError, RecursionError):
        raise ScheduleInputError(
            "The sending hours could not be read (not valid JSON). Reload the page and try again."
        ) from None
    return parse_ranges(items)


def _read_weekday(value):
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return value if isinstance(value, int) and not isinstance(value, bool) else str(value)


def _read_text(value) -> str:
    return value.strip()[:20] if isinstance(value, str) else ("" if value is None else str(value))


# --- Describing changes ------------------------------------------------------------------------


def describe(ranges: Sequence[ScheduleRange] | None) -> str:
    """ "Mon–Fri 09:00–16:59", "Any time", "No sending hours" (canonical form first)."""
    return spec.describe_schedule(None if ranges is None else normalize(ranges))


# --- Timezones ---------------------------------------------------------------------------------


@functools.cache
def _timezone_lookup() -> dict[str, str]:
    names = zoneinfo.available_timezones()
    return {name.lower(): name for name in names}


def resolve_timezone(text: str) -> str:
    """The canonical IANA name a person meant: case and spaces forgiven ("america/new york"),
    common names and abbreviations understood ("PST", "eastern", "US/Pacific", "CET", "utc");
    see spec.canonical_timezone.

    Returns the input stripped when nothing matches; spec.validate() then says why, with
    suggestions.
    """
    return spec.canonical_timezone(text) or (text or "").strip()


def is_timezone(name: str) -> bool:
    return bool(name) and name in _timezone_lookup().values()


def utc_offset(name: str, at: datetime) -> str:
    """ "UTC-04:00" for a zone at an instant ("UTC+00:00" for UTC)."""
    offset = at.astimezone(zoneinfo.ZoneInfo(name)).utcoffset() or timedelta()
    sign = "-" if offset < timedelta() else "+"
    minutes = abs(int(offset.total_seconds())) // 60
    return f"UTC{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def timezone_choices(at: datetime) -> list[tuple[str, str]]:
    """(name, "UTC+05:30") for every IANA zone, by name."""
    return [(name, utc_offset(name, at)) for name in sorted(_timezone_lookup().values())]


# --- Timeline ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Firing:
    step: int  # 0-based index
    delay: int  # seconds after the previous step (first: after enrollment)
    due: datetime | None  # when the delay is over (None when an earlier step never fires)
    at: datetime | None  # when Close would send it: `due`, or the next open minute; None = never

    @property
    def held(self) -> bool:
        """Due outside the schedule, so it waits for the next open window."""
        return self.at is not None and self.due is not None and self.at != self.due


@dataclass(frozen=True)
class Timeline:
    enrolled_at: datetime
    firings: tuple[Firing, ...]
    problems: tuple[Problem, ...]

    @property
    def length(self) -> timedelta | None:
        """Enrollment to the last step; None if a step never fires or there are no steps."""
        if not self.firings or self.firings[-1].at is None:
            return None
        return self.firings[-1].at - self.enrolled_at


class _Week:
    """The open minutes of a weekly schedule in one timezone."""

    def __init__(self, ranges: Iterable[ScheduleRange], tz: zoneinfo.ZoneInfo):
        self.tz = tz
        self.runs = _intervals(ranges)

    @property
    def has_open_hours(self) -> bool:
        return bool(self.runs)

    def is_open(self, instant: datetime) -> bool:
        local = instant.astimezone(self.tz)
        minute = local.hour * 60 + local.minute
        runs = self.runs.get(local.isoweekday(), ())
        return any(first <= minute <= last for first, last in runs)

    def next_open(self, instant: datetime) -> datetime | None:
        """`instant` if the schedule is open then, else the first open minute after it."""
        if self.is_open(instant):
            return instant
        today = instant.astimezone(self.tz).date()
        for offset in range(_SEARCH_DAYS):
            day = today + timedelta(days=offset)
            starts = [
                opening
                for first, _last in self.runs.get(day.isoweekday(), ())
                for opening in self._openings(day, first)
                if opening > instant and self.is_open(opening)
            ]
            if starts:
                return min(starts)
        return None

    def _openings(self, day: date, minute: int) -> list[datetime]:
        """The instants a window starting at wall time `minute` on `day` may open.

        Both folds: a wall time in the repeated autumn hour happens twice. A wall time in the
        spring gap does not exist; fold 0 maps it past the gap (02:00 EST is 03:00 EDT).
        """
        wall = clock(minute // 60, minute % 60)
        return [
            datetime.combine(day, wall, tzinfo=self.tz).replace(fold=fold).astimezone(UTC)
            for fold in (0, 1)
        ]


def build_timeline(
    *,
    delays: Sequence[int],
    schedule: Sequence[ScheduleRange] | None,
    timezone: str,
    enrolled_at: datetime,
    viewer_timezone: str | None = None,
) -> Timeline:
    """When each step fires for an enrollment at `enrolled_at` (an aware datetime).

    `schedule` None means "any time". Returned datetimes are in UTC; show them in any zone.
    """
    if enrolled_at.tzinfo is None:
        raise ValueError("enrolled_at must be timezone-aware")
    tz = zoneinfo.ZoneInfo(timezone)
    enrolled_at = enrolled_at.astimezone(UTC)
    week = None if schedule is None else _Week(schedule, tz)
    firings = []
    previous: datetime | None = enrolled_at
    for index, delay in enumerate(delays):
        due = None if previous is None else previous + timedelta(seconds=delay)
        at = due if due is None or week is None else week.next_open(due)
        firings.append(Firing(index, delay, due, at))
        previous = at
    timeline = Timeline(enrolled_at, tuple(firings), ())
    problems = _timeline_problems(timeline, schedule, week, tz, viewer_timezone)
    return Timeline(enrolled_at, tuple(firings), tuple(problems))


def _timeline_problems(timeline, schedule, week, tz, viewer_timezone) -> list[Problem]:
    problems = []
    if week is not None and not week.has_open_hours:
        problems.append(
            Problem(
                "schedule",
                WARNING,
                "The schedule has no open hours, so Close would never send these steps. "
                "Paint some sending hours, or choose “Send at any time”.",
                "no_open_hours",
            )
        )
    team_sends_on_weekdays = schedule is None or not any(
        r.weekday in WEEKEND for r in normalize(schedule)
    )
    if team_sends_on_weekdays:
        viewer_tz = zoneinfo.ZoneInfo(viewer_timezone) if viewer_timezone else None
        for firing in timeline.firings:
            problem = _weekend_problem(firing, tz, viewer_tz)
            if problem:
                problems.append(problem)
    length = timeline.length
    if length is not None and length > LONG_SEQUENCE:
        problems.append(
            Problem(
                "steps",
                WARNING,
                f"From enrollment to the last step takes {describe_length(length)}, more than "
                f"{LONG_SEQUENCE.days} days; leads may have gone cold (or bought) long before.",
                "longer_than_90_days",
            )
        )
    return problems


def _weekend_problem(firing: Firing, tz, viewer_tz) -> Problem | None:
    if firing.at is None:
        return None
    label = f"Step {firing.step + 1}"
    local = firing.at.astimezone(tz)
    if local.isoweekday() in WEEKEND:
        message = (
            f"{label} fires on {format_moment(firing.at, tz)}, a weekend: with “Send at any "
            "time” Close sends on weekends too. Choose sending hours to hold it until Monday."
        )
        return Problem(f"steps.{firing.step}", WARNING, message, "weekend")
    if viewer_tz is not None and viewer_tz.key != tz.key:
        seen = firing.at.astimezone(viewer_tz)
        if seen.isoweekday() in WEEKEND:
            message = (
                f"{label} fires on {format_moment(firing.at, tz)} in {tz.key}, which is "
                f"{format_moment(firing.at, viewer_tz)} for you in {viewer_tz.key}: a weekend "
                "where you are."
            )
            return Problem(f"steps.{firing.step}", WARNING, message, "weekend")
    return None


def format_moment(instant: datetime, tz: zoneinfo.ZoneInfo) -> str:
    """ "Mon 9 Mar 2026, 09:00 EDT" in `tz`."""
    local = instant.astimezone(tz)
    return f"{local:%a} {local.day} {local:%b %Y, %H:%M %Z}"


def describe_length(length: timedelta) -> str:
    """ "97 days", "3 days 4 hours", "45 minutes" (rounded down to the minute)."""
    return spec.describe_delay(int(length.total_seconds()) // 60 * 60)
