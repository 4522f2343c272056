"""The publish workflow against the local Close sandbox over real HTTP."""

import datetime as dt
import json

import pytest
from django.core import mail
from django.utils import timezone

from builder import close, publishing
from builder.models import PublishAttempt, Sequence, Step
from tests.conftest import EXAMPLE_EMAIL_1, EXAMPLE_EMAIL_2, SANDBOX_KEY, approve

pytestmark = pytest.mark.django_db

EXPECTED_PAYLOAD = {
    "name": "My Sequence",
    "timezone": "America/Los_Angeles",
    "schedule": {
        "ranges": [{"weekday": day, "start": "09:00", "end": "16:59"} for day in range(1, 6)]
    },
    "steps": [
        {"step_type": "call", "delay": 0, "required": True},
        {
            "step_type": "email",
            "delay": 86400,
            "email_template_id": EXAMPLE_EMAIL_1,
            "threading": "new_thread",
        },
        {
            "step_type": "email",
            "delay": 259200,
            "email_template_id": EXAMPLE_EMAIL_2,
            "threading": "old_thread",
        },
    ],
}


@pytest.fixture(autouse=True)
def quick(settings):
    """No back-off sleeps inside Close calls, and a short look-again window after no answer."""
    settings.CLOSE_MAX_WAIT_IN_JOB = 0.0
    settings.PUBLISH_SETTLE_SECONDS = 0.3


def sequence_calls(sandbox):
    """Requests about sequences (template syncs in fixtures do not count)."""
    return [r for r in sandbox.requests if "/sequence/" in r.path]


def fresh(sequence):
    return Sequence.objects.get(pk=sequence.pk)


def test_publish_creates_the_sequence_once_and_records_ids(
    approved_sequence, publisher, sandbox, synced
):
    outcome = publishing.publish_sequence(sequence=approved_sequence, user=publisher)

    assert outcome.ok, outcome.message
    assert sandbox.created_payloads == [EXPECTED_PAYLOAD]
    sequence = fresh(approved_sequence)
    stored = sandbox.sequences[0]
    assert sequence.close_id == stored["id"]
    assert [step.close_id for step in sequence.ordered_steps()] == [
        step["id"] for step in stored["steps"]
    ]
    assert sequence.publishing_since is None
    assert sequence.status == Sequence.Status.PUBLISHED
    assert sequence.published_revision.number == sequence.version
    assert sequence.published_by == publisher
    attempt = PublishAttempt.objects.get()
    assert attempt.outcome == PublishAttempt.Outcome.PUBLISHED
    assert attempt.action == PublishAttempt.Action.CREATE
    assert attempt.revision.number == sequence.version
    assert attempt.user == publisher
    assert attempt.request_payload == EXPECTED_PAYLOAD
    assert attempt.response_status == 200
    assert attempt.response_body["id"] == stored["id"]
    assert attempt.duration_ms is not None and attempt.finished_at is not None
    assert attempt.progress == ""


def test_the_chosen_status_is_sent(approved_sequence, publisher, sandbox, synced):
    publishing.publish_sequence(
        sequence=approved_sequence, user=publisher, requested_status="paused"
    )

    assert sandbox.created_payloads[0]["status"] == "paused"
    assert sandbox.sequences[0]["status"] == "paused"
    assert PublishAttempt.objects.get().requested_status == "paused"


def test_an_unknown_status_is_refused(approved_sequence, publisher, sandbox, synced):
    with pytest.raises(publishing.PublishRefused, match="active or paused"):
        publishing.publish_sequence(
            sequence=approved_sequence, user=publisher, requested_status="draft"
        )
    assert sequence_calls(sandbox) == []


def test_publishing_twice_is_refused(approved_sequence, publisher, sandbox, synced):
    publishing.publish_sequence(sequence=approved_sequence, user=publisher)

    with pytest.raises(publishing.PublishRefused, match="already in Close"):
        publishing.publish_sequence(sequence=fresh(approved_sequence), user=publisher)
    assert len(sandbox.sequences) == 1


def test_a_draft_is_refused_until_approved(example_sequence, publisher, sandbox, synced):
    with pytest.raises(publishing.PublishRefused, match="approved sequence"):
        publishing.publish_sequence(sequence=example_sequence, user=publisher)
    assert sequence_calls(sandbox) == []
    assert not PublishAttempt.objects.exists()


