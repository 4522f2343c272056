"""The review workflow: who may move a sequence between states, and what makes an approval count.

    Draft → In review → Approved → Published
    In review → Changes requested → (edits stay in Changes requested) → In review

Every rule is enforced here, on the server; pages only mirror them through `available_actions()`,
which runs the same checks, so a disabled button gives exactly the message the server would.

- Editors submit for review, and only a sequence without blocking problems (spec.blocking):
  reviewers should spend their time on drafts that could go live.
- Reviewers approve or request changes (with a comment), only while the sequence is In review.
- An approval belongs to one revision: the reviewer approves the revision they looked at, and is
  refused if anything was saved since (a "stale" revision). Any later edit returns the sequence
  to Draft (Sequence.editing()).
- Nobody approves their own work. "Author" here means anyone who saved a revision among the
  changes under review, i.e. since the last approved or published revision (all revisions when
  there is none) — not only whoever saved the latest one, so a reviewer who also edited part of
  the change cannot wave the rest through.
- Publishers publish only an Approved sequence whose saved state is still exactly the approved
  revision (`assert_can_publish`, called by the publishing workflow).

Refusals are typed (subclasses of ReviewRefused, itself a PermissionDenied so an uncaught one
becomes a 403 page with its message) and carry the HTTP status a view should answer with.
"""

from dataclasses import dataclass

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Exists, F, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone

from builder import notifications, permissions, spec, steps
from builder.models import (
    EDITED_STEP_COLUMNS,
    Comment,
    Revision,
    ScheduleRange,
    Sequence,
    StateChange,
    Step,
)
from builder.steps import type_label

Status = Sequence.Status
MAX_COMMENT_LENGTH = 5000
MAX_QUOTE_LENGTH = 1000  # a passage of a step's copy, quoted in a comment


# --- Refusals ---------------------------------------------------------------------------------


class ReviewRefused(PermissionDenied):
    """The review rules refused the action; `message` says why in words for the user."""

    status = 403

    def __init__(self, message):
        super().__init__(message)
        self.message = message


class NotAllowed(ReviewRefused):
    """Wrong role, or approving one's own work."""


class WrongState(ReviewRefused):
    """The sequence is not in a state where this move is possible (e.g. approving a draft)."""


class StaleRevision(ReviewRefused):
    """The revision acted on is not the sequence's current saved state."""


class HasProblems(ReviewRefused):
    """The sequence has blocking problems (spec.blocking); they are listed in `problems`."""

    def __init__(self, message, problems):
        super().__init__(message)
        self.problems = problems


class InvalidInput(ReviewRefused):
    """Missing or malformed input, such as an empty comment."""

    status = 400


# --- Reading the review state -----------------------------------------------------------------


def current_revision(sequence):
    """The revision that records the sequence's current version, or None (data from outside)."""
    return (
        Revision.objects.filter(sequence=sequence, number=sequence.version)
        .select_related("created_by")
        .first()
    )


def last_approved_revision(sequence):
    change = (
        StateChange.objects.filter(
            sequence=sequence, to_status=Status.APPROVED, revision__isnull=False
        )
        .select_related("revision__created_by")
        .order_by("-revision__number")
        .first()
    )
    return change.revision if change else None


def review_base(sequence):
    """What a review compares with: the later of the last approved and the last published
    revision, or None when the sequence was never approved or published."""
    candidates = [
        revision
        for revision in (last_approved_revision(sequence), sequence.published_revision)
        if revision is not None
    ]
    return max(candidates, key=lambda revision: revision.number, default=None)


def changes_requested_revision(sequence, base_number):
    """The revision a reviewer last requested changes on, if that happened since `base_number`
    and the sequence changed since: the reviewer wants to see what the fix changed."""
    change = (
        StateChange.objects.filter(
            sequence=sequence,
            to_status=Status.CHANGES_REQUESTED,
            revision__number__gt=base_number,
            revision__number__lt=sequence.version,
        )
        .select_related("revision")
        .order_by("-revision__number")
        .first()
    )
    return change.revision if change else None


def _base_number(sequence):
    base = review_base(sequence)
    return base.number if base else 0


def _own_revision_under_review(sequence, user, base_number):
    """The latest revision number `user` saved since the base, or None."""
    return (
        Revision.objects.filter(sequence=sequence, number__gt=base_number, created_by=user)
        .order_by("-number")
        .values_list("number", flat=True)
        .first()
    )


