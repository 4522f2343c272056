"""builder/schedule.py: the grid <-> Close ranges conversion and the timeline (pure Python)."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from builder import schedule
from builder.schedule import (
    FULL,
    PARTIAL,
    PRESETS,
    ScheduleInputError,
    build_timeline,
    cell_states,
    cells_to_ranges,
    describe_toggle,
    grid,
    normalize,
    parse_ranges,
    parse_ranges_json,
    ranges_to_cells,
    resolve_timezone,
    set_cells,
    toggle_day,
    utc_offset,
)
from builder.spec import ScheduleRange, validate
from tests.builder.test_spec import valid_spec

R = ScheduleRange
NEW_YORK = ZoneInfo("America/New_York")
WEEKDAYS_9_5 = PRESETS["weekdays"][1]
DAY = 86400


def cells(weekday, first_time, last_time):
    """The cells from `first_time` to `last_time` (both cell starts) on one day."""
    first, last = schedule.to_minute(first_time) // 30, schedule.to_minute(last_time) // 30
    return {(weekday, slot) for slot in range(first, last + 1)}


# --- grid -> ranges ------------------------------------------------------------------------------
def test_a_painted_run_becomes_one_range_ending_on_its_last_minute():
    assert cells_to_ranges(cells(2, "10:00", "11:30")) == [R(2, "10:00", "11:59")]


def test_painting_to_1700_ends_at_1659_and_to_midnight_at_2359():
    assert cells_to_ranges(cells(1, "09:00", "16:30")) == [R(1, "09:00", "16:59")]
    assert cells_to_ranges(cells(7, "22:00", "23:30")) == [R(7, "22:00", "23:59")]
    assert cells_to_ranges(cells(3, "00:00", "23:30")) == [R(3, "00:00", "23:59")]


def test_separate_runs_stay_separate_and_days_are_in_week_order():
    painted = cells(5, "13:00", "16:30") | cells(1, "09:00", "11:30") | cells(5, "09:00", "11:30")

    assert cells_to_ranges(painted) == [
        R(1, "09:00", "11:59"),
        R(5, "09:00", "11:59"),
        R(5, "13:00", "16:59"),
    ]


def test_weekday_numbers_are_iso_monday_first():
    assert cells_to_ranges({(1, 0)}) == [R(1, "00:00", "00:29")]
    assert cells_to_ranges({(7, 47)}) == [R(7, "23:30", "23:59")]


@pytest.mark.parametrize("cell", [(0, 0), (8, 0), (1, -1), (1, 48)])
def test_cells_outside_the_week_are_refused(cell):
    with pytest.raises(ValueError, match="no such cell"):
        cells_to_ranges({cell})


# --- ranges -> grid ------------------------------------------------------------------------------
def test_close_example_schedule_paints_mon_to_fri_9_to_5():
    painted = ranges_to_cells(WEEKDAYS_9_5)

    assert len(painted) == 5 * 16
    assert (1, 18) in painted and (5, 33) in painted  # Monday 09:00, Friday 16:30
    assert (1, 34) not in painted and (6, 18) not in painted  # Monday 17:00, Saturday


def test_off_grid_minutes_make_partial_cells_and_stay_exact():
    ranges = [R(1, "09:15", "16:44")]

    states = cell_states(ranges)

    assert states[(1, 18)] == PARTIAL  # 09:00 cell, covered from 09:15
    assert states[(1, 19)] == FULL
    assert states[(1, 33)] == PARTIAL  # 16:30 cell, covered to 16:44
    assert (1, 34) not in states
    assert ranges_to_cells(ranges) == cells(1, "09:30", "16:00")


def test_grid_describes_a_partial_cell_exactly():
    row = grid([R(1, "09:15", "16:59")])[18]
    monday = row.cells[0]

    assert (row.time, monday.name, monday.state) == ("09:00", "Monday 09:00", PARTIAL)
    assert monday.covered == "09:15–09:29"
    assert row.cells[1].state == ""


def test_grid_has_48_rows_of_7_named_cells():
    rows = grid(WEEKDAYS_9_5)

    assert len(rows) == 48 and all(len(row.cells) == 7 for row in rows)
    assert rows[21].cells[1].name == "Tuesday 10:30"
    assert rows[21].cells[1].state == FULL
    assert [row.on_the_hour for row in rows[:3]] == [True, False, True]


def test_invalid_ranges_are_left_out_of_the_grid():
    assert (
        cell_states([R(8, "09:00", "09:29"), R(1, "25:00", "26:00"), R(2, "10:00", "09:00")]) == {}
    )


# --- editing keeps exact minutes -----------------------------------------------------------------
def test_erasing_a_cell_keeps_the_exact_minutes_elsewhere():
    ranges = [R(1, "09:15", "16:59")]

    assert set_cells(ranges, {(1, 20)}, is_open=False) == [
        R(1, "09:15", "09:59"),
        R(1, "10:30", "16:59"),
    ]


def test_painting_a_partial_cell_fills_it():
    assert set_cells([R(1, "09:15", "16:59")], {(1, 18)}, is_open=True) == [R(1, "09:00", "16:59")]


def test_touching_ranges_merge_but_a_lunch_break_stays():
    assert normalize([R(2, "12:00", "16:59"), R(2, "09:00", "11:59")]) == [R(2, "09:00", "16:59")]
    assert normalize([R(2, "13:00", "16:59"), R(2, "09:00", "11:59")]) == [
        R(2, "09:00", "11:59"),
        R(2, "13:00", "16:59"),
    ]


def test_a_lunch_break_is_allowed_with_the_specs_warning():
    lunch = cells_to_ranges(cells(2, "09:00", "11:30") | cells(2, "13:00", "16:30"))

    problems = validate(valid_spec(schedule=lunch))

    assert [(p.severity, p.code) for p in problems] == [("warning", "several_ranges_per_day")]


# --- day headers and presets ---------------------------------------------------------------------
def test_day_header_clears_a_day_with_hours():
    assert toggle_day(WEEKDAYS_9_5, 5) == WEEKDAYS_9_5[:4]
    assert describe_toggle(WEEKDAYS_9_5, 5) == "Clear Friday"


def test_day_header_fills_an_empty_day_like_the_nearest_earlier_day():
    result = toggle_day(WEEKDAYS_9_5, 6)

    assert result == [*WEEKDAYS_9_5, R(6, "09:00", "16:59")]
    assert describe_toggle(WEEKDAYS_9_5, 6) == "Give Saturday the hours of Friday (09:00–16:59)"
    # Monday looks back past the weekend to Friday when only Friday has hours.
    assert toggle_day([R(5, "10:00", "11:59")], 1) == [
        R(1, "10:00", "11:59"),
        R(5, "10:00", "11:59"),
    ]


def test_day_header_on_an_empty_week_opens_the_whole_day():
    assert toggle_day([], 3) == [R(3, "00:00", "23:59")]
    assert describe_toggle([], 3) == "Open all of Wednesday"


def test_day_header_keeps_invalid_ranges_for_validation():
    broken = R(2, "12:00", "10:00")

    assert toggle_day([*WEEKDAYS_9_5, broken], 5)[-1] == broken


def test_presets():
    assert describe_presets() == {
        "weekdays": ("Weekdays 9–5", "Mon–Fri 09:00–16:59"),
        "every_day": ("Every day 8–8", "Mon–Sun 08:00–19:59"),
        "clear": ("Clear", "No sending hours"),
    }


def describe_presets():
    return {key: (label, schedule.describe(ranges)) for key, (label, ranges) in PRESETS.items()}


# --- property tests: round trips -----------------------------------------------------------------
all_cells = st.sets(st.tuples(st.integers(1, 7), st.integers(0, 47)), max_size=7 * 48)


@given(all_cells)
def test_cells_to_ranges_to_cells_is_exact(painted):
    ranges = cells_to_ranges(painted)

    assert ranges_to_cells(ranges) == painted
    assert all(state == FULL for state in cell_states(ranges).values())
    errors = [p.code for p in validate(valid_spec(schedule=ranges)) if p.severity == "error"]
    # An empty grid never sends: the one error, until "Send at any time" is chosen.
    assert errors == ([] if painted else ["schedule_empty"])


@given(all_cells)
def test_ranges_on_the_half_hour_grid_round_trip_exactly(painted):
    ranges = cells_to_ranges(painted)  # every canonical on-grid schedule arises this way

    assert cells_to_ranges(ranges_to_cells(ranges)) == ranges


@st.composite
def minute_ranges(draw):
    """Valid ranges with any minutes (overlaps and touching blocks included)."""
    result = []
    for _ in range(draw(st.integers(0, 12))):
        start = draw(st.integers(0, 1438))
        end = draw(st.integers(start + 1, 1439))
        result.append(
            R(draw(st.integers(1, 7)), schedule.from_minute(start), schedule.from_minute(end))
        )
    return result


def open_minutes(ranges):
    return {
        (r.weekday, m)
        for r in ranges
        for m in range(schedule.to_minute(r.start), schedule.to_minute(r.end) + 1)
    }


@given(minute_ranges())
def test_any_ranges_keep_their_exact_minutes_and_show_full_and_partial_cells(ranges):
    canonical = normalize(ranges)
    minutes = open_minutes(ranges)

    assert open_minutes(canonical) == minutes
    assert normalize(canonical) == canonical
    for (day, slot), state in cell_states(ranges).items():
        covered = sum((day, m) in minutes for m in range(slot * 30, slot * 30 + 30))
        assert state == (FULL if covered == 30 else PARTIAL)
        assert covered > 0


@given(minute_ranges(), all_cells, st.booleans())
def test_painting_changes_only_the_painted_cells_minutes(ranges, painted, is_open):
    before = open_minutes(ranges)

    after = open_minutes(set_cells(ranges, painted, is_open=is_open))

    in_cells = {(day, m) for day, slot in painted for m in range(slot * 30, slot * 30 + 30)}
    assert after - in_cells == before - in_cells
    assert (in_cells <= after) if is_open else not (in_cells & after)


# --- reading posted ranges -----------------------------------------------------------------------
def test_parse_reads_numbers_and_strings_and_keeps_bad_values_for_validation():
    parsed = parse_ranges(
        [
            {"weekday": "2", "start": "10:00", "end": "11:59"},
            {"weekday": 8, "start": "25:00", "end": "09:00"},
        ]
    )

    assert parsed == [R(2, "10:00", "11:59"), R(8, "25:00", "09:00")]
    codes = [p.code for p in validate(valid_spec(schedule=parsed))]
    assert codes == ["weekday_invalid", "time_invalid"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "not valid JSON"),
        ('{"weekday": 1}', "must be a list"),
        ("[1, 2]", "row 1 needs a weekday, a start and an end"),
        ('[{"weekday": 1, "start": "09:00"}]', "needs a weekday, a start and an end"),
        (
            "[" + ",".join(['{"weekday":1,"start":"09:00","end":"09:29"}'] * 10_000) + "]",
            "at most 200",
        ),
        ("[" * 100_000, "not valid JSON"),
    ],
)
def test_parse_refuses_data_that_is_not_ranges(text, message):
    with pytest.raises(ScheduleInputError, match=message):
        parse_ranges_json(text)


# --- timezones -----------------------------------------------------------------------------------
def test_timezone_names_forgive_case_and_spaces():
    assert resolve_timezone(" america/new york ") == "America/New_York"
    assert resolve_timezone("Mars/Olympus") == "Mars/Olympus"


def test_utc_offsets_follow_dst():
    assert utc_offset("America/New_York", datetime(2026, 1, 15, tzinfo=UTC)) == "UTC-05:00"
    assert utc_offset("America/New_York", datetime(2026, 7, 15, tzinfo=UTC)) == "UTC-04:00"
    assert utc_offset("Asia/Kolkata", datetime(2026, 7, 15, tzinfo=UTC)) == "UTC+05:30"
    assert utc_offset("UTC", datetime(2026, 7, 15, tzinfo=UTC)) == "UTC+00:00"


# --- timeline ------------------------------------------------------------------------------------
def ny(*args):
    return datetime(*args, tzinfo=NEW_YORK)


def fire_times(timeline, tz=NEW_YORK):
    return [
        f.at.astimezone(tz).strftime("%a %Y-%m-%d %H:%M %Z") if f.at else None
        for f in timeline.firings
    ]


def codes(timeline):
    return [(p.path, p.code) for p in timeline.problems]


def test_delays_count_from_the_previous_step_and_wait_for_open_hours():
    timeline = build_timeline(
        delays=[0, DAY, 3 * DAY, 2 * 3600],
        schedule=WEEKDAYS_9_5,
        timezone="America/New_York",
        enrolled_at=ny(2026, 6, 3, 20, 15),  # Wednesday evening
    )

    assert fire_times(timeline) == [
        "Thu 2026-06-04 09:00 EDT",  # enrolled after hours: first step waits for the morning
        "Fri 2026-06-05 09:00 EDT",  # one day after the first step fired
        "Mon 2026-06-08 09:00 EDT",  # due Monday 09:00
        "Mon 2026-06-08 11:00 EDT",
    ]
    assert [f.held for f in timeline.firings] == [True, False, False, False]
    assert timeline.firings[0].due == ny(2026, 6, 3, 20, 15)
    assert timeline.problems == ()


def test_the_end_minute_is_inclusive():
    at_1659 = build_timeline(
        delays=[0],
        schedule=WEEKDAYS_9_5,
        timezone="America/New_York",
        enrolled_at=ny(2026, 6, 3, 16, 59, 30),
    )
    at_1700 = build_timeline(
        delays=[0],
        schedule=WEEKDAYS_9_5,
        timezone="America/New_York",
        enrolled_at=ny(2026, 6, 3, 17, 0),
    )

    assert fire_times(at_1659) == ["Wed 2026-06-03 16:59 EDT"]
    assert fire_times(at_1700) == ["Thu 2026-06-04 09:00 EDT"]


def test_a_sequence_across_both_2026_dst_changes_in_new_york():
    """Delays are elapsed seconds; open hours are wall-clock hours in the sequence's zone."""
    timeline = build_timeline(
        delays=[0, 2 * DAY, 3 * DAY, 229 * DAY, 3 * DAY, 12 * 3600],
        schedule=WEEKDAYS_9_5,
        timezone="America/New_York",
        enrolled_at=ny(2026, 3, 6, 10, 0),  # Friday before the spring change (Sun 8 March)
    )

    assert fire_times(timeline) == [
        "Fri 2026-03-06 10:00 EST",
        # 48 hours later is Sunday 11:00 EDT (the clocks went forward): held until Monday 09:00.
        "Mon 2026-03-09 09:00 EDT",
        "Thu 2026-03-12 09:00 EDT",
        "Tue 2026-10-27 09:00 EDT",
        # 72 hours after Tue 09:00 EDT is Fri 08:00 EDT: held to 09:00 the same day.
        "Fri 2026-10-30 09:00 EDT",
        # 12 hours later is Fri 21:00 EDT, after hours; the clocks go back on Sun 1 November,
        # so Monday's 09:00 is EST.
        "Mon 2026-11-02 09:00 EST",
    ]
    utc = [f.at.astimezone(UTC).strftime("%m-%d %H:%M") for f in timeline.firings]
    assert utc[1] == "03-09 13:00" and utc[5] == "11-02 14:00"
    assert timeline.firings[1].due == datetime(2026, 3, 8, 15, 0, tzinfo=UTC)  # Sun 11:00 EDT
    assert ("steps", "longer_than_90_days") in codes(timeline)


