"""The step editor page and its autosaving fields: name, delays, threading, Required, templates."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

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
from tests.conftest import EXAMPLE_EMAIL_1, EXAMPLE_EMAIL_2

pytestmark = pytest.mark.django_db

BUMP = "tmpl_kcFjIXorOE5mikCzhi4ed1dRStfrMUNGTdZu2U4wiHz"  # "Follow-up — bump"
WEBINAR = "tmpl_0gMIs4xwhr0jMypNPulMqlXC94Y9wgT7Z5giUb3BBjL"  # carries <script> and onerror
ARCHIVED = "tmpl_p47qYaqu6oVeQgTdRUVUun6M4SpOM4z68oZJ4TZjLpX"
UNSHARED = "tmpl_RouDOc2tGgnwliLPrGDpDIUcqJXsNyTfC9NpKlLF0Ft"
SMS_CHECK_IN = "smstmpl_71JQ1KxplWkUvKD7TBdDT643l8hSBT7sYxnj16xOXZT"


def latest_summary(sequence):
    return Sequence.objects.get(pk=sequence.pk).revisions.order_by("-number").first().summary


# --- The page --------------------------------------------------------------------------------
def test_page_shows_numbered_step_cards_with_summaries(logged_in, example_sequence, synced):
    html = logged_in.get(edit_url(example_sequence)).content.decode()

    cards = reverse("steps_cards", args=[example_sequence.pk])
    assert f'<ol id="step-list" class="steps" aria-label="Steps" data-cards-url="{cards}">' in html
    for number in (1, 2, 3):
        assert f'id="step-{steps_of(example_sequence)[number - 1].pk}-title">Step {number}<' in html
    assert "Day 1</span> · Call · required" in html
    assert "Day 2</span> · Email · Intro — quick question · starts the thread" in html
    assert "Day 5</span> · Email · Follow-up — case study · replies in thread" in html
    assert "starts on day 5" in html
    assert "No problems" in html  # "Ready to publish" waits for approval


def test_page_shows_name_schedule_summary_and_version(logged_in, example_sequence):
    html = logged_in.get(edit_url(example_sequence)).content.decode()

    assert 'id="sequence-name" name="name" type="text" value="My Sequence"' in html
    assert "Mon–Fri 09:00–16:59" in html and "America/Los_Angeles" in html
    assert f'href="{url("sequence_schedule", example_sequence)}">Change schedule' in html
    assert '<input type="hidden" id="editor-version" value="1">' in html
    # The timezone and the weekly schedule are edited on the Schedule page now.
    assert 'name="timezone"' not in html and "ranges-TOTAL_FORMS" not in html


def test_problems_show_at_the_top_and_next_to_their_field(logged_in, example_sequence):
    # The template cache is empty: both email templates are unknown.
    step = steps_of(example_sequence)[1]

    html = logged_in.get(edit_url(example_sequence)).content.decode()

    assert "2 problems block publishing" in html
    assert f'<a href="#step-{step.pk}-template">Step 2&#x27;s email template' in html
    picker = html[html.index(f'id="step-{step.pk}-template"') :]
    picker = picker[: picker.index("</fieldset>")]
    assert "Step 2&#x27;s email template is not among the synced templates" in picker
    assert "Not synced" in picker


def test_a_template_archived_or_deleted_in_close_is_flagged(
    logged_in, example_sequence, sandbox, synced
):
    from builder.template_sync import sync_templates

    sandbox.update_template(EXAMPLE_EMAIL_1, is_archived=True)
    sync_templates()
    CloseTemplate.objects.filter(close_id=EXAMPLE_EMAIL_2).update(present_in_close=False)

    html = logged_in.get(edit_url(example_sequence)).content.decode()

    assert "Archived in Close" in html
    assert "which is archived in Close. Pick another template." in html
    assert "Deleted in Close" in html
    assert "2 problems block publishing" in html


def test_template_preview_is_sanitised_and_lists_merge_fields(logged_in, example_sequence, synced):
    Step.objects.filter(sequence=example_sequence, position=1).update(email_template_id=WEBINAR)

    html = logged_in.get(edit_url(example_sequence)).content.decode()

    preview = html[html.index("You&#x27;re invited") :]
    assert "Join our live webinar on Thursday." in preview
    assert "<script>alert(1)</script>" not in html
    assert "onerror" not in html and "banner.png" not in html
    assert "1 image not shown in the preview." in html
    assert 'href="https://example.com/webinar" rel="noopener noreferrer"' in html
    assert "<code>{{ contact.first_name }}</code>" in html


def test_user_text_is_escaped(logged_in, example_sequence):
    Sequence.objects.filter(pk=example_sequence.pk).update(name="<b>Q3</b> & co")

    html = logged_in.get(edit_url(example_sequence)).content.decode()

    assert "<b>Q3</b>" not in html
    assert 'value="&lt;b&gt;Q3&lt;/b&gt; &amp; co"' in html


def test_member_without_editor_role_reads_a_disabled_editor(client, viewer, example_sequence):
    client.force_login(viewer)

    html = client.get(edit_url(example_sequence)).content.decode()

    assert "only Editors can change it" in html
    assert "Remove step" not in html and "Add email step" not in html
    assert '<fieldset class="step-body" disabled>' in html
    assert "hx-post" not in html.split('id="step-list"')[1]


def test_page_query_count_does_not_grow_with_steps(logged_in, example_sequence, synced):
    def count_queries():
        with CaptureQueriesContext(connection) as queries:
            response = logged_in.get(edit_url(example_sequence))
        assert response.status_code == 200
        return len(queries.captured_queries), response.content.decode()

    small, _ = count_queries()
    kinds = [
        {"step_type": "email", "email_template_id": BUMP, "threading": "old_thread"},
        {"step_type": "call"},
        {"step_type": "sms", "sms_template_id": SMS_CHECK_IN},
    ]
    Step.objects.bulk_create(
        Step(sequence=example_sequence, position=i, delay=3600, **kinds[i % 3])
        for i in range(3, 50)
    )
    large, html = count_queries()

    assert 'id="step-' in html and ">Step 50<" in html
    assert large == small


# --- Name ------------------------------------------------------------------------------------
def test_renaming_autosaves_and_returns_the_new_version(logged_in, example_sequence, user):
    response = post(logged_in, "sequence_rename", example_sequence, data={"name": "Q3 outbound"})

    html = response.content.decode()
    example_sequence.refresh_from_db()
    assert response.status_code == 200
    assert example_sequence.name == "Q3 outbound"
    assert example_sequence.version == 2 and example_sequence.updated_by == user
    assert latest_summary(example_sequence) == "Renamed “My Sequence” → “Q3 outbound”"
    assert '<div id="save-status" class="save-status" role="status" hx-swap-oob="true">' in html
    assert '<input type="hidden" id="editor-version" value="2">' in html
    assert "Saved" in html
    # The shared header follows the new name, and still marks the Steps tab as current.
    head = html[html.index('id="sequence-head"') :]
    assert "Q3 outbound" in head
    assert f'href="{edit_url(example_sequence)}" aria-current="page"' in head


def test_renaming_to_the_same_name_saves_nothing(logged_in, example_sequence):
    before = state_of(example_sequence)

    response = post(logged_in, "sequence_rename", example_sequence, data={"name": "My Sequence"})

    assert response.status_code == 200
    assert "No changes" in response.content.decode()
    assert state_of(example_sequence) == before


@pytest.mark.parametrize(
    ("name", "message"),
    [("", "Give the sequence a name."), ("x" * 201, "Keep the name to 200 characters.")],
)
def test_a_bad_name_is_refused_next_to_the_field(logged_in, example_sequence, name, message):
    before = state_of(example_sequence)

    response = post(logged_in, "sequence_rename", example_sequence, data={"name": name})

    html = response.content.decode()
    assert response.status_code == 422
    assert f'<p class="field-error">{message}</p>' in html
    assert f"Not saved: {message}" in html
    assert state_of(example_sequence) == before


def test_renaming_without_javascript_redirects_with_a_message(logged_in, example_sequence):
    response = post(
        logged_in, "sequence_rename", example_sequence, data={"name": "Plain"}, htmx=False
    )

    assert response.status_code == 302
    assert response["Location"] == edit_url(example_sequence)
    page = logged_in.get(response["Location"]).content.decode()
    assert "Saved: Renamed “My Sequence” → “Plain”." in page


# --- Delays ----------------------------------------------------------------------------------
def test_changing_a_delay_saves_seconds_and_moves_later_days(logged_in, example_sequence):
    first, second, third = steps_of(example_sequence)

    response = update_step(logged_in, second, days="2", hours="5")

    html = response.content.decode()
    second.refresh_from_db()
    assert response.status_code == 200
    assert second.delay == 2 * 86400 + 5 * 3600
    assert latest_summary(example_sequence) == "Step 2: delay 1 day → 2 days 5 hours"
    # Everything comes back out of band, except the boxes (the user may be typing in the
    # next one): the card's notes, and every card's head and start, since later days moved.
    assert response["HX-Reswap"] == "none"
    assert 'name="days"' not in html and 'name="hours"' not in html
    assert f'<div id="step-{second.pk}-delay-notes" class="field-notes" hx-swap-oob="true">' in html
    assert (
        f'<div id="step-{third.pk}-head" class="step-head" data-delay="259200" hx-swap-oob' in html
    )
    assert "Day 6</span> · Email" in html
    assert re.search(
        rf'<output id="step-{third.pk}-starts" class="starts-on"[^>]* hx-swap-oob', html
    )
    assert "starts on day 6, 5 hours in" in html
    # Only the cards whose day moved: the first card is not sent again.
    assert f'id="step-{first.pk}-head"' not in html


def test_delay_parts_are_normalised_and_an_empty_box_is_zero(logged_in, example_sequence):
    step = steps_of(example_sequence)[1]

    update_step(logged_in, step, days="", hours="25", minutes="90")

    step.refresh_from_db()
    assert step.delay == 26 * 3600 + 30 * 60
    html = logged_in.get(edit_url(example_sequence)).content.decode()
    assert f'id="step-{step.pk}-days" name="days" type="text" inputmode="numeric" value="1"' in html
    assert (
        f'id="step-{step.pk}-hours" name="hours" type="text" inputmode="numeric" value="2"' in html
    )


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"days": "-1"}, "Days cannot be negative."),
        ({"hours": "abc"}, "Hours: enter a whole number, such as 3."),
        ({"minutes": "1.5"}, "Minutes: enter a whole number, such as 3."),
        ({"days": "366"}, "A wait can be at most 365 days."),
        ({"days": "365", "hours": "1"}, "A wait can be at most 365 days."),
        ({"minutes": "99999999999999999999"}, "A wait can be at most 365 days."),
        ({"days": None}, "The wait (days, hours, minutes) was not sent"),
    ],
)
def test_a_bad_delay_is_refused_inline_and_nothing_is_saved(
    logged_in, example_sequence, overrides, message
):
    step = steps_of(example_sequence)[1]
    before = state_of(example_sequence)

    response = update_step(logged_in, step, **overrides)

    html = response.content.decode()
    assert response.status_code == 422
    assert response["HX-Reswap"] == "none"
    assert "Not saved:" in html and message in html
    notes = html[html.index(f'<div id="step-{step.pk}-delay-notes"') :]
    assert notes.index(message) < notes.index("</div>")
    assert '<p class="field-error">' in notes
    assert state_of(example_sequence) == before


def test_a_bad_delay_without_javascript_shows_the_page_with_the_error(logged_in, example_sequence):
    step = steps_of(example_sequence)[1]
    before = state_of(example_sequence)

    response = update_step(logged_in, step, htmx=False, days="x7")

    html = response.content.decode()
    assert response.status_code == 422
    assert "Days: enter a whole number, such as 3." in html
    # The card keeps what was typed, so the user can correct it.
    assert (
        f'id="step-{step.pk}-days" name="days" type="text" inputmode="numeric" value="x7"' in html
    )
    assert state_of(example_sequence) == before


def test_saving_a_card_without_changes_records_no_revision(logged_in, example_sequence):
    before = state_of(example_sequence)

    response = update_step(logged_in, steps_of(example_sequence)[2])

    assert response.status_code == 200
    assert state_of(example_sequence) == before


def test_saving_a_card_without_javascript_redirects_to_it(logged_in, example_sequence):
    step = steps_of(example_sequence)[2]

    response = update_step(logged_in, step, htmx=False, days="4")

    assert response.status_code == 302
    assert response["Location"] == f"{edit_url(example_sequence)}#step-{step.pk}"
    step.refresh_from_db()
    assert step.delay == 4 * 86400


# --- Threading and Required ------------------------------------------------------------------
def test_unchecking_reply_in_previous_thread_starts_a_new_thread(logged_in, example_sequence):
    step = steps_of(example_sequence)[2]

    update_step(logged_in, step, reply_in_thread=None)

    step.refresh_from_db()
    assert step.threading == "new_thread"
    assert latest_summary(example_sequence) == "Step 3: replies in thread → new thread"


def test_the_first_email_is_forced_to_a_new_thread_and_says_why(logged_in, example_sequence):
    first_email = steps_of(example_sequence)[1]

    response = update_step(logged_in, first_email, reply_in_thread="on")

    first_email.refresh_from_db()
    assert first_email.threading == "new_thread"
    html = response.content.decode()
    assert f'id="step-{first_email.pk}-thread" name="reply_in_thread" disabled' in html
    assert "this is the first email, so there is no earlier email to reply to" in html
    assert version_of(example_sequence) == 1  # nothing changed, nothing saved


def test_call_required_is_a_fact_not_a_choice(logged_in, example_sequence):
    """Close's call steps are always required: no checkbox, and a post cannot untick it."""
    call = steps_of(example_sequence)[0]

    response = update_step(logged_in, call, required=None)

    call.refresh_from_db()
    assert call.required is True
    assert version_of(example_sequence) == 1  # nothing changed, nothing saved
    html = response.content.decode()
    extra = html[html.index(f'<div id="step-{call.pk}-extra"') :]
    extra = extra[: extra.index("</div>")]
    assert 'type="checkbox"' not in extra
    assert "<strong>Required</strong>" in extra
    assert "Close's call steps are always required" in extra