def _saved_state_matches(sequence, revision):
    """Does the sequence as stored now equal `revision`? (Admin or scripts could change rows
    without going through Sequence.editing().) Close's step ids are bookkeeping, not content."""
    return _content(sequence.to_spec()) == _content(revision.to_spec())


def _content(sequence_spec):
    snapshot = spec.to_snapshot(sequence_spec)
    for step in snapshot["steps"]:
        step.pop("close_id", None)
    return snapshot


# --- Checks shared by the transitions and the buttons -----------------------------------------


def check_submit(sequence, user, *, problems=None):
    if not permissions.can_edit(user):
        raise NotAllowed("Only Editors can submit a sequence for review.")
    if sequence.status == Status.IN_REVIEW:
        raise WrongState("This sequence is already in review.")
    if sequence.status == Status.APPROVED:
        raise WrongState("This sequence is already approved. Edit it to start a new review.")
    if sequence.status == Status.PUBLISHED:
        raise WrongState(
            "This sequence is published and has not changed since. Edit it to start a new review."
        )
    _check_problems(
        sequence,
        problems,
        "cannot be submitted for review",
    )


def check_approve(sequence, user, *, revision_number, problems=None, base_number=None):
    if not permissions.can_review(user):
        raise NotAllowed("Only Reviewers can approve or request changes.")
    if sequence.status != Status.IN_REVIEW:
        raise WrongState(
            f"Only a sequence in review can be approved; this one is "
            f"{sequence.get_status_display().lower()}."
        )
    if revision_number != sequence.version:
        raise StaleRevision(
            f"You are approving revision {revision_number}, but the current revision is "
            f"{sequence.version}. Review the latest changes, then approve."
        )
    if base_number is None:
        base_number = _base_number(sequence)
    own = _own_revision_under_review(sequence, user, base_number)
    if own is not None:
        raise NotAllowed(
            f"You saved revision {own}, which is part of the changes under review. "
            "Another reviewer must approve them."
        )
    _check_problems(sequence, problems, "cannot be approved")


def check_request_changes(sequence, user):
    if not permissions.can_review(user):
        raise NotAllowed("Only Reviewers can approve or request changes.")
    if sequence.status != Status.IN_REVIEW:
        raise WrongState(
            f"Changes can only be requested while the sequence is in review; this one is "
            f"{sequence.get_status_display().lower()}."
        )


def check_publish(sequence, user):
    """Role, state and approval checks for publishing (the cheap part of assert_can_publish)."""
    if not permissions.can_publish(user):
        raise NotAllowed("Only Publishers can publish to Close.")
    if sequence.status != Status.APPROVED:
        raise WrongState(
            f"Only an approved sequence can be published; this one is "
            f"{sequence.get_status_display().lower()}. Submit it for review first."
        )
    approved = sequence.approved_revision
    if approved is None or approved.number != sequence.version:
        raise StaleRevision(
            "The approval is for an older revision than the one saved now. "
            "It needs a new review before publishing."
        )


def _check_problems(sequence, problems, what):
    errors = spec.blocking(sequence.problems() if problems is None else problems)
    if errors:
        count = len(errors)
        raise HasProblems(
            f"{count} problem{'s' if count > 1 else ''} must be fixed first: this sequence "
            f"{what}. " + " ".join(problem.message for problem in errors),
            errors,
        )


def _require_role(user):
    if not permissions.roles_of(user):
        raise NotAllowed(
            "Only team members with a role (Editor, Reviewer or Publisher) can comment."
        )


# --- Transitions ------------------------------------------------------------------------------


def submit_for_review(*, sequence, user):
    """Draft or Changes requested → In review. Returns the StateChange."""
    with transaction.atomic():
        locked = _lock(sequence)
        check_submit(locked, user)
        revision = current_revision(locked)
        if revision is None or not _saved_state_matches(locked, revision):
            # Rows were changed without a revision (admin, import): record what is submitted,
            # so the reviewer approves exactly this state.
            with locked.editing(
                user=user,
                loaded_version=locked.version,
                summary="Recorded changes made outside the editor",
            ):
                pass
            revision = current_revision(locked)
        change = _move(
            locked,
            Status.IN_REVIEW,
            user=user,
            revision=revision,
            note=f"Submitted revision {revision.number} for review.",
        )
        notifications.notify_submitted(sequence=locked, user=user, revision=revision)
    _copy_state(sequence, locked)
    return change


