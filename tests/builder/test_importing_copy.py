"""Imports carry the copy: a Close import reads the referenced templates' copy into the draft as
written copy (the template stays Close's), and files carry it under a step's "copy" key. Copy from
either place is stored cleaned: scripts, event handlers, javascript: links and SVG never arrive."""

import html
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from builder import close, importing, spec
from builder.models import OwnedTemplate, Sequence, Step
from closesandbox import seed
from tests.builder.editor_support import steps_of
from tests.conftest import EXAMPLE_EMAIL_1

pytestmark = pytest.mark.django_db

SHARED_SMS = "smstmpl_71JQ1KxplWkUvKD7TBdDT643l8hSBT7sYxnj16xOXZT"  # seeded, shared, active
ARCHIVED_EMAIL = "tmpl_p47qYaqu6oVeQgTdRUVUun6M4SpOM4z68oZJ4TZjLpX"  # seeded, archived
UNSHARED_SMS = "smstmpl_tvGZW3dA7G5srrnpSdFs0DoAbzLJdO5mhtct7xGMexd"  # seeded, not shared
HOSTILE_BODY = (
    '<p>Hi {{ contact.first_name | default:"there" }},</p>'
    "<script>alert(1)</script>"
    '<img src="x" onerror="alert(2)">'
    '<div onclick="alert(3)" style="color:red">Read <a href="javascript:alert(4)">this</a> and '
    '<a href="https://example.com/case" onmouseover="alert(5)">that</a>.</div>'
    '<svg onload="alert(6)"><a href="https://example.com/svg">svg</a></svg>'
    "<ul><li><b>One</b></li><li><i>Two</i></li></ul>"
)
CLEAN_BODY = (
    '<div>Hi {{ contact.first_name | default:"there" }},</div>'
    '<div>Read <a rel="noopener noreferrer">this</a> and '
    '<a href="https://example.com/case" rel="noopener noreferrer">that</a>.</div>'
    "<ul><li><strong>One</strong></li><li><em>Two</em></li></ul>"
)
DANGEROUS = ("<script", "alert(", "onerror", "onclick", "onmouseover", "onload", "javascript:")
DANGEROUS += ("<svg", "<img", "style=")


def seed_template(sandbox, kind, *, name="Seeded", shared=True, archived=False, **copy):
    """A template in the sandbox's store, as Close would hold it (made in Close's own UI);
    returns its id. `copy` is subject and body (email) or text (SMS)."""
    if kind == "email":
        template_id = seed.new_id("tmpl_", 43)
        template = seed._email(  # noqa: SLF001 - the sandbox's own template shape
            template_id, name, copy["subject"], copy["body"], shared=shared, archived=archived
        )
        store = "email_templates"
    else:
        template_id = seed.new_id("smstmpl_", 43)
        status = "archived" if archived else "active"
        template = seed._sms(template_id, name, copy["text"], shared=shared, status=status)  # noqa: SLF001
        store = "sms_templates"
    with sandbox._lock:
        getattr(sandbox._store, store)[template_id] = template
    return template_id


def in_close(sandbox, *steps, name="Made in Close"):
    """A sequence as Close's UI stores it (template rules are Close's UI's, not the API's)."""
    return sandbox.add_ui_sequence({"name": name, "timezone": "UTC", "steps": list(steps)})


def email(template_id, delay=0, threading="new_thread"):
    return {
        "step_type": "email",
        "delay": delay,
        "email_template_id": template_id,
        "threading": threading,
    }


def sms(template_id, delay=0):
    return {"step_type": "sms", "delay": delay, "sms_template_id": template_id}


def import_close(sandbox, user, made, **client_options):
    client = close.client_from_settings(**client_options)
    try:
        return importing.import_from_close(close_id=made["id"], user=user, client=client)
    finally:
        client.close()


def text(response):
    return html.unescape(response.content.decode())


def upload(data, name="sequence.json"):
    return SimpleUploadedFile(name, json.dumps(data).encode(), content_type="application/json")


# --- from Close -------------------------------------------------------------------------------


