"""The sandbox's template writes over real HTTP: Close's rules for email and SMS template
create/update (close-api.md §7), `used_by_sequences`, subscriptions per sequence (§14), faults on
template writes, and drift made in the sandbox's own template page."""

import base64
import re
import time

import pytest
import requests

from closesandbox import Sandbox

KEY = "sandbox-key"
AUTH = (KEY, "")
TIMEOUT = 30
INTRO = "tmpl_00jcushDRuoBBS5sSTUAbNt4dPpBUhlJqQafVfzzRJn"
SMS_OK = "smstmpl_71JQ1KxplWkUvKD7TBdDT643l8hSBT7sYxnj16xOXZT"
USER_ID = "user_N6KhMpzHRCYQHdn4gRNIFNN5JExnsrprKA6ekxM63XA"
COLLEAGUE_ID = "user_bG0ssuYPOqfns8RwHLeZltSdsrnfma8HeTkjjne0wdN"
REQUIRED = "This field is required."
AWARE_TS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00")
EMAIL_KEYS = {
    "id",
    "name",
    "subject",
    "body",
    "is_shared",
    "is_archived",
    "attachments",
    "organization_id",
    "created_by",
    "updated_by",
    "date_created",
    "date_updated",
    "used_by_sequences",
}
SMS_KEYS = (EMAIL_KEYS - {"subject", "body", "is_archived"}) | {"text", "status", "owned_by"}
EMAIL = {
    "name": "Step 1 — Q3 outbound",
    "subject": "Hi {{ contact.first_name }}",
    "body": "<p>Hi</p>",
}
SMS = {"name": "Step 2 — Q3 outbound", "text": "Hi {{ contact.first_name }}"}


@pytest.fixture(scope="module")
def server():
    sandbox = Sandbox(api_keys={KEY}).start()
    yield sandbox
    sandbox.stop()


@pytest.fixture
def sb(server):
    server.reset()
    return server


def post(sb, path, payload, **kwargs):
    return requests.post(sb.url + path, json=payload, auth=AUTH, timeout=TIMEOUT, **kwargs)


def put(sb, path, payload):
    return requests.put(sb.url + path, json=payload, auth=AUTH, timeout=TIMEOUT)


def get(sb, path, **params):
    return requests.get(sb.url + path, params=params, auth=AUTH, timeout=TIMEOUT)


def wait_until(condition, waiting_for, timeout=TIMEOUT):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up after {timeout} s waiting for {waiting_for}")
        time.sleep(0.01)


def make_sequence(sb, email_id=None, sms_id=None, name="Q3 outbound"):
    steps = []
    if email_id:
        steps.append({"step_type": "email", "delay": 0, "email_template_id": email_id})
    if sms_id:
        steps.append({"step_type": "sms", "delay": 60, "sms_template_id": sms_id})
    payload = {"name": name, "timezone": "America/New_York", "steps": steps}
    r = post(sb, "sequence/", payload)
    assert r.status_code == 200, r.text
    return r.json()


# --- email templates ---------------------------------------------------------------------------


def test_email_template_create_is_200_with_the_full_template(sb):
    r = post(sb, "email_template/", EMAIL)
    assert r.status_code == 200
    made = r.json()
    assert set(made) == EMAIL_KEYS
    assert re.fullmatch(r"tmpl_[0-9A-Za-z]{43}", made["id"])
    assert {k: made[k] for k in EMAIL} == EMAIL
    assert made["is_shared"] is False and made["is_archived"] is False  # default false
    assert made["attachments"] == [] and made["used_by_sequences"] == []
    assert made["created_by"] == made["updated_by"] == USER_ID
    assert made["organization_id"].startswith("orga_")
    assert AWARE_TS.fullmatch(made["date_created"]) and made["date_updated"] == made["date_created"]
    assert get(sb, f"email_template/{made['id']}/").json() == made
    assert made["id"] in {t["id"] for t in sb.email_templates}


def test_email_template_create_keeps_shared_and_attachments_and_tolerates_read_only_keys(sb):
    fetched = get(sb, f"email_template/{INTRO}/").json()
    # Close's clone script re-POSTs a fetched template after deleting only id and organization.
    clone = {k: v for k, v in fetched.items() if k not in ("id", "organization_id")}
    attachment = {
        "url": "https://example.com/a.pdf",
        "filename": "a.pdf",
        "content_type": "application/pdf",
        "size": 12,
    }
    r = post(sb, "email_template/", {**clone, "name": "Clone", "attachments": [attachment]})
    assert r.status_code == 200, r.text
    made = r.json()
    assert made["id"] != INTRO and made["name"] == "Clone"
    assert made["is_shared"] is True and made["attachments"] == [attachment]
    assert made["date_created"] != fetched["date_created"]
    assert made["created_by"] == USER_ID


