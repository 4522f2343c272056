"""The publish page: confirmation with live checks, starting a publish, progress, history."""

import datetime as dt
import html
import json

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from builder import publishing
from builder.models import PublishAttempt, Sequence, Step
from tests.conftest import EXAMPLE_EMAIL_1, EXAMPLE_EMAIL_2, SANDBOX_KEY, approve

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def quick(settings, jobs_inline):
    settings.PUBLISH_SETTLE_SECONDS = 0.3
    settings.CLOSE_MAX_WAIT_IN_JOB = 0.0


@pytest.fixture
def as_publisher(client, publisher):
    client.force_login(publisher)
    return client


def url(sequence, name="sequence_publish"):
    return reverse(name, args=[sequence.pk])


def text(response):
    return html.unescape(response.content.decode())


# --- the confirmation -------------------------------------------------------------------------
def test_confirmation_shows_checks_summary_json_and_curl(
    as_publisher, approved_sequence, sandbox, synced
):
    response = as_publisher.get(url(approved_sequence))

    assert response.status_code == 200
    page = text(response)
    assert "What will be created in Close" in page
    assert "Close accepts the API key (Acme Demo Co)." in page
    assert "Step 2: “Intro — quick question” exists in Close, is shared and active." in page
    assert "Step 3: " in page and "exists in Close, is shared and active." in page
    assert "Call (required)" in page and "Right after enrollment" in page
    assert "Email “Intro — quick question”, starts a new thread" in page
    assert "3 days after the previous step" in page
    assert "Mon–Fri 09:00–16:59" in page
    json_block = page.split('id="request-json"', 1)[1].split(">", 1)[1].split("</pre>")[0]
    assert json.loads(json_block)["status"] == "paused"
    assert '-u "$CLOSE_API_KEY:"' in page
    assert SANDBOX_KEY not in page
    assert 'name="status" value="paused" checked' in page.replace("\n", " ").replace("  ", " ")
    button = page.split(">Publish to Close</button>")[0].rsplit("<button", 1)[1]
    assert "disabled" not in button
    fetched = {r.path for r in sandbox.requests if r.method == "GET"}
    assert f"/api/v1/email_template/{EXAMPLE_EMAIL_1}/" in fetched, "fetched from Close, not cache"
    assert f"/api/v1/email_template/{EXAMPLE_EMAIL_2}/" in fetched
    assert "/api/v1/me/" in fetched


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"is_archived": True}, "is archived in Close. Pick another template."),
        ({"is_shared": False}, "is not shared in Close"),
    ],
)
def test_a_template_changed_in_close_since_the_sync_blocks_publishing(
    as_publisher, approved_sequence, sandbox, synced, change, message
):
    sandbox.update_template(EXAMPLE_EMAIL_2, **change)

    page = text(as_publisher.get(url(approved_sequence)))

    assert "Step 3: “" in page and message in page
    button = page.split(">Publish to Close</button>")[0].rsplit("<button", 1)[1]
    assert "disabled" in button


def test_a_rejected_key_blocks_publishing_without_showing_the_key(
    as_publisher, approved_sequence, sandbox, synced, settings
):
    rejected = "rejected-key-8080"  # a made-up key the sandbox does not accept
    settings.CLOSE_API_KEY = rejected

    page = text(as_publisher.get(url(approved_sequence)))

    assert "Close rejected the API key. Check CLOSE_API_KEY." in page
    assert rejected not in page
    assert "disabled" in page.split(">Publish to Close</button>")[0].rsplit("<button", 1)[1]


def test_choosing_active_updates_the_request_fragment(
    as_publisher, approved_sequence, sandbox, synced
):
    response = as_publisher.get(
        url(approved_sequence) + "?status=active",
        headers={"HX-Request": "true", "HX-Target": "request"},
    )

    page = text(response)
    assert page.lstrip().startswith('<details id="request"')
    assert '"status": "active"' in page
    assert "<html" not in page


def test_a_draft_shows_why_it_cannot_be_published_and_asks_close_nothing(
    as_publisher, example_sequence, sandbox, synced
):
    before = len(sandbox.requests)

    page = text(as_publisher.get(url(example_sequence)))

    assert "Only an approved sequence can be published" in page
    assert "disabled" in page.split(">Publish to Close</button>")[0].rsplit("<button", 1)[1]
    assert len(sandbox.requests) == before


def test_members_without_the_publisher_role_may_look_but_not_publish(
    client, viewer, approved_sequence, sandbox, synced
):
    client.force_login(viewer)

    assert "Only Publishers can publish to Close." in text(client.get(url(approved_sequence)))
    response = client.post(url(approved_sequence), {"status": "paused", "version": "2"})
    assert response.status_code == 403
    assert "Only Publishers can publish to Close." in text(response)
    assert not PublishAttempt.objects.exists()


