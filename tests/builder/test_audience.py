"""The audience check (builder/audience.py) against the local Close sandbox's "Q1 prospects"
Smart View: 40 contacts, 12 without a first name, 3 without an email address.

Jobs run inline, so start_check returns once the read has ended; faults are injected into the
sandbox between pages by a client that pages through the real HTTP server.
"""

import json
import re
import threading
import time

import pytest
from django.db import connection

from builder import audience, close, copytext
from builder.models import AudienceCheck, Sequence, Step
from closesandbox import crm
from tests.conftest import SANDBOX_KEY, make_user

pytestmark = pytest.mark.django_db
State = AudienceCheck.State
Q1 = "Q1 prospects"
FIRST_NAME_BODY = (
    "<div>Hi {{ contact.first_name }},</div><div>A note for {{ lead.display_name }}.</div>"
)


@pytest.fixture(autouse=True)
def quick(settings, jobs_inline):
    settings.CLOSE_MAX_WAIT_IN_JOB = 0.0  # the client gives up on a 429 at once: we wait
    settings.AUDIENCE_REUSE_SECONDS = 300


def client_for(sandbox, **overrides):
    return close.CloseClient(
        api_key=SANDBOX_KEY, base_url=sandbox.url, max_wait=0.0, sleep=lambda s: None, **overrides
    )


def smart_view_id(sandbox, name=Q1):
    return sandbox.smart_view(name)["id"]


def written_sequence(user, *, subject="Hi {{ contact.first_name }}", body=FIRST_NAME_BODY, sms=""):
    """A draft whose first step is a written email (and, with `sms`, an SMS after it)."""
    sequence = Sequence.create_draft(name="Q1 outreach", timezone_name="UTC", user=user)
    with sequence.editing(user=user, loaded_version=sequence.version, summary="Copy"):
        Step.objects.create(
            sequence=sequence,
            position=0,
            step_type="email",
            content_source="written",
            threading="new_thread",
            subject=subject,
            body=body,
        )
        if sms:
            Step.objects.create(
                sequence=sequence,
                position=1,
                step_type="sms",
                content_source="written",
                delay=86400,
                text=sms,
            )
    return Sequence.objects.get(pk=sequence.pk)


def check(sequence, user, sandbox, *, limit=200, view=None):
    return audience.start_check(
        sequence=sequence,
        user=user,
        smart_view_id=view or smart_view_id(sandbox),
        limit=limit,
    )


def field_row(found, tag):
    return next(row for row in found.summary["fields"] if row["tag"] == tag)


def search_requests(sandbox):
    """The searches for pages of contacts (each page's leads come in a second search)."""
    return [
        r
        for r in sandbox.requests
        if r.path.endswith("/data/search/") and "contact" in ((r.body or {}).get("_fields") or {})
    ]


# --- what it reports ---------------------------------------------------------------------------


def test_counts_empty_first_names_and_contacts_without_email(sandbox, user):
    sequence = written_sequence(user)
    found = check(sequence, user, sandbox)
    found.refresh_from_db()
    assert found.state == State.DONE, found.message
    assert found.read_count == 40
    assert found.total == 40
    row = field_row(found, "contact.first_name")
    assert (row["empty"], row["total"]) == (12, 40)
    assert row["steps"] == [1]
    assert row["covered"] is False
    assert len(row["contacts"]) == 12
    assert found.summary["no_email"]["count"] == 3
    assert found.summary["no_email"]["steps"] == [1]
    assert len(found.summary["no_email"]["contacts"]) == 3
    assert found.summary["no_phone"]["steps"] == []  # no call or SMS step: nothing affected
    assert found.requests_made >= 2  # the Smart View's pages (and the leads the copy needs)


