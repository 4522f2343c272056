"""The Schedule page: saving hours, timezone and the any-time switch, refusals, the preview."""

import json
import re
from datetime import UTC, datetime
from html import unescape

import pytest
from django.test import Client
from django.urls import reverse

from builder import schedule
from builder.models import Revision, Sequence, Step
from tests.conftest import make_user

pytestmark = pytest.mark.django_db

WEEKDAYS_9_5 = "Mon–Fri 09:00–16:59"


def url(sequence):
    return reverse("sequence_schedule", args=[sequence.pk])


def post_data(sequence, ranges, **fields):
    """What the grid script posts: the ranges as one JSON list."""
    return {
        "version": str(sequence.version),
        "timezone": sequence.timezone,
        "has_schedule": "hours",
        "ranges": json.dumps(ranges),
        **fields,
    }


def rows_data(sequence, rows, **fields):
    """What the page posts without JavaScript: one weekday/start/end per time-input row."""
    return {
        "version": str(sequence.version),
        "timezone": sequence.timezone,
        "has_schedule": "hours",
        "weekday": [str(w) for w, _, _ in rows],
        "start": [s for _, s, _ in rows],
        "end": [e for _, _, e in rows],
        **fields,
    }


def saved_ranges(sequence):
    return [
        (r.weekday, f"{r.start:%H:%M}", f"{r.end:%H:%M}") for r in sequence.schedule_ranges.all()
    ]


def state(sequence):
    """Everything a schedule save may change, to check that a refused one changed nothing."""
    sequence.refresh_from_db()
    return (
        sequence.version,
        sequence.timezone,
        sequence.has_schedule,
        saved_ranges(sequence),
        sequence.revisions.count(),
    )


def text(response):
    return response.content.decode()


def cell(html, name):
    """The <td> of the grid cell with that accessible name."""
    match = re.search(rf'<td role="gridcell"[^>]*aria-label="{name}"[^>]*>', html)
    assert match, name
    return match.group(0)


# --- the page ------------------------------------------------------------------------------------
def test_page_shows_the_grid_the_text_and_the_timezone(logged_in, example_sequence):
    before = datetime.now(UTC)
    response = logged_in.get(url(example_sequence))
    after = datetime.now(UTC)

    html = text(response)
    assert response.status_code == 200
    assert html.count('role="gridcell"') == 7 * 48
    assert 'aria-selected="true"' in cell(html, "Monday 09:00")
    assert 'aria-selected="true"' in cell(html, "Friday 16:30")
    assert 'aria-selected="false"' in cell(html, "Friday 17:00")
    assert 'aria-selected="false"' in cell(html, "Saturday 10:00")
    assert f"<strong>{WEEKDAYS_9_5}</strong>" in html
    assert '<label for="id_timezone" id="timezone-title">Timezone</label>' in html
    assert 'value="America/Los_Angeles"' in html
    # The offset now (read on both sides of the request: a DST change may fall in between).
    offsets = {schedule.utc_offset("America/Los_Angeles", moment) for moment in (before, after)}
    assert any(f"there ({offset})" in html for offset in offsets)
    assert '<option value="Europe/Paris" label="UTC+0' in html
    assert 'aria-current="page">Schedule</a>' in html


def test_partial_cells_show_their_exact_minutes(logged_in, example_sequence):
    example_sequence.schedule_ranges.filter(weekday=1).update(start="09:15")

    html = text(logged_in.get(url(example_sequence)))

    monday_nine = cell(html, "Monday 09:00")
    assert 'class="cell partial"' in monday_nine
    assert 'aria-selected="false"' in monday_nine
    assert 'aria-description="Partly open: 09:15–09:29"' in monday_nine
    assert "Mon 09:15–16:59; Tue–Fri 09:00–16:59" in html
    assert 'value="09:15"' in html  # the exact-time row


def test_page_needs_login(client, example_sequence):
    response = client.get(url(example_sequence))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_unknown_sequence_is_404(logged_in):
    assert logged_in.get(reverse("sequence_schedule", args=[999999])).status_code == 404


