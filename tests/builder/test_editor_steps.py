"""The step list: add, insert, duplicate, remove with undo, move up/down, drag-and-drop reorder."""

import json
import re
import time

import pytest
from django.core import signing
from django.db import connection
from django.test.utils import CaptureQueriesContext

from builder.models import Comment, Sequence, Step
from tests.builder.editor_support import edit_url, post, state_of, steps_of
from tests.conftest import EXAMPLE_EMAIL_1, EXAMPLE_EMAIL_2

pytestmark = pytest.mark.django_db


def types_of(sequence):
    return [step.step_type for step in steps_of(sequence)]


def latest_summary(sequence):
    return Sequence.objects.get(pk=sequence.pk).revisions.order_by("-number").first().summary


def focus_of(response):
    return json.loads(response["HX-Trigger-After-Settle"])["editor-focus"]["target"]


# --- Add and insert --------------------------------------------------------------------------
@pytest.mark.parametrize("step_type", ["email", "call", "sms"])
def test_add_step_appends_a_step_of_that_type(logged_in, example_sequence, step_type):
    response = post(logged_in, "step_add", example_sequence, data={"step_type": step_type})

    steps = steps_of(example_sequence)
    new = steps[3]
    html = response.content.decode()
    assert response.status_code == 200
    assert [s.position for s in steps] == [0, 1, 2, 3]
    assert new.step_type == step_type and new.delay == 86400
    # Only the new card, placed after the last one; the list itself is not sent again.
    assert response["HX-Reswap"] == "none"
    assert re.search(
        rf'<ol hx-swap-oob="afterend:#step-{steps[2].pk}">\s*<li id="step-{new.pk}"', html
    )
    assert ">Step 4<" in html and '<ol id="step-list"' not in html
    assert html.count('class="step-fields"') == 1
    assert focus_of(response) == f"#step-{new.pk}"
    assert latest_summary(example_sequence) == f"Added step 4 ({step_type.lower()})"


def test_a_new_email_step_replies_in_the_thread_unless_it_is_the_first_email(
    logged_in, example_sequence
):
    post(logged_in, "step_add", example_sequence, data={"step_type": "email"})
    Step.objects.filter(sequence=example_sequence, step_type="email").exclude(position=3).delete()
    empty = Sequence.create_draft(
        name="Empty", timezone_name="UTC", user=example_sequence.created_by
    )
    post(logged_in, "step_add", empty, data={"step_type": "email"})

    assert steps_of(example_sequence)[-1].threading == "old_thread"
    first = steps_of(empty)[0]
    assert (first.threading, first.delay) == ("new_thread", 0)


def test_insert_step_puts_it_before_the_chosen_card(logged_in, example_sequence):
    response = post(
        logged_in, "step_add", example_sequence, data={"step_type": "sms"}, query="?position=1"
    )

    assert response.status_code == 200
    assert types_of(example_sequence) == ["call", "sms", "email", "email"]
    assert [s.position for s in steps_of(example_sequence)] == [0, 1, 2, 3]
    assert latest_summary(example_sequence) == "Inserted step 2 (sms)"


def test_inserting_an_email_first_makes_it_start_the_thread(logged_in, example_sequence):
    post(logged_in, "step_add", example_sequence, data={"step_type": "email"}, query="?position=0")

    steps = steps_of(example_sequence)
    assert [s.threading for s in steps] == ["new_thread", "", "new_thread", "old_thread"]
    assert steps[0].delay == 0


def test_add_without_javascript_redirects_back(logged_in, example_sequence):
    response = post(logged_in, "step_add", example_sequence, data={"step_type": "call"}, htmx=False)

    assert response.status_code == 302
    assert response["Location"] == edit_url(example_sequence)
    assert "Saved: Added step 4 (call)." in logged_in.get(edit_url(example_sequence)).text


# --- Duplicate -------------------------------------------------------------------------------
def test_duplicate_copies_the_step_right_after_it(logged_in, example_sequence):
    original = steps_of(example_sequence)[2]

    response = post(logged_in, "step_duplicate", example_sequence, original.pk)

    steps = steps_of(example_sequence)
    copy = steps[3]
    assert response.status_code == 200
    assert copy.pk != original.pk
    assert (copy.step_type, copy.delay, copy.email_template_id, copy.threading) == (
        "email",
        259200,
        EXAMPLE_EMAIL_2,
        "old_thread",
    )
    assert copy.close_id == ""
    assert focus_of(response) == f"#step-{copy.pk}"
    assert latest_summary(example_sequence) == "Duplicated step 3 as step 4"


