"""A person's autosaves in a row are one revision; the version still counts every save, and an
approved or published revision never changes afterwards (issue 11, history noise)."""

import pytest
from django.db.models import F
from django.urls import reverse

from builder import publishing, review
from builder.models import REVISION_PAUSE, EditConflict, Revision, Sequence, Step
from tests.builder.reviewkit import fresh

pytestmark = pytest.mark.django_db


def save(sequence, user, *, delay=None, summary="Edited", loaded=None):
    """One autosave of step 2's wait, as the editor sends it."""
    sequence.refresh_from_db()
    version = sequence.version if loaded is None else loaded
    with sequence.editing(user=user, loaded_version=version, summary=summary):
        Step.objects.filter(sequence=sequence, position=1).update(delay=delay)
    return fresh(sequence)


def numbers(sequence):
    return list(
        Revision.objects.filter(sequence=sequence)
        .order_by("number")
        .values_list("number", "created_by__username", "saves")
    )


def pause(sequence):
    Revision.objects.filter(sequence=sequence).update(created_at=F("created_at") - REVISION_PAUSE)


def test_one_persons_saves_in_a_row_are_one_revision(valid, user):
    start = valid.version
    for days in (2, 3, 4, 5):
        sequence = save(valid, user, delay=days * 86400, summary=f"Wait {days} days")

    assert sequence.version == start + 4  # every save still counts, for conflicts
    latest = Revision.objects.filter(sequence=valid).order_by("-number").first()
    assert numbers(valid) == [(1, "alice", 1), (sequence.version, "alice", 4)]
    assert latest.summary == "Wait 5 days"  # the latest save's: "their last change"
    assert latest.to_spec() == sequence.to_spec()
    assert review.current_revision(sequence) == latest


def test_a_stale_page_is_still_refused_while_saves_are_grouped(valid, user):
    loaded = fresh(valid).version
    save(valid, user, delay=2 * 86400)
    save(valid, user, delay=3 * 86400)

    with pytest.raises(EditConflict):
        save(valid, user, delay=9 * 86400, loaded=loaded)  # another tab, opened before
    assert fresh(valid).ordered_steps()[1].delay == 3 * 86400


def test_someone_elses_save_closes_the_revision(valid, user, other_user):
    save(valid, user, delay=2 * 86400)
    save(valid, other_user, delay=3 * 86400)
    sequence = save(valid, user, delay=4 * 86400)

    assert [row[1:] for row in numbers(valid)] == [
        ("alice", 1),
        ("alice", 1),
        ("bob", 1),
        ("alice", 1),
    ]
    assert numbers(valid)[-1][0] == sequence.version


def test_a_pause_closes_the_revision(valid, user):
    save(valid, user, delay=2 * 86400)
    pause(valid)
    save(valid, user, delay=3 * 86400)

    assert [row[2] for row in numbers(valid)] == [1, 1, 1]


def test_submitting_closes_the_revision_so_the_submitted_one_never_changes(valid, user):
    save(valid, user, delay=2 * 86400)
    review.submit_for_review(sequence=fresh(valid), user=user)
    submitted = review.current_revision(fresh(valid))
    snapshot = submitted.snapshot_data()

    sequence = save(valid, user, delay=3 * 86400)  # back to draft, a revision of its own

    submitted.refresh_from_db()
    assert submitted.snapshot_data() == snapshot and submitted.number == sequence.version - 1
    assert sequence.status == Sequence.Status.DRAFT


def test_an_approved_revision_never_changes_after_an_edit(in_review, reviewer, user):
    review.approve(sequence=in_review, user=reviewer, revision_number=in_review.version)
    approved = fresh(in_review).approved_revision
    snapshot, number = approved.snapshot_data(), approved.number

    save(in_review, user, delay=9 * 86400)  # the author, a moment later
    sequence = save(in_review, user, delay=10 * 86400)

    approved.refresh_from_db()
    assert (approved.snapshot_data(), approved.number) == (snapshot, number)
    assert review.last_approved_revision(sequence) == approved
    # The two saves after the approval are one revision, and it is not the approved one.
    assert numbers(in_review)[-1] == (sequence.version, "alice", 2)
    assert sequence.status == Sequence.Status.DRAFT


def test_the_edit_that_returns_a_sequence_to_draft_keeps_its_revision_open(approved, user):
    save(approved, user, delay=9 * 86400)
    sequence = save(approved, user, delay=10 * 86400)

    assert numbers(approved)[-1] == (sequence.version, "alice", 2)


def test_a_restore_is_a_revision_of_its_own(valid, user):
    save(valid, user, delay=2 * 86400)
    pause(valid)
    save(valid, user, delay=3 * 86400)
    sequence = fresh(valid)
    second = numbers(valid)[1][0]

    restored = review.restore_revision(
        sequence=sequence, user=user, revision_number=second, loaded_version=sequence.version
    )
    after = save(valid, user, delay=4 * 86400)

    restored.refresh_from_db()
    assert restored.summary == f"Restored revision {second}" and restored.saves == 1
    assert restored.to_spec().steps[1].delay == 2 * 86400
    assert numbers(valid)[-1] == (after.version, "alice", 1)


def test_a_published_revision_never_changes_after_an_edit(
    approved, user, publisher, sandbox, synced, jobs_inline, settings
):
    settings.PUBLISH_SETTLE_SECONDS = 0.3
    publishing.publish_sequence(sequence=approved, user=publisher, requested_status="paused")
    published = fresh(approved).published_revision
    snapshot, number = published.snapshot_data(), published.number

    save(approved, user, delay=9 * 86400)
    save(approved, user, delay=10 * 86400)

    published.refresh_from_db()
    assert (published.snapshot_data(), published.number) == (snapshot, number)
    assert fresh(approved).published_revision_id == published.pk


def test_history_says_how_many_saves_a_revision_groups(logged_in, valid, user):
    for days in (2, 3, 4):
        save(valid, user, delay=days * 86400, summary=f"Wait {days} days")

    html = logged_in.get(reverse("sequence_history", args=[valid.pk])).content.decode()

    assert "3 saves · the last: Wait 4 days" in html
