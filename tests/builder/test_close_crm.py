"""builder/close.py's reads of leads, contacts, Smart Views, search, render and Workflow
subscriptions, over real HTTP against the local Close sandbox, faults included: a 429 in the
middle of a Smart View resumes from the same cursor, and 5xx, dropped and unreadable answers give
a clear typed error while the pages already read stay read."""

import base64

import pytest

from builder import close
from builder.close import (
    CloseAuthError,
    CloseCursorExpired,
    CloseNotFound,
    CloseRateLimited,
    CloseUnavailable,
    CloseValidationError,
)
from builder.copytext import contact_values
from closesandbox import Sandbox, crm, server
from tests.fakeclock import FakeClock

KEY = "sandbox-key"
INTRO = "tmpl_00jcushDRuoBBS5sSTUAbNt4dPpBUhlJqQafVfzzRJn"
CHECK_IN_SMS = "smstmpl_71JQ1KxplWkUvKD7TBdDT643l8hSBT7sYxnj16xOXZT"
FIELDS = ["name", "emails", "phones", "custom"]


@pytest.fixture(scope="module")
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
            "timeout": (1.0, 5.0),
            "sleep": sleeps.append,
        } | options
        clients.append(close.CloseClient(**options))
        return clients[-1]

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def api(make_client):
    return make_client()


def searches(sb):
    return [r for r in sb.requests if r.path == "/api/v1/data/search/"]


def read_view(api, view, **options):
    """Every page of a Smart View: (contacts, leads by id, pages read)."""
    contacts, leads, cursor, pages = [], {}, None, 0
    while True:
        page = api.search_contacts_page(smart_view=view, fields=FIELDS, cursor=cursor, **options)
        pages += 1
        contacts += page["data"]
        leads |= page["leads"]
        cursor = page["cursor"]
        if cursor is None:
            return contacts, leads, pages


def values_of(contact, leads):
    return contact_values(contact, leads[contact["lead_id"]], None, None)


# --- Smart Views ---------------------------------------------------------------------------------


def test_smart_views_are_the_lead_and_contact_ones(api, sb):
    views = api.list_smart_views()
    assert [(v["name"], v["type"]) for v in views] == [
        ("Q1 prospects", "contact"),
        ("Logistics leads", "lead"),
    ]
    (request,) = [r for r in sb.requests if r.path == "/api/v1/saved_search/"]
    assert request.query["type__in"] == "lead,contact"
    assert "s_query" not in views[0]  # the picker needs names; the one picked is fetched
    full = api.fetch_smart_view(views[0]["id"])
    assert full["s_query"]["query"]["type"] == "and"
    with pytest.raises(CloseNotFound, match="Smart View"):
        api.fetch_smart_view("save_missing")


# --- a contact Smart View ------------------------------------------------------------------------


def test_q1_prospects_reads_40_contacts_12_without_first_name_3_without_email(api, sb):
    view = api.fetch_smart_view(sb.smart_view("Q1 prospects")["id"])
    contacts, leads, pages = read_view(api, view, limit=15)
    assert pages == 3 and len(contacts) == 40 == len({c["id"] for c in contacts})
    values = [values_of(c, leads) for c in contacts]
    assert sum(1 for v in values if not v["contact.first_name"]) == 12
    assert sum(1 for v in values if not v["contact.email"]) == 3
    assert sum(1 for v in values if not v["contact.phones.0.phone"]) == 7
    assert sum(1 for v in values if not v.get("lead.custom.Industry")) == 7  # 3 leads lack one
    assert values[0]["lead.display_name"] == "Northwind Traders"
    assert set(contacts[0]) == {"id", "lead_id", "name", "emails", "phones", "custom"} | {
        f"custom.{sb.custom_field('contact', 'Campaign')['id']}"
    }
    # Per page: one search for the contacts, one for their leads; never one call per contact.
    bodies = [r.body for r in searches(sb)]
    assert len(bodies) == 6
    contact_pages, lead_pages = bodies[0::2], bodies[1::2]
    assert [b.get("cursor") is None for b in contact_pages] == [True, False, False]
    assert all(b["_limit"] == 15 and b["include_counts"] is True for b in contact_pages)
    assert contact_pages[0]["query"] == view["s_query"]["query"]
    assert all(
        b["_fields"] == {"lead": ["id", "display_name", "url", "custom"]} for b in lead_pages
    )
    assert [r.path for r in sb.requests if r.path != "/api/v1/data/search/"] == [
        f"/api/v1/saved_search/{view['id']}/"
    ]