def test_a_fallback_covers_an_empty_field_and_each_use_is_told_apart(sandbox, user):
    sequence = written_sequence(
        user,
        subject='Hi {{ contact.first_name | default:"there" }}',
        body="<div>Hello {{ contact.first_name }}</div>",
        sms='Hi {{ contact.first_name | default:"there" }}, a quick text.',
    )
    found = check(sequence, user, sandbox)
    row = field_row(found, "contact.first_name")
    assert row["empty"] == 12
    assert row["steps"] == [1, 2]
    assert row["covered"] is False  # the email's body has no fallback
    assert {(use["step"], use["fallback"]) for use in row["uses"]} == {
        (1, "there"),
        (1, None),
        (2, "there"),
    }
    assert found.summary["no_phone"]["steps"] == [2]

    covered = written_sequence(
        user, subject='Hi {{ contact.first_name | default:"there" }}', body="<div>Hello</div>"
    )
    assert field_row(check(covered, user, sandbox), "contact.first_name")["covered"] is True


def test_contacts_already_active_in_the_sequence_in_close(sandbox, user):
    """The sandbox's live Workflow has six Q1 contacts: four active, one paused, one finished.
    Only the active ones get changed steps at once."""
    sequence = written_sequence(user)
    Sequence.objects.filter(pk=sequence.pk).update(close_id=crm.SEEDED_SEQUENCE["id"])
    sequence.refresh_from_db()
    contacts = sandbox.view_contacts(Q1)
    sandbox.subscribe(crm.SEEDED_SEQUENCE["id"], [contacts[3]["id"]], status="active")
    found = check(sequence, user, sandbox)
    assert found.summary["active"]["checked"] is True
    assert found.summary["active"]["count"] == 5
    assert contacts[3]["id"] in {c["id"] for c in found.summary["active"]["contacts"]}


def test_a_draft_not_in_close_has_nobody_active(sandbox, user):
    found = check(written_sequence(user), user, sandbox)
    assert found.summary["active"] == {"checked": False, "count": 0, "contacts": []}


def test_only_the_summary_is_stored(sandbox, user):
    sequence = written_sequence(user, sms="Hi {{ contact.first_name }}")
    found = check(sequence, user, sandbox)
    stored = json.dumps(found.summary)
    listed = [
        contact
        for problem in (*found.summary["fields"], found.summary["no_email"])
        for contact in problem["contacts"]
    ]
    assert listed and all(set(c) == {"id", "lead_id", "name", "email"} for c in listed)
    # Nothing else about a contact: no phone numbers, no other fields.
    contacts = sandbox.view_contacts(Q1)
    phones = [p["phone"] for c in contacts for p in c.get("phones") or [] if p.get("phone")]
    assert phones and not any(phone in stored for phone in phones)
    assert "phones" not in stored and "emails" not in stored


# --- reuse, limit, cancel ---------------------------------------------------------------------


def test_the_same_revision_and_smart_view_within_the_window_is_not_read_again(
    sandbox, user, settings
):
    sequence = written_sequence(user)
    first = check(sequence, user, sandbox)
    reads = len(search_requests(sandbox))
    again = check(sequence, user, sandbox)
    assert again.pk == first.pk
    assert len(search_requests(sandbox)) == reads

    settings.AUDIENCE_REUSE_SECONDS = 0
    third = check(sequence, user, sandbox)
    assert third.pk != first.pk
    assert len(search_requests(sandbox)) > reads


class SmartViewAfterEveryone:
    """A Close client whose Smart View lookup answers only once every caller has asked: each
    start_check has looked for a check to reuse (and found none) before any of them goes on,
    the moment two people press "Check audience" together."""

    def __init__(self, callers):
        self.together = threading.Barrier(callers)

    def fetch_smart_view(self, smart_view_id):
        self.together.wait(timeout=30)
        return {"id": smart_view_id, "name": Q1}


@pytest.mark.django_db(transaction=True)
def test_two_people_pressing_check_at_once_start_one_read(user, reviewer, monkeypatch):
    sequence = written_sequence(user)
    started = []
    monkeypatch.setattr(
        audience.jobs, "submit", lambda function, check_id: started.append(check_id)
    )
    client = SmartViewAfterEveryone(2)
    answers, errors = [], []

    def press(person):
        try:
            found = audience.start_check(
                sequence=sequence, user=person, smart_view_id="save_q1", limit=200, client=client
            )
            answers.append(found.pk)
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=press, args=(person,)) for person in (user, reviewer)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a press never answered"

    assert errors == []
    [only] = AudienceCheck.objects.filter(sequence=sequence)
    assert answers == [only.pk, only.pk]
    assert started == [only.pk], "one read of Close"


