"""The sandbox's CRM side over real HTTP (closesandbox/crm.py): Smart Views, POST /data/search/
with cursors, leads, contacts, custom fields, Workflow subscriptions, the render endpoints, and
rate limits and faults on these paths."""

import base64
import json

import pytest
import requests

from closesandbox import Sandbox, crm
from tests.fakeclock import FakeClock

KEY = "sandbox-key"
AUTH = (KEY, "")
INTRO = "tmpl_00jcushDRuoBBS5sSTUAbNt4dPpBUhlJqQafVfzzRJn"
CHECK_IN_SMS = "smstmpl_71JQ1KxplWkUvKD7TBdDT643l8hSBT7sYxnj16xOXZT"


@pytest.fixture(scope="module")
def server():
    sandbox = Sandbox(api_keys={KEY}).start()
    yield sandbox
    sandbox.stop()


@pytest.fixture
def sb(server):
    server.reset()
    return server


def get(sb, path, **params):
    return requests.get(sb.url + path, params=params, auth=AUTH, timeout=10)


def search(sb, body):
    return requests.post(sb.url + "data/search/", json=body, auth=AUTH, timeout=10)


def first_name(contact):
    """The rule crm.py documents: the first whitespace-separated word of `name`."""
    words = contact["name"].split()
    return words[0] if words else ""


def usable_email(contact):
    return next((e["email"] for e in contact["emails"] if not e["is_unsubscribed"]), "")


def view_query(sb, name):
    return sb.smart_view(name)["s_query"]["query"]


def read_all(sb, body):
    """Every hit of a search, page by page; returns (hits, requests made)."""
    hits, cursor, calls = [], None, 0
    while True:
        answer = search(sb, {**body, "cursor": cursor} if cursor else body)
        assert answer.status_code == 200, answer.text
        calls += 1
        hits += answer.json()["data"]
        cursor = answer.json()["cursor"]
        if cursor is None:
            return hits, calls


# --- Smart Views ---------------------------------------------------------------------------------


def test_smart_views_list_by_type_with_fields_and_paging(sb):
    leads_only = get(sb, "saved_search/").json()  # type defaults to lead (close-api.md §14)
    assert [v["name"] for v in leads_only["data"]] == ["Logistics leads"]
    both = get(sb, "saved_search/", type__in="lead,contact", _fields="id,name,type").json()
    assert [(v["name"], v["type"]) for v in both["data"]] == [
        ("Q1 prospects", "contact"),
        ("Logistics leads", "lead"),
    ]
    assert all(
        set(v) == {"id", "name", "type"} and v["id"].startswith("save_") for v in both["data"]
    )
    contact_only = get(sb, "saved_search/", type="contact").json()["data"]
    assert [v["name"] for v in contact_only] == ["Q1 prospects"]
    first = get(sb, "saved_search/", type__in="lead,contact,opportunity", _limit="2").json()
    assert len(first["data"]) == 2 and first["has_more"] is True
    rest = get(sb, "saved_search/", type__in="lead,contact,opportunity", _skip="2").json()
    assert [v["name"] for v in rest["data"]] == ["Open opportunities"]
    assert rest["has_more"] is False
    refused = get(sb, "saved_search/", type="dog")
    assert refused.status_code == 400 and "dog" in refused.json()["error"]


def test_a_smart_view_has_its_structured_query(sb):
    view = sb.smart_view("Q1 prospects")
    answer = get(sb, f"saved_search/{view['id']}/").json()
    assert answer["type"] == "contact" and answer["query"] is None
    assert set(answer["s_query"]) == {"query", "sort", "results_limit"}
    assert get(sb, f"saved_search/{view['id']}/", _fields="id,name").json() == {
        "id": view["id"],
        "name": "Q1 prospects",
    }
    assert get(sb, "saved_search/save_nope/").status_code == 404


# --- the seeded audience -------------------------------------------------------------------------


