"""Seed data: the user, organization and templates a fresh sandbox starts with.

The ids are fixed so a sequence saved in a state file still points at the same templates after a
restart. The two ids used in Close's documented create example are included (shared and active) so
that example can be POSTed verbatim.
"""

import random
import string

# The user and organization ids are the ones in Close's documented create response.
USER_ID = "user_N6KhMpzHRCYQHdn4gRNIFNN5JExnsrprKA6ekxM63XA"
COLLEAGUE_ID = "user_bG0ssuYPOqfns8RwHLeZltSdsrnfma8HeTkjjne0wdN"
ORG_ID = "orga_RbREgmiiwcr1w2b4cOnCMQaQPSIFxMqAD2Dh243uxcH"
ORG_NAME = "Acme Demo Co"

DOC_TEMPLATE_INTRO = "tmpl_00jcushDRuoBBS5sSTUAbNt4dPpBUhlJqQafVfzzRJn"
DOC_TEMPLATE_FOLLOW_UP = "tmpl_l12k3as9d008324ljeANFTyS239048asdFdsVfnzaln"

ME = {
    "id": USER_ID,
    "email": "demo@example.com",
    "first_name": "Dana",
    "last_name": "Reyes",
    "email_accounts": [
        {"id": "emailacct_ZVnKv7d6Rj1F3izzpsyU9vN8i9hyv5hZDLT1TuLnVAJ", "email": "demo@example.com"}
    ],
    "organizations": [{"id": ORG_ID, "name": ORG_NAME}],
    "date_created": "2023-02-14T16:02:11.418000+00:00",
    "date_updated": "2024-05-02T09:12:40.031000+00:00",
}

_SIGNATURE = "<p>Best,<br>{{ user.first_name }}<br>{{ user.email }}</p>"


def _email(tid, name, subject, body, *, shared=True, archived=False, by=USER_ID, day="03-04"):
    stamp = f"2024-{day}T10:15:00.000000+00:00"
    return {
        "id": tid,
        "name": name,
        "subject": subject,
        "body": body,
        "is_shared": shared,
        "is_archived": archived,
        "attachments": [],
        "organization_id": ORG_ID,
        "created_by": by,
        "updated_by": by,
        "date_created": stamp,
        "date_updated": stamp,
    }


def _sms(tid, name, text, *, shared=True, status="active", by=USER_ID, day="04-09"):
    stamp = f"2024-{day}T14:30:00.000000+00:00"
    return {
        "id": tid,
        "name": name,
        "text": text,
        "is_shared": shared,
        "status": status,
        "attachments": [],
        "organization_id": ORG_ID,
        "owned_by": by,
        "created_by": by,
        "updated_by": by,
        "date_created": stamp,
        "date_updated": stamp,
    }