def test_the_first_page_says_how_many_contacts_there_are(api, sb):
    view = sb.smart_view("Q1 prospects")
    page = api.search_contacts_page(smart_view=view, fields=["name"], cursor=None, limit=10)
    assert page["total"] == 40 and page["object_type"] == "contact"
    assert len(page["data"]) == 10 and page["cursor"]
    assert set(page["leads"]) == {c["lead_id"] for c in page["data"]}


def test_a_view_not_fetched_runs_through_the_saved_search_node(api, sb):
    listed = next(v for v in api.list_smart_views() if v["name"] == "Q1 prospects")
    contacts, _, _ = read_view(api, listed)
    assert len(contacts) == 40
    assert searches(sb)[0].body["query"]["queries"][1] == {
        "type": "saved_search",
        "saved_search_id": listed["id"],
    }


def test_bad_arguments_are_programming_errors(api, sb):
    view = sb.smart_view("Q1 prospects")
    with pytest.raises(ValueError, match="limit"):
        api.search_contacts_page(smart_view=view, fields=[], cursor=None, limit=201)
    opportunities = {"id": "save_x", "type": "opportunity"}
    with pytest.raises(ValueError, match="lead or contact"):
        api.search_contacts_page(smart_view=opportunities, fields=[], cursor=None)
    assert searches(sb) == []


# --- a lead Smart View ---------------------------------------------------------------------------


def test_a_lead_view_reaches_each_leads_first_contact_with_an_email(api, sb):
    view = api.fetch_smart_view(sb.smart_view("Logistics leads")["id"])
    page = api.search_contacts_page(smart_view=view, fields=FIELDS, cursor=None)
    assert page["object_type"] == "lead" and page["total"] == 5 and page["cursor"] is None
    names = [c["name"] for c in page["data"]]
    # Smith & Sons' first contact has no name but an address; Polar's first has no address.
    assert names == ["", "Sven Olsen", "Lars Eriksen", "Greta Lund"]
    harbor = next(
        i for i, lead in page["leads"].items() if lead["display_name"].startswith("Harbor")
    )
    assert page["leads_without_contacts"] == [harbor]
    assert all(c["lead_id"] in page["leads"] for c in page["data"])
    assert len(searches(sb)) == 1  # the leads come with their contacts


def test_a_lead_view_can_reach_every_contact(api, sb):
    view = sb.smart_view("Logistics leads")
    page = api.search_contacts_page(
        smart_view=view, fields=["name"], cursor=None, contact_preference="contact"
    )
    assert len(page["data"]) == 9
    assert [c["name"] for c in page["data"]][-2:] == ["Front Desk", "Greta Lund"]


def test_a_lead_view_pages_by_leads(api, sb):
    view = sb.smart_view("Logistics leads")
    contacts, leads, pages = read_view(api, view, limit=2)
    assert pages == 3 and len(leads) == 5 and len(contacts) == 4


# --- Preview as ----------------------------------------------------------------------------------


def test_a_blank_search_box_lists_the_view(api, sb):
    view = sb.smart_view("Q1 prospects")
    page = api.search_contacts_page(smart_view=view, fields=["name"], cursor=None, text="  ")
    assert page["total"] == 40


@pytest.mark.parametrize(
    ("view_name", "text", "names"),
    [
        ("Q1 prospects", "grace", ["Grace Hopper"]),
        ("Q1 prospects", "lukasz.nowak@", ["Łukasz Nowak"]),
        ("Q1 prospects", "greta", []),  # not in this view
        ("Logistics leads", "greta", ["Greta Lund"]),
        ("Logistics leads", "front", ["Front Desk"]),
    ],
)
def test_preview_as_searches_the_views_contacts(api, sb, view_name, text, names):
    view = sb.smart_view(view_name)
    page = api.search_contacts_page(smart_view=view, fields=["name"], cursor=None, text=text)
    assert [c["name"] for c in page["data"]] == names
    assert page["object_type"] == "contact"
    assert set(page["leads"]) == {c["lead_id"] for c in page["data"]}