def test_a_viewer_may_look_but_not_save(client, viewer, example_sequence):
    client.force_login(viewer)
    before = state(example_sequence)

    page = client.get(url(example_sequence))
    response = client.post(url(example_sequence), post_data(example_sequence, []))

    assert page.status_code == 200
    assert "Save schedule" not in text(page)
    assert "only Editors can change it" in text(page)
    assert response.status_code == 403
    assert "Only Editors can change sequences" in text(response)
    assert state(example_sequence) == before


def test_saving_needs_csrf(user, example_sequence):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)

    response = client.post(url(example_sequence), post_data(example_sequence, []))

    assert response.status_code == 403


# --- saving --------------------------------------------------------------------------------------
def test_grid_post_replaces_the_ranges_in_one_revision(logged_in, example_sequence, user):
    ranges = [
        {"weekday": 1, "start": "09:00", "end": "16:59"},
        {"weekday": 2, "start": "10:00", "end": "11:59"},
    ]

    response = logged_in.post(url(example_sequence), post_data(example_sequence, ranges))

    assert response.status_code == 302
    assert response["Location"] == url(example_sequence)
    assert saved_ranges(example_sequence) == [(1, "09:00", "16:59"), (2, "10:00", "11:59")]
    example_sequence.refresh_from_db()
    assert example_sequence.version == 2 and example_sequence.updated_by == user
    revision = example_sequence.revisions.get(number=2)
    assert revision.summary == (f"Schedule: {WEEKDAYS_9_5} → Mon 09:00–16:59; Tue 10:00–11:59")
    assert [r["weekday"] for r in revision.snapshot["schedule"]] == [1, 2]
    follow = logged_in.get(url(example_sequence))
    assert "Saved. Schedule: Mon–Fri 09:00–16:59 → Mon 09:00–16:59; Tue 10:00–11:59." in text(
        follow
    )


def test_time_input_rows_save_exact_minutes_without_javascript(logged_in, example_sequence):
    rows = [(1, "09:15", "16:44"), (3, "08:00", "12:29"), ("", "", "")]

    response = logged_in.post(url(example_sequence), rows_data(example_sequence, rows))

    assert response.status_code == 302
    assert saved_ranges(example_sequence) == [(1, "09:15", "16:44"), (3, "08:00", "12:29")]


def test_touching_blocks_are_saved_as_one(logged_in, example_sequence):
    ranges = [
        {"weekday": 2, "start": "12:00", "end": "16:59"},
        {"weekday": 2, "start": "09:00", "end": "11:59"},
    ]

    logged_in.post(url(example_sequence), post_data(example_sequence, ranges))

    assert saved_ranges(example_sequence) == [(2, "09:00", "16:59")]


def test_a_lunch_break_is_saved_with_the_warning_shown(logged_in, example_sequence):
    ranges = [
        {"weekday": 2, "start": "09:00", "end": "11:59"},
        {"weekday": 2, "start": "13:00", "end": "16:59"},
    ]

    response = logged_in.post(
        url(example_sequence), post_data(example_sequence, ranges), follow=True
    )

    assert saved_ranges(example_sequence) == [(2, "09:00", "11:59"), (2, "13:00", "16:59")]
    assert "Tuesday has more than one block of sending hours" in text(response)


def test_timezone_is_saved_with_forgiving_spelling(logged_in, example_sequence):
    data = post_data(example_sequence, [], timezone="europe/paris")
    data["ranges"] = json.dumps(
        [{"weekday": d, "start": "09:00", "end": "16:59"} for d in range(1, 6)]
    )

    logged_in.post(url(example_sequence), data)

    example_sequence.refresh_from_db()
    assert example_sequence.timezone == "Europe/Paris"
    assert example_sequence.revisions.get(number=2).summary == (
        "Timezone: America/Los_Angeles → Europe/Paris"
    )


def test_any_time_keeps_the_hours_aside(logged_in, example_sequence):
    ranges = [{"weekday": d, "start": "09:00", "end": "16:59"} for d in range(1, 6)]

    logged_in.post(
        url(example_sequence), post_data(example_sequence, ranges, has_schedule="any_time")
    )

    example_sequence.refresh_from_db()
    assert example_sequence.has_schedule is False
    assert example_sequence.to_spec().schedule is None
    assert len(saved_ranges(example_sequence)) == 5
    assert (
        example_sequence.revisions.get(number=2).summary == f"Schedule: {WEEKDAYS_9_5} → Any time"
    )


