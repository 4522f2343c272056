"""The editor's copy: written subject, body and SMS message on the cards, autosaved and cleaned;
"Edit a copy" of a picked template; the merge field menu the server renders; the refusals."""

import re

import pytest

from builder import copytext
from builder.models import CloseTemplate, Sequence, Step
from tests.builder.editor_support import (
    HTMX,
    card_data,
    edit_url,
    post,
    state_of,
    steps_of,
    update_step,
    url,
    version_of,
)
from tests.conftest import EXAMPLE_EMAIL_1

pytestmark = pytest.mark.django_db

WEBINAR = "tmpl_0gMIs4xwhr0jMypNPulMqlXC94Y9wgT7Z5giUb3BBjL"  # carries <script> and onerror
SMS_CHECK_IN = "smstmpl_71JQ1KxplWkUvKD7TBdDT643l8hSBT7sYxnj16xOXZT"

XSS_BODY = (
    '<div>Hi <script>alert("body")</script><img src=x onerror="alert(1)">'
    '<a href="javascript:alert(2)">click</a> <a href="https://example.com" onclick="x()">ok</a>'
    '<svg onload="alert(3)"><circle r="1"></circle></svg><b>bold</b></div>'
)


def latest_summary(sequence):
    return Sequence.objects.get(pk=sequence.pk).revisions.order_by("-number").first().summary


def add_step(client, sequence, step_type):
    response = post(client, "step_add", sequence, data={"step_type": step_type})
    assert response.status_code == 200, response.content
    return steps_of(sequence)[-1]


def fresh(step):
    return Step.objects.get(pk=step.pk)


def card_html(client, sequence, step):
    """The whole card of `step` as the page gets it: in the page when it is on the first
    screen, else from steps_cards, as editor.js asks for it when the person scrolls to it."""
    html = client.get(edit_url(sequence)).content.decode()
    start = html.index(f'<li id="step-{step.pk}"')
    if "is-pending" in html[start : html.index(">", start)]:
        cards = url("steps_cards", sequence)
        query = {"ids": step.pk, "version": version_of(sequence)}
        html = client.get(cards, query, **HTMX).content.decode()
        start = html.index(f'<li id="step-{step.pk}"')
    return html[start : html.index("\n</li>", start)]


# --- The cards -------------------------------------------------------------------------------
def test_a_new_email_card_is_ready_to_write(logged_in, example_sequence):
    step = add_step(logged_in, example_sequence, "email")
    html = card_html(logged_in, example_sequence, step)

    assert "<legend>Email content</legend>" in html
    assert (
        f'id="step-{step.pk}-source-written" name="content_source" value="written" checked' in html
    )
    assert "Use a shared template" in html
    assert f'<label for="step-{step.pk}-subject">Subject</label>' in html
    assert 'name="subject"' in html
    assert f'<input type="hidden" id="step-{step.pk}-body-input" name="body" value="">' in html
    assert f'<trix-editor id="step-{step.pk}-body" input="step-{step.pk}-body-input"' in html
    assert 'aria-label="Body"' in html
    # Written: no picker until "Use a shared template".
    assert f'id="step-{step.pk}-template"' not in html
    assert 'aria-haspopup="menu"' in html and ">Insert merge field</button>" in html


def test_the_merge_menu_lists_copytexts_fields_and_marks_the_unconfirmed(
    logged_in, example_sequence
):
    step = add_step(logged_in, example_sequence, "sms")
    html = card_html(logged_in, example_sequence, step)

    items = re.findall(r'<li role="menuitem" tabindex="-1" data-tag="([^"]+)">(.*?)</li>', html)
    assert [tag for tag, _ in items] == [field.tag for field in copytext.MERGE_FIELDS]
    for (_, text), field in zip(items, copytext.MERGE_FIELDS, strict=True):
        assert text.startswith(field.label)
        assert ("(not confirmed by Close)" in text) == (not field.confirmed)
    assert f'id="step-{step.pk}-fallback" form=""' in html  # never posted with the card


def test_a_template_card_shows_the_picker_and_edit_a_copy(logged_in, example_sequence, synced):
    step = steps_of(example_sequence)[1]  # email with EXAMPLE_EMAIL_1
    html = card_html(logged_in, example_sequence, step)

    assert 'value="template" checked' in html
    assert f'id="step-{step.pk}-template"' in html  # the picker
    assert ">Edit a copy</button>" in html
    assert 'name="subject"' not in html and "<trix-editor" not in html


