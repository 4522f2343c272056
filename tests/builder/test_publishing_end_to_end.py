"""End to end through the pages, over real HTTP to the sandbox: SMS steps through publish,
republish and both imports; "Send at any time"; the page's JSON and curl are exactly what is
sent; an update (republish) through the publish view."""

import html
import json
import shlex

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from builder import close
from builder.models import PublishAttempt, Sequence, Step
from tests.conftest import EXAMPLE_EMAIL_1, approve

pytestmark = pytest.mark.django_db

QUICK_SMS = "smstmpl_71JQ1KxplWkUvKD7TBdDT643l8hSBT7sYxnj16xOXZT"  # "Quick SMS check-in"
REMINDER_SMS = "smstmpl_dEn6CWGEsabjhAuWiFosV13G9GqvKQ1PcXabkXdSykE"  # "Meeting reminder"
WEEKDAYS = [{"weekday": day, "start": "09:00", "end": "16:59"} for day in range(1, 6)]


@pytest.fixture(autouse=True)
def quick(settings, jobs_inline):
    settings.PUBLISH_SETTLE_SECONDS = 0.3
    settings.CLOSE_MAX_WAIT_IN_JOB = 0.0


def signed_in(user):
    client = Client()
    client.force_login(user)
    return client


def text(response):
    return html.unescape(response.content.decode())


def publish_url(sequence):
    return reverse("sequence_publish", args=[sequence.pk])


def fresh(sequence):
    return Sequence.objects.get(pk=sequence.pk)


def shown_request(page):
    """(JSON payload, curl method, curl URL, curl body) as the publish page shows them."""
    block = page.split('id="request-json"', 1)[1].split(">", 1)[1].split("</pre>", 1)[0]
    curl = page.split('id="request-curl"', 1)[1].split(">", 1)[1].split("</pre>", 1)[0]
    first_line = shlex.split(curl.split("\\\n", 1)[0])
    body = curl.split("<<'JSON'\n", 1)[1].rsplit("\nJSON", 1)[0]
    return json.loads(block), first_line[2], first_line[3], json.loads(body)


def press_publish(client, sequence, status):
    response = client.post(publish_url(sequence), {"status": status, "version": sequence.version})
    assert response.status_code == 302, text(response)[:800]
    return text(client.get(publish_url(sequence)))


def sent(sandbox, method):
    return [r for r in sandbox.requests if r.method == method and "/sequence/" in r.path]


def sms_sequence(user, reviewer):
    sequence = Sequence.create_draft(name="SMS nudge", timezone_name="Europe/Berlin", user=user)
    Step.objects.bulk_create(
        [
            Step(
                sequence=sequence,
                position=0,
                step_type="email",
                delay=0,
                email_template_id=EXAMPLE_EMAIL_1,
                threading="new_thread",
            ),
            Step(
                sequence=sequence,
                position=1,
                step_type="sms",
                delay=86400,
                sms_template_id=QUICK_SMS,
            ),
            Step(sequence=sequence, position=2, step_type="call", delay=3600, required=True),
        ]
    )
    return approve(sequence, reviewer)


def test_an_sms_step_is_published_republished_and_imported_from_close_and_json(
    user, reviewer, publisher, sandbox, synced
):
    sequence = sms_sequence(user, reviewer)
    as_publisher = signed_in(publisher)

    confirmation = text(as_publisher.get(publish_url(sequence)))
    assert "SMS “Quick SMS check-in”" in confirmation
    assert "Step 2: “Quick SMS check-in” exists in Close, is shared and active." in confirmation
    page = press_publish(as_publisher, sequence, "paused")

    assert "Published to Close as" in page
    [created] = sandbox.created_payloads
    assert created["steps"][1] == {
        "step_type": "sms",
        "delay": 86400,
        "sms_template_id": QUICK_SMS,
    }
    [stored] = sandbox.sequences
    sms_step = Step.objects.get(sequence=sequence, step_type="sms")
    assert sms_step.close_id == stored["steps"][1]["id"] and sms_step.close_id

    # Republish: another SMS template, another wait; the step keeps its Close id.
    sequence = fresh(sequence)
    with sequence.editing(user=user, loaded_version=sequence.version, summary="Reminder"):
        Step.objects.filter(pk=sms_step.pk).update(sms_template_id=REMINDER_SMS, delay=7200)
    sequence = approve(fresh(sequence), reviewer)
    page = press_publish(as_publisher, sequence, "")

    assert f"Updated {stored['id']} in Close." in page
    [put] = sent(sandbox, "PUT")
    assert put.body["steps"][1] == {
        "id": sms_step.close_id,
        "step_type": "sms",
        "delay": 7200,
        "sms_template_id": REMINDER_SMS,
    }
    [stored] = sandbox.sequences
    assert stored["steps"][1]["id"] == sms_step.close_id
    assert stored["steps"][1]["sms_template_id"] == REMINDER_SMS
    assert fresh(sequence).status == Sequence.Status.PUBLISHED

    # Import from Close: a sequence with an SMS step that nobody here has yet.
    in_close = close.client_from_settings().create_sequence(
        {
            "name": "Texted in Close",
            "timezone": "UTC",
            "steps": [{"step_type": "sms", "delay": 0, "sms_template_id": REMINDER_SMS}],
        }
    )
    as_editor = signed_in(user)
    response = as_editor.post(reverse("sequence_import_close"), {"close_id": in_close["id"]})
    assert response.status_code == 302
    imported = Sequence.objects.get(close_id=in_close["id"])
    [step] = imported.ordered_steps()
    assert (step.step_type, step.sms_template_id, step.delay) == ("sms", REMINDER_SMS, 0)
    assert step.close_id == in_close["steps"][0]["id"]

    # Import from a JSON file: the exported shape of this very sequence, under a name of its
    # own (a name already here is refused with the offer of a copy, tested in its own file).
    exported = json.loads(as_editor.get(reverse("sequence_export", args=[sequence.pk])).content)
    exported["name"] = "SMS check-ins from a file"
    upload = SimpleUploadedFile(
        "sms.json", json.dumps(exported).encode(), content_type="application/json"
    )
    response = as_editor.post(reverse("sequence_import_file"), {"file": upload})
    assert response.status_code == 302
    copy = Sequence.objects.exclude(pk__in=[sequence.pk, imported.pk]).get()
    assert [(s.step_type, s.sms_template_id) for s in copy.ordered_steps()] == [
        ("email", ""),
        ("sms", REMINDER_SMS),
        ("call", ""),
    ]


