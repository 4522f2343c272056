"""A long sequence's page renders the cards of its first screen whole and the rest as heads
("pending"), whose whole cards the page asks for as the person scrolls near them
(views/editor.py first_screen, steps_cards). An answer to an edit re-sends a pending card's
head, never parts of a card the page does not hold."""

import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from builder.models import Sequence, Step
from builder.views.editor import first_screen
from tests.builder.editor_support import HTMX, edit_url, steps_of, url, version_of

pytestmark = pytest.mark.django_db


def long_sequence(user, count, name="Long"):
    sequence = Sequence.create_draft(name=name, timezone_name="UTC", user=user)
    kinds = ["call", "email", "sms"]
    with sequence.editing(user=user, loaded_version=sequence.version, summary="Long"):
        Step.objects.bulk_create(
            Step(
                sequence=sequence,
                position=n,
                delay=3600,
                step_type=kinds[n % 3],
                threading=("new_thread" if n == 1 else "old_thread") if n % 3 == 1 else "",
                content_source="written" if n % 3 else "template",
                subject=f"Subject {n + 1}" if n % 3 == 1 else "",
                body=f"<div>Body {n + 1}</div>" if n % 3 == 1 else "",
                text=f"Text {n + 1}" if n % 3 == 2 else "",
            )
            for n in range(count)
        )
    return Sequence.objects.get(pk=sequence.pk)


# long_sequence's first screen: a call, an email and an SMS (17 + 36 rem start the SMS within
# the first 70), then heads.
WHOLE = 3


def cards_url(sequence):
    return url("steps_cards", sequence)


def whole(html, pk):
    return f'id="step-{pk}-fields"' in html


def pending(html, pk):
    return re.search(rf'<li id="step-{pk}" class="step type-\w+ is-pending"', html) is not None


def test_the_page_renders_the_first_cards_whole_and_the_rest_as_heads(logged_in, user):
    sequence = long_sequence(user, 10)
    ids = [step.pk for step in steps_of(sequence)]

    html = logged_in.get(edit_url(sequence)).content.decode()

    assert [whole(html, pk) for pk in ids] == [True] * WHOLE + [False] * (10 - WHOLE)
    assert [pending(html, pk) for pk in ids] == [False] * WHOLE + [True] * (10 - WHOLE)
    # A head says which step it is, when it starts and what it sends, like a whole card's.
    assert f'id="step-{ids[9]}-title">Step 10<' in html
    assert "Day 1</span> · SMS · written here: “Text 9”" in html
    # A link, so Tab reaches every card; without JavaScript it shows every card in full.
    assert f'href="{edit_url(sequence)}?cards=all#step-{ids[9]}">Show step 10 in full<' in html


@pytest.mark.parametrize(
    ("kinds", "whole_cards"),
    [
        (["email"] * 5, 2),  # written emails are tall: two fill the first screen
        (["call"] * 8, 5),
        (["call", "email", "sms", "email"], 3),
        (["sms"], 1),
        ([], 0),
    ],
)
def test_the_first_screen_is_what_fits_in_it(kinds, whole_cards):
    assert first_screen([Step(step_type=kind) for kind in kinds]) == whole_cards


def test_show_every_step_in_full_renders_every_card(logged_in, user):
    sequence = long_sequence(user, 10)

    html = logged_in.get(edit_url(sequence) + "?cards=all").content.decode()

    assert all(whole(html, step.pk) for step in steps_of(sequence))
    assert "is-pending" not in html


def test_a_short_sequence_has_no_pending_cards(logged_in, example_sequence):
    html = logged_in.get(edit_url(example_sequence)).content.decode()

    assert "is-pending" not in html
    assert all(whole(html, step.pk) for step in steps_of(example_sequence))


def test_the_cards_arrive_whole_and_swap_over_their_heads(logged_in, user):
    sequence = long_sequence(user, 10)
    ids = [step.pk for step in steps_of(sequence)]
    wanted = ids[6:8]

    response = logged_in.get(
        cards_url(sequence),
        {"ids": ",".join(map(str, wanted)), "version": str(sequence.version)},
        **HTMX,
    )

    assert response.status_code == 200
    assert response["HX-Reswap"] == "none"
    html = response.content.decode()
    for pk in wanted:
        assert f'<li id="step-{pk}" class="step type-' in html
        assert whole(html, pk)
    assert html.count('hx-swap-oob="true" data-late-card') == 2
    assert not whole(html, ids[5]) and not whole(html, ids[8])
    assert "Wait after step 7" in html and "Save step 8" in html


def test_asking_for_cards_costs_the_same_queries_at_any_length(client, user):
    client.force_login(user)
    counts = []
    for count in (10, 60):
        sequence = long_sequence(user, count, name=f"Long {count}")
        ids = [step.pk for step in steps_of(sequence)][-3:]
        params = {"ids": ",".join(map(str, ids)), "version": str(sequence.version)}
        with CaptureQueriesContext(connection) as queries:
            assert client.get(cards_url(sequence), params, **HTMX).status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1]


def saved_elsewhere(client, sequence):
    """The sequence saved once more (a wait changed) after the page was shown: the version that
    page still shows."""
    shown = sequence.version
    wait = {"days": "2", "hours": "0", "minutes": "0"}
    step = steps_of(sequence)[0]
    client.post(url("step_update", sequence, step.pk), {"version": shown, **wait}, **HTMX)
    assert version_of(sequence) == shown + 1
    return shown


