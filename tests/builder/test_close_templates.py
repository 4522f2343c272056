"""CloseClient's template writes, template look-ups and active-contact count, over real HTTP
against the local Close sandbox (tests/conftest.py `sandbox`). Faults are injected there; `sleep`
is a recorder, so waits are asserted without sleeping."""

import time

import pytest

from builder import close
from builder.close import (
    CloseAuthError,
    CloseClient,
    CloseNotFound,
    CloseRateLimited,
    CloseUnavailable,
    CloseValidationError,
)
from closesandbox import Sandbox, seed
from tests.conftest import SANDBOX_KEY
from tests.fakeclock import FakeClock

INTRO = "tmpl_00jcushDRuoBBS5sSTUAbNt4dPpBUhlJqQafVfzzRJn"
ARCHIVED = "tmpl_p47qYaqu6oVeQgTdRUVUun6M4SpOM4z68oZJ4TZjLpX"
SMS_OK = "smstmpl_71JQ1KxplWkUvKD7TBdDT643l8hSBT7sYxnj16xOXZT"
SMS_ARCHIVED = "smstmpl_FGFzlqYJCEJ1eLy2wuVEUrtsqaaPWIFrnDyebfBVGAR"
EMAIL = {"name": "Q3 outbound — step 1", "subject": "Hi", "body": "<div>Hello</div>"}
SMS = {"name": "Q3 outbound — step 2", "text": "Hi {{ contact.first_name }}"}


@pytest.fixture(autouse=True)
def no_jitter(monkeypatch):
    monkeypatch.setattr(close, "_jitter", lambda: 0.0)


@pytest.fixture
def sleeps():
    return []


@pytest.fixture
def make_client(sandbox, sleeps):
    clients = []

    def make(**options):
        options = {
            "api_key": SANDBOX_KEY,
            "base_url": sandbox.url,
            "timeout": (2.0, 5.0),
            "sleep": sleeps.append,
        } | options
        clients.append(CloseClient(**options))
        return clients[-1]

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def api(make_client):
    return make_client()


def sent(sandbox, method, path):
    return [r for r in sandbox.requests if r.method == method and r.path == "/api/v1" + path]


def make_sequence(api, email_id, name="Q3 outbound"):
    return api.create_sequence(
        {
            "name": name,
            "timezone": "America/New_York",
            "steps": [{"step_type": "email", "delay": 0, "email_template_id": email_id}],
        }
    )


# Each write: (call, Close path of the POST/PUT, what a success gives, unclear-outcome words).
def create_email(api):
    return api.create_email_template(EMAIL)


def update_email(api):
    return api.update_email_template(INTRO, {"subject": "Changed"})


def create_sms(api):
    return api.create_sms_template(SMS)


def update_sms(api):
    return api.update_sms_template(SMS_OK, {"text": "Changed"})


WRITES = [
    (
        create_email,
        "POST",
        "/email_template/",
        "the email template may or may not have been created",
    ),
    (
        update_email,
        "PUT",
        f"/email_template/{INTRO}/",
        "the changes to the email template may or may not have been saved",
    ),
    (create_sms, "POST", "/sms_template/", "the SMS template may or may not have been created"),
    (
        update_sms,
        "PUT",
        f"/sms_template/{SMS_OK}/",
        "the changes to the SMS template may or may not have been saved",
    ),
]
WRITE_IDS = ["create-email", "update-email", "create-sms", "update-sms"]


def templates(sandbox):
    return sandbox.email_templates, sandbox.sms_templates


# --- success -------------------------------------------------------------------------------------


def test_create_and_update_email_template(api, sandbox):
    made = api.create_email_template({**EMAIL, "is_shared": True})
    assert made["id"].startswith("tmpl_") and made["is_shared"] is True
    assert made["used_by_sequences"] == []
    assert sent(sandbox, "POST", "/email_template/")[0].body == {**EMAIL, "is_shared": True}
    updated = api.update_email_template(made["id"], {"body": "<div>Changed</div>"})
    assert updated["body"] == "<div>Changed</div>" and updated["subject"] == EMAIL["subject"]
    (request,) = sent(sandbox, "PUT", f"/email_template/{made['id']}/")
    assert request.body == {"body": "<div>Changed</div>"}  # only what changed is sent
    assert api.fetch_email_template(made["id"]) == updated


