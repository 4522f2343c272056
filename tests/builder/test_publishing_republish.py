"""Republishing: an edited, re-approved sequence updates Close with PUT, keeping step ids."""

import pytest

from builder import close, publishing, spec
from builder.models import PublishAttempt, Sequence, Step
from tests.conftest import EXAMPLE_EMAIL_1, EXAMPLE_EMAIL_2, approve

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def quick(settings):
    settings.PUBLISH_SETTLE_SECONDS = 0.3
    settings.CLOSE_MAX_WAIT_IN_JOB = 0.0


@pytest.fixture
def published(approved_sequence, publisher, sandbox, synced):
    outcome = publishing.publish_sequence(sequence=approved_sequence, user=publisher)
    assert outcome.ok, outcome.message
    return Sequence.objects.get(pk=approved_sequence.pk)


def test_republish_after_reorder_edit_delete_and_add_keeps_the_right_ids(
    published, publisher, user, reviewer, sandbox
):
    call, intro, follow_up = published.ordered_steps()
    with published.editing(user=user, loaded_version=published.version, summary="Rework"):
        call.delete()  # deleted
        # reordered: the follow-up goes first (and so starts the thread) ...
        Step.objects.filter(pk=follow_up.pk).update(position=0, threading="new_thread")
        # ... and the intro, edited, comes second as a reply
        Step.objects.filter(pk=intro.pk).update(position=1, delay=2 * 86400, threading="old_thread")
        new = Step.objects.create(sequence=published, position=2, step_type="call", delay=3600)
    approve(Sequence.objects.get(pk=published.pk), reviewer)

    outcome = publishing.publish_sequence(
        sequence=Sequence.objects.get(pk=published.pk), user=publisher
    )

    assert outcome.ok, outcome.message
    assert outcome.attempt.action == PublishAttempt.Action.UPDATE
    [put] = [r for r in sandbox.requests if r.method == "PUT"]
    assert put.path == f"/api/v1/sequence/{published.close_id}/"
    assert put.body["steps"] == [
        {
            "id": follow_up.close_id,
            "step_type": "email",
            "delay": 259200,
            "email_template_id": EXAMPLE_EMAIL_2,
            "threading": "new_thread",
        },
        {
            "id": intro.close_id,
            "step_type": "email",
            "delay": 2 * 86400,
            "email_template_id": EXAMPLE_EMAIL_1,
            "threading": "old_thread",
        },
        {"step_type": "call", "delay": 3600, "required": True},
    ]
    assert call.close_id not in str(put.body)
    [stored] = sandbox.sequences
    assert [step["id"] for step in stored["steps"]][:2] == [follow_up.close_id, intro.close_id]
    assert stored["steps"][1]["delay"] == 2 * 86400
    new.refresh_from_db()
    assert new.close_id == stored["steps"][2]["id"] and new.close_id.startswith("seqstep_")
    sequence = Sequence.objects.get(pk=published.pk)
    assert sequence.status == Sequence.Status.PUBLISHED
    assert sequence.published_revision.number == sequence.version
    assert len(sandbox.sequences) == 1 and len(sandbox.created_payloads) == 1


def test_republish_keeps_closes_status_unless_asked(published, publisher, user, reviewer, sandbox):
    with published.editing(user=user, loaded_version=published.version, summary="Rename"):
        Sequence.objects.filter(pk=published.pk).update(name="Renamed")
    approve(Sequence.objects.get(pk=published.pk), reviewer)

    publishing.publish_sequence(
        sequence=Sequence.objects.get(pk=published.pk), user=publisher, requested_status="paused"
    )

    [put] = [r for r in sandbox.requests if r.method == "PUT"]
    assert put.body["status"] == "paused" and put.body["name"] == "Renamed"
    assert sandbox.sequences[0]["status"] == "paused"