def test_close_import_reads_each_templates_copy_into_the_step_and_records_it_as_closes(
    user, sandbox
):
    body = '<p>Hi {{ contact.first_name | default:"there" }},</p><p><b>Quick</b> one.</p>'
    email_id = seed_template(
        sandbox,
        "email",
        name="Intro (from Close)",
        subject="About {{ lead.display_name }}",
        body=body,
    )
    made = in_close(sandbox, email(email_id), sms(SHARED_SMS, delay=3600))

    sequence, notes = import_close(sandbox, user, made)

    first, second = steps_of(sequence)
    assert (first.content_source, first.email_template_id) == ("written", email_id)
    assert first.subject == "About {{ lead.display_name }}"
    assert first.body == (
        '<div>Hi {{ contact.first_name | default:"there" }},</div>'
        "<div><strong>Quick</strong> one.</div>"
    )
    seeded_sms = next(t for t in sandbox.sms_templates if t["id"] == SHARED_SMS)
    assert (second.content_source, second.sms_template_id) == ("written", SHARED_SMS)
    assert second.text == seeded_sms["text"] and (second.subject, second.body) == ("", "")
    rows = {row.kind: row for row in OwnedTemplate.objects.filter(sequence=sequence)}
    assert set(rows) == {"email", "sms"}
    email_row, sms_row = rows["email"], rows["sms"]
    assert (email_row.step_key, email_row.close_id, email_row.name) == (
        str(first.pk),
        email_id,
        "Intro (from Close)",
    )
    assert not email_row.created_by_us and not sms_row.created_by_us
    assert (email_row.sent_subject, email_row.sent_body, email_row.sent_text) == (
        first.subject,
        first.body,
        "",
    )
    assert (sms_row.step_key, sms_row.sent_text, sms_row.sent_subject) == (
        str(second.pk),
        seeded_sms["text"],
        "",
    )
    assert email_row.close_date_updated == "2024-03-04T10:15:00.000000+00:00"
    assert sms_row.close_date_updated == seeded_sms["date_updated"]
    assert notes == []
    # The copy is part of the revision (what review and History compare).
    assert sequence.revisions.get().to_spec().steps[0].subject == first.subject
    assert importing.copy_read_words(sequence) == "2 steps' copy read from their Close templates."


def test_one_fetch_per_template_however_many_steps_use_it_with_include_embedded(user, sandbox):
    made = in_close(
        sandbox,
        email(EXAMPLE_EMAIL_1),
        sms(SHARED_SMS, delay=60),
        email(EXAMPLE_EMAIL_1, delay=60, threading="old_thread"),
        sms(SHARED_SMS, delay=60),
        email(EXAMPLE_EMAIL_1, delay=60, threading="old_thread"),
    )

    sequence, _ = import_close(sandbox, user, made)

    fetches = [
        request
        for request in sandbox.requests
        if request.method == "GET"
        and request.path.rstrip("/").endswith((EXAMPLE_EMAIL_1, SHARED_SMS))
    ]
    assert sorted(request.path.rsplit("/", 2)[1] for request in fetches) == sorted(
        [EXAMPLE_EMAIL_1, SHARED_SMS]
    )
    assert all(request.query.get("include_embedded") == "true" for request in fetches)
    # Each step has the copy, and a row of its own (each step's copy may change on its own).
    assert all(step.content_source == "written" for step in steps_of(sequence))
    assert OwnedTemplate.objects.filter(sequence=sequence).count() == 5
    assert len({row.step_key for row in OwnedTemplate.objects.all()}) == 5


def test_a_template_close_cannot_find_keeps_its_steps_on_the_template_with_a_note(user, sandbox):
    missing = "tmpl_deletedInClose0000000000000000000000000001"
    made = in_close(
        sandbox,
        email(missing),
        email(EXAMPLE_EMAIL_1, delay=60, threading="old_thread"),
        email(missing, delay=60, threading="old_thread"),
    )

    sequence, notes = import_close(sandbox, user, made)

    first, second, third = steps_of(sequence)
    for step in (first, third):
        assert (step.content_source, step.email_template_id) == ("template", missing)
        assert (step.subject, step.body) == ("", "")
    assert second.content_source == "written"
    assert notes == [
        f"Steps 1 and 3' email copy was not brought in: Close has no email template {missing} "
        "(it may have been deleted). The steps keep using it."
    ]
    assert [row.close_id for row in OwnedTemplate.objects.all()] == [EXAMPLE_EMAIL_1]
    assert importing.copy_read_words(sequence) == "1 step's copy read from its Close template."


def test_a_template_close_fails_to_answer_for_keeps_the_step_and_the_import_goes_on(
    logged_in, user, sandbox, settings
):
    settings.CLOSE_MAX_WAIT_IN_REQUEST = 0.0  # no back-off: the answer is the same each time
    made = in_close(sandbox, sms(SHARED_SMS), email(EXAMPLE_EMAIL_1, delay=60))
    sandbox.inject("error", status=503, method="GET", path=f"/sms_template/{SHARED_SMS}/", times=20)

    response = logged_in.post(reverse("sequence_import_close"), {"close_id": made["id"]})

    assert response.status_code == 302
    sequence = Sequence.objects.get()
    texted, emailed = steps_of(sequence)
    assert (texted.content_source, texted.sms_template_id, texted.text) == (
        "template",
        SHARED_SMS,
        "",
    )
    assert emailed.content_source == "written"
    page = text(logged_in.get(response["Location"]))
    assert f"Step 1's SMS copy was not brought in from the template {SHARED_SMS}: Close" in page
    assert "Try again in a few minutes. The step keeps using the template." in page
    assert "1 step's copy read from its Close template." in page


