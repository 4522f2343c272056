"""The publish workflow: check, take the database guard, ask Close, record what happened.

How one publish runs
1. start_publish() runs in the request. It checks the rules (a Publisher; the sequence approved
   at its current revision; no blocking problems), builds the exact payload, then takes the guard
   with ONE atomic compare-and-set UPDATE of the sequence row that only succeeds while everything
   it checked is still true: still approved at that revision, the same Close id, and nobody else
   publishing (publishing_since is null). On SQLite (IMMEDIATE transactions) and on PostgreSQL
   (the UPDATE's row lock) only one of twenty simultaneous requests can change that row, so only
   one request reaches Close. It records a PublishAttempt "in progress" and returns at once.
2. run_attempt() talks to Close: from the web in a background job (jobs.py), so no web worker
   sleeps through a rate limit; inline in publish_sequence() (scripts, tests, the benchmark). It
   writes progress onto the attempt ("Close asked us to wait 12 s"), records the outcome and
   releases the guard.

Exactly once (close-api.md §6: POST /sequence/ is not idempotent)
- After an unclear answer (timeout, broken connection, 5xx, unreadable 2xx) we look the sequence
  up in Close before anything may create it again. When no answer came at all, or a gateway's
  502/504, the request may still be running inside Close, so we keep looking for
  PUBLISH_SETTLE_SECONDS (_settle_seconds()) before saying it was not created.
- If Close cannot be asked either, the attempt ends "unknown" and keeps the guard; the next
  attempt takes the guard over and looks first. Any retry after a failed or unknown create looks
  first too, matching every earlier payload, so edits made in between cannot cause a duplicate.
- A process that dies mid-publish leaves the guard and an attempt "in progress". After
  PUBLISH_STALE_SECONDS (stale_after()), loading the publish page (resolve_stale) or the next
  attempt treats it as unclear and checks Close before anything is created.
- An update (PUT /sequence/{id}/) sends the complete step list with step ids, so sending it twice
  leaves the same sequence; after an unclear answer we still fetch it to say what happened.

Written copy (copy_publishing.py plans it)
- A step whose copy is written in it needs a shared Close template carrying that copy. The job
  writes those first, in step order, inside the same guard, then the sequence referencing them
  (the payload stored on the attempt gets their ids before it is sent, so the look-ups above
  match what was sent).
- Before a template create, the step's OwnedTemplate row is committed with the template's
  unique name and no Close id. After an unclear answer we look that name up (settling as
  above) before anything creates it again; a row still without an id makes the next attempt
  look first too. A clear answer stores the id and what we sent, so a retry after a failed
  sequence write reuses the templates, and a republish sends nothing for unchanged copy and
  only the changed keys (PUT) for an edit.
- Before a PUT the job fetches the template: copy changed in Close since we sent ours (drift)
  stops the publish until a person chooses; a template other sequences use (or one adopted
  from Close) is never changed unless a Publisher chose "Update the shared template too": the
  step gets a template of its own instead.
"""

import dataclasses
import json
import logging
import shlex
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Case, Q, Value, When
from django.utils import timezone

from builder import close, copy_publishing, jobs, notifications, permissions, review, spec
from builder import steps as step_kinds
from builder.models import PublishAttempt, Sequence, Step
from builder.redact import redact, redact_json

logger = logging.getLogger(__name__)

Outcome = PublishAttempt.Outcome
Action = PublishAttempt.Action
STATUS_CHOICES = ("active", "paused")
# Earlier unclear or failed creates whose payloads a retry looks for in Close.
LOOKUP_HISTORY = 20
# Our own notes on an attempt live in its response_body beside Close's answer, under this key
# (the page shows Close's answer without them): whether its request may have reached Close, a
# sequence found in Close that a person must judge, and what they decided.
NOTES = "sequence_builder"
# Close's clock and ours may differ a little. A sequence Close dates up to this long before our
# first attempt began is neither certainly ours nor certainly someone else's: a person decides.
CLOCK_SKEW = timedelta(minutes=2)
_sleep = time.sleep  # tests may replace it


def stale_after() -> timedelta:
    """How long a publish may hold the guard before we assume its process died.

    Far longer than one publish can take: CLOSE_MAX_WAIT_IN_JOB of waiting, a few read timeouts
    and the settle time after an unclear answer."""
    return timedelta(seconds=float(getattr(settings, "PUBLISH_STALE_SECONDS", 600)))


def _settle_seconds() -> float:
    return float(getattr(settings, "PUBLISH_SETTLE_SECONDS", 30.0))


def job_client(**overrides):
    """The client a background publish uses: it may wait longer for Close than a request."""
    return close.client_from_settings(
        **{"max_wait": float(getattr(settings, "CLOSE_MAX_WAIT_IN_JOB", 60.0)), **overrides}
    )


class PublishRefused(Exception):
    """We did not send anything to Close; the message says why."""


@dataclass
class PublishOutcome:
    attempt: PublishAttempt
    ok: bool
    message: str
    field_errors: dict  # Close's field-errors flattened: {"steps.1.email_template_id": "..."}


# --- the rule: who may publish what ---------------------------------------------------------


def publish_refusal(*, sequence, user, problems=None, just_read=False) -> str:
    """Why `user` may not publish `sequence` now, in words; "" when they may.

    The approval rule (a Publisher; Approved at the current revision, rows unchanged since) is
    review.assert_can_publish's; this adds the spec's blocking problems. `problems` are
    spec.validate()'s, if the caller has them already; `just_read` says `sequence` was read
    from the database a moment ago (see _fresh), so it need not be read again.
    """
    try:
        review.assert_can_publish(sequence=sequence, user=user, just_read=just_read)
    except review.NotAllowed as refusal:
        return refusal.message
    except review.ReviewRefused as refusal:
        # assert_can_publish read the row afresh; a publish may have ended since `sequence` was.
        if is_up_to_date(_fresh(sequence.pk)):
            return "This version is already in Close."
        return refusal.message
    errors = spec.blocking(sequence.problems() if problems is None else problems)
    if errors:
        count = len(errors)
        return f"{count} problem{'s' if count > 1 else ''} must be fixed before publishing: " + (
            " ".join(problem.message for problem in errors)
        )
    return copy_publishing.drift_refusal(sequence)


def is_up_to_date(sequence) -> bool:
    """Published, and not edited since: Close has this version."""
    published = sequence.published_revision
    return (
        sequence.status == Sequence.Status.PUBLISHED
        and published is not None
        and published.number == sequence.version
    )


# --- payloads --------------------------------------------------------------------------------