def test_q1_prospects_holds_40_contacts_12_without_a_first_name_3_without_an_email(sb):
    body = {
        "query": view_query(sb, "Q1 prospects"),
        "_fields": {"contact": ["id", "name", "emails", "phones", "lead_id"]},
        "_limit": 200,
        "include_counts": True,
    }
    answer = search(sb, body).json()
    contacts = answer["data"]
    assert answer["count"] == {"total": 40, "limited": 40} and answer["cursor"] is None
    assert len(contacts) == 40 and all(c["__object_type"] == "contact" for c in contacts)
    assert sum(1 for c in contacts if not first_name(c)) == 12
    assert sum(1 for c in contacts if not usable_email(c)) == 3
    assert sum(1 for c in contacts if not c["phones"]) == 7
    # Empty and whitespace-only names are both "no first name"; any word is a first name.
    names = {c["name"] for c in contacts if not first_name(c)}
    assert names == {"", " ", "   "}
    assert {"Dr. Anna Schmidt", "Prince", "Mei  Chen", "José María García"} <= {
        c["name"] for c in contacts
    }
    # One contact's first address is unsubscribed: the second is the one to use.
    (unsubscribed,) = [c for c in contacts if any(e["is_unsubscribed"] for e in c["emails"])]
    assert len(unsubscribed["emails"]) == 2 and usable_email(unsubscribed).startswith("lukasz")
    assert len({c["lead_id"] for c in contacts}) == 16


def test_the_seed_is_the_same_in_every_sandbox(sb):
    other = Sandbox(api_keys={KEY})  # not started: the store alone
    assert other.smart_view("Q1 prospects") == sb.smart_view("Q1 prospects")
    assert other.view_contacts("Q1 prospects") == sb.view_contacts("Q1 prospects")


def test_leads_carry_custom_fields_both_ways_and_their_contacts(sb):
    industry = sb.custom_field("lead", "Industry")
    contact = sb.view_contacts("Q1 prospects")[0]
    lead = get(sb, f"lead/{contact['lead_id']}/").json()
    assert lead["display_name"] == "Northwind Traders"
    assert lead[f"custom.{industry['id']}"] == "Retail"  # top level, by id (§14 [D])
    assert lead["custom"] == {"Industry": "Retail", "Employees": 120}  # deprecated, by name
    assert [c["name"] for c in lead["contacts"]][:3] == [
        "Ada Lovelace",
        "Grace Hopper",
        "José María García",
    ]
    trimmed = get(sb, f"lead/{contact['lead_id']}/", _fields="id,display_name,custom").json()
    assert set(trimmed) == {"id", "display_name", "custom", f"custom.{industry['id']}"} | {
        f"custom.{sb.custom_field('lead', 'Employees')['id']}"
    }
    one = get(sb, f"lead/{contact['lead_id']}/", _fields=f"id,custom.{industry['id']}").json()
    assert one == {"id": contact["lead_id"], f"custom.{industry['id']}": "Retail"}
    # A lead without a value leaves the field out, as Close does.
    vandelay = next(
        lead
        for lead in (
            get(sb, f"lead/{c['lead_id']}/").json() for c in sb.view_contacts("Q1 prospects")
        )
        if lead["display_name"] == "Vandelay Industries"
    )
    assert vandelay["custom"] == {} and f"custom.{industry['id']}" not in vandelay
    assert get(sb, "lead/lead_nope/").status_code == 404


def test_contacts_by_id_and_by_lead(sb):
    contact = sb.view_contacts("Q1 prospects")[1]
    answer = get(sb, f"contact/{contact['id']}/").json()
    assert answer["name"] == "Grace Hopper" and answer["custom"] == {"Campaign": "Q1 2026"}
    assert "subscriptions" not in answer  # only when asked for (§14 [I])
    asked = get(sb, f"contact/{contact['id']}/", _fields="id,name,subscriptions").json()
    assert [s["sequence_name"] for s in asked["subscriptions"]] == ["Q4 nurture (live)"]
    assert asked["subscriptions"][0]["subscription_status"] == "active"
    listed = get(sb, "contact/", lead_id=contact["lead_id"], _fields="id,name").json()
    assert [c["name"] for c in listed["data"]] == [
        "Ada Lovelace",
        "Grace Hopper",
        "José María García",
        "Mark Ellis",
    ]
    assert get(sb, "contact/cont_nope/").status_code == 404