def test_an_unreadable_template_answer_keeps_the_step_with_a_note(user, sandbox):
    made = in_close(sandbox, email(EXAMPLE_EMAIL_1))
    sandbox.update_template(EXAMPLE_EMAIL_1, subject=["not", "text"])

    sequence, notes = import_close(sandbox, user, made)

    [step] = steps_of(sequence)
    assert step.content_source == "template" and step.subject == ""
    assert notes == [
        f"Step 1's email copy was not brought in from the template {EXAMPLE_EMAIL_1}: its "
        "subject is not text. The step keeps using the template."
    ]
    assert not OwnedTemplate.objects.exists()


def test_archived_and_unshared_templates_copy_is_imported_as_written_and_said(user, sandbox):
    made = in_close(sandbox, email(ARCHIVED_EMAIL), sms(UNSHARED_SMS, delay=60))

    sequence, notes = import_close(sandbox, user, made)

    emailed, texted = steps_of(sequence)
    assert emailed.content_source == texted.content_source == "written"
    assert "20% off annual plans" in emailed.body and "running 5 minutes late" in texted.text
    assert notes == [
        "Step 1's copy came from the email template “Q1 promo — 20% off (expired)”, which is "
        "archived in Close; the copy is written in the step now.",
        "Step 2's copy came from the SMS template “Running late (personal)”, which is not "
        "shared in Close; the copy is written in the step now.",
    ]
    # Written copy needs no usable template: nothing blocks publishing it.
    assert spec.blocking(sequence.problems()) == []


def test_hostile_template_bodies_are_stored_clean_and_the_removal_is_said(user, sandbox):
    template_id = seed_template(
        sandbox, "email", name="Pasted", subject="Hello {{ lead.display_name }}", body=HOSTILE_BODY
    )
    made = in_close(sandbox, email(template_id))

    sequence, notes = import_close(sandbox, user, made)

    [step] = steps_of(sequence)
    assert step.body == CLEAN_BODY
    owned = OwnedTemplate.objects.get()
    assert owned.sent_body == CLEAN_BODY
    for stored in (
        step.body,
        owned.sent_body,
        json.dumps(sequence.revisions.get().snapshot_data()),
    ):
        assert not [word for word in DANGEROUS if word in stored.lower()]
    assert notes == [
        "Step 1's copy from the email template “Pasted” had a script, an image, event handlers, "
        "a link that is not http, https or mailto and SVG; Sequence Builder keeps text, bold, "
        "italic, links and lists only, so that was removed."
    ]


def test_a_subject_too_long_to_store_keeps_the_step_on_its_template(user, sandbox):
    template_id = seed_template(sandbox, "email", subject="x" * 501, body="<p>Hi</p>")
    made = in_close(sandbox, email(template_id))

    sequence, notes = import_close(sandbox, user, made)

    [step] = steps_of(sequence)
    assert step.content_source == "template" and step.subject == ""
    assert notes == [
        f"Step 1's email copy was not brought in from the template {template_id}: its subject "
        "is longer than 500 characters. The step keeps using the template."
    ]


def test_the_import_page_says_copy_is_read_into_the_steps(logged_in, sandbox):
    page = text(logged_in.get(reverse("sequence_import")))

    assert "copy is read from its Close template and written in the step" in page


# --- files ------------------------------------------------------------------------------------


def written_sequence(user, name="Written"):
    sequence = Sequence.create_draft(name=name, timezone_name="Europe/Berlin", user=user)
    with sequence.editing(user=user, loaded_version=sequence.version, summary="Copy"):
        Step.objects.create(
            sequence=sequence,
            position=0,
            step_type="email",
            threading="new_thread",
            content_source="written",
            subject='Grüße, {{ contact.first_name | default:"there" }} — “quotes” & <angles>',
            body=(
                '<div>Hi {{ contact.first_name | default:"there" }},&nbsp;café ☕<br>'
                '<strong>Bold</strong> <em>it</em> <a href="https://example.com/?a=1&amp;b=2" '
                'rel="noopener noreferrer">link</a></div><ul><li>One</li><li>Two</li></ul>'
            ),
        )
        Step.objects.create(
            sequence=sequence,
            position=1,
            step_type="sms",
            delay=3600,
            content_source="written",
            text='Hi {{ contact.first_name | default:"there" }} 👋\nLine two  with  spaces ',
        )
    sequence.refresh_from_db()
    return sequence


