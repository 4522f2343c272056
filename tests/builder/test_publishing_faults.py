"""Every fault Close can throw at a publish, through the publish page: the final state, the
message the page shows, and how many sequences Close ends up with (0 or 1, never 2).

Jobs run inline (the test's transaction is not visible to other threads), so the POST returns
once the job is done; the page is then read like a person reloading it.
"""

import html
import socket

import pytest
from django.test import Client
from django.urls import reverse

from builder import close, publishing, spec
from builder.models import PublishAttempt, Sequence, Step
from tests.conftest import SANDBOX_KEY, approve

pytestmark = pytest.mark.django_db
Outcome = PublishAttempt.Outcome


@pytest.fixture(autouse=True)
def quick(settings, jobs_inline):
    settings.PUBLISH_SETTLE_SECONDS = 0.3  # look again after no answer for 0.3 s, not 30 s
    settings.CLOSE_MAX_WAIT_IN_JOB = 0.0  # no back-off sleeps unless a test asks for them


@pytest.fixture
def as_publisher(client, publisher):
    client.force_login(publisher)
    return client


def publish(client, sequence, status="paused"):
    """Press "Publish to Close" on the confirmation; returns the page shown afterwards."""
    url = reverse("sequence_publish", args=[sequence.pk])
    response = client.post(url, {"status": status, "version": sequence.version})
    assert response.status_code == 302, response.content.decode()[:500]
    page = client.get(url)
    assert page.status_code == 200
    return html.unescape(page.content.decode())


def content_of(sequence):
    """The draft as the editor stores it, Close's ids aside."""
    snapshot = spec.to_snapshot(Sequence.objects.get(pk=sequence.pk).to_spec())
    for step in snapshot["steps"]:
        step.pop("close_id")
    return snapshot


def assert_failed_and_intact(sequence, before, sandbox):
    fresh = Sequence.objects.get(pk=sequence.pk)
    assert content_of(sequence) == before
    assert fresh.version == sequence.version
    assert fresh.status == Sequence.Status.APPROVED, "still approved, so it can be retried"
    assert fresh.close_id == ""
    assert fresh.publishing_since is None
    assert sandbox.sequences == []


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_rate_limit_within_budget_waits_shows_it_and_publishes(
    as_publisher, approved_sequence, sandbox, synced, monkeypatch
):
    sandbox.inject("rate_limit", method="POST", path="/sequence/", reset=12)
    progress_url = reverse("sequence_publish_progress", args=[approved_sequence.pk])
    shown_while_waiting = []

    def sleep(seconds):
        # What a person polling the page sees during Close's wait.
        fragment = as_publisher.get(progress_url, headers={"HX-Request": "true"})
        shown_while_waiting.append(html.unescape(fragment.content.decode()))

    monkeypatch.setattr(
        publishing,
        "job_client",
        lambda: close.CloseClient(
            api_key=SANDBOX_KEY, base_url=sandbox.url, sleep=sleep, max_wait=60
        ),
    )

    page = publish(as_publisher, approved_sequence)

    [fragment] = shown_while_waiting
    assert "Close asked us to wait 12 s before sending again." in fragment
    assert 'hx-trigger="every 1s"' in fragment
    assert "Published to Close as" in page and "Close asked us to wait 12 s first" in page
    assert len(sandbox.sequences) == 1
    assert Sequence.objects.get(pk=approved_sequence.pk).status == Sequence.Status.PUBLISHED


def test_rate_limit_beyond_budget_fails_with_closes_wait(
    as_publisher, approved_sequence, sandbox, synced, settings
):
    settings.CLOSE_MAX_WAIT_IN_JOB = 60.0
    sandbox.inject("rate_limit", method="POST", path="/sequence/", reset=120)
    before = content_of(approved_sequence)

    page = publish(as_publisher, approved_sequence)

    assert "Not published" in page
    assert "Close asked us to wait 120 s before trying again. Nothing was created." in page
    assert PublishAttempt.objects.get().outcome == Outcome.FAILED
    assert_failed_and_intact(approved_sequence, before, sandbox)


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors_are_checked_and_reported(
    as_publisher, approved_sequence, sandbox, synced, status
):
    sandbox.inject("error", status=status, method="POST", path="/sequence/")
    before = content_of(approved_sequence)

    page = publish(as_publisher, approved_sequence)

    assert (
        f"Close had a problem (HTTP {status}). We checked: Close did not create the sequence, "
        "and your draft is unchanged. You can publish again."
    ) in page
    attempt = PublishAttempt.objects.get()
    assert attempt.outcome == Outcome.FAILED and attempt.response_status == status
    assert_failed_and_intact(approved_sequence, before, sandbox)

    publish(as_publisher, approved_sequence)  # the retry looks first, then creates once
    assert len(sandbox.sequences) == 1


