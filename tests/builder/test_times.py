"""Times are shown in the viewer's timezone (the browser's, from the viewer_tz cookie), with the
zone named, through one filter (issue 11, item 5)."""

import datetime as dt
import html

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from builder.models import Revision, StateChange
from builder.templatetags.times import when

pytestmark = pytest.mark.django_db

# 00:14:05 UTC is 09:14:05 in Tokyo (no daylight saving there).
MOMENT = dt.datetime(2026, 12, 7, 0, 14, 5, tzinfo=dt.UTC)


def text(response):
    return html.unescape(response.content.decode())


@pytest.fixture
def dated(example_sequence):
    Revision.objects.filter(sequence=example_sequence).update(created_at=MOMENT)
    StateChange.objects.create(
        sequence=example_sequence,
        user=example_sequence.created_by,
        from_status="draft",
        to_status="in_review",
        created_at=MOMENT,
    )
    return example_sequence


@pytest.mark.parametrize("cookie", ["Asia/Tokyo", "Asia%2FTokyo"])  # as viewer-tz.js writes it
def test_history_and_state_log_in_the_viewers_zone_named(logged_in, dated, cookie):
    logged_in.cookies["viewer_tz"] = cookie

    page = text(logged_in.get(reverse("sequence_history", args=[dated.pk])))

    tag = (
        '<time datetime="2026-12-07T09:14:05+09:00" title="7 Dec 2026, 09:14:05 JST">'
        "7 Dec 2026, 09:14 JST</time>"
    )
    assert page.count(tag) == 2  # the revision and the state log entry


def test_without_the_cookie_times_are_utc_and_say_so(logged_in, dated):
    page = text(logged_in.get(reverse("sequence_history", args=[dated.pk])))

    assert ">7 Dec 2026, 00:14 UTC</time>" in page


@pytest.mark.parametrize("cookie", ["Mars/Olympus", "../../etc/passwd", "x" * 500, ""])
def test_a_cookie_that_is_not_a_zone_falls_back_to_utc(logged_in, dated, cookie):
    logged_in.cookies["viewer_tz"] = cookie

    response = logged_in.get(reverse("sequence_history", args=[dated.pk]))

    assert response.status_code == 200
    assert ">7 Dec 2026, 00:14 UTC</time>" in text(response)


def test_the_zone_is_the_viewers_for_that_request_only(client, user, dated):
    tokyo, paris = Client(), Client()
    for person, zone in ((tokyo, "Asia/Tokyo"), (paris, "Europe/Paris")):
        person.force_login(user)
        person.cookies["viewer_tz"] = zone

    assert "09:14 JST" in text(tokyo.get(reverse("sequence_history", args=[dated.pk])))
    assert "01:14 CET" in text(paris.get(reverse("sequence_history", args=[dated.pk])))
    assert timezone.get_current_timezone_name() == "UTC"


def test_the_conflict_message_names_the_zone(logged_in, example_sequence, other_user):
    bob = Client()
    bob.force_login(other_user)
    bob.post(reverse("sequence_rename", args=[example_sequence.pk]), {"name": "B", "version": "1"})
    logged_in.cookies["viewer_tz"] = "Asia/Tokyo"

    response = logged_in.post(
        reverse("sequence_rename", args=[example_sequence.pk]), {"name": "A", "version": "1"}
    )

    assert response.status_code == 409
    saved_at = timezone.localtime(
        type(example_sequence).objects.get().updated_at, dt.timezone(dt.timedelta(hours=9))
    )
    assert f"bob saved this sequence at {saved_at:%H:%M:%S} JST" in text(response)


def test_relative_times_keep_the_exact_time_on_hover(logged_in, example_sequence):
    logged_in.cookies["viewer_tz"] = "Asia/Tokyo"
    type(example_sequence).objects.filter(pk=example_sequence.pk).update(
        updated_at=timezone.now() - dt.timedelta(minutes=3, seconds=5)
    )

    page = text(logged_in.get(reverse("sequence_list")))

    assert 'JST">3\xa0minutes ago</time>' in page  # timesince's no-break space


def test_the_filter():
    assert when(None) == ""
    assert ">just now</time>" in when(timezone.now(), "ago")
    assert "." not in when(timezone.now()).split('"')[1]  # no microseconds in datetime=""
    with timezone.override("Europe/Paris"):
        assert when(MOMENT, "time").endswith(">01:14:05 CET</time>")
        assert 'title="7 Dec 2026, 01:14:05 CET"' in when(MOMENT, "ago")