def test_duplicate_in_the_middle_shifts_later_steps(logged_in, example_sequence):
    first = steps_of(example_sequence)[0]

    post(logged_in, "step_duplicate", example_sequence, first.pk)

    assert types_of(example_sequence) == ["call", "call", "email", "email"]
    assert [s.position for s in steps_of(example_sequence)] == [0, 1, 2, 3]


# --- Remove and undo -------------------------------------------------------------------------
def test_remove_offers_undo_that_puts_the_step_back_as_it_was(logged_in, example_sequence, user):
    steps = steps_of(example_sequence)
    removed = steps[1]
    Step.objects.filter(pk=removed.pk).update(close_id="seqstep_abc")
    comment = Comment.objects.create(
        sequence=example_sequence, step=removed, author=user, body="Shorter subject?"
    )

    response = post(logged_in, "step_remove", example_sequence, removed.pk)

    html = response.content.decode()
    assert response.status_code == 200
    assert [s.pk for s in steps_of(example_sequence)] == [steps[0].pk, steps[2].pk]
    # The reply that is now the first email starts the thread (in what Close gets and on its
    # card), and keeps its own choice for when the undo puts an email before it again.
    assert steps_of(example_sequence)[1].threading == "old_thread"
    assert latest_summary(example_sequence) == (
        "Removed step 2 (email); step 2 (was 3) now starts a new thread (it is the first email)"
    )
    assert "Removed step 2 (email)." in html and 'id="undo-button"' in html
    assert focus_of(response) == "#undo-button"
    # Its card is taken out of the page; the card after it is renumbered and now starts the
    # thread (its checkbox locked): small fragments, not the list.
    assert f'<li id="step-{removed.pk}" hx-swap-oob="delete"></li>' in html
    assert f'id="step-{steps[2].pk}-title">Step 2<' in html
    assert f'id="step-{steps[2].pk}-thread-why"' in html
    assert '<ol id="step-list"' not in html
    token = re.search(r'name="token" value="([^"]+)"', html).group(1)

    undone = post(logged_in, "step_restore", example_sequence, data={"token": token})

    restored = steps_of(example_sequence)
    assert undone.status_code == 200
    assert [s.pk for s in restored] == [steps[0].pk, removed.pk, steps[2].pk]
    back = restored[1]
    assert (back.step_type, back.delay, back.email_template_id, back.close_id) == (
        "email",
        86400,
        EXAMPLE_EMAIL_1,
        "seqstep_abc",
    )
    assert [s.threading for s in restored] == ["", "new_thread", "old_thread"]
    comment.refresh_from_db()
    assert comment.step_id == removed.pk
    assert latest_summary(example_sequence) == (
        "Restored step 2 (email); step 3 (was 2) replies in the previous thread again"
    )
    assert focus_of(undone) == f"#step-{removed.pk}"


def test_undo_twice_restores_once(logged_in, example_sequence):
    removed = steps_of(example_sequence)[2]
    token = _remove(logged_in, example_sequence, removed)
    post(logged_in, "step_restore", example_sequence, data={"token": token})
    before = state_of(example_sequence)

    again = post(logged_in, "step_restore", example_sequence, data={"token": token})

    assert again.status_code == 422
    assert "That step is already back" in again.content.decode()
    assert state_of(example_sequence) == before


def test_undo_after_other_changes_restores_at_the_old_place_or_the_end(logged_in, example_sequence):
    steps = steps_of(example_sequence)
    token = _remove(logged_in, example_sequence, steps[1])
    _remove(logged_in, example_sequence, steps[2])

    post(logged_in, "step_restore", example_sequence, data={"token": token})

    assert [s.pk for s in steps_of(example_sequence)] == [steps[0].pk, steps[1].pk]