def approve(*, sequence, user, revision_number):
    """In review → Approved, for exactly `revision_number` (the current revision)."""
    with transaction.atomic():
        locked = _lock(sequence)
        check_approve(locked, user, revision_number=revision_number)
        revision = current_revision(locked)
        if revision is None or not _saved_state_matches(locked, revision):
            raise StaleRevision(
                "The sequence changed outside the editor since it was submitted. "
                "It must be submitted again before it can be approved."
            )
        locked.approved_revision = revision
        change = _move(
            locked,
            Status.APPROVED,
            user=user,
            revision=revision,
            note=f"Approved revision {revision.number}.",
        )
        notifications.notify_approved(sequence=locked, user=user, revision=revision)
    _copy_state(sequence, locked)
    return change


def request_changes(*, sequence, user, comment):
    """In review → Changes requested, with a comment that says what to change."""
    check_request_changes(sequence, user)  # the role first: no "comment required" for a viewer
    body = _clean_body(comment, empty="Say what should change: the comment is required.")
    with transaction.atomic():
        locked = _lock(sequence)
        check_request_changes(locked, user)
        revision = current_revision(locked)
        Comment.objects.create(sequence=locked, revision=revision, author=user, body=body)
        change = _move(locked, Status.CHANGES_REQUESTED, user=user, revision=revision, note=body)
        notifications.notify_changes_requested(
            sequence=locked, user=user, revision=revision, comment=body
        )
    _copy_state(sequence, locked)
    return change


def assert_can_publish(*, sequence, user, just_read=False):
    """Raise unless `user` is a Publisher and the sequence is Approved at its current revision,
    with its stored rows still exactly the approved revision. Reads the sequence afresh, unless
    the caller has `just_read` it (with its approved revision, steps and ranges)."""
    fresh = (
        sequence
        if just_read
        else Sequence.objects.select_related("approved_revision").get(pk=sequence.pk)
    )
    check_publish(fresh, user)
    if not _saved_state_matches(fresh, fresh.approved_revision):
        raise StaleRevision(
            "The sequence changed outside the editor after it was approved. "
            "It needs a new review before publishing."
        )


def _lock(sequence):
    """The sequence row, locked until the transaction ends (two reviewers clicking at once:
    the second sees the first one's result). SQLite serialises writers with BEGIN IMMEDIATE."""
    return Sequence.objects.select_for_update().get(pk=sequence.pk)


def _move(sequence, new_status, *, user, revision, note):
    change = sequence.change_status(new_status, user=user, note=note)
    change.revision = revision
    change.save(update_fields=["revision"])
    return change


def _copy_state(sequence, locked):
    """Let the caller's object see the new state without another query."""
    for name in ("status", "version", "approved_revision", "updated_by", "updated_at"):
        setattr(sequence, name, getattr(locked, name))


# --- Comments ---------------------------------------------------------------------------------


def add_comment(*, sequence, user, body, step_id=None, parent_id=None, quote="", quote_field=""):
    """A comment on the sequence or on one of its steps, or a reply in an existing thread.

    Replies join the thread of the comment they answer (one level of threading) and are about
    the same step. Replying to a resolved thread reopens it: someone still has something to say.

    `quote` is a passage of the step's copy the comment is about and `quote_field` the field it
    is from ("subject", "body", "text": one of the step kind's copy fields); both optional.
    """
    _require_role(user)
    body = _clean_body(body, empty="Write a comment first.")
    parent = None
    step = None
    step_label = ""
    if parent_id not in (None, ""):
        parent = _comment_of(sequence, parent_id)
        if parent.parent_id:
            parent = parent.parent
        step, step_label = parent.step, parent.step_label
    elif step_id not in (None, ""):
        step, step_label = _step_of(sequence, step_id)
    quote, quote_field = _clean_quote(quote, quote_field, step=step, step_label=step_label)
    with transaction.atomic():
        comment = Comment.objects.create(
            sequence=sequence,
            revision=current_revision(sequence),
            step=step,
            step_label=step_label,
            parent=parent,
            author=user,
            body=body,
            quote=quote,
            quote_field=quote_field,
        )
        if parent is not None and parent.resolved_at:
            Comment.objects.filter(pk=parent.pk).update(resolved_at=None, resolved_by=None)
    return comment