def test_an_unclear_answer_to_an_update_is_checked(published, publisher, user, reviewer, sandbox):
    with published.editing(user=user, loaded_version=published.version, summary="Rename"):
        Sequence.objects.filter(pk=published.pk).update(name="Renamed")
    approve(Sequence.objects.get(pk=published.pk), reviewer)
    sandbox.inject("commit_then_drop", method="PUT", path="/sequence/")

    outcome = publishing.publish_sequence(
        sequence=Sequence.objects.get(pk=published.pk), user=publisher
    )

    assert outcome.ok
    assert outcome.attempt.outcome == PublishAttempt.Outcome.FOUND_EXISTING
    assert Sequence.objects.get(pk=published.pk).status == Sequence.Status.PUBLISHED


def test_an_update_close_did_not_apply_is_reported(published, publisher, user, reviewer, sandbox):
    with published.editing(user=user, loaded_version=published.version, summary="Rename"):
        Sequence.objects.filter(pk=published.pk).update(name="Renamed")
    approve(Sequence.objects.get(pk=published.pk), reviewer)
    sandbox.inject("error", status=500, method="PUT", path="/sequence/")

    outcome = publishing.publish_sequence(
        sequence=Sequence.objects.get(pk=published.pk), user=publisher
    )

    assert not outcome.ok
    assert "We checked: Close did not save the changes" in outcome.message
    assert sandbox.sequences[0]["name"] == "My Sequence"
    assert Sequence.objects.get(pk=published.pk).status == Sequence.Status.APPROVED


def test_a_sequence_deleted_in_close_is_reported(published, publisher, user, reviewer, sandbox):
    with published.editing(user=user, loaded_version=published.version, summary="Rename"):
        Sequence.objects.filter(pk=published.pk).update(name="Renamed")
    approve(Sequence.objects.get(pk=published.pk), reviewer)
    close.client_from_settings().delete_sequence(published.close_id)

    outcome = publishing.publish_sequence(
        sequence=Sequence.objects.get(pk=published.pk), user=publisher
    )

    assert not outcome.ok
    assert "Close no longer has this sequence" in outcome.message
    assert sandbox.sequences == [], "an update never re-creates"


def test_steps_of_types_we_do_not_model_are_sent_back_by_id():
    task = {"id": "seqstep_task1", "step_type": "task", "delay": 60, "task_text": "Call back"}
    sequence_spec = spec.from_close(
        {
            "name": "N",
            "timezone": "UTC",
            "steps": [
                {"id": "seqstep_a", "step_type": "call", "delay": 0, "required": True},
                task,
            ],
        }
    )

    payload = publishing.build_payload(sequence_spec, action="update")

    assert payload["steps"] == [
        {"id": "seqstep_a", "step_type": "call", "delay": 0, "required": True},
        {"id": "seqstep_task1"},
    ]


def test_steps_made_in_closes_app_survive_import_edit_and_republish(
    user, reviewer, publisher, sandbox, synced
):
    """A Close UI sequence with a task step: we may change the call, the task must stay as is."""
    from builder.importing import import_from_close

    made = sandbox.add_ui_sequence(
        {
            "name": "Built in Close",
            "timezone": "America/New_York",
            "steps": [
                {"step_type": "call", "delay": 0},
                {"step_type": "task", "delay": 3600, "task_text": "Research the account"},
            ],
        }
    )
    call_id, task_id = (step["id"] for step in made["steps"])
    imported, _notes = import_from_close(
        close_id=made["id"], user=user, client=close.client_from_settings()
    )
    call, task = imported.ordered_steps()
    assert task.step_type == "task" and task.close_id == task_id
    with imported.editing(user=user, loaded_version=imported.version, summary="Later call"):
        Step.objects.filter(pk=call.pk).update(delay=7200)
    approve(Sequence.objects.get(pk=imported.pk), reviewer)

    outcome = publishing.publish_sequence(
        sequence=Sequence.objects.get(pk=imported.pk), user=publisher
    )

    assert outcome.ok, outcome.message
    [put] = [r for r in sandbox.requests if r.method == "PUT"]
    assert put.body["steps"] == [
        {"id": call_id, "step_type": "call", "delay": 7200, "required": True},
        {"id": task_id},
    ]
    [stored] = sandbox.sequences
    assert [(s["id"], s["step_type"]) for s in stored["steps"]] == [
        (call_id, "call"),
        (task_id, "task"),
    ]
    assert stored["steps"][1]["task_text"] == "Research the account"
    assert stored["steps"][0]["delay"] == 7200
