"""builder/close.py over real HTTP against the local Close sandbox (closesandbox).

Faults are injected into the sandbox; `sleep` is replaced by a recorder so rate-limit and back-off
tests assert the exact waits without sleeping. Only response shapes the sandbox cannot produce
(402/403/409 and odd 400 bodies) are served by a canned transport adapter at the end.
"""

import base64
import json
import logging
import socket
import time
from types import SimpleNamespace
from urllib.parse import quote

import pytest
import requests

from builder import close, redact
from builder.close import (
    CloseAuthError,
    CloseClient,
    CloseError,
    CloseNotFound,
    ClosePlanLimit,
    CloseRateLimited,
    CloseUnavailable,
    CloseValidationError,
    RateLimitInfo,
    parse_rate_limit,
)
from closesandbox import Sandbox
from tests.fakeclock import FakeClock

KEY = "sandbox-key"
SHARED = "tmpl_00jcushDRuoBBS5sSTUAbNt4dPpBUhlJqQafVfzzRJn"
SHARED_2 = "tmpl_l12k3as9d008324ljeANFTyS239048asdFdsVfnzaln"
UNSHARED = "tmpl_RouDOc2tGgnwliLPrGDpDIUcqJXsNyTfC9NpKlLF0Ft"
ARCHIVED = "tmpl_p47qYaqu6oVeQgTdRUVUun6M4SpOM4z68oZJ4TZjLpX"


def example_payload(name="Sales Outreach"):
    """Close's documented create example (close-api.md §6), with every step typed."""
    return {
        "name": name,
        "timezone": "America/Los_Angeles",
        "status": "paused",
        "schedule": {
            "ranges": [{"weekday": d, "start": "09:00", "end": "16:59"} for d in range(1, 6)]
        },
        "steps": [
            {"step_type": "call", "delay": 0, "required": True},
            {
                "step_type": "email",
                "delay": 86400,
                "email_template_id": SHARED,
                "threading": "old_thread",
            },
            {
                "step_type": "email",
                "delay": 259200,
                "email_template_id": SHARED_2,
                "threading": "old_thread",
            },
        ],
    }


class SpySession(requests.Session):
    """A real Session that also records the keyword arguments of every request."""

    def __init__(self):
        super().__init__()
        self.calls = []

    def request(self, method, url, **kwargs):
        self.calls.append({"method": method, "url": url, **kwargs})
        return super().request(method, url, **kwargs)


@pytest.fixture(scope="session")
def sb_server():
    sb = Sandbox(api_keys={KEY}, host="127.0.0.1", port=0).start()
    yield sb
    sb.stop()


@pytest.fixture
def sb(sb_server):
    sb_server.reset()
    return sb_server


@pytest.fixture(autouse=True)
def no_jitter(monkeypatch):
    monkeypatch.setattr(close, "_jitter", lambda: 0.0)


@pytest.fixture
def sleeps():
    return []


@pytest.fixture
def make_client(sb, sleeps):
    clients = []

    def make(**options):
        options = {
            "api_key": KEY,
            "base_url": sb.url,
            "timeout": (1.0, 2.0),
            "sleep": sleeps.append,
            "session": SpySession(),
        } | options
        clients.append(CloseClient(**options))
        return clients[-1]

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def api(make_client):
    """A client for the shared sandbox (named so it does not shadow pytest-django's client)."""
    return make_client()


def sent(sb, method, path="/sequence/"):
    """Requests the sandbox received for `method` and a path below /api/v1 (ids unquoted)."""
    return [r for r in sb.requests if r.method == method and r.path == "/api/v1" + path]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- reading -------------------------------------------------------------------------------------


def test_me_asks_for_the_documented_fields(api, sb):
    me = api.me()
    assert me["id"].startswith("user_")
    assert me["organizations"][0]["id"].startswith("orga_")
    (request,) = sent(sb, "GET", "/me/")
    assert request.query == {"_fields": "id,email,first_name,last_name,organizations"}


def test_every_call_has_auth_headers_timeout_and_json_only_on_writes(api, sb):
    api.me()
    created = api.create_sequence(example_payload())
    api.update_sequence(created["id"], {"name": "Renamed"})
    api.delete_sequence(created["id"])
    calls = api._session.calls
    assert [c["method"] for c in calls] == ["GET", "POST", "PUT", "DELETE"]
    for call in calls:
        assert call["auth"] == (KEY, "")  # close-api.md §2: key as username, empty password
        assert call["timeout"] == (1.0, 2.0)
        assert call["headers"]["Accept"] == "application/json"
        assert call["headers"]["User-Agent"] == "SequenceBuilder/0.1"
        assert call["url"].endswith("/")
    assert [c["json"] is not None for c in calls] == [False, True, True, False]