def test_a_new_revision_is_checked_again(sandbox, user):
    sequence = written_sequence(user)
    first = check(sequence, user, sandbox)
    step = sequence.steps.get()
    with sequence.editing(user=user, loaded_version=sequence.version, summary="Subject"):
        Step.objects.filter(pk=step.pk).update(subject="Hello {{ contact.first_name }}")
    sequence.refresh_from_db()
    second = check(sequence, user, sandbox)
    assert second.pk != first.pk
    assert second.revision_number == sequence.version


def test_the_limit_bounds_the_read(sandbox, user, monkeypatch):
    monkeypatch.setattr(audience, "PAGE_SIZE", 10)
    found = check(written_sequence(user), user, sandbox, limit=25)
    assert found.state == State.DONE
    assert found.read_count == 25
    assert "limit of 25 was reached" in found.message
    assert len(search_requests(sandbox)) == 3  # 10 + 10 + 5


def test_a_larger_limit_is_a_new_read_unless_the_view_was_read_to_its_end(sandbox, user):
    sequence = written_sequence(user)
    small = check(sequence, user, sandbox, limit=10)
    bigger = check(sequence, user, sandbox, limit=100)
    assert bigger.pk != small.pk and bigger.read_count == 40
    assert check(sequence, user, sandbox, limit=500).pk == bigger.pk  # 40 is all there is


class PagingClient(close.CloseClient):
    """The real client, with something done between two pages of the read (a fault injected
    into the sandbox, Cancel pressed)."""

    def __init__(self, *, between, **kwargs):
        super().__init__(**kwargs)
        self.pages = 0
        self.between = between

    def search_contacts_page(self, **kwargs):
        answer = super().search_contacts_page(**kwargs)
        self.pages += 1
        self.between(self.pages)
        return answer


def run_with(sandbox, user, between, *, limit=200, sequence=None):
    """Start a check without its job, then run it with a PagingClient."""
    sequence = sequence or written_sequence(user)
    started = audience.AudienceCheck.objects.create(
        sequence=sequence,
        revision_number=sequence.version,
        smart_view_id=smart_view_id(sandbox),
        smart_view_name=Q1,
        started_by=user,
        limit=limit,
    )
    client = PagingClient(
        between=between,
        api_key=SANDBOX_KEY,
        base_url=sandbox.url,
        max_wait=0.0,
        sleep=lambda seconds: None,
    )
    with client:
        return audience.run_check(check=started, client=client)


def test_cancel_stops_between_pages_and_keeps_what_was_read(sandbox, user, monkeypatch):
    monkeypatch.setattr(audience, "PAGE_SIZE", 10)

    def press_cancel(pages):
        if pages == 2:
            AudienceCheck.objects.update(cancel_requested=True)

    found = run_with(sandbox, user, press_cancel)
    assert found.state == State.CANCELLED
    assert found.read_count == 20
    assert found.summary["read"] == 20
    assert "Cancelled" in found.message
    assert len(search_requests(sandbox)) == 2


def test_cancel_check_needs_a_role(sandbox, user, viewer):
    found = check(written_sequence(user), user, sandbox)
    with pytest.raises(audience.NotAllowed):
        audience.cancel_check(check=found, user=viewer)


# --- faults -----------------------------------------------------------------------------------


def search_path(sandbox):
    return "/data/search/"