def test_create_and_update_sms_template(api, sandbox):
    made = api.create_sms_template({**SMS, "is_shared": True})  # a 201 reads like a 200
    assert made["id"].startswith("smstmpl_") and made["status"] == "active"
    archived = api.update_sms_template(made["id"], {"status": "archived"})
    assert archived["status"] == "archived" and archived["text"] == SMS["text"]
    assert api.fetch_sms_template(made["id"]) == archived


def test_fetch_sends_include_embedded_only_when_asked(api, sandbox):
    api.fetch_email_template(INTRO)
    api.fetch_email_template(INTRO, include_embedded=True)
    api.fetch_sms_template(SMS_OK, include_embedded=True)
    queries = [r.query for r in sandbox.requests]
    assert queries == [{}, {"include_embedded": "true"}, {"include_embedded": "true"}]


def test_used_by_sequences_comes_back_on_fetch_and_update(api):
    made = api.create_email_template({**EMAIL, "is_shared": True})
    sequence = make_sequence(api, made["id"])
    used_by = [{"id": sequence["id"], "name": "Q3 outbound"}]
    assert api.fetch_email_template(made["id"])["used_by_sequences"] == used_by
    assert api.update_email_template(made["id"], {"subject": "x"})["used_by_sequences"] == used_by


def test_unknown_template_is_not_found(api):
    with pytest.raises(CloseNotFound) as caught:
        api.update_email_template("tmpl_gone", {"subject": "x"})
    assert caught.value.message.startswith("Close could not find that email template.")
    with pytest.raises(CloseNotFound):
        api.update_sms_template("smstmpl_gone", {"text": "x"})


@pytest.mark.parametrize("bad_id", ["tmpl_a/b", "", None, ".."])
def test_ids_that_would_change_the_path_are_refused_without_a_request(api, sandbox, bad_id):
    with pytest.raises(ValueError):
        api.update_email_template(bad_id, {"subject": "x"})
    with pytest.raises(ValueError):
        api.update_sms_template(bad_id, {"text": "x"})
    assert sandbox.requests == []


# --- 400: field errors ---------------------------------------------------------------------------


def test_missing_email_fields_are_field_errors(api, sandbox):
    with pytest.raises(CloseValidationError) as caught:
        api.create_email_template({"name": "Only a name"})
    error = caught.value
    assert error.status_code == 400
    assert error.field_errors == {
        "subject": "This field is required.",
        "body": "This field is required.",
    }
    assert error.message.startswith("Close refused the email template: subject: ")
    assert len(sent(sandbox, "POST", "/email_template/")) == 1  # a 400 is final


def test_sms_closed_schema_is_a_field_error(api, sandbox):
    with pytest.raises(CloseValidationError) as caught:
        api.create_sms_template({**SMS, "subject": "SMS has none"})
    assert caught.value.field_errors == {"subject": "Unknown field."}
    assert "Close refused the SMS template" in caught.value.message
    with pytest.raises(CloseValidationError) as caught:
        api.update_sms_template(SMS_OK, {"status": "gone"})
    assert set(caught.value.field_errors) == {"status"}
    with pytest.raises(CloseValidationError):
        api.update_email_template(INTRO, {"is_shared": "yes"})
    assert sandbox.sms_templates == seed.sms_templates()  # nothing changed


# --- 429 -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("write", "method", "path", "outcome"), WRITES, ids=WRITE_IDS)
def test_429_is_waited_out_and_the_write_lands_once(
    api, sandbox, sleeps, write, method, path, outcome
):
    sandbox.inject("rate_limit", method=method, path=path, reset=3)
    before = templates(sandbox)
    write(api)
    assert sleeps == [3.0]
    assert len(sent(sandbox, method, path)) == 2
    emails, sms = templates(sandbox)
    if method == "POST":  # one template more, not two
        assert len(emails) + len(sms) == len(before[0]) + len(before[1]) + 1


@pytest.mark.parametrize(("write", "method", "path", "outcome"), WRITES, ids=WRITE_IDS)
def test_429_beyond_the_budget_raises_without_writing(
    make_client, sandbox, sleeps, write, method, path, outcome
):
    client = make_client(max_wait=5)
    sandbox.inject("rate_limit", method=method, path=path, reset=30)
    before = templates(sandbox)
    with pytest.raises(CloseRateLimited) as caught:
        write(client)
    assert caught.value.retry_after == 30.0 and sleeps == []
    assert templates(sandbox) == before