def chosen_status(*, sequence: Sequence, posted: str) -> str | None:
    """The status to publish with, from the confirmation's choice; None when it offered no such
    choice. "" keeps Close's status on an update. On a create Close would make it active,
    enrolling contacts nobody chose to enroll: a create is paused unless active was chosen."""
    if action_for(sequence) == Action.UPDATE:
        return posted if posted in ("", *STATUS_CHOICES) else None
    if not posted:
        return "paused"
    return posted if posted in STATUS_CHOICES else None


def is_running(attempt: PublishAttempt | None) -> bool:
    """Whether a publish is under way: in progress, or an unclear attempt with progress, which a
    job is checking with Close right now."""
    if attempt is None:
        return False
    return attempt.outcome == Outcome.IN_PROGRESS or (
        attempt.outcome == Outcome.UNKNOWN and bool(attempt.progress)
    )


def action_for(sequence) -> str:
    return Action.UPDATE if sequence.close_id else Action.CREATE


def build_payload(sequence_spec, *, action, requested_status="") -> dict:
    """The exact JSON we send: POST body for a create, PUT body (with step ids) for an update.

    An empty requested_status leaves the status out: Close's default on create, and the
    sequence's current status in Close on update.
    """
    sequence_spec = dataclasses.replace(sequence_spec, status=requested_status or None)
    if action == Action.UPDATE:
        return spec.to_close_update_payload(sequence_spec)
    return spec.to_close_payload(sequence_spec)


def curl_command(*, action, payload, close_id="", base_url=None) -> str:
    """The same request as a shell command. The key stays in the environment: never printed."""
    if action == Action.UPDATE:
        return curl_for("PUT", f"sequence/{close_id}/", payload, base_url=base_url)
    return curl_for("POST", "sequence/", payload, base_url=base_url)


def curl_for(method, path, payload, *, base_url=None) -> str:
    """`method` `path` (below the API's base URL) with `payload` as a shell command."""
    base_url = (base_url or settings.CLOSE_API_URL or close.DEFAULT_BASE_URL).rstrip("/")
    url = f"{base_url}/{path}"
    body = json.dumps(payload, indent=2, ensure_ascii=False)
    # A quoted heredoc passes the JSON through the shell untouched, quotes and all.
    return (
        f"curl -X {method} {shlex.quote(url)} \\\n"
        '  -u "$CLOSE_API_KEY:" \\\n'
        "  -H 'Content-Type: application/json' \\\n"
        f"  --data-binary @- <<'JSON'\n{body}\nJSON"
    )


# --- starting and running a publish ----------------------------------------------------------


def publish_sequence(*, sequence, user, client=None, requested_status="") -> PublishOutcome:
    """Publish in the calling thread: start, then talk to Close. Raises PublishRefused."""
    attempt, step_pks = start_publish(
        sequence=sequence, user=user, requested_status=requested_status
    )
    return run_attempt(attempt=attempt, client=client, step_pks=step_pks)


def publish_in_background(*, sequence, user, requested_status="", expected_version=None):
    """Start a publish and hand the talking to Close to a background job. Returns the attempt."""
    attempt, step_pks = start_publish(
        sequence=sequence,
        user=user,
        requested_status=requested_status,
        expected_version=expected_version,
    )
    jobs.submit(run_attempt_job, attempt.pk, step_pks)
    return attempt


def run_attempt_job(attempt_id, step_pks):
    attempt = PublishAttempt.objects.select_related("sequence", "revision", "user").get(
        pk=attempt_id
    )
    return run_attempt(attempt=attempt, step_pks=step_pks)


def start_publish(*, sequence, user, requested_status="", expected_version=None):
    """Check the rules, take the guard and record the attempt. Returns (attempt, step pks).

    Raises PublishRefused without sending anything.
    """
    if requested_status not in ("", *STATUS_CHOICES):
        raise PublishRefused("Choose whether the sequence starts active or paused.")
    sequence = _fresh(sequence.pk)
    if expected_version is not None and expected_version != sequence.version:
        raise PublishRefused(
            f"The sequence changed since you opened this page (it is now version "
            f"{sequence.version}). Check the confirmation again before publishing."
        )
    reason = publish_refusal(sequence=sequence, user=user, just_read=True)
    if reason:
        raise PublishRefused(reason)
    revision = sequence.approved_revision
    action = action_for(sequence)
    steps = sequence.ordered_steps()
    sequence_spec = sequence.to_spec()
    payload = build_payload(sequence_spec, action=action, requested_status=requested_status)
    # Written steps reference their templates; those still to be created get their ids in
    # run_attempt, which stores the payload as sent before sending it.
    payload = copy_publishing.with_template_ids(
        payload, copy_publishing.plan_templates(sequence=sequence, sequence_spec=sequence_spec)
    )
    # Rows read above, guard taken below: an edit committed in between bumps the version, and
    # the compare-and-set then fails, so the payload always matches the approved revision.
    with transaction.atomic():
        claimed_at = _claim(sequence, revision, user)
        attempt = PublishAttempt.objects.create(
            sequence=sequence,
            user=user,
            action=action,
            revision=revision,
            requested_status=requested_status,
            started_at=claimed_at,  # doubles as this attempt's guard value
            request_payload=payload,
            progress="Waiting for a free worker…",
        )
    return attempt, [step.pk for step in steps]


def _fresh(sequence_id):
    return (
        Sequence.objects.select_related("approved_revision", "published_revision")
        .prefetch_related("steps", "schedule_ranges")
        .get(pk=sequence_id)
    )


def _claim(sequence, revision, user):
    """The atomic compare-and-set that lets one publish at a time talk to Close.

    Returns the guard value (a timestamp); raises PublishRefused. A guard left by an unclear
    answer, or by a publish whose process died (older than stale_after()), is taken over, again
    by compare-and-set, and the new attempt checks Close before creating anything.
    """
    now = timezone.now()
    still_true = Sequence.objects.filter(
        pk=sequence.pk,
        status=Sequence.Status.APPROVED,
        approved_revision_id=revision.pk,
        version=revision.number,
        close_id=sequence.close_id,
    )
    if still_true.filter(publishing_since__isnull=True).update(publishing_since=now):
        return now
    held = Sequence.objects.filter(pk=sequence.pk).values_list("publishing_since", flat=True)[0]
    latest = sequence.publish_attempts.order_by("-pk").first()
    unclear = latest is not None and latest.outcome == Outcome.UNKNOWN
    stale = held is not None and held < now - stale_after()
    taken_over = (
        held is not None
        and (unclear or stale)
        and still_true.filter(publishing_since=held).update(publishing_since=now)
    )
    if taken_over:
        if stale and latest is not None and latest.outcome == Outcome.IN_PROGRESS:
            _mark_stopped(latest)
        return now
    raise PublishRefused(_why_not_claimed(sequence.pk, user))


def _why_not_claimed(sequence_id, user):
    sequence = _fresh(sequence_id)
    if sequence.publishing_since is not None:
        return "Someone is publishing this sequence right now. Reload in a moment."
    return (
        publish_refusal(sequence=sequence, user=user)
        or "The sequence changed just now. Reload and try again."
    )