@pytest.mark.parametrize(
    ("payload", "field_errors"),
    [
        ({}, {"name": REQUIRED, "subject": REQUIRED, "body": REQUIRED}),
        ({**EMAIL, "subject": "  "}, {"subject": REQUIRED}),
        ({**EMAIL, "body": ""}, {"body": REQUIRED}),
        ({**EMAIL, "name": None}, {"name": REQUIRED}),
        ({**EMAIL, "name": 7}, {"name": "Not a valid string."}),
        ({**EMAIL, "is_shared": "yes"}, {"is_shared": "Must be a boolean."}),
        ({**EMAIL, "attachments": "a.pdf"}, {"attachments": "Must be a list of attachments."}),
        (
            {**EMAIL, "attachments": [{"url": "ftp://x", "filename": "x", "content_type": "a/b"}]},
            {"attachments.0.url": "Must be an http(s) URL."},
        ),
    ],
)
def test_email_template_create_refuses_with_closes_field_errors(sb, payload, field_errors):
    before = len(sb.email_templates)
    r = post(sb, "email_template/", payload)
    assert r.status_code == 400
    assert r.json() == {"errors": [], "field-errors": field_errors}
    assert len(sb.email_templates) == before


@pytest.mark.parametrize("body", [[], "text", 3])
def test_email_template_create_needs_a_json_object(sb, body):
    assert post(sb, "email_template/", body).status_code == 400
    r = requests.post(sb.url + "email_template/", data=b"{", auth=AUTH, timeout=TIMEOUT)
    assert r.status_code == 400 and r.json() == {"error": "Invalid JSON"}


def test_email_template_put_changes_only_the_keys_sent(sb):
    made = post(sb, "email_template/", EMAIL).json()
    r = put(sb, f"email_template/{made['id']}/", {"subject": "New subject"})
    assert r.status_code == 200
    updated = r.json()
    assert updated["subject"] == "New subject"
    unchanged = {k: v for k, v in made.items() if k not in ("subject", "date_updated")}
    assert {k: updated[k] for k in unchanged} == unchanged
    assert updated["date_updated"] > made["date_updated"]
    shared = put(sb, f"email_template/{made['id']}/", {"is_shared": True}).json()
    assert shared["is_shared"] is True and shared["subject"] == "New subject"
    archived = put(sb, f"email_template/{made['id']}/", {"is_archived": True}).json()
    assert archived["is_archived"] is True
    assert get(sb, f"email_template/{made['id']}/").json() == archived


def test_email_template_put_refuses_bad_types_and_unknown_ids_changing_nothing(sb):
    made = post(sb, "email_template/", EMAIL).json()
    r = put(sb, f"email_template/{made['id']}/", {"subject": 3, "body": "", "is_shared": 1})
    assert r.status_code == 400
    assert r.json()["field-errors"] == {
        "subject": "Not a valid string.",
        "body": REQUIRED,
        "is_shared": "Must be a boolean.",
    }
    assert get(sb, f"email_template/{made['id']}/").json() == made
    missing = put(sb, "email_template/tmpl_nope/", {"subject": "x"})
    assert missing.status_code == 404 and missing.json() == {"error": "Not found"}
    assert put(sb, f"email_template/{made['id']}/", ["x"]).status_code == 400
    assert (
        requests.delete(sb.url + "email_template/", auth=AUTH, timeout=TIMEOUT).status_code == 405
    )


def test_template_names_are_not_unique_and_the_list_finds_both(sb):
    first = post(sb, "email_template/", EMAIL).json()
    second = post(sb, "email_template/", EMAIL).json()
    assert first["id"] != second["id"]
    named = [
        t["id"] for t in get(sb, "email_template/").json()["data"] if t["name"] == EMAIL["name"]
    ]
    assert named == [first["id"], second["id"]]


# --- SMS templates -----------------------------------------------------------------------------


