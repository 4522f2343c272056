"""The review service: every transition, and every refusal with its message."""

import pytest

from builder import review
from builder.models import CloseTemplate, Comment, EditConflict, Sequence, Step
from tests.builder.reviewkit import edit, fresh
from tests.conftest import make_user, mark_published

pytestmark = pytest.mark.django_db
Status = Sequence.Status


# --- Transitions ------------------------------------------------------------------------------
def test_submit_moves_draft_to_in_review_and_logs_the_revision(valid, user):
    change = review.submit_for_review(sequence=valid, user=user)

    assert valid.status == Status.IN_REVIEW  # the caller's object sees the new state
    sequence = fresh(valid)
    assert sequence.status == Status.IN_REVIEW
    assert (change.from_status, change.to_status, change.user) == ("draft", "in_review", user)
    assert change.revision.number == sequence.version
    assert change.note == f"Submitted revision {sequence.version} for review."


def test_submit_records_rows_changed_outside_the_editor_as_a_revision(valid, user):
    # The fixture added the steps without a revision (as the admin or an import could).
    assert valid.revisions.get().to_spec().steps == []

    review.submit_for_review(sequence=valid, user=user)

    sequence = fresh(valid)
    submitted = review.current_revision(sequence)
    assert sequence.version == 2
    assert submitted.created_by == user
    assert len(submitted.to_spec().steps) == 3
    assert submitted.to_spec() == sequence.to_spec()


def test_submit_records_a_revision_for_a_sequence_that_has_none(valid, user, reviewer):
    valid.revisions.all().delete()  # as seeded or imported data may be

    review.submit_for_review(sequence=valid, user=user)
    sequence = fresh(valid)
    review.approve(sequence=sequence, user=reviewer, revision_number=sequence.version)

    assert fresh(valid).approved_revision.to_spec() == sequence.to_spec()


def test_submit_keeps_the_revision_when_it_matches(valid, user):
    edit(valid, user, delay=2 * 86400)  # now revision 2 records the steps
    review.submit_for_review(sequence=fresh(valid), user=user)

    assert fresh(valid).version == 2


def test_approve_moves_to_approved_for_exactly_the_current_revision(in_review, reviewer):
    change = review.approve(sequence=in_review, user=reviewer, revision_number=in_review.version)

    sequence = fresh(in_review)
    assert sequence.status == Status.APPROVED
    assert sequence.approved_revision.number == sequence.version
    assert (change.from_status, change.to_status, change.user) == (
        "in_review",
        "approved",
        reviewer,
    )
    assert change.revision == sequence.approved_revision


def test_request_changes_logs_and_leaves_an_open_comment(in_review, reviewer):
    change = review.request_changes(
        sequence=in_review, user=reviewer, comment="  Wait two days before the email.  "
    )

    assert fresh(in_review).status == Status.CHANGES_REQUESTED
    assert change.note == "Wait two days before the email."
    comment = Comment.objects.get()
    assert (comment.author, comment.body, comment.resolved_at) == (
        reviewer,
        "Wait two days before the email.",
        None,
    )
    assert comment.revision.number == in_review.version


def test_edit_while_changes_requested_stays_there_until_resubmitted(in_review, reviewer, user):
    review.request_changes(sequence=in_review, user=reviewer, comment="Longer wait")
    edit(in_review, user, delay=2 * 86400)

    sequence = fresh(in_review)
    assert sequence.status == Status.CHANGES_REQUESTED
    review.submit_for_review(sequence=sequence, user=user)
    assert fresh(sequence).status == Status.IN_REVIEW


def test_edit_after_approval_clears_it_and_publishing_is_refused(approved, user, publisher):
    edit(approved, user, delay=5 * 86400)

    sequence = fresh(approved)
    assert (sequence.status, sequence.approved_revision) == (Status.DRAFT, None)
    with pytest.raises(review.WrongState):
        review.assert_can_publish(sequence=sequence, user=publisher)