@pytest.mark.parametrize("problem", ["forged", "other_sequence", "expired", "empty"])
def test_a_bad_undo_token_is_refused(logged_in, example_sequence, user, problem, monkeypatch):
    removed = steps_of(example_sequence)[2]
    token = _remove(logged_in, example_sequence, removed)
    target = example_sequence
    if problem == "forged":
        token = token[:-3] + ("aaa" if not token.endswith("aaa") else "bbb")
    elif problem == "other_sequence":
        target = Sequence.create_draft(name="Other", timezone_name="UTC", user=user)
    elif problem == "expired":
        later = time.time() + 2 * 3600
        monkeypatch.setattr(signing.time, "time", lambda: later)
    elif problem == "empty":
        token = ""
    before = state_of(target)

    response = post(logged_in, "step_restore", target, data={"token": token})

    assert response.status_code == 422
    message = {
        "forged": "That undo is not valid",
        "other_sequence": "That undo belongs to another sequence.",
        "expired": "That undo has expired",
        "empty": "That undo is not valid",
    }[problem]
    assert message in response.content.decode()
    assert state_of(target) == before


def test_remove_without_javascript_shows_undo_on_the_page(logged_in, example_sequence):
    removed = steps_of(example_sequence)[0]

    response = post(logged_in, "step_remove", example_sequence, removed.pk, htmx=False)

    assert response.status_code == 302
    assert response["Location"].startswith(f"{edit_url(example_sequence)}?undo=")
    page = logged_in.get(response["Location"]).content.decode()
    assert "Saved: Removed step 1 (call)." in page
    assert 'id="undo-button">Undo</button>' in page
    token = re.search(r'name="token" value="([^"]+)"', page).group(1)
    restored = post(logged_in, "step_restore", example_sequence, data={"token": token}, htmx=False)
    assert restored.status_code == 302
    assert types_of(example_sequence) == ["call", "email", "email"]
    # Once undone, the page no longer offers it.
    assert "undo-button" not in logged_in.get(response["Location"]).content.decode()


def _remove(client, sequence, step):
    html = post(client, "step_remove", sequence, step.pk).content.decode()
    return re.search(r'name="token" value="([^"]+)"', html).group(1)


# --- Move up / Move down ---------------------------------------------------------------------
def test_move_up_reorders_and_reapplies_threading(logged_in, example_sequence):
    call, first_email, reply = steps_of(example_sequence)

    response = post(logged_in, "step_move", example_sequence, reply.pk, data={"direction": "up"})

    steps = steps_of(example_sequence)
    assert [s.pk for s in steps] == [call.pk, reply.pk, first_email.pk]
    # The reply is now the first email: it starts the thread in Close, and keeps its own choice.
    assert [s.threading for s in steps] == ["", "old_thread", "new_thread"]
    assert latest_summary(example_sequence) == (
        "Step 2 (was 3): moved up; step 2 (was 3) now starts a new thread (it is the first email)"
    )
    assert focus_of(response) == f"#step-{reply.pk}-up"
    html = response.content.decode()
    assert "step 2 (was 3) now starts a new thread" in html  # said in the status line


def test_focus_moves_to_the_other_button_at_the_ends(logged_in, example_sequence):
    call, first_email, _ = steps_of(example_sequence)

    to_top = post(
        logged_in, "step_move", example_sequence, first_email.pk, data={"direction": "up"}
    )
    down = post(
        logged_in, "step_move", example_sequence, first_email.pk, data={"direction": "down"}
    )

    assert focus_of(to_top) == f"#step-{first_email.pk}-down"
    assert focus_of(down) == f"#step-{first_email.pk}-down"
    assert [s.pk for s in steps_of(example_sequence)][:2] == [call.pk, first_email.pk]


@pytest.mark.parametrize(("index", "direction"), [(0, "up"), (2, "down")])
def test_moving_past_the_end_is_refused(logged_in, example_sequence, index, direction):
    step = steps_of(example_sequence)[index]
    before = state_of(example_sequence)

    response = post(
        logged_in, "step_move", example_sequence, step.pk, data={"direction": direction}
    )

    assert response.status_code == 422
    where = "first" if direction == "up" else "last"
    assert f"Step {index + 1} is already the {where} step." in response.content.decode()
    assert state_of(example_sequence) == before


def test_move_without_javascript_redirects_back(logged_in, example_sequence):
    call = steps_of(example_sequence)[0]

    response = post(
        logged_in, "step_move", example_sequence, call.pk, data={"direction": "down"}, htmx=False
    )

    assert response.status_code == 302
    assert types_of(example_sequence) == ["email", "call", "email"]