def test_sms_template_create_is_201_active_and_owned(sb):
    r = post(sb, "sms_template/", SMS)
    assert r.status_code == 201
    made = r.json()
    assert set(made) == SMS_KEYS
    assert re.fullmatch(r"smstmpl_[0-9A-Za-z]{43}", made["id"])
    assert made["status"] == "active" and made["owned_by"] == USER_ID
    assert made["is_shared"] is False and made["attachments"] == []
    assert made["text"] == SMS["text"] and made["used_by_sequences"] == []
    assert get(sb, f"sms_template/{made['id']}/").json() == made
    only_name = post(sb, "sms_template/", {"name": "Bare"})
    assert only_name.status_code == 201 and only_name.json()["text"] == ""


@pytest.mark.parametrize(
    ("payload", "field_errors"),
    [
        ({"text": "Hi"}, {"name": REQUIRED}),
        ({**SMS, "subject": "Hi"}, {"subject": "Unknown field."}),  # closed schema
        ({**SMS, "status": "active"}, {"status": "Unknown field."}),  # not on create
        ({**SMS, "id": "smstmpl_x"}, {"id": "Unknown field."}),
        ({**SMS, "text": None}, {"text": "Not a valid string."}),
        ({**SMS, "is_shared": "true"}, {"is_shared": "Must be a boolean."}),
        (
            {**SMS, "attachments": [{"url": "https://x.test/a.png", "filename": "a.png"}]},
            {"attachments.0.content_type": REQUIRED},
        ),
        (
            {
                **SMS,
                "attachments": [
                    {"url": "https://x.test/a", "filename": "a", "content_type": "a/b", "size": 1}
                ],
            },
            {"attachments.0.size": "Unknown field."},
        ),
    ],
)
def test_sms_template_create_refuses(sb, payload, field_errors):
    before = len(sb.sms_templates)
    r = post(sb, "sms_template/", payload)
    assert r.status_code == 400
    assert r.json() == {"errors": [], "field-errors": field_errors}
    assert len(sb.sms_templates) == before


def test_sms_template_put_is_partial_takes_status_and_keeps_a_closed_schema(sb):
    made = post(sb, "sms_template/", {**SMS, "is_shared": True}).json()
    r = put(sb, f"sms_template/{made['id']}/", {"text": "New text"})
    assert r.status_code == 200
    updated = r.json()
    assert updated["text"] == "New text" and updated["name"] == SMS["name"]
    assert updated["is_shared"] is True and updated["date_updated"] > made["date_updated"]
    archived = put(sb, f"sms_template/{made['id']}/", {"status": "archived"}).json()
    assert archived["status"] == "archived" and archived["text"] == "New text"
    refused = put(sb, f"sms_template/{made['id']}/", {"status": "deleted", "subject": "x"})
    assert refused.status_code == 400
    assert refused.json()["field-errors"] == {
        "status": "Must be one of: active, archived.",
        "subject": "Unknown field.",
    }
    assert get(sb, f"sms_template/{made['id']}/").json() == archived
    assert put(sb, "sms_template/smstmpl_nope/", {"text": "x"}).status_code == 404


# --- used_by_sequences -------------------------------------------------------------------------


def test_used_by_sequences_on_every_fetch_create_update_and_list_item(sb):
    email = post(sb, "email_template/", {**EMAIL, "is_shared": True}).json()
    sms = post(sb, "sms_template/", {**SMS, "is_shared": True}).json()
    first = make_sequence(sb, email["id"], sms["id"], name="First")
    second = make_sequence(sb, email["id"], name="Second")
    both = [{"id": first["id"], "name": "First"}, {"id": second["id"], "name": "Second"}]

    assert get(sb, f"email_template/{email['id']}/").json()["used_by_sequences"] == both
    assert (
        put(sb, f"email_template/{email['id']}/", {"body": "<p>x</p>"}).json()["used_by_sequences"]
        == both
    )
    listed = {t["id"]: t for t in get(sb, "email_template/").json()["data"]}
    assert listed[email["id"]]["used_by_sequences"] == both
    assert listed[INTRO]["used_by_sequences"] == []

    only_first = [{"id": first["id"], "name": "First"}]
    assert get(sb, f"sms_template/{sms['id']}/").json()["used_by_sequences"] == only_first
    assert put(sb, f"sms_template/{sms['id']}/", {"text": "y"}).json()["used_by_sequences"] == (
        only_first
    )
    sms_listed = {t["id"]: t for t in get(sb, "sms_template/").json()["data"]}
    assert sms_listed[sms["id"]]["used_by_sequences"] == only_first
    assert sb.used_by_sequences(email["id"]) == both

    # A sequence using a template in two steps is listed once; deleting it drops it.
    requests.delete(sb.url + f"sequence/{second['id']}/", auth=AUTH, timeout=TIMEOUT)
    assert get(sb, f"email_template/{email['id']}/").json()["used_by_sequences"] == only_first
    fields = get(sb, "email_template/", _fields="id,used_by_sequences").json()["data"][0]
    assert set(fields) == {"id", "used_by_sequences"}