def test_an_elapsed_day_across_the_november_change_moves_the_wall_clock():
    timeline = build_timeline(
        delays=[0, 3 * DAY],
        schedule=WEEKDAYS_9_5,
        timezone="America/New_York",
        enrolled_at=ny(2026, 10, 30, 16, 0),
    )

    # 72 hours after Fri 16:00 EDT is Mon 15:00 EST: inside the hours, so it fires then.
    assert fire_times(timeline) == ["Fri 2026-10-30 16:00 EDT", "Mon 2026-11-02 15:00 EST"]


def test_a_window_inside_the_spring_gap_opens_after_it():
    sunday_night = [R(7, "02:00", "03:29")]

    timeline = build_timeline(
        delays=[0],
        schedule=sunday_night,
        timezone="America/New_York",
        enrolled_at=ny(2026, 3, 7, 12, 0),
    )

    # 02:00 does not exist on 8 March: the first open minute is 03:00 EDT.
    assert fire_times(timeline) == ["Sun 2026-03-08 03:00 EDT"]


def test_a_window_in_the_repeated_autumn_hour_opens_at_its_second_occurrence_if_needed():
    early_sunday = [R(7, "01:00", "01:29")]
    # 01:45 EDT, the first time through the hour: the window (01:00-01:29) has passed once,
    # but comes round again at 01:00 EST.
    enrolled = datetime(2026, 11, 1, 5, 45, tzinfo=UTC)

    timeline = build_timeline(
        delays=[0], schedule=early_sunday, timezone="America/New_York", enrolled_at=enrolled
    )

    assert timeline.firings[0].at == datetime(2026, 11, 1, 6, 0, tzinfo=UTC)  # 01:00 EST


