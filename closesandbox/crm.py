"""The sandbox's CRM side: leads, contacts, Smart Views, search, custom fields, Workflow
subscriptions, and rendering a template for one recipient (../shared/close-api.md §7 "Render
(preview) endpoints", §8, §14). Tags such as [I] are close-api.md's confidence tags.

Like store.py, nothing here does I/O or locking: Store.dispatch hands every path it does not route
itself to Crm.dispatch, under the sandbox lock. Rendering imports Django's template engine, and
only when a render endpoint is called, so the rest of the sandbox still runs on the stdlib alone.

The seeded data is deterministic (fixed random seed, fixed dates) and realistic on purpose:

- Smart View "Q1 prospects" (type contact) holds exactly 40 contacts over 16 leads: 12 without a
  first name, 3 without an email address, 7 without a phone, one whose first address is
  unsubscribed (the second is used), six already in the seeded Workflow "Q4 nurture (live)"
  (four active, one paused, one finished).
- Smart View "Logistics leads" (type lead) holds 5 leads, one of them without contacts and one
  whose first contact has no email address.
- "Open opportunities" (type opportunity), so a list filtered to leads and contacts has
  something to leave out.

THE FIRST-NAME RULE. Close's contacts have only `name` (§14); its template engine derives
`contact.first_name` itself and does not document how (§13 q18). Here, as Close's community code
does: first_name is the first whitespace-separated word of `name`, last_name the rest (stripped;
inner spacing kept). A contact has no first name when `name` is empty or only whitespace. A name
is not otherwise judged: "Dr. Anna Schmidt" has the first name "Dr.", "Prince" has no last name.
builder/copytext.contact_values derives the app's values by the same rule, independently, and
tests/builder/test_render_agreement.py checks that the two agree.
"""

import base64
import binascii
import copy
import functools
import hashlib
import json
import random
import re
import string
import time
import unicodedata
from html import escape

from . import seed
from . import store as _store  # the partly imported module (store imports crm): used at call time
from .page import _page

RATE_GROUPS = ("data", "saved_search", "lead", "contact", "custom_field", "sequence_subscription")
SEARCH_MAX_LIMIT = 200  # [O] community code's maximum; larger pages are refused
SEARCH_DEFAULT_LIMIT = 100  # [I] undocumented; clients always send _limit
CURSOR_TTL = 30.0  # [O] a third-party copy of Close's docs: "cursors expire after 30 seconds"
SAVED_SEARCH_TYPES = ("lead", "contact", "opportunity")
SUBSCRIPTION_STATUSES = ("active", "paused", "finished", "goal", "error")
MAX_QUERY_DEPTH = 20
REQUIRED = "This field is required."

Q1_VIEW_NAME = "Q1 prospects"
LOGISTICS_VIEW_NAME = "Logistics leads"
SEEDED_SEQUENCE = {"id": "seq_7rXbN2kQmV9sLp4TzY8wHc", "name": "Q4 nurture (live)"}
_STAMP = "2026-01-{day:02d}T09:{minute:02d}:00.000000+00:00"


# ---------------------------------------------------------------------------------------------
# Seed data

_LEADS = (
    # (company, website or "", Industry or None, Employees or None, status)
    ("Northwind Traders", "https://northwind.example", "Retail", 120, "Potential"),
    ("Smith & Sons Logistics", "https://smithandsons.example", "Logistics", 45, "Qualified"),
    ("Bluebird Health", "https://bluebird.example", "Healthcare", 800, "Potential"),
    ("Acme Rockets", "https://acme-rockets.example", "Manufacturing", 230, "Interested"),
    ("Globex", "https://globex.example", "Software", 1500, "Potential"),
    ("Initech", "", "Software", 300, "Qualified"),
    ("Umbrella Freight", "https://umbrella-freight.example", "Logistics", 75, "Potential"),
    ("Vandelay Industries", "https://vandelay.example", None, None, "Potential"),
    ("Stark Medical", "https://stark-medical.example", "Healthcare", 60, "Interested"),
    ("Wayne Shipping", "https://wayne-shipping.example", "Logistics", 410, "Qualified"),
    ("Hooli", "https://hooli.example", "Software", 5000, "Potential"),
    ("Pied Piper", "", None, 12, "Interested"),
    ("Soylent Foods", "https://soylent.example", "Retail", 90, "Potential"),
    ("Tyrell Robotics", "https://tyrell.example", "Manufacturing", 640, "Qualified"),
    ("Cyberdyne Analytics", "https://cyberdyne.example", None, None, "Potential"),
    ("Oceanic Travel", "https://oceanic.example", "Retail", 35, "Potential"),
    # Not in "Q1 prospects": two more logistics leads for "Logistics leads".
    ("Harbor Freight Partners", "https://harbor-freight.example", "Logistics", 20, "Potential"),
    ("Polar Express Couriers", "https://polar-express.example", "Logistics", 150, "Interested"),
)
_STATUS_IDS = {
    "Potential": "stat_1ZdiZqcSIkoGVnNOyxiEY58eTGQmFNG3LPlEVQ4V7Nk",
    "Qualified": "stat_8bKtqrO8bLkWzdDv2VoLXBqvvSYnMGHn4v9VMNSDbaf",
    "Interested": "stat_e9VbsANeTjuuM9ZvxBzpLlK6C0XDyoGoTkBEdNfcLm5",
}