def test_assert_can_publish_passes_for_approved_current_revision(approved, publisher):
    review.assert_can_publish(sequence=approved, user=publisher)


def test_full_cycle_with_changes_requested(valid, user, reviewer):
    review.submit_for_review(sequence=valid, user=user)
    review.request_changes(sequence=valid, user=reviewer, comment="Longer wait")
    edit(valid, user, delay=2 * 86400)
    review.submit_for_review(sequence=fresh(valid), user=user)
    sequence = fresh(valid)
    review.approve(sequence=sequence, user=reviewer, revision_number=sequence.version)

    moves = [(c.from_status, c.to_status) for c in fresh(valid).state_changes.order_by("pk")]
    assert moves == [
        ("draft", "in_review"),
        ("in_review", "changes_requested"),
        ("changes_requested", "in_review"),
        ("in_review", "approved"),
    ]


# --- Refusals: submit -------------------------------------------------------------------------
@pytest.mark.parametrize("who", ["reviewer", "publisher", "viewer"])
def test_only_editors_submit(valid, who, request):
    with pytest.raises(review.NotAllowed, match="Only Editors can submit"):
        review.submit_for_review(sequence=valid, user=request.getfixturevalue(who))
    assert fresh(valid).status == Status.DRAFT


def test_submit_refuses_a_sequence_with_blocking_problems_and_lists_them(example_sequence, user):
    # No templates cached: both emails point at templates we do not know.
    with pytest.raises(review.HasProblems) as refusal:
        review.submit_for_review(sequence=example_sequence, user=user)

    assert "2 problems must be fixed first" in refusal.value.message
    assert "Step 2's email template is not among the synced templates" in refusal.value.message
    assert [p.path for p in refusal.value.problems] == [
        "steps.1.email_template_id",
        "steps.2.email_template_id",
    ]
    assert fresh(example_sequence).status == Status.DRAFT
    assert not fresh(example_sequence).state_changes.exists()


def test_submit_refused_while_in_review(in_review, user):
    with pytest.raises(review.WrongState, match="already in review"):
        review.submit_for_review(sequence=in_review, user=user)


def test_submit_refused_when_approved(approved, user):
    with pytest.raises(review.WrongState, match="already approved"):
        review.submit_for_review(sequence=approved, user=user)


def test_submit_refused_when_published_and_unchanged(approved, user, publisher):
    mark_published(approved, close_sequence={"id": "seq_1", "steps": []}, user=publisher)

    with pytest.raises(review.WrongState, match="published and has not changed"):
        review.submit_for_review(sequence=fresh(approved), user=user)


# --- Refusals: approve ------------------------------------------------------------------------
@pytest.mark.parametrize("who", ["user", "publisher", "viewer"])
def test_only_reviewers_approve(in_review, who, request):
    with pytest.raises(review.NotAllowed, match="Only Reviewers"):
        review.approve(
            sequence=in_review, user=request.getfixturevalue(who), revision_number=in_review.version
        )
    assert fresh(in_review).status == Status.IN_REVIEW


def test_author_cannot_approve_their_own_revision(valid, editor_reviewer):
    review.submit_for_review(sequence=valid, user=editor_reviewer)
    sequence = fresh(valid)

    with pytest.raises(review.NotAllowed) as refusal:
        review.approve(sequence=sequence, user=editor_reviewer, revision_number=sequence.version)

    assert refusal.value.message == (
        f"You saved revision {sequence.version}, which is part of the changes under review. "
        "Another reviewer must approve them."
    )
    assert fresh(valid).status == Status.IN_REVIEW


def test_author_of_an_earlier_revision_under_review_cannot_approve(valid, user, editor_reviewer):
    edit(valid, editor_reviewer, delay=2 * 86400)  # erin's change...
    edit(valid, user, delay=3 * 86400)  # ...then alice saves on top of it
    review.submit_for_review(sequence=fresh(valid), user=user)
    sequence = fresh(valid)

    with pytest.raises(review.NotAllowed, match="You saved revision 2"):
        review.approve(sequence=sequence, user=editor_reviewer, revision_number=sequence.version)