def choose_any_time(client, sequence):
    """The Schedule tab's explicit "Send at any time" choice (the hours are kept aside)."""
    response = client.post(
        reverse("sequence_schedule", args=[sequence.pk]),
        {
            "version": str(sequence.version),
            "timezone": sequence.timezone,
            "has_schedule": "any_time",
            "ranges": json.dumps(WEEKDAYS),
        },
    )
    assert response.status_code in (200, 302), text(response)[:800]
    assert fresh(sequence).has_schedule is False


def test_send_at_any_time_is_published_without_hours_and_republished_clearing_them(
    approved_sequence, user, reviewer, publisher, sandbox, synced
):
    # First with hours, then the explicit any-time choice: the PUT must clear Close's hours.
    as_publisher = signed_in(publisher)
    press_publish(as_publisher, approved_sequence, "paused")
    assert sandbox.sequences[0]["schedule"]["ranges"]
    sequence = fresh(approved_sequence)
    choose_any_time(signed_in(user), sequence)
    sequence = approve(fresh(sequence), reviewer)

    confirmation = text(as_publisher.get(publish_url(sequence)))
    assert "<dt>Sending hours</dt><dd>Any time</dd>" in confirmation
    payload, *_ = shown_request(confirmation)
    assert payload["schedule"] is None
    page = press_publish(as_publisher, sequence, "")

    assert "Updated in Close" in page
    [put] = sent(sandbox, "PUT")
    assert put.body["schedule"] is None
    assert not (sandbox.sequences[0].get("schedule") or {}).get("ranges")


def test_a_new_sequence_sent_at_any_time_has_no_schedule(
    example_sequence, user, reviewer, publisher, sandbox, synced
):
    choose_any_time(signed_in(user), example_sequence)
    sequence = approve(fresh(example_sequence), reviewer)
    as_publisher = signed_in(publisher)

    payload, *_ = shown_request(text(as_publisher.get(publish_url(sequence))))
    assert "schedule" not in payload
    page = press_publish(as_publisher, sequence, "active")

    assert "Published to Close as" in page
    [created] = sandbox.created_payloads
    assert "schedule" not in created and created["status"] == "active"
    assert not (sandbox.sequences[0].get("schedule") or {}).get("ranges")


def test_the_pages_json_and_curl_are_exactly_what_is_sent_on_create_and_update(
    approved_sequence, user, reviewer, publisher, sandbox, synced
):
    as_publisher = signed_in(publisher)
    page = text(as_publisher.get(publish_url(approved_sequence) + "?status=active"))
    shown, method, url, curl_body = shown_request(page)

    press_publish(as_publisher, approved_sequence, "active")

    [post] = sent(sandbox, "POST")
    assert post.body == shown == curl_body
    assert (method, url) == ("POST", sandbox.url + "sequence/")

    sequence = fresh(approved_sequence)
    call, first, second = sequence.ordered_steps()
    with sequence.editing(user=user, loaded_version=sequence.version, summary="Longer wait"):
        Step.objects.filter(pk=second.pk).update(delay=5 * 86400)
        Sequence.objects.filter(pk=sequence.pk).update(name="My Sequence v2")
    sequence = approve(fresh(sequence), reviewer)
    page = text(as_publisher.get(publish_url(sequence)))
    shown, method, url, curl_body = shown_request(page)
    assert "status" not in shown, "keep Close's status: none sent"

    after = press_publish(as_publisher, sequence, "")

    [put] = sent(sandbox, "PUT")
    assert put.body == shown == curl_body
    assert (method, url) == ("PUT", f"{sandbox.url}sequence/{sequence.close_id}/")
    assert put.path == f"/api/v1/sequence/{sequence.close_id}/"
    # A successful update through the view: Close has it, the page and the history say so.
    assert "Updated in Close" in after and f"Updated {sequence.close_id} in Close." in after
    assert f"Version {sequence.version} is in Close" in after
    latest = PublishAttempt.objects.order_by("-pk").first()
    assert (latest.action, latest.outcome) == ("update", "published")
    assert fresh(sequence).status == Sequence.Status.PUBLISHED
    [stored] = sandbox.sequences
    assert stored["name"] == "My Sequence v2" and stored["status"] == "active"
    assert stored["steps"][2]["delay"] == 5 * 86400
    assert [s["id"] for s in stored["steps"]] == [s.close_id for s in sequence.ordered_steps()]