def test_a_used_up_template_window_pauses_the_next_template_write(monkeypatch, sleeps):
    # A sandbox allowing 2 requests per 1 s window per group, on one hand-moved clock.
    from closesandbox import server

    clock = FakeClock(1000.0).install(monkeypatch, close, server)

    def sleep(seconds):
        sleeps.append(seconds)
        clock.sleep(seconds)

    with Sandbox(api_keys={SANDBOX_KEY}, rate_limit=(2, 1)) as tight:
        client = CloseClient(api_key=SANDBOX_KEY, base_url=tight.url, sleep=sleep)
        made = client.create_email_template(EMAIL)
        client.update_email_template(made["id"], {"subject": "Again"})
        assert client.last_rate_limit.remaining == 0 and sleeps == []
        client.update_email_template(made["id"], {"subject": "Third"})  # not a 429
        assert sleeps == [1.0]
        assert [r.method for r in tight.requests] == ["POST", "PUT", "PUT"]
        client.close()


# --- unclear answers: like sequence writes -------------------------------------------------------


@pytest.mark.parametrize("status", [500, 502, 503, 504])
@pytest.mark.parametrize(("write", "method", "path", "outcome"), WRITES, ids=WRITE_IDS)
def test_5xx_is_never_retried_and_may_have_been_processed(
    api, sandbox, sleeps, write, method, path, outcome, status
):
    sandbox.inject("error", method=method, path=path, status=status)
    with pytest.raises(CloseUnavailable) as caught:
        write(api)
    error = caught.value
    assert error.status_code == status and error.request_may_have_been_processed is True
    assert error.message == (
        f"Close had a problem (HTTP {status}); {outcome}. We will check before trying again."
    )
    assert len(sent(sandbox, method, path)) == 1 and sleeps == []


@pytest.mark.parametrize(("write", "method", "path", "outcome"), WRITES, ids=WRITE_IDS)
def test_dropped_connection_is_ambiguous_and_not_retried(
    api, sandbox, sleeps, write, method, path, outcome
):
    sandbox.inject("drop", method=method, path=path)
    before = templates(sandbox)
    with pytest.raises(CloseUnavailable) as caught:
        write(api)
    assert caught.value.request_may_have_been_processed is True
    assert caught.value.message == (
        f"The connection to Close broke before it answered; {outcome}. "
        "We will check before trying again."
    )
    assert len(sent(sandbox, method, path)) == 1 and sleeps == []
    assert templates(sandbox) == before


@pytest.mark.parametrize(("write", "method", "path", "outcome"), WRITES, ids=WRITE_IDS)
def test_commit_then_drop_raises_the_same_and_the_write_happened(
    api, sandbox, write, method, path, outcome
):
    sandbox.inject("commit_then_drop", method=method, path=path)
    before = templates(sandbox)
    with pytest.raises(CloseUnavailable) as caught:
        write(api)
    assert caught.value.request_may_have_been_processed is True
    assert outcome in caught.value.message
    assert templates(sandbox) != before  # which is why callers look it up before retrying


def test_commit_then_drop_on_create_is_found_by_name_before_retrying(api, sandbox):
    sandbox.inject("commit_then_drop", method="POST", path="/email_template/")
    with pytest.raises(CloseUnavailable):
        api.create_email_template(EMAIL)
    (found,) = api.find_templates_named("email", EMAIL["name"])
    assert found["subject"] == EMAIL["subject"]


@pytest.mark.parametrize(("write", "method", "path", "outcome"), WRITES, ids=WRITE_IDS)
def test_malformed_answer_may_have_been_processed(api, sandbox, write, method, path, outcome):
    sandbox.inject("malformed", method=method, path=path)
    with pytest.raises(CloseUnavailable) as caught:
        write(api)
    assert caught.value.request_may_have_been_processed is True
    assert "could not read" in caught.value.message and outcome in caught.value.message


def test_read_timeout_on_a_template_write_is_ambiguous(make_client, sandbox, sleeps):
    client = make_client(timeout=(2.0, 0.2))
    sandbox.inject("slow", method="POST", path="/sms_template/", delay=0.6)
    before = len(sandbox.sms_templates)
    with pytest.raises(CloseUnavailable) as caught:
        client.create_sms_template(SMS)
    assert caught.value.message == (
        "Close did not answer in time; the SMS template may or may not have been created. "
        "We will check before trying again."
    )
    assert sleeps == []
    deadline = time.monotonic() + 30
    while len(sandbox.sms_templates) == before and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(sandbox.sms_templates) == before + 1