def test_email_templates_are_paged_100_at_a_time(api, sb):
    seeded = len(api.list_email_templates())
    sb.add_email_templates(250)
    before = len(sb.requests)
    templates = api.list_email_templates()
    assert len(templates) == seeded + 250 > 200
    assert len({t["id"] for t in templates}) == len(templates)
    pages = sb.requests[before:]
    assert [p.query["_skip"] for p in pages] == ["0", "100", "200"]
    assert all(p.query["_limit"] == "100" for p in pages)


def test_template_filters_are_sent_as_lowercase_booleans(api, sb):
    usable = api.list_email_templates(is_shared=True, is_archived=False)
    ids = {t["id"] for t in usable}
    assert {SHARED, SHARED_2} <= ids
    assert UNSHARED not in ids and ARCHIVED not in ids
    (request,) = sent(sb, "GET", "/email_template/")
    assert request.query["is_shared"] == "true"
    assert request.query["is_archived"] == "false"


def test_sms_templates(api):
    templates = list(api.iter_sms_templates())
    assert templates and all(t["id"].startswith("smstmpl_") for t in templates)
    assert api.list_sms_templates() == templates


# --- writing -------------------------------------------------------------------------------------


def test_create_returns_ids_for_the_sequence_and_every_step(api, sb):
    created = api.create_sequence(example_payload())
    assert created["id"].startswith("seq_")
    assert [s["step_type"] for s in created["steps"]] == ["call", "email", "email"]
    assert all(s["id"].startswith("seqstep_") for s in created["steps"])
    assert len(sb.sequences) == 1
    assert sb.created_payloads == [example_payload()]


def test_update_fetch_list_delete(api, sb):
    created = api.create_sequence(example_payload())
    step_ids = [{"id": s["id"]} for s in created["steps"]]
    updated = api.update_sequence(created["id"], {"name": "Renamed", "steps": step_ids[:2]})
    assert updated["name"] == "Renamed"
    assert len(updated["steps"]) == 2  # §6: steps left out of a PUT are deleted

    fetched = api.fetch_sequence(created["id"])
    assert fetched["name"] == "Renamed"
    assert [s["id"] for s in api.list_sequences()] == [created["id"]]

    assert api.delete_sequence(created["id"]) is None
    with pytest.raises(CloseNotFound) as caught:
        api.fetch_sequence(created["id"])
    assert caught.value.status_code == 404
    assert "sequence" in caught.value.message
    assert api.list_sequences() == []


def test_ids_are_quoted_and_paths_end_in_a_slash(api, sb):
    with pytest.raises(CloseNotFound):
        api.fetch_sequence("seq_x y?z#")
    assert api._session.calls[-1]["url"] == sb.url + "sequence/seq_x%20y%3Fz%23/"
    (request,) = sent(sb, "GET", "/sequence/seq_x y?z#/")  # the sandbox unquotes the path
    assert request.query == {}  # "?z#" stayed inside the id


@pytest.mark.parametrize("bad_id", ["seq_a/b", "", None, "..", "../me"])
def test_ids_that_would_change_the_path_are_refused_without_a_request(api, sb, bad_id):
    with pytest.raises(ValueError):
        api.delete_sequence(bad_id)
    assert sb.requests == []


# --- 4xx -----------------------------------------------------------------------------------------


def test_unshared_template_is_a_validation_error_with_the_closes_words(api, sb):
    payload = example_payload()
    payload["steps"][1]["email_template_id"] = UNSHARED
    with pytest.raises(CloseValidationError) as caught:
        api.create_sequence(payload)
    error = caught.value
    assert error.status_code == 400
    assert any("not shared" in e for e in error.errors)
    assert error.message.startswith(f'Close refused the sequence: Template "{UNSHARED}"')
    assert sb.sequences == []


def test_missing_timezone_is_a_field_error(api, sb):
    payload = example_payload()
    del payload["timezone"]
    with pytest.raises(CloseValidationError) as caught:
        api.create_sequence(payload)
    assert "timezone" in caught.value.field_errors
    assert "timezone: " in caught.value.message
    assert len(sent(sb, "POST")) == 1  # a 400 is final