# The 40 contacts of "Q1 prospects", in order; "" and whitespace-only names have no first name.
_Q1_NAMES = (
    "Ada Lovelace",
    "Grace Hopper",
    "José María García",
    "",
    "Siobhán O'Brien",
    "Dr. Anna Schmidt",
    "Prince",
    "",
    "Mei  Chen",
    "Łukasz Nowak",
    "Amara Okafor",
    "   ",
    "Ravi Iyer",
    "Tom Baker",
    "",
    "Sven Olsen",
    "Aiko Tanaka",
    "Carlos Mendes",
    "",
    "Nina Petrova",
    "Omar Haddad",
    "",
    "Priya Nair",
    "Lars Eriksen",
    "Hannah Weiss",
    " ",
    "Kofi Mensah",
    "Elena Rossi",
    "",
    "Yusuf Demir",
    "Ingrid Berg",
    "",
    "Diego Álvarez",
    "Marta Kowalska",
    "",
    "Zoë Lindqvist",
    "Sam O'Neil",
    "",
    "Fatima El Idrissi",
    "",
)
_Q1_NO_EMAIL = frozenset({5, 16, 30})
_Q1_NO_PHONE = frozenset({2, 9, 13, 20, 27, 33, 38})
_Q1_UNSUBSCRIBED_FIRST = frozenset({9})
_Q1_IN_SEEDED_SEQUENCE = {1: "active", 6: "active", 12: "active", 22: "active", 17: "paused"}
_Q1_IN_SEEDED_SEQUENCE |= {26: "finished"}
_ROLE_ADDRESSES = ("info", "sales", "office", "hello", "team", "contact")
_TITLES = ("VP Sales", "Head of Operations", "CEO", "Sales Manager", "Founder", "", "CTO")

# Bench audiences: generated names (the first-name rule above decides who has none).
_FIRST = ("Alex", "Sam", "Jordan", "Taylor", "Morgan", "Casey", "Riley", "Jamie", "Avery", "Quinn")
_LAST = ("Smith", "Garcia", "Chen", "Okafor", "Novak", "Silva", "Khan", "Berg", "Rossi", "Sato")
_BENCH_INDUSTRIES = ("Software", "Retail", "Healthcare", "Manufacturing")  # never "Logistics"


def _words(text):
    return re.findall(r"\w+", text.casefold())


def _email_local(name, index):
    decomposed = unicodedata.normalize("NFKD", name.casefold().replace("ł", "l"))
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    words = re.findall(r"[a-z]+", plain.replace("'", ""))
    return ".".join(words[:1] + words[1:][-1:]) if words else _ROLE_ADDRESSES[index % 6]


def _phone(number):
    digits = f"{number:04d}"
    return {
        "phone": f"+1415555{digits}",
        "phone_formatted": f"+1 415-555-{digits}",
        "type": "office",
        "country": "US",
    }


# ---------------------------------------------------------------------------------------------
# Query parameters and errors (Close's shapes, as in store.py)


def _error(status, message):
    return _store.ApiError(status, {"error": message})


def _field_error(field, message):
    return _store.ApiError(400, {"errors": [], "field-errors": {field: message}})


def _field_names(query):
    raw = query.get("_fields")
    return [n.strip() for n in raw.split(",") if n.strip()] if raw else None


# ---------------------------------------------------------------------------------------------
# The CRM