def test_timeout_while_close_is_still_creating_finds_it_instead_of_failing(
    as_publisher, approved_sequence, sandbox, synced, settings
):
    # Close takes 3 s: we give up after 1.5 s, and Close creates it 1.5 s later. The look-ups
    # meanwhile are ordinary requests: 1.5 s is ample for them even on a loaded machine, and
    # the settle time only bounds how long we keep looking (it ends when found).
    settings.CLOSE_TIMEOUT = 1.5
    settings.PUBLISH_SETTLE_SECONDS = 60.0
    sandbox.inject("slow", method="POST", path="/sequence/", delay=3.0)

    page = publish(as_publisher, approved_sequence)

    assert "Found in Close" in page
    assert "Close's answer was lost, but the sequence is in Close as" in page
    assert len(sandbox.sequences) == 1
    fresh = Sequence.objects.get(pk=approved_sequence.pk)
    assert fresh.close_id == sandbox.sequences[0]["id"]
    assert fresh.status == Sequence.Status.PUBLISHED
    assert PublishAttempt.objects.get().outcome == Outcome.FOUND_EXISTING


def test_connection_dropped_before_close_acted_is_checked_and_reported(
    as_publisher, approved_sequence, sandbox, synced
):
    sandbox.inject("drop", method="POST", path="/sequence/")
    before = content_of(approved_sequence)

    page = publish(as_publisher, approved_sequence)

    assert (
        "The connection to Close broke before it answered. We checked: Close did not create "
        "the sequence"
    ) in page
    assert PublishAttempt.objects.get().outcome == Outcome.FAILED
    assert_failed_and_intact(approved_sequence, before, sandbox)


def test_connection_dropped_after_close_acted_links_the_sequence(
    as_publisher, approved_sequence, sandbox, synced
):
    sandbox.inject("commit_then_drop", method="POST", path="/sequence/")

    page = publish(as_publisher, approved_sequence)

    assert "Close's answer was lost, but the sequence is in Close as" in page
    assert len(sandbox.sequences) == 1
    assert Sequence.objects.get(pk=approved_sequence.pk).close_id == sandbox.sequences[0]["id"]


def test_connection_refused_sends_nothing(
    as_publisher, approved_sequence, sandbox, synced, settings
):
    settings.CLOSE_API_URL = f"http://127.0.0.1:{free_port()}/api/v1/"
    settings.CLOSE_MAX_WAIT_IN_REQUEST = 0.0  # the page's live checks fail fast too
    before = content_of(approved_sequence)

    page = publish(as_publisher, approved_sequence)

    assert "Could not connect to Close; nothing was sent." in page
    assert PublishAttempt.objects.get().outcome == Outcome.FAILED
    assert_failed_and_intact(approved_sequence, before, sandbox)


def test_malformed_answer_is_checked_and_reported(as_publisher, approved_sequence, sandbox, synced):
    sandbox.inject("malformed", method="POST", path="/sequence/")
    before = content_of(approved_sequence)

    page = publish(as_publisher, approved_sequence)

    assert (
        "Close answered with something we could not read. We checked: Close did not create the "
        "sequence"
    ) in page
    assert PublishAttempt.objects.get().outcome == Outcome.FAILED
    assert_failed_and_intact(approved_sequence, before, sandbox)


def test_a_lookup_that_cannot_reach_close_says_so_and_keeps_checking_first(
    as_publisher, approved_sequence, sandbox, synced
):
    sandbox.inject("commit_then_drop", method="POST", path="/sequence/")
    sandbox.inject("malformed", method="GET", path="/sequence/", times=5)

    page = publish(as_publisher, approved_sequence)

    assert "Not sure yet: checking with Close" in page
    assert "we could not check whether Close created the sequence" in page
    assert PublishAttempt.objects.get().outcome == Outcome.UNKNOWN
    assert len(sandbox.sequences) == 1

    sandbox.clear_faults()
    page = publish(as_publisher, approved_sequence)

    assert "Close's answer was lost, but the sequence is in Close as" in page
    assert len(sandbox.sequences) == 1


def test_revoked_key_is_reported_and_never_shown(
    as_publisher, approved_sequence, sandbox, synced, settings
):
    settings.CLOSE_API_KEY = "revoked-key-5150"
    before = content_of(approved_sequence)

    page = publish(as_publisher, approved_sequence)

    assert "Close rejected the API key. Check CLOSE_API_KEY." in page
    assert "revoked-key-5150" not in page
    attempt = PublishAttempt.objects.get()
    assert attempt.outcome == Outcome.FAILED and attempt.response_status == 401
    assert_failed_and_intact(approved_sequence, before, sandbox)