def test_a_rate_limit_mid_way_waits_and_resumes_from_the_same_page(sandbox, user, monkeypatch):
    monkeypatch.setattr(audience, "PAGE_SIZE", 10)
    waits = []

    def wait(seconds):  # Close's wait, really waited (0.1 s), so its window has passed
        waits.append(seconds)
        time.sleep(seconds)

    monkeypatch.setattr(audience, "_sleep", wait)

    def rate_limit(pages):
        if pages == 2:
            sandbox.inject("rate_limit", path=search_path(sandbox), reset=0.1, times=2)

    found = run_with(sandbox, user, rate_limit)
    assert found.state == State.DONE, found.message
    assert found.read_count == 40 and found.total == 40
    assert field_row(found, "contact.first_name")["empty"] == 12
    assert found.summary["no_email"]["count"] == 3
    assert waits == [0.1, 0.1]
    # The refused page was asked for again with the same cursor: 4 pages read, 2 refused.
    bodies = [r.body for r in search_requests(sandbox)]
    assert len(bodies) == 6
    assert bodies[2] == bodies[3] == bodies[4]
    assert bodies[2]["cursor"] and bodies[2]["cursor"] != bodies[5]["cursor"]


def test_rate_limit_waits_are_bounded(sandbox, user, monkeypatch):
    monkeypatch.setattr(audience, "PAGE_SIZE", 10)
    monkeypatch.setattr(audience, "_sleep", lambda seconds: None)

    def rate_limit(pages):
        if pages == 1:
            sandbox.inject("rate_limit", path=search_path(sandbox), reset=1, times=50)

    found = run_with(sandbox, user, rate_limit)
    assert found.state == State.FAILED
    assert "wait" in found.message and "10 contacts read" in found.message
    assert found.summary["read"] == 10


@pytest.mark.parametrize(
    ("kind", "words"),
    [
        ("error", "HTTP 500"),
        ("drop", "connection to Close broke"),
        ("malformed", "could not read"),
    ],
)
def test_a_failure_mid_way_says_so_and_keeps_what_was_read(sandbox, user, monkeypatch, kind, words):
    monkeypatch.setattr(audience, "PAGE_SIZE", 10)

    def fail(pages):
        if pages == 2:
            sandbox.inject(kind, path=search_path(sandbox), times=10)

    found = run_with(sandbox, user, fail)
    assert found.state == State.FAILED
    assert words in found.message
    assert "20 contacts read before it stopped" in found.message
    assert found.read_count == 20
    assert found.summary["read"] == 20
    row = field_row(found, "contact.first_name")
    assert row["total"] == 20


# --- starting: rules and input -----------------------------------------------------------------


def test_a_member_without_a_role_cannot_start_a_check(sandbox, user, viewer):
    with pytest.raises(audience.NotAllowed):
        check(written_sequence(user), viewer, sandbox)
    assert not AudienceCheck.objects.exists()


@pytest.mark.parametrize("role", ["Reviewer", "Publisher"])
def test_reviewers_and_publishers_may_check(sandbox, user, django_user_model, role):
    member = make_user(django_user_model, f"member-{role.lower()}", role)
    assert check(written_sequence(user), member, sandbox).state == State.DONE


def test_an_unknown_smart_view_is_refused_without_a_check(sandbox, user):
    with pytest.raises(audience.AudienceRefused, match="no Smart View"):
        check(written_sequence(user), user, sandbox, view="save_doesnotexist")
    assert not AudienceCheck.objects.exists()


@pytest.mark.parametrize("limit", ["0", "5001", "-3", "ten", "1.5"])
def test_a_limit_out_of_range_is_refused(limit):
    with pytest.raises(audience.AudienceRefused, match="1 to 5,000"):
        audience.parse_limit(limit)


def test_no_limit_given_is_the_default():
    assert audience.parse_limit("") == audience.DEFAULT_LIMIT == 200


# --- preview as a contact ---------------------------------------------------------------------


def q1_contacts(sandbox):
    return sandbox.view_contacts(Q1)


def test_preview_renders_written_copy_locally_and_marks_empty_values(sandbox, user):
    sequence = written_sequence(user)
    contacts = q1_contacts(sandbox)
    named = next(c for c in contacts if c.get("name") and " " in c["name"])
    nameless = next(c for c in contacts if not (c.get("name") or "").strip())
    with client_for(sandbox) as client:
        shown, steps = audience.preview(sequence=sequence, contact_id=named["id"], client=client)
        first = named["name"].split()[0]
        assert steps[0].exact is False
        assert steps[0].subject == f"Hi {first}"
        assert "<mark" not in steps[0].body
        _, empty = audience.preview(sequence=sequence, contact_id=nameless["id"], client=client)
    assert shown["id"] == named["id"]
    assert '<mark class="merge-empty" title="empty for this contact">contact.first_name</mark>' in (
        empty[0].subject
    )
    assert empty[0].empty == ["contact.first_name"]


