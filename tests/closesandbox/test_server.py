"""The Close sandbox over real HTTP: auth, templates, sequences, validation, faults, rate limits,
control endpoints, CLI and state file. No Django involved."""

import base64
import copy
import json
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import quote

import pytest
import requests

from closesandbox import Fault, RecordedRequest, Sandbox
from tests.fakeclock import FakeClock

KEY = "sandbox-key"
AUTH = (KEY, "")
REPO = Path(__file__).resolve().parents[2]
INTRO = "tmpl_00jcushDRuoBBS5sSTUAbNt4dPpBUhlJqQafVfzzRJn"
FOLLOW_UP = "tmpl_l12k3as9d008324ljeANFTyS239048asdFdsVfnzaln"
SEQ_ID = re.compile(r"seq_[0-9A-Za-z]{22}")
STEP_ID = re.compile(r"seqstep_[0-9A-Za-z]{22}")
NAIVE_TS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}")
RATE_HEADER = re.compile(r"limit=(\d+), remaining=(\d+), reset=(\d+)")

# Close's documented create request, verbatim (third step has no step_type).
DOC_EXAMPLE = {
    "name": "My Sequence",
    "schedule": {
        "ranges": [{"end": "16:59", "start": "09:00", "weekday": day} for day in range(1, 6)]
    },
    "steps": [
        {"delay": 0, "required": True, "step_type": "call"},
        {
            "delay": 86400,
            "email_template_id": INTRO,
            "step_type": "email",
            "threading": "old_thread",
        },
        {"delay": 259200, "email_template_id": FOLLOW_UP, "threading": "old_thread"},
    ],
    "timezone": "America/Los_Angeles",
}
DOC_STEP_KEYS = {
    "created_by_id",
    "date_created",
    "date_updated",
    "delay",
    "email_template_id",
    "id",
    "required",
    "step_allowed_delay",
    "step_type",
    "threading",
    "updated_by_id",
}
DOC_SEQUENCE_KEYS = {
    "created_by_id",
    "date_created",
    "date_updated",
    "id",
    "name",
    "organization_id",
    "schedule",
    "status",
    "steps",
    "timezone",
    "updated_by_id",
}


@pytest.fixture(autouse=True)
def requests_time_out(monkeypatch):
    """No request in these tests waits forever: one that names no timeout gets 30 s."""
    request = requests.Session.request

    def with_timeout(self, method, url, **kwargs):
        kwargs.setdefault("timeout", 30)
        return request(self, method, url, **kwargs)

    monkeypatch.setattr(requests.Session, "request", with_timeout)


@pytest.fixture(scope="module")
def server():
    sandbox = Sandbox(api_keys={KEY, "second-key"}).start()
    yield sandbox
    sandbox.stop()


@pytest.fixture
def sb(server):
    server.reset()
    return server


def tmpl(sb, name):
    return next(t for t in sb.email_templates if t["name"] == name)


def sms(sb, name):
    return next(t for t in sb.sms_templates if t["name"] == name)