def test_key_revoked_between_confirmation_and_publish(
    as_publisher, approved_sequence, sandbox, synced
):
    sandbox.inject("unauthorized", method="POST", path="/sequence/")
    before = content_of(approved_sequence)

    page = publish(as_publisher, approved_sequence)

    assert "Close rejected the API key. Check CLOSE_API_KEY." in page
    assert SANDBOX_KEY not in page
    assert_failed_and_intact(approved_sequence, before, sandbox)


def test_field_errors_are_shown_on_the_step_they_name(
    as_publisher, approved_sequence, publisher, user, reviewer, sandbox, synced
):
    """Someone deleted step 2 in Close's UI; our update still names it, and Close says so."""
    publishing.publish_sequence(sequence=approved_sequence, user=publisher)
    sequence = Sequence.objects.get(pk=approved_sequence.pk)
    api = close.client_from_settings()
    stored = api.fetch_sequence(sequence.close_id)
    api.update_sequence(
        sequence.close_id,
        {"steps": [{"id": s["id"]} for s in stored["steps"] if s is not stored["steps"][1]]},
    )
    with sequence.editing(user=user, loaded_version=sequence.version, summary="Longer wait"):
        Step.objects.filter(sequence=sequence, position=2).update(delay=4 * 86400)
    approve(Sequence.objects.get(pk=sequence.pk), reviewer)
    sequence = Sequence.objects.get(pk=sequence.pk)
    before = content_of(sequence)

    page = publish(as_publisher, sequence, status="")

    assert "Close refused it" in page
    second = page.split('aria-label="Step 2"', 1)[1].split("</li>", 1)[0]
    assert (
        "Close says: Close step id: Step" in second and "does not belong to this sequence" in second
    )
    assert "Close says" not in page.split('aria-label="Step 3"', 1)[1].split("</li>", 1)[0]
    attempt = PublishAttempt.objects.order_by("-pk").first()
    assert attempt.outcome == Outcome.REFUSED and attempt.response_status == 400
    fresh = Sequence.objects.get(pk=sequence.pk)
    assert content_of(sequence) == before and fresh.status == Sequence.Status.APPROVED
    assert len(sandbox.sequences) == 1


# --- a look-alike sequence someone else made in Close ------------------------------------------
def look_alike(sandbox, sequence, **who_and_when):
    """A sequence made in Close, not by us, with the draft's name, timezone and step shapes."""
    payload = publishing.build_payload(sequence.to_spec(), action="create")
    return sandbox.add_ui_sequence({**payload, **who_and_when})


def decide(client, sequence, decision, **overrides):
    latest = sequence.publish_attempts.order_by("-pk").first()
    data = {"decision": decision, "attempt": latest.pk}
    data["candidate"] = publishing.notes_of(latest).get("candidate_id", "")
    url = reverse("sequence_publish", args=[sequence.pk])
    return client.post(url, {**data, **overrides})


@pytest.mark.parametrize("fault", ["rate_limit", "no_connection"])
def test_a_retry_after_a_clear_failure_creates_and_never_adopts_a_look_alike(
    as_publisher, approved_sequence, sandbox, synced, settings, fault
):
    foreign = look_alike(sandbox, approved_sequence)
    if fault == "rate_limit":  # 429 beyond the wait we allow: Close did not process it
        sandbox.inject("rate_limit", method="POST", path="/sequence/", reset=30)
        first = publish(as_publisher, approved_sequence)
    else:  # connection refused: the request never left us
        url = settings.CLOSE_API_URL
        settings.CLOSE_API_URL = f"http://127.0.0.1:{free_port()}/api/v1/"
        first = publish(as_publisher, approved_sequence)
        settings.CLOSE_API_URL = url
    assert "Not published" in first
    sandbox.clear_faults()
    calls_before = len(sandbox.requests)

    retried = publish(as_publisher, approved_sequence)

    assert "Published to Close" in retried
    sequence = Sequence.objects.get(pk=approved_sequence.pk)
    assert sequence.close_id and sequence.close_id != foreign["id"]
    assert len(sandbox.sequences) == 2
    assert next(s for s in sandbox.sequences if s["id"] == foreign["id"]) == foreign, "untouched"
    retry_calls = [(r.method, r.path) for r in sandbox.requests[calls_before:]]
    assert ("GET", "/api/v1/sequence/") not in retry_calls, "nothing to look for after that"