# --- faults during the audience read -------------------------------------------------------------


def test_a_429_mid_way_resumes_from_the_same_cursor(make_client, sb, sleeps, monkeypatch):
    clock = FakeClock(1000).install(monkeypatch, close)
    api = make_client(max_wait=5)
    view = sb.smart_view("Q1 prospects")
    first = api.search_contacts_page(smart_view=view, fields=FIELDS, cursor=None, limit=15)
    sb.inject("rate_limit", method="POST", path="/data/search/", reset=30)
    with pytest.raises(CloseRateLimited) as raised:
        api.search_contacts_page(smart_view=view, fields=FIELDS, cursor=first["cursor"], limit=15)
    assert raised.value.retry_after == 30 and sleeps == []  # over budget: said, not slept
    with pytest.raises(CloseRateLimited):  # asking before the wait is over sends nothing
        api.search_contacts_page(smart_view=view, fields=FIELDS, cursor=first["cursor"], limit=15)
    # The caller waits (a background job, or the person pressing Continue) and calls again.
    clock.now += 30
    contacts = list(first["data"])
    cursor = first["cursor"]
    while cursor:
        page = api.search_contacts_page(smart_view=view, fields=FIELDS, cursor=cursor, limit=15)
        contacts += page["data"]
        cursor = page["cursor"]
    assert [c["id"] for c in contacts] == [c["id"] for c in sb.view_contacts("Q1 prospects")]
    retried = [r.body.get("cursor") for r in searches(sb) if "contact" in r.body["_fields"]]
    assert retried[1] == retried[2] == first["cursor"]  # the refused page, asked again


def test_a_short_429_is_waited_out_inside_the_call(make_client, sb, sleeps):
    api = make_client(max_wait=5)
    view = sb.smart_view("Q1 prospects")
    sb.inject("rate_limit", method="POST", path="/data/search/", reset=2)
    contacts, _, _ = read_view(api, view)
    assert len(contacts) == 40 and sleeps == [2]


def test_the_lead_lookup_of_a_page_can_be_rate_limited_too(monkeypatch, sleeps):
    """Close's real limit, not an injected 429: the search group allows 3 requests a minute, so
    page 2's contact search passes and its lead search must wait; the page is asked again."""
    clock = FakeClock(1000).install(monkeypatch, close, server)
    with Sandbox(api_keys={KEY}, rate_limit=(3, 60)) as small:
        api = close.CloseClient(api_key=KEY, base_url=small.url, max_wait=5, sleep=sleeps.append)
        view = small.smart_view("Q1 prospects")
        first = api.search_contacts_page(smart_view=view, fields=FIELDS, cursor=None, limit=15)
        with pytest.raises(CloseRateLimited) as raised:
            api.search_contacts_page(
                smart_view=view, fields=FIELDS, cursor=first["cursor"], limit=15
            )
        assert raised.value.retry_after == 60
        clock.now += 60
        page = api.search_contacts_page(
            smart_view=view, fields=FIELDS, cursor=first["cursor"], limit=15
        )
        assert len(page["data"]) == 15
        assert set(page["leads"]) == {c["lead_id"] for c in page["data"]}
        # The lead search was not even sent: the contact search's answer said the window was
        # used up (remaining=0), and the client does not send what Close would refuse.
        cursors = [r.body.get("cursor") for r in searches(small)][2:]
        assert cursors == [first["cursor"], first["cursor"], None]
        api.close()


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("error", "Close is having trouble (HTTP 503). Try again in a few minutes."),
        ("drop", "The connection to Close broke before it answered. Try again in a few minutes."),
        (
            "malformed",
            "Close answered with something we could not read. Try again in a few minutes.",
        ),
    ],
)
def test_5xx_drops_and_garbage_mid_way_are_clear_and_keep_what_was_read(
    make_client, sb, sleeps, kind, message
):
    api = make_client(max_wait=5, max_attempts=3)
    view = sb.smart_view("Q1 prospects")
    first = api.search_contacts_page(smart_view=view, fields=FIELDS, cursor=None, limit=15)
    options = {"status": 503} if kind == "error" else {}
    sb.inject(kind, method="POST", path="/data/search/", times=3, **options)
    with pytest.raises(CloseUnavailable) as raised:
        api.search_contacts_page(smart_view=view, fields=FIELDS, cursor=first["cursor"], limit=15)
    assert raised.value.message == message
    # A search only reads: nothing "may have been processed", and it was retried like a GET.
    assert raised.value.request_may_have_been_processed is False
    if kind != "malformed":
        assert sleeps == [0.5, 1.0]
    # What was read is still good, and reading goes on from the same place once Close is back.
    sb.clear_faults()
    rest = api.search_contacts_page(
        smart_view=view, fields=FIELDS, cursor=first["cursor"], limit=15
    )
    assert len(first["data"]) == len(rest["data"]) == 15