def test_an_unchanged_schedule_makes_no_revision(logged_in, example_sequence):
    ranges = [{"weekday": d, "start": "09:00", "end": "16:59"} for d in range(1, 6)]

    response = logged_in.post(
        url(example_sequence), post_data(example_sequence, ranges), follow=True
    )

    assert "Nothing to save: the schedule is unchanged." in text(response)
    assert example_sequence.revisions.count() == 1


def test_a_schedule_edit_returns_an_approved_sequence_to_draft(logged_in, example_sequence, user):
    example_sequence.change_status(Sequence.Status.APPROVED, user=user)

    logged_in.post(url(example_sequence), post_data(example_sequence, []))

    example_sequence.refresh_from_db()
    assert example_sequence.status == Sequence.Status.DRAFT


@pytest.mark.parametrize(
    ("button", "expected"),
    [
        ({"preset": "every_day"}, [(d, "08:00", "19:59") for d in range(1, 8)]),
        ({"preset": "clear"}, []),
        ({"toggle_day": "5"}, [(d, "09:00", "16:59") for d in range(1, 5)]),
        ({"toggle_day": "6"}, [(d, "09:00", "16:59") for d in range(1, 7)]),
        ({"remove": "0"}, [(d, "09:00", "16:59") for d in range(2, 6)]),
    ],
)
def test_grid_buttons_work_without_javascript(logged_in, example_sequence, button, expected):
    rows = [(d, "09:00", "16:59") for d in range(1, 6)] + [("", "", "")]

    response = logged_in.post(url(example_sequence), rows_data(example_sequence, rows, **button))

    assert response.status_code == 302
    assert saved_ranges(example_sequence) == expected


# --- refusing bad posts --------------------------------------------------------------------------
def one_range(weekday=2, start="10:00", end="11:59"):
    return json.dumps([{"weekday": weekday, "start": start, "end": end}])


TEN_THOUSAND = json.dumps([{"weekday": 1, "start": "09:00", "end": "09:29"}] * 10_000)


@pytest.mark.parametrize(
    ("fields", "status", "message"),
    [
        (
            {"ranges": one_range(weekday=0)},
            422,
            "Sending hours row 1: pick a day, Monday to Sunday.",
        ),
        ({"ranges": one_range(weekday=8)}, 422, "pick a day, Monday to Sunday"),
        ({"ranges": one_range(weekday="Tuesday")}, 422, "pick a day, Monday to Sunday"),
        ({"ranges": one_range(start="25:00")}, 422, 'the start time "25:00" is not valid'),
        ({"ranges": one_range(start="9am")}, 422, "use 24-hour HH:MM"),
        ({"ranges": one_range(end="")}, 422, "the end time is missing"),
        ({"ranges": one_range(start="12:00", end="10:00")}, 422, "the end must be after the start"),
        ({"ranges": one_range(start="10:00", end="10:00")}, 422, "the end must be after the start"),
        (
            {
                "ranges": json.dumps(
                    [
                        {"weekday": 2, "start": "09:00", "end": "12:00"},
                        {"weekday": 2, "start": "12:00", "end": "16:59"},
                    ]
                )
            },
            422,
            "09:00–12:00 and 12:00–16:59 overlap",
        ),
        ({"ranges": TEN_THOUSAND}, 422, "10000 blocks of sending hours is far too many"),
        ({"ranges": "[{'weekday': 1"}, 422, "not valid JSON"),
        ({"ranges": '{"weekday": 1}'}, 422, "must be a list"),
        ({"ranges": "[[1, 2]]"}, 422, "needs a weekday, a start and an end"),
        ({"version": ""}, 422, "the form is missing its version"),
        ({"version": "abc"}, 422, "the form is missing its version"),
        ({"has_schedule": ""}, 422, "choose whether Close sends only during the sending hours"),
        ({"timezone": "America/New_Yrok"}, 422, 'Did you mean "America/New_York"?'),
        ({"timezone": ""}, 422, "Choose a time zone"),
        ({"preset": "weekends"}, 422, "there is no preset called"),
        ({"toggle_day": "9"}, 422, "there is no such day"),
    ],
)
def test_bad_posts_are_refused_and_nothing_changes(
    logged_in, example_sequence, fields, status, message
):
    before = state(example_sequence)
    data = post_data(example_sequence, json.loads(one_range())) | fields

    response = logged_in.post(url(example_sequence), data)

    assert response.status_code == status
    assert message in unescape(text(response))
    assert state(example_sequence) == before