def test_an_approval_of_an_older_revision_does_not_count(
    approved_sequence, publisher, user, sandbox, synced
):
    # The model's editing() returns an approved sequence to Draft; an approval copied onto a
    # later version by other means must not count either.
    with approved_sequence.editing(user=user, loaded_version=approved_sequence.version):
        Step.objects.filter(sequence=approved_sequence, position=1).update(delay=2 * 86400)
    old = approved_sequence.revisions.get(number=approved_sequence.version - 1)
    Sequence.objects.filter(pk=approved_sequence.pk).update(
        status=Sequence.Status.APPROVED, approved_revision=old
    )

    with pytest.raises(publishing.PublishRefused, match="older revision"):
        publishing.publish_sequence(sequence=fresh(approved_sequence), user=publisher)
    assert sequence_calls(sandbox) == []


def test_only_publishers_publish(approved_sequence, user, sandbox, synced):
    with pytest.raises(publishing.PublishRefused, match="Only Publishers"):
        publishing.publish_sequence(sequence=approved_sequence, user=user)
    assert sequence_calls(sandbox) == []


def test_blocking_problems_are_refused_before_calling_close(approved_sequence, publisher, sandbox):
    # Nothing synced: the templates are unknown to the cache, so publishing must not start.
    with pytest.raises(publishing.PublishRefused, match="2 problems must be fixed"):
        publishing.publish_sequence(sequence=approved_sequence, user=publisher)

    assert sandbox.requests == []
    assert not PublishAttempt.objects.exists()


def test_publish_in_progress_elsewhere_is_refused(approved_sequence, publisher, sandbox, synced):
    Sequence.objects.filter(pk=approved_sequence.pk).update(publishing_since=timezone.now())

    with pytest.raises(publishing.PublishRefused, match="publishing this sequence right now"):
        publishing.publish_sequence(sequence=approved_sequence, user=publisher)
    assert sandbox.sequences == []


def test_close_refusal_is_recorded_with_closes_words(approved_sequence, publisher, sandbox, synced):
    # Unshared in Close after our last sync: our cache says fine, Close says no.
    sandbox.update_template(EXAMPLE_EMAIL_2, is_shared=False)

    outcome = publishing.publish_sequence(sequence=approved_sequence, user=publisher)

    assert not outcome.ok
    assert "not shared" in outcome.message
    attempt = PublishAttempt.objects.get()
    assert attempt.outcome == PublishAttempt.Outcome.REFUSED
    assert attempt.response_status == 400
    assert sandbox.sequences == []
    sequence = fresh(approved_sequence)
    assert sequence.close_id == "" and sequence.publishing_since is None
    assert sequence.status == Sequence.Status.APPROVED, "still approved: fix Close, try again"


def test_lost_answer_after_create_links_the_existing_sequence(
    approved_sequence, publisher, sandbox, synced
):
    sandbox.inject("commit_then_drop", method="POST", path="/sequence/")

    outcome = publishing.publish_sequence(sequence=approved_sequence, user=publisher)

    assert outcome.ok
    assert len(sandbox.sequences) == 1
    sequence = fresh(approved_sequence)
    assert sequence.close_id == sandbox.sequences[0]["id"]
    assert [step.close_id for step in sequence.ordered_steps()] == [
        step["id"] for step in sandbox.sequences[0]["steps"]
    ]
    assert PublishAttempt.objects.get().outcome == PublishAttempt.Outcome.FOUND_EXISTING


def test_server_error_is_checked_then_retry_looks_first_and_creates_exactly_one(
    approved_sequence, publisher, sandbox, synced
):
    sandbox.inject("error", status=500, method="POST", path="/sequence/")

    failed = publishing.publish_sequence(sequence=approved_sequence, user=publisher)
    assert not failed.ok
    assert "We checked: Close did not create the sequence" in failed.message
    assert sandbox.sequences == []

    retried = publishing.publish_sequence(sequence=fresh(approved_sequence), user=publisher)
    assert retried.ok
    assert len(sandbox.sequences) == 1
    gets = [r for r in sandbox.requests if r.method == "GET" and r.path.endswith("/sequence/")]
    assert len(gets) == 2, "one look after the error, one before the retry's create"


def test_unreadable_answer_and_failed_lookup_keeps_the_guard_and_checks_first(
    approved_sequence, publisher, sandbox, synced
):
    sandbox.inject("commit_then_drop", method="POST", path="/sequence/")
    sandbox.inject("error", status=503, method="GET", path="/sequence/", times=10)

    unclear = publishing.publish_sequence(sequence=approved_sequence, user=publisher)

    assert not unclear.ok
    assert PublishAttempt.objects.get().outcome == PublishAttempt.Outcome.UNKNOWN
    assert fresh(approved_sequence).publishing_since is not None
    assert len(sandbox.sequences) == 1

    sandbox.clear_faults()
    again = publishing.publish_sequence(sequence=fresh(approved_sequence), user=publisher)

    assert again.ok
    assert again.attempt.outcome == PublishAttempt.Outcome.FOUND_EXISTING
    assert len(sandbox.sequences) == 1, "the second attempt must find, not create"
    assert fresh(approved_sequence).publishing_since is None