def test_the_sms_card_counts_characters_and_segments(logged_in, example_sequence):
    step = add_step(logged_in, example_sequence, "sms")
    update_step(logged_in, step, text="Hi € there")
    html = card_html(logged_in, example_sequence, step)

    assert f'<label for="step-{step.pk}-text">Message</label>' in html
    assert "Hi € there</textarea>" in html
    assert "10 characters · 1 SMS segment (GSM-7)</output>" in html


# --- Saving copy -----------------------------------------------------------------------------
def test_posting_copy_saves_it_cleaned_with_a_summary(logged_in, example_sequence):
    step = add_step(logged_in, example_sequence, "email")

    response = update_step(
        logged_in,
        step,
        subject="Quick\nquestion",
        body="<p>Hi {{ contact.first_name }}</p><ul><li>one</li></ul><!--x-->",
    )

    assert response.status_code == 200
    saved = fresh(step)
    assert saved.subject == "Quick question"
    assert saved.body == "<div>Hi {{ contact.first_name }}</div><ul><li>one</li></ul>"
    assert saved.content_source == "written"
    assert latest_summary(example_sequence) == (
        "Step 4: subject (empty) → “Quick question”; body edited"
    )


def test_a_copy_save_answers_with_notes_not_the_boxes(logged_in, example_sequence):
    step = add_step(logged_in, example_sequence, "email")

    html = update_step(logged_in, step, subject="Hello", body="").content.decode()

    # The body's problem shows next to it; the boxes being typed in are not sent back.
    assert (
        f'<div id="step-{step.pk}-body-notes" class="field-notes copy-notes" hx-swap-oob="true">'
        in html
    )
    assert "Step 4 needs a body: write the email." in html
    assert 'name="subject"' not in html and "<trix-editor" not in html
    assert f'id="step-{step.pk}-content"' not in html


def test_an_unchanged_copy_save_records_nothing(logged_in, example_sequence):
    step = add_step(logged_in, example_sequence, "sms")
    update_step(logged_in, step, text="Hi there")
    version = version_of(example_sequence)

    update_step(logged_in, step, text="Hi there")

    assert version_of(example_sequence) == version


@pytest.mark.parametrize(
    "evil",
    ["<script>", "onerror", "javascript:", "<svg", "onload", "onclick", "<img", "alert(1)"],
)
def test_xss_in_a_posted_body_is_stored_clean_and_renders_inert(logged_in, example_sequence, evil):
    step = add_step(logged_in, example_sequence, "email")

    update_step(logged_in, step, subject="Hi", body=XSS_BODY)

    body = fresh(step).body
    assert evil not in body
    assert "<strong>bold</strong>" in body
    assert '<a href="https://example.com" rel="noopener noreferrer">ok</a>' in body
    card = card_html(logged_in, example_sequence, step)
    value = re.search(rf'id="step-{step.pk}-body-input" name="body" value="([^"]*)"', card)
    assert value and "<" not in value.group(1)  # escaped inside the attribute
    # Escaped inside the hidden input, and nowhere else on the card either.
    assert evil not in card


def test_xss_in_a_subject_and_message_is_escaped(logged_in, example_sequence):
    email = add_step(logged_in, example_sequence, "email")
    sms = add_step(logged_in, example_sequence, "sms")
    update_step(logged_in, email, subject='"><script>alert(1)</script>', body="<div>x</div>")
    update_step(logged_in, sms, text="</textarea><script>alert(2)</script>")

    html = logged_in.get(edit_url(example_sequence)).content.decode()

    assert "<script>alert" not in html
    assert "&lt;/textarea&gt;&lt;script&gt;alert(2)" in html


def test_the_read_only_page_shows_the_cleaned_body_without_an_editor(
    client, viewer, example_sequence, logged_in
):
    step = add_step(logged_in, example_sequence, "email")
    update_step(logged_in, step, subject="Hi", body=XSS_BODY)
    client.force_login(viewer)

    page = client.get(edit_url(example_sequence)).content.decode()
    html = card_html(client, example_sequence, step)

    assert "<trix-editor" not in page and "Insert merge field" not in page
    assert "<trix-editor" not in html and "Insert merge field" not in html
    assert "<strong>bold</strong>" in html
    assert "javascript:" not in html and "onerror" not in html and "<script>alert" not in html