def test_editing_before_the_last_approval_does_not_block_approving(
    valid, user, reviewer, editor_reviewer
):
    edit(valid, editor_reviewer, delay=2 * 86400)
    review.submit_for_review(sequence=fresh(valid), user=user)
    review.approve(sequence=fresh(valid), user=reviewer, revision_number=fresh(valid).version)
    edit(valid, user, delay=3 * 86400)  # a new change by alice only
    review.submit_for_review(sequence=fresh(valid), user=user)
    sequence = fresh(valid)

    review.approve(sequence=sequence, user=editor_reviewer, revision_number=sequence.version)

    assert fresh(valid).status == Status.APPROVED


def test_superuser_holds_every_role_but_still_cannot_approve_their_own_work(
    valid, django_user_model
):
    boss = django_user_model.objects.create_superuser("boss", "boss@example.com", "pw-boss-1")
    review.submit_for_review(sequence=valid, user=boss)

    with pytest.raises(review.NotAllowed, match="Another reviewer must approve"):
        review.approve(sequence=fresh(valid), user=boss, revision_number=fresh(valid).version)


def test_approving_a_stale_revision_is_refused(in_review, reviewer, user):
    looked_at = in_review.version
    edit(in_review, user, delay=2 * 86400)  # back to draft...
    review.submit_for_review(sequence=fresh(in_review), user=user)  # ...and in review again

    with pytest.raises(review.StaleRevision) as refusal:
        review.approve(sequence=fresh(in_review), user=reviewer, revision_number=looked_at)

    assert refusal.value.message == (
        f"You are approving revision {looked_at}, but the current revision is "
        f"{looked_at + 1}. Review the latest changes, then approve."
    )
    assert fresh(in_review).status == Status.IN_REVIEW


def test_approve_refused_unless_in_review(valid, reviewer):
    with pytest.raises(review.WrongState, match="this one is draft"):
        review.approve(sequence=valid, user=reviewer, revision_number=valid.version)


def test_second_approval_of_the_same_review_is_refused(in_review, reviewer, django_user_model):
    other = make_user(django_user_model, "ravi", "Reviewer")
    stale_object = fresh(in_review)
    review.approve(sequence=in_review, user=reviewer, revision_number=in_review.version)

    # The second reviewer's page was loaded before: the service re-reads the row under lock.
    with pytest.raises(review.WrongState, match="this one is approved"):
        review.approve(sequence=stale_object, user=other, revision_number=stale_object.version)


def test_approve_refused_when_rows_changed_outside_the_editor(in_review, reviewer):
    Step.objects.filter(sequence=in_review, position=1).update(delay=99 * 86400)

    with pytest.raises(review.StaleRevision, match="changed outside the editor"):
        review.approve(sequence=in_review, user=reviewer, revision_number=in_review.version)


def test_approve_refused_when_a_template_was_archived_since_submitting(in_review, reviewer):
    CloseTemplate.objects.filter(name="Intro").update(is_archived=True)

    with pytest.raises(review.HasProblems, match="cannot be approved"):
        review.approve(sequence=in_review, user=reviewer, revision_number=in_review.version)


# --- Refusals: request changes ----------------------------------------------------------------
@pytest.mark.parametrize("comment", ["", "   \n "])
def test_request_changes_needs_a_comment(in_review, reviewer, comment):
    with pytest.raises(review.InvalidInput, match="the comment is required") as refusal:
        review.request_changes(sequence=in_review, user=reviewer, comment=comment)

    assert refusal.value.status == 400
    assert fresh(in_review).status == Status.IN_REVIEW
    assert not Comment.objects.exists()