def test_fetch_accepts_include_embedded(sb):
    r = get(sb, f"email_template/{INTRO}/", include_embedded="true")
    assert r.status_code == 200 and r.json()["id"] == INTRO
    assert get(sb, f"sms_template/{SMS_OK}/", include_embedded="false").status_code == 200
    assert get(sb, f"email_template/{INTRO}/", include_embedded="often").status_code == 400


# --- subscriptions -----------------------------------------------------------------------------


def test_sequence_subscriptions_page_through_the_counts(sb):
    seq = make_sequence(sb, INTRO)
    other = make_sequence(sb, INTRO, name="Other")
    sb.set_subscription_counts(seq["id"], active=120, paused=3, finished=5, goal=1, error=2)
    sb.set_subscription_counts(other["id"], active=1)
    items, skip = [], 0
    while True:
        page = get(sb, "sequence_subscription/", sequence_id=seq["id"], _skip=skip).json()
        items += page["data"]
        skip += len(page["data"])
        if not page["has_more"]:
            break
    assert len(items) == 131 and len({i["id"] for i in items}) == 131
    statuses = [i["status"] for i in items]
    assert {s: statuses.count(s) for s in set(statuses)} == {
        "active": 120,
        "paused": 3,
        "finished": 5,
        "goal": 1,
        "error": 2,
    }
    item = items[0]
    assert item["id"].startswith("sub_") and item["sequence_id"] == seq["id"]
    assert item["contact_id"].startswith("cont_") and item["lead_id"].startswith("lead_")
    assert {"contact_email", "sender_email", "start_date", "status_reason"} <= set(item)
    # Stable: asking again gives the same items.
    again = get(sb, "sequence_subscription/", sequence_id=seq["id"], _limit=1).json()
    assert again["data"] == [item] and again["has_more"] is True
    by_contact = get(sb, "sequence_subscription/", contact_id=item["contact_id"]).json()
    assert by_contact == {"data": [item], "has_more": False}
    trimmed = get(sb, "sequence_subscription/", sequence_id=seq["id"], _fields="id,status")
    assert set(trimmed.json()["data"][0]) == {"id", "status"}


def test_sequence_subscriptions_need_a_filter_and_are_empty_without_counts(sb):
    r = get(sb, "sequence_subscription/")
    assert r.status_code == 400 and "sequence_id" in r.json()["error"]
    seq = make_sequence(sb, INTRO)
    assert get(sb, "sequence_subscription/", sequence_id=seq["id"]).json() == {
        "data": [],
        "has_more": False,
    }
    assert get(sb, "sequence_subscription/", sequence_id="seq_nope").json()["data"] == []


def test_given_contacts_can_be_enrolled_beside_the_counts(sb):
    seq = make_sequence(sb, INTRO)
    sb.set_subscription_counts(seq["id"], active=2)
    given = sb.add_subscription(
        seq["id"], contact_id="cont_given", lead_id="lead_given", status="paused", email="a@b.test"
    )
    assert given["id"].startswith("sub_") and given["status"] == "paused"
    listed = get(sb, "sequence_subscription/", sequence_id=seq["id"]).json()["data"]
    assert [i["status"] for i in listed] == ["active", "active", "paused"]
    assert listed[-1] == given
    assert get(sb, "sequence_subscription/", contact_id="cont_given").json()["data"] == [given]
    assert get(sb, "sequence_subscription/", lead_id="lead_given").json()["data"] == [given]
    counts = get(sb, f"sequence/{seq['id']}/").json()["subscription_counts_by_status"]
    assert counts["active"] == 2 and counts["paused"] == 1
    with pytest.raises(KeyError):
        sb.add_subscription("seq_nope", contact_id="c", lead_id="l")
    with pytest.raises(ValueError):
        sb.add_subscription(seq["id"], contact_id="c", lead_id="l", status="gone")
    requests.delete(sb.url + f"sequence/{seq['id']}/", auth=AUTH, timeout=TIMEOUT)
    assert get(sb, "sequence_subscription/", contact_id="cont_given").json()["data"] == []