def test_switching_to_a_template_answers_with_the_picker(logged_in, example_sequence, synced):
    step = add_step(logged_in, example_sequence, "email")

    response = update_step(logged_in, step, content_source="template")

    html = response.content.decode()
    assert fresh(step).content_source == "template"
    assert f'<div id="step-{step.pk}-content" class="step-content" hx-swap-oob="true">' in html
    assert f'id="step-{step.pk}-template"' in html
    assert f"#step-{step.pk}-source-template" in response["HX-Trigger-After-Settle"]
    assert "content written here → shared template" in latest_summary(example_sequence)


def test_a_copy_field_too_long_is_refused_next_to_it(logged_in, example_sequence):
    step = add_step(logged_in, example_sequence, "email")
    before = state_of(example_sequence)

    response = update_step(logged_in, step, subject="x" * 501)

    assert response.status_code == 422
    html = response.content.decode()
    assert f'id="step-{step.pk}-subject-notes"' in html
    assert "Keep the subject to 500 characters." in html
    assert state_of(example_sequence) == before


def test_a_stale_copy_save_is_refused_with_409(logged_in, example_sequence):
    step = add_step(logged_in, example_sequence, "sms")

    response = update_step(logged_in, step, text="late", version="1")

    assert response.status_code == 409
    assert fresh(step).text == ""


def test_a_viewer_cannot_save_copy(client, viewer, example_sequence, logged_in):
    step = add_step(logged_in, example_sequence, "sms")
    client.force_login(viewer)

    response = client.post(
        url("step_update", example_sequence, step.pk), card_data(step, text="x"), **HTMX
    )

    assert response.status_code == 403
    assert fresh(step).text == ""


# --- Edit a copy -----------------------------------------------------------------------------
def test_edit_a_copy_brings_the_templates_words_into_the_step(logged_in, example_sequence, synced):
    step = steps_of(example_sequence)[1]
    template = CloseTemplate.objects.get(close_id=EXAMPLE_EMAIL_1)

    response = post(logged_in, "step_copy_template", example_sequence, step.pk)

    assert response.status_code == 200
    saved = fresh(step)
    assert saved.content_source == "written"
    assert saved.email_template_id == ""
    assert saved.subject == template.subject
    assert saved.body == copytext.clean_body(template.body) and saved.body
    assert CloseTemplate.objects.get(close_id=EXAMPLE_EMAIL_1).body == template.body  # untouched
    assert latest_summary(example_sequence) == (
        f"Step 2: copied the template “{template.name}” to edit it here"
    )
    html = response.content.decode()
    assert f'<div id="step-{step.pk}-content" class="step-content" hx-swap-oob="true">' in html
    assert f'id="step-{step.pk}-subject" name="subject"' in html
    assert f"#step-{step.pk}-subject" in response["HX-Trigger-After-Settle"]


def test_edit_a_copy_cleans_a_template_with_script(logged_in, example_sequence, synced):
    step = steps_of(example_sequence)[1]
    Step.objects.filter(pk=step.pk).update(email_template_id=WEBINAR)

    post(logged_in, "step_copy_template", example_sequence, step.pk)

    body = fresh(step).body
    assert body and "<script" not in body and "onerror" not in body


def test_edit_a_copy_of_an_sms_template(logged_in, example_sequence, synced):
    step = add_step(logged_in, example_sequence, "sms")
    Step.objects.filter(pk=step.pk).update(content_source="template", sms_template_id=SMS_CHECK_IN)

    post(logged_in, "step_copy_template", example_sequence, step.pk)

    saved = fresh(step)
    assert saved.text == CloseTemplate.objects.get(close_id=SMS_CHECK_IN).body
    assert saved.content_source == "written" and saved.sms_template_id == ""


def test_edit_a_copy_without_js_redirects_to_the_card(logged_in, example_sequence, synced):
    step = steps_of(example_sequence)[1]

    response = post(logged_in, "step_copy_template", example_sequence, step.pk, htmx=False)

    assert response.status_code == 302
    assert response["Location"].endswith(f"#step-{step.pk}")
    assert fresh(step).content_source == "written"