def resolve_comment(*, sequence, user, comment_id):
    """Mark a thread resolved. Anyone with a role may: the editor who fixed it or a reviewer.

    Resolving a resolved thread changes nothing (two people clicking at once is not an error).
    """
    _require_role(user)
    comment = _comment_of(sequence, comment_id)
    if comment.parent_id:
        comment = comment.parent
    Comment.objects.filter(pk=comment.pk, resolved_at__isnull=True).update(
        resolved_at=timezone.now(), resolved_by=user
    )
    comment.refresh_from_db()
    return comment


def _clean_body(text, *, empty):
    body = (text or "").strip()
    if not body:
        raise InvalidInput(empty)
    if len(body) > MAX_COMMENT_LENGTH:
        raise InvalidInput(
            f"The comment is {len(body)} characters long; keep it to {MAX_COMMENT_LENGTH}."
        )
    return body


def _clean_quote(quote, quote_field, *, step, step_label):
    """The quote as stored ("", "" without one), or InvalidInput saying what is wrong with it."""
    text = (quote or "").replace("\r\n", "\n").strip()
    field_name = (quote_field or "").strip()
    if not text and not field_name:
        return "", ""
    if not text:
        raise InvalidInput(
            "The quote is empty: select words of the step's copy to quote, or remove the quote."
        )
    if len(text) > MAX_QUOTE_LENGTH:
        raise InvalidInput(
            f"The quote is {len(text)} characters long; quote at most {MAX_QUOTE_LENGTH}."
        )
    if step is None:
        raise InvalidInput("A quote is from a step's copy: choose the step it is about.")
    copy_fields = steps.kind_of(step.step_type).copy_fields
    if field_name not in copy_fields:
        if not copy_fields:
            raise InvalidInput(f"{step_label} has no copy to quote.")
        names = " or ".join(steps.FIELD_LABELS.get(name, name).lower() for name in copy_fields)
        raise InvalidInput(f"A quote from {step_label} comes from its {names}.")
    return text, field_name


def _comment_of(sequence, comment_id):
    comment = (
        Comment.objects.filter(sequence=sequence, pk=_int(comment_id))
        .select_related("parent")
        .first()
    )
    if comment is None:
        raise InvalidInput("That comment does not exist any more. Reload the page.")
    return comment


def _step_of(sequence, step_id):
    wanted = _int(step_id)
    for number, step in enumerate(sequence.ordered_steps(), start=1):
        if step.pk == wanted:
            return step, step_label(number, step.step_type)
    raise InvalidInput("That step is not in this sequence any more. Reload the page.")


def step_label(number, step_type):
    return f"Step {number} · {type_label(step_type)}"


