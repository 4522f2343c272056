"""The app's local renderer (copytext.render over copytext.contact_values) and the sandbox's
render endpoints (a real Django engine over a context built from the same JSON, written
separately in closesandbox/crm.py) agree on a table of tags, fallbacks and recipients.

Each side builds its values its own way from what Close returns: the app from the JSON the
audience check reads (CloseClient, with the field lists it asks for), the sandbox from its own
records. Any difference in a tag's meaning (the first-name rule, which address is used, how a
missing value or a fallback prints, what is escaped in an HTML body) fails here."""

import html

import pytest

from builder import copytext
from builder.close import CONTACT_FIELDS, LEAD_FIELDS, CloseClient
from closesandbox import Sandbox

KEY = "sandbox-key"
EMAIL = "tmpl_00jcushDRuoBBS5sSTUAbNt4dPpBUhlJqQafVfzzRJn"
SMS = "smstmpl_71JQ1KxplWkUvKD7TBdDT643l8hSBT7sYxnj16xOXZT"

# Every merge field of copytext.MERGE_FIELDS, bare and with fallbacks, and lead custom fields.
TAGS = (
    "Hi {{ contact.first_name }},",
    'Hi {{ contact.first_name | default:"there" }},',
    "Hi {{contact.first_name|default:'there'}},",
    'Hi {{ contact.first_name|default:"you & yours" }},',
    'Hi {{ contact.first_name|default:"friend\'s team" }},',
    "{{ contact.last_name }}",
    '{{ contact.last_name|default:"(no last name)" }}',
    "{{ contact.name }}",
    '{{ contact.name | default:"Sir or Madam" }}',
    "{{ contact.email }}",
    '{{ contact.email | default:"(no address)" }}',
    "{{ contact.phones.0.phone }}",
    '{{ contact.phones.0.phone|default:"no phone" }}',
    "{{ lead.display_name }}",
    '{{ lead.display_name|default:"your company" }}',
    "{{ lead.url }}",
    '{{ lead.url | default:"your website" }}',
    '{{ lead.custom.Industry | default:"your industry" }}',
    "{{ lead.custom.Employees }} people",
    "{{ user.first_name }} ({{ user.email }})",
    "{{ organization.name }}",
    "No tags at all",
)
# A plain subject and SMS; a body is HTML, as the editor stores it (copytext.clean_body).
SUBJECT = "\n".join(TAGS)
BODY = copytext.clean_body("".join(f"<div>{html.escape(tag, quote=False)}</div>" for tag in TAGS))


def email(address, unsubscribed=False):
    return {"email": address, "type": "office", "is_unsubscribed": unsubscribed}


PHONE = {"phone": "+14155550123", "phone_formatted": "+1 415-555-0123", "type": "office"}


def recipient(lead, url, industry, employees, name, emails, phones=(PHONE,)):
    return {"lead": (lead, url, industry, employees), "contact": (name, emails, list(phones))}


RECIPIENTS = {
    "plain": recipient(
        "Northwind", "https://nw.example", "Retail", 120, "Ada Lovelace", ["a@x.example"]
    ),
    "empty name": recipient(
        "Northwind", "https://nw.example", "Retail", 120, "", ["info@x.example"]
    ),
    "whitespace name": recipient("Globex", "", None, None, "   ", ["sales@x.example"], ()),
    "one word": recipient(
        "Bluebird", "https://bb.example", "Healthcare", 8, "Prince", ["p@x.example"], ()
    ),
    "three words, double space": recipient(
        "Initech",
        "https://initech.example",
        "Software",
        300,
        "José María  García",
        ["jm@x.example"],
    ),
    "title first, nothing else": recipient(
        "Stark Medical", None, None, None, "Dr. Anna Schmidt", [], ()
    ),
    "apostrophe and HTML": recipient(
        "Smith & Sons <Logistics>",
        "https://s.example/?a=1&b=2",
        "Logistics",
        45,
        "Siobhán O'Brien",
        ["s.obrien@x.example"],
    ),
    "first address unsubscribed": recipient(
        "Acme",
        "https://acme.example",
        "Manufacturing",
        230,
        "Łukasz Nowak",
        [("old@x.example", True), "lukasz@x.example"],
    ),
    "only unsubscribed": recipient(
        "Acme",
        "https://acme.example",
        "Manufacturing",
        230,
        "Mei  Chen",
        [("mei@x.example", True)],
        (),
    ),
    "spaces around": recipient(
        "Hooli", "https://hooli.example", "Software", 5000, "  Kofi Mensah  ", ["k@x.example"]
    ),
}


@pytest.fixture(scope="module")
def sb():
    with Sandbox(api_keys={KEY}) as sandbox:
        sandbox.update_template(EMAIL, subject=SUBJECT, body=BODY)
        sandbox.update_template(SMS, text=SUBJECT)
        yield sandbox


