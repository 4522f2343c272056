"""Review emails, through Django's email framework (console by default, SMTP via EMAIL_URL).

Who hears about what:
- submitted for review      → the Reviewers (and superusers, who hold every role)
- approved / changes asked  → the author of the revision under review and whoever submitted it
- published                 → that author and submitter, and the reviewer who approved it

Nobody is told about their own action, and users without an email address are skipped. Mail is
sent after the surrounding transaction commits (nothing is announced that was rolled back), and a
mail server that fails is logged, never shown to the user as a failed review action: the state
change has happened either way.
"""

import logging

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import EmailMessage, mailers
from django.db import transaction
from django.db.models import Q
from django.urls import reverse

from builder import permissions

logger = logging.getLogger(__name__)
SUBJECT_PREFIX = "[Sequence Builder] "


def notify_submitted(*, sequence, user, revision):
    reviewers = (
        get_user_model()
        .objects.filter(Q(groups__name=permissions.REVIEWER) | Q(is_superuser=True))
        .filter(is_active=True)
        .distinct()
    )
    body = (
        f"{_name(user)} submitted “{sequence.name}” (revision {revision.number}) for review.\n\n"
        f"Review it here:\n{_url('sequence_review', sequence)}\n"
    )
    _send(f"Review requested: {sequence.name}", body, reviewers, actor=user)


def notify_approved(*, sequence, user, revision):
    body = (
        f"{_name(user)} approved revision {revision.number} of “{sequence.name}”.\n"
        "A Publisher can now publish it to Close.\n\n"
        f"{_url('sequence_review', sequence)}\n"
    )
    _send(f"Approved: {sequence.name}", body, _authors(sequence, revision), actor=user)


def notify_changes_requested(*, sequence, user, revision, comment):
    number = f" on revision {revision.number}" if revision else ""
    body = (
        f"{_name(user)} requested changes{number} of “{sequence.name}”:\n\n"
        f"{comment}\n\n"
        f"Open the review:\n{_url('sequence_review', sequence)}\n"
    )
    _send(f"Changes requested: {sequence.name}", body, _authors(sequence, revision), actor=user)


def notify_published(sequence, user):
    """For the publishing workflow to call once Close has the sequence."""
    from builder.models import Sequence, StateChange

    revision = sequence.published_revision
    approval = (
        StateChange.objects.filter(sequence=sequence, to_status=Sequence.Status.APPROVED)
        .select_related("user")
        .order_by("-created_at", "-pk")
        .first()
    )
    recipients = _authors(sequence, revision)
    if approval and approval.user:
        recipients.append(approval.user)
    where = f" as {sequence.close_id}" if sequence.close_id else ""
    body = (
        f"{_name(user)} published “{sequence.name}” to Close{where}.\n\n"
        f"{_url('sequence_review', sequence)}\n"
    )
    _send(f"Published to Close: {sequence.name}", body, recipients, actor=user)


def _authors(sequence, revision):
    """Who saved `revision` and who last submitted the sequence for review."""
    from builder.models import Sequence, StateChange

    people = []
    if revision is not None and revision.created_by_id:
        people.append(revision.created_by)
    submit = (
        StateChange.objects.filter(sequence=sequence, to_status=Sequence.Status.IN_REVIEW)
        .select_related("user")
        .order_by("-created_at", "-pk")
        .first()
    )
    if submit and submit.user:
        people.append(submit.user)
    return people


def _send(subject, body, recipients, *, actor):
    addresses = sorted(
        {
            person.email
            for person in recipients
            if person.is_active and person.email and person.pk != actor.pk
        }
    )
    if not addresses:
        return
    # A name with a line break must not become a second header line.
    subject = SUBJECT_PREFIX + " ".join(subject.split())
    messages = [EmailMessage(subject=subject, body=body, to=[address]) for address in addresses]
    transaction.on_commit(lambda: _deliver(messages, subject), robust=True)


def _deliver(messages, subject):
    try:
        mailers.default.send_messages(messages)
    except Exception:
        # The review action has happened; a mail server being down must not undo it.
        logger.exception("Could not send %d email(s): %s", len(messages), subject)


def _name(user):
    return user.get_full_name() or user.get_username()


def _url(name, sequence):
    return f"{settings.SITE_URL.rstrip('/')}{reverse(name, args=[sequence.pk])}"