def test_request_changes_checks_the_role_before_the_comment(in_review, user):
    with pytest.raises(review.NotAllowed, match="Only Reviewers"):
        review.request_changes(sequence=in_review, user=user, comment="")


def test_request_changes_refused_unless_in_review(approved, reviewer):
    with pytest.raises(
        review.WrongState, match="only be requested while the sequence is in review"
    ):
        review.request_changes(sequence=approved, user=reviewer, comment="Too late")


def test_request_changes_comment_has_a_length_limit(in_review, reviewer):
    with pytest.raises(review.InvalidInput, match="keep it to 5000"):
        review.request_changes(sequence=in_review, user=reviewer, comment="x" * 5001)


# --- Refusals: publishing (assert_can_publish) ------------------------------------------------
@pytest.mark.parametrize("who", ["user", "reviewer", "viewer"])
def test_only_publishers_publish(approved, who, request):
    with pytest.raises(review.NotAllowed, match="Only Publishers"):
        review.assert_can_publish(sequence=approved, user=request.getfixturevalue(who))


@pytest.mark.parametrize("state", ["valid", "in_review"])
def test_publishing_an_unapproved_sequence_is_refused(state, request, publisher):
    sequence = request.getfixturevalue(state)

    with pytest.raises(review.WrongState, match="Only an approved sequence can be published"):
        review.assert_can_publish(sequence=sequence, user=publisher)


def test_publishing_after_publish_needs_a_new_review(approved, publisher):
    mark_published(approved, close_sequence={"id": "seq_1", "steps": []}, user=publisher)

    with pytest.raises(review.WrongState, match="this one is published"):
        review.assert_can_publish(sequence=approved, user=publisher)


def test_publishing_an_approval_of_an_older_revision_is_refused(approved, user, publisher):
    # A save that slipped past the reset (e.g. a race): still approved, but a newer version.
    Sequence.objects.filter(pk=approved.pk).update(version=approved.version + 1)

    with pytest.raises(review.StaleRevision, match="older revision"):
        review.assert_can_publish(sequence=approved, user=publisher)


def test_publishing_refused_when_rows_changed_outside_the_editor(approved, publisher):
    Step.objects.filter(sequence=approved, position=0).delete()

    with pytest.raises(review.StaleRevision, match="changed outside the editor"):
        review.assert_can_publish(sequence=approved, user=publisher)


def test_assert_can_publish_reads_the_sequence_afresh(approved, user, publisher):
    stale_object = fresh(approved)
    edit(approved, user, delay=5 * 86400)

    with pytest.raises(review.WrongState):
        review.assert_can_publish(sequence=stale_object, user=publisher)


def test_refusals_are_permission_denied_with_a_status():
    from django.core.exceptions import PermissionDenied

    assert issubclass(review.ReviewRefused, PermissionDenied)
    assert review.NotAllowed("x").status == 403
    assert review.StaleRevision("x").status == 403
    assert review.InvalidInput("x").status == 400


# --- Comments ---------------------------------------------------------------------------------
def test_comment_on_the_sequence_and_on_a_step(valid, reviewer):
    second = valid.ordered_steps()[1]

    general = review.add_comment(sequence=valid, user=reviewer, body="Looks good overall")
    on_step = review.add_comment(
        sequence=valid, user=reviewer, body="Two days here", step_id=str(second.pk)
    )

    assert (general.step, general.step_label) == (None, "")
    assert (on_step.step, on_step.step_label) == (second, "Step 2 · Email")
    assert on_step.revision.number == valid.version


def test_replies_join_the_thread_and_its_step(valid, reviewer, user):
    second = valid.ordered_steps()[1]
    root = review.add_comment(sequence=valid, user=reviewer, body="?", step_id=second.pk)
    reply = review.add_comment(sequence=valid, user=user, body="Done", parent_id=str(root.pk))
    reply_to_reply = review.add_comment(
        sequence=valid, user=reviewer, body="Ok", parent_id=reply.pk
    )

    assert reply.parent == root and reply_to_reply.parent == root
    assert reply_to_reply.step == second and reply_to_reply.step_label == "Step 2 · Email"