def without_marks(shown):
    return re.sub(r'<mark class="merge-empty"[^>]*>[^<]*</mark>', "", str(shown))


def test_local_render_agrees_with_closes_render_endpoint(sandbox, user, synced):
    """For every contact of Q1 prospects and every synced email template with merge fields:
    the same words previewed as copy written in the step (local renderer on
    copytext.contact_values) read exactly as through Close's render endpoint, empty values
    aside (the local preview marks them, Close prints nothing)."""
    from builder.models import CloseTemplate

    templates = [
        t
        for t in CloseTemplate.objects.filter(kind="email", is_shared=True).order_by("name")
        if copytext.used_fields(t.subject, t.body)
    ][:2]
    assert len(templates) == 2
    # One sequence, so one preview per contact renders each template both ways: steps 1 and 2
    # pick the templates (Close renders them), steps 3 and 4 hold the same words written.
    sequence = Sequence.create_draft(name="Both ways", timezone_name="UTC", user=user)
    with sequence.editing(user=user, loaded_version=sequence.version, summary="Steps"):
        for position, template in enumerate(templates):
            Step.objects.create(
                sequence=sequence,
                position=position,
                step_type="email",
                threading="new_thread",
                email_template_id=template.close_id,
            )
            Step.objects.create(
                sequence=sequence,
                position=position + 2,
                step_type="email",
                threading="new_thread",
                content_source="written",
                subject=template.subject,
                body=template.body,
            )
    compared = 0
    with client_for(sandbox) as client:
        for contact in q1_contacts(sandbox):
            _, shown = audience.preview(sequence=sequence, contact_id=contact["id"], client=client)
            for exact, local in zip(shown[:2], shown[2:], strict=True):
                assert exact.exact and not local.exact
                assert without_marks(local.subject) == str(exact.subject), contact["name"]
                assert without_marks(local.body) == str(exact.body), contact["name"]
                compared += 1
    assert compared == 40 * 2


def test_preview_of_a_picked_template_is_rendered_by_close(sandbox, user, synced):
    from tests.conftest import EXAMPLE_EMAIL_1

    sequence = Sequence.create_draft(name="Template mode", timezone_name="UTC", user=user)
    with sequence.editing(user=user, loaded_version=sequence.version, summary="Step"):
        Step.objects.create(
            sequence=sequence,
            position=0,
            step_type="email",
            threading="new_thread",
            email_template_id=EXAMPLE_EMAIL_1,
        )
    contact = q1_contacts(sandbox)[0]
    with client_for(sandbox) as client:
        _, steps = audience.preview(sequence=sequence, contact_id=contact["id"], client=client)
    assert steps[0].exact is True
    assert any(r.path.endswith("/render/") for r in sandbox.requests)


def test_a_lead_smart_view_checks_each_leads_recipient(sandbox, user):
    """ "Logistics leads" holds 5 leads, one without contacts: each other lead's recipient is
    checked (its first contact with an email address), the empty lead reaches nobody."""
    found = check(
        written_sequence(user), user, sandbox, view=smart_view_id(sandbox, "Logistics leads")
    )
    assert found.state == State.DONE, found.message
    assert found.read_count == 4
    assert found.summary["leads_without_contacts"] == 1
    assert field_row(found, "lead.display_name")["empty"] == 0


def test_a_listed_contact_whose_name_is_only_spaces_has_no_name():
    """So the page says "(no name)" rather than a blank before the email address."""
    listed = audience.listed_contact({"id": "cont_1", "name": "   ", "emails": []})
    assert listed["name"] == ""
    assert audience.listed_contact({"name": " Ada  Lovelace "})["name"] == "Ada Lovelace"