def test_wrong_key_is_an_auth_error_that_never_shows_the_key(make_client, sb, caplog):
    secret = "wrong-key-0123456789abcdef"
    client = make_client(api_key=secret)
    caplog.set_level(logging.DEBUG, logger="builder.close")
    with pytest.raises(CloseAuthError) as caught:
        client.me()
    error = caught.value
    assert error.status_code == 401
    assert error.message == "Close rejected the API key. Check CLOSE_API_KEY."
    for text in (str(error), repr(error), str(client), repr(client), caplog.text):
        assert secret not in text
    assert "GET /me/ -> 401" in caplog.text


def test_a_key_revoked_mid_session_is_an_auth_error(api, sb):
    api.me()
    sb.inject("unauthorized", method="POST", path="/sequence/")
    with pytest.raises(CloseAuthError) as caught:
        api.create_sequence(example_payload())
    assert caught.value.status_code == 401
    assert len(sent(sb, "POST")) == 1 and sb.sequences == []


def test_missing_key_is_an_auth_error_before_anything_is_sent(make_client, sb):
    client = make_client(api_key="")
    with pytest.raises(CloseAuthError):
        client.me()
    assert sb.requests == []


# --- 429 -----------------------------------------------------------------------------------------


def test_429_waits_exactly_the_reset_then_creates_once(api, sb, sleeps):
    sb.inject("rate_limit", method="POST", path="/sequence/", times=1, reset=3)
    created = api.create_sequence(example_payload())
    assert sleeps == [3.0]
    assert api.waited_seconds == 3.0
    assert len(sent(sb, "POST")) == 2
    assert [s["id"] for s in sb.sequences] == [created["id"]]


def test_429_beyond_the_wait_budget_raises_without_sleeping(make_client, sb, sleeps):
    client = make_client(max_wait=10)
    sb.inject("rate_limit", method="POST", path="/sequence/", times=1, reset=30)
    with pytest.raises(CloseRateLimited) as caught:
        client.create_sequence(example_payload())
    assert caught.value.retry_after == 30.0
    assert caught.value.status_code == 429
    assert caught.value.message == "Close asked us to wait 30 s before trying again."
    assert sleeps == []
    assert sb.sequences == []


def test_429_stops_after_max_attempts(make_client, sb, sleeps):
    client = make_client(max_attempts=3)
    sb.inject("rate_limit", method="POST", path="/sequence/", times=10, reset=1)
    with pytest.raises(CloseRateLimited):
        client.create_sequence(example_payload())
    assert sleeps == [1.0, 1.0]
    assert len(sent(sb, "POST")) == 3
    assert sb.sequences == []


# The sandbox's rate-limit windows and the client's pauses read one hand-moved clock: the waits
# are exact numbers, whatever a loaded machine does between two requests.
# At this reading, (start + 60) - now rounded to 60.000000000000455, and the sandbox announced a
# 61 s reset for a 60 s window (the client then reported retry_after 60.99).
AWKWARD_CLOCK_READING = 4060.123456789


@pytest.fixture
def clock(monkeypatch):
    from closesandbox import server

    return FakeClock(1000.0).install(monkeypatch, close, server)


def test_remaining_zero_pauses_before_the_next_request(clock, sleeps):
    # A sandbox allowing 2 requests per 1 s window; the client's sleep moves the clock.
    def sleep(seconds):
        sleeps.append(seconds)
        clock.sleep(seconds)

    with Sandbox(api_keys={KEY}, rate_limit=(2, 1)) as tight:
        client = CloseClient(api_key=KEY, base_url=tight.url, sleep=sleep)
        client.me()
        clock.sleep(0.25)
        client.me()
        assert client.last_rate_limit == RateLimitInfo(2, 0, 1.0)
        assert sleeps == []
        client.me()  # would be a 429 without the pause
        assert sleeps == [1.0]  # the whole reset, counted from when the answer came
        assert [r.method for r in tight.requests] == ["GET"] * 3
        client.close()


@pytest.mark.parametrize("reading", [1000.0, AWKWARD_CLOCK_READING])
def test_remaining_zero_beyond_the_budget_raises_without_sending(clock, sleeps, reading):
    clock.now = reading
    with Sandbox(api_keys={KEY}, rate_limit=(1, 60)) as tight:
        client = CloseClient(api_key=KEY, base_url=tight.url, sleep=sleeps.append, max_wait=10)
        client.me()
        assert client.last_rate_limit == RateLimitInfo(1, 0, 60.0)
        clock.sleep(0.25)
        with pytest.raises(CloseRateLimited) as caught:
            client.create_sequence(example_payload())
        assert caught.value.retry_after == pytest.approx(59.75, abs=1e-9)  # left of the 60 s
        assert caught.value.status_code is None  # no response: we did not even ask
        assert caught.value.message == "Close asked us to wait 60 s before trying again."
        assert len(tight.requests) == 1 and sleeps == [] and tight.sequences == []
        client.close()