def test_a_stale_save_names_who_saved_and_keeps_the_posted_hours(
    logged_in, example_sequence, other_user
):
    with example_sequence.editing(user=other_user, loaded_version=1):
        pass

    response = logged_in.post(
        url(example_sequence), post_data(example_sequence, json.loads(one_range()), version="1")
    )

    html = text(response)
    assert response.status_code == 409
    assert "bob saved this sequence" in html
    assert f"Saved now: {WEEKDAYS_9_5} in America/Los_Angeles." in html
    assert "Your changes are still on this page, but were not saved." in html
    # Saving again from this page is refused again: it must not overwrite bob's version.
    assert '<input type="hidden" name="version" value="1">' in html
    assert 'aria-selected="true"' in cell(html, "Tuesday 10:00")
    assert 'aria-selected="false"' in cell(html, "Monday 09:00")
    assert saved_ranges(example_sequence)[0] == (1, "09:00", "16:59")


def test_a_refused_save_keeps_the_loaded_version(logged_in, example_sequence, other_user):
    with example_sequence.editing(user=other_user, loaded_version=1):
        pass
    data = post_data(example_sequence, json.loads(one_range(weekday=9)), version="1")

    response = logged_in.post(url(example_sequence), data)

    assert response.status_code == 422
    assert '<input type="hidden" name="version" value="1">' in text(response)


def test_ten_thousand_rows_without_javascript_are_refused(logged_in, example_sequence):
    before = state(example_sequence)
    rows = [(1, "09:00", "09:29")] * 10_000

    response = logged_in.post(url(example_sequence), rows_data(example_sequence, rows))

    assert response.status_code == 422
    assert "far too much data for a schedule" in text(response)
    assert state(example_sequence) == before


def test_rows_of_different_lengths_are_refused(logged_in, example_sequence):
    before = state(example_sequence)
    data = rows_data(example_sequence, [(1, "09:00", "16:59")])
    data["end"] = []

    response = logged_in.post(url(example_sequence), data)

    assert response.status_code == 422
    assert "the sending-hours rows are incomplete" in text(response)
    assert state(example_sequence) == before


def test_a_json_body_is_refused_with_a_message(logged_in, example_sequence):
    before = state(example_sequence)

    response = logged_in.post(
        url(example_sequence),
        json.dumps({"ranges": json.loads(one_range())}),
        content_type="application/json",
    )

    assert response.status_code == 422
    assert "the form is missing its version" in text(response)
    assert state(example_sequence) == before


def test_posted_text_is_escaped(logged_in, example_sequence):
    response = logged_in.post(
        url(example_sequence),
        post_data(example_sequence, json.loads(one_range(start="<script>x</script>"))),
    )

    html = text(response)
    assert response.status_code == 422
    assert "<script>x" not in html
    assert "&lt;script&gt;x" in html


# --- timeline preview ----------------------------------------------------------------------------
def timeline(client, sequence, htmx=True, **params):
    headers = {"HX-Request": "true"} if htmx else {}
    return client.get(url(sequence), params, headers=headers)


def test_timeline_fragment_lists_each_step_in_both_zones(logged_in, example_sequence):
    # Thursday 12 March 2026 at 18:00 in Paris is 10:00 in Los Angeles (already on PDT).
    response = timeline(
        logged_in, example_sequence, enroll="2026-03-12T18:00", viewer_tz="Europe/Paris"
    )

    html = text(response)
    assert response.status_code == 200
    assert "<html" not in html and 'id="timeline"' in html
    assert ">Thu 12 Mar 2026, 10:00 PDT</time>" in html  # the call, straight away
    assert ">Fri 13 Mar 2026, 10:00 PDT</time>" in html  # the email, one day later
    # The reply is due 3 days later, on Monday (no weekend in between for PDT).
    assert ">Mon 16 Mar 2026, 10:00 PDT</time>" in html
    assert "Mon 16 Mar 2026, 18:00 CET" in html  # Paris changes clocks on 29 March
    assert "For you, in Europe/Paris" in html