def _mark_stopped(attempt):
    PublishAttempt.objects.filter(pk=attempt.pk, outcome=Outcome.IN_PROGRESS).update(
        outcome=Outcome.UNKNOWN,
        finished_at=timezone.now(),
        progress="",
        message=(
            "This publish stopped without an answer (the server may have restarted). "
            "Close may or may not have created the sequence: we check before creating it again."
        ),
    )


def run_attempt(*, attempt, client=None, step_pks=None) -> PublishOutcome:
    """Talk to Close for a started attempt, record the outcome, release the guard."""
    started = time.monotonic()
    progress = _Progress(attempt)
    own_client = client is None
    client = client or job_client()
    earlier_hook, client.on_wait = client.on_wait, progress.waiting
    try:
        # The templates first: the sequence's steps reference them.
        if _write_templates(client, attempt, progress):
            if attempt.action == Action.UPDATE:
                _update(client, attempt, progress, step_pks)
            else:
                _create_once(client, attempt, progress, step_pks)
    except Exception:
        # A bug or a database error after the request may have gone out: we cannot know what
        # Close did, so the guard stays and the next attempt checks Close first.
        logger.exception("Publishing attempt %s failed unexpectedly", attempt.pk)
        attempt.outcome = Outcome.UNKNOWN
        attempt.message = (
            "Something went wrong on our side while publishing. Close may or may not have the "
            "changes: we check before trying again."
        )
    finally:
        client.on_wait = earlier_hook
        if own_client:
            client.close()
    if progress.templates and attempt.outcome in (Outcome.PUBLISHED, Outcome.FOUND_EXISTING):
        attempt.message += " " + progress.templates_sentence()
    elif progress.templates:
        # The templates written before the failure stay in Close, recorded: the next attempt
        # reuses them instead of creating them again.
        attempt.message += " " + progress.templates_sentence().replace(
            "Step templates:", "Kept in Close for the next attempt, step templates", 1
        )
    if progress.rate_limited and attempt.outcome in (Outcome.PUBLISHED, Outcome.FOUND_EXISTING):
        attempt.message += f" (Close asked us to wait {_seconds(progress.rate_limited)} s first.)"
    _finish(attempt, started, guard=attempt.started_at)
    outcome = _outcome(attempt)
    if outcome.ok:
        _notify_published(attempt)
    return outcome


class _Progress:
    """Writes what the job is doing onto the attempt, for the page that polls it."""

    def __init__(self, attempt):
        self.attempt = attempt
        self.rate_limited = 0.0
        self.templates = {}  # "created" | "updated" | "found" -> step numbers

    def template_done(self, what, number):
        self.templates.setdefault(what, []).append(number)

    def templates_sentence(self):
        """ "Step templates: created for steps 2 and 3, updated for step 5." """
        parts = []
        for what in ("created", "found", "updated"):
            numbers = self.templates.get(what)
            if numbers:
                label = "found in Close" if what == "found" else what
                parts.append(f"{label} for {_step_list(numbers)}")
        return "Step templates: " + ", ".join(parts) + "."

    def say(self, text):
        self.attempt.progress = text[:300]
        PublishAttempt.objects.filter(pk=self.attempt.pk).update(progress=self.attempt.progress)

    def waiting(self, seconds, reason):
        if reason == "rate_limit":
            self.rate_limited += seconds
            self.say(f"Close asked us to wait {_seconds(seconds)} s before sending again.")
        else:
            self.say(f"Close did not answer; asking again in {_seconds(seconds)} s.")


def _step_list(numbers):
    words = [str(n) for n in numbers]
    if len(words) == 1:
        return f"step {words[0]}"
    return f"steps {', '.join(words[:-1])} and {words[-1]}"


def _seconds(seconds):
    return f"{max(1, round(seconds))}" if seconds >= 1 else f"{seconds:.1f}"


def _finish(attempt, started, *, guard):
    attempt.duration_ms = int((time.monotonic() - started) * 1000)
    attempt.finished_at = timezone.now()
    attempt.progress = ""
    attempt.message = _scrub(attempt.message)
    attempt.response_body = _scrub_json(attempt.response_body)
    # One transaction: the outcome and the guard's release are seen together or not at all
    # (and on PostgreSQL that is one commit to wait for, not two).
    with transaction.atomic():
        # An UPDATE, never save(): if the sequence was deleted meanwhile, nothing comes back.
        PublishAttempt.objects.filter(pk=attempt.pk).update(
            **{name: getattr(attempt, name) for name in _RESULT_FIELDS}
        )
        if attempt.outcome != Outcome.UNKNOWN:
            # Only our own guard: after a take-over the guard belongs to the newer attempt.
            Sequence.objects.filter(pk=attempt.sequence_id, publishing_since=guard).update(
                publishing_since=None
            )


_RESULT_FIELDS = (
    "duration_ms",
    "finished_at",
    "progress",
    "outcome",
    "response_status",
    "response_body",
    "message",
)


def _scrub(text):
    # close.py already hides the key in Close's answers; this also covers what we wrote around
    # them, and answers recorded by older code.
    return redact(text, hidden=close.HIDDEN)


def _scrub_json(value):
    return redact_json(value, hidden=close.HIDDEN)


def _notify_published(attempt):
    try:
        # The notice names who saved the published revision: read them with the sequence.
        sequence = Sequence.objects.select_related("published_revision__created_by").get(
            pk=attempt.sequence_id
        )
        notifications.notify_published(sequence, attempt.user)
    except Exception:  # a failed notice must not turn a publish into a failure
        logger.exception("Could not send the published notice for attempt %s", attempt.pk)


# --- the templates carrying written copy ------------------------------------------------------
# Every template write keeps the sequence's rules: it runs inside the guard, is never retried
# blindly, and after an unclear answer we look in Close (a create by its unique name, which the
# step's OwnedTemplate row holds from before the request was sent) before anything creates it
# again. A retry after a failed sequence write reuses the templates that have a Close id.

TEMPLATE_CREATE, TEMPLATE_UPDATE = "template_create", "template_update"
# How a template's copy fields are named in messages ("Step 2's subject: ...").
COPY_FIELD_WORDS = {"subject": "subject", "body": "body", "text": "message", "name": "name"}