@pytest.mark.parametrize(
    "setup, message",
    [
        ({"content_source": "written"}, "already written here"),
        ({"email_template_id": ""}, "has no template yet"),
        ({"email_template_id": "tmpl_not_synced"}, "sync templates"),
    ],
)
def test_edit_a_copy_refusals(logged_in, example_sequence, synced, setup, message):
    step = steps_of(example_sequence)[1]
    Step.objects.filter(pk=step.pk).update(**setup)
    before = state_of(example_sequence)

    response = post(logged_in, "step_copy_template", example_sequence, step.pk)

    assert response.status_code == 422
    assert message in response.content.decode()
    assert state_of(example_sequence) == before


def test_edit_a_copy_of_a_call_is_refused(logged_in, example_sequence, synced):
    call = steps_of(example_sequence)[0]

    response = post(logged_in, "step_copy_template", example_sequence, call.pk)

    assert response.status_code == 422
    assert "not an email or an SMS" in response.content.decode()


def test_edit_a_copy_stale_is_409(logged_in, example_sequence, synced):
    step = steps_of(example_sequence)[1]

    response = post(
        logged_in, "step_copy_template", example_sequence, step.pk, data={"version": "0"}
    )

    assert response.status_code == 409
    assert fresh(step).content_source == "template"


def test_edit_a_copy_needs_an_editor(client, viewer, example_sequence, synced):
    step = steps_of(example_sequence)[1]
    client.force_login(viewer)

    response = post(client, "step_copy_template", example_sequence, step.pk)

    assert response.status_code == 403
    assert fresh(step).content_source == "template"


def test_edit_a_copy_is_post_only(logged_in, example_sequence, synced):
    step = steps_of(example_sequence)[1]

    response = logged_in.get(url("step_copy_template", example_sequence, step.pk))

    assert response.status_code == 405


# --- Imported copy, and copy that predates the rules -----------------------------------------
def test_imported_copy_with_xss_is_stored_clean_and_renders_inert(logged_in, user):
    from builder import importing

    data = {
        "name": "Imported",
        "timezone": "UTC",
        "steps": [
            {
                "step_type": "email",
                "delay": 0,
                "threading": "new_thread",
                "copy": {"subject": "<b>Hi</b>", "body": XSS_BODY},
            },
            {"step_type": "sms", "delay": 60, "copy": {"text": "<script>alert(9)</script>"}},
        ],
    }
    sequence = importing.import_file(data=data, user=user)
    email, sms = steps_of(sequence)

    assert "<script" not in email.body and "onerror" not in email.body
    assert "javascript:" not in email.body and "<svg" not in email.body
    html = logged_in.get(edit_url(sequence)).content.decode()
    assert "<script>alert" not in html and "javascript:" not in html
    assert "&lt;script&gt;alert(9)" in html  # the SMS's text, shown as text
    assert 'value="&lt;b&gt;Hi&lt;/b&gt;"' in html  # a subject is text too


def test_a_stored_body_that_predates_the_rules_is_cleaned_on_the_page(
    client, viewer, logged_in, example_sequence
):
    step = add_step(logged_in, example_sequence, "email")
    Step.objects.filter(pk=step.pk).update(body=XSS_BODY)  # as an old row might hold it
    client.force_login(viewer)

    for page in (logged_in, client):  # the editor's box and the read-only body
        html = page.get(edit_url(example_sequence)).content.decode()
        assert "onerror" not in html and "javascript:" not in html and "<svg" not in html
        assert "<script>alert" not in html


def test_undo_of_a_removed_written_step_brings_its_copy_back(logged_in, example_sequence):
    step = add_step(logged_in, example_sequence, "email")
    update_step(logged_in, step, subject="Kept", body="<div>Words</div>")

    response = post(logged_in, "step_remove", example_sequence, step.pk)
    token = re.search(r'name="token" value="([^"]+)"', response.content.decode()).group(1)
    post(logged_in, "step_restore", example_sequence, data={"token": token})

    back = fresh(step)
    assert (back.content_source, back.subject, back.body) == ("written", "Kept", "<div>Words</div>")


def test_edit_a_copy_refuses_a_subject_longer_than_a_step_holds(
    logged_in, example_sequence, synced
):
    step = steps_of(example_sequence)[1]
    CloseTemplate.objects.filter(close_id=EXAMPLE_EMAIL_1).update(subject="x" * 501)
    before = state_of(example_sequence)

    response = post(logged_in, "step_copy_template", example_sequence, step.pk)

    assert response.status_code == 422
    assert "longer than 500 characters" in response.content.decode()
    assert state_of(example_sequence) == before