# --- faults on template writes -----------------------------------------------------------------

WRITES = [
    ("POST", "/email_template/", lambda sb: ("email_template/", EMAIL), 200),
    ("POST", "/sms_template/", lambda sb: ("sms_template/", SMS), 201),
    ("PUT", "/email_template/", lambda sb: (f"email_template/{INTRO}/", {"subject": "S"}), 200),
    ("PUT", "/sms_template/", lambda sb: (f"sms_template/{SMS_OK}/", {"text": "T"}), 200),
]
WRITE_IDS = ["create-email", "create-sms", "update-email", "update-sms"]


def send(sb, method, target, **kwargs):
    path, payload = target(sb)
    return requests.request(
        method, sb.url + path, json=payload, auth=AUTH, timeout=kwargs.pop("timeout", TIMEOUT)
    )


def snapshot(sb):
    return sb.email_templates, sb.sms_templates


@pytest.mark.parametrize(("method", "prefix", "target", "ok"), WRITES, ids=WRITE_IDS)
def test_rate_limit_error_malformed_unauthorized_answer_without_writing(
    sb, method, prefix, target, ok
):
    before = snapshot(sb)
    sb.inject("rate_limit", method=method, path=prefix, reset=4)
    r = send(sb, method, target)
    assert r.status_code == 429 and r.headers["Retry-After"] == "4"
    for status in (500, 502, 503, 504):
        sb.inject("error", method=method, path=prefix, status=status)
        assert send(sb, method, target).status_code == status
    sb.inject("unauthorized", method=method, path=prefix)
    assert send(sb, method, target).status_code == 401
    assert snapshot(sb) == before
    sb.inject("malformed", method=method, path=prefix)
    malformed = send(sb, method, target)
    assert malformed.status_code == 200 and malformed.text == '{"data": ['
    assert snapshot(sb) == before  # malformed answers before handling
    assert send(sb, method, target).status_code == ok  # every fault was used up


@pytest.mark.parametrize(("method", "prefix", "target", "ok"), WRITES, ids=WRITE_IDS)
def test_drop_writes_nothing_and_commit_then_drop_writes(sb, method, prefix, target, ok):
    before = snapshot(sb)
    sb.inject("drop", method=method, path=prefix)
    with pytest.raises(requests.ConnectionError):
        send(sb, method, target)
    assert snapshot(sb) == before
    sb.inject("commit_then_drop", method=method, path=prefix)
    with pytest.raises(requests.ConnectionError):
        send(sb, method, target)
    assert snapshot(sb) != before  # Close did act on it


@pytest.mark.parametrize(("method", "prefix", "target", "ok"), WRITES, ids=WRITE_IDS)
def test_slow_write_times_out_the_client_and_still_writes(sb, method, prefix, target, ok):
    before = snapshot(sb)
    sb.inject("slow", method=method, path=prefix, delay=0.5)
    with pytest.raises(requests.exceptions.ReadTimeout):
        send(sb, method, target, timeout=(5, 0.1))
    wait_until(lambda: snapshot(sb) != before, "the slow write to land")


@pytest.mark.parametrize(("method", "prefix", "target", "ok"), WRITES, ids=WRITE_IDS)
def test_echo_auth_on_template_writes(sb, method, prefix, target, ok):
    header = "Basic " + base64.b64encode(f"{KEY}:".encode()).decode()
    before = snapshot(sb)
    sb.inject("echo_auth", method=method, path=prefix, status=400)
    refused = send(sb, method, target)
    assert refused.status_code == 400 and refused.json()["echo"]["authorization"] == header
    assert snapshot(sb) == before
    sb.inject("echo_auth", method=method, path=prefix, status=200)
    handled = send(sb, method, target)
    assert handled.status_code == ok  # handled normally, 201 stays 201
    assert header in handled.json()["name"]
    assert snapshot(sb) != before