def test_custom_fields_are_listed(sb):
    fields = get(sb, "custom_field/lead/").json()["data"]
    assert [(f["name"], f["type"]) for f in fields] == [
        ("Industry", "choices"),
        ("Employees", "number"),
    ]
    assert all(f["id"].startswith("cf_") for f in fields)
    assert "Logistics" in fields[0]["choices"]
    contact_fields = get(sb, "custom_field/contact/", _fields="name").json()["data"]
    assert contact_fields == [{"name": "Campaign"}]


# --- search --------------------------------------------------------------------------------------


def test_search_pages_with_an_opaque_cursor_until_null(sb):
    body = {"query": view_query(sb, "Q1 prospects"), "_limit": 15, "include_counts": True}
    first = search(sb, body).json()
    assert len(first["data"]) == 15 and first["count"]["total"] == 40
    assert first["data"][0] == {
        "__object_type": "contact",
        "id": first["data"][0]["id"],
    }  # no _fields
    assert isinstance(first["cursor"], str)
    hits, calls = read_all(sb, body)
    assert calls == 3 and len(hits) == 40 == len({h["id"] for h in hits})
    assert [h["id"] for h in hits] == [c["id"] for c in sb.view_contacts("Q1 prospects")]


def test_search_limits_and_counts(sb):
    query = view_query(sb, "Q1 prospects")
    assert search(sb, {"query": query, "_limit": 201}).status_code == 400
    assert search(sb, {"query": query, "_limit": "10"}).status_code == 400
    assert search(sb, {"_limit": 10}).json()["field-errors"] == {"query": "This field is required."}
    capped = search(sb, {"query": query, "results_limit": 25, "_limit": 20, "include_counts": True})
    assert capped.json()["count"] == {"total": 40, "limited": 25}
    hits, _ = read_all(sb, {"query": query, "results_limit": 25, "_limit": 20})
    assert len(hits) == 25
    counted = search(sb, {"query": query, "results_limit": 0, "include_counts": True}).json()
    assert counted["data"] == [] and counted["count"]["total"] == 40 and counted["cursor"] is None


def test_bad_cursors_are_refused(sb, monkeypatch):
    query = view_query(sb, "Q1 prospects")
    cursor = search(sb, {"query": query, "_limit": 10}).json()["cursor"]
    garbage = search(sb, {"query": query, "_limit": 10, "cursor": "not-a-cursor"})
    assert (
        garbage.status_code == 400 and garbage.json()["field-errors"]["cursor"] == "Invalid cursor."
    )
    other = {"type": "object_type", "object_type": "contact"}
    moved = search(sb, {"query": other, "_limit": 10, "cursor": cursor})
    assert moved.status_code == 400 and "different search" in moved.json()["field-errors"]["cursor"]
    # Close's cursors expire after about 30 s [O].
    clock = FakeClock(0).install(monkeypatch, crm)
    fresh = search(sb, {"query": query, "_limit": 10}).json()["cursor"]
    clock.now += crm.CURSOR_TTL - 1
    assert search(sb, {"query": query, "_limit": 10, "cursor": fresh}).status_code == 200
    clock.now += 2
    expired = search(sb, {"query": query, "_limit": 10, "cursor": fresh})
    assert expired.status_code == 400 and "expired" in expired.json()["field-errors"]["cursor"]


def test_the_saved_search_node_runs_the_view(sb):
    view = sb.smart_view("Q1 prospects")
    node = {"type": "saved_search", "saved_search_id": view["id"]}
    hits, _ = read_all(sb, {"query": node, "_limit": 200})
    assert [h["id"] for h in hits] == [c["id"] for c in sb.view_contacts("Q1 prospects")]
    unknown = search(sb, {"query": {"type": "saved_search", "saved_search_id": "save_x"}})
    assert unknown.status_code == 400