def _int(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return -1


# --- Restoring a revision ---------------------------------------------------------------------


def restore_revision(*, sequence, user, revision_number, loaded_version):
    """Make revision `revision_number` the sequence's state again, as a NEW revision.

    Goes through Sequence.editing(), so a stale editor gets EditConflict and an approved or
    in-review sequence returns to Draft. Steps that still exist are updated in place (they keep
    their Close id and comments); steps removed since come back under their old identity, so
    diffs and comments line up with the revision, but without a Close id: the next publish
    creates them in Close again.
    """
    if not permissions.can_edit(user):
        raise NotAllowed("Only Editors can change sequences. Ask an admin for the Editor role.")
    revision = Revision.objects.filter(sequence=sequence, number=revision_number).first()
    if revision is None:
        raise InvalidInput(f"There is no revision {revision_number} of this sequence.")
    if revision.number == sequence.version:
        raise WrongState(f"Revision {revision.number} is already the current version.")
    restored = revision.to_spec()
    # A revision of its own (group=False): "Restored revision 4" stays findable in the history,
    # not folded into the autosaves around it.
    with sequence.editing(
        user=user,
        loaded_version=loaded_version,
        summary=f"Restored revision {revision.number}",
        group=False,
    ):
        _apply_spec(sequence, restored)
    # Read the restored state again (refresh_from_db also drops prefetched steps and hours), so
    # the caller's sequence shows the rows just written.
    sequence.refresh_from_db()
    return current_revision(sequence)


def _apply_spec(sequence, restored):
    sequence.name = restored.name
    sequence.timezone = restored.timezone
    sequence.has_schedule = restored.schedule is not None
    sequence.save(update_fields=["name", "timezone", "has_schedule"])
    if restored.schedule is not None:
        # With no schedule ("any time") the hours the editor had are kept, as the editor does.
        sequence.schedule_ranges.all().delete()
        ScheduleRange.objects.bulk_create(
            ScheduleRange.from_spec(r, sequence=sequence) for r in restored.schedule
        )
    existing = {str(step.pk): step for step in sequence.steps.all()}
    wanted_keys = {step.key for step in restored.steps if step.key}
    Step.objects.filter(pk__in=[s.pk for k, s in existing.items() if k not in wanted_keys]).delete()
    updated, created = [], []
    for position, step_spec in enumerate(restored.steps):
        row = existing.get(step_spec.key or "")
        if row is None:
            row = Step(sequence=sequence, pk=_reusable_pk(step_spec.key))
            created.append(row)
        else:
            updated.append(row)
        row.position = position
        # A step that still exists keeps its Close id; one that comes back has none (above).
        row.apply_spec(step_spec)
    Step.objects.bulk_update(updated, ["position", *EDITED_STEP_COLUMNS])
    Step.objects.bulk_create(created)


def _reusable_pk(key):
    """The removed step's old primary key when no row holds it (primary keys are never handed
    out twice), so the restored step is the same step to diffs; otherwise a new one."""
    if not key or not key.isdigit() or Step.objects.filter(pk=int(key)).exists():
        return None
    return int(key)


# --- What the user may do now (buttons) -------------------------------------------------------


@dataclass(frozen=True)
class Action:
    name: str  # "submit" | "approve" | "request_changes" | "publish"
    label: str  # the button text (a stable accessible name)
    enabled: bool
    reason: str = ""  # why it is disabled: the message the server would refuse with


def available_actions(*, sequence, user, problems=None, base_number=None):
    """The review buttons that belong to the sequence's state, each enabled or disabled with
    the reason. Buttons of other states are absent."""
    status = sequence.status
    actions = []
    if status in (Status.DRAFT, Status.CHANGES_REQUESTED):
        actions.append(
            _action("submit", "Submit for review", check_submit, sequence, user, problems=problems)
        )
    elif status == Status.IN_REVIEW:
        actions.append(
            _action(
                "approve",
                "Approve",
                check_approve,
                sequence,
                user,
                revision_number=sequence.version,
                problems=problems,
                base_number=base_number,
            )
        )
        actions.append(
            _action("request_changes", "Request changes", check_request_changes, sequence, user)
        )
    elif status == Status.APPROVED:
        actions.append(_action("publish", "Publish to Close", check_publish, sequence, user))
    return actions


def _action(name, label, check, sequence, user, **kwargs):
    try:
        check(sequence, user, **kwargs)
    except ReviewRefused as refusal:
        return Action(name, label, enabled=False, reason=refusal.message)
    return Action(name, label, enabled=True)


# --- Inbox ------------------------------------------------------------------------------------


def _base_number_expression():
    """review_base() as a query expression, for filtering lists of sequences."""
    last_approved = (
        StateChange.objects.filter(
            sequence=OuterRef("pk"), to_status=Status.APPROVED, revision__isnull=False
        )
        .order_by("-revision__number")
        .values("revision__number")[:1]
    )
    return Greatest(
        Coalesce(F("published_revision__number"), Value(0)),
        Coalesce(Subquery(last_approved), Value(0)),
    )


def waiting_for_review(queryset, user):
    """In review, and `user` may approve it (a Reviewer who saved none of the changes)."""
    if not permissions.can_review(user):
        return queryset.none()
    own = Revision.objects.filter(
        sequence=OuterRef("pk"), created_by=user, number__gt=OuterRef("review_base")
    )
    return (
        queryset.filter(status=Status.IN_REVIEW)
        .annotate(review_base=_base_number_expression())
        .exclude(Exists(own))
    )


def changes_requested_on_mine(queryset, user):
    """Changes requested on a sequence `user` created, or saved or submitted since its base."""
    saved = Revision.objects.filter(
        sequence=OuterRef("pk"), created_by=user, number__gt=OuterRef("review_base")
    )
    submitted = StateChange.objects.filter(
        sequence=OuterRef("pk"),
        user=user,
        to_status=Status.IN_REVIEW,
        revision__number__gt=OuterRef("review_base"),
    )
    return (
        queryset.filter(status=Status.CHANGES_REQUESTED)
        .annotate(review_base=_base_number_expression())
        .filter(Q(created_by=user) | Exists(saved) | Exists(submitted))
    )


def approved_not_published(queryset, user):
    return queryset.filter(status=Status.APPROVED)