def test_template_writes_count_in_their_own_rate_groups():
    with Sandbox(api_keys={KEY}, rate_limit=(2, 60)) as tight:
        seeded = len(tight.email_templates)
        for _ in range(2):
            assert post(tight, "email_template/", EMAIL).ok
        assert post(tight, "email_template/", EMAIL).status_code == 429
        assert put(tight, f"email_template/{INTRO}/", {"subject": "x"}).status_code == 429
        assert post(tight, "sms_template/", SMS).status_code == 201  # another group
        assert get(tight, "sequence/").ok
        assert get(tight, "sequence_subscription/", sequence_id="seq_x").ok
        assert len(tight.email_templates) == seeded + 2


# --- drift: someone edits a template in Close (the sandbox's template page) ----------------------

WEBINAR = "tmpl_0gMIs4xwhr0jMypNPulMqlXC94Y9wgT7Z5giUb3BBjL"  # its body holds <script> on purpose


def page_url(sb, template_id):
    return f"{sb.base_url}/_sandbox/template/{template_id}"


def post_form(sb, template_id, data, **headers):
    headers.setdefault("Origin", sb.base_url)  # what a browser sends with the page's own form
    return requests.post(
        page_url(sb, template_id),
        data=data,
        headers=headers,
        allow_redirects=False,
        timeout=TIMEOUT,
    )


def fetched(sb, template_id):
    kind = "email_template" if template_id.startswith("tmpl_") else "sms_template"
    return get(sb, f"{kind}/{template_id}/").json()


def test_template_pages_list_and_show_templates_escaped(sb):
    index = requests.get(f"{sb.base_url}/_sandbox/templates", timeout=TIMEOUT)
    assert index.status_code == 200 and index.headers["Content-Type"].startswith("text/html")
    assert f'href="/_sandbox/template/{INTRO}"' in index.text
    assert f'href="/_sandbox/template/{SMS_OK}"' in index.text
    assert "Q1 promo — 20% off (expired)" in index.text and "archived" in index.text

    r = requests.get(page_url(sb, WEBINAR), timeout=TIMEOUT)
    assert r.status_code == 200
    assert "<script>" not in r.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in r.text
    for label in ('for="tf-name">Name<', 'for="tf-subject">Subject<', 'for="tf-body">Body<'):
        assert label in r.text
    assert 'type="submit">Save in Close<' in r.text
    assert f'action="/_sandbox/template/{WEBINAR}"' in r.text
    sms = requests.get(page_url(sb, SMS_OK), timeout=TIMEOUT).text
    assert 'for="tf-text">Text<' in sms and "tf-subject" not in sms

    missing = requests.get(page_url(sb, "tmpl_<b>"), timeout=TIMEOUT)
    assert missing.status_code == 404 and "tmpl_&lt;b&gt;" in missing.text


def test_sequence_page_links_its_templates_and_the_template_page_its_sequences(sb):
    seq = make_sequence(sb, INTRO, name="Uses <intro>")
    r = requests.get(f"{sb.base_url}/_sandbox/sequence/{seq['id']}", timeout=TIMEOUT)
    assert f'href="/_sandbox/template/{INTRO}"' in r.text
    template_page = requests.get(page_url(sb, INTRO), timeout=TIMEOUT).text
    assert f'href="/_sandbox/sequence/{seq["id"]}"' in template_page
    assert "Uses &lt;intro&gt;" in template_page


def test_the_form_edits_the_copy_like_someone_in_close(sb):
    before = fetched(sb, INTRO)
    r = post_form(sb, INTRO, {"subject": "Edited in Close", "body": "<p>New\r\nbody</p>"})
    assert r.status_code == 303
    assert r.headers["Location"] == f"/_sandbox/template/{INTRO}?saved=1"
    after = fetched(sb, INTRO)
    assert after["subject"] == "Edited in Close"
    assert after["body"] == "<p>New\nbody</p>"  # a textarea's CRLF stored as Close would
    assert after["name"] == before["name"]  # a field not posted is kept
    assert after["date_updated"] > before["date_updated"]
    assert after["updated_by"] == COLLEAGUE_ID
    shown = requests.get(sb.base_url + r.headers["Location"], timeout=TIMEOUT)
    assert 'role="status">Saved.' in shown.text and "Edited in Close" in shown.text

    sms_before = fetched(sb, SMS_OK)
    assert post_form(sb, SMS_OK, {"text": "Changed SMS"}).status_code == 303
    sms_after = fetched(sb, SMS_OK)
    assert sms_after["text"] == "Changed SMS"
    assert sms_after["date_updated"] > sms_before["date_updated"]


