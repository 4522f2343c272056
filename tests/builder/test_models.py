import pytest

from builder import spec
from builder.models import CloseTemplate, EditConflict, Sequence, Step
from tests.conftest import EXAMPLE_EMAIL_1, EXAMPLE_EMAIL_2

pytestmark = pytest.mark.django_db


def test_new_draft_is_scheduled_weekdays_nine_to_five(user):
    sequence = Sequence.create_draft(name="Q3", timezone_name="Europe/Berlin", user=user)

    ranges = sequence.to_spec().schedule
    assert ranges == [spec.ScheduleRange(day, "09:00", "16:59") for day in range(1, 6)]
    assert sequence.status == Sequence.Status.DRAFT
    assert sequence.created_by == user


def test_to_spec_orders_steps_by_position_and_builds_closes_payload(example_sequence):
    Step.objects.filter(sequence=example_sequence, position=0).update(position=9)

    payload = spec.to_close_payload(example_sequence.to_spec())

    assert [step["step_type"] for step in payload["steps"]] == ["email", "email", "call"]
    assert payload["steps"][0]["email_template_id"] == EXAMPLE_EMAIL_1
    assert payload["schedule"]["ranges"][0] == {"weekday": 1, "start": "09:00", "end": "16:59"}


def test_no_schedule_sends_no_schedule_key(example_sequence):
    example_sequence.has_schedule = False

    assert "schedule" not in spec.to_close_payload(example_sequence.to_spec())


def test_problems_use_the_template_cache(example_sequence):
    CloseTemplate.objects.create(
        close_id=EXAMPLE_EMAIL_1, kind="email", name="Intro", is_shared=False
    )
    CloseTemplate.objects.create(
        close_id=EXAMPLE_EMAIL_2, kind="email", name="Bump", is_shared=True, is_archived=True
    )

    codes = {problem.code for problem in spec.blocking(example_sequence.problems())}

    assert "template_not_shared" in codes
    assert "template_archived" in codes


def test_template_deleted_in_close_counts_as_missing(example_sequence):
    for close_id in (EXAMPLE_EMAIL_1, EXAMPLE_EMAIL_2):
        CloseTemplate.objects.create(
            close_id=close_id,
            kind="email",
            name=close_id,
            is_shared=True,
            present_in_close=False,
        )

    paths = {problem.path for problem in spec.blocking(example_sequence.problems())}

    assert paths == {"steps.1.email_template_id", "steps.2.email_template_id"}


def test_claim_version_refuses_a_stale_editor_and_names_who_saved(example_sequence, other_user):
    loaded = example_sequence.version
    example_sequence.claim_version(loaded_version=loaded, user=other_user)

    stale = Sequence.objects.get(pk=example_sequence.pk)
    with pytest.raises(EditConflict) as conflict:
        stale.claim_version(loaded_version=loaded, user=example_sequence.created_by)

    assert "bob saved this sequence" in str(conflict.value)
    assert Sequence.objects.get(pk=example_sequence.pk).version == loaded + 1


def test_a_new_draft_starts_at_revision_one(user):
    sequence = Sequence.create_draft(name="Q3", timezone_name="Europe/Berlin", user=user)

    revision = sequence.revisions.get()
    assert (revision.number, revision.created_by, revision.summary) == (1, user, "Created")
    assert revision.to_spec() == sequence.to_spec()


def test_editing_records_a_revision_of_the_saved_state(example_sequence, other_user):
    with example_sequence.editing(user=other_user, loaded_version=1, summary="Longer wait"):
        Step.objects.filter(sequence=example_sequence, position=2).update(delay=5 * 86400)

    latest = example_sequence.revisions.first()
    assert latest.number == example_sequence.version == 2
    assert latest.created_by == other_user
    assert latest.to_spec().steps[2].delay == 5 * 86400


def test_edit_after_approval_returns_to_draft_and_logs_it(example_sequence, user, other_user):
    example_sequence.approved_revision = example_sequence.revisions.first()
    example_sequence.change_status(Sequence.Status.APPROVED, user=other_user)

    with example_sequence.editing(user=user, loaded_version=example_sequence.version):
        example_sequence.name = "Changed after approval"
        example_sequence.save()

    example_sequence.refresh_from_db()
    assert example_sequence.status == Sequence.Status.DRAFT
    assert example_sequence.approved_revision is None
    change = example_sequence.state_changes.first()
    assert (change.from_status, change.to_status, change.user) == ("approved", "draft", user)
    assert "back to draft" in change.note


def test_stale_edit_records_nothing(example_sequence, user, other_user):
    with example_sequence.editing(user=other_user, loaded_version=1):
        pass

    stale = Sequence.objects.get(pk=example_sequence.pk)
    with pytest.raises(EditConflict), stale.editing(user=user, loaded_version=1):
        Step.objects.filter(sequence=stale).delete()

    assert stale.steps.count() == 3
    assert stale.revisions.count() == 2