def test_unauthorized_and_echoed_key(api, sandbox):
    sandbox.inject("unauthorized", method="PUT", path="/email_template/")
    with pytest.raises(CloseAuthError):
        api.update_email_template(INTRO, {"subject": "x"})
    sandbox.inject("echo_auth", method="POST", path="/email_template/", status=400)
    with pytest.raises(CloseValidationError) as caught:
        api.create_email_template(EMAIL)
    assert SANDBOX_KEY not in caught.value.message
    sandbox.inject("echo_auth", method="POST", path="/sms_template/", status=200)
    made = api.create_sms_template(SMS)
    assert SANDBOX_KEY not in repr(made) and "<hidden>" in made["name"]


# --- find_templates_named ------------------------------------------------------------------------


def test_find_templates_named_pages_through_and_keeps_archived_and_duplicates(api, sandbox):
    sandbox.add_email_templates(230)
    first = api.create_email_template(EMAIL)
    second = api.create_email_template(EMAIL)
    api.update_email_template(second["id"], {"is_archived": True})
    api.create_email_template({**EMAIL, "name": EMAIL["name"] + " "})  # not an exact match
    before = len(sandbox.requests)
    found = api.find_templates_named("email", EMAIL["name"])
    assert [t["id"] for t in found] == [first["id"], second["id"]]
    assert found[1]["is_archived"] is True
    pages = sandbox.requests[before:]
    assert [p.query["_skip"] for p in pages] == ["0", "100", "200"]
    assert all("is_archived" not in p.query for p in pages)

    archived_name = next(t["name"] for t in sandbox.email_templates if t["id"] == ARCHIVED)
    assert [t["id"] for t in api.find_templates_named("email", archived_name)] == [ARCHIVED]
    assert api.find_templates_named("email", "No such name") == []


def test_find_sms_templates_named(api, sandbox):
    made = api.create_sms_template(SMS)
    archived_name = next(t["name"] for t in sandbox.sms_templates if t["id"] == SMS_ARCHIVED)
    assert [t["id"] for t in api.find_templates_named("sms", SMS["name"])] == [made["id"]]
    assert [t["id"] for t in api.find_templates_named("sms", archived_name)] == [SMS_ARCHIVED]
    with pytest.raises(ValueError):
        api.find_templates_named("call", "x")


# --- sequence_active_contacts --------------------------------------------------------------------


def test_sequence_active_contacts_counts_active_and_paused(api, sandbox):
    sequence = make_sequence(api, INTRO)
    assert api.sequence_active_contacts(sequence["id"]) == 0
    sandbox.set_subscription_counts(sequence["id"], active=150, paused=4, finished=9, error=2)
    before = len(sandbox.requests)
    assert api.sequence_active_contacts(sequence["id"]) == 154
    pages = sandbox.requests[before:]
    assert [p.path for p in pages] == ["/api/v1/sequence_subscription/"] * 2
    assert pages[0].query["sequence_id"] == sequence["id"]
    assert [p.query["_skip"] for p in pages] == ["0", "100"]


def test_sequence_active_contacts_counts_each_given_contact_once(api, sandbox):
    sequence = make_sequence(api, INTRO)
    for status in ("active", "paused", "finished"):
        sandbox.add_subscription(sequence["id"], contact_id=f"cont_{status}", lead_id="lead_1")
        sandbox.add_subscription(
            sequence["id"], contact_id=f"cont_{status}", lead_id="lead_1", status=status
        )
    # cont_finished is active once too; each contact is counted once.
    assert api.sequence_active_contacts(sequence["id"]) == 3


def test_sequence_active_contacts_retries_a_failed_page_and_refuses_no_id(api, sandbox, sleeps):
    sequence = make_sequence(api, INTRO)
    sandbox.set_subscription_counts(sequence["id"], active=2)
    sandbox.inject("error", method="GET", path="/sequence_subscription/", status=503)
    assert api.sequence_active_contacts(sequence["id"]) == 2
    assert sleeps == [0.5]
    with pytest.raises(ValueError):
        api.sequence_active_contacts("")