def test_replying_to_a_resolved_thread_reopens_it(valid, reviewer, user):
    root = review.add_comment(sequence=valid, user=reviewer, body="?")
    review.resolve_comment(sequence=valid, user=user, comment_id=root.pk)

    review.add_comment(sequence=valid, user=reviewer, body="Not quite", parent_id=root.pk)

    assert Comment.objects.get(pk=root.pk).resolved_at is None


def test_resolve_marks_the_thread_and_is_idempotent(valid, reviewer, user):
    root = review.add_comment(sequence=valid, user=reviewer, body="?")
    reply = review.add_comment(sequence=valid, user=user, body="Fixed", parent_id=root.pk)

    resolved = review.resolve_comment(sequence=valid, user=user, comment_id=reply.pk)
    again = review.resolve_comment(sequence=valid, user=reviewer, comment_id=root.pk)

    assert resolved.pk == root.pk and resolved.resolved_by == user
    assert again.resolved_by == user and again.resolved_at == resolved.resolved_at


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"body": ""}, "Write a comment first."),
        ({"body": "x" * 5001}, "keep it to 5000"),
        ({"body": "hi", "step_id": "999999"}, "That step is not in this sequence"),
        ({"body": "hi", "step_id": "not-a-number"}, "That step is not in this sequence"),
        ({"body": "hi", "parent_id": "999999"}, "That comment does not exist"),
    ],
)
def test_bad_comments_are_refused(valid, reviewer, kwargs, message):
    with pytest.raises(review.InvalidInput, match=message):
        review.add_comment(sequence=valid, user=reviewer, **kwargs)
    assert not Comment.objects.exists()


def test_comment_cannot_point_at_another_sequences_step_or_comment(valid, reviewer, user):
    other = Sequence.create_draft(name="Other", timezone_name="UTC", user=user)
    foreign_step = Step.objects.create(sequence=other, step_type="call")
    foreign_comment = review.add_comment(sequence=other, user=reviewer, body="elsewhere")

    with pytest.raises(review.InvalidInput):
        review.add_comment(sequence=valid, user=reviewer, body="x", step_id=foreign_step.pk)
    with pytest.raises(review.InvalidInput):
        review.add_comment(sequence=valid, user=reviewer, body="x", parent_id=foreign_comment.pk)
    with pytest.raises(review.InvalidInput):
        review.resolve_comment(sequence=valid, user=reviewer, comment_id=foreign_comment.pk)


def test_members_without_a_role_cannot_comment_or_resolve(valid, viewer, reviewer):
    root = review.add_comment(sequence=valid, user=reviewer, body="?")

    with pytest.raises(review.NotAllowed, match="Only team members with a role"):
        review.add_comment(sequence=valid, user=viewer, body="me too")
    with pytest.raises(review.NotAllowed):
        review.resolve_comment(sequence=valid, user=viewer, comment_id=root.pk)


# --- Restore ----------------------------------------------------------------------------------
def test_restore_makes_a_new_revision_with_the_old_content(valid, user):
    edit(valid, user, delay=2 * 86400, summary="Two days")  # revision 2
    old = fresh(valid).revisions.get(number=2)
    edit(valid, user, delay=7 * 86400, name="Renamed")  # revision 3
    sequence = fresh(valid)

    restored = review.restore_revision(
        sequence=sequence, user=user, revision_number=2, loaded_version=sequence.version
    )

    sequence = fresh(valid)
    assert restored.number == sequence.version == 4
    assert restored.summary == "Restored revision 2"
    assert sequence.to_spec() == old.to_spec()
    assert sequence.name == "My Sequence"


