"""The publish workflow against the local Close sandbox over real HTTP."""

import pytest
from django.utils import timezone

from builder import publishing
from builder.models import PublishAttempt, Sequence
from tests.conftest import EXAMPLE_EMAIL_1, EXAMPLE_EMAIL_2

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


def test_publish_creates_the_sequence_once_and_records_ids(example_sequence, user, sandbox, synced):
    outcome = publishing.publish_sequence(sequence=example_sequence, user=user)

    assert outcome.ok, outcome.message
    assert sandbox.created_payloads == [EXPECTED_PAYLOAD]
    example_sequence.refresh_from_db()
    stored = sandbox.sequences[0]
    assert example_sequence.close_id == stored["id"]
    assert [step.close_id for step in example_sequence.ordered_steps()] == [
        step["id"] for step in stored["steps"]
    ]
    assert example_sequence.publishing_since is None
    attempt = PublishAttempt.objects.get()
    assert attempt.outcome == PublishAttempt.Outcome.PUBLISHED
    assert attempt.request_payload == EXPECTED_PAYLOAD
    assert attempt.duration_ms is not None


def test_publishing_twice_is_refused(example_sequence, user, sandbox, synced):
    publishing.publish_sequence(sequence=example_sequence, user=user)

    with pytest.raises(publishing.PublishRefused, match="already in Close"):
        publishing.publish_sequence(
            sequence=Sequence.objects.get(pk=example_sequence.pk), user=user
        )
    assert len(sandbox.sequences) == 1


def test_blocking_problems_are_refused_before_calling_close(example_sequence, user, sandbox):
    # Nothing synced: the templates are unknown to the cache, so publishing must not start.
    with pytest.raises(publishing.PublishRefused, match="2 problems must be fixed"):
        publishing.publish_sequence(sequence=example_sequence, user=user)

    assert sandbox.requests == []
    assert not PublishAttempt.objects.exists()


def test_publish_in_progress_elsewhere_is_refused(example_sequence, user, sandbox, synced):
    Sequence.objects.filter(pk=example_sequence.pk).update(publishing_since=timezone.now())

    with pytest.raises(publishing.PublishRefused, match="publishing this sequence right now"):
        publishing.publish_sequence(sequence=example_sequence, user=user)
    assert sandbox.sequences == []


def test_close_refusal_is_recorded_with_closes_words(example_sequence, user, sandbox, synced):
    # Unshared in Close after our last sync: our cache says fine, Close says no.
    sandbox.update_template(EXAMPLE_EMAIL_2, is_shared=False)

    outcome = publishing.publish_sequence(sequence=example_sequence, user=user)

    assert not outcome.ok
    assert "not shared" in outcome.message
    attempt = PublishAttempt.objects.get()
    assert attempt.outcome == PublishAttempt.Outcome.REFUSED
    assert attempt.response_status == 400
    assert sandbox.sequences == []
    example_sequence.refresh_from_db()
    assert example_sequence.close_id == "" and example_sequence.publishing_since is None


def test_lost_answer_after_create_links_the_existing_sequence(
    example_sequence, user, sandbox, synced
):
    sandbox.inject("commit_then_drop", method="POST", path="/sequence/")

    outcome = publishing.publish_sequence(sequence=example_sequence, user=user)

    assert outcome.ok
    assert len(sandbox.sequences) == 1
    example_sequence.refresh_from_db()
    assert example_sequence.close_id == sandbox.sequences[0]["id"]
    assert PublishAttempt.objects.get().outcome == PublishAttempt.Outcome.FOUND_EXISTING


def test_server_error_is_checked_then_retry_creates_exactly_one(
    example_sequence, user, sandbox, synced
):
    sandbox.inject("error", status=500, method="POST", path="/sequence/")

    failed = publishing.publish_sequence(sequence=example_sequence, user=user)
    assert not failed.ok
    assert "Close did not create it" in failed.message
    assert sandbox.sequences == []

    retried = publishing.publish_sequence(
        sequence=Sequence.objects.get(pk=example_sequence.pk), user=user
    )
    assert retried.ok
    assert len(sandbox.sequences) == 1


def test_unreadable_answer_and_failed_lookup_keeps_the_guard_and_checks_first(
    example_sequence, user, sandbox, synced
):
    sandbox.inject("commit_then_drop", method="POST", path="/sequence/")
    sandbox.inject("error", status=503, method="GET", path="/sequence/", times=10)

    unclear = publishing.publish_sequence(sequence=example_sequence, user=user)

    assert not unclear.ok
    assert PublishAttempt.objects.get().outcome == PublishAttempt.Outcome.UNKNOWN
    assert Sequence.objects.get(pk=example_sequence.pk).publishing_since is not None
    assert len(sandbox.sequences) == 1

    sandbox.clear_faults()
    again = publishing.publish_sequence(
        sequence=Sequence.objects.get(pk=example_sequence.pk), user=user
    )

    assert again.ok
    assert again.attempt.outcome == PublishAttempt.Outcome.FOUND_EXISTING
    assert len(sandbox.sequences) == 1, "the second attempt must find, not create"


def test_revoked_key_fails_without_revealing_it(example_sequence, user, sandbox, synced, settings):
    settings.CLOSE_API_KEY = "revoked-key-123456"

    outcome = publishing.publish_sequence(sequence=example_sequence, user=user)

    assert not outcome.ok
    assert "API key" in outcome.message
    assert "revoked-key-123456" not in outcome.message
    assert "revoked-key-123456" not in str(PublishAttempt.objects.get().response_body)
    assert sandbox.sequences == []