@pytest.mark.parametrize(
    "who_and_when",
    [
        {"created_by_id": "user_SomeoneElseInTheSameOrganization00000000000"},
        {"date_created": "2024-01-05T10:00:00.000000"},
    ],
)
def test_after_an_unclear_answer_a_look_alike_someone_else_made_is_not_adopted(
    as_publisher, approved_sequence, sandbox, synced, who_and_when
):
    foreign = look_alike(sandbox, approved_sequence, **who_and_when)
    sandbox.inject("error", status=500, method="POST", path="/sequence/")

    first = publish(as_publisher, approved_sequence)

    assert "We checked: Close did not create the sequence" in first
    assert Sequence.objects.get(pk=approved_sequence.pk).close_id == ""
    retried = publish(as_publisher, approved_sequence)
    assert "Published to Close" in retried
    sequence = Sequence.objects.get(pk=approved_sequence.pk)
    assert sequence.close_id not in ("", foreign["id"])
    assert len(sandbox.sequences) == 2


def unsure_look_alike(as_publisher, approved_sequence, sandbox):
    """Made by our key's user moments before we published, then Close's answer was a 500:
    Close's records cannot say whether it is ours."""
    foreign = look_alike(sandbox, approved_sequence)
    sandbox.inject("error", status=500, method="POST", path="/sequence/")
    page = publish(as_publisher, approved_sequence)
    return foreign, page


def test_a_look_alike_close_cannot_vouch_for_is_shown_for_a_person_to_decide(
    as_publisher, approved_sequence, sandbox, synced
):
    foreign, page = unsure_look_alike(as_publisher, approved_sequence, sandbox)

    assert "Is this sequence in Close ours?" in page
    assert foreign["id"] in page and "This is ours — link it" in page
    assert "Not ours — create a new one" in page
    sequence = Sequence.objects.get(pk=approved_sequence.pk)
    assert sequence.close_id == "" and sequence.publishing_since is not None, "guard kept"
    assert len(sandbox.sequences) == 1
    again = publish(as_publisher, approved_sequence)  # publishing again asks again
    assert "Is this sequence in Close ours?" in again and len(sandbox.sequences) == 1


def test_this_is_ours_links_the_look_alike(as_publisher, approved_sequence, sandbox, synced):
    foreign, _ = unsure_look_alike(as_publisher, approved_sequence, sandbox)

    response = decide(as_publisher, approved_sequence, "ours")

    assert response.status_code == 302
    sequence = Sequence.objects.get(pk=approved_sequence.pk)
    assert sequence.close_id == foreign["id"]
    assert sequence.status == Sequence.Status.PUBLISHED and sequence.publishing_since is None
    assert [step.close_id for step in sequence.ordered_steps()] == [
        step["id"] for step in foreign["steps"]
    ]
    assert len(sandbox.sequences) == 1
    page = html.unescape(as_publisher.get(reverse("sequence_publish", args=[sequence.pk])).text)
    assert f"paul confirmed that {foreign['id']} in Close is this sequence" in page


def test_not_ours_creates_a_new_one_and_never_considers_it_again(
    as_publisher, approved_sequence, sandbox, synced
):
    foreign, _ = unsure_look_alike(as_publisher, approved_sequence, sandbox)

    response = decide(as_publisher, approved_sequence, "not_ours")

    assert response.status_code == 302
    sequence = Sequence.objects.get(pk=approved_sequence.pk)
    assert sequence.close_id not in ("", foreign["id"])
    assert sequence.status == Sequence.Status.PUBLISHED
    assert len(sandbox.sequences) == 2
    assert next(s for s in sandbox.sequences if s["id"] == foreign["id"]) == foreign


def test_the_decision_is_for_publishers_with_csrf_and_a_current_choice(
    client, approved_sequence, sandbox, synced, publisher, viewer
):
    client.force_login(publisher)
    foreign, _ = unsure_look_alike(client, approved_sequence, sandbox)

    client.force_login(viewer)
    assert decide(client, approved_sequence, "ours").status_code == 403
    client.force_login(publisher)
    stale = decide(client, approved_sequence, "ours", candidate="seq_SomethingElse0000000000")
    assert stale.status_code == 409 and "no longer open" in html.unescape(stale.text)
    bad = decide(client, approved_sequence, "maybe")
    assert bad.status_code == 422
    careful = Client(enforce_csrf_checks=True)
    careful.force_login(publisher)
    assert decide(careful, approved_sequence, "ours").status_code == 403
    sequence = Sequence.objects.get(pk=approved_sequence.pk)
    assert sequence.close_id == "" and len(sandbox.sequences) == 1
