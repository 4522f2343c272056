"""Issue 10: a change to one step costs the same at 10 steps as at 200.

Each answer carries the changed card and the small place fragments (number, day, buttons) of the
cards whose place changed, never the whole list; the queries do not depend on the length.
"""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from builder.models import Sequence, Step
from tests.builder.editor_support import edit_url, post, steps_of, update_step

# Calls, which need no template: the problems panel lists every problem, so a list full of
# steps without templates answers with a longer panel, as it should.
KINDS = ("call",)


def _sequence_of(user, count):
    sequence = Sequence.create_draft(name=f"Long {count}", timezone_name="Europe/Berlin", user=user)
    Step.objects.bulk_create(
        Step(
            sequence=sequence,
            position=i,
            step_type=KINDS[i % len(KINDS)],
            delay=86400 if i else 0,
        )
        for i in range(count)
    )
    return sequence


def _measure(action):
    with CaptureQueriesContext(connection) as queries:
        response = action()
    assert response.status_code == 200, response.content[:500]
    return len(queries.captured_queries), len(response.content)


ACTIONS = {
    "add": lambda client, sequence: post(client, "step_add", sequence, data={"step_type": "call"}),
    "move": lambda client, sequence: post(
        client, "step_move", sequence, steps_of(sequence)[-1].pk, data={"direction": "up"}
    ),
    "remove": lambda client, sequence: post(
        client, "step_remove", sequence, steps_of(sequence)[-1].pk
    ),
    "update": lambda client, sequence: update_step(client, steps_of(sequence)[-1], days="3"),
    "page": lambda client, sequence: client.get(edit_url(sequence)),
}


@pytest.mark.parametrize("action", ["add", "move", "remove", "update"])
def test_one_change_costs_the_same_queries_and_bytes_at_10_and_200_steps(logged_in, user, action):
    do = ACTIONS[action]
    # 199: room for one more under the limit of 200.
    short, long = _sequence_of(user, 10), _sequence_of(user, 199)
    # Warm up: the first request of a test loads more (session, user).
    do(logged_in, _sequence_of(user, 5))

    short_queries, short_size = _measure(lambda: do(logged_in, short))
    long_queries, long_size = _measure(lambda: do(logged_in, long))

    print(
        f"{action}: {short_queries} q {short_size} B at 10; {long_queries} q {long_size} B at 199"
    )
    assert long_queries == short_queries
    # The same fragments, a few digits longer (ids, numbers), never the list.
    assert long_size < short_size * 1.25 + 500, (short_size, long_size)


def test_the_editor_page_queries_do_not_grow_with_steps(logged_in, user):
    short, long = _sequence_of(user, 10), _sequence_of(user, 200)
    ACTIONS["page"](logged_in, _sequence_of(user, 5))

    short_queries, short_size = _measure(lambda: ACTIONS["page"](logged_in, short))
    long_queries, long_size = _measure(lambda: ACTIONS["page"](logged_in, long))
    print(f"page: 10 steps {short_queries} queries; 200: {long_queries} queries {long_size} B")

    assert long_queries == short_queries


def _count_step_specs(monkeypatch):
    """How many times a step row is turned into its spec (200 steps: 200 conversions each)."""
    calls = []
    to_spec = Step.to_spec

    def counted(step):
        calls.append(step.pk)
        return to_spec(step)

    monkeypatch.setattr(Step, "to_spec", counted)
    return calls


def test_the_editor_page_turns_each_step_into_its_spec_once(logged_in, user, monkeypatch):
    # The validation needs every step's spec; the schedule line needs no step at all.
    sequence = _sequence_of(user, 50)
    calls = _count_step_specs(monkeypatch)

    response = ACTIONS["page"](logged_in, sequence)

    assert response.status_code == 200
    print(f"page at 50 steps: {len(calls)} step specs")
    assert len(calls) == 50


def test_adding_a_step_turns_each_step_into_its_spec_a_fixed_number_of_times(
    logged_in, user, monkeypatch
):
    # One spec of the rows as saved, which the revision's snapshot and the answer's problems
    # share. What the page showed before is worked out from the rows' places (no validation);
    # finding the first email reads the rows' step_type, not specs.
    sequence = _sequence_of(user, 50)
    calls = _count_step_specs(monkeypatch)

    response = ACTIONS["add"](logged_in, sequence)

    assert response.status_code == 200
    print(f"add at 50 steps: {len(calls)} step specs")
    assert len(calls) == 51


def test_a_card_place_without_problems_reads_as_none_without_a_failed_lookup(logged_in, user):
    # The card templates loop over card.problems.step, .delay, .template... for every card; a
    # missing key sent Django's lookup through getattr() and dir() of the dict each time.
    sequence = _sequence_of(user, 3)

    response = ACTIONS["page"](logged_in, sequence)

    cards = response.context["cards"]
    assert len(cards) == 3
    for card in cards:
        for place in ("step", "delay", "template", "required", "threading"):
            assert tuple(card.problems[place]) == tuple(card.problems.get(place, ()))
        assert card.problems["no such place"] == ()
        assert "no such place" not in card.problems  # reading adds nothing (_places compares)


def test_a_list_change_sends_the_new_numbers_of_a_renumbered_card_s_problems(logged_in, user):
    # Before the change only the cards' places are worked out; a card renumbered by it that has
    # problems gets them again (they name its new number), one without problems does not.
    sequence = Sequence.create_draft(name="Renumbered", timezone_name="Europe/Berlin", user=user)
    Step.objects.bulk_create(
        [
            Step(sequence=sequence, position=0, step_type="call", delay=0),
            Step(sequence=sequence, position=1, step_type="email", delay=86400),  # no template
        ]
    )
    call, email = steps_of(sequence)

    response = post(
        logged_in, "step_add", sequence, data={"step_type": "call"}, query="?position=0"
    )

    html = response.content.decode()
    assert response.status_code == 200
    assert f'<fieldset class="picker" id="step-{email.pk}-template" hx-swap-oob="true">' in html
    assert "Step 3" in html and "Step 2 has no" not in html
    assert f'id="step-{call.pk}-delay-notes"' not in html  # renumbered, but nothing to restate


def test_a_wait_change_sends_the_later_cards_their_day_not_their_number(logged_in, user):
    # Every later card's day moves; their numbers, buttons and problems do not: an answer to
    # one autosave at 200 steps would otherwise carry 199 cards' worth of fragments.
    sequence = _sequence_of(user, 3)
    first, second, third = steps_of(sequence)

    response = update_step(logged_in, first, days="2")

    html = response.content.decode()
    assert response.status_code == 200
    for later in (second, third):
        assert f'<div id="step-{later.pk}-head" class="step-head"' in html
        assert f'<output id="step-{later.pk}-starts"' in html
        for part in ("insert", "save", "wait", "problems", "tools"):
            assert f'id="step-{later.pk}-{part}"' not in html