def test_lead_smart_view_returns_leads_with_their_contacts(sb):
    body = {
        "query": view_query(sb, "Logistics leads"),
        "_fields": {"lead": ["id", "display_name", "contacts"]},
        "include_counts": True,
    }
    answer = search(sb, body).json()
    names = [lead["display_name"] for lead in answer["data"]]
    assert names == [
        "Smith & Sons Logistics",
        "Umbrella Freight",
        "Wayne Shipping",
        "Harbor Freight Partners",
        "Polar Express Couriers",
    ]
    assert answer["count"]["total"] == 5
    by_name = {lead["display_name"]: lead for lead in answer["data"]}
    assert by_name["Harbor Freight Partners"]["contacts"] == []
    polar = by_name["Polar Express Couriers"]["contacts"]
    assert [c["name"] for c in polar] == ["Front Desk", "Greta Lund"] and polar[0]["emails"] == []


def contact_text(text):
    """The "Preview as" search builder/close.py sends: name words or an email address."""
    condition = {"type": "text", "mode": "beginning_of_words", "value": text}
    return {
        "type": "or",
        "queries": [
            {
                "type": "field_condition",
                "field": {"type": "regular_field", "object_type": "contact", "field_name": "name"},
                "condition": condition,
            },
            {
                "type": "has_related",
                "this_object_type": "contact",
                "related_object_type": "contact_email",
                "related_query": {
                    "type": "field_condition",
                    "field": {
                        "type": "regular_field",
                        "object_type": "contact_email",
                        "field_name": "email",
                    },
                    "condition": condition,
                },
            },
        ],
    }


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("ada", ["Ada Lovelace"]),
        ("GRACE hop", ["Grace Hopper"]),
        ("o'brien", ["Siobhán O'Brien"]),
        ("lukasz.nowak", ["Łukasz Nowak"]),  # the usable address, by its local part
        ("old.lukasz", ["Łukasz Nowak"]),  # unsubscribed addresses are still the contact's
        ("hello@stark", [""]),  # a nameless contact, found by its address
        ("nobody", []),
    ],
)
def test_preview_as_finds_contacts_of_a_view_by_name_or_email(sb, text, names):
    query = {"type": "and", "queries": [view_query(sb, "Q1 prospects"), contact_text(text)]}
    hits = search(sb, {"query": query, "_fields": {"contact": ["name"]}}).json()["data"]
    assert [h["name"] for h in hits] == names


def test_contacts_of_a_lead_view_through_has_related(sb):
    query = {
        "type": "and",
        "queries": [
            {"type": "object_type", "object_type": "contact"},
            {
                "type": "has_related",
                "this_object_type": "contact",
                "related_object_type": "lead",
                "related_query": view_query(sb, "Logistics leads"),
            },
        ],
    }
    hits = search(sb, {"query": query, "_fields": {"contact": ["name"]}, "_limit": 200}).json()
    assert "Greta Lund" in [h["name"] for h in hits["data"]] and len(hits["data"]) == 9


def test_field_conditions_negation_sort_and_unsupported_nodes(sb):
    no_email = {
        "type": "field_condition",
        "field": {"type": "regular_field", "object_type": "contact", "field_name": "emails_count"},
        "condition": {"type": "number_range", "gte": 1},
        "negate": True,
    }
    query = {"type": "and", "queries": [view_query(sb, "Q1 prospects"), no_email]}
    hits = search(sb, {"query": query, "_fields": {"contact": ["emails"]}}).json()["data"]
    assert len(hits) == 3 and all(h["emails"] == [] for h in hits)
    by_name = {"type": "regular_field", "object_type": "contact", "field_name": "name"}
    sort = [{"field": by_name, "direction": "desc"}]
    body = {"query": view_query(sb, "Q1 prospects"), "sort": sort, "_fields": {"contact": ["name"]}}
    names = [h["name"] for h in search(sb, {**body, "_limit": 200}).json()["data"]]
    named = sorted((n for n in names if n), key=str.casefold, reverse=True)
    assert names[:3] == named[:3] == ["Łukasz Nowak", "Zoë Lindqvist", "Yusuf Demir"]
    assert names[-1] == ""  # values that are not there sort last
    weird = search(sb, {"query": {"type": "geo_radius"}})
    assert weird.status_code == 400 and "geo_radius" in weird.text


# --- Workflow subscriptions ----------------------------------------------------------------------