def email_templates():
    """Fresh list of the seeded email templates (new dicts on every call)."""
    return [
        _email(
            DOC_TEMPLATE_INTRO,
            "Intro — quick question",
            "Quick question about {{ lead.display_name }}",
            '<p>Hi {{ contact.first_name | default:"there" }},</p>'
            "<p>I noticed {{ lead.display_name }} is hiring account executives. Teams at that stage"
            " usually lose hours every week to manual follow-ups.</p>"
            "<p>Would a 15-minute call next week be worth it to see how others automate this?</p>"
            + _SIGNATURE,
            day="01-08",
        ),
        _email(
            DOC_TEMPLATE_FOLLOW_UP,
            "Follow-up — case study",
            "How Northwind cut follow-up time by 40%",
            "<p>Hi {{ contact.first_name }},</p>"
            "<p>Following up with a short case study: Northwind's sales team went from"
            " spreadsheets to automated sequences in two weeks and cut follow-up time by 40%.</p>"
            '<p><a href="https://example.com/case-studies/northwind">Read the 2-minute summary</a>'
            "</p><p>Happy to walk you through how it would look for"
            " {{ lead.display_name }}.</p>" + _SIGNATURE,
            day="01-08",
        ),
        _email(
            "tmpl_kcFjIXorOE5mikCzhi4ed1dRStfrMUNGTdZu2U4wiHz",
            "Follow-up — bump",
            "Re: Quick question about {{ lead.display_name }}",
            "<p>Hi {{ contact.first_name }}, just bumping this to the top of your inbox."
            " Is improving outbound follow-up a priority this quarter?</p>" + _SIGNATURE,
            day="01-09",
        ),
        _email(
            "tmpl_KBWjb2A5cW7GONFTIOTROWWCdnAxtjoxOQspl2TNwj1",
            "Meeting request — 15 minutes",
            "15 minutes this week, {{ contact.first_name }}?",
            "<p>Hi {{ contact.first_name }},</p><p>Could we grab 15 minutes this week? Here is my"
            ' calendar: <a href="https://example.com/meet/dana">book a slot</a>.</p>'
            "<ul><li>Tuesday 10:00–12:00</li><li>Thursday 14:00–16:00</li></ul>" + _SIGNATURE,
            by=COLLEAGUE_ID,
            day="02-12",
        ),
        # Pasted from an old marketing tool: it carries active content, on purpose, so anything
        # that previews template bodies has to sanitise them.
        _email(
            "tmpl_0gMIs4xwhr0jMypNPulMqlXC94Y9wgT7Z5giUb3BBjL",
            "Webinar invite (imported)",
            "You're invited: Outbound playbooks that still work",
            "<p>Hi {{ contact.first_name }},</p><p>Join our live webinar on Thursday.</p>"
            "<script>alert(1)</script>"
            '<img src="https://example.com/banner.png" onerror="alert(2)" alt="Webinar banner">'
            '<p><a href="https://example.com/webinar">Save your seat</a></p>' + _SIGNATURE,
            by=COLLEAGUE_ID,
            day="02-20",
        ),
        _email(
            "tmpl_bv77PcKAurUymcyTEMBIAMqKlVlZCKXKl1LL9JvcZmb",
            "Breakup email",
            "Should I close your file?",
            "<p>Hi {{ contact.first_name }},</p><p>I haven't heard back, so I'll assume timing"
            " isn't right and stop reaching out. If that changes, just reply to this email.</p>"
            + _SIGNATURE,
            day="01-10",
        ),
        _email(
            "tmpl_0VKEOshINbkgUDOhFfaBUkCTS9tfi2dECVBL9Wwkvux",
            "Re-engage — closed lost",
            "Anything changed at {{ lead.display_name }}?",
            "<p>Hi {{ contact.first_name }},</p><p>We spoke a few months ago. We've since shipped"
            " <strong>SMS steps</strong> and <strong>call tasks</strong> in sequences. Worth"
            " another look?</p>" + _SIGNATURE,
            day="03-01",
        ),
        _email(
            "tmpl_p47qYaqu6oVeQgTdRUVUun6M4SpOM4z68oZJ4TZjLpX",
            "Q1 promo — 20% off (expired)",
            "20% off annual plans until March 31",
            "<p>Hi {{ contact.first_name }}, our Q1 offer ends soon: 20% off annual plans.</p>"
            + _SIGNATURE,
            archived=True,
            day="01-02",
        ),
        _email(
            "tmpl_RouDOc2tGgnwliLPrGDpDIUcqJXsNyTfC9NpKlLF0Ft",
            "Personal draft — referral ask",
            "Who owns outbound at {{ lead.display_name }}?",
            "<p>Hi {{ contact.first_name }}, could you point me to whoever runs outbound"
            " at {{ lead.display_name }}? Thanks!</p>" + _SIGNATURE,
            shared=False,
            by=COLLEAGUE_ID,
            day="03-15",
        ),
    ]


def sms_templates():
    """Fresh list of the seeded SMS templates (new dicts on every call)."""
    return [
        _sms(
            "smstmpl_71JQ1KxplWkUvKD7TBdDT643l8hSBT7sYxnj16xOXZT",
            "Quick SMS check-in",
            "Hi {{ contact.first_name }}, it's {{ user.first_name }} from Acme. Did my email"
            " about follow-up automation land? Happy to share details here.",
        ),
        _sms(
            "smstmpl_dEn6CWGEsabjhAuWiFosV13G9GqvKQ1PcXabkXdSykE",
            "Meeting reminder",
            "Hi {{ contact.first_name }}, looking forward to our call tomorrow."
            " Reply C to confirm or R to reschedule.",
        ),
        _sms(
            "smstmpl_tvGZW3dA7G5srrnpSdFs0DoAbzLJdO5mhtct7xGMexd",
            "Running late (personal)",
            "Hi {{ contact.first_name }}, running 5 minutes late, sorry!",
            shared=False,
            by=COLLEAGUE_ID,
        ),
        _sms(
            "smstmpl_FGFzlqYJCEJ1eLy2wuVEUrtsqaaPWIFrnDyebfBVGAR",
            "Q1 promo SMS (expired)",
            "{{ contact.first_name }}, 20% off annual plans ends Friday. Reply YES for details.",
            status="archived",
        ),
    ]


BASE62 = string.digits + string.ascii_letters
# Its own generator, not the module-level one: the sandbox runs in a thread beside tests that
# seed or watch the global random state (hypothesis warns when another thread draws from it).
_ids = random.Random()


def new_id(prefix, length=22):
    """An id that looks like Close's: a prefix and base-62 characters."""
    return prefix + "".join(_ids.choices(BASE62, k=length))


_TOPICS = [
    ("Pipeline review", "Is your pipeline review eating Mondays?"),
    ("Onboarding", "Getting {{ lead.display_name }} live in a week"),
    ("Pricing", "Pricing for {{ lead.display_name }}"),
    ("Integration", "Connecting your CRM to {{ lead.display_name }}'s stack"),
    ("Renewal", "Your renewal with Acme"),
]


def bulk_email_template(number, *, shared=True):
    """One generated, realistic-looking template (for volume and performance tests)."""
    topic, subject = _TOPICS[number % len(_TOPICS)]
    tid = new_id("tmpl_", 43)
    body = (
        f"<p>Hi {{{{ contact.first_name }}}},</p><p>{topic} note #{number}: a short idea for"
        " {{ lead.display_name }}.</p>" + _SIGNATURE
    )
    return _email(tid, f"{topic} — variant {number:04d}", subject, body, shared=shared, day="05-20")