def wait_until(condition, waiting_for, timeout=30):
    """Poll `condition` until it holds; fail, saying what never happened, after `timeout` s."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up after {timeout} s waiting for {waiting_for}")
        time.sleep(0.01)


def handlers_running(sb):
    """Connections the sandbox is still serving (each handler removes its own when it ends)."""
    with sb._server.connections_lock:
        return len(sb._server.connections)


def create(sb, payload=None, **kwargs):
    return requests.post(sb.url + "sequence/", json=payload or DOC_EXAMPLE, auth=AUTH, **kwargs)


def minimal(**overrides):
    payload = {
        "name": "Q3 outbound",
        "timezone": "America/New_York",
        "steps": [{"step_type": "email", "delay": 0, "email_template_id": INTRO}],
    }
    payload.update(overrides)
    return payload


# --- auth, routing, /me/ -----------------------------------------------------------------------


def test_missing_and_wrong_key_are_401_and_right_key_works(sb):
    for auth in (None, ("nope", ""), ("", "")):
        r = requests.get(sb.url + "me/", auth=auth)
        assert r.status_code == 401
        assert r.json() == {"error": "Invalid API key"}
        assert RATE_HEADER.fullmatch(r.headers["RateLimit"])
    bearer = requests.get(sb.url + "me/", headers={"Authorization": f"Bearer {KEY}"})
    assert bearer.status_code == 401
    garbage = requests.get(sb.url + "me/", headers={"Authorization": "Basic !!notbase64"})
    assert garbage.status_code == 401
    assert requests.get(sb.url + "me/", auth=AUTH).status_code == 200
    assert requests.get(sb.url + "me/", auth=("second-key", "")).status_code == 200


def test_unauthorized_post_does_not_create(sb):
    assert requests.post(sb.url + "sequence/", json=DOC_EXAMPLE).status_code == 401
    assert sb.sequences == []


def test_trailing_slash_is_required(sb):
    assert requests.get(sb.url + "me", auth=AUTH).status_code == 404
    assert requests.get(sb.url + "email_template", auth=AUTH).status_code == 404
    r = requests.post(sb.url + "sequence", json=DOC_EXAMPLE, auth=AUTH, allow_redirects=False)
    assert r.status_code == 404
    assert r.json() == {"error": "Not found"}
    assert sb.sequences == []


def test_unknown_path_404_and_wrong_method_405(sb):
    assert requests.get(sb.url + "lead/", auth=AUTH).status_code == 404
    assert requests.get(sb.base_url + "/api/v2/me/", auth=AUTH).status_code == 404
    r = requests.delete(sb.url + "sequence/", auth=AUTH)
    assert r.status_code == 405
    assert r.json() == {"error": "Method not allowed"}
    assert set(r.headers["Allow"].split(", ")) == {"GET", "POST"}
    assert requests.patch(sb.url + "me/", json={}, auth=AUTH).status_code == 405
    assert requests.delete(sb.url + "email_template/", auth=AUTH).status_code == 405


def test_me_and_fields(sb):
    me = requests.get(sb.url + "me/", auth=AUTH).json()
    assert me["id"].startswith("user_")
    assert me["email"] == "demo@example.com"
    assert me["first_name"] and me["last_name"]
    assert me["organizations"][0]["id"].startswith("orga_")
    assert me["organizations"][0]["name"] == "Acme Demo Co"
    r = requests.get(sb.url + "me/", params={"_fields": "id,organizations"}, auth=AUTH)
    assert set(r.json()) == {"id", "organizations"}


# --- templates ---------------------------------------------------------------------------------


def test_seeded_email_templates(sb):
    templates = {t["id"]: t for t in sb.email_templates}
    assert 7 <= len(templates) <= 10
    for tid in (INTRO, FOLLOW_UP):
        assert templates[tid]["is_shared"] and not templates[tid]["is_archived"]
    assert any(t["is_archived"] and t["is_shared"] for t in templates.values())
    assert any(not t["is_shared"] for t in templates.values())
    assert any("<script>alert(1)</script>" in t["body"] for t in templates.values())
    assert any("onerror=" in t["body"] for t in templates.values())
    assert {"Intro — quick question", "Follow-up — case study", "Breakup email"} <= {
        t["name"] for t in templates.values()
    }
    for t in templates.values():
        assert t["id"].startswith("tmpl_")
        assert "{{ contact.first_name" in t["body"]
        assert t["date_created"].endswith("+00:00") and t["date_updated"].endswith("+00:00")
        assert t["attachments"] == [] and t["organization_id"].startswith("orga_")
        assert t["created_by"].startswith("user_") and t["updated_by"].startswith("user_")


def test_email_template_pagination(sb):
    sb.add_email_templates(250)
    total = len(sb.email_templates)
    seen, skip = [], 0
    while True:
        page = requests.get(
            sb.url + "email_template/", params={"_skip": skip, "_limit": 100}, auth=AUTH
        ).json()
        seen += [t["id"] for t in page["data"]]
        skip += len(page["data"])
        if not page["has_more"]:
            break
    assert len(seen) == len(set(seen)) == total
    default = requests.get(sb.url + "email_template/", auth=AUTH).json()
    assert len(default["data"]) == 100 and default["has_more"] is True
    last = requests.get(sb.url + "email_template/", params={"_skip": total - 1}, auth=AUTH).json()
    assert len(last["data"]) == 1 and last["has_more"] is False


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"_limit": 101}, "_limit must be at most 100"),
        ({"_limit": -1}, "_limit must be a non-negative integer"),
        ({"_limit": "ten"}, "_limit must be a non-negative integer"),
        ({"_skip": "-5"}, "_skip must be a non-negative integer"),
        ({"_skip": "1.5"}, "_skip must be a non-negative integer"),
        ({"is_shared": "maybe"}, "is_shared must be true or false"),
    ],
)
def test_bad_list_parameters_are_400(sb, params, message):
    r = requests.get(sb.url + "email_template/", params=params, auth=AUTH)
    assert r.status_code == 400
    assert r.json() == {"error": message}


def test_email_template_filters(sb):
    def names(**params):
        r = requests.get(sb.url + "email_template/", params=params, auth=AUTH)
        return {t["name"] for t in r.json()["data"]}

    everything = {t["name"] for t in sb.email_templates}
    usable = names(is_archived="false", is_shared="true")
    assert "Intro — quick question" in usable
    assert "Q1 promo — 20% off (expired)" not in usable
    assert "Personal draft — referral ask" not in usable
    assert names(is_archived="true") == {"Q1 promo — 20% off (expired)"}
    assert names(is_shared="false") == {"Personal draft — referral ask"}
    assert names() == everything


def test_email_template_fetch(sb):
    r = requests.get(sb.url + f"email_template/{INTRO}/", auth=AUTH)
    assert r.status_code == 200
    assert r.json()["name"] == "Intro — quick question"
    assert r.json()["used_by_sequences"] == []
    create(sb)
    used = requests.get(sb.url + f"email_template/{INTRO}/", auth=AUTH).json()
    assert used["used_by_sequences"][0]["name"] == "My Sequence"
    fields = requests.get(sb.url + f"email_template/{INTRO}/?_fields=id,subject", auth=AUTH)
    assert set(fields.json()) == {"id", "subject"}
    missing = requests.get(sb.url + "email_template/tmpl_nope/", auth=AUTH)
    assert missing.status_code == 404 and missing.json() == {"error": "Not found"}


def test_sms_templates_list_and_fetch(sb):
    page = requests.get(sb.url + "sms_template/", params={"_limit": 2}, auth=AUTH).json()
    assert len(page["data"]) == 2 and page["has_more"] is True
    everything = requests.get(sb.url + "sms_template/", auth=AUTH).json()["data"]
    assert 3 <= len(everything) <= 5
    assert any(not t["is_shared"] for t in everything)
    assert any(t["status"] == "archived" for t in everything)
    for t in everything:
        assert t["id"].startswith("smstmpl_") and t["text"] and t["attachments"] == []
        assert t["status"] in ("active", "archived")
    one = requests.get(sb.url + f"sms_template/{everything[0]['id']}/", auth=AUTH)
    assert one.json() == everything[0]
    assert requests.get(sb.url + "sms_template/smstmpl_x/", auth=AUTH).status_code == 404
    assert requests.get(sb.url + "sms_template/?_limit=500", auth=AUTH).status_code == 400


def test_bulk_templates_are_added_and_paged(sb):
    # How fast is make bench's question; here, that 3,000 templates are there and page.
    before = len(sb.email_templates)
    ids = sb.add_email_templates(3000)
    assert len(set(ids)) == 3000 and all(i.startswith("tmpl_") for i in ids)
    assert len(sb.email_templates) == before + 3000
    r = requests.get(sb.url + "email_template/", params={"_skip": 2900}, auth=AUTH, timeout=30)
    page = r.json()["data"]
    assert len(page) == 100
    assert [t["id"] for t in page] == [t["id"] for t in sb.email_templates[2900:3000]]
    unshared = sb.add_email_templates(5, shared=False)
    assert all(not t["is_shared"] for t in sb.email_templates if t["id"] in unshared)


# --- create ------------------------------------------------------------------------------------


def test_create_with_close_doc_example(sb):
    r = create(sb)
    assert r.status_code == 200
    seq = r.json()
    assert set(seq) >= DOC_SEQUENCE_KEYS
    assert SEQ_ID.fullmatch(seq["id"])
    assert seq["name"] == "My Sequence"
    assert seq["status"] == "active"
    assert seq["timezone"] == "America/Los_Angeles"
    assert seq["organization_id"].startswith("orga_")
    assert seq["created_by_id"].startswith("user_") and seq["owner_id"] == seq["created_by_id"]
    assert NAIVE_TS.fullmatch(seq["date_created"]) and NAIVE_TS.fullmatch(seq["date_updated"])
    assert seq["schedule_id"] is None and seq["trigger_query"] is None
    assert seq["allow_manual_enrollment"] is True
    # Close was observed echoing schedule times with seconds.
    assert seq["schedule"]["ranges"] == [
        {"weekday": d, "start": "09:00:00", "end": "16:59:00"} for d in range(1, 6)
    ]
    steps = seq["steps"]
    assert [s["step_type"] for s in steps] == ["call", "email", "email"]  # untyped -> email
    assert [s["delay"] for s in steps] == [0, 86400, 259200]
    assert [s["email_template_id"] for s in steps] == [None, INTRO, FOLLOW_UP]
    assert [s["threading"] for s in steps] == [None, "old_thread", "old_thread"]
    for step in steps:
        assert set(step) >= DOC_STEP_KEYS
        assert STEP_ID.fullmatch(step["id"])
        assert step["required"] is True and step["step_allowed_delay"] is None
        assert step["sms_template_id"] is None
        assert NAIVE_TS.fullmatch(step["date_created"])
    assert len({s["id"] for s in steps}) == 3
    assert sb.sequences == [seq]
    assert sb.created_payloads == [DOC_EXAMPLE]


def test_fetch_adds_subscription_counts(sb):
    seq = create(sb).json()
    r = requests.get(sb.url + f"sequence/{seq['id']}/", auth=AUTH)
    zeros = {"active": 0, "paused": 0, "finished": 0, "goal": 0, "error": 0}
    assert r.json() == {**seq, "subscription_counts_by_status": zeros}
    sb.set_subscription_counts(seq["id"], active=3, finished=2)
    counts = requests.get(sb.url + f"sequence/{seq['id']}/", auth=AUTH).json()
    assert counts["subscription_counts_by_status"] == {**zeros, "active": 3, "finished": 2}
    with pytest.raises(KeyError):
        sb.set_subscription_counts("seq_missing", active=1)
    missing = requests.get(sb.url + "sequence/seq_missing/", auth=AUTH)
    assert missing.status_code == 404 and missing.json() == {"error": "Not found"}


def test_create_accepts_every_valid_shape(sb):
    sms_id = sms(sb, "Quick SMS check-in")["id"]
    payload = minimal(
        status="paused",
        schedule={"ranges": [{"weekday": 7, "start": "08:30:00", "end": "12:00"}]},
        sender_account_id="emailacct_ignored",  # unknown top-level keys are ignored
        steps=[
            {"step_type": "email", "delay": 0, "email_template_id": INTRO, "threading": None},
            {"step_type": "call", "delay": 3600, "required": False},
            {"step_type": "sms", "delay": 86400, "sms_template_id": sms_id},
            {"delay": 0, "email_template_id": FOLLOW_UP, "threading": "new_thread"},
        ],
    )
    r = create(sb, payload)
    assert r.status_code == 200, r.text
    seq = r.json()
    assert seq["status"] == "paused"
    assert "sender_account_id" not in seq
    assert seq["schedule"] == {"ranges": [{"weekday": 7, "start": "08:30:00", "end": "12:00:00"}]}
    assert [s["threading"] for s in seq["steps"]] == [None, None, None, "new_thread"]
    assert seq["steps"][1]["required"] is False
    assert seq["steps"][2]["sms_template_id"] == sms_id
    draft = create(sb, minimal(status="draft", schedule=None)).json()
    assert draft["status"] == "draft" and draft["schedule"] is None


UNSHARED = "tmpl_RouDOc2tGgnwliLPrGDpDIUcqJXsNyTfC9NpKlLF0Ft"
ARCHIVED = "tmpl_p47qYaqu6oVeQgTdRUVUun6M4SpOM4z68oZJ4TZjLpX"
SMS_UNSHARED = "smstmpl_tvGZW3dA7G5srrnpSdFs0DoAbzLJdO5mhtct7xGMexd"
SMS_ARCHIVED = "smstmpl_FGFzlqYJCEJ1eLy2wuVEUrtsqaaPWIFrnDyebfBVGAR"
SMS_OK = "smstmpl_71JQ1KxplWkUvKD7TBdDT643l8hSBT7sYxnj16xOXZT"
REQUIRED = "This field is required."


def with_step(**step):
    return minimal(steps=[step])


def without(key):
    payload = minimal()
    del payload[key]
    return payload


NOT_INT = "Must be an integer number of seconds."
ONLY_EMAIL_THREADS = "Only email steps can have threading."
CALL_NO_TEMPLATE = "Call steps cannot have a template."


def not_usable(tid, why):
    return [f'Template "{tid}" cannot be used in Workflows because it is {why}.']


@pytest.mark.parametrize(
    ("payload", "field_errors", "errors"),
    [
        (without("name"), {"name": REQUIRED}, []),
        (minimal(name="   "), {"name": REQUIRED}, []),
        (minimal(name=None), {"name": REQUIRED}, []),
        (minimal(name=42), {"name": "Not a valid string."}, []),
        (without("timezone"), {"timezone": REQUIRED}, []),
        (minimal(timezone="Mars/Base"), {"timezone": 'Unknown timezone "Mars/Base".'}, []),
        (minimal(timezone="../etc/x"), {"timezone": 'Unknown timezone "../etc/x".'}, []),
        (minimal(status="archived"), {"status": "Must be one of: active, paused, draft."}, []),
        (without("steps"), {"steps": REQUIRED}, []),
        (minimal(steps=[]), {"steps": "At least one step is required."}, []),
        (minimal(steps={"0": {}}), {"steps": "Must be a list of steps."}, []),
        (minimal(steps=["email"]), {"steps.0": "Must be an object."}, []),
        (
            with_step(step_type="linkedin", delay=0),
            {"steps.0.step_type": "Must be one of: email, call, sms."},
            [],
        ),
        (with_step(step_type="call"), {"steps.0.delay": REQUIRED}, []),
        (with_step(step_type="call", delay=-1), {"steps.0.delay": "Must be at least 0."}, []),
        (with_step(step_type="call", delay="86400"), {"steps.0.delay": NOT_INT}, []),
        (with_step(step_type="call", delay=True), {"steps.0.delay": NOT_INT}, []),
        (with_step(step_type="call", delay=1.5), {"steps.0.delay": NOT_INT}, []),
        (
            with_step(step_type="call", delay=0, required="yes"),
            {"steps.0.required": "Must be a boolean."},
            [],
        ),
        (with_step(step_type="email", delay=0), {"steps.0.email_template_id": REQUIRED}, []),
        (
            with_step(delay=0, email_template_id="tmpl_X"),
            {},
            ['Template "tmpl_X" does not exist.'],
        ),
        (with_step(delay=0, email_template_id=UNSHARED), {}, not_usable(UNSHARED, "not shared")),
        (with_step(delay=0, email_template_id=ARCHIVED), {}, not_usable(ARCHIVED, "archived")),
        (
            with_step(delay=0, email_template_id=INTRO, threading="reply_all"),
            {"steps.0.threading": "Must be one of: new_thread, old_thread."},
            [],
        ),
        (
            with_step(delay=0, email_template_id=INTRO, sms_template_id=SMS_OK),
            {"steps.0.sms_template_id": "Only sms steps can have an SMS template."},
            [],
        ),
        (with_step(step_type="sms", delay=0), {"steps.0.sms_template_id": REQUIRED}, []),
        (
            with_step(step_type="sms", delay=0, sms_template_id="smstmpl_X"),
            {},
            ['Template "smstmpl_X" does not exist.'],
        ),
        (
            with_step(step_type="sms", delay=0, sms_template_id=SMS_UNSHARED),
            {},
            not_usable(SMS_UNSHARED, "not shared"),
        ),
        (
            with_step(step_type="sms", delay=0, sms_template_id=SMS_ARCHIVED),
            {},
            not_usable(SMS_ARCHIVED, "archived"),
        ),
        (
            with_step(step_type="sms", delay=0, sms_template_id=SMS_OK, threading="old_thread"),
            {"steps.0.threading": ONLY_EMAIL_THREADS},
            [],
        ),
        (
            with_step(step_type="call", delay=0, email_template_id=INTRO),
            {"steps.0.email_template_id": CALL_NO_TEMPLATE},
            [],
        ),
        (
            with_step(step_type="call", delay=0, sms_template_id=SMS_OK),
            {"steps.0.sms_template_id": CALL_NO_TEMPLATE},
            [],
        ),
        (
            with_step(step_type="call", delay=0, threading="new_thread"),
            {"steps.0.threading": ONLY_EMAIL_THREADS},
            [],
        ),
        (
            minimal(steps=[{"step_type": "call", "delay": 0}, {"step_type": "call", "delay": -5}]),
            {"steps.1.delay": "Must be at least 0."},
            [],
        ),
    ],
)
def test_create_validation(sb, payload, field_errors, errors):
    r = create(sb, payload)
    assert r.status_code == 400
    assert r.json() == {"errors": errors, "field-errors": field_errors}
    assert sb.sequences == [] and sb.created_payloads == []


@pytest.mark.parametrize(
    ("schedule", "message"),
    [
        ({"ranges": [{"weekday": 0, "start": "09:00", "end": "17:00"}]}, "ranges.0.weekday"),
        ({"ranges": [{"weekday": 8, "start": "09:00", "end": "17:00"}]}, "ranges.0.weekday"),
        ({"ranges": [{"weekday": "1", "start": "09:00", "end": "17:00"}]}, "ranges.0.weekday"),
        ({"ranges": [{"weekday": True, "start": "09:00", "end": "17:00"}]}, "ranges.0.weekday"),
        ({"ranges": [{"weekday": 1, "start": "9:00", "end": "17:00"}]}, "ranges.0.start"),
        ({"ranges": [{"weekday": 1, "start": "09:00", "end": "24:00"}]}, "ranges.0.end"),
        ({"ranges": [{"weekday": 1, "start": "09:00"}]}, "ranges.0.end"),
        ({"ranges": [{"weekday": 1, "start": "17:00", "end": "09:00"}]}, "start must be before"),
        ({"ranges": [{"weekday": 1, "start": "09:00", "end": "09:00:00"}]}, "start must be before"),
        ({"ranges": ["Mon 9-5"]}, "ranges.0"),
        ({"weekdays": [1, 2]}, "ranges"),
        ("9-5", "ranges"),
    ],
)
def test_create_schedule_validation(sb, schedule, message):
    r = create(sb, minimal(schedule=schedule))
    assert r.status_code == 400
    assert set(r.json()["field-errors"]) == {"schedule"}
    assert message in r.json()["field-errors"]["schedule"]
    assert sb.sequences == []


def test_create_reports_all_problems_at_once(sb):
    payload = {"steps": [{"step_type": "email", "delay": -1, "email_template_id": UNSHARED}]}
    body = create(sb, payload).json()
    assert set(body["field-errors"]) == {"name", "timezone", "steps.0.delay"}
    assert body["errors"] == [
        f'Template "{UNSHARED}" cannot be used in Workflows because it is not shared.'
    ]


@pytest.mark.parametrize("data", [b"{not json", b"[1, 2]", b'"text"', b"", b"\xff\xfe"])
def test_create_rejects_non_object_json(sb, data):
    r = requests.post(
        sb.url + "sequence/", data=data, headers={"Content-Type": "application/json"}, auth=AUTH
    )
    assert r.status_code == 400
    assert r.json() == {"error": "Invalid JSON"}
    assert sb.sequences == []


# --- update, delete, list ----------------------------------------------------------------------


def put(sb, seq_id, payload):
    return requests.put(sb.url + f"sequence/{seq_id}/", json=payload, auth=AUTH)


def test_put_patches_only_given_fields(sb):
    seq = create(sb).json()
    time.sleep(0.001)
    r = put(sb, seq["id"], {"name": "Renamed", "status": "paused"})
    assert r.status_code == 200
    updated = r.json()
    assert updated["name"] == "Renamed" and updated["status"] == "paused"
    assert updated["steps"] == seq["steps"]
    assert updated["schedule"] == seq["schedule"] and updated["timezone"] == seq["timezone"]
    assert updated["date_created"] == seq["date_created"]
    assert updated["date_updated"] > seq["date_updated"]
    assert sb.sequences == [updated]
    cleared = put(sb, seq["id"], {"schedule": None}).json()
    assert cleared["schedule"] is None and cleared["name"] == "Renamed"


def test_put_steps_replace_semantics(sb):
    seq = create(sb).json()
    call, email1, email2 = seq["steps"]
    r = put(
        sb,
        seq["id"],
        {
            "steps": [
                {"id": email2["id"], "delay": 3600},  # moved first, delay changed
                {"id": call["id"]},  # kept unchanged
                {"step_type": "sms", "delay": 60, "sms_template_id": SMS_OK},  # new
                # email1 left out -> deleted
            ]
        },
    )
    assert r.status_code == 200, r.text
    steps = r.json()["steps"]
    assert [s["id"] for s in steps[:2]] == [email2["id"], call["id"]]
    assert steps[0]["delay"] == 3600 and steps[0]["email_template_id"] == FOLLOW_UP
    assert steps[0]["date_updated"] > email2["date_updated"]
    assert steps[1] == call
    assert STEP_ID.fullmatch(steps[2]["id"])
    assert steps[2]["id"] not in {s["id"] for s in seq["steps"]}
    assert steps[2]["step_type"] == "sms" and steps[2]["required"] is True
    assert email1["id"] not in {s["id"] for s in steps}
    assert requests.get(sb.url + f"sequence/{seq['id']}/", auth=AUTH).json()["steps"] == steps


def test_put_id_only_steps_keep_everything(sb):
    seq = create(sb).json()
    r = put(sb, seq["id"], {"steps": [{"id": s["id"]} for s in seq["steps"]]})
    assert r.json()["steps"] == seq["steps"]


def test_put_changing_step_type_drops_old_template(sb):
    seq = create(sb).json()
    email_step = seq["steps"][1]
    steps = [{"id": email_step["id"], "step_type": "call"}]
    r = put(sb, seq["id"], {"steps": steps})
    assert r.status_code == 200, r.text
    assert r.json()["steps"][0]["email_template_id"] is None
    assert r.json()["steps"][0]["threading"] is None


def test_put_rejects_foreign_or_duplicate_step_ids_and_changes_nothing(sb):
    first = create(sb).json()
    other = create(sb).json()
    foreign = other["steps"][0]["id"]
    r = put(sb, first["id"], {"name": "X", "steps": [{"id": foreign}]})
    assert r.status_code == 400
    assert r.json()["field-errors"] == {
        "steps.0.id": f'Step "{foreign}" does not belong to this sequence.'
    }
    twice = [{"id": first["steps"][0]["id"]}, {"id": first["steps"][0]["id"]}]
    assert put(sb, first["id"], {"steps": twice}).status_code == 400
    assert sb.sequences[0] == first


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"name": ""}, "name"),
        ({"timezone": None}, "timezone"),
        ({"timezone": "Not/AZone"}, "timezone"),
        ({"status": "deleted"}, "status"),
        ({"schedule": {"ranges": [{"weekday": 9, "start": "09:00", "end": "10:00"}]}}, "schedule"),
        ({"steps": []}, "steps"),
        ({"steps": [{"step_type": "call"}]}, "steps.0.delay"),
    ],
)
def test_put_validates_given_fields(sb, payload, field):
    seq = create(sb).json()
    r = put(sb, seq["id"], payload)
    assert r.status_code == 400
    assert field in r.json()["field-errors"]
    assert sb.sequences == [seq]


def test_put_template_rules_apply_to_sent_templates(sb):
    seq = create(sb).json()
    email_step = seq["steps"][1]
    r = put(sb, seq["id"], {"steps": [{"id": email_step["id"], "email_template_id": UNSHARED}]})
    assert r.status_code == 400
    assert "not shared" in r.json()["errors"][0]
    # A kept step whose template was unshared later stays valid when kept by id.
    sb.update_template(INTRO, is_shared=False)
    assert put(sb, seq["id"], {"steps": [{"id": email_step["id"]}]}).status_code == 200


def test_put_unknown_and_invalid_json(sb):
    assert put(sb, "seq_missing", {"name": "x"}).status_code == 404
    seq = create(sb).json()
    r = requests.put(sb.url + f"sequence/{seq['id']}/", data="nope", auth=AUTH)
    assert r.status_code == 400 and r.json() == {"error": "Invalid JSON"}


def test_delete(sb):
    keep = create(sb).json()
    gone = create(sb).json()
    r = requests.delete(sb.url + f"sequence/{gone['id']}/", auth=AUTH)
    assert r.status_code == 200 and r.json() == {}
    assert requests.get(sb.url + f"sequence/{gone['id']}/", auth=AUTH).status_code == 404
    assert requests.delete(sb.url + f"sequence/{gone['id']}/", auth=AUTH).status_code == 404
    assert [s["id"] for s in sb.sequences] == [keep["id"]]


def test_list_sequences_paginates_in_creation_order(sb):
    ids = [create(sb, minimal(name=f"Seq {i}")).json()["id"] for i in range(5)]
    seen, skip = [], 0
    while True:
        page = requests.get(
            sb.url + "sequence/", params={"_skip": skip, "_limit": 2}, auth=AUTH
        ).json()
        assert len(page["data"]) <= 2
        assert all("steps" in s for s in page["data"])
        seen += [s["id"] for s in page["data"]]
        skip += len(page["data"])
        if not page["has_more"]:
            break
    assert seen == ids
    slim = requests.get(sb.url + "sequence/", params={"_fields": "id,name"}, auth=AUTH).json()
    assert slim["data"][0] == {"id": ids[0], "name": "Seq 0"}
    assert requests.get(sb.url + "sequence/?_limit=1000", auth=AUTH).status_code == 400


def test_concurrent_creates_are_all_stored(sb):
    results = []

    def worker(i):
        results.append(create(sb, minimal(name=f"Parallel {i}")).status_code)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "a create never returned"
    assert results == [200] * 20
    assert len({s["id"] for s in sb.sequences}) == 20
    assert len(sb.created_payloads) == 20


# --- faults ------------------------------------------------------------------------------------


def test_fault_rate_limit(sb):
    sb.inject("rate_limit", method="POST", reset=2)
    r = create(sb)
    assert r.status_code == 429
    assert RATE_HEADER.fullmatch(r.headers["RateLimit"]).groups()[1:] == ("0", "2")
    assert r.headers["Retry-After"] == "2"
    error = r.json()["error"]
    assert error["message"] == "API call count exceeded for this 10 second window"
    assert error["rate_reset"] == 2 and error["rate_limit"] == 100 and error["rate_window"] == 10
    assert sb.sequences == []
    assert create(sb).status_code == 200  # consumed
    sb.inject("rate_limit")
    assert RATE_HEADER.fullmatch(create(sb).headers["RateLimit"]).group(3) == "1"


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_fault_error(sb, status):
    sb.inject("error", status=status)
    r = create(sb)
    assert r.status_code == status
    assert r.json() == {"error": "Internal error"}
    assert sb.sequences == [] and sb.created_payloads == []
    assert create(sb).status_code == 200


def test_fault_slow_times_out_client_but_still_creates(sb):
    sb.inject("slow", method="POST", delay=0.5)
    with pytest.raises(requests.exceptions.ReadTimeout):
        create(sb, timeout=(5, 0.1))  # connect may be slow on a busy machine; the read may not
    wait_until(lambda: sb.sequences, "the slow request to finish and store the sequence")
    assert len(sb.sequences) == 1
    assert sb.created_payloads == [DOC_EXAMPLE]


def test_a_slow_request_still_in_flight_at_reset_writes_nothing_after_it():
    # The test that sent it is over; the next one starts from reset() and must not find a
    # sequence appearing out of nowhere a moment later. Its own sandbox, so the only connection
    # is the slow request's: when that connection is gone, its handler has finished.
    with Sandbox(api_keys={KEY}) as sb:
        sb.inject("slow", method="POST", delay=0.3)
        with pytest.raises(requests.exceptions.ReadTimeout):
            create(sb, timeout=(5, 0.05))
        wait_until(lambda: sb.requests, "the slow request to arrive")
        sb.reset()
        wait_until(lambda: not handlers_running(sb), "the slow request's handler to finish")
        assert sb.sequences == [] and sb.created_payloads == []


def test_fault_slow_then_normal_response(sb):
    sb.inject("slow", path="/me/", delay=0.2)
    started = time.monotonic()
    r = requests.get(sb.url + "me/", auth=AUTH)
    assert r.status_code == 200 and time.monotonic() - started >= 0.2


def test_fault_drop_does_not_process(sb):
    sb.inject("drop", method="POST")
    with pytest.raises(requests.exceptions.ConnectionError):
        create(sb)
    assert sb.sequences == [] and sb.created_payloads == []
    assert create(sb).status_code == 200


def test_fault_commit_then_drop_processes(sb):
    sb.inject("commit_then_drop", method="POST")
    with pytest.raises(requests.exceptions.ConnectionError):
        create(sb)
    assert len(sb.sequences) == 1
    assert sb.created_payloads == [DOC_EXAMPLE]


def test_fault_malformed(sb):
    sb.inject("malformed", method="GET", path="/email_template/")
    r = requests.get(sb.url + "email_template/", auth=AUTH)
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/json"
    assert r.text == '{"data": ['
    with pytest.raises(ValueError):
        r.json()


def test_fault_unauthorized(sb):
    sb.inject("unauthorized", path="/me/")
    r = requests.get(sb.url + "me/", auth=AUTH)
    assert r.status_code == 401 and r.json() == {"error": "Invalid API key"}
    assert requests.get(sb.url + "me/", auth=AUTH).status_code == 200


ECHOED_HEADER = "Basic " + base64.b64encode(f"{KEY}:".encode()).decode()


@pytest.mark.parametrize("status", [400, 402, 403, 404, 418])
def test_fault_echo_auth_repeats_the_authorization_header_in_an_error(sb, status):
    sb.inject("echo_auth", method="POST", status=status)
    r = create(sb)
    assert r.status_code == status
    body = r.json()
    assert ECHOED_HEADER in body["error"]
    assert body["echo"]["authorization"] == ECHOED_HEADER
    assert body["echo"]["credentials"] == f"{KEY}:"
    assert body["echo"]["url_encoded"] == quote(ECHOED_HEADER, safe="")
    assert sb.sequences == []  # answered before anything was handled
    assert create(sb).status_code == 200


def test_fault_echo_auth_200_handles_the_request_and_adds_the_echo(sb):
    sb.inject("echo_auth", method="POST", status=200)
    r = create(sb)
    assert r.status_code == 200
    assert r.json()["echo"]["authorization"] == ECHOED_HEADER
    assert ECHOED_HEADER in r.json()["name"]
    assert len(sb.sequences) == 1 and sb.sequences[0]["name"] == DOC_EXAMPLE["name"]
    sb.inject("echo_auth", method="GET", path="/sequence/", status=200)
    listed = requests.get(sb.url + "sequence/", auth=AUTH).json()
    assert listed["data"][0]["echo"]["credentials"] == f"{KEY}:"
    with pytest.raises(ValueError):
        sb.inject("echo_auth", status=500)


def test_fault_matching_method_path_times_and_before_auth(sb):
    sb.inject("error", method="POST", path="/sequence/", times=2, status=503)
    assert requests.get(sb.url + "sequence/", auth=AUTH).status_code == 200  # method differs
    assert requests.get(sb.url + "me/", auth=AUTH).status_code == 200  # path differs
    assert requests.post(sb.url + "sequence/", json={}).status_code == 503  # before auth
    assert create(sb).status_code == 503
    assert sb.faults == []
    assert create(sb).status_code == 200
    seq_id = sb.sequences[0]["id"]
    sb.inject("error", path=f"/sequence/{seq_id}/")  # prefix of one object
    assert requests.get(sb.url + "sequence/", auth=AUTH).status_code == 200
    assert requests.get(sb.url + f"sequence/{seq_id}/", auth=AUTH).status_code == 500
    sb.inject("error", times=5)
    sb.clear_faults()
    assert create(sb).status_code == 200


def test_inject_validates_arguments(sb):
    with pytest.raises(ValueError):
        sb.inject("explode")
    with pytest.raises(ValueError):
        sb.inject("error", status=404)
    with pytest.raises(ValueError):
        sb.inject("drop", times=0)
    with pytest.raises(ValueError):
        sb.inject("drop", delay=1)
    fault = sb.inject(Fault("slow", method="get", path="/api/v1/me/"))
    assert (fault.method, fault.path, fault.delay) == ("GET", "/me/", 1.0)


# --- rate limiting -----------------------------------------------------------------------------


def test_rate_limit_header_on_every_response(sb):
    responses = [
        requests.get(sb.url + "me/", auth=AUTH),
        requests.get(sb.url + "me/", auth=AUTH),
        requests.get(sb.url + "sequence/nope/", auth=AUTH),
        requests.delete(sb.url + "me/", auth=AUTH),
        create(sb, {}),
        requests.get(sb.url + "me/"),
    ]
    for r in responses:
        assert RATE_HEADER.fullmatch(r.headers["RateLimit"]), r.status_code
    first, second = (RATE_HEADER.fullmatch(r.headers["RateLimit"]) for r in responses[:2])
    assert first.groups()[:2] == ("100", "99") and second.group(2) == "98"
    assert 1 <= int(first.group(3)) <= 10


def test_real_rate_limit_per_key_and_group(monkeypatch):
    from closesandbox import server

    clock = FakeClock(1000.0).install(monkeypatch, server)
    with Sandbox(api_keys={KEY, "other"}, rate_limit=(3, 1)) as sb:
        for _ in range(3):
            assert requests.post(sb.url + "sequence/", json=minimal(), auth=AUTH).ok
        r = requests.post(sb.url + "sequence/", json=minimal(), auth=AUTH)
        assert r.status_code == 429
        limit, remaining, reset = RATE_HEADER.fullmatch(r.headers["RateLimit"]).groups()
        assert (limit, remaining, reset) == ("3", "0", "1")
        assert r.headers["Retry-After"] == "1"
        assert r.json()["error"] == {
            "message": "API call count exceeded for this 1 second window",
            "rate_reset": 1,
            "rate_limit": 3,
            "rate_window": 1,
        }
        assert len(sb.sequences) == 3  # the 429 was not processed
        assert requests.get(sb.url + "email_template/", auth=AUTH).ok  # other group
        assert requests.get(sb.url + "sequence/", auth=("other", "")).ok  # other key
        clock.sleep(0.75)
        assert requests.post(sb.url + "sequence/", json=minimal(), auth=AUTH).status_code == 429
        clock.sleep(0.25)
        assert requests.get(sb.url + "sequence/", auth=AUTH).ok  # new window
        sb.reset()


def test_a_window_just_begun_announces_its_whole_length_never_more(monkeypatch):
    # At such a clock reading (start + 60) - now rounds to 60.000000000000455; the sandbox
    # announced reset=61 for a 60 s window, and a client told to pause 61 s reported 60.99.
    from closesandbox import server

    clock = FakeClock(4060.123456789).install(monkeypatch, server)
    with Sandbox(rate_limit=(1, 60)) as sb:
        first = requests.get(sb.url + "me/", auth=AUTH, timeout=10)
        assert RATE_HEADER.fullmatch(first.headers["RateLimit"]).groups() == ("1", "0", "60")
        clock.sleep(0.5)
        refused = requests.get(sb.url + "me/", auth=AUTH, timeout=10)
        assert refused.status_code == 429
        assert RATE_HEADER.fullmatch(refused.headers["RateLimit"]).group(3) == "60"  # ceil 59.5
        clock.sleep(60)
        assert requests.get(sb.url + "me/", auth=AUTH, timeout=10).ok


def test_reset_clears_rate_limit_counters():
    with Sandbox(rate_limit=(1, 30)) as sb:
        assert requests.get(sb.url + "me/", auth=AUTH).ok
        assert requests.get(sb.url + "me/", auth=AUTH).status_code == 429
        sb.reset()
        assert requests.get(sb.url + "me/", auth=AUTH).ok


# --- inspection, reset, control endpoints ------------------------------------------------------


def test_request_log_never_keeps_credentials(sb):
    requests.get(sb.url + "email_template/?_limit=5&is_shared=true", auth=AUTH)
    create(sb)
    requests.get(sb.base_url + "/_sandbox/state")  # control calls are not logged
    log = sb.requests
    query = {"_limit": "5", "is_shared": "true"}
    assert log == [
        RecordedRequest("GET", "/api/v1/email_template/", query, None),
        RecordedRequest("POST", "/api/v1/sequence/", {}, DOC_EXAMPLE),
    ]
    assert KEY not in repr(log)
    log[1].body["name"] = "mutated"
    assert sb.requests[1].body["name"] == "My Sequence"


def test_returned_state_is_a_copy(sb):
    create(sb)
    sb.sequences[0]["name"] = "mutated"
    sb.email_templates[0]["name"] = "mutated"
    sb.created_payloads[0]["name"] = "mutated"
    assert sb.sequences[0]["name"] == "My Sequence"
    assert sb.email_templates[0]["name"] != "mutated"
    assert sb.created_payloads[0]["name"] == "My Sequence"


def test_update_template_and_reset(sb):
    archived = sb.update_template(INTRO, is_archived=True)
    assert archived["is_archived"] is True
    assert "archived" in create(sb).json()["errors"][0]
    sb.update_template(SMS_OK, status="archived")
    assert sms(sb, "Quick SMS check-in")["status"] == "archived"
    with pytest.raises(KeyError):
        sb.update_template("tmpl_missing", is_shared=False)
    with pytest.raises(ValueError):
        sb.update_template(INTRO, is_sharde=False)
    sb.add_email_templates(10)
    sb.inject("error", times=3)
    sb.reset()
    assert tmpl(sb, "Intro — quick question")["is_archived"] is False
    assert sms(sb, "Quick SMS check-in")["status"] == "active"
    assert len(sb.email_templates) < 12
    assert sb.faults == [] and sb.requests == [] and sb.sequences == []
    assert create(sb).status_code == 200


def test_control_endpoints(sb):
    base = sb.base_url + "/_sandbox/"
    r = requests.post(base + "faults", json={"kind": "error", "method": "POST", "status": 502})
    assert r.status_code == 200 and r.json()["fault"]["status"] == 502
    assert create(sb).status_code == 502
    assert requests.post(base + "faults", json={"kind": "explode"}).status_code == 400
    assert requests.post(base + "faults", json={"kind": "drop", "bogus": 1}).status_code == 400
    requests.post(base + "faults", json={"kind": "drop"})
    assert requests.delete(base + "faults").ok and sb.faults == []
    seq = create(sb).json()
    state = requests.get(base + "state").json()
    assert state["sequences"] == [seq]
    assert state["created_payloads"] == [DOC_EXAMPLE]
    assert [(r["method"], r["path"]) for r in state["requests"]] == [
        ("POST", "/api/v1/sequence/"),
        ("POST", "/api/v1/sequence/"),
    ]
    assert requests.post(base + "reset").json() == {"ok": True}
    assert requests.get(base + "state").json()["sequences"] == []
    assert requests.get(base + "nothing").status_code == 404


def test_sequence_html_page_is_escaped(sb):
    payload = minimal(name="<script>alert('x')</script> & Co")
    seq = create(sb, payload).json()
    r = requests.get(sb.base_url + f"/_sandbox/sequence/{seq['id']}")
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/html")
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; Co" in r.text
    assert "<script>" not in r.text
    assert "Intro — quick question" in r.text and "America/New_York" in r.text
    index = requests.get(sb.base_url + "/_sandbox/")
    assert f"/_sandbox/sequence/{seq['id']}" in index.text and "<script>" not in index.text
    missing = requests.get(sb.base_url + "/_sandbox/sequence/seq_<b>")
    assert missing.status_code == 404 and "seq_&lt;b&gt;" in missing.text


# --- state file and CLI ------------------------------------------------------------------------


def test_state_file_persists_sequences_not_faults(tmp_path):
    state = tmp_path / "state.json"
    with Sandbox(state_file=state) as first:
        kept = create(first).json()
        gone = create(first).json()
        put(first, kept["id"], {"name": "Kept"})
        requests.delete(first.url + f"sequence/{gone['id']}/", auth=AUTH)
        first.set_subscription_counts(kept["id"], active=4)
        first.inject("error", times=3)
    assert json.loads(state.read_text())["sequences"][0]["name"] == "Kept"
    with Sandbox(state_file=state) as second:
        assert [s["name"] for s in second.sequences] == ["Kept"]
        assert second.faults == []
        fetched = requests.get(second.url + f"sequence/{kept['id']}/", auth=AUTH).json()
        assert fetched["subscription_counts_by_status"]["active"] == 4
        second.reset()
    assert json.loads(state.read_text())["sequences"] == []


def test_unreadable_state_file_starts_empty(tmp_path, capsys):
    state = tmp_path / "state.json"
    state.write_text("{broken")
    with Sandbox(state_file=state) as sb:
        assert sb.sequences == []
    assert "state file" in capsys.readouterr().err


def read_line(stream, timeout):
    """stream.readline(), or None when no line came within `timeout` seconds (the reading
    thread then ends when the process does and its pipe closes)."""
    lines = queue.Queue()
    threading.Thread(target=lambda: lines.put(stream.readline()), daemon=True).start()
    try:
        return lines.get(timeout=timeout)
    except queue.Empty:
        return None


def start_cli(*args):
    proc = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
        [sys.executable, "-m", "closesandbox", "--port", "0", "--api-key", KEY, *args],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    line = read_line(proc.stdout, timeout=30)
    if line is None:
        proc.kill()
        pytest.fail(f"the sandbox CLI printed no line in 30 s: {proc.communicate(timeout=10)}")
    match = re.fullmatch(r"CLOSE_SANDBOX_URL=(http://127\.0\.0\.1:\d+/api/v1/)\n", line)
    assert match, (line, proc.stderr.read() if proc.poll() is not None else "")
    return proc, match.group(1)


def stop_cli(proc, sig=signal.SIGTERM):
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0
    assert "Traceback" not in err
    return out, err


def test_cli_prints_url_serves_and_exits_cleanly(tmp_path):
    state = tmp_path / "cli-state.json"
    proc, url = start_cli("--state-file", str(state), "--api-key", "second")
    try:
        assert requests.get(url + "me/", auth=("second", "")).ok
        created = requests.post(url + "sequence/", json=DOC_EXAMPLE, auth=AUTH).json()
        assert requests.get(url + "me/", auth=("wrong", "")).status_code == 401
    finally:
        out, _ = stop_cli(proc)
    assert "CLOSE_SANDBOX_URL=" not in out  # exactly one URL line (the first was read above)

    proc, url = start_cli("--state-file", str(state), "--quiet")
    try:
        listed = requests.get(url + "sequence/", auth=AUTH).json()["data"]
        assert [s["id"] for s in listed] == [created["id"]]
    finally:
        stop_cli(proc, signal.SIGINT)


def test_cli_requires_an_api_key():
    result = subprocess.run(  # noqa: S603 - fixed argv, no shell
        [sys.executable, "-m", "closesandbox", "--port", "0"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=10,
    )
    assert result.returncode == 2 and "--api-key" in result.stderr


def test_stop_closes_kept_alive_connections():
    sb = Sandbox().start()
    session = requests.Session()
    assert session.get(sb.url + "me/", auth=AUTH).ok
    url = sb.url
    sb.stop()
    with pytest.raises(requests.exceptions.ConnectionError):
        session.get(url + "me/", auth=AUTH, timeout=2)
    sb.stop()  # idempotent
    assert copy.deepcopy(sb.api_keys) == {KEY}


# --- sequences made in Close's UI ------------------------------------------------------------
UI_SEQUENCE = {
    "name": "Built in Close",
    "timezone": "America/New_York",
    "steps": [
        {"step_type": "call", "delay": 0},
        {"step_type": "task", "delay": 3600, "task_text": "Research the account"},
    ],
}


def test_ui_sequence_with_a_task_step_is_listed_like_any_other(sb):
    made = sb.add_ui_sequence(UI_SEQUENCE)

    listed = requests.get(sb.url + "sequence/", auth=AUTH).json()["data"]
    assert [s["id"] for s in listed] == [made["id"]]
    assert listed[0]["steps"][1]["step_type"] == "task"
    assert listed[0]["steps"][1]["task_text"] == "Research the account"


def test_put_keeps_an_operational_step_listed_by_id(sb):
    made = sb.add_ui_sequence(UI_SEQUENCE)
    call_id, task_id = (step["id"] for step in made["steps"])

    response = requests.put(
        sb.url + f"sequence/{made['id']}/",
        json={"steps": [{"id": task_id}, {"id": call_id, "delay": 60}]},
        auth=AUTH,
    )

    assert response.status_code == 200, response.text
    steps = response.json()["steps"]
    assert [(s["id"], s["step_type"]) for s in steps] == [(task_id, "task"), (call_id, "call")]
    assert steps[0]["task_text"] == "Research the account"


def test_put_cannot_change_an_operational_step(sb):
    made = sb.add_ui_sequence(UI_SEQUENCE)
    task_id = made["steps"][1]["id"]

    response = requests.put(
        sb.url + f"sequence/{made['id']}/",
        json={"steps": [{"id": task_id, "delay": 5}]},
        auth=AUTH,
    )

    assert response.status_code == 400
    assert "only be changed in Close's app" in str(response.json()["field-errors"])
    assert sb.sequences[0]["steps"][1]["delay"] == 3600


def test_control_endpoint_sets_subscription_counts(sb):
    made = sb.add_ui_sequence(UI_SEQUENCE)

    response = requests.post(
        sb.base_url + "/_sandbox/subscriptions", json={"sequence_id": made["id"], "active": 4}
    )
    missing = requests.post(
        sb.base_url + "/_sandbox/subscriptions", json={"sequence_id": "seq_nope", "active": 1}
    )
    bad = requests.post(sb.base_url + "/_sandbox/subscriptions", json={"active": "many"})

    assert response.status_code == 200
    fetched = requests.get(sb.url + f"sequence/{made['id']}/", auth=AUTH).json()
    assert fetched["subscription_counts_by_status"]["active"] == 4
    assert (missing.status_code, bad.status_code) == (404, 400)


def test_close_records_who_made_a_sequence_and_when(sb):
    """What a publish retry matches on besides shape: created_by_id is /me/'s id for sequences
    our key creates; a sequence made in Close's UI may name another user and an older date."""
    me = requests.get(sb.url + "me/", auth=AUTH).json()
    made = create(sb).json()
    assert made["created_by_id"] == me["id"] and NAIVE_TS.fullmatch(made["date_created"])
    other = sb.add_ui_sequence(
        {**minimal(), "created_by_id": "user_other", "date_created": "2024-01-05T10:00:00.000000"}
    )
    listed = {s["id"]: s for s in requests.get(sb.url + "sequence/", auth=AUTH).json()["data"]}
    assert listed[other["id"]]["created_by_id"] == "user_other"
    assert listed[other["id"]]["date_created"] == "2024-01-05T10:00:00.000000"