# --- Template picker -------------------------------------------------------------------------
def test_picking_a_template_saves_it_and_shows_its_preview(logged_in, example_sequence, synced):
    step = steps_of(example_sequence)[2]

    response = update_step(logged_in, step, email_template_id=BUMP)

    step.refresh_from_db()
    html = response.content.decode()
    assert step.email_template_id == BUMP
    assert (
        latest_summary(example_sequence)
        == "Step 3: template “Follow-up — case study” → “Follow-up — bump”"
    )
    assert '<p class="chosen-name">Follow-up — bump</p>' in html
    assert "just bumping this to the top of your inbox" in html


@pytest.mark.parametrize(
    ("template_id", "message"),
    [
        (ARCHIVED, "That template is not available"),
        (UNSHARED, "That template is not available"),
        (SMS_CHECK_IN, "That template is not available"),
        ("tmpl_doesnotexist", "That template is not available"),
    ],
)
def test_an_unusable_template_is_refused(logged_in, example_sequence, synced, template_id, message):
    step = steps_of(example_sequence)[2]
    before = state_of(example_sequence)

    response = update_step(logged_in, step, email_template_id=template_id)

    assert response.status_code == 422
    assert message in response.content.decode()
    assert state_of(example_sequence) == before


def test_a_call_step_cannot_get_a_template(logged_in, example_sequence, synced):
    before = state_of(example_sequence)

    response = update_step(logged_in, steps_of(example_sequence)[0], email_template_id=BUMP)

    assert response.status_code == 422
    assert "This is a call step: it cannot use an email template." in response.content.decode()
    assert state_of(example_sequence) == before


