"""The sequence list: what is live in Close stays visible after local edits, and filters."""

import html

import pytest
from django.urls import reverse

from builder import close, importing, publishing
from builder.models import Sequence
from tests.builder.reviewkit import cache_example_templates, edit, fresh
from tests.builder.test_publishing import EXPECTED_PAYLOAD
from tests.conftest import approve, mark_published

pytestmark = pytest.mark.django_db


def text(response):
    return html.unescape(response.content.decode())


def row_of(page, name):
    """The HTML of the list row whose link says `name`."""
    return page.split(f">{name}</a>", 1)[1].split("</tr>", 1)[0]


@pytest.fixture
def quick(settings, jobs_inline):
    settings.PUBLISH_SETTLE_SECONDS = 0.3
    settings.CLOSE_MAX_WAIT_IN_JOB = 0.0


@pytest.fixture
def live_in_close(sandbox):
    return close.client_from_settings().create_sequence(
        {**EXPECTED_PAYLOAD, "name": "Live in Close", "status": "active"}
    )


def test_an_edited_import_still_says_it_is_in_close_and_its_status_there(
    logged_in, user, live_in_close
):
    sequence, _ = importing.import_from_close(
        close_id=live_in_close["id"], user=user, client=close.client_from_settings()
    )
    assert fresh(sequence).close_status == "active"
    edit(sequence, user, name="Live in Close")  # any edit: back to Draft here

    row = row_of(text(logged_in.get(reverse("sequence_list"))), "Live in Close")

    assert "Draft" in row
    assert "In Close · active" in row


def test_a_publish_records_the_status_close_answered(
    logged_in, user, reviewer, publisher, example_sequence, sandbox, synced, quick
):
    approve(example_sequence, reviewer)
    publishing.publish_sequence(
        sequence=example_sequence, user=publisher, requested_status="paused"
    )
    assert fresh(example_sequence).close_status == "paused"
    edit(example_sequence, user, delay=2 * 86400)

    row = row_of(text(logged_in.get(reverse("sequence_list"))), "My Sequence")

    assert "Draft" in row and "In Close · paused" in row


def test_a_draft_never_published_does_not_say_in_close(logged_in, example_sequence):
    row = row_of(text(logged_in.get(reverse("sequence_list"))), "My Sequence")

    assert "In Close" not in row


@pytest.fixture
def three(user, other_user):
    """Two sequences in Close (one edited since) and one only here."""
    cache_example_templates()
    made = {}
    for name in ("Alpha live", "Beta live", "Alpha draft"):
        made[name] = Sequence.create_draft(name=name, timezone_name="UTC", user=user)
    for number, name in enumerate(("Alpha live", "Beta live")):
        mark_published(made[name], close_sequence={"id": f"seq_{number}abc"}, user=user)
    edit(made["Beta live"], other_user, name="Beta live")
    return made


def names(response):
    page = text(response)
    return sorted(
        name for name in ("Alpha live", "Beta live", "Alpha draft") if f">{name}</a>" in page
    )


def test_in_close_filter(logged_in, three):
    response = logged_in.get(reverse("sequence_list"), {"in_close": "1"})

    assert response.status_code == 200
    assert names(response) == ["Alpha live", "Beta live"]
    assert 'aria-current="page">In Close <span class="count">2</span>' in text(response)


def test_in_close_filter_combines_with_search(logged_in, three):
    response = logged_in.get(reverse("sequence_list"), {"in_close": "1", "q": "alpha"})

    assert names(response) == ["Alpha live"]
    page = text(response)
    # The search form keeps the filter, and the filter's link (to turn it off) keeps the search.
    assert '<input type="hidden" name="in_close" value="1">' in page
    assert 'href="/?q=alpha" aria-current="page">In Close' in page


def test_in_close_filter_link_from_a_search(logged_in, three):
    page = text(logged_in.get(reverse("sequence_list"), {"q": "beta"}))

    assert 'href="/?q=beta&in_close=1">In Close <span class="count">1</span>' in page


def test_in_close_filter_combines_with_an_inbox_filter(client, three, user):
    client.force_login(user)
    response = client.get(
        reverse("sequence_list"), {"in_close": "1", "inbox": "changes-requested-on-mine"}
    )

    assert response.status_code == 200
    assert names(response) == []


@pytest.mark.parametrize("value", ["yes", "0", "<b>"])
def test_a_bad_in_close_value_is_a_400_with_the_choices(logged_in, three, value):
    response = logged_in.get(reverse("sequence_list"), {"in_close": value})

    assert response.status_code == 400
    assert "is not a value of the In Close filter" in text(response)
    assert names(response) == []