def test_timeline_shows_held_steps_and_warnings(logged_in, example_sequence):
    Step.objects.create(sequence=example_sequence, position=3, step_type="call", delay=100 * 86400)

    html = text(
        timeline(
            logged_in, example_sequence, enroll="2026-06-05T16:30", viewer_tz="America/Los_Angeles"
        )
    )

    # Friday 16:30: the call fires at once; the email is due Saturday and held to Monday 09:00.
    assert ">Fri 5 Jun 2026, 16:30 PDT</time>" in html
    assert ">Mon 8 Jun 2026, 09:00 PDT</time>" in html
    assert "Held: due Sat 6 Jun 2026, 16:30 PDT, outside the sending hours" in html
    assert "more than 90 days" in html
    assert "For you, in" not in html  # same zone: one column


@pytest.mark.parametrize(
    "cookie", ["Asia/Tokyo", "Asia%2FTokyo"], ids=["plain", "as-the-script-writes-it"]
)
def test_timeline_defaults_to_now_in_the_browser_zone_cookie(logged_in, example_sequence, cookie):
    logged_in.cookies["viewer_tz"] = cookie
    tokyo = schedule.zoneinfo.ZoneInfo("Asia/Tokyo")
    before = datetime.now(UTC).astimezone(tokyo)

    response = logged_in.get(url(example_sequence))

    after = datetime.now(UTC).astimezone(tokyo)  # the request may straddle midnight in Tokyo
    assert response.status_code == 200
    assert 'id="id_viewer_tz" name="viewer_tz" value="Asia/Tokyo"' in text(response)
    assert any(f'value="{moment:%Y-%m-%dT}' in text(response) for moment in (before, after))


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"enroll": "next tuesday"}, "“next tuesday” is not a date and time"),
        ({"viewer_tz": "Mars/Olympus"}, "“Mars/Olympus” is not a timezone"),
    ],
)
def test_bad_timeline_queries_get_a_message(logged_in, example_sequence, params, message):
    fragment = timeline(logged_in, example_sequence, **params)
    page = timeline(logged_in, example_sequence, htmx=False, **params)

    assert fragment.status_code == 422  # the refusal convention: htmx swaps 422, message shows
    assert message in text(fragment)
    assert page.status_code == 422
    assert message in text(page)


def test_timeline_previews_unsaved_hours_and_refreshes_their_text(logged_in, example_sequence):
    draft = [
        {"weekday": 2, "start": "10:00", "end": "11:59"},
        {"weekday": 2, "start": "13:00", "end": "13:59"},
    ]

    html = text(
        timeline(
            logged_in,
            example_sequence,
            enroll="2026-03-12T10:00",
            viewer_tz="America/Los_Angeles",
            draft_ranges=json.dumps(draft),
            draft_timezone="America/Los_Angeles",
            draft_has_schedule="hours",
        )
    )

    assert "Unsaved changes" in html
    assert ">Tue 17 Mar 2026, 10:00 PDT</time>" in html
    assert '<div id="schedule-summary" hx-swap-oob="true">' in html
    assert "<strong>Tue 10:00–11:59 and 13:00–13:59</strong>" in html
    assert "Tuesday has more than one block" in html
    assert example_sequence.revisions.count() == 1  # a preview saves nothing


def test_timeline_ignores_unsaved_hours_with_errors(logged_in, example_sequence):
    html = text(
        timeline(
            logged_in,
            example_sequence,
            enroll="2026-03-12T10:00",
            viewer_tz="America/Los_Angeles",
            draft_ranges=one_range(start="12:00", end="10:00"),
            draft_timezone="America/Los_Angeles",
        )
    )

    assert "the timeline uses the saved schedule" in html
    assert "the end must be after the start" in html  # in the swapped-in problem list
    assert ">Thu 12 Mar 2026, 10:00 PDT</time>" in html


def test_timeline_warns_when_no_hours_are_open(logged_in, example_sequence):
    example_sequence.schedule_ranges.all().delete()

    html = text(timeline(logged_in, example_sequence))

    assert "The schedule has no open hours" in html
    assert html.count('<strong class="error">Never</strong>') == 3