def test_any_time_sends_when_due_and_warns_about_weekends():
    timeline = build_timeline(
        delays=[0, DAY],
        schedule=None,
        timezone="America/New_York",
        enrolled_at=ny(2026, 6, 5, 22, 0),  # Friday night
    )

    assert fire_times(timeline) == ["Fri 2026-06-05 22:00 EDT", "Sat 2026-06-06 22:00 EDT"]
    assert codes(timeline) == [("steps.1", "weekend")]
    assert "with “Send at any time” Close sends on weekends too" in timeline.problems[0].message


def test_weekend_warning_in_the_viewers_zone():
    timeline = build_timeline(
        delays=[0],
        schedule=WEEKDAYS_9_5,
        timezone="Asia/Tokyo",
        enrolled_at=datetime(2026, 6, 7, 23, 0, tzinfo=UTC),  # Monday 08:00 in Tokyo
        viewer_timezone="America/New_York",
    )

    assert fire_times(timeline, ZoneInfo("Asia/Tokyo")) == ["Mon 2026-06-08 09:00 JST"]
    assert codes(timeline) == [("steps.0", "weekend")]
    assert "which is Sun 7 Jun 2026, 20:00 EDT for you in America/New_York" in (
        timeline.problems[0].message
    )


def test_no_weekend_warning_for_a_team_that_sends_on_weekends():
    with_saturday = [*WEEKDAYS_9_5, R(6, "10:00", "13:59")]

    timeline = build_timeline(
        delays=[0],
        schedule=with_saturday,
        timezone="America/New_York",
        enrolled_at=ny(2026, 6, 6, 11, 0),
        viewer_timezone="Asia/Tokyo",
    )

    assert fire_times(timeline) == ["Sat 2026-06-06 11:00 EDT"]
    assert timeline.problems == ()