def test_legacy_429_body_is_honoured_when_no_header_says_how_long():
    response = requests.Response()
    response.status_code = 429
    response._content = json.dumps({"error": {"rate_reset": 1.5}}).encode()
    assert close._rate_limit_wait(response) == 1.5
    response._content = json.dumps({"rate_reset": 7}).encode()
    assert close._rate_limit_wait(response) == 7
    response._content = b""
    response.headers["Retry-After"] = "5"
    assert close._rate_limit_wait(response) == 5
    response.headers["RateLimit"] = "limit=10, remaining=0, reset=2"
    assert close._rate_limit_wait(response) == 2
    del response.headers["RateLimit"], response.headers["Retry-After"]
    assert close._rate_limit_wait(response) == 2.0  # nothing said: Close's own client waits 2 s


@pytest.mark.parametrize(
    "headers, expected",
    [
        ({"RateLimit": "limit=100, remaining=50, reset=5"}, RateLimitInfo(100, 50, 5.0)),
        ({"ratelimit": "reset=0.5;remaining=0;limit=20"}, RateLimitInfo(20, 0, 0.5)),
        ({"RateLimit": "remaining=3.0,limit=10.0"}, RateLimitInfo(10, 3, None)),
        ({"RateLimit": '"default";r=7;t=12'}, RateLimitInfo(None, 7, 12.0)),
        (
            {"RateLimit-Limit": "40", "RateLimit-Remaining": "1", "RateLimit-Reset": "9"},
            RateLimitInfo(40, 1, 9.0),
        ),
        ({"X-Rate-Limit-Remaining": "0", "X-Rate-Limit-Reset": "2"}, RateLimitInfo(None, 0, 2.0)),
        ({"RateLimit": "garbage"}, RateLimitInfo(None, None, None)),
        ({}, RateLimitInfo(None, None, None)),
    ],
)
def test_parse_rate_limit(headers, expected):
    assert parse_rate_limit(headers) == expected


def test_every_response_updates_last_rate_limit(api):
    assert api.last_rate_limit is None
    api.me()
    assert api.last_rate_limit is not None
    assert api.last_rate_limit.limit and api.last_rate_limit.remaining is not None


# --- 5xx, timeouts, broken connections -----------------------------------------------------------


def test_503_on_get_is_retried_with_short_back_off(api, sb, sleeps):
    sb.inject("error", method="GET", path="/sequence/", times=2, status=503)
    assert api.list_sequences() == []
    assert sleeps == [0.5, 1.0]
    assert len(sent(sb, "GET")) == 3


def test_get_gives_up_after_max_attempts(make_client, sb, sleeps):
    client = make_client(max_attempts=3)
    sb.inject("error", method="GET", path="/sequence/", times=10, status=502)
    with pytest.raises(CloseUnavailable) as caught:
        client.list_sequences()
    assert caught.value.status_code == 502
    assert caught.value.request_may_have_been_processed is False
    assert sleeps == [0.5, 1.0]


def test_500_on_get_is_not_retried(api, sb, sleeps):
    sb.inject("error", method="GET", path="/sequence/", times=1, status=500)
    with pytest.raises(CloseUnavailable):
        api.list_sequences()
    assert sleeps == [] and len(sent(sb, "GET")) == 1


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_on_post_is_never_retried_and_may_have_been_processed(api, sb, sleeps, status):
    sb.inject("error", method="POST", path="/sequence/", times=1, status=status)
    with pytest.raises(CloseUnavailable) as caught:
        api.create_sequence(example_payload())
    error = caught.value
    assert error.status_code == status
    assert error.request_may_have_been_processed is True
    assert "may or may not have been created" in error.message
    assert len(sent(sb, "POST")) == 1 and sleeps == []