def test_publishing_needs_csrf(publisher, approved_sequence):
    client = Client(enforce_csrf_checks=True)
    client.force_login(publisher)

    response = client.post(url(approved_sequence), {"status": "paused", "version": "2"})

    assert response.status_code == 403
    assert not PublishAttempt.objects.exists()


# --- starting a publish ----------------------------------------------------------------------
def test_publish_runs_and_the_page_shows_the_result(
    as_publisher, approved_sequence, publisher, sandbox, synced
):
    response = as_publisher.post(
        url(approved_sequence), {"status": "active", "version": approved_sequence.version}
    )

    assert response.status_code == 302 and response["Location"] == url(approved_sequence)
    sequence = Sequence.objects.get(pk=approved_sequence.pk)
    assert sequence.status == Sequence.Status.PUBLISHED
    assert sandbox.sequences[0]["status"] == "active"
    page = text(as_publisher.get(url(sequence)))
    assert f"Published to Close as {sequence.close_id}." in page
    assert f"Version {sequence.version} is in Close as" in page
    assert sequence.close_url in page
    history = page.split("Publish history", 1)[1]
    assert "Create in Close, version" in history and "by paul" in history
    assert "Close answered HTTP 200" in history and " ms" in history
    assert '"email_template_id": "' + EXAMPLE_EMAIL_1 in history
    assert SANDBOX_KEY not in page
    stored = json.dumps(list(PublishAttempt.objects.values()), default=str)
    assert SANDBOX_KEY not in stored


def test_a_confirmation_of_an_older_version_is_refused(
    as_publisher, approved_sequence, sandbox, synced
):
    response = as_publisher.post(
        url(approved_sequence), {"status": "paused", "version": approved_sequence.version - 1}
    )

    assert response.status_code == 409
    assert "The sequence changed since you opened this page" in text(response)
    assert sandbox.created_payloads == []


@pytest.mark.parametrize(
    "data", [{"status": "draft", "version": "2"}, {"status": "active"}, {"version": "x"}]
)
def test_bad_publish_input_is_400(as_publisher, approved_sequence, sandbox, synced, data):
    response = as_publisher.post(url(approved_sequence), data)

    assert response.status_code == 400
    assert "Choose whether the sequence starts active or paused" in text(response)
    assert not PublishAttempt.objects.exists()


def test_publishing_a_draft_is_409_with_the_reason(as_publisher, example_sequence, sandbox):
    response = as_publisher.post(url(example_sequence), {"status": "paused", "version": "1"})

    assert response.status_code == 409
    assert "Only an approved sequence can be published" in text(response)


def test_blocking_problems_are_listed_and_refuse_the_publish(
    as_publisher, approved_sequence, sandbox
):
    # Nothing synced: the cache does not know the templates.
    page = text(as_publisher.get(url(approved_sequence)))
    assert "2 problems must be fixed before publishing" in page
    assert "Step 2's email template is not among the synced templates" in page

    response = as_publisher.post(
        url(approved_sequence), {"status": "paused", "version": approved_sequence.version}
    )

    assert response.status_code == 409
    assert "2 problems must be fixed before publishing" in text(response)
    assert sandbox.requests == []


# --- progress --------------------------------------------------------------------------------
def test_progress_fragment_polls_while_running_and_reloads_when_done(
    as_publisher, approved_sequence, publisher, sandbox, synced
):
    attempt, _ = publishing.start_publish(sequence=approved_sequence, user=publisher)
    PublishAttempt.objects.filter(pk=attempt.pk).update(
        progress="Close asked us to wait 12 s before sending again."
    )
    progress_url = url(approved_sequence, "sequence_publish_progress")

    running = as_publisher.get(progress_url, headers={"HX-Request": "true"})

    assert 'hx-trigger="every 1s"' in text(running)
    assert "Close asked us to wait 12 s before sending again." in text(running)
    assert "HX-Refresh" not in running
    page = text(as_publisher.get(url(approved_sequence)))
    assert "Publishing to Close…" in page and 'http-equiv="refresh"' in page
    assert ">Publish to Close</button>" not in page, "no second publish while one runs"

    publishing.run_attempt(attempt=attempt)
    done = as_publisher.get(progress_url, headers={"HX-Request": "true"})

    assert done["HX-Refresh"] == "true"
    assert "every 1s" not in text(done)


def test_a_publish_that_died_is_checked_with_close_on_page_load(
    as_publisher, approved_sequence, publisher, sandbox, synced
):
    attempt, _ = publishing.start_publish(sequence=approved_sequence, user=publisher)
    long_ago = timezone.now() - publishing.stale_after() - dt.timedelta(minutes=1)
    Sequence.objects.filter(pk=approved_sequence.pk).update(publishing_since=long_ago)

    page = text(as_publisher.get(url(approved_sequence)))

    attempt.refresh_from_db()
    assert attempt.outcome == PublishAttempt.Outcome.FAILED
    assert "We checked: Close does not have it" in page
    assert sandbox.sequences == []
    assert Sequence.objects.get(pk=approved_sequence.pk).publishing_since is None