def test_restore_brings_a_removed_step_back_as_the_same_step(valid, user):
    edit(valid, user, delay=2 * 86400)  # revision 2 has the three steps
    removed = valid.ordered_steps()[2]
    Step.objects.filter(pk=removed.pk).update(close_id="")
    sequence = fresh(valid)
    with sequence.editing(user=user, loaded_version=sequence.version):
        Step.objects.filter(pk=removed.pk).delete()
    kept = fresh(valid).ordered_steps()[0]
    Step.objects.filter(pk=kept.pk).update(close_id="seqstep_kept")
    sequence = fresh(valid)

    review.restore_revision(
        sequence=sequence, user=user, revision_number=2, loaded_version=sequence.version
    )

    steps = fresh(valid).ordered_steps()
    assert [step.pk for step in steps][2] == removed.pk
    assert steps[0].close_id == "seqstep_kept"  # Close's id of a step that stayed is kept
    assert steps[2].close_id == ""


def test_restore_brings_back_name_timezone_and_schedule(valid, user):
    edit(valid, user, delay=86400)  # revision 2
    sequence = fresh(valid)
    with sequence.editing(user=user, loaded_version=sequence.version):
        sequence.timezone = "Europe/Berlin"
        sequence.has_schedule = False
        sequence.save()
        sequence.schedule_ranges.filter(weekday=5).delete()

    review.restore_revision(
        sequence=sequence, user=user, revision_number=2, loaded_version=sequence.version
    )

    sequence = fresh(valid)
    assert sequence.timezone == "America/Los_Angeles"
    assert sequence.has_schedule
    assert sorted(r.weekday for r in sequence.schedule_ranges.all()) == [1, 2, 3, 4, 5]


def test_restore_of_an_approved_sequence_returns_it_to_draft(approved, user):
    review.restore_revision(
        sequence=approved, user=user, revision_number=1, loaded_version=approved.version
    )

    sequence = fresh(approved)
    assert (sequence.status, sequence.approved_revision) == (Status.DRAFT, None)
    assert sequence.state_changes.first().to_status == Status.DRAFT


def test_restore_refuses_a_stale_editor_and_changes_nothing(valid, user, other_user):
    edit(valid, user, delay=2 * 86400)
    loaded = fresh(valid).version
    edit(valid, other_user, delay=3 * 86400)

    with pytest.raises(EditConflict, match="bob saved this sequence"):
        review.restore_revision(
            sequence=fresh(valid), user=user, revision_number=1, loaded_version=loaded
        )

    assert fresh(valid).ordered_steps()[1].delay == 3 * 86400


def test_restore_refusals(valid, user, reviewer):
    with pytest.raises(review.NotAllowed, match="Only Editors"):
        review.restore_revision(
            sequence=valid, user=reviewer, revision_number=1, loaded_version=valid.version
        )
    with pytest.raises(review.WrongState, match="already the current version"):
        review.restore_revision(
            sequence=valid, user=user, revision_number=valid.version, loaded_version=valid.version
        )
    with pytest.raises(review.InvalidInput, match="There is no revision 42"):
        review.restore_revision(
            sequence=valid, user=user, revision_number=42, loaded_version=valid.version
        )


# --- Review base ------------------------------------------------------------------------------
def test_review_base_is_the_last_approved_or_published_revision(valid, user, reviewer, publisher):
    assert review.review_base(valid) is None
    review.submit_for_review(sequence=valid, user=user)
    review.approve(sequence=fresh(valid), user=reviewer, revision_number=fresh(valid).version)
    approved_number = fresh(valid).version
    edit(valid, user, delay=2 * 86400)  # the approval is cleared by the edit...

    assert review.review_base(fresh(valid)).number == approved_number  # ...but still the base

    review.submit_for_review(sequence=fresh(valid), user=user)
    review.approve(sequence=fresh(valid), user=reviewer, revision_number=fresh(valid).version)
    mark_published(fresh(valid), close_sequence={"id": "seq_1", "steps": []}, user=publisher)

    assert review.review_base(fresh(valid)).number == approved_number + 1