def test_search_finds_shared_live_templates_by_name_and_subject(
    logged_in, example_sequence, synced
):
    step = steps_of(example_sequence)[2]
    search = url("step_templates", example_sequence, step.pk)

    by_name = logged_in.get(search, {"q": "follow"}, **HTMX).content.decode()
    by_subject = logged_in.get(search, {"q": "northwind"}, **HTMX).content.decode()
    everything = logged_in.get(search, **HTMX).content.decode()

    assert by_name.lstrip().startswith(f'<div id="step-{step.pk}-results"')
    assert "Follow-up — case study" in by_name and "Follow-up — bump" in by_name
    assert "Intro — quick question" not in by_name
    assert "2 templates match “follow”." in by_name
    assert "Follow-up — case study" in by_subject and "Follow-up — bump" not in by_subject
    # Archived and unshared templates are never offered; SMS templates are not email ones.
    for name in ("Q1 promo", "Personal draft", "Quick SMS check-in"):
        assert name not in everything
    assert f'name="email_template_id" value="{EXAMPLE_EMAIL_2}"' in everything
    assert "is-current" in everything  # the step's own template is marked


def test_search_matches_every_word_and_escapes_the_query(logged_in, example_sequence, synced):
    step = steps_of(example_sequence)[2]
    search = url("step_templates", example_sequence, step.pk)

    html = logged_in.get(search, {"q": "  case   FOLLOW <script> "}, **HTMX).content.decode()

    assert "No shared email templates match “case FOLLOW &lt;script&gt;”." in html
    assert "<script>" not in html
    html = logged_in.get(search, {"q": "case follow"}, **HTMX).content.decode()
    assert "1 template matches “case follow”." in html