def test_read_timeout_on_post_is_ambiguous(make_client, sb, sleeps):
    client = make_client(timeout=(1.0, 0.2))  # the slow answer always times out
    sb.inject("slow", method="POST", path="/sequence/", times=1, delay=0.6)
    with pytest.raises(CloseUnavailable) as caught:
        client.create_sequence(example_payload())
    error = caught.value
    assert error.status_code is None
    assert error.request_may_have_been_processed is True
    assert error.message == (
        "Close did not answer in time; the sequence may or may not have been created. "
        "We will check before trying again."
    )
    assert len(sent(sb, "POST")) == 1 and sleeps == []
    # "May have been": Close goes on and creates it after we stopped waiting.
    deadline = time.monotonic() + 30
    while not sb.sequences and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(sb.sequences) == 1


def test_read_timeout_on_get_is_retried(make_client, sb, sleeps):
    # The slow answer always times out; the retry's ordinary answer must come within the read
    # timeout even on a loaded machine, so that timeout is not tight.
    client = make_client(timeout=(1.0, 1.5))
    sb.inject("slow", method="GET", path="/sequence/", times=1, delay=3.0)
    assert client.list_sequences() == []
    assert sleeps == [0.5]


def test_dropped_connection_on_post_is_ambiguous_and_not_retried(api, sb):
    sb.inject("drop", method="POST", path="/sequence/", times=1)
    with pytest.raises(CloseUnavailable) as caught:
        api.create_sequence(example_payload())
    assert caught.value.request_may_have_been_processed is True
    assert "broke before it answered" in caught.value.message
    assert len(sent(sb, "POST")) == 1 and sb.sequences == []


def test_dropped_connection_on_get_is_retried(api, sb, sleeps):
    sb.inject("drop", method="GET", path="/sequence/", times=1)
    assert api.list_sequences() == []
    assert sleeps == [0.5]


def test_commit_then_drop_is_why_callers_look_up_before_retrying(api, sb):
    sb.inject("commit_then_drop", method="POST", path="/sequence/", times=1)
    with pytest.raises(CloseUnavailable) as caught:
        api.create_sequence(example_payload("Q3 outbound"))
    assert caught.value.request_may_have_been_processed is True
    assert len(sb.sequences) == 1  # Close did create it
    assert [s["name"] for s in api.list_sequences()] == ["Q3 outbound"]


def test_malformed_json_on_get_is_unavailable_at_once(api, sb, sleeps):
    sb.inject("malformed", method="GET", path="/sequence/", times=1)
    with pytest.raises(CloseUnavailable) as caught:
        api.list_sequences()
    assert caught.value.request_may_have_been_processed is False
    assert caught.value.status_code == 200
    assert sleeps == [] and len(sent(sb, "GET")) == 1


def test_malformed_json_on_post_may_have_been_processed(api, sb):
    sb.inject("malformed", method="POST", path="/sequence/", times=1)
    with pytest.raises(CloseUnavailable) as caught:
        api.create_sequence(example_payload())
    assert caught.value.request_may_have_been_processed is True
    assert "could not read" in caught.value.message


def test_connection_refused_means_nothing_was_sent(make_client, sleeps):
    client = make_client(base_url=f"http://127.0.0.1:{free_port()}/api/v1/")
    with pytest.raises(CloseUnavailable) as caught:
        client.create_sequence(example_payload())
    assert caught.value.request_may_have_been_processed is False
    assert caught.value.status_code is None
    assert "nothing was sent" in caught.value.message
    assert sleeps == []  # writes are not retried, even when that would be safe
    with pytest.raises(CloseUnavailable):
        client.me()
    assert sleeps == [0.5, 1.0, 1.5, 2.0]  # GETs are: 5 attempts


def test_waits_of_one_call_stay_within_max_wait(make_client, sb, sleeps):
    client = make_client(max_wait=2.0)
    sb.inject("error", method="GET", path="/sequence/", times=10, status=503)
    with pytest.raises(CloseUnavailable):
        client.list_sequences()
    assert sleeps == [0.5, 1.0]  # the next 1.5 s back-off would pass 2 s
    assert sum(sleeps) <= 2.0


# --- bodies the sandbox does not produce ---------------------------------------------------------


class CannedAdapter(requests.adapters.BaseAdapter):
    """Answers every request with one canned response, without a network."""

    def __init__(self, status, body=b"", headers=None):
        super().__init__()
        self.status, self.body, self.headers = status, body, headers or {}

    def send(self, request, **kwargs):
        response = requests.Response()
        response.status_code = self.status
        response._content = (
            self.body if isinstance(self.body, bytes) else json.dumps(self.body).encode()
        )
        response.headers.update(self.headers)
        response.request, response.url = request, request.url
        return response

    def close(self):
        pass