def test_timeline_with_no_steps_points_to_the_steps_page(logged_in, user):
    sequence = Sequence.create_draft(name="Empty", timezone_name="UTC", user=user)

    html = text(timeline(logged_in, sequence))

    assert "No steps yet" in html
    assert reverse("sequence_edit", args=[sequence.pk]) in html


# --- cost ----------------------------------------------------------------------------------------
def test_query_count_does_not_grow_with_steps(logged_in, example_sequence):
    def count_queries():
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as captured:
            assert logged_in.get(url(example_sequence)).status_code == 200
        return len(captured)

    few = count_queries()
    Step.objects.bulk_create(
        Step(sequence=example_sequence, position=3 + i, step_type="call", delay=3600)
        for i in range(40)
    )
    assert count_queries() == few


def test_a_reviewer_without_the_editor_role_cannot_save(django_user_model):
    reviewer = make_user(django_user_model, "ruth", "Reviewer")
    sequence = Sequence.create_draft(name="S", timezone_name="UTC", user=reviewer)
    client = Client()
    client.force_login(reviewer)

    response = client.post(url(sequence), post_data(sequence, []))

    assert response.status_code == 403
    assert Revision.objects.filter(sequence=sequence).count() == 1


# --- issue 11: what a new user hits in the first ten minutes ----------------------------------
def test_cleared_hours_are_saved_but_block_submit_until_any_time_is_chosen(
    logged_in, example_sequence, user, synced
):
    from builder import review

    response = logged_in.post(url(example_sequence), post_data(example_sequence, []), follow=True)

    # A draft may be empty for a while (the next drag paints it again); it is saved, and says
    # at once that it cannot go out like this.
    assert saved_ranges(example_sequence) == []
    assert "No sending hours: Close would never send these steps." in text(response)
    example_sequence.refresh_from_db()
    with pytest.raises(review.HasProblems, match="Close would never send these steps"):
        review.check_submit(example_sequence, user)

    logged_in.post(
        url(example_sequence),
        post_data(
            example_sequence, [], has_schedule="any_time", version=str(example_sequence.version)
        ),
    )

    example_sequence.refresh_from_db()
    assert example_sequence.has_schedule is False
    review.check_submit(example_sequence, user)  # "Send at any time" is a valid choice


@pytest.mark.parametrize("enroll", ["9999-12-31T23:59:59", "0001-01-01T00:00"])
@pytest.mark.parametrize("htmx", [True, False])
def test_an_enrollment_at_the_ends_of_time_gets_a_message_not_a_500(
    logged_in, example_sequence, enroll, htmx
):
    response = timeline(
        logged_in, example_sequence, htmx=htmx, enroll=enroll, viewer_tz="Asia/Tokyo"
    )

    assert response.status_code == 422
    assert f"“{enroll}” is too far from today" in text(response)
    assert "showing an enrollment now" in text(response)


def test_an_autosave_answers_with_the_status_line_and_the_saved_state(logged_in, example_sequence):
    ranges = [{"weekday": 2, "start": "10:00", "end": "11:59"}]

    response = logged_in.post(
        url(example_sequence), post_data(example_sequence, ranges), headers={"HX-Request": "true"}
    )

    html = text(response)
    assert response.status_code == 200
    assert '<span class="save-text">Saved</span>' in html
    assert f"Schedule: {WEEKDAYS_9_5} → Tue 10:00–11:59" in html
    assert '<input type="hidden" name="version" value="2">' in html  # the next save sends it
    assert "<strong>Tue 10:00–11:59</strong>" in html
    event = json.loads(response["HX-Trigger"])["schedule-saved"]
    assert event["saved"]["ranges"] == [{"weekday": 2, "start": "10:00", "end": "11:59"}]
    assert saved_ranges(example_sequence) == [(2, "10:00", "11:59")]


def test_an_invalid_autosave_is_refused_with_422_and_says_why(logged_in, example_sequence):
    before = state(example_sequence)

    response = logged_in.post(
        url(example_sequence),
        post_data(example_sequence, json.loads(one_range(start="12:00", end="10:00"))),
        headers={"HX-Request": "true"},
    )

    html = unescape(text(response))
    assert response.status_code == 422
    assert "Not saved: Sending hours on Tuesday: the end must be after the start." in html
    assert 'class="save-status is-error"' in html
    assert state(example_sequence) == before


