"""The publish page's confirmation (builder/confirmation.py): the summary and Close's errors."""

import json

import pytest

from builder import confirmation, publishing
from builder.models import PublishAttempt, Sequence, Step
from tests.builder.editor_support import steps_of

pytestmark = pytest.mark.django_db


def test_the_publish_summary_says_what_close_gets_for_a_reply_on_top(example_sequence, user):
    first_email = steps_of(example_sequence)[1]
    Step.objects.filter(pk=first_email.pk).update(threading="old_thread")

    result = confirmation.confirmation(
        sequence=Sequence.objects.get(pk=example_sequence.pk), user=user, live=False
    )

    assert result.payload["steps"][1]["threading"] == "new_thread"
    assert result.steps[1].what.endswith(", starts a new thread")


def test_field_errors_map_onto_steps_in_the_editors_words():
    by_step, other = confirmation.map_field_errors(
        {
            "steps.1.email_template_id": "This field is required.",
            "steps": {"2": {"delay": "Must be at least 0."}},
            "timezone": "This field is required.",
        }
    )

    assert by_step == {
        1: ["Email template: This field is required."],
        2: ["Wait: Must be at least 0."],
    }
    assert other == ["Timezone: This field is required."]


def test_a_refusal_by_close_is_shown_on_its_steps_and_the_rest_below(example_sequence, user):
    result = confirmation.confirmation(sequence=example_sequence, user=user, live=False)
    refused = PublishAttempt(
        outcome=PublishAttempt.Outcome.REFUSED,
        response_body={
            "field-errors": {"steps.0.delay": "Too long.", "steps.99.delay": "Gone.", "name": "X."}
        },
    )

    other = confirmation.show_close_refusal(result, refused)

    assert result.steps[0].close_errors == ["Wait: Too long."]
    assert other == ["Name: X.", "Step 100: Wait: Gone."]
    assert confirmation.show_close_refusal(result, None) == []


def test_the_attempt_history_hides_the_key_and_shows_only_closes_answer(
    example_sequence, user, settings
):
    settings.CLOSE_API_KEY = "secret-key-4242"
    PublishAttempt.objects.create(
        sequence=example_sequence,
        user=user,
        outcome=PublishAttempt.Outcome.FAILED,
        request_payload={"name": "Sent"},
        response_body={"error": "bad secret-key-4242", publishing.NOTES: {"ours": True}},
        message="Close said secret-key-4242",
    )

    (shown,) = confirmation.attempt_history(sequence=example_sequence, limit=20)

    assert "secret-key-4242" not in shown.message
    assert json.loads(shown.sent_json) == {"name": "Sent"}
    assert json.loads(shown.answer_json) == {"error": "bad [hidden]"}