def test_subscriptions_need_a_filter_and_list_the_seeded_runs(sb):
    refused = get(sb, "sequence_subscription/")
    assert refused.status_code == 400 and "sequence_id" in refused.json()["error"]
    runs = get(sb, "sequence_subscription/", sequence_id=crm.SEEDED_SEQUENCE["id"]).json()
    statuses = sorted(s["status"] for s in runs["data"])
    assert statuses == ["active"] * 4 + ["finished", "paused"]
    q1 = {c["id"] for c in sb.view_contacts("Q1 prospects")}
    assert {s["contact_id"] for s in runs["data"]} <= q1
    one = runs["data"][0]
    by_contact = get(sb, "sequence_subscription/", contact_id=one["contact_id"]).json()["data"]
    assert [s["id"] for s in by_contact] == [one["id"]]
    paged = get(sb, "sequence_subscription/", sequence_id=crm.SEEDED_SEQUENCE["id"], _limit="4")
    assert len(paged.json()["data"]) == 4 and paged.json()["has_more"] is True


def test_contacts_are_enrolled_through_the_control_endpoint(sb):
    ids = [c["id"] for c in sb.view_contacts("Q1 prospects")[:3]]
    made = requests.post(
        sb.base_url + "/_sandbox/enroll",
        json={"sequence_id": "seq_ours", "contact_ids": ids, "status": "paused"},
        timeout=10,
    )
    assert made.status_code == 200 and len(made.json()["subscriptions"]) == 3
    listed = get(sb, "sequence_subscription/", sequence_id="seq_ours").json()["data"]
    assert [s["contact_id"] for s in listed] == ids and {s["status"] for s in listed} == {"paused"}
    unknown = requests.post(
        sb.base_url + "/_sandbox/enroll",
        json={"sequence_id": "seq_ours", "contact_ids": ["cont_nope"]},
        timeout=10,
    )
    assert unknown.status_code == 404
    no_sequence = requests.post(
        sb.base_url + "/_sandbox/enroll", json={"contact_ids": ids}, timeout=10
    )
    assert no_sequence.status_code == 400
    assert len(get(sb, "sequence_subscription/", sequence_id="seq_ours").json()["data"]) == 3
    sb.reset()
    assert get(sb, "sequence_subscription/", sequence_id="seq_ours").json()["data"] == []


# --- render --------------------------------------------------------------------------------------


def test_render_email_for_one_recipient(sb):
    contacts = sb.view_contacts("Q1 prospects")
    ada = contacts[0]
    answer = get(
        sb, f"email_template/{INTRO}/render/", lead_id=ada["lead_id"], contact_id=ada["id"]
    )
    assert answer.status_code == 200
    rendered = answer.json()
    assert rendered["subject"] == "Quick question about Northwind Traders"
    assert rendered["body"].startswith("<p>Hi Ada,</p><p>I noticed Northwind Traders is hiring")
    assert rendered["body"].endswith("<p>Best,<br>Dana<br>demo@example.com</p>")
    assert rendered == rendered | {
        "lead_id": ada["lead_id"],
        "lead_display_name": "Northwind Traders",
        "contact_id": ada["id"],
        "contact_display_name": "Ada Lovelace",
        "email": "ada.lovelace@northwind.example",
    }


def test_render_escapes_values_in_the_body_not_in_the_subject(sb):
    siobhan = next(c for c in sb.view_contacts("Q1 prospects") if c["name"] == "Siobhán O'Brien")
    sb.update_template(
        INTRO,
        subject="{{ lead.display_name }} / {{ contact.last_name }}",
        body='<p>{{ lead.display_name }} {{ contact.last_name }} {{ x|default:"<b>&amp;" }}',
    )
    ids = {"lead_id": siobhan["lead_id"], "contact_id": siobhan["id"]}
    rendered = get(sb, f"email_template/{INTRO}/render/", **ids).json()
    assert rendered["subject"] == "Smith & Sons Logistics / O'Brien"
    # Values are escaped (autoescape); a fallback is a literal of the template, as written.
    assert rendered["body"] == "<p>Smith &amp; Sons Logistics O&#x27;Brien <b>&amp;"