def test_an_edit_after_an_unclear_create_cannot_cause_a_duplicate(
    approved_sequence, publisher, user, reviewer, sandbox, synced
):
    """The retry sends a different payload, yet the lookup matches the earlier one too."""
    sandbox.inject("commit_then_drop", method="POST", path="/sequence/")
    sandbox.inject("error", status=503, method="GET", path="/sequence/", times=10)
    publishing.publish_sequence(sequence=approved_sequence, user=publisher)
    sandbox.clear_faults()
    sequence = fresh(approved_sequence)
    with sequence.editing(user=user, loaded_version=sequence.version, summary="Rename"):
        Sequence.objects.filter(pk=sequence.pk).update(name="Renamed")
    approve(fresh(sequence), reviewer)

    linked = publishing.publish_sequence(sequence=fresh(sequence), user=publisher)

    assert len(sandbox.sequences) == 1
    assert not linked.ok and "publish again to send them" in linked.message
    sequence = fresh(sequence)
    assert sequence.close_id == sandbox.sequences[0]["id"]
    assert sequence.status == Sequence.Status.APPROVED

    updated = publishing.publish_sequence(sequence=sequence, user=publisher)

    assert updated.ok, updated.message
    assert updated.attempt.action == PublishAttempt.Action.UPDATE
    assert [s["name"] for s in sandbox.sequences] == ["Renamed"]


def test_a_publish_whose_process_died_is_taken_over_after_it_goes_stale(
    approved_sequence, publisher, sandbox, synced, settings
):
    settings.PUBLISH_STALE_SECONDS = 60
    # A publish started two minutes ago, sent its POST, and its process died before recording.
    attempt, _ = publishing.start_publish(sequence=approved_sequence, user=publisher)
    close.client_from_settings().create_sequence(attempt.request_payload)
    long_ago = timezone.now() - dt.timedelta(minutes=2)
    Sequence.objects.filter(pk=approved_sequence.pk).update(publishing_since=long_ago)
    PublishAttempt.objects.filter(pk=attempt.pk).update(started_at=long_ago)

    outcome = publishing.publish_sequence(sequence=fresh(approved_sequence), user=publisher)

    assert outcome.ok
    assert outcome.attempt.outcome == PublishAttempt.Outcome.FOUND_EXISTING
    assert len(sandbox.sequences) == 1
    attempt.refresh_from_db()
    assert attempt.outcome == PublishAttempt.Outcome.UNKNOWN
    assert "stopped without an answer" in attempt.message


def test_a_fresh_guard_is_not_taken_over(approved_sequence, publisher, sandbox, synced):
    publishing.start_publish(sequence=approved_sequence, user=publisher)

    with pytest.raises(publishing.PublishRefused, match="right now"):
        publishing.start_publish(sequence=fresh(approved_sequence), user=publisher)


def test_resolve_stale_checks_close_and_records_what_it_found(
    approved_sequence, publisher, sandbox, synced, settings, jobs_inline
):
    settings.PUBLISH_STALE_SECONDS = 60
    attempt, _ = publishing.start_publish(sequence=approved_sequence, user=publisher)
    created = close.client_from_settings().create_sequence(attempt.request_payload)
    Sequence.objects.filter(pk=approved_sequence.pk).update(
        publishing_since=timezone.now() - dt.timedelta(minutes=5)
    )

    assert publishing.resolve_stale(sequence=fresh(approved_sequence))

    attempt.refresh_from_db()
    assert attempt.outcome == PublishAttempt.Outcome.FOUND_EXISTING
    sequence = fresh(approved_sequence)
    assert sequence.close_id == created["id"]
    assert [step.close_id for step in sequence.ordered_steps()] == [
        step["id"] for step in created["steps"]
    ]
    assert sequence.status == Sequence.Status.PUBLISHED
    assert sequence.publishing_since is None
    assert len(sandbox.sequences) == 1


def test_resolve_stale_says_when_close_does_not_have_it(
    approved_sequence, publisher, sandbox, synced, settings, jobs_inline
):
    settings.PUBLISH_STALE_SECONDS = 60
    attempt, _ = publishing.start_publish(sequence=approved_sequence, user=publisher)
    Sequence.objects.filter(pk=approved_sequence.pk).update(
        publishing_since=timezone.now() - dt.timedelta(minutes=5)
    )

    assert publishing.resolve_stale(sequence=fresh(approved_sequence))

    attempt.refresh_from_db()
    assert attempt.outcome == PublishAttempt.Outcome.FAILED
    assert "We checked: Close does not have it" in attempt.message
    assert fresh(approved_sequence).publishing_since is None
    assert publishing.publish_sequence(sequence=fresh(approved_sequence), user=publisher).ok
    assert len(sandbox.sequences) == 1