def test_a_stale_autosave_names_who_saved_first_and_offers_reload(
    logged_in, example_sequence, other_user
):
    with example_sequence.editing(user=other_user, loaded_version=1, summary="Timezone: A → B"):
        pass

    response = logged_in.post(
        url(example_sequence),
        post_data(example_sequence, json.loads(one_range()), version="1"),
        headers={"HX-Request": "true"},
    )

    html = unescape(text(response))
    assert response.status_code == 409
    assert "Not saved: bob saved this sequence at" in html
    assert "Their last change: Timezone: A → B." in html
    assert f'<a class="button small" href="{url(example_sequence)}">Reload</a>' in html
    # The page keeps the version it loaded: every later save is refused too, until a reload.
    assert '<input type="hidden" name="version" value="1">' in html
    assert saved_ranges(example_sequence)[0] == (1, "09:00", "16:59")


def test_an_autosave_that_returns_an_approved_sequence_to_draft_reloads_the_page(
    logged_in, example_sequence, user
):
    example_sequence.change_status(Sequence.Status.APPROVED, user=user)

    response = logged_in.post(
        url(example_sequence), post_data(example_sequence, []), headers={"HX-Request": "true"}
    )

    assert response.status_code == 200
    assert response["HX-Refresh"] == "true"
    example_sequence.refresh_from_db()
    assert example_sequence.status == Sequence.Status.DRAFT


def test_without_javascript_the_save_button_is_in_noscript(logged_in, example_sequence):
    html = text(logged_in.get(url(example_sequence)))

    assert '<noscript><p class="noscript-save"><button type="submit" class="primary">' in html
    assert 'class="savebar"' not in html  # nothing sticks over the grid


@pytest.mark.parametrize(
    ("typed", "stored"),
    [("PST", "America/Los_Angeles"), ("eastern", "America/New_York"), ("cet", "Europe/Berlin")],
)
def test_a_timezone_alias_is_stored_as_its_iana_name(logged_in, example_sequence, typed, stored):
    ranges = [{"weekday": d, "start": "09:00", "end": "16:59"} for d in range(1, 6)]
    example_sequence.timezone = "Asia/Tokyo"
    example_sequence.save()

    response = logged_in.post(
        url(example_sequence),
        post_data(example_sequence, ranges, timezone=typed),
        headers={"HX-Request": "true"},
    )

    assert response.status_code == 200
    example_sequence.refresh_from_db()
    assert example_sequence.timezone == stored
    assert f"Timezone: Asia/Tokyo → {stored}" in unescape(text(response))
    assert json.loads(response["HX-Trigger"])["schedule-saved"]["saved"]["timezone"] == stored


def test_an_unknown_timezone_is_refused_with_suggestions(logged_in, example_sequence):
    before = state(example_sequence)

    response = logged_in.post(
        url(example_sequence),
        post_data(example_sequence, json.loads(one_range()), timezone="Europe/Pari"),
        headers={"HX-Request": "true"},
    )

    html = unescape(text(response))
    assert response.status_code == 422
    assert 'Not saved: "Europe/Pari" is not a time zone name. Did you mean "Europe/Paris"' in html
    assert state(example_sequence) == before


@pytest.mark.parametrize(("typed", "stored"), [("pacific", "America/Los_Angeles"), ("UTC", "UTC")])
def test_a_new_sequence_takes_a_timezone_alias_as_its_iana_name(typed, stored):
    from builder.forms import NewSequenceForm

    form = NewSequenceForm({"name": "Q3", "timezone": typed})

    assert form.is_valid(), form.errors
    assert form.cleaned_data["timezone"] == stored


def test_a_new_sequence_with_no_timezone_name_gets_a_suggestion():
    from builder.forms import NewSequenceForm

    form = NewSequenceForm({"name": "Q3", "timezone": "Europe/Pari"})

    assert not form.is_valid()
    assert "Did you mean “Europe/Paris”?" in form.errors["timezone"][0]


def test_no_template_comment_leaks_into_the_page(logged_in, example_sequence):
    html = text(logged_in.get(url(example_sequence)))

    assert "{#" not in html and "#}" not in html  # Django's {# #} is one line only