# --- republish -------------------------------------------------------------------------------
def test_update_confirmation_warns_about_active_runs_and_shows_each_steps_fate(
    as_publisher, approved_sequence, publisher, user, reviewer, sandbox, synced
):
    publishing.publish_sequence(sequence=approved_sequence, user=publisher)
    sequence = Sequence.objects.get(pk=approved_sequence.pk)
    sandbox.set_subscription_counts(sequence.close_id, active=3, paused=1)
    call, first, second = sequence.ordered_steps()
    removed_id = call.close_id
    with sequence.editing(user=user, loaded_version=sequence.version, summary="Edit"):
        call.delete()
        Step.objects.filter(pk=first.pk).update(position=0, delay=2 * 86400)
        Step.objects.filter(pk=second.pk).update(position=1)
        Step.objects.create(sequence=sequence, position=2, step_type="call", delay=3600)
    approve(Sequence.objects.get(pk=sequence.pk), reviewer)

    page = text(as_publisher.get(url(sequence)))

    assert "What changes in Close" in page and "In Close it is active now." in page
    assert "3 contacts are in this sequence right now." in page
    assert f"Call step {removed_id}" in page.split("Removed from Close:", 1)[1]
    steps = page.split('aria-label="Steps to publish"', 1)[1]
    assert steps.index("changed") < steps.index("unchanged") < steps.index(">new<")
    assert "Keep as it is in Close (active)" in page
    assert ">Update in Close</button>" in page
    payload = json.loads(page.split('id="request-json"', 1)[1].split(">", 1)[1].split("</pre>")[0])
    assert "status" not in payload, "keeping Close's status sends none"
    assert "curl -X PUT" in page and f"/sequence/{sequence.close_id}/" in page


# --- export, tab, query count ----------------------------------------------------------------
def test_export_downloads_the_create_payload(as_publisher, approved_sequence):
    response = as_publisher.get(url(approved_sequence, "sequence_export"))

    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="my-sequence.json"'
    data = json.loads(response.content)
    assert data["name"] == "My Sequence" and "status" not in data
    assert [step["step_type"] for step in data["steps"]] == ["call", "email", "email"]
    assert all("id" not in step for step in data["steps"])


def test_the_sequence_header_has_a_publish_tab(as_publisher, approved_sequence, sandbox, synced):
    page = text(as_publisher.get(url(approved_sequence)))

    assert f'<a href="{url(approved_sequence)}" aria-current="page">Publish</a>' in page


def test_confirmation_query_count_does_not_grow_with_steps_or_history(
    as_publisher, approved_sequence, publisher, reviewer, sandbox, synced
):
    def queries():
        with CaptureQueriesContext(connection) as captured:
            assert as_publisher.get(url(approved_sequence)).status_code == 200
        return len(captured.captured_queries)

    PublishAttempt.objects.create(
        sequence=approved_sequence, user=publisher, request_payload={}, outcome="failed"
    )
    small = queries()
    Step.objects.bulk_create(
        Step(
            sequence=approved_sequence,
            position=3 + index,
            step_type="email",
            delay=86400,
            email_template_id=EXAMPLE_EMAIL_2,
            threading="old_thread",
        )
        for index in range(40)
    )
    approve(Sequence.objects.get(pk=approved_sequence.pk), reviewer)
    PublishAttempt.objects.bulk_create(
        PublishAttempt(
            sequence=approved_sequence, user=publisher, request_payload={}, outcome="failed"
        )
        for _ in range(30)
    )

    assert queries() == small


@pytest.mark.parametrize("data", [{"status": ""}, {}])
def test_a_create_without_a_status_choice_is_created_paused(
    as_publisher, approved_sequence, sandbox, synced, data
):
    # Close's own default on create is active: a direct POST that leaves the choice out (or
    # empty) must not enroll contacts by surprise (close-api.md §12: create paused).
    response = as_publisher.post(
        url(approved_sequence), {**data, "version": approved_sequence.version}
    )

    assert response.status_code == 302
    assert [payload["status"] for payload in sandbox.created_payloads] == ["paused"]
    assert sandbox.sequences[0]["status"] == "paused"
    assert PublishAttempt.objects.get().requested_status == "paused"


def test_a_publish_that_ends_while_the_page_renders_shows_the_new_state(
    as_publisher, approved_sequence, publisher, sandbox, synced, monkeypatch
):
    """The page reads the sequence, then its attempts: a job that finishes in between must not
    leave a page that says "Published" in one place, "Approved" in another, and stops polling."""
    attempt, step_pks = publishing.start_publish(
        sequence=approved_sequence, user=publisher, requested_status="paused"
    )

    def job_finishes_now(*, sequence):
        publishing.run_attempt(attempt=attempt, step_pks=step_pks)
        return False

    monkeypatch.setattr(publishing, "resolve_stale", job_finishes_now)
    page = text(as_publisher.get(url(approved_sequence)))

    assert "Published to Close" in page
    assert f"Version {approved_sequence.version} is in Close as" in page