def _write_templates(client, attempt, progress) -> bool:
    """Create or update the template of every written step whose copy Close lacks, then put
    their ids into the sequence's payload (stored before it is sent). False when the attempt
    ended here (its outcome is set)."""
    sequence = Sequence.objects.get(pk=attempt.sequence_id)
    source = attempt.revision.to_spec() if attempt.revision is not None else sequence.to_spec()
    plans = copy_publishing.plan_templates(sequence=sequence, sequence_spec=source)
    for plan in plans:
        if not _write_template(client, attempt, progress, sequence, plan):
            return False
    owned = copy_publishing.owned_templates(sequence)
    ids = {plan.index: owned[(plan.step_key, plan.kind)].close_id for plan in plans}
    payload = copy_publishing.with_template_ids(attempt.request_payload, plans, ids=ids)
    if payload != attempt.request_payload:
        attempt.request_payload = payload
        PublishAttempt.objects.filter(pk=attempt.pk).update(request_payload=payload)
    return True


def _write_template(client, attempt, progress, sequence, plan) -> bool:
    row = plan.owned
    if plan.action == copy_publishing.NOTHING:
        return True
    if plan.action == copy_publishing.UPDATE:
        # Before changing a template, see it as Close has it now: changed there since we sent
        # ours (drift), used by other sequences since, or gone.
        progress.say(f"Checking step {plan.number}'s {plan.words} in Close…")
        try:
            template = copy_publishing.fetch_template(client, plan.kind, row.close_id)
        except close.CloseNotFound:
            plan = _replacement(plan, sequence)
            return _create_template(client, attempt, progress, sequence, plan)
        except close.CloseError as error:
            _failed(
                attempt,
                error,
                f"We could not check step {plan.number}'s {plan.words} in Close before "
                f"changing it: {error.message.rstrip('.')}. Nothing was sent for it or the "
                "sequence.",
            )
            return False
        verdict = copy_publishing.judge(row, template, wanted=plan.copy)
        if verdict == "ours":
            copy_publishing.record_written(row, copy=plan.copy, answer=template)
            return True
        if verdict == "drift" and not row.overwrite_drift:
            copy_publishing.record_drift(row, found=copy_publishing.close_copy(plan.kind, template))
            _failed(attempt, None, copy_publishing.drift_refusal(sequence))
            return False
        others = copy_publishing.others_using(template, own_close_id=sequence.close_id)
        if others and not row.update_shared:
            plan = _replacement(plan, sequence, shared_with=others)
            return _create_template(client, attempt, progress, sequence, plan)
        found = copy_publishing.close_copy(plan.kind, template)
        changes = copy_publishing.changed_keys(plan.kind, plan.copy, found)
        return _update_template(client, attempt, progress, row, plan, changes)
    return _create_template(client, attempt, progress, sequence, plan)


def _replacement(plan, sequence, *, shared_with=()):
    """The plan for a template of the step's own under a new name, in place of the one it
    has (shared with other sequences, or gone from Close), which stays as it is."""
    name = copy_publishing.template_name(
        sequence=sequence,
        number=plan.number,
        step_key=plan.step_key,
        kind=plan.kind,
        replacing=plan.owned.close_id if plan.owned else "",
    )
    return dataclasses.replace(
        plan,
        action=copy_publishing.CREATE,
        name=name,
        fork=True,
        look_first=False,
        payload=copy_publishing.create_payload(plan.kind, name, plan.copy),
        shared_with=list(shared_with),
    )


def _create_template(client, attempt, progress, sequence, plan) -> bool:
    row = copy_publishing.claim_row(sequence=sequence, plan=plan)
    plan.owned = row
    create = client.create_sms_template if plan.kind == "sms" else client.create_email_template

    def look():
        found = client.find_templates_named(plan.kind, row.name)
        return found[0] if found else None

    if plan.look_first:
        progress.say(
            f"Checking Close for step {plan.number}'s {plan.words}, which an earlier attempt "
            "may have created…"
        )
        try:
            found = look()
        except close.CloseError as error:
            _unknown(
                attempt,
                error,
                f"We could not check whether an earlier attempt created step {plan.number}'s "
                f"{plan.words}, so we sent nothing. {error.message}",
            )
            return False
        if found is not None:
            return _adopt_template(client, attempt, progress, row, plan, found)
    progress.say(f"Creating step {plan.number}'s {plan.words} in Close…")
    try:
        answer = create(plan.payload)
        if not isinstance(answer, dict) or not answer.get("id"):
            raise close.CloseUnavailable(
                "Close's answer had no template id",
                status_code=200,
                request_may_have_been_processed=True,
            )
    except close.CloseError as error:
        outcome, message = error_outcome(error, action=TEMPLATE_CREATE)
        if outcome != UNCLEAR:
            return _template_failed(attempt, error, outcome, message, plan)
        try:
            found = _look_until_settled(
                error, progress, f"created step {plan.number}'s {plan.words}", look
            )
        except close.CloseError as lookup_error:
            _unknown(
                attempt,
                error,
                f"{error.problem}, and we could not check whether Close created step "
                f"{plan.number}'s {plan.words} ({lookup_error.message.rstrip('.')}). We check "
                "again before trying: publish again in a minute.",
            )
            return False
        if found is None:
            _failed(
                attempt,
                error,
                f"{error.problem}. We checked: Close did not create step {plan.number}'s "
                f"{plan.words}, and your draft is unchanged. You can publish again.",
            )
            return False
        return _adopt_template(client, attempt, progress, row, plan, found)
    copy_publishing.record_written(row, copy=plan.copy, answer=answer)
    plan.close_id = row.close_id
    progress.template_done("created", plan.number)
    return True


def _adopt_template(client, attempt, progress, row, plan, found) -> bool:
    """Close has the template under the step's unique name: an earlier request of ours made
    it. Use it, and bring its copy up to date if the draft changed since."""
    found_copy = copy_publishing.close_copy(plan.kind, found)
    copy_publishing.record_written(row, copy=found_copy, answer=found)
    plan.close_id = row.close_id
    progress.template_done("found", plan.number)
    changes = copy_publishing.changed_keys(plan.kind, plan.copy, found_copy)
    return _update_template(client, attempt, progress, row, plan, changes)


def _update_template(client, attempt, progress, row, plan, changes) -> bool:
    """PUT only the keys that changed (Close's PUT is partial); nothing when none did."""
    if not changes:
        copy_publishing.record_written(row, copy=plan.copy, answer={"id": row.close_id})
        return True
    update = client.update_sms_template if plan.kind == "sms" else client.update_email_template
    progress.say(f"Updating step {plan.number}'s {plan.words} in Close…")

    def look():
        template = copy_publishing.fetch_template(client, plan.kind, row.close_id)
        found = copy_publishing.close_copy(plan.kind, template)
        return template if copy_publishing.same_copy(plan.kind, found, plan.copy) else None

    try:
        answer = update(row.close_id, changes)
    except close.CloseError as error:
        outcome, message = error_outcome(error, action=TEMPLATE_UPDATE)
        if outcome != UNCLEAR:
            return _template_failed(attempt, error, outcome, message, plan)
        try:
            answer = _look_until_settled(
                error, progress, f"saved step {plan.number}'s {plan.words}", look
            )
        except close.CloseError as lookup_error:
            # A PUT sent twice leaves the same template: the next attempt simply sends it again.
            _failed(
                attempt,
                error,
                f"{error.problem}, and we could not check whether Close saved step "
                f"{plan.number}'s {plan.words} ({lookup_error.message.rstrip('.')}). Nothing "
                "else was sent; publish again to send it again.",
            )
            return False
        if answer is None:
            _failed(
                attempt,
                error,
                f"{error.problem}. We checked: Close did not save the changes to step "
                f"{plan.number}'s {plan.words}, and your draft is unchanged. You can publish "
                "again.",
            )
            return False
    if not isinstance(answer, dict):
        answer = {"id": row.close_id}
    copy_publishing.record_written(row, copy=plan.copy, answer=answer, close_id=row.close_id)
    plan.close_id = row.close_id
    progress.template_done("updated", plan.number)
    return True