def test_a_search_that_times_out_is_retried_then_said(make_client, sb, sleeps):
    api = make_client(timeout=(1.0, 0.3), max_attempts=2)
    view = sb.smart_view("Q1 prospects")
    sb.inject("slow", method="POST", path="/data/search/", delay=0.6, times=2)
    with pytest.raises(CloseUnavailable) as raised:
        api.search_contacts_page(smart_view=view, fields=FIELDS, cursor=None)
    assert raised.value.message == "Close did not answer in time. Try again in a few minutes."
    assert raised.value.request_may_have_been_processed is False and sleeps == [0.5]


def test_a_rejected_key_mid_way_is_an_auth_error(api, sb):
    view = sb.smart_view("Q1 prospects")
    first = api.search_contacts_page(smart_view=view, fields=FIELDS, cursor=None, limit=15)
    sb.inject("unauthorized", method="POST", path="/data/search/")
    with pytest.raises(CloseAuthError, match="Close rejected the API key"):
        api.search_contacts_page(smart_view=view, fields=FIELDS, cursor=first["cursor"], limit=15)


def test_the_key_never_reaches_what_a_search_returns(api, sb):
    """A server that repeats the Authorization header in its answer (echo_auth): the pages the
    audience check keeps hold <hidden> instead."""
    view = sb.smart_view("Q1 prospects")
    sb.inject("echo_auth", method="POST", path="/data/search/", status=200, times=2)
    page = api.search_contacts_page(smart_view=view, fields=FIELDS, cursor=None, limit=15)
    text = repr(page)
    assert "<hidden>" in text and KEY not in text
    assert base64.b64encode(f"{KEY}:".encode()).decode() not in text


def test_a_503_once_is_retried_and_nobody_notices(make_client, sb, sleeps):
    api = make_client()
    sb.inject("error", method="POST", path="/data/search/", status=503)
    contacts, _, _ = read_view(api, sb.smart_view("Q1 prospects"))
    assert len(contacts) == 40 and sleeps == [0.5]


def test_an_expired_cursor_says_start_again(api, sb):
    view = sb.smart_view("Q1 prospects")
    first = api.search_contacts_page(smart_view=view, fields=FIELDS, cursor=None, limit=15)
    sb.set_search_cursor_ttl(0)
    with pytest.raises(CloseCursorExpired, match="Start again"):
        api.search_contacts_page(smart_view=view, fields=FIELDS, cursor=first["cursor"], limit=15)
    again = api.search_contacts_page(smart_view=view, fields=FIELDS, cursor=None, limit=15)
    assert again["data"] == first["data"]


# --- leads, contacts, custom fields --------------------------------------------------------------


def test_fetch_lead_and_contact_with_fields(api, sb):
    ada = sb.view_contacts("Q1 prospects")[0]
    lead = api.fetch_lead(ada["lead_id"], fields=["id", "display_name", "custom"])
    assert lead["display_name"] == "Northwind Traders"
    assert lead["custom"] == {"Industry": "Retail", "Employees": 120}
    assert "contacts" not in lead
    assert [c["name"] for c in api.fetch_lead(ada["lead_id"])["contacts"]][0] == "Ada Lovelace"
    contact = api.fetch_contact(ada["id"], fields=["id", "name", "subscriptions"])
    assert contact == {"id": ada["id"], "name": "Ada Lovelace", "subscriptions": []}
    requested = [r for r in sb.requests if r.path == f"/api/v1/contact/{ada['id']}/"]
    assert requested[0].query == {"_fields": "id,name,subscriptions"}
    with pytest.raises(CloseNotFound, match="Close could not find that lead"):
        api.fetch_lead("lead_missing")
    with pytest.raises(CloseNotFound, match="contact"):
        api.fetch_contact("cont_missing")