def test_the_form_refuses_a_blank_name_and_keeps_what_was_typed(sb):
    before = fetched(sb, INTRO)
    r = post_form(sb, INTRO, {"name": " ", "subject": "Typed subject"})
    assert r.status_code == 422
    assert 'role="alert">Not saved: name cannot be blank' in r.text
    assert 'value="Typed subject"' in r.text
    assert fetched(sb, INTRO) == before
    assert post_form(sb, "tmpl_nope", {"subject": "x"}).status_code == 404


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"Origin": "https://evil.example"}, 403),
        ({"Origin": None}, 415),  # a form post without an Origin is no browser's own page
        ({"Sec-Fetch-Site": "cross-site"}, 403),
        ({"Host": "evil.example"}, 403),
    ],
)
def test_a_form_from_elsewhere_edits_nothing(sb, headers, status):
    before = fetched(sb, INTRO)
    r = post_form(sb, INTRO, {"subject": "Hijacked"}, **headers)
    assert r.status_code == status
    assert fetched(sb, INTRO) == before
    # The form exception is for the template page only.
    other = requests.post(
        f"{sb.base_url}/_sandbox/faults",
        data={"kind": "drop"},
        headers={"Origin": sb.base_url},
        timeout=TIMEOUT,
    )
    assert other.status_code == 415 and sb.faults == []


def test_json_control_and_python_api_edit_a_template(sb):
    before = fetched(sb, INTRO)
    r = requests.post(page_url(sb, INTRO), json={"body": "<p>Via JSON</p>"}, timeout=TIMEOUT)
    assert r.status_code == 200
    assert r.json()["template"]["body"] == "<p>Via JSON</p>"
    assert fetched(sb, INTRO)["date_updated"] > before["date_updated"]
    bad = requests.post(page_url(sb, INTRO), json={"is_shared": False}, timeout=TIMEOUT)
    assert bad.status_code == 400 and "is_shared" in bad.json()["error"]
    not_text = requests.post(page_url(sb, INTRO), json={"subject": 3}, timeout=TIMEOUT)
    assert not_text.status_code == 400
    missing = requests.post(page_url(sb, "tmpl_nope"), json={"body": "x"}, timeout=TIMEOUT)
    assert missing.status_code == 404
    assert requests.post(page_url(sb, INTRO), json=["x"], timeout=TIMEOUT).status_code == 400

    edited = sb.edit_template_copy(SMS_OK, text="From a test")
    assert edited["text"] == "From a test" and edited["updated_by"] == COLLEAGUE_ID
    with pytest.raises(ValueError):
        sb.edit_template_copy(SMS_OK, subject="SMS has none")
    with pytest.raises(KeyError):
        sb.edit_template_copy("tmpl_nope", subject="x")


def test_a_person_edits_a_template_in_a_real_browser(sb, page):
    page.goto(page_url(sb, INTRO))
    page.get_by_label("Subject").fill("Typed in a browser")
    page.get_by_role("button", name="Save in Close").click()
    page.get_by_role("status").wait_for()
    assert "Saved." in page.get_by_role("status").inner_text()
    assert fetched(sb, INTRO)["subject"] == "Typed in a browser"


# --- state file --------------------------------------------------------------------------------


def test_state_file_keeps_templates_and_given_subscriptions(tmp_path):
    state = tmp_path / "state.json"
    with Sandbox(api_keys={KEY}, state_file=state) as first:
        made = post(first, "email_template/", {**EMAIL, "is_shared": True}).json()
        seq = make_sequence(first, made["id"])
        first.edit_template_copy(INTRO, subject="Drifted")
        given = first.add_subscription(seq["id"], contact_id="cont_1", lead_id="lead_1")
    with Sandbox(api_keys={KEY}, state_file=state) as second:
        again = get(second, f"email_template/{made['id']}/").json()
        assert again["name"] == EMAIL["name"]
        assert again["used_by_sequences"] == [{"id": seq["id"], "name": "Q3 outbound"}]
        assert get(second, f"email_template/{INTRO}/").json()["subject"] == "Drifted"
        subscriptions = get(second, "sequence_subscription/", sequence_id=seq["id"]).json()
        assert subscriptions["data"] == [given]
        second.reset()
    with Sandbox(api_keys={KEY}, state_file=state) as third:
        assert get(third, f"email_template/{made['id']}/").status_code == 404
        assert get(third, f"email_template/{INTRO}/").json()["subject"] != "Drifted"