def _template_failed(attempt, error, outcome, message, plan) -> bool:
    """A clear failure of a template write: nothing more is sent, the sequence neither."""
    where = f"step {plan.number}'s {plan.words}"
    if outcome == Outcome.REFUSED:
        # Close's field errors on the template, on the step and field they came from.
        by_field = {}
        said = []
        for path, text in close.flatten_field_errors(error.field_errors):
            key = path.split(".")[0] or "template"
            by_field[f"steps.{plan.index}.{key}"] = text
            said.append(f"Step {plan.number}'s {COPY_FIELD_WORDS.get(key, key)}: {text}")
        said += error.errors
        attempt.outcome = Outcome.REFUSED
        attempt.response_status = error.status_code
        attempt.response_body = {"errors": error.errors, "field-errors": by_field}
        details = " ".join(part if part.endswith(".") else part + "." for part in said)
        attempt.message = (
            f"Close refused {where}. {details or 'It did not say why.'} Nothing else was sent."
        )
        return False
    _failed(attempt, error, f"{message} (That was {where}; the sequence was not sent.)")
    return False


def _look_until_settled(error, progress, what, look):
    """After an unclear answer to a template write: look() until it finds something, for up to
    the settle time when the request may still be running in Close. Returns what it found, or
    None; raises CloseError when Close cannot be asked."""
    still_running = error.status_code in (None, 502, 504)
    deadline = time.monotonic() + (_settle_seconds() if still_running else 0)
    pause = 0.25
    check = 0
    while True:
        check += 1
        progress.say(f"{error.problem}. Checking with Close whether it {what} (check {check})…")
        found = look()
        if found is not None:
            return found
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        _sleep(min(pause, left))
        pause *= 2


# --- create ----------------------------------------------------------------------------------


def _create_once(client, attempt, progress, step_pks):
    earlier = _earlier_creates(attempt)
    payloads = [attempt.request_payload, *(payload for payload, _ in earlier)]
    if earlier:
        # An earlier create may have reached Close without a clear answer: Close may have it.
        progress.say("Checking Close for a sequence an earlier attempt may have created…")
        since = min(started for _, started in earlier)
        try:
            lookup = _find_in_close(client, payloads, since=since, sequence_id=attempt.sequence_id)
        except close.CloseError as error:
            return _unknown(
                attempt,
                error,
                "We could not check whether an earlier attempt created the sequence, so we sent "
                f"nothing. {error.message}",
            )
        if lookup.found is not None:
            return _adopt(attempt, lookup.found, lookup.index, step_pks=step_pks)
        if lookup.candidate is not None:
            return _ask(attempt, lookup, sent=False)
    since = min([attempt.started_at, *(started for _, started in earlier)])
    progress.say("Creating the sequence in Close…")
    try:
        created = client.create_sequence(attempt.request_payload)
    except close.CloseError as error:
        return _after_error(
            attempt,
            error,
            progress,
            look=lambda: _find_in_close(
                client, payloads, since=since, sequence_id=attempt.sequence_id
            ),
            step_pks=step_pks,
        )
    _succeeded(attempt, created, f"Published to Close as {created['id']}.", step_pks)


def notes_of(attempt) -> dict:
    """Our notes on an attempt (see NOTES); {} when it has none."""
    body = attempt.response_body
    notes = body.get(NOTES) if isinstance(body, dict) else None
    return notes if isinstance(notes, dict) else {}


def _note(attempt, **notes):
    body = attempt.response_body
    if body is not None and not isinstance(body, dict):
        body = {"answer": body}
    body = dict(body or {})
    body[NOTES] = {**notes_of(attempt), **notes}
    attempt.response_body = body


def _earlier_creates(attempt):
    """(payload, started_at) of earlier creates whose request may have reached Close: unclear
    ones, and failures after an unclear answer. A create that certainly sent nothing (refused
    here, 429 beyond our wait, no connection) or that Close clearly refused created nothing, so
    it gives no reason to look, and looking could only find someone else's sequence."""
    reached = Q(outcome=Outcome.UNKNOWN) | Q(
        outcome=Outcome.FAILED, **{f"response_body__{NOTES}__may_have_reached_close": True}
    )
    earlier = (
        PublishAttempt.objects.filter(
            reached, sequence_id=attempt.sequence_id, action=Action.CREATE
        )
        .exclude(pk=attempt.pk)
        .order_by("-pk")
        .values_list("request_payload", "started_at")[:LOOKUP_HISTORY]
    )
    return [(payload, started) for payload, started in earlier if isinstance(payload, dict)]


@dataclass
class Lookup:
    """What a look in Close found: our sequence for certain, or one a person has to judge."""

    found: dict | None = None
    index: int = 0  # which of the payloads it matches; 0 is the attempt's own
    candidate: dict | None = None  # same name, timezone and steps, but who or when is unclear


def _find_in_close(client, payloads, *, since, sequence_id) -> Lookup:
    """Look in Close for a sequence one of our attempts (sent at or after `since`) created.

    Shape alone never decides: a sequence someone else made can have the same name, timezone
    and steps. It is ours for certain only when Close says our key's user (GET /me/) created it
    after `since`; it is not ours when another user did, or it is older; otherwise a person
    decides. Sequences a local draft owns, or a person said are not ours, are skipped.
    Raises CloseError when Close cannot be asked."""
    wanted = [_signature(payload) for payload in payloads]
    skip = set(Sequence.objects.exclude(close_id="").values_list("close_id", flat=True))
    skip |= _rejected_candidates(sequence_id)
    me_id = None
    certain, unsure = [], []
    for candidate in client.list_sequences():
        if not isinstance(candidate, dict) or candidate.get("id") in skip:
            continue
        signature = _signature(candidate)
        if signature not in wanted:
            continue
        if me_id is None:  # asked once, and only when something looks like ours
            me = client.me()
            me_id = str(me.get("id") or "") if isinstance(me, dict) else ""
        verdict = _made_by_us(candidate, me_id=me_id, since=since)
        if verdict is not False:
            (certain if verdict else unsure).append((candidate, wanted.index(signature)))
    if len(certain) == 1:
        return Lookup(found=certain[0][0], index=certain[0][1])
    if certain or unsure:  # two that look certain are no certainty either
        candidate, index = (certain or unsure)[0]
        return Lookup(candidate=candidate, index=index)
    return Lookup()