@pytest.fixture(scope="module")
def api(sb):
    with CloseClient(api_key=KEY, base_url=sb.url) as client:
        yield client


def add_recipient(sb, case):
    (lead_name, url, industry, employees), (name, emails, phones) = case["lead"], case["contact"]
    fields = {sb.custom_field("lead", "Industry")["id"]: industry}
    fields[sb.custom_field("lead", "Employees")["id"]] = employees
    lead = sb.add_lead(lead_name, url=url, custom=fields)
    addresses = [email(*e) if isinstance(e, tuple) else email(e) for e in emails]
    contact = sb.add_contact(lead["id"], name=name, emails=addresses, phones=phones)
    return lead["id"], contact["id"]


def local(api, lead_id, contact_id):
    """The app's side: the JSON the audience check reads, through contact_values."""
    lead = api.fetch_lead(lead_id, fields=list(LEAD_FIELDS))
    contact = api.fetch_contact(contact_id, fields=["id", "lead_id", *CONTACT_FIELDS])
    me = api.me()
    values = copytext.contact_values(contact, lead, me, me["organizations"][0])
    return {
        "subject": copytext.render(SUBJECT, values),
        "body": copytext.render(BODY, values, escape=True),
        "text": copytext.render(SUBJECT, values),
    }


def remote(api, lead_id, contact_id):
    """Close's side (the sandbox): its render endpoints."""
    rendered = api.render_email_template(EMAIL, lead_id=lead_id, contact_id=contact_id)
    sms = api.render_sms_template(SMS, lead_id=lead_id, contact_id=contact_id)
    return {"subject": rendered["subject"], "body": rendered["body"], "text": sms["text"]}


def lines(rendered):
    """One line per tag of TAGS, so a failure names the tag."""
    body = rendered["body"].removeprefix("<div>").removesuffix("</div>").split("</div><div>")
    return list(
        zip(TAGS, rendered["subject"].split("\n"), body, rendered["text"].split("\n"), strict=True)
    )


@pytest.mark.parametrize("recipient", list(RECIPIENTS))
def test_local_render_agrees_with_the_sandbox(sb, api, recipient):
    lead_id, contact_id = add_recipient(sb, RECIPIENTS[recipient])
    assert lines(local(api, lead_id, contact_id)) == lines(remote(api, lead_id, contact_id))


def test_the_table_covers_every_merge_field():
    used = copytext.used_fields(SUBJECT)
    assert {field.tag for field in copytext.MERGE_FIELDS} <= set(used)
    assert not [p for p in copytext.tag_problems(SUBJECT) if p.blocking]


def test_the_table_shows_the_cases_it_is_for(sb, api):
    """A few rows read as expected, so agreement is not two renderers agreeing on nothing."""
    lead_id, contact_id = add_recipient(sb, RECIPIENTS["apostrophe and HTML"])
    rows = dict(
        (tag, (subject, body)) for tag, subject, body, _ in lines(remote(api, lead_id, contact_id))
    )
    assert rows["{{ lead.display_name }}"] == (
        "Smith & Sons <Logistics>",
        "Smith &amp; Sons &lt;Logistics&gt;",
    )
    assert rows["{{ contact.last_name }}"] == ("O'Brien", "O&#x27;Brien")
    assert rows["{{ lead.custom.Employees }} people"] == ("45 people", "45 people")
    lead_id, contact_id = add_recipient(sb, RECIPIENTS["whitespace name"])
    rows = dict(
        (tag, (subject, body)) for tag, subject, body, _ in lines(remote(api, lead_id, contact_id))
    )
    assert rows['Hi {{ contact.first_name|default:"you & yours" }},'] == (
        "Hi you & yours,",
        "Hi you &amp; yours,",
    )
    assert rows['Hi {{ contact.first_name|default:"friend\'s team" }},'][1] == "Hi friend's team,"
    assert rows['{{ lead.custom.Industry | default:"your industry" }}'][0] == "your industry"


def test_every_contact_of_q1_prospects_renders_alike_through_search_pages(sb, api):
    """The audience check's own path: pages of search_contacts_page, leads included."""
    view = sb.smart_view("Q1 prospects")
    me = api.me()
    organization = me["organizations"][0]
    cursor, checked = None, 0
    while True:
        page = api.search_contacts_page(
            smart_view=view, fields=list(CONTACT_FIELDS), cursor=cursor, limit=20
        )
        for contact in page["data"]:
            lead = page["leads"][contact["lead_id"]]
            values = copytext.contact_values(contact, lead, me, organization)
            ours = copytext.render(BODY, values, escape=True)
            theirs = api.render_email_template(
                EMAIL, lead_id=contact["lead_id"], contact_id=contact["id"]
            )
            assert ours == theirs["body"], contact["name"]
            checked += 1
        cursor = page["cursor"]
        if cursor is None:
            break
    assert checked == 40