def test_lead_custom_fields(api):
    fields = api.list_lead_custom_fields()
    assert [(f["name"], f["type"]) for f in fields] == [
        ("Industry", "choices"),
        ("Employees", "number"),
    ]


# --- render --------------------------------------------------------------------------------------


def test_render_email_and_sms(api, sb):
    grace = sb.view_contacts("Q1 prospects")[1]
    email = api.render_email_template(INTRO, lead_id=grace["lead_id"], contact_id=grace["id"])
    assert email["subject"] == "Quick question about Northwind Traders"
    assert email["body"].startswith("<p>Hi Grace,</p>")
    assert email["email"] == "grace.hopper@northwind.example"
    sms = api.render_sms_template(CHECK_IN_SMS, lead_id=grace["lead_id"], contact_id=grace["id"])
    assert sms["text"].startswith("Hi Grace, it's Dana")
    without = api.render_sms_template(CHECK_IN_SMS, lead_id=grace["lead_id"])
    assert without["contact_id"] == sb.view_contacts("Q1 prospects")[0]["id"]
    (sent,) = [
        r for r in sb.requests if r.path.endswith("/render/") and "contact_id" not in r.query
    ]
    assert sent.query == {"lead_id": grace["lead_id"]}


def test_render_refusals_are_typed(api, sb):
    contacts = sb.view_contacts("Q1 prospects")
    ada, other = contacts[0], contacts[-1]
    with pytest.raises(CloseValidationError, match="is not on lead") as raised:
        api.render_email_template(INTRO, lead_id=ada["lead_id"], contact_id=other["id"])
    assert "contact_id" in raised.value.field_errors
    with pytest.raises(CloseNotFound, match="Lead lead_missing not found"):
        api.render_email_template(INTRO, lead_id="lead_missing", contact_id=ada["id"])
    with pytest.raises(CloseNotFound, match="Email template not found"):
        api.render_email_template("tmpl_missing", lead_id=ada["lead_id"], contact_id=ada["id"])


def test_render_waits_out_a_short_429(make_client, sb, sleeps):
    api = make_client(max_wait=3)
    ada = sb.view_contacts("Q1 prospects")[0]
    sb.inject("rate_limit", method="GET", path="/email_template/", reset=1)
    assert api.render_email_template(INTRO, lead_id=ada["lead_id"], contact_id=ada["id"])["body"]
    assert sleeps == [1]


# --- Workflow subscriptions ----------------------------------------------------------------------


def test_sequence_subscriptions_active_and_paused_by_default(api, sb):
    seeded = crm.SEEDED_SEQUENCE["id"]
    running = api.sequence_subscriptions(seeded)
    assert sorted(s["status"] for s in running) == ["active"] * 4 + ["paused"]
    assert len(api.sequence_subscriptions(seeded, statuses=None)) == 6
    assert [s["status"] for s in api.sequence_subscriptions(seeded, statuses=("finished",))] == [
        "finished"
    ]
    assert api.sequence_subscriptions("seq_nobody") == []


def test_sequence_subscriptions_page_through_a_large_workflow(api, sb):
    view = sb.add_audience(250)
    ids = [c["id"] for c in sb.view_contacts(view["name"])]
    sb.subscribe("seq_big", ids)
    found = api.sequence_subscriptions("seq_big")
    assert {s["contact_id"] for s in found} == set(ids)
    pages = [r for r in sb.requests if r.path == "/api/v1/sequence_subscription/"]
    assert [r.query["_skip"] for r in pages] == ["0", "100", "200"]


def test_pause_reason_fills_status_reason(api, sb, monkeypatch):
    sb.subscribe("seq_x", [sb.view_contacts("Q1 prospects")[0]["id"]], status="paused")
    with sb._lock:
        (sub,) = [s for s in sb.crm.subscriptions if s["sequence_id"] == "seq_x"]
        sub["pause_reason"] = sub.pop("status_reason")  # as Close's own export script reads it
        sub["pause_reason"] = "reply-received"
        sub["status_reason"] = None
    (found,) = api.sequence_subscriptions("seq_x")
    assert found["status_reason"] == "reply-received"