def test_no_open_hours_means_never():
    timeline = build_timeline(
        delays=[0, DAY], schedule=[], timezone="America/New_York", enrolled_at=ny(2026, 6, 3, 9, 0)
    )

    assert [f.at for f in timeline.firings] == [None, None]
    assert codes(timeline) == [("schedule", "no_open_hours")]
    assert timeline.length is None


def test_longer_than_90_days_is_a_warning_and_90_exactly_is_not():
    def length_codes(days):
        timeline = build_timeline(
            delays=[0, days * DAY],
            schedule=None,
            timezone="UTC",
            enrolled_at=datetime(2026, 6, 1, 12, tzinfo=UTC),  # a Monday
        )
        return [p.code for p in timeline.problems if p.code != "weekend"], timeline.length

    assert length_codes(90) == ([], timedelta(days=90))
    codes_91, length = length_codes(91)
    assert codes_91 == ["longer_than_90_days"] and length == timedelta(days=91)


def test_enrollment_must_be_timezone_aware():
    with pytest.raises(ValueError, match="aware"):
        build_timeline(delays=[0], schedule=None, timezone="UTC", enrolled_at=datetime(2026, 1, 1))


# --- property tests: the timeline ----------------------------------------------------------------
ZONES = ["America/New_York", "Europe/London", "Australia/Lord_Howe", "Asia/Kolkata", "UTC"]