def test_a_page_that_is_behind_gets_no_cards_and_is_offered_a_reload(logged_in, user):
    sequence = long_sequence(user, 8)
    shown = saved_elsewhere(logged_in, sequence)

    response = logged_in.get(
        cards_url(sequence), {"ids": str(steps_of(sequence)[6].pk), "version": str(shown)}, **HTMX
    )

    assert response.status_code == 409
    html = response.content.decode()
    assert "Not saved" in html and "Reload" in html
    assert 'id="step-' not in html  # no card of the newer version
    # The page keeps the version it shows, so its next save is refused too.
    assert f'<input type="hidden" id="editor-version" value="{shown}">' in html


@pytest.mark.parametrize(
    "params",
    [
        {"ids": "1,2"},  # no version
        {"ids": "x", "version": "{version}"},
        {"ids": "", "version": "{version}"},
        {"ids": "{other}", "version": "{version}"},  # a step of another sequence
        {"ids": "99999999", "version": "{version}"},
        {"ids": "1" * 40, "version": "{version}"},
    ],
)
def test_cards_that_are_not_this_sequences_steps_are_refused(logged_in, user, params):
    sequence = long_sequence(user, 6)
    other = long_sequence(user, 1, name="Other")
    values = {
        k: v.format(version=sequence.version, other=steps_of(other)[0].pk)
        for k, v in params.items()
    }

    response = logged_in.get(cards_url(sequence), values, **HTMX)

    assert response.status_code == 422
    assert 'id="step-' not in response.content.decode()


def test_a_reader_gets_the_cards_read_only(client, user, viewer):
    sequence = long_sequence(user, 8)
    client.force_login(viewer)
    pk = steps_of(sequence)[7].pk

    params = {"ids": str(pk), "version": sequence.version}
    response = client.get(cards_url(sequence), params, **HTMX)

    assert response.status_code == 200
    html = response.content.decode()
    assert whole(html, pk)
    assert "Save step 8" not in html and "Remove step" not in html


def test_the_cards_address_opened_as_a_page_shows_every_card(logged_in, user):
    sequence = long_sequence(user, 6)

    response = logged_in.get(cards_url(sequence), {"ids": "1", "version": "1"})

    assert response.status_code == 302
    assert response["Location"] == f"{edit_url(sequence)}?cards=all"


def test_cards_are_for_signed_in_people_only(user):
    sequence = long_sequence(user, 6)
    response = Client().get(cards_url(sequence), {"ids": "1", "version": "1"})
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_an_edit_resends_a_pending_cards_head_not_its_parts(logged_in, user):
    sequence = long_sequence(user, 8)
    ids = [step.pk for step in steps_of(sequence)]
    heads = ",".join(map(str, ids[WHOLE:]))

    # "Insert step" before step 1 renumbers every card: the whole ones get their place parts,
    # the pending ones their head again.
    response = logged_in.post(
        url("step_add", sequence) + "?position=0",
        {"version": sequence.version, "step_type": "call"},
        HTTP_PENDING_STEPS=heads,
        **HTMX,
    )

    assert response.status_code == 200
    html = response.content.decode()
    for number, pk in enumerate(ids, start=2):
        if number - 2 < WHOLE:
            assert f'<details class="insert" id="step-{pk}-insert" hx-swap-oob="true">' in html
            assert f"Save step {number}<" in html
        else:
            assert f'id="step-{pk}-insert"' not in html
            assert f'id="step-{pk}-wait"' not in html and f'id="step-{pk}-save"' not in html
            assert re.search(
                rf'<li id="step-{pk}" class="step type-\w+ is-pending"[^>]*hx-swap-oob="true"',
                html,
            )
            assert f'id="step-{pk}-title">Step {number}<' in html


def test_without_the_header_every_card_gets_its_place_parts(logged_in, user):
    sequence = long_sequence(user, 8)
    last = steps_of(sequence)[-1]

    html = logged_in.post(
        url("step_add", sequence) + "?position=0",
        {"version": sequence.version, "step_type": "call"},
        **HTMX,
    ).content.decode()

    assert f'id="step-{last.pk}-save" hx-swap-oob="true">Save step 9<' in html
    assert "is-pending" not in html


def test_a_garbled_pending_header_is_ignored(logged_in, user):
    sequence = long_sequence(user, 6)

    response = logged_in.post(
        url("step_add", sequence) + "?position=0",
        {"version": sequence.version, "step_type": "call"},
        HTTP_PENDING_STEPS="x,,-1," + "9" * 40,
        **HTMX,
    )

    assert response.status_code == 200
    assert "is-pending" not in response.content.decode()


def test_a_save_without_javascript_returns_to_a_far_card_in_full(logged_in, user):
    sequence = long_sequence(user, 8)
    near, far = steps_of(sequence)[1], steps_of(sequence)[6]

    wait = {"days": "2", "hours": "0", "minutes": "0"}
    response = logged_in.post(
        url("step_update", sequence, far.pk), {"version": sequence.version, **wait}
    )
    assert response.status_code == 302
    assert response["Location"] == f"{edit_url(sequence)}?cards=all#step-{far.pk}"

    version = version_of(sequence)
    response = logged_in.post(url("step_update", sequence, near.pk), {"version": version, **wait})
    assert response["Location"] == f"{edit_url(sequence)}#step-{near.pk}"


def test_a_refused_request_for_cards_keeps_the_version_the_page_shows(logged_in, user):
    sequence = long_sequence(user, 6)
    shown = saved_elsewhere(logged_in, sequence)

    # Garbled ids from a page that is also behind: the page must not learn the new version.
    response = logged_in.get(cards_url(sequence), {"ids": "x", "version": str(shown)}, **HTMX)

    assert response.status_code in (409, 422)
    assert f'<input type="hidden" id="editor-version" value="{shown}">' in response.content.decode()