def test_revoked_key_fails_without_revealing_it(
    approved_sequence, publisher, sandbox, synced, settings
):
    settings.CLOSE_API_KEY = "revoked-key-123456"

    outcome = publishing.publish_sequence(sequence=approved_sequence, user=publisher)

    assert not outcome.ok
    assert "API key" in outcome.message
    attempt = PublishAttempt.objects.get()
    stored = json.dumps([attempt.message, attempt.request_payload, attempt.response_body])
    assert "revoked-key-123456" not in stored
    assert sandbox.sequences == []


def test_the_publish_notice_goes_out(
    approved_sequence, publisher, user, sandbox, synced, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        publishing.publish_sequence(sequence=approved_sequence, user=publisher)

    notices = [m for m in mail.outbox if "Published to Close" in m.subject]
    assert notices and user.email in notices[0].to


def test_progress_shows_closes_wait_while_it_lasts(approved_sequence, publisher, sandbox, synced):
    sandbox.inject("rate_limit", method="POST", path="/sequence/", reset=7)
    seen = []

    def sleep(seconds):
        seen.append(PublishAttempt.objects.get().progress)

    client = close.CloseClient(api_key=SANDBOX_KEY, base_url=sandbox.url, sleep=sleep, max_wait=30)
    outcome = publishing.publish_sequence(sequence=approved_sequence, user=publisher, client=client)

    assert seen == ["Close asked us to wait 7 s before sending again."]
    assert outcome.ok
    assert "Close asked us to wait 7 s first" in outcome.message
    assert len(sandbox.sequences) == 1


def test_curl_command_never_holds_the_key(settings):
    settings.CLOSE_API_KEY = "secret-key-777"
    command = publishing.curl_command(
        action="create",
        payload={"name": 'It\'s "quoted"'},
        base_url="https://api.close.com/api/v1/",
    )

    assert "secret-key-777" not in command
    assert '-u "$CLOSE_API_KEY:"' in command
    assert command.startswith("curl -X POST https://api.close.com/api/v1/sequence/ ")
    body = command.split("<<'JSON'\n", 1)[1].rsplit("\nJSON", 1)[0]
    assert json.loads(body) == {"name": 'It\'s "quoted"'}


@pytest.mark.parametrize(
    ("error", "action", "outcome", "message"),
    [
        (
            close.CloseUnavailable(
                "Any words; at all.",
                problem="Close did not answer in time",
                status_code=None,
                request_may_have_been_processed=True,
            ),
            "create",
            publishing.UNCLEAR,
            "Close did not answer in time",
        ),
        (
            close.CloseUnavailable("Could not connect; nothing was sent."),
            "create",
            "failed",
            "Could not connect; nothing was sent.",
        ),
        (
            close.CloseRateLimited("Close asked us to wait 30 s.", retry_after=30),
            "create",
            "failed",
            "Close asked us to wait 30 s. Nothing was created.",
        ),
        (
            close.CloseRateLimited("Close asked us to wait 30 s.", retry_after=30),
            "update",
            "failed",
            "Close asked us to wait 30 s. Nothing was changed.",
        ),
        (
            close.CloseValidationError("Close refused the sequence: name: Required."),
            "update",
            "refused",
            "Close refused the sequence: name: Required.",
        ),
        (
            close.CloseNotFound("Close could not find that sequence.", status_code=404),
            "update",
            "failed",
            "Close no longer has this sequence (seq_1); it may have been deleted in Close. "
            "Nothing was changed.",
        ),
        (
            close.CloseNotFound("Close could not find that sequence.", status_code=404),
            "create",
            "failed",
            "Close could not find that sequence. Nothing was created.",
        ),
        (
            close.ClosePlanLimit("Workflows need Growth.", status_code=402),
            "create",
            "failed",
            "Workflows need Growth. Nothing was created.",
        ),
    ],
)
def test_one_function_maps_a_close_error_and_the_action_to_an_outcome(
    error, action, outcome, message
):
    assert publishing.error_outcome(error, action=action, close_id="seq_1") == (outcome, message)


def test_the_status_chosen_on_the_confirmation(example_sequence):
    # A create is paused unless active was chosen; only an update may keep Close's status ("").
    assert publishing.chosen_status(sequence=example_sequence, posted="") == "paused"
    assert publishing.chosen_status(sequence=example_sequence, posted="active") == "active"
    assert publishing.chosen_status(sequence=example_sequence, posted="bogus") is None
    example_sequence.close_id = "seq_1"
    assert publishing.chosen_status(sequence=example_sequence, posted="") == ""
    assert publishing.chosen_status(sequence=example_sequence, posted="bogus") is None