def test_a_nameless_contact_without_email_renders_empty_tags(sb):
    nameless = [c for c in sb.view_contacts("Q1 prospects") if not c["name"].strip()]
    no_email = next(c for c in sb.view_contacts("Q1 prospects") if not c["emails"])
    sb.update_template(
        INTRO, subject='Hi {{ contact.first_name|default:"there" }}{{ contact.first_name }}'
    )
    for contact in (nameless[0], no_email):
        rendered = get(
            sb,
            f"email_template/{INTRO}/render/",
            lead_id=contact["lead_id"],
            contact_id=contact["id"],
        )
        assert rendered.status_code == 200
    assert (
        rendered.json()["email"] is None
        and rendered.json()["contact_display_name"] == "Dr. Anna Schmidt"
    )
    shown = get(
        sb,
        f"email_template/{INTRO}/render/",
        lead_id=nameless[0]["lead_id"],
        contact_id=nameless[0]["id"],
    )
    assert shown.json()["subject"] == "Hi there"
    assert shown.json()["contact_display_name"] == nameless[0]["emails"][0]["email"]


def test_render_sms_with_or_without_a_contact(sb):
    grace = sb.view_contacts("Q1 prospects")[1]
    with_contact = get(
        sb, f"sms_template/{CHECK_IN_SMS}/render/", lead_id=grace["lead_id"], contact_id=grace["id"]
    )
    assert with_contact.json()["text"].startswith("Hi Grace, it's Dana from Acme.")
    assert with_contact.json()["contact_id"] == grace["id"]
    without = get(sb, f"sms_template/{CHECK_IN_SMS}/render/", lead_id=grace["lead_id"]).json()
    assert without["text"].startswith("Hi Ada, it's Dana")  # the lead's first contact [I]
    assert without["phone"] == "+14155550100"


def test_render_refuses_missing_or_mismatched_recipients(sb):
    contacts = sb.view_contacts("Q1 prospects")
    ada, other = contacts[0], contacts[-1]
    path = f"email_template/{INTRO}/render/"
    missing = get(sb, path, lead_id=ada["lead_id"])
    assert missing.status_code == 400 and missing.json()["field-errors"] == {
        "contact_id": "This field is required."
    }
    assert get(sb, path, contact_id=ada["id"]).json()["field-errors"] == {
        "lead_id": "This field is required."
    }
    assert get(sb, f"sms_template/{CHECK_IN_SMS}/render/").status_code == 400
    foreign = get(sb, path, lead_id=ada["lead_id"], contact_id=other["id"])
    assert (
        foreign.status_code == 400
        and "is not on lead" in foreign.json()["field-errors"]["contact_id"]
    )
    assert get(sb, path, lead_id="lead_nope", contact_id=ada["id"]).status_code == 404
    assert get(sb, path, lead_id=ada["lead_id"], contact_id="cont_nope").status_code == 404
    unknown = get(
        sb, "email_template/tmpl_nope/render/", lead_id=ada["lead_id"], contact_id=ada["id"]
    )
    assert unknown.status_code == 404
    sms = get(sb, "sms_template/smstmpl_nope/render/", lead_id=ada["lead_id"])
    assert sms.status_code == 404


def test_a_broken_tag_is_a_400_saying_so(sb):
    ada = sb.view_contacts("Q1 prospects")[0]
    sb.update_template(INTRO, body="<p>Hi {{ contact.first_name|nope }}</p>")
    answer = get(
        sb, f"email_template/{INTRO}/render/", lead_id=ada["lead_id"], contact_id=ada["id"]
    )
    assert answer.status_code == 400 and "Template syntax error" in answer.json()["errors"][0]


# --- rate limits, faults, bench seeding ----------------------------------------------------------


def test_new_paths_have_their_own_rate_limit_groups():
    with Sandbox(api_keys={KEY}, rate_limit=(2, 60)) as small:
        query = small.smart_view("Q1 prospects")["s_query"]["query"]
        lead_id = small.view_contacts("Q1 prospects")[0]["lead_id"]
        assert [search(small, {"query": query}).status_code for _ in range(3)] == [200, 200, 429]
        limited = search(small, {"query": query})
        assert limited.headers["Retry-After"] and "remaining=0" in limited.headers["RateLimit"]
        # Another group still has its whole window.
        assert [get(small, f"lead/{lead_id}/").status_code for _ in range(3)] == [200, 200, 429]
        assert get(small, "saved_search/").status_code == 200