def test_search_stays_small_and_fast_with_thousands_of_templates(
    logged_in, example_sequence, synced
):
    CloseTemplate.objects.bulk_create(
        CloseTemplate(
            close_id=f"tmpl_bulk{i:05d}",
            kind="email",
            name=f"Pricing — variant {i:04d}",
            subject="Pricing for {{ lead.display_name }}",
            body="<p>Hi {{ contact.first_name }}</p>",
            is_shared=True,
        )
        for i in range(3000)
    )
    step = steps_of(example_sequence)[2]

    with CaptureQueriesContext(connection) as queries:
        response = logged_in.get(
            url("step_templates", example_sequence, step.pk), {"q": "pricing"}, **HTMX
        )

    html = response.content.decode()
    assert "3000 templates match; showing the first 20." in html
    assert len(re.findall(r'class="pick-use"', html)) == 20
    assert len(queries.captured_queries) <= 7  # session, user, sequence and steps, page, count


def test_sms_steps_search_sms_templates(logged_in, example_sequence, synced):
    sms = Step.objects.create(sequence=example_sequence, position=3, step_type="sms")

    html = logged_in.get(url("step_templates", example_sequence, sms.pk), **HTMX).content.decode()

    assert "Quick SMS check-in" in html and "Meeting reminder" in html
    assert "Intro — quick question" not in html and "Q1 promo SMS" not in html
    assert f'name="sms_template_id" value="{SMS_CHECK_IN}"' in html


