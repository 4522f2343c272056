"""The publish workflow: validate, take the database guard, ask Close, record what happened.

Close's POST /sequence/ is not idempotent (close-api.md §6): after an answer we could not read we
look the sequence up in Close before creating it again, so a sequence is created at most once.
"""

import time
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from builder import close, spec
from builder.models import PublishAttempt, Sequence


class PublishRefused(Exception):
    """We did not send anything to Close; the message says why."""


@dataclass
class PublishOutcome:
    attempt: PublishAttempt
    ok: bool
    message: str
    field_errors: dict


def publish_sequence(*, sequence, user, client=None):
    """Create `sequence` in Close once. Returns a PublishOutcome; raises PublishRefused."""
    if sequence.is_published:
        raise PublishRefused("This sequence is already in Close.")
    errors = spec.blocking(sequence.problems())
    if errors:
        count = len(errors)
        raise PublishRefused(
            f"{count} problem{'s' if count > 1 else ''} must be fixed before publishing: "
            + " ".join(problem.message for problem in errors)
        )
    _claim_publishing(sequence)
    # A web request waits at most a few seconds for Close's rate limit, then tells the user.
    client = client or close.client_from_settings(max_wait=settings.CLOSE_MAX_WAIT_IN_REQUEST)
    payload = spec.to_close_payload(sequence.to_spec())
    attempt = PublishAttempt.objects.create(sequence=sequence, user=user, request_payload=payload)
    started = time.monotonic()
    keep_guard = False
    try:
        outcome = _create_once(sequence=sequence, user=user, client=client, attempt=attempt)
        keep_guard = attempt.outcome == PublishAttempt.Outcome.UNKNOWN
        return outcome
    finally:
        attempt.duration_ms = int((time.monotonic() - started) * 1000)
        attempt.save()
        if not keep_guard:
            Sequence.objects.filter(pk=sequence.pk).update(publishing_since=None)


def _claim_publishing(sequence):
    """Atomic compare-and-set: only one request at a time may talk to Close for this sequence.

    A guard left by an answer we could not read stays until a later attempt has checked Close
    (see _create_once), so that check always happens before a second create.
    """
    with transaction.atomic():
        claimed = Sequence.objects.filter(
            pk=sequence.pk, close_id="", publishing_since__isnull=True
        ).update(publishing_since=timezone.now())
    if claimed:
        return
    sequence.refresh_from_db()
    if sequence.is_published:
        raise PublishRefused("This sequence is already in Close.")
    if not sequence.publish_attempts.filter(outcome=PublishAttempt.Outcome.UNKNOWN).exists():
        raise PublishRefused("Someone is publishing this sequence right now. Reload in a moment.")
    # The last attempt ended without a readable answer: take the guard over and check Close first.
    Sequence.objects.filter(pk=sequence.pk).update(publishing_since=timezone.now())


def _create_once(*, sequence, user, client, attempt):
    last_unclear = sequence.publish_attempts.exclude(pk=attempt.pk).order_by("-started_at").first()
    if last_unclear and last_unclear.outcome == PublishAttempt.Outcome.UNKNOWN:
        found = _find_in_close(client, attempt.request_payload, attempt)
        if found is None and attempt.outcome == PublishAttempt.Outcome.UNKNOWN:
            return _outcome(attempt, ok=False)
        if found is not None:
            return _adopt(sequence, user, attempt, found)
    try:
        created = client.create_sequence(attempt.request_payload)
    except close.CloseUnavailable as error:
        if not error.request_may_have_been_processed:
            return _fail(attempt, PublishAttempt.Outcome.FAILED, error)
        # Close may have created it: look before anyone tries again.
        found = _find_in_close(client, attempt.request_payload, attempt)
        if found is not None:
            return _adopt(sequence, user, attempt, found)
        if attempt.outcome == PublishAttempt.Outcome.UNKNOWN:
            return _outcome(attempt, ok=False)
        return _fail(attempt, PublishAttempt.Outcome.FAILED, error, checked=True)
    except close.CloseValidationError as error:
        return _fail(attempt, PublishAttempt.Outcome.REFUSED, error)
    except close.CloseError as error:
        return _fail(attempt, PublishAttempt.Outcome.FAILED, error)
    sequence.mark_published(close_sequence=created, user=user)
    attempt.outcome = PublishAttempt.Outcome.PUBLISHED
    attempt.response_status = 200
    attempt.response_body = created
    attempt.message = f"Published to Close as {created['id']}."
    return _outcome(attempt, ok=True)


def _find_in_close(client, payload, attempt):
    """The Close sequence matching `payload` that no local draft owns yet, or None.

    Sets the attempt to UNKNOWN when Close cannot be asked either.
    """
    try:
        candidates = client.list_sequences()
    except close.CloseError as error:
        attempt.outcome = PublishAttempt.Outcome.UNKNOWN
        attempt.response_status = error.status_code
        attempt.message = (
            f"{error.message} We could not check whether Close created the sequence, so we will "
            "check again before creating it. Try again in a minute."
        )
        return None
    known_ids = set(Sequence.objects.exclude(close_id="").values_list("close_id", flat=True))
    wanted = _signature(payload)
    for candidate in candidates:
        if candidate.get("id") not in known_ids and _signature(candidate) == wanted:
            return candidate
    return None


def _signature(data):
    """What identifies our sequence among Close's: name, timezone and the steps' shape."""
    parsed = spec.from_close(data)
    return (
        parsed.name,
        parsed.timezone,
        [
            (step.step_type or "email", step.delay, step.email_template_id, step.sms_template_id)
            for step in parsed.steps
        ],
    )


def _adopt(sequence, user, attempt, found):
    sequence.mark_published(close_sequence=found, user=user)
    attempt.outcome = PublishAttempt.Outcome.FOUND_EXISTING
    attempt.response_body = found
    attempt.message = (
        f"Close's answer was lost, but the sequence is in Close as {found['id']}; "
        "we linked it instead of creating a second one."
    )
    return _outcome(attempt, ok=True)


def _fail(attempt, outcome, error, checked=False):
    attempt.outcome = outcome
    attempt.response_status = error.status_code
    attempt.response_body = {
        "errors": getattr(error, "errors", []),
        "field-errors": getattr(error, "field_errors", {}),
    }
    attempt.message = error.message
    if checked:
        attempt.message += " We checked: Close did not create it. You can try again."
    return _outcome(attempt, ok=False, field_errors=getattr(error, "field_errors", {}) or {})


def _outcome(attempt, *, ok, field_errors=None):
    return PublishOutcome(
        attempt=attempt, ok=ok, message=attempt.message, field_errors=field_errors or {}
    )