def test_changes_requested_revision_is_the_one_the_reviewer_saw(in_review, reviewer, user):
    looked_at = in_review.version
    review.request_changes(sequence=in_review, user=reviewer, comment="Longer wait")
    assert review.changes_requested_revision(fresh(in_review), 0) is None  # nothing new yet

    edit(in_review, user, delay=2 * 86400)

    assert review.changes_requested_revision(fresh(in_review), 0).number == looked_at


# --- Buttons ----------------------------------------------------------------------------------
def _actions(sequence, user):
    return {a.name: a for a in review.available_actions(sequence=fresh(sequence), user=user)}


def test_buttons_follow_the_state_and_give_the_servers_reasons(
    valid, user, reviewer, publisher, editor_reviewer
):
    assert _actions(valid, user)["submit"].enabled
    assert _actions(valid, reviewer)["submit"].reason == (
        "Only Editors can submit a sequence for review."
    )
    assert set(_actions(valid, user)) == {"submit"}

    review.submit_for_review(sequence=valid, user=editor_reviewer)
    assert set(_actions(valid, reviewer)) == {"approve", "request_changes"}
    assert _actions(valid, reviewer)["approve"].enabled
    own = _actions(valid, editor_reviewer)["approve"]
    assert not own.enabled and "Another reviewer must approve" in own.reason
    assert _actions(valid, user)["request_changes"].reason.startswith("Only Reviewers")

    review.approve(sequence=fresh(valid), user=reviewer, revision_number=fresh(valid).version)
    assert _actions(valid, publisher)["publish"].enabled
    assert _actions(valid, user)["publish"].reason == "Only Publishers can publish to Close."

    mark_published(fresh(valid), close_sequence={"id": "seq_1", "steps": []}, user=publisher)
    assert _actions(valid, publisher) == {}


def test_submit_button_is_disabled_with_the_problems(example_sequence, user):
    submit = _actions(example_sequence, user)["submit"]

    assert not submit.enabled
    assert submit.reason.startswith("2 problems must be fixed first")


# --- Inbox ------------------------------------------------------------------------------------
def test_inbox_filters(valid, user, other_user, reviewer, editor_reviewer):
    mine_in_review = valid
    review.submit_for_review(sequence=mine_in_review, user=user)
    erins = Sequence.create_draft(name="Erin's", timezone_name="UTC", user=editor_reviewer)
    Step.objects.create(sequence=erins, step_type="call")
    review.submit_for_review(sequence=erins, user=editor_reviewer)
    bobs = Sequence.create_draft(name="Bob's", timezone_name="UTC", user=other_user)
    Step.objects.create(sequence=bobs, step_type="call")
    review.submit_for_review(sequence=bobs, user=other_user)
    review.request_changes(sequence=bobs, user=reviewer, comment="No")
    everything = Sequence.objects.all()

    def names(queryset):
        return sorted(s.name for s in queryset)

    assert names(review.waiting_for_review(everything, reviewer)) == ["Erin's", "My Sequence"]
    assert names(review.waiting_for_review(everything, editor_reviewer)) == ["My Sequence"]
    assert names(review.waiting_for_review(everything, user)) == []  # not a reviewer
    assert names(review.changes_requested_on_mine(everything, other_user)) == ["Bob's"]
    assert names(review.changes_requested_on_mine(everything, user)) == []
    review.approve(sequence=fresh(valid), user=reviewer, revision_number=fresh(valid).version)
    assert names(review.approved_not_published(everything, user)) == ["My Sequence"]


def test_inbox_waiting_list_agrees_with_the_approve_rule(valid, user, editor_reviewer):
    edit(valid, editor_reviewer, delay=2 * 86400)
    edit(valid, user, delay=3 * 86400)
    review.submit_for_review(sequence=fresh(valid), user=user)

    assert not review.waiting_for_review(Sequence.objects.all(), editor_reviewer).exists()
    assert not _actions(valid, editor_reviewer)["approve"].enabled