# --- Drag-and-drop reorder -------------------------------------------------------------------
def test_reorder_saves_the_new_order(logged_in, example_sequence):
    call, first_email, reply = steps_of(example_sequence)
    order = [reply.pk, call.pk, first_email.pk]

    response = post(logged_in, "steps_reorder", example_sequence, data={"order": order})

    steps = steps_of(example_sequence)
    assert response.status_code == 200
    assert [s.pk for s in steps] == order
    assert [s.position for s in steps] == [0, 1, 2]
    assert [s.threading for s in steps] == ["old_thread", "", "new_thread"]
    assert latest_summary(example_sequence) == (
        "Step 1 (was 3): moved up; step 1 (was 3) now starts a new thread (it is the first email)"
    )
    html = response.content.decode()
    # The cards are where the drag put them: each gets its new number, out of band.
    assert '<ol id="step-list"' not in html and 'class="step-fields"' not in html
    assert re.findall(r'id="step-\d+-title">(Step \d)<', html) == ["Step 1", "Step 2", "Step 3"]


def test_reorder_writes_only_the_steps_that_moved_in_one_transaction(logged_in, example_sequence):
    Step.objects.bulk_create(
        Step(sequence=example_sequence, position=i, step_type="call") for i in range(3, 8)
    )
    steps = steps_of(example_sequence)
    order = [s.pk for s in steps]
    order[5], order[6] = order[6], order[5]

    with CaptureQueriesContext(connection) as queries:
        post(logged_in, "steps_reorder", example_sequence, data={"order": order})

    step_updates = [
        q["sql"] for q in queries.captured_queries if q["sql"].startswith('UPDATE "builder_step"')
    ]
    assert len(step_updates) == 1
    assert sorted(map(int, re.findall(r"IN \(([\d, ]+)\)", step_updates[0])[0].split(","))) == (
        sorted([order[5], order[6]])
    )
    assert [s.pk for s in steps_of(example_sequence)] == order


def test_reorder_to_the_same_order_saves_nothing(logged_in, example_sequence):
    before = state_of(example_sequence)

    response = post(
        logged_in,
        "steps_reorder",
        example_sequence,
        data={"order": [s.pk for s in steps_of(example_sequence)]},
    )

    assert response.status_code == 200
    assert state_of(example_sequence) == before


@pytest.mark.parametrize(
    "make_order",
    [
        pytest.param(lambda ids, other: ids[:2], id="missing"),
        pytest.param(lambda ids, other: [*ids, ids[0]], id="duplicate"),
        pytest.param(lambda ids, other: [ids[0], ids[0], ids[1]], id="repeated"),
        pytest.param(lambda ids, other: [*ids[:2], other], id="another-sequence"),
        pytest.param(lambda ids, other: [*ids[:2], "x"], id="not-a-number"),
        pytest.param(lambda ids, other: [], id="empty"),
        pytest.param(lambda ids, other: [*ids, 999999], id="unknown-extra"),
    ],
)
def test_reorder_refuses_anything_but_the_exact_set_of_steps(
    logged_in, example_sequence, user, make_order
):
    other = Sequence.create_draft(name="Other", timezone_name="UTC", user=user)
    other_step = Step.objects.create(sequence=other, position=0, step_type="call")
    ids = [s.pk for s in steps_of(example_sequence)]
    before = state_of(example_sequence)

    response = post(
        logged_in,
        "steps_reorder",
        example_sequence,
        data={"order": make_order(ids, other_step.pk)},
    )

    assert response.status_code == 422
    assert "does not list exactly the steps of this sequence" in response.content.decode()
    assert state_of(example_sequence) == before


@pytest.mark.parametrize("name", ["step_add", "step_duplicate"])
def test_a_sequence_is_capped_at_200_steps(logged_in, example_sequence, name):
    Step.objects.bulk_create(
        Step(sequence=example_sequence, position=i, step_type="call") for i in range(3, 200)
    )
    before = state_of(example_sequence)
    args = () if name == "step_add" else (steps_of(example_sequence)[0].pk,)

    response = post(logged_in, name, example_sequence, *args, data={"step_type": "call"})

    assert response.status_code == 422
    assert "A sequence can have at most 200 steps." in response.content.decode()
    assert state_of(example_sequence) == before