def test_search_without_javascript_shows_the_page_with_results(logged_in, example_sequence, synced):
    step = steps_of(example_sequence)[2]

    response = logged_in.get(url("step_templates", example_sequence, step.pk), {"q": "bump"})

    html = response.content.decode()
    assert response.status_code == 200
    assert '<ol id="step-list"' in html
    results = html[html.index(f'id="step-{step.pk}-results"') :]
    assert "1 template matches “bump”." in results
    # "Use" buttons submit the card's own form, so picking works as a plain post too.
    assert 'name="email_template_id" value="tmpl_kcFjIXorOE5mikCzhi4ed1dRStfrMUNGTdZu2U4wiHz"' in (
        results
    )
    assert f'<form id="step-{step.pk}-fields"' in html


def test_search_for_a_call_step_or_unknown_step_is_refused(logged_in, example_sequence):
    call = steps_of(example_sequence)[0]

    call_response = logged_in.get(url("step_templates", example_sequence, call.pk), **HTMX)
    unknown = logged_in.get(url("step_templates", example_sequence, 999999), **HTMX)

    assert call_response.status_code == 422
    assert "Step 1 is a call: it has no template to pick." in call_response.content.decode()
    assert unknown.status_code == 409  # the step is gone: the sequence changed under the page
    assert "That step is not in this sequence" in unknown.content.decode()