@settings(max_examples=150, deadline=None)
@given(
    painted=all_cells,
    delays=st.lists(st.integers(0, 40 * DAY), max_size=8),
    zone=st.sampled_from(ZONES),
    enrolled=st.datetimes(
        min_value=datetime(2026, 1, 1), max_value=datetime(2026, 12, 31), timezones=st.just(UTC)
    ),
)
def test_timeline_is_monotonic_and_only_fires_in_open_hours(painted, delays, zone, enrolled):
    ranges = cells_to_ranges(painted)
    tz = ZoneInfo(zone)

    timeline = build_timeline(delays=delays, schedule=ranges, timezone=zone, enrolled_at=enrolled)

    previous = timeline.enrolled_at
    open_cells = ranges_to_cells(ranges)
    for firing in timeline.firings:
        if not ranges:
            assert firing.at is None
            continue
        local = firing.at.astimezone(tz)
        assert firing.at >= firing.due == previous + timedelta(seconds=firing.delay)
        assert (local.isoweekday(), (local.hour * 60 + local.minute) // 30) in open_cells
        if firing.at != firing.due:  # held: it waited no longer than a week, to a window start
            assert firing.at - firing.due <= timedelta(days=8)
            assert local.minute % 30 == 0 and local.second == 0
        previous = firing.at


@settings(max_examples=100, deadline=None)
@given(
    delays=st.lists(st.integers(0, 10 * DAY), max_size=8),
    zone=st.sampled_from(ZONES),
    enrolled=st.datetimes(
        min_value=datetime(2026, 1, 1), max_value=datetime(2026, 12, 31), timezones=st.just(UTC)
    ),
)
def test_any_time_fires_exactly_when_due(delays, zone, enrolled):
    timeline = build_timeline(delays=delays, schedule=None, timezone=zone, enrolled_at=enrolled)

    assert [f.at for f in timeline.firings] == [
        enrolled + timedelta(seconds=sum(delays[: i + 1])) for i in range(len(delays))
    ]