# --- Delays imported with seconds ------------------------------------------------------------
def test_editing_hours_of_an_imported_delay_keeps_its_seconds(logged_in, example_sequence):
    """90061 s shows as 1/1/1 (+ 1 second); Hours 1 -> 2 saves 90061 + 3600, nothing else."""
    from tests.builder.editor_support import update_step

    reply = steps_of(example_sequence)[2]
    Step.objects.filter(pk=reply.pk).update(delay=90061)
    reply.refresh_from_db()
    page = logged_in.get(edit_url(example_sequence)).content.decode()

    untouched = update_step(logged_in, reply, reply_in_thread=None)  # another field changes
    reply.refresh_from_db()
    kept = reply.delay
    update_step(logged_in, reply, hours="2")
    reply.refresh_from_db()

    assert (
        f'id="step-{reply.pk}-hours" name="hours" type="text" inputmode="numeric" value="1"' in page
    )
    assert "+ 1 second (set in Close, kept)" in page
    assert untouched.status_code == 200 and kept == 90061
    assert reply.delay == 93661
    assert (
        latest_summary(example_sequence)
        == "Step 3: delay 1 day 1 hour 1 minute 1 second → 1 day 2 hours 1 minute 1 second"
    )


# --- Reordering keeps "Reply in previous thread" -----------------------------------------------
def test_a_reply_moved_to_the_top_and_back_replies_again(logged_in, example_sequence, synced):
    from builder import spec

    call, first_email, reply = steps_of(example_sequence)

    post(logged_in, "step_move", example_sequence, reply.pk, data={"direction": "up"})
    page = logged_in.get(edit_url(example_sequence)).content.decode()
    payload = spec.to_close_payload(Sequence.objects.get(pk=example_sequence.pk).to_spec())
    post(logged_in, "step_move", example_sequence, reply.pk, data={"direction": "down"})

    # On top: locked, shown as starting the thread, no problem about it, sent as new_thread.
    box = f'id="step-{reply.pk}-thread" name="reply_in_thread"'
    assert f"{box} disabled" in page
    assert "Email · Follow-up — case study · starts the thread" in page
    assert "It replies in the previous thread again if an email comes before it." in page
    assert "no earlier thread to reply in" not in page
    assert [s.get("threading") for s in payload["steps"]] == [None, "new_thread", "new_thread"]
    # Back below the other email: it replies, as the person chose.
    assert [s.threading for s in steps_of(example_sequence)] == ["", "new_thread", "old_thread"]
    assert latest_summary(example_sequence) == (
        "Step 3 (was 2): moved down; step 3 (was 2) replies in the previous thread again"
    )


def test_saving_the_first_email_keeps_its_stored_reply_choice(logged_in, example_sequence):
    from tests.builder.editor_support import update_step

    call, first_email, reply = steps_of(example_sequence)
    post(logged_in, "step_move", example_sequence, reply.pk, data={"direction": "up"})
    reply.refresh_from_db()

    # The locked box posts nothing; changing the wait must not turn the reply into new_thread.
    update_step(logged_in, reply, days="5", reply_in_thread=None)

    reply.refresh_from_db()
    assert (reply.delay, reply.threading) == (5 * 86400, "old_thread")
    assert latest_summary(example_sequence) == "Step 2: delay 3 days → 5 days"


# --- One way to number steps in summaries, history and diffs ----------------------------------
def test_history_names_steps_by_their_new_number_with_the_old_one_where_it_moved(
    logged_in, example_sequence, user
):
    from django.urls import reverse

    sequence = example_sequence
    with sequence.editing(user=user, loaded_version=sequence.version, summary="Five steps"):
        Step.objects.bulk_create(
            Step(sequence=sequence, position=i, step_type="call", delay=60) for i in (3, 4)
        )
    sequence.close_revisions()  # the drag is a sitting of its own: its revision, its summary
    steps = steps_of(example_sequence)
    order = [steps[0].pk, steps[4].pk, *[s.pk for s in steps[1:4]]]  # drag step 5 to place 2

    post(logged_in, "steps_reorder", example_sequence, data={"order": order})
    history = logged_in.get(reverse("sequence_history", args=[example_sequence.pk]))

    assert latest_summary(example_sequence) == "Step 2 (was 5): moved up"
    html = history.content.decode()
    assert "· Step 2 (was 5): moved up</p>" in html  # the revision's summary
    assert "<li>Step 2 (was 5): moved up</li>" in html  # and its diff, in the same words
    assert "Reordered steps" not in html and "moved to position" not in html