def test_export_then_import_keeps_the_copy_byte_for_byte(logged_in, user):
    sequence = written_sequence(user)
    before = [(s.content_source, s.subject, s.body, s.text) for s in steps_of(sequence)]
    exported = logged_in.get(reverse("sequence_export", args=[sequence.pk]))
    data = json.loads(exported.content)
    assert data["steps"][0]["copy"] == {"subject": before[0][1], "body": before[0][2]}
    assert data["steps"][1]["copy"] == {"text": before[1][3]}

    response = logged_in.post(
        reverse("sequence_import_file"), {"file": upload({**data, "name": "Written again"})}
    )

    assert response.status_code == 302
    imported = Sequence.objects.get(name="Written again")
    assert [(s.content_source, s.subject, s.body, s.text) for s in steps_of(imported)] == before
    # And exporting the import gives the same file.
    assert importing.export_payload(imported) == {**data, "name": "Written again"}


def test_a_file_with_hostile_copy_is_stored_clean(logged_in):
    data = {
        "name": "Hostile",
        "timezone": "UTC",
        "steps": [
            {
                "step_type": "email",
                "delay": 0,
                "threading": "new_thread",
                "copy": {"subject": "Hello {{ lead.display_name }}", "body": HOSTILE_BODY},
            }
        ],
    }

    response = logged_in.post(reverse("sequence_import_file"), {"file": upload(data)})

    assert response.status_code == 302
    [step] = steps_of(Sequence.objects.get())
    assert step.content_source == "written" and step.body == CLEAN_BODY
    assert not [word for word in DANGEROUS if word in step.body.lower()]
    stored = json.dumps(Sequence.objects.get().revisions.get().snapshot_data())
    assert not [word for word in DANGEROUS if word in stored.lower()]


@pytest.mark.parametrize(
    ("step", "message"),
    [
        (
            {"step_type": "email", "copy": ["subject", "body"]},
            "Step 1's “copy” must be an object (subject, body or text).",
        ),
        (
            {"step_type": "email", "copy": "<p>Hi</p>"},
            "Step 1's “copy” must be an object (subject, body or text).",
        ),
        (
            {"step_type": "email", "copy": {"subject": "Hi", "body": {"html": "<p>Hi</p>"}}},
            "Step 1's copy “body” must be text.",
        ),
        ({"step_type": "sms", "copy": {"text": 42}}, "Step 1's copy “text” must be text."),
        (
            {"step_type": "sms", "copy": {"text": "Hi", "subject": "Hi"}},
            "Step 1's “copy” may hold only text (an SMS step).",
        ),
        (
            {"step_type": "email", "copy": {"subject": "Hi", "html": "<p>Hi</p>"}},
            "Step 1's “copy” may hold only subject and body (an email step).",
        ),
        (
            {"step_type": "call", "copy": {}},
            "Step 1 is not an email or SMS step, so it cannot have “copy”.",
        ),
    ],
)
def test_copy_of_the_wrong_shape_is_refused_with_a_message(logged_in, step, message):
    data = {"name": "Odd copy", "timezone": "UTC", "steps": [{"delay": 0, **step}]}

    response = logged_in.post(reverse("sequence_import_file"), {"file": upload(data)})

    assert response.status_code == 400
    assert message in text(response)
    assert not Sequence.objects.exists()


def test_a_subject_too_long_to_store_is_refused(logged_in):
    data = {
        "name": "Long subject",
        "timezone": "UTC",
        "steps": [
            {"step_type": "email", "delay": 0, "copy": {"subject": "x" * 501, "body": "<p>Hi</p>"}}
        ],
    }

    response = logged_in.post(reverse("sequence_import_file"), {"file": upload(data)})

    assert response.status_code == 400
    assert "Step 1's subject is longer than 500 characters." in text(response)
    assert not Sequence.objects.exists()


def test_a_written_steps_template_id_from_a_file_is_dropped(user):
    """The file's organization owns that template: publishing here must make its own."""
    data = {
        "name": "From another org",
        "timezone": "UTC",
        "steps": [
            {
                "step_type": "email",
                "delay": 0,
                "threading": "new_thread",
                "email_template_id": "tmpl_theirOrganization000000000000000000000001",
                "copy": {"subject": "Hi", "body": "<div>Hello</div>"},
            },
            {
                "step_type": "sms",
                "delay": 60,
                "sms_template_id": "smstmpl_theirOrganization00000000000000000001",
                "copy": {"text": "Hello"},
            },
            # A step that uses a shared template (no copy) keeps its id: the editor checks it.
            {"step_type": "sms", "delay": 60, "sms_template_id": SHARED_SMS},
        ],
    }

    sequence = importing.import_file(data=data, user=user)

    written_email, written_sms, shared = steps_of(sequence)
    assert (written_email.content_source, written_email.email_template_id) == ("written", "")
    assert (written_sms.content_source, written_sms.sms_template_id) == ("written", "")
    assert (shared.content_source, shared.sms_template_id) == ("template", SHARED_SMS)
    assert not OwnedTemplate.objects.exists()
    assert importing.copy_read_words(sequence) == ""