def test_card_data_matches_what_the_page_posts(logged_in, example_sequence):
    """The helper the tests post with sends the same field names as the page's card form."""
    step = steps_of(example_sequence)[2]
    html = logged_in.get(edit_url(example_sequence)).content.decode()
    card = html[html.index(f'<form id="step-{step.pk}-fields"') :]
    card = card[: card.index("</form>")]

    names = set(re.findall(r'name="([a-z_]+)"', card)) - {"csrfmiddlewaretoken", "q"}

    assert names == set(card_data(step))  # + a template id, from the search results only


def test_a_first_email_imported_as_a_reply_starts_the_thread_and_keeps_the_choice(
    logged_in, example_sequence
):
    """Close accepts a reply as the first email; it is sent as new_thread, no problem, kept."""
    first_email = steps_of(example_sequence)[1]
    Step.objects.filter(pk=first_email.pk).update(threading="old_thread")

    page = logged_in.get(edit_url(example_sequence)).content.decode()
    response = update_step(logged_in, first_email, reply_in_thread=None)

    checkbox = f'id="step-{first_email.pk}-thread" name="reply_in_thread"'
    assert f"{checkbox} disabled" in page
    assert "there is no earlier thread to reply in" not in page
    assert response.status_code == 200
    first_email.refresh_from_db()
    assert first_email.threading == "old_thread"
    assert version_of(example_sequence) == 1  # nothing the person changed, nothing saved


# --- Close's ids -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "edit",
    [
        {"days": "4"},
        {"email_template_id": BUMP},
        {"reply_in_thread": None},
    ],
    ids=["delay", "template", "threading"],
)
def test_an_edit_never_overwrites_the_close_id_a_publish_stored_meanwhile(
    logged_in, example_sequence, synced, monkeypatch, edit
):
    """Issue 12, finding 2: the publish job stores Close's step ids while an edit is on its way.
    The edit read the step row before that write; it saves only the fields it changed."""
    from builder.views import editor

    step = steps_of(example_sequence)[2]
    loaded_version = editor._loaded_version

    def publish_writes_meanwhile(request, sequence):
        # The editor has already read the sequence's steps (editor._load): the job writes now.
        Step.objects.filter(pk=step.pk).update(close_id="seqstep_stored_by_publish")
        return loaded_version(request, sequence)

    monkeypatch.setattr(editor, "_loaded_version", publish_writes_meanwhile)

    response = update_step(logged_in, step, **edit)

    assert response.status_code == 200
    step.refresh_from_db()
    assert step.close_id == "seqstep_stored_by_publish"
    assert version_of(example_sequence) == 2  # the edit itself was saved
    assert (step.delay, step.email_template_id, step.threading) == (
        4 * 86400 if "days" in edit else 3 * 86400,
        edit.get("email_template_id", EXAMPLE_EMAIL_2),
        "new_thread" if "reply_in_thread" in edit else "old_thread",
    )