def canned_client(status, body=b"", headers=None):
    session = requests.Session()
    session.mount("http://canned/", CannedAdapter(status, body, headers))
    return CloseClient(api_key=KEY, base_url="http://canned/api/v1/", session=session, sleep=None)


@pytest.mark.parametrize(
    "body, errors, text",
    [
        ({"error": "Template is in use."}, ["Template is in use."], "Template is in use."),
        ({"error": {"message": "Bad schedule"}}, ["Bad schedule"], "Bad schedule."),
        (b"<html>Bad Request</html>", ["<html>Bad Request</html>"], "<html>Bad Request</html>."),
        (
            {"errors": [], "field-errors": {"steps": {"1": {"delay": "Must be >= 0."}}}},
            [],
            "steps.1.delay: Must be >= 0.",
        ),
        (
            {"field-errors": {"steps": [{}, {"email_template_id": ["Required."]}]}},
            [],
            "steps.1.email_template_id: Required.",
        ),
    ],
)
def test_400_bodies_are_read_defensively(body, errors, text):
    with pytest.raises(CloseValidationError) as caught:
        canned_client(400, body).create_sequence({})
    assert caught.value.errors == errors
    assert caught.value.message == f"Close refused the sequence: {text}"


def test_400_without_a_body():
    with pytest.raises(CloseValidationError) as caught:
        canned_client(400).delete_sequence("seq_1")
    assert caught.value.message == "Close refused the sequence without saying why."


@pytest.mark.parametrize(
    "status, error_type",
    [(402, ClosePlanLimit), (403, CloseAuthError), (404, CloseNotFound), (409, CloseError)],
)
def test_other_4xx_map_to_typed_errors(status, error_type):
    with pytest.raises(error_type) as caught:
        canned_client(status, {"error": "Nope"}).fetch_sequence("seq_1")
    assert caught.value.status_code == status
    assert "Nope" in caught.value.message
    assert not isinstance(caught.value, CloseUnavailable)


def test_empty_2xx_body_is_none():
    assert canned_client(204).delete_sequence("seq_1") is None
    assert canned_client(200, b"").fetch_sequence("seq_1") is None


def test_a_key_echoed_by_close_is_hidden():
    with pytest.raises(CloseAuthError) as caught:
        canned_client(403, {"error": f"Key {KEY} may not do this"}).me()
    assert KEY not in caught.value.message and "<hidden>" in caught.value.message


def test_client_from_settings(monkeypatch):
    fake = SimpleNamespace(
        CLOSE_API_KEY=KEY, CLOSE_API_URL="http://close.test/api/v1", CLOSE_TIMEOUT=8.0
    )
    monkeypatch.setattr("django.conf.settings", fake)
    client = close.client_from_settings(max_wait=5.0)
    assert client.base_url == "http://close.test/api/v1/"
    assert client.timeout == (3.05, 8.0)
    assert client.max_wait == 5.0
    fake.CLOSE_TIMEOUT = 2
    assert close.client_from_settings().timeout == (2.0, 2.0)
    assert KEY not in repr(client)


def test_every_form_of_the_key_is_hidden_and_ordinary_text_is_not():
    key = "api_Umer?BH3M1>XS0DRdJuPnBIKpi99lS"  # its base64 holds "+", "/" and "="
    basic = base64.b64encode(f"{key}:".encode()).decode()
    shifted = base64.b64encode(f"user {key}:secret".encode()).decode()  # key at another offset
    texts = [
        key,
        f"Basic {basic}",
        basic.rstrip("="),
        base64.b64encode(key.encode()).decode().rstrip("="),
        base64.urlsafe_b64encode(f"{key}:".encode()).decode(),
        quote(f"Basic {basic}", safe=""),
        quote(f"Basic {basic}", safe="").replace("%2F", "%2f").replace("%2B", "%2b"),
        quote(key, safe=""),
        shifted,
    ]
    for text in texts:
        hidden = redact.redact(f"said: {text}!", key=key)
        assert hidden.startswith("said: ") and "[hidden]" in hidden, text
        assert key[4:20] not in hidden and basic[4:20] not in hidden, text
    assert redact.redact_json({"a": [f"x {basic}"], basic: 1}, key=key) == {
        "a": ["x [hidden]"],
        "[hidden]": 1,
    }
    assert redact.redact("Basic realm, nothing secret", key=key) == "Basic realm, nothing secret"
    assert redact.redact("abc", key="ab") == "abc"  # a toy key blanks out nothing