def test_moving_down_with_the_buttons_reads_like_a_drag(logged_in, example_sequence):
    call = steps_of(example_sequence)[0]

    post(logged_in, "step_move", example_sequence, call.pk, data={"direction": "down"})

    assert latest_summary(example_sequence) == "Step 2 (was 1): moved down"


# --- Review state visible from Steps ------------------------------------------------------------
def _comment(sequence, step, author, **fields):
    return Comment.objects.create(
        sequence=sequence, step=step, author=author, body="Shorter?", **fields
    )


def test_open_comments_on_a_step_show_on_its_card_with_a_link(logged_in, example_sequence, user):
    from django.urls import reverse
    from django.utils import timezone

    call, first_email, reply = steps_of(example_sequence)
    first = _comment(example_sequence, first_email, user)
    _comment(example_sequence, first_email, user)
    _comment(example_sequence, first_email, user, parent=first)  # a reply is not a thread
    _comment(example_sequence, reply, user, resolved_at=timezone.now(), resolved_by=user)
    _comment(example_sequence, None, user)  # about the whole sequence

    html = logged_in.get(edit_url(example_sequence)).content.decode()
    review = logged_in.get(reverse("sequence_review", args=[example_sequence.pk]))

    link = f'href="/sequences/{example_sequence.pk}/review/#comment-{first.pk}"'
    assert reverse("sequence_review", args=[example_sequence.pk]) in link
    assert (
        f'<a class="step-comments" {link}>2 open comments'
        '<span class="visually-hidden"> on step 2</span></a>'
    ) in html
    assert html.count('class="step-comments"') == 1  # resolved ones are not counted
    assert f'id="comment-{first.pk}"' in review.content.decode()


def test_a_draft_without_problems_says_no_problems_not_ready_to_publish(logged_in, valid, reviewer):
    from builder import review
    from tests.builder.reviewkit import fresh

    draft = logged_in.get(edit_url(valid)).content.decode()
    review.submit_for_review(sequence=valid, user=valid.created_by)
    sequence = fresh(valid)
    review.approve(sequence=sequence, user=reviewer, revision_number=sequence.version)
    approved = logged_in.get(edit_url(valid)).content.decode()

    assert '<h2 id="problems-title" class="problems-title ok">No problems</h2>' in draft
    assert "Ready to publish" not in draft
    assert '<h2 id="problems-title" class="problems-title ok">Ready to publish</h2>' in approved


def test_editor_queries_stay_the_same_with_more_steps_and_comments(
    logged_in, example_sequence, user, django_assert_num_queries
):
    def open_the_editor():
        with CaptureQueriesContext(connection) as queries:
            assert logged_in.get(edit_url(example_sequence)).status_code == 200
        return len(queries.captured_queries)

    for step in steps_of(example_sequence):
        _comment(example_sequence, step, user)
    small = open_the_editor()
    Step.objects.bulk_create(
        Step(sequence=example_sequence, position=i, step_type="call") for i in range(3, 40)
    )
    for step in steps_of(example_sequence)[3:]:
        _comment(example_sequence, step, user)
        _comment(example_sequence, step, user)

    with django_assert_num_queries(small):
        html = logged_in.get(edit_url(example_sequence)).content.decode()
    assert html.count('class="step-comments"') == 40


def test_a_move_sends_the_moved_card_and_the_buttons_that_changed(logged_in, example_sequence):
    call, first_email, reply = steps_of(example_sequence)

    response = post(logged_in, "step_move", example_sequence, reply.pk, data={"direction": "up"})

    html = response.content.decode()
    assert response["HX-Reswap"] == "none"
    # The moved card leaves its place and comes back, whole, after the card now before it.
    assert f'<li id="step-{reply.pk}" hx-swap-oob="delete"></li>' in html
    assert re.search(
        rf'<ol hx-swap-oob="afterend:#step-{call.pk}">\s*<li id="step-{reply.pk}"', html
    )
    # The card it passed is last now: its Move down is disabled, and only it is renumbered.
    tools = re.search(
        rf'<div class="step-tools" id="step-{first_email.pk}-tools"[^>]*>.*?</div>', html, re.S
    )
    assert tools and "hx-swap-oob" in tools.group(0)
    assert re.search(rf'id="step-{first_email.pk}-down" class="small" disabled', tools.group(0))
    assert f'id="step-{call.pk}-head"' not in html