class Crm:
    def __init__(self, store):
        self.store = store  # email/SMS templates (render) and sequences (subscription names)
        self.leads = {}  # id -> lead without its contacts
        self.contacts = {}  # id -> contact
        self.lead_contacts = {}  # lead id -> [contact id], in creation order
        self.custom_fields = {"lead": [], "contact": []}
        self.saved_searches = {}
        self.subscriptions = []
        self.cursor_ttl = CURSOR_TTL
        self._rng = random.Random(20260107)  # fixed: the same ids after every reset
        self._audiences = 0
        self._seed()

    def _id(self, prefix, length=43):
        return prefix + "".join(self._rng.choices(string.digits + string.ascii_letters, k=length))

    # -- seeding ------------------------------------------------------------------------------

    def _seed(self):
        cf = self._custom_field
        self.industry = cf(
            "lead", "Industry", "choices", sorted({lead[2] for lead in _LEADS} - {None})
        )
        self.employees = cf("lead", "Employees", "number")
        self.campaign = cf("contact", "Campaign", "text")
        leads = [self._seed_lead(number, *row) for number, row in enumerate(_LEADS)]
        for index, name in enumerate(_Q1_NAMES):
            lead = leads[index * 16 // len(_Q1_NAMES)]
            domain = _domain(lead)
            emails = []
            if index not in _Q1_NO_EMAIL:
                if index in _Q1_UNSUBSCRIBED_FIRST:
                    emails.append(_email(f"old.{_email_local(name, index)}@{domain}", True))
                emails.append(_email(f"{_email_local(name, index)}@{domain}"))
            self.add_contact(
                lead["id"],
                name=name,
                title=_TITLES[index % len(_TITLES)],
                emails=emails,
                phones=[] if index in _Q1_NO_PHONE else [_phone(100 + index)],
                custom={self.campaign["id"]: "Q1 2026"},
                stamp=_STAMP.format(day=2 + index % 20, minute=index),
            )
        # Contacts the view leaves out: a newsletter list and the two extra logistics leads.
        for number, (lead, name) in enumerate(
            ((leads[0], "Mark Ellis"), (leads[4], "Julia Brandt"), (leads[10], "Noah Fischer"))
        ):
            self.add_contact(
                lead["id"],
                name=name,
                title="Marketing",
                emails=[_email(f"{_email_local(name, 0)}@{_domain(lead)}")],
                phones=[_phone(300 + number)],
                custom={self.campaign["id"]: "Newsletter"},
                stamp=_STAMP.format(day=25, minute=number),
            )
        polar = leads[17]
        stamp = _STAMP.format(day=26, minute=0)
        front_desk = {"name": "Front Desk", "title": "Reception", "phones": [_phone(400)]}
        self.add_contact(polar["id"], **front_desk, stamp=stamp)
        self.add_contact(
            polar["id"],
            name="Greta Lund",
            title="Operations Director",
            emails=[_email(f"greta.lund@{_domain(polar)}")],
            stamp=stamp,
        )

        contact_ids = list(self.contacts)
        for index, status in _Q1_IN_SEEDED_SEQUENCE.items():
            self.subscribe(SEEDED_SEQUENCE["id"], [contact_ids[index]], status=status)

        self.q1_view = self.add_saved_search(
            Q1_VIEW_NAME, "contact", self._campaign_query("Q1 2026"), description="Q1 outreach"
        )
        logistics = {
            "type": "and",
            "queries": [
                {"type": "object_type", "object_type": "lead"},
                {
                    "type": "field_condition",
                    "field": {"type": "custom_field", "custom_field_id": self.industry["id"]},
                    "condition": {"type": "term", "values": ["Logistics"]},
                },
            ],
        }
        self.logistics_view = self.add_saved_search(LOGISTICS_VIEW_NAME, "lead", logistics)
        opportunities = {"type": "object_type", "object_type": "opportunity"}
        self.add_saved_search("Open opportunities", "opportunity", opportunities)

    def _custom_field(self, object_type, name, kind, choices=None):
        field = {
            "id": self._id("cf_"),
            "name": name,
            "type": kind,
            "description": "",
            "choices": choices if kind == "choices" else None,
            "accepts_multiple_values": False,
            "editable_with_roles": [],
            "created_by": seed.USER_ID,
            "date_created": "2025-11-04T10:00:00.000000+00:00",
            "date_updated": "2025-11-04T10:00:00.000000+00:00",
        }
        self.custom_fields[object_type].append(field)
        return field

    def _seed_lead(self, number, company, url, industry, employees, status):
        custom = {self.industry["id"]: industry, self.employees["id"]: employees}
        return self.add_lead(
            company,
            url=url,
            status=status,
            custom=custom,
            stamp=_STAMP.format(day=1, minute=number),
        )

    def _campaign_query(self, value):
        return {
            "type": "and",
            "queries": [
                {"type": "object_type", "object_type": "contact"},
                {
                    "type": "field_condition",
                    "field": {"type": "custom_field", "custom_field_id": self.campaign["id"]},
                    "condition": {"type": "term", "values": [value]},
                },
            ],
        }

    # -- adding data (seed, bench and tests) --------------------------------------------------

    def add_lead(self, name, *, url="", status="Potential", custom=None, stamp=None):
        stamp = stamp or _store.aware_now()
        oid = self._id("lead_")
        self.leads[oid] = {
            "id": oid,
            "name": name,
            "display_name": name,
            "status_id": _STATUS_IDS[status],
            "status_label": status,
            "description": "",
            "url": url or None,
            "html_url": f"https://app.close.com/lead/{oid}/",
            "addresses": [],
            "opportunities": [],
            "tasks": [],
            "organization_id": seed.ORG_ID,
            "created_by": seed.USER_ID,
            "updated_by": seed.USER_ID,
            "date_created": stamp,
            "date_updated": stamp,
            # Close leaves a custom field out when it has no value.
            **{f"custom.{k}": v for k, v in (custom or {}).items() if v is not None},
        }
        self.lead_contacts[oid] = []
        return self.leads[oid]

    def add_contact(
        self, lead_id, *, name, title="", emails=(), phones=(), custom=None, stamp=None
    ):
        stamp = stamp or _store.aware_now()
        oid = self._id("cont_")
        self.contacts[oid] = {
            "id": oid,
            "lead_id": lead_id,
            "name": name,
            # [I] Undocumented for an empty name; Close's UI shows the address then.
            "display_name": name.strip() or next((e["email"] for e in emails), ""),
            "title": title,
            "emails": list(emails),
            "phones": list(phones),
            "urls": [],
            "organization_id": seed.ORG_ID,
            "created_by": seed.USER_ID,
            "updated_by": seed.USER_ID,
            "date_created": stamp,
            "date_updated": stamp,
            **{f"custom.{k}": v for k, v in (custom or {}).items() if v is not None},
        }
        self.lead_contacts[lead_id].append(oid)
        return self.contacts[oid]

    def add_saved_search(self, name, kind, query, *, description="", results_limit=None):
        oid = self._id("save_")
        self.saved_searches[oid] = {
            "id": oid,
            "name": name,
            "description": description,
            "type": kind,
            "s_query": {"query": query, "sort": [], "results_limit": results_limit},
            "query": None,
            "is_shared": True,
            "shared_with": [],
            "sharing_settings": {"whole_org": True, "user_ids": [], "group_ids": []},
            "is_user_dependent": False,
            "selected_fields": [],
            "user_id": seed.USER_ID,
            "organization_id": seed.ORG_ID,
            "date_created": "2025-12-01T08:00:00.000000+00:00",
            "date_updated": "2025-12-01T08:00:00.000000+00:00",
            "used_recently": False,
        }
        return self.saved_searches[oid]

    def add_audience(self, n, *, name=None):
        """A new contact Smart View holding `n` new contacts (three per new lead), for the bench.
        Every 8th has no first name, every 25th no email, every 6th no phone."""
        self._audiences += 1
        campaign = f"Bench audience {self._audiences}"
        lead = None
        for index in range(n):
            if index % 3 == 0:
                company = f"{_LAST[index // 3 % 10]} {_FIRST[index // 30 % 10]} Group {index // 3}"
                lead = self.add_lead(
                    company,
                    url=f"https://company-{self._audiences}-{index // 3}.example",
                    custom={self.industry["id"]: _BENCH_INDUSTRIES[index // 3 % 4]},
                )
            first, last = _FIRST[index % 10], _LAST[index // 10 % 10]
            no_name = index % 8 == 7
            local = f"{first}.{last}.{index}".lower()
            self.add_contact(
                lead["id"],
                name="" if no_name else f"{first} {last}",
                title=_TITLES[index % len(_TITLES)],
                emails=[] if index % 25 == 24 else [_email(f"{local}@{_domain(lead)}")],
                phones=[] if index % 6 == 5 else [_phone(index % 10000)],
                custom={self.campaign["id"]: campaign},
            )
        return self.add_saved_search(
            name or f"Bench audience ({n} contacts)", "contact", self._campaign_query(campaign)
        )

    def subscribe(self, sequence_id, contact_ids, *, status="active", status_reason=None):
        if status not in SUBSCRIPTION_STATUSES:
            raise ValueError(f"status must be one of {SUBSCRIPTION_STATUSES}")
        if not isinstance(sequence_id, str) or not sequence_id:
            raise ValueError("sequence_id must be a sequence id")
        unknown = [c for c in contact_ids if c not in self.contacts]
        if unknown:  # all or nothing
            raise KeyError(unknown[0])
        made = []
        for contact_id in contact_ids:
            contact = self.contacts[contact_id]
            stamp = "2026-01-05T15:00:00.000000+00:00"
            made.append(
                {
                    "id": self._id("sub_", 22),
                    "sequence_id": sequence_id,
                    "contact_id": contact_id,
                    "lead_id": contact["lead_id"],
                    "contact_email": _usable_email(contact),
                    "sender_account_id": seed.ME["email_accounts"][0]["id"],
                    "sender_email": seed.ME["email"],
                    "sender_name": f"{seed.ME['first_name']} {seed.ME['last_name']}",
                    "calls_assigned_to": [],
                    "start_date": stamp,
                    "status": status,
                    "status_reason": status_reason or ("manual" if status == "paused" else None),
                    "created_by_id": seed.USER_ID,
                    "updated_by_id": seed.USER_ID,
                    "date_created": stamp,
                    "date_updated": stamp,
                }
            )
        self.subscriptions.extend(made)
        return made

    # -- output shapes ------------------------------------------------------------------------

    def _custom_by_name(self, obj, object_type):
        """The deprecated `custom` dict, keyed by field name (§14 [O])."""
        return {
            field["name"]: obj[f"custom.{field['id']}"]
            for field in self.custom_fields[object_type]
            if f"custom.{field['id']}" in obj
        }

    def contact_out(self, contact, names=None):
        full = {**contact, "custom": self._custom_by_name(contact, "contact")}
        # `subscriptions` is in Close's schema but in no example (§14 [I]): only when asked for.
        if names is not None and "subscriptions" in names:
            full["subscriptions"] = self._contact_subscriptions(contact["id"])
        return _pick(full, names)

    def lead_out(self, lead, names=None):
        full = {
            **lead,
            "contacts": [
                self.contact_out(self.contacts[c]) for c in self.lead_contacts[lead["id"]]
            ],
            "custom": self._custom_by_name(lead, "lead"),
        }
        return _pick(full, names)

    def _contact_subscriptions(self, contact_id):
        return [
            {
                "sequence_id": sub["sequence_id"],
                "sequence_name": self._sequence_name(sub["sequence_id"]),
                "sequence_status": "active",
                "subscription_id": sub["id"],
                "subscription_status": sub["status"],
                "subscription_status_reason": sub["status_reason"],
                "contact_email": sub["contact_email"],
                "start_date": sub["start_date"],
                "initial_email_id": None,
            }
            for sub in self.subscriptions
            if sub["contact_id"] == contact_id
        ]

    def _sequence_name(self, sequence_id):
        if sequence_id == SEEDED_SEQUENCE["id"]:
            return SEEDED_SEQUENCE["name"]
        return (self.store.sequences.get(sequence_id) or {}).get("name")

    # -- routing ------------------------------------------------------------------------------

    ROUTES = (
        (re.compile(r"data/search/"), {"POST": "search"}),
        (re.compile(r"saved_search/"), {"GET": "list_saved_searches"}),
        (re.compile(r"saved_search/(?P<oid>[^/]+)/"), {"GET": "get_saved_search"}),
        (re.compile(r"lead/(?P<oid>[^/]+)/"), {"GET": "get_lead"}),
        (re.compile(r"contact/"), {"GET": "list_contacts"}),
        (re.compile(r"contact/(?P<oid>[^/]+)/"), {"GET": "get_contact"}),
        (re.compile(r"custom_field/(?P<kind>lead|contact)/"), {"GET": "list_custom_fields"}),
        (re.compile(r"sequence_subscription/"), {"GET": "list_subscriptions"}),
        (re.compile(r"email_template/(?P<oid>[^/]+)/render/"), {"GET": "render_email"}),
        (re.compile(r"sms_template/(?P<oid>[^/]+)/render/"), {"GET": "render_sms"}),
    )

    def dispatch(self, method, subpath, query, body):
        """Like Store.dispatch, for the paths above: (status, payload, extra headers)."""
        for pattern, methods in self.ROUTES:
            match = pattern.fullmatch(subpath)
            if not match:
                continue
            if method not in methods:
                return 405, {"error": "Method not allowed"}, [("Allow", ", ".join(methods))]
            try:
                payload = getattr(self, methods[method])(
                    query=query, body=body, **match.groupdict()
                )
            except _store.ApiError as exc:
                return exc.status, exc.body, []
            return 200, payload, []
        return 404, {"error": "Not found"}, []

    # -- endpoints ----------------------------------------------------------------------------

    def list_saved_searches(self, query, body):
        if "type__in" in query:
            kinds = [k.strip() for k in query["type__in"].split(",") if k.strip()]
        else:
            kinds = [query.get("type") or "lead"]  # lead by default [D]
        unknown = [k for k in kinds if k not in SAVED_SEARCH_TYPES]
        if unknown:
            raise _error(400, f"Unknown Smart View type {unknown[0]!r}.")
        views = [v for v in self.saved_searches.values() if v["type"] in kinds]
        return _store.paginate(views, query)

    def get_saved_search(self, query, body, oid):
        view = self.saved_searches.get(oid)
        if view is None:
            raise _error(404, "Smart View not found.")
        return _store.select_fields(view, query)

    def get_lead(self, query, body, oid):
        lead = self.leads.get(oid)
        if lead is None:
            raise _error(404, f"Lead {oid} not found.")
        return self.lead_out(lead, _field_names(query))

    def get_contact(self, query, body, oid):
        contact = self.contacts.get(oid)
        if contact is None:
            raise _error(404, f"Contact {oid} not found.")
        return self.contact_out(contact, _field_names(query))

    def list_contacts(self, query, body):
        lead_id = query.get("lead_id")
        ids = self.lead_contacts.get(lead_id, []) if lead_id else list(self.contacts)
        names = _field_names(query)
        page = _store.paginate(ids, {k: v for k, v in query.items() if k != "_fields"})
        page["data"] = [self.contact_out(self.contacts[c], names) for c in page["data"]]
        return page

    def list_custom_fields(self, query, body, kind):
        return _store.paginate(self.custom_fields[kind], query)

    def list_subscriptions(self, query, body):
        given = {k: query[k] for k in ("sequence_id", "contact_id", "lead_id") if query.get(k)}
        if not given:  # mandatory since 2021-03-31 [D]
            raise _error(400, "One of sequence_id, contact_id or lead_id is required.")
        found = [s for s in self.subscriptions if all(s[k] == v for k, v in given.items())]
        return _store.paginate(found, query)

    # -- search -------------------------------------------------------------------------------

    def search(self, query, body):
        if not isinstance(body, dict):
            raise _error(400, "Invalid JSON")
        tree = body.get("query")
        if not isinstance(tree, dict):
            raise _field_error("query", REQUIRED)
        limit = body.get("_limit", SEARCH_DEFAULT_LIMIT)
        if not _store.is_integer(limit) or not 0 <= limit <= SEARCH_MAX_LIMIT:
            raise _field_error("_limit", f"Must be an integer from 0 to {SEARCH_MAX_LIMIT}.")
        results_limit = body.get("results_limit")
        if results_limit is not None and not (
            _store.is_integer(results_limit) and results_limit >= 0
        ):
            raise _field_error("results_limit", "Must be null or a non-negative integer.")
        fields = body.get("_fields") or {}
        if not isinstance(fields, dict) or not all(
            isinstance(v, list) and all(isinstance(n, str) for n in v) for v in fields.values()
        ):
            raise _field_error(
                "_fields", 'Must map object types to field lists: {"contact": [...]}.'
            )
        sort = body.get("sort") or []
        fingerprint = hashlib.sha256(
            json.dumps([tree, sort, results_limit], sort_keys=True).encode()
        ).hexdigest()[:16]
        offset = self._read_cursor(body.get("cursor"), fingerprint)

        hits = [("lead", lead) for lead in self.leads.values()]
        hits += [("contact", contact) for contact in self.contacts.values()]
        hits = [(kind, obj) for kind, obj in hits if self._matches(tree, kind, obj, 0)]
        hits = self._sorted(hits, sort)
        total = len(hits)
        if results_limit is not None:
            hits = hits[:results_limit]
        page = hits[offset : offset + limit]
        more = offset + limit < len(hits) and limit > 0
        answer = {
            "data": [self._hit(kind, obj, fields.get(kind)) for kind, obj in page],
            "cursor": self._cursor(offset + limit, fingerprint) if more else None,
        }
        if body.get("include_counts"):
            answer["count"] = {"total": total, "limited": len(hits)}
        return answer

    def _hit(self, kind, obj, names):
        out = self.contact_out(obj, names) if kind == "contact" else self.lead_out(obj, names)
        base = {"__object_type": kind, "id": obj["id"]}  # all a hit has without _fields [D]
        return {**base, **(out if names else {})}

    def _cursor(self, offset, fingerprint):
        raw = json.dumps({"o": offset, "q": fingerprint, "t": time.monotonic()}).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    def _read_cursor(self, cursor, fingerprint):
        if cursor is None:
            return 0
        try:
            raw = base64.urlsafe_b64decode(str(cursor) + "=" * (-len(str(cursor)) % 4))
            state = json.loads(raw)
            offset, made_for, issued = int(state["o"]), state["q"], float(state["t"])
        except (binascii.Error, ValueError, TypeError, KeyError):
            raise _field_error("cursor", "Invalid cursor.") from None
        if made_for != fingerprint:
            raise _field_error("cursor", "This cursor belongs to a different search.")
        if time.monotonic() - issued > self.cursor_ttl:
            raise _field_error("cursor", "Cursor expired. Start the search again.")
        return offset

    def _sorted(self, hits, sort):
        if not isinstance(sort, list):
            raise _field_error("sort", "Must be a list.")
        for item in reversed(sort):  # stable sorts, last key first
            if not isinstance(item, dict) or item.get("direction", "asc") not in ("asc", "desc"):
                raise _field_error(
                    "sort", 'Each item is {"field": ..., "direction": "asc"|"desc"}.'
                )
            field = item.get("field")
            keyed = [(self._value(field, kind, obj), (kind, obj)) for kind, obj in hits]
            present = sorted(
                (pair for pair in keyed if pair[0] not in (None, "", [])),
                key=lambda pair: _sort_key(pair[0]),
                reverse=item.get("direction") == "desc",
            )
            hits = [hit for _, hit in present] + [h for v, h in keyed if v in (None, "", [])]
        return hits

    def _matches(self, node, kind, obj, depth):
        if depth > MAX_QUERY_DEPTH:
            raise _field_error("query", "The query is nested too deeply.")
        if not isinstance(node, dict):
            raise _field_error("query", "Every query node must be an object.")
        matched = self._node(node, kind, obj, depth + 1)
        return not matched if node.get("negate") is True else matched

    def _node(self, node, kind, obj, depth):
        node_type = node.get("type")
        if node_type in ("and", "or"):
            queries = node.get("queries")
            if not isinstance(queries, list):
                raise _field_error("query", f'An "{node_type}" node needs a "queries" list.')
            test = all if node_type == "and" else any
            return test(self._matches(q, kind, obj, depth) for q in queries)
        if node_type == "object_type":
            return node.get("object_type") == kind
        if node_type == "id":
            return node.get("value") == obj["id"]
        if node_type == "saved_search":
            view = self.saved_searches.get(node.get("saved_search_id"))
            if view is None:
                raise _field_error("query", f"Smart View {node.get('saved_search_id')} not found.")
            return self._matches((view["s_query"] or {}).get("query") or {}, kind, obj, depth)
        if node_type == "text":  # the search box: every text field of the object
            return _text_matches(self._all_text(kind, obj), node)
        if node_type == "field_condition":
            field = node.get("field")
            return _condition(self._value(field, kind, obj), node.get("condition"))
        if node_type == "has_related":
            if node.get("this_object_type") != kind:
                return False
            related = self._related(kind, obj, node.get("related_object_type"))
            inner = node.get("related_query")
            related_kind = node.get("related_object_type")
            return any(self._matches(inner, related_kind, r, depth) for r in related)
        raise _field_error("query", f"The sandbox does not support {node_type!r} query nodes.")

    def _related(self, kind, obj, related_type):
        if (kind, related_type) == ("contact", "lead"):
            return [self.leads[obj["lead_id"]]]
        if (kind, related_type) == ("lead", "contact"):
            return [self.contacts[c] for c in self.lead_contacts[obj["id"]]]
        if (kind, related_type) == ("contact", "contact_email"):
            return obj["emails"]
        if (kind, related_type) == ("contact", "contact_phone"):
            return obj["phones"]
        raise _field_error("query", f"The sandbox cannot relate {kind} to {related_type}.")

    def _value(self, field, kind, obj):
        if not isinstance(field, dict):
            raise _field_error("query", "A field must be an object with a type.")
        if field.get("type") == "custom_field":
            field_id = field.get("custom_field_id")
            known = self.custom_fields.get(kind, [])
            if not any(f["id"] == field_id for f in known):
                # A field of another object type just does not match, as in Close [I].
                if any(f["id"] == field_id for fs in self.custom_fields.values() for f in fs):
                    return None
                raise _field_error("query", f"Unknown custom field {field_id}.")
            return obj.get(f"custom.{field_id}")
        if field.get("type") == "regular_field":
            if field.get("object_type") != kind:
                return None  # fields of another object need has_related [D]
            name = field.get("field_name")
            if name == "emails_count":
                return len(obj["emails"])
            if name == "phones_count":
                return len(obj["phones"])
            return obj.get(name)
        raise _field_error("query", f"Unknown field type {field.get('type')!r}.")

    def _all_text(self, kind, obj):
        if kind == "contact":
            parts = [obj["name"], obj["title"]] + [e["email"] for e in obj["emails"]]
            return " ".join(parts + [p["phone"] for p in obj["phones"]])
        if kind == "lead":
            return " ".join(filter(None, [obj["display_name"], obj["description"], obj["url"]]))
        return " ".join(str(v) for v in obj.values() if isinstance(v, str))

    # -- render -------------------------------------------------------------------------------

    def render_email(self, query, body, oid):
        template = self.store.email_templates.get(oid)
        if template is None:
            raise _error(404, "Email template not found.")
        lead, contact = self._recipient(query, contact_required=True)
        context = self._context(lead, contact)
        return {
            "subject": _render(template["subject"], context, autoescape=False),
            "body": _render(template["body"], context, autoescape=True),
            **self._recipient_summary(lead, contact),
            "email": _usable_email(contact) or None,
        }

    def render_sms(self, query, body, oid):
        template = self.store.sms_templates.get(oid)
        if template is None:
            raise _error(404, "SMS template not found.")
        lead, contact = self._recipient(query, contact_required=False)
        context = self._context(lead, contact)
        phones = (contact or {}).get("phones") or []
        return {
            "text": _render(template["text"], context, autoescape=False),
            **self._recipient_summary(lead, contact),
            "phone": phones[0]["phone"] if phones else None,  # [I] body undocumented
        }

    def _recipient(self, query, *, contact_required):
        lead_id, contact_id = query.get("lead_id"), query.get("contact_id")
        if not lead_id:
            raise _field_error("lead_id", REQUIRED)
        if contact_required and not contact_id:
            raise _field_error("contact_id", REQUIRED)
        lead = self.leads.get(lead_id)
        if lead is None:
            raise _error(404, f"Lead {lead_id} not found.")
        if not contact_id:  # SMS without a contact: the lead's first contact [I]
            first = self.lead_contacts[lead_id][:1]
            return lead, self.contacts[first[0]] if first else None
        contact = self.contacts.get(contact_id)
        if contact is None:
            raise _error(404, f"Contact {contact_id} not found.")
        if contact["lead_id"] != lead_id:
            raise _field_error("contact_id", f"Contact {contact_id} is not on lead {lead_id}.")
        return lead, contact

    @staticmethod
    def _recipient_summary(lead, contact):
        return {
            "lead_id": lead["id"],
            "lead_display_name": lead["display_name"],
            "contact_id": contact["id"] if contact else None,
            "contact_display_name": contact["display_name"] if contact else None,
        }

    def _context(self, lead, contact):
        """What Close's engine sees, built from the JSON like Close does (§7 merge fields): the
        contact's derived names and first usable address, the lead's custom fields by name, the
        API key's user and organization."""
        contact = contact or {"name": "", "emails": [], "phones": [], "title": ""}
        parts = contact["name"].split(None, 1)
        return {
            "contact": {
                **_present(contact),
                "first_name": parts[0] if parts else "",
                "last_name": parts[1].strip() if len(parts) > 1 else "",
                "email": _usable_email(contact),
                "custom": self._custom_by_name(contact, "contact"),
            },
            "lead": {**_present(lead), "custom": self._custom_by_name(lead, "lead")},
            "user": {
                "first_name": seed.ME["first_name"],
                "last_name": seed.ME["last_name"],
                "full_name": f"{seed.ME['first_name']} {seed.ME['last_name']}",
                "email": seed.ME["email"],
            },
            "organization": {"id": seed.ORG_ID, "name": seed.ORG_NAME},
        }


# ---------------------------------------------------------------------------------------------
# Helpers


def _domain(lead):
    url = lead.get("url") or f"https://{re.sub(r'[^a-z]+', '', lead['name'].lower())}.example"
    return url.split("//", 1)[1]


def _email(address, unsubscribed=False):
    return {"email": address, "type": "office", "is_unsubscribed": unsubscribed}


def _present(obj):
    """`obj` without its null values: Django would print None as "None", and no Close email
    shows that (§13 q11: what Close prints for a missing value is open; "" is the safe guess)."""
    return {key: value for key, value in obj.items() if value is not None}


def _usable_email(contact):
    """The first address not unsubscribed (§14), or ""."""
    return next((e["email"] for e in contact["emails"] if not e.get("is_unsubscribed")), "")


def _pick(obj, names):
    """`_fields` on a lead or contact: the named keys; `custom` brings every custom field, and
    `custom.cf_…` just that one (§14 [D]). Unknown names are skipped, as elsewhere."""
    if names is None:
        return obj
    picked = {}
    for name in names:
        if name == "custom":
            picked.update({k: v for k, v in obj.items() if k.startswith("custom")})
        elif name in obj:
            picked[name] = obj[name]
    return picked


def _sort_key(value):
    return (0, value, "") if isinstance(value, int | float) else (1, 0, str(value).casefold())


def _text_matches(text, condition):
    if not isinstance(condition, dict) or not isinstance(condition.get("value"), str):
        raise _field_error("query", 'A text condition needs a "value" string.')
    mode = condition.get("mode", "full_words")
    wanted, have = _words(condition["value"]), _words(text or "")
    if mode == "exact_value":
        return (text or "").strip().casefold() == condition["value"].strip().casefold()
    if mode == "full_words":
        return all(word in have for word in wanted)
    if mode == "beginning_of_words":
        return all(any(h.startswith(word) for h in have) for word in wanted)
    if mode == "phrase":
        n = len(wanted)
        return any(have[i : i + n] == wanted for i in range(len(have) - n + 1))
    raise _field_error("query", f"Unknown text mode {mode!r}.")


def _condition(value, condition):
    if not isinstance(condition, dict):
        raise _field_error("query", "A field_condition needs a condition object.")
    kind = condition.get("type")
    values = value if isinstance(value, list) else [value]
    if kind == "text":
        return any(_text_matches(v, condition) for v in values if isinstance(v, str))
    if kind == "term":
        wanted = condition.get("values")
        if not isinstance(wanted, list):
            raise _field_error("query", 'A term condition needs a "values" list.')
        return any(v in wanted for v in values if v is not None)
    if kind == "exists":
        return value not in (None, "", [])
    if kind == "boolean":
        return value is condition.get("value")
    if kind == "number_range":
        if not isinstance(value, int | float) or isinstance(value, bool):
            return False
        bounds = {"gt": value.__gt__, "gte": value.__ge__, "lt": value.__lt__, "lte": value.__le__}
        return all(test(condition[k]) for k, test in bounds.items() if condition.get(k) is not None)
    raise _field_error("query", f"The sandbox does not support {kind!r} conditions.")


@functools.cache
def _engine(autoescape):
    from django.template import Engine  # a real Django engine, standalone (no settings needed)

    return Engine(autoescape=autoescape)


def _render(text, context, *, autoescape):
    from django.template import Context, TemplateSyntaxError

    try:
        template = _engine(autoescape).from_string(text or "")
    except TemplateSyntaxError as exc:
        # [I] Close's answer to a broken tag is undocumented (§13 q11); a 400 says what broke.
        raise _store.ApiError(400, {"errors": [f"Template syntax error: {exc}"]}) from None
    return template.render(Context(context, autoescape=autoescape))


# ---------------------------------------------------------------------------------------------
# Sandbox methods (mixed into server.Sandbox) and control endpoints


class SandboxCrm:
    """What tests, the bench and demo scripts use to shape the CRM data (all under the lock)."""

    @property
    def crm(self):
        """The live Crm (hold self._lock while using it from another thread)."""
        return self._store.crm

    def add_lead(self, name, **fields):
        """A lead (fields: url, status, custom={cf id: value}); returns a copy."""
        with self._lock:
            return copy.deepcopy(self._store.crm.add_lead(name, **fields))

    def add_contact(self, lead_id, **fields):
        """A contact on a lead (fields: name, title, emails, phones, custom); returns a copy."""
        with self._lock:
            return copy.deepcopy(self._store.crm.add_contact(lead_id, **fields))

    def custom_field(self, object_type, name):
        """A copy of the custom field of `object_type` ("lead", "contact") called `name`."""
        with self._lock:
            fields = self._store.crm.custom_fields[object_type]
            return copy.deepcopy(next(f for f in fields if f["name"] == name))

    def add_audience(self, n, *, name=None):
        """A new contact Smart View of `n` generated contacts; returns a copy of the view."""
        with self._lock:
            return copy.deepcopy(self._store.crm.add_audience(n, name=name))

    def subscribe(self, sequence_id, contact_ids, *, status="active", status_reason=None):
        """Put contacts into a Workflow (`GET /sequence_subscription/` lists them)."""
        with self._lock:
            made = self._store.crm.subscribe(
                sequence_id, contact_ids, status=status, status_reason=status_reason
            )
            return copy.deepcopy(made)

    def smart_view(self, name):
        """A copy of the seeded or added Smart View called `name`."""
        with self._lock:
            views = self._store.crm.saved_searches.values()
            return copy.deepcopy(next(v for v in views if v["name"] == name))

    def view_contacts(self, name):
        """Copies of the contacts a contact Smart View holds, in search order (for tests)."""
        with self._lock:
            crm = self._store.crm
            view = next(v for v in crm.saved_searches.values() if v["name"] == name)
            query = view["s_query"]["query"]
            found = [c for c in crm.contacts.values() if crm._matches(query, "contact", c, 0)]
            return [crm.contact_out(c) for c in copy.deepcopy(found)]

    def set_search_cursor_ttl(self, seconds):
        with self._lock:
            self._store.crm.cursor_ttl = float(seconds)


def control(sandbox, method, parts, data):
    """POST /_sandbox/audience {"n": 1000, "name"?}, POST /_sandbox/enroll {"sequence_id",
    "contact_ids", "status"?}, and GET /_sandbox/lead/{id}/, the lead's page for people (where
    the app's "View in Close" links lead in demo mode). Returns the arguments of _send."""
    route = (method, parts[0] if parts else "")
    if route == ("GET", "lead") and len(parts) == 2:
        with sandbox._lock:
            lead = sandbox.crm.leads.get(parts[1])
            html = lead_page(sandbox.crm, lead) if lead else _lead_not_found(parts[1])
        return 200 if lead else 404, None, (), html.encode(), "text/html; charset=utf-8"
    if route == ("POST", "audience"):
        if not isinstance(data, dict) or not _store.is_integer(data.get("n")) or data["n"] < 0:
            return 400, {"error": 'Expected {"n": <number of contacts>, "name": optional}'}
        view = sandbox.add_audience(data["n"], name=data.get("name"))
        return 200, {"saved_search": view}
    if route == ("POST", "enroll"):
        if not isinstance(data, dict) or not isinstance(data.get("contact_ids"), list):
            return 400, {"error": 'Expected {"sequence_id", "contact_ids": [...], "status"?}'}
        try:
            made = sandbox.subscribe(
                data.get("sequence_id"), data["contact_ids"], status=data.get("status", "active")
            )
        except KeyError as exc:
            return 404, {"error": f"Unknown contact {exc.args[0]}"}
        except ValueError as exc:
            return 400, {"error": str(exc)}
        return 200, {"subscriptions": made}
    return 404, {"error": "Not found"}


CONTROL_ROUTES = ("audience", "enroll", "lead")


def lead_page(crm, lead):
    """A lead as Close's app would show it: custom fields, contacts, their Workflows. Every
    value is escaped (names are data)."""
    shown = crm.lead_out(lead)
    custom = "".join(
        f"<li>{escape(str(name))}: <strong>{escape(str(value))}</strong></li>"
        for name, value in shown["custom"].items()
    )
    rows = []
    for contact in shown["contacts"]:
        emails = "<br>".join(
            escape(e["email"]) + (" (unsubscribed)" if e.get("is_unsubscribed") else "")
            for e in contact["emails"]
        )
        phones = "<br>".join(escape(p["phone_formatted"]) for p in contact["phones"])
        runs = "<br>".join(
            f"{escape(str(run['sequence_name'] or run['sequence_id']))}: "
            f"{escape(run['subscription_status'])}"
            for run in crm._contact_subscriptions(contact["id"])
        )
        name = escape(contact["name"]) if contact["name"].strip() else _NONE
        rows.append(
            f"<tr><td>{name}<br><code>{escape(contact['id'])}</code></td>"
            f"<td>{escape(contact['title'] or '')}</td><td>{emails or _NONE}</td>"
            f"<td>{phones or _NONE}</td><td>{runs or _NONE}</td></tr>"
        )
    body = (
        f"<h1>{escape(shown['display_name'])}</h1>"
        f'<p><span class="badge">{escape(shown["status_label"])}</span> '
        f"<code>{escape(shown['id'])}</code></p>"
        f"<p>Website: {escape(shown['url'] or '—')}</p>"
        f"<h2>Custom fields</h2>{f'<ul>{custom}</ul>' if custom else '<p>None.</p>'}"
        "<h2>Contacts</h2><table><thead><tr><th>Name</th><th>Title</th><th>Email</th>"
        f"<th>Phone</th><th>Workflows</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )
    return _page(shown["display_name"], body)


def _lead_not_found(lead_id):
    body = f"<h1>Lead not found</h1><p><code>{escape(lead_id)}</code> is not in the sandbox.</p>"
    return _page("Not found", body)


_NONE = '<span class="muted">—</span>'