@pytest.mark.parametrize(
    ("path", "method"),
    [
        ("/data/search/", "POST"),
        ("/saved_search/", "GET"),
        ("/lead/", "GET"),
        ("/contact/", "GET"),
        ("/email_template/", "GET"),
    ],
)
def test_faults_apply_to_the_new_paths(sb, path, method):
    ada = sb.view_contacts("Q1 prospects")[0]
    call = {
        "/data/search/": lambda: search(
            sb, {"query": {"type": "object_type", "object_type": "lead"}}
        ),
        "/saved_search/": lambda: get(sb, "saved_search/"),
        "/lead/": lambda: get(sb, f"lead/{ada['lead_id']}/"),
        "/contact/": lambda: get(sb, f"contact/{ada['id']}/"),
        "/email_template/": lambda: get(
            sb, f"email_template/{INTRO}/render/", lead_id=ada["lead_id"], contact_id=ada["id"]
        ),
    }[path]
    sb.inject("rate_limit", method=method, path=path, reset=7)
    sb.inject("error", method=method, path=path, status=503)
    sb.inject("malformed", method=method, path=path)
    sb.inject("drop", method=method, path=path)
    limited = call()
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "7"
    assert call().status_code == 503
    malformed = call()
    assert malformed.status_code == 200
    with pytest.raises(ValueError):
        malformed.json()
    with pytest.raises(requests.ConnectionError):
        call()
    assert call().status_code == 200


def test_a_bench_audience_of_1000_contacts(sb):
    made = requests.post(sb.base_url + "/_sandbox/audience", json={"n": 1000}, timeout=30)
    assert made.status_code == 200
    view = made.json()["saved_search"]
    assert view["type"] == "contact" and view["name"] == "Bench audience (1000 contacts)"
    body = {
        "query": view["s_query"]["query"],
        "_fields": {"contact": ["name", "emails"]},
        "_limit": 200,
        "include_counts": True,
    }
    assert search(sb, body).json()["count"]["total"] == 1000
    hits, calls = read_all(sb, body)
    assert calls == 5 and len({h["id"] for h in hits}) == 1000
    assert sum(1 for h in hits if not first_name(h)) == 125
    assert sum(1 for h in hits if not h["emails"]) == 40
    # The seeded views are unchanged.
    assert len(sb.view_contacts("Q1 prospects")) == 40
    assert (
        requests.post(sb.base_url + "/_sandbox/audience", json={"n": -1}, timeout=10).status_code
        == 400
    )


def test_cursor_encodes_only_the_position_and_the_search(sb):
    cursor = search(sb, {"query": view_query(sb, "Q1 prospects"), "_limit": 5}).json()["cursor"]
    state = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    assert set(state) == {"o", "q", "t"} and state["o"] == 5


def test_a_lead_has_a_page_for_people_with_everything_escaped(sb):
    smith = next(c for c in sb.view_contacts("Q1 prospects") if c["name"] == "Siobhán O'Brien")
    sb.add_contact(smith["lead_id"], name="<script>alert(1)</script>", emails=[])
    page = requests.get(f"{sb.base_url}/_sandbox/lead/{smith['lead_id']}/", timeout=10)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert "<h1>Smith &amp; Sons Logistics</h1>" in page.text
    assert (
        "Siobhán O&#x27;Brien" in page.text and "Industry: <strong>Logistics</strong>" in page.text
    )
    assert "<script>" not in page.text and "&lt;script&gt;" in page.text
    grace = sb.view_contacts("Q1 prospects")[1]
    shown = requests.get(f"{sb.base_url}/_sandbox/lead/{grace['lead_id']}/", timeout=10).text
    assert "Q4 nurture (live): active" in shown
    missing = requests.get(f"{sb.base_url}/_sandbox/lead/lead_nope/", timeout=10)
    assert missing.status_code == 404 and "Lead not found" in missing.text
    assert requests.post(f"{sb.base_url}/_sandbox/lead/x/", timeout=10).status_code == 404