def _made_by_us(candidate, *, me_id, since):
    """True, False, or None for "Close's records cannot say"."""
    made_by = str(candidate.get("created_by_id") or "")
    made_at = _close_time(candidate.get("date_created"))
    if made_by and me_id and made_by != me_id:
        return False
    if made_at is not None and made_at < since - CLOCK_SKEW:
        return False
    if made_by and made_by == me_id and made_at is not None and made_at >= since:
        return True
    return None


def _close_time(value):
    """Close's naive ISO timestamps are UTC (close-api.md §1); None when unreadable."""
    try:
        moment = datetime.fromisoformat(str(value))
    except (TypeError, ValueError):
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _rejected_candidates(sequence_id):
    bodies = (
        PublishAttempt.objects.filter(sequence_id=sequence_id)
        .filter(**{f"response_body__{NOTES}__has_key": "rejected_id"})
        .values_list("response_body", flat=True)
    )
    return {
        str(body[NOTES]["rejected_id"])
        for body in bodies
        if isinstance(body, dict)
        and isinstance(body.get(NOTES), dict)
        and body[NOTES].get("rejected_id")
    }


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


def _adopt(attempt, found, index, *, step_pks):
    notes = notes_of(attempt)
    attempt.outcome = Outcome.FOUND_EXISTING
    attempt.response_body = found
    if notes:
        _note(attempt, **notes)
    if index == 0:
        attempt.message = (
            f"Close's answer was lost, but the sequence is in Close as {found['id']}; "
            "we linked it instead of creating a second one."
        )
        _record_success(attempt, found, step_pks)
        return
    # It matches what an earlier attempt sent, not what this one would send: link it, so the
    # next publish updates it instead of creating a second one.
    attempt.message = (
        f"An earlier attempt had created this sequence in Close as {found['id']}, though its "
        "answer was lost; we linked it instead of creating a second one. Your latest changes "
        "are not in Close yet: publish again to send them."
    )
    Sequence.objects.filter(pk=attempt.sequence_id).update(
        close_id=found["id"],
        published_at=timezone.now(),
        published_by=attempt.user,
        close_status=Sequence.close_status_in(found),
    )


# --- a person decides about a sequence found in Close ----------------------------------------


def pending_candidate(attempt):
    """The Close sequence `attempt` waits for a person to judge, or None."""
    if attempt is None or attempt.outcome != Outcome.UNKNOWN or attempt.progress:
        return None
    candidate_id = notes_of(attempt).get("candidate_id")
    body = attempt.response_body if isinstance(attempt.response_body, dict) else {}
    return body if candidate_id and body.get("id") == candidate_id else None


def link_candidate(*, sequence, user, attempt_id, candidate_id, client=None):
    """ "This is ours": link the sequence found in Close, so the next publish updates it.

    Raises PublishRefused (nothing changed) when the choice is no longer open, the person may
    not publish, or Close no longer has that sequence."""
    attempt, guard = _open_decision(sequence, user, attempt_id, candidate_id)
    started = time.monotonic()
    own_client = client is None
    client = client or close.client_from_settings(max_wait=settings.CLOSE_MAX_WAIT_IN_REQUEST)
    try:
        found = client.fetch_sequence(candidate_id)
    except close.CloseNotFound:
        raise PublishRefused(
            f"Close no longer has {candidate_id}. Reload the page: publishing again looks in "
            "Close first."
        ) from None
    except close.CloseError as error:
        raise PublishRefused(
            f"We could not fetch {candidate_id} from Close: {error.message}"
        ) from None
    finally:
        if own_client:
            client.close()
    if Sequence.objects.filter(close_id=candidate_id).exclude(pk=sequence.pk).exists():
        raise PublishRefused(f"{candidate_id} is already linked to another sequence here.")
    guard = _take_decision(sequence, guard)
    index = notes_of(attempt).get("candidate_index", 0)
    _adopt(attempt, found, index if isinstance(index, int) else 0, step_pks=None)
    _note(attempt, decided_by=user.get_username(), decision="ours")
    attempt.message = (
        f"{user.get_username()} confirmed that {candidate_id} in Close is this sequence: we "
        "linked it instead of creating another. " + attempt.message
    )
    _finish(attempt, started, guard=guard)
    return _outcome(attempt)


def reject_candidate(*, sequence, user, attempt_id, candidate_id):
    """ "Not ours": never look at that Close sequence again for this draft, and create ours.

    Returns the new publish attempt (it runs in the background). Raises PublishRefused."""
    attempt, guard = _open_decision(sequence, user, attempt_id, candidate_id)
    guard = _take_decision(sequence, guard)
    attempt.outcome = Outcome.FAILED
    _note(attempt, rejected_id=candidate_id, decided_by=user.get_username(), decision="not_ours")
    attempt.message = (
        f"{user.get_username()} said {candidate_id} in Close is not this sequence: we leave it "
        "alone and create a new one."
    )
    _finish(attempt, time.monotonic(), guard=guard)
    fresh = _fresh(sequence.pk)
    return publish_in_background(
        sequence=fresh,
        user=user,
        requested_status=attempt.requested_status or "paused",
        expected_version=fresh.version,
    )


def _open_decision(sequence, user, attempt_id, candidate_id):
    """The attempt waiting for this decision and the guard it holds; raises PublishRefused."""
    if not permissions.can_publish(user):
        raise PublishRefused("Only Publishers decide which Close sequence this is.")
    sequence = _fresh(sequence.pk)
    latest = sequence.publish_attempts.order_by("-pk").first()
    candidate = pending_candidate(latest)
    if (
        candidate is None
        or str(latest.pk) != str(attempt_id)
        or candidate.get("id") != candidate_id
        or sequence.publishing_since is None
    ):
        raise PublishRefused(
            "That choice is no longer open: the publish page changed since you opened it. "
            "Reload it."
        )
    return latest, sequence.publishing_since


def _take_decision(sequence, guard):
    """Compare-and-set on the guard, so two people deciding at once cannot both act."""
    now = timezone.now()
    if not Sequence.objects.filter(pk=sequence.pk, publishing_since=guard).update(
        publishing_since=now
    ):
        raise PublishRefused("Someone decided or published just now. Reload the page.")
    return now


# --- update ----------------------------------------------------------------------------------


