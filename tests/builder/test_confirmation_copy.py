"""The publish page's list of requests for written copy (builder/confirmation.py): the templates
to create or update, in order, then the sequence, each with its exact JSON and curl command."""

import html
import json

import pytest
from django.urls import reverse

from builder import confirmation, copy_publishing
from builder.models import PublishAttempt, Step
from tests.builder.copykit import (
    FOLLOW_UP,
    INTRO,
    SMS,
    edit_step,
    fresh,
    publish,
    rows,
    steps,
    written_draft,
)
from tests.conftest import SANDBOX_KEY, approve

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def quick(settings):
    settings.PUBLISH_SETTLE_SECONDS = 0.3
    settings.CLOSE_MAX_WAIT_IN_JOB = 0.0


@pytest.fixture
def written(user, reviewer, sandbox):
    return approve(written_draft(user), reviewer)


def shown(sequence, user, **options):
    return confirmation.confirmation(sequence=fresh(sequence), user=user, **options)


def test_a_first_publish_lists_each_template_create_then_the_sequence(written, publisher):
    result = shown(written, publisher, live=False)

    assert result.request_summary == "3 templates to create, then the sequence"
    assert [(r.method, r.path, r.title) for r in result.requests] == [
        ("POST", "email_template/", "Create step 2's email template"),
        ("POST", "email_template/", "Create step 3's email template"),
        ("POST", "sms_template/", "Create step 4's SMS template"),
        ("POST", "sequence/", "Create the sequence"),
    ]
    first, reply, sms, sequence = result.requests
    name = copy_publishing.template_name(
        sequence=written, number=2, step_key=str(steps(written)[1].pk), kind="email"
    )
    assert json.loads(first.payload_json) == {
        "name": name,
        "subject": "Quick question",
        "body": INTRO,
        "is_shared": True,
    }
    assert json.loads(reply.payload_json)["subject"] == "Re: Quick question"
    assert json.loads(reply.payload_json)["body"] == FOLLOW_UP
    assert any("step 2's subject with “Re: ”" in note for note in reply.notes)
    assert json.loads(sms.payload_json) == {
        "name": json.loads(sms.payload_json)["name"],
        "text": SMS,
        "is_shared": True,
    }
    sent_steps = json.loads(sequence.payload_json)["steps"]
    assert sent_steps[1]["email_template_id"] == "<the id Close gives step 2's new template>"
    assert sent_steps[3]["sms_template_id"] == "<the id Close gives step 4's new template>"
    assert first.curl.startswith("curl -X POST ") and "/api/v1/email_template/ \\\n" in first.curl
    assert '-u "$CLOSE_API_KEY:"' in first.curl and SANDBOX_KEY not in first.curl
    assert first.payload_json in first.curl


def test_an_edit_lists_only_the_changed_template_with_only_its_changed_keys(
    written, publisher, user, reviewer, sandbox
):
    assert publish(written, publisher).ok
    template_id = rows(written)[1].close_id
    edit_step(written, user, reviewer, 1, body="<div>Another question.</div>")
    sequence = fresh(written)
    with sequence.editing(user=user, loaded_version=sequence.version, summary="Two more"):
        Step.objects.create(
            sequence=sequence,
            position=4,
            step_type="sms",
            delay=60,
            content_source="written",
            text="One more thing.",
        )
        Step.objects.create(
            sequence=sequence,
            position=5,
            step_type="email",
            delay=60,
            threading="new_thread",
            content_source="written",
            subject="Last one",
            body="<div>Bye.</div>",
        )
    approve(fresh(sequence), reviewer)

    result = shown(written, publisher, live=False)

    assert result.request_summary == "2 templates to create, 1 to update, then the sequence"
    update, sms, email, sent = result.requests
    assert (update.method, update.path) == ("PUT", f"email_template/{template_id}/")
    assert json.loads(update.payload_json) == {"body": "<div>Another question.</div>"}
    assert any("Only what changed is sent (body)" in note for note in update.notes)
    assert (sms.method, email.method) == ("POST", "POST")
    assert (sent.method, sent.path) == ("PUT", f"sequence/{fresh(written).close_id}/")
    sent_steps = json.loads(sent.payload_json)["steps"]
    assert sent_steps[1]["email_template_id"] == template_id
    assert sent_steps[4]["sms_template_id"] == "<the id Close gives step 5's new template>"


def test_unchanged_copy_lists_the_sequence_alone(written, publisher, user, reviewer, sandbox):
    assert publish(written, publisher).ok
    edit_step(written, user, reviewer, 0, delay=60)

    result = shown(written, publisher, live=False)

    assert result.request_summary == "One request: the sequence"
    assert [r.method for r in result.requests] == ["PUT"]


def test_the_publish_page_shows_every_request_with_json_and_curl(
    written, publisher, client, sandbox
):
    client.force_login(publisher)

    response = client.get(reverse("sequence_publish", args=[written.pk]))

    page = html.unescape(response.content.decode())
    assert "The exact requests: 3 templates to create, then the sequence" in page
    for number, title in enumerate(
        [
            "Create step 2's email template",
            "Create step 3's email template",
            "Create step 4's SMS template",
        ],
        start=1,
    ):
        assert title in page
        block = page.split(f'id="request-json-{number}"', 1)[1].split(">", 1)[1]
        assert json.loads(block.split("</pre>", 1)[0])["is_shared"] is True
        assert f'id="request-curl-{number}"' in page
    sequence_json = page.split('id="request-json"', 1)[1].split(">", 1)[1].split("</pre>")[0]
    assert json.loads(sequence_json)["name"] == "Copy Test"
    assert "Create the sequence" in page and SANDBOX_KEY not in page


def test_a_template_refused_by_close_is_shown_on_its_step_and_field(
    user, reviewer, publisher, client, sandbox, settings
):
    settings.BUILDER_RUN_JOBS_INLINE = True
    # Nothing visible survives cleaning: Close gets an empty body and says it is required.
    sequence = approve(written_draft(user, body="<script>alert(1)</script>"), reviewer)
    client.force_login(publisher)
    url = reverse("sequence_publish", args=[sequence.pk])

    client.post(url, {"status": "paused", "version": sequence.version})
    page = html.unescape(client.get(url).content.decode())

    attempt = PublishAttempt.objects.get()
    assert attempt.outcome == PublishAttempt.Outcome.REFUSED
    assert "Close refused step 2's email template. Step 2's body: This field is required." in (
        attempt.message
    )
    second = page.split('aria-label="Step 2"', 1)[1].split("</li>", 1)[0]
    assert "Close says: Body: This field is required." in second
    assert sandbox.sequences == [] and sandbox.created_payloads == []