def _update(client, attempt, progress, step_pks):
    close_id = Sequence.objects.filter(pk=attempt.sequence_id).values_list("close_id", flat=True)[0]
    payload = attempt.request_payload
    progress.say("Sending the changes to Close…")

    def look():
        found = client.fetch_sequence(close_id)
        return Lookup(found=found) if _update_applied(payload, found) else Lookup()

    try:
        updated = client.update_sequence(close_id, payload)
    except close.CloseError as error:
        return _after_error(
            attempt, error, progress, look=look, step_pks=step_pks, close_id=close_id
        )
    _succeeded(attempt, updated, f"Updated {updated.get('id', close_id)} in Close.", step_pks)


def _update_applied(payload, found) -> bool:
    """Whether Close's sequence already looks like what the PUT asked for."""
    if not isinstance(found, dict):
        return False
    for key in ("name", "timezone", "status"):
        if key in payload and found.get(key) != payload[key]:
            return False
    if "schedule" in payload and _ranges(found.get("schedule")) != _ranges(payload["schedule"]):
        return False
    sent, stored = payload.get("steps") or [], found.get("steps") or []
    if len(sent) != len(stored):
        return False
    for asked, got in zip(sent, stored, strict=True):
        if any(got.get(key) != value for key, value in asked.items()):
            return False
    return True


def _ranges(schedule):
    if not isinstance(schedule, dict):
        return None
    return [
        (item.get("weekday"), str(item.get("start"))[:5], str(item.get("end"))[:5])
        for item in schedule.get("ranges") or []
        if isinstance(item, dict)
    ]


# --- outcomes --------------------------------------------------------------------------------

UNCLEAR = "unclear"  # not an Outcome: Close may have acted, so look before deciding one


@dataclass(frozen=True)
class _Words:
    nothing: str  # said after a clear failure
    done: str  # "Checking with Close whether it …"
    not_done: str  # "We checked: Close …"


_WORDS = {
    Action.CREATE: _Words(
        "Nothing was created.", "created the sequence", "did not create the sequence"
    ),
    Action.UPDATE: _Words("Nothing was changed.", "saved the changes", "did not save the changes"),
    TEMPLATE_CREATE: _Words(
        "The template was not created.", "created the template", "did not create the template"
    ),
    TEMPLATE_UPDATE: _Words(
        "The template was not changed.", "saved the template", "did not save the template"
    ),
}


def error_outcome(error, *, action, close_id=""):
    """The one mapping from a Close error and the action to (outcome, message).

    The outcome is an Outcome, or UNCLEAR when Close may have acted on the request and only a
    look in Close can tell. It reads the error's type and fields, never its words."""
    words = _WORDS[action]
    if isinstance(error, close.CloseUnavailable):
        if error.request_may_have_been_processed:
            return UNCLEAR, error.problem
        return Outcome.FAILED, error.message
    if isinstance(error, close.CloseValidationError):
        return Outcome.REFUSED, error.message
    if isinstance(error, close.CloseNotFound) and action == Action.UPDATE:
        return Outcome.FAILED, (
            f"Close no longer has this sequence ({close_id}); it may have been deleted in Close. "
            f"{words.nothing}"
        )
    return Outcome.FAILED, f"{error.message} {words.nothing}"


def _after_error(attempt, error, progress, *, look, step_pks, close_id=""):
    """Record what a Close error to our create or update means (see error_outcome)."""
    outcome, message = error_outcome(error, action=attempt.action, close_id=close_id)
    if outcome == UNCLEAR:
        return _after_unclear_answer(attempt, error, progress, look=look, step_pks=step_pks)
    if outcome == Outcome.REFUSED:
        return _refused(attempt, error)
    return _failed(attempt, error, message)


def _after_unclear_answer(attempt, error, progress, *, look, step_pks):
    """Close may have acted on a request whose answer we did not get: look before anyone
    tries again. Without any answer (or behind a gateway's 502/504) the request may still be
    running in Close, so look again for a while before concluding it did not."""
    problem = error.problem
    what = _WORDS[attempt.action].done
    still_running = error.status_code in (None, 502, 504)
    deadline = time.monotonic() + (_settle_seconds() if still_running else 0)
    pause = 0.25
    check = 0
    while True:
        check += 1
        progress.say(f"{problem}. Checking with Close whether it {what} (check {check})…")
        try:
            lookup = look()
        except close.CloseError as lookup_error:
            return _unknown(
                attempt,
                error,
                f"{problem}, and we could not check whether Close {what} "
                f"({lookup_error.message.rstrip('.')}). We check again before trying: publish "
                "again in a minute.",
            )
        if lookup.found is not None:
            return _adopt(attempt, lookup.found, lookup.index, step_pks=step_pks)
        if lookup.candidate is not None:
            return _ask(attempt, lookup, sent=True)
        left = deadline - time.monotonic()
        if left <= 0:
            break
        _sleep(min(pause, left))
        pause *= 2
    not_done = _WORDS[attempt.action].not_done
    _failed(
        attempt,
        error,
        f"{problem}. We checked: Close {not_done}, and your draft is unchanged. "
        "You can publish again.",
    )
    # Close may still act on it later: the next create looks for it first. The message already
    # says the draft is unchanged and may be published again (the page need not add it).
    _note(attempt, may_have_reached_close=True, checked_close=True)


def _ask(attempt, lookup, *, sent):
    """Close has a sequence that looks like ours, but its records cannot say one of our
    attempts made it. The attempt stays unknown, so the guard stays and nothing creates
    meanwhile; the publish page shows the sequence and a Publisher decides."""
    candidate = lookup.candidate
    attempt.outcome = Outcome.UNKNOWN
    attempt.response_body = candidate
    _note(
        attempt,
        candidate_id=str(candidate.get("id") or ""),
        candidate_index=lookup.index,
        may_have_reached_close=sent,
    )
    attempt.message = (
        f"Close has a sequence with this name, timezone and steps ({candidate.get('id')}), but "
        "we cannot tell whether one of our attempts created it or someone else did. Look at it "
        "in Close, then say whether it is this one."
    )


def _unknown(attempt, error, message):
    attempt.outcome = Outcome.UNKNOWN
    attempt.response_status = error.status_code
    attempt.message = message


def _failed(attempt, error, message):
    attempt.outcome = Outcome.FAILED
    attempt.response_status = error.status_code if error is not None else None
    attempt.response_body = {"error": error.message} if error is not None else None
    attempt.message = message


def _refused(attempt, error):
    attempt.outcome = Outcome.REFUSED
    attempt.response_status = error.status_code
    attempt.response_body = {"errors": error.errors, "field-errors": error.field_errors}
    attempt.message = error.message


def _outcome(attempt):
    body = attempt.response_body if isinstance(attempt.response_body, dict) else {}
    field_errors = {}
    if attempt.outcome == Outcome.REFUSED:
        field_errors = dict(close.flatten_field_errors(body.get("field-errors")))
    # OK means Close now has this attempt's revision (a link to what an earlier attempt created
    # is found, but not yet this version).
    ok = (
        attempt.outcome in (Outcome.PUBLISHED, Outcome.FOUND_EXISTING)
        and Sequence.objects.filter(
            pk=attempt.sequence_id, published_revision_id=attempt.revision_id
        ).exists()
    )
    return PublishOutcome(
        attempt=attempt, ok=ok, message=attempt.message, field_errors=field_errors
    )


def _succeeded(attempt, answer, message, step_pks):
    """Close answered 200 to our create or update: record its answer and its ids."""
    attempt.outcome = Outcome.PUBLISHED
    attempt.response_status = 200
    attempt.response_body = answer
    attempt.message = message
    _record_success(attempt, answer, step_pks)


def _record_success(attempt, close_sequence, step_pks):
    """Store Close's ids for the sequence and its steps; mark it published at that revision.

    Steps are matched to Close's answer by the rows the payload was built from (step_pks), or,
    without them, by position when nobody edited the sequence since the attempt started.
    """
    user, revision = attempt.user, attempt.revision
    with transaction.atomic():
        sequence = Sequence.objects.select_for_update().get(pk=attempt.sequence_id)
        unchanged = revision is not None and sequence.version == revision.number
        sequence.close_id = close_sequence["id"]
        sequence.published_at = timezone.now()
        sequence.published_by = user
        sequence.published_revision = revision
        sequence.close_status = Sequence.close_status_in(close_sequence)
        sequence.save(
            update_fields=[
                *("close_id", "published_at", "published_by", "published_revision"),
                "close_status",
            ]
        )
        if step_pks is None and unchanged:
            step_pks = [step.pk for step in sequence.ordered_steps()]
        if step_pks is not None:
            _store_step_ids(step_pks, close_sequence.get("steps") or [])
            _store_template_ids(step_pks, attempt.request_payload)
        if unchanged:
            if sequence.status != Sequence.Status.PUBLISHED:
                verb = "Updated in" if attempt.action == Action.UPDATE else "Published to"
                sequence.change_status(
                    Sequence.Status.PUBLISHED,
                    user=user,
                    note=f"{verb} Close (version {revision.number}).",
                )
        else:
            attempt.message += (
                " The sequence was edited while it was being published: those edits are not in "
                "Close yet."
            )


def _store_step_ids(step_pks, close_steps):
    """Close's step ids onto our rows, in one UPDATE (a step deleted meanwhile is skipped)."""
    close_ids = {
        pk: str(close_step.get("id") or "")
        for pk, close_step in zip(step_pks, close_steps, strict=False)
        if isinstance(close_step, dict)
    }
    if close_ids:
        Step.objects.filter(pk__in=close_ids).update(
            close_id=Case(*(When(pk=pk, then=Value(cid)) for pk, cid in close_ids.items()))
        )


def _store_template_ids(step_pks, payload):
    """A written step's row keeps the template carrying its copy, as the payload referenced
    it: bookkeeping like Close's step ids, so neither a new version nor a new revision."""
    sent = (payload or {}).get("steps") or [] if isinstance(payload, dict) else []
    written = dict(
        Step.objects.filter(pk__in=step_pks, content_source=step_kinds.WRITTEN).values_list(
            "pk", "step_type"
        )
    )
    for pk, step in zip(step_pks, sent, strict=False):
        kind = step_kinds.kind_of(written.get(pk))
        if pk in written and kind.template_field and isinstance(step, dict):
            template_id = step.get(kind.template_field)
            if template_id:
                Step.objects.filter(pk=pk).update(**{kind.template_field: template_id})


# --- a publish that stopped without an answer -----------------------------------------------


def resolve_stale(*, sequence) -> bool:
    """On page load: if a publish has held the guard longer than stale_after() (its process
    died, or Close could not be asked), start a job that checks Close and records the outcome.
    Returns True when it started one."""
    held = sequence.publishing_since
    now = timezone.now()
    if held is None or held >= now - stale_after():
        return False
    latest = sequence.publish_attempts.order_by("-pk").first()
    with transaction.atomic():
        if not Sequence.objects.filter(pk=sequence.pk, publishing_since=held).update(
            publishing_since=now
        ):
            return False  # another request got there first
        if latest is not None and latest.outcome == Outcome.IN_PROGRESS:
            _mark_stopped(latest)
    if latest is None or latest.outcome not in (Outcome.IN_PROGRESS, Outcome.UNKNOWN):
        Sequence.objects.filter(pk=sequence.pk, publishing_since=now).update(publishing_since=None)
        return False
    PublishAttempt.objects.filter(pk=latest.pk).update(progress="Checking with Close…")
    jobs.submit(check_with_close, latest.pk, now)
    return True


def check_with_close(attempt_id, guard, client=None):
    """Decide an unclear attempt by looking in Close; keeps it unknown if Close cannot say."""
    attempt = PublishAttempt.objects.select_related("revision", "user").get(pk=attempt_id)
    started = time.monotonic()
    own_client = client is None
    client = client or job_client()
    try:
        if attempt.action == Action.UPDATE:
            close_id = Sequence.objects.values_list("close_id", flat=True).get(
                pk=attempt.sequence_id
            )
            found = client.fetch_sequence(close_id)
            match = (
                Lookup(found=found) if _update_applied(attempt.request_payload, found) else Lookup()
            )
        else:
            earlier = _earlier_creates(attempt)
            payloads = [attempt.request_payload, *(payload for payload, _ in earlier)]
            since = min([attempt.started_at, *(started for _, started in earlier)])
            match = _find_in_close(client, payloads, since=since, sequence_id=attempt.sequence_id)
    except close.CloseError as error:
        attempt.outcome = Outcome.UNKNOWN
        attempt.message = (
            "This publish stopped without an answer, and we could not check Close either "
            f"({error.message.rstrip('.')}). Publish again later: we check Close first."
        )
    else:
        if match.found is not None:
            _adopt(attempt, match.found, match.index, step_pks=None)
        elif match.candidate is not None:
            _ask(attempt, match, sent=True)
        else:
            attempt.outcome = Outcome.FAILED
            attempt.message = (
                "This publish stopped without an answer. We checked: Close does not have it, "
                "and your draft is unchanged. You can publish again."
            )
            _note(attempt, may_have_reached_close=True, checked_close=True)
    finally:
        if own_client:
            client.close()
    duration = attempt.duration_ms
    _finish(attempt, started, guard=guard)
    if duration is not None:  # keep the original attempt's duration
        PublishAttempt.objects.filter(pk=attempt.pk).update(duration_ms=duration)
    return _outcome(attempt)
