"""Written copy published as Close templates (builder/copy_publishing.py, publishing.py): each
template created once before the sequence that references it, nothing sent for unchanged copy,
only the changed keys for an edit; shared templates left alone unless a person chooses; copy
changed in Close (drift) found, shown, kept or overwritten. Against the sandbox over HTTP."""

import html

import pytest
from django.test import Client
from django.urls import reverse

from builder import close, copy_publishing, editing, publishing
from builder.models import OwnedTemplate, Sequence, Step
from tests.builder.copykit import (
    FOLLOW_UP,
    INTRO,
    SMS,
    edit_step,
    fresh,
    publish,
    rows,
    steps,
    template,
    templates_named,
    writes,
    written_draft,
)
from tests.conftest import EXAMPLE_EMAIL_1, approve

pytestmark = pytest.mark.django_db
BETTER = "<div>Hi there, one <em>better</em> question.</div>"


@pytest.fixture(autouse=True)
def quick(settings):
    settings.PUBLISH_SETTLE_SECONDS = 0.3
    settings.CLOSE_MAX_WAIT_IN_JOB = 0.0


@pytest.fixture
def written(user, reviewer, sandbox):
    return approve(written_draft(user), reviewer)


@pytest.fixture
def published(written, publisher):
    outcome = publish(written, publisher)
    assert outcome.ok, outcome.message
    return fresh(written)


def page_of(client, sequence):
    response = client.get(reverse("sequence_publish", args=[sequence.pk]))
    assert response.status_code == 200
    return html.unescape(response.content.decode())


# --- create ----------------------------------------------------------------------------------


def test_publish_creates_each_template_once_then_the_sequence_referencing_them(
    written, publisher, sandbox
):
    outcome = publish(written, publisher)

    assert outcome.ok, outcome.message
    assert writes(sandbox) == [
        ("POST", "/email_template/"),
        ("POST", "/email_template/"),
        ("POST", "/sms_template/"),
        ("POST", "/sequence/"),
    ]
    owned = rows(written)
    assert sorted(owned) == [1, 2, 3]
    intro, reply, sms = (template(sandbox, owned[i].close_id) for i in (1, 2, 3))
    assert (intro["subject"], intro["body"], intro["is_shared"]) == ("Quick question", INTRO, True)
    # The reply has no subject of its own; Close needs one: its thread's, with "Re: ".
    assert (reply["subject"], reply["body"]) == ("Re: Quick question", FOLLOW_UP)
    assert (sms["text"], sms["is_shared"]) == (SMS, True)
    [sent] = sandbox.created_payloads
    assert [s.get("email_template_id") or s.get("sms_template_id") for s in sent["steps"]] == [
        None,
        intro["id"],
        reply["id"],
        sms["id"],
    ]
    assert outcome.attempt.request_payload == sent, "the attempt records what was sent"
    call, *written_steps = steps(written)
    assert [s.email_template_id or s.sms_template_id for s in written_steps] == [
        intro["id"],
        reply["id"],
        sms["id"],
    ]
    for index, row in owned.items():
        assert row.created_by_us and not row.has_drift
        assert template(sandbox, row.close_id)["name"] == row.name
        assert row.name.startswith(f"Copy Test · step {index + 1} · ")
    assert owned[1].sent_subject == "Quick question" and owned[1].sent_body == INTRO
    assert owned[2].sent_subject == "Re: Quick question"
    assert owned[3].sent_text == SMS
    assert "Step templates: created for steps 2, 3 and 4." in outcome.message
    assert fresh(written).status == Sequence.Status.PUBLISHED


def test_the_copy_sent_is_the_bodys_safe_subset(user, reviewer, publisher, sandbox):
    unsafe = (
        '<div onclick="steal()">Hello <script>alert(1)</script>'
        '<a href="javascript:alert(2)">there</a> <a href="https://example.com">site</a></div>'
    )
    sequence = approve(written_draft(user, body=unsafe), reviewer)

    outcome = publish(sequence, publisher)

    assert outcome.ok, outcome.message
    body = template(sandbox, rows(sequence)[1].close_id)["body"]
    assert "script" not in body and "onclick" not in body and "javascript" not in body
    assert 'href="https://example.com"' in body and "Hello" in body


def test_a_reply_borrows_a_picked_templates_subject(user, reviewer, publisher, sandbox, synced):
    sequence = written_draft(user, content_source="template", email_template_id=EXAMPLE_EMAIL_1)
    sequence = approve(sequence, reviewer)
    picked = next(t for t in sandbox.email_templates if t["id"] == EXAMPLE_EMAIL_1)

    outcome = publish(sequence, publisher)

    assert outcome.ok, outcome.message
    reply = template(sandbox, rows(sequence)[2].close_id)
    assert reply["subject"] == f"Re: {picked['subject']}"
    assert writes(sandbox).count(("POST", "/email_template/")) == 1, "the picked one is not ours"


# --- republish -------------------------------------------------------------------------------


def test_republishing_unchanged_copy_sends_no_template_request(
    published, user, reviewer, publisher, sandbox
):
    before = {i: (r.close_id, r.name) for i, r in rows(published).items()}
    edit_step(published, user, reviewer, 0, delay=3600)  # the call waits: no copy changed
    since = len(sandbox.requests)

    outcome = publish(published, publisher)

    assert outcome.ok, outcome.message
    assert writes(sandbox, since) == [("PUT", f"/sequence/{published.close_id}/")]
    assert not [r for r in sandbox.requests[since:] if "template" in r.path], "not even a GET"
    assert {i: (r.close_id, r.name) for i, r in rows(published).items()} == before
    [put] = [r for r in sandbox.requests[since:] if r.method == "PUT"]
    assert put.body["steps"][1]["email_template_id"] == before[1][0]
    assert put.body["steps"][3]["sms_template_id"] == before[3][0]


def test_one_edited_word_is_one_put_of_that_field_to_the_same_template(
    published, user, reviewer, publisher, sandbox
):
    template_id = rows(published)[1].close_id
    count = len(sandbox.email_templates)
    edited = INTRO.replace("one", "a")
    edit_step(published, user, reviewer, 1, body=edited)
    since = len(sandbox.requests)

    outcome = publish(published, publisher)

    assert outcome.ok, outcome.message
    assert writes(sandbox, since) == [
        ("PUT", f"/email_template/{template_id}/"),
        ("PUT", f"/sequence/{published.close_id}/"),
    ]
    [put] = [r for r in sandbox.requests[since:] if r.method == "PUT" and template_id in r.path]
    assert put.body == {"body": edited}
    assert len(sandbox.email_templates) == count
    assert template(sandbox, template_id)["body"] == edited
    assert rows(published)[1].sent_body == edited
    assert "Step templates: updated for step 2." in outcome.message


def test_names_are_unique_per_step_and_kept_when_steps_move(
    published, user, reviewer, publisher, sandbox
):
    names = {i: r.name for i, r in rows(published).items()}
    assert len(set(names.values())) == 3
    _, _, reply, sms = steps(published)
    sequence = fresh(published)
    with sequence.editing(user=user, loaded_version=sequence.version, summary="SMS first"):
        Step.objects.filter(pk=sms.pk).update(position=2)
        Step.objects.filter(pk=reply.pk).update(position=3)
    approve(fresh(sequence), reviewer)
    since = len(sandbox.requests)

    outcome = publish(sequence, publisher)

    assert outcome.ok, outcome.message
    assert writes(sandbox, since) == [("PUT", f"/sequence/{published.close_id}/")]
    moved = rows(published)
    assert (moved[2].name, moved[3].name) == (names[3], names[2]), "the name stays with its step"


def test_short_ids_are_stable_and_differ_per_step_kind_and_installation(settings):
    one = copy_publishing.short_id(sequence_pk=4, step_key="17", kind="email")
    assert one == copy_publishing.short_id(sequence_pk=4, step_key="17", kind="email")
    assert len(one) == 6
    assert one != copy_publishing.short_id(sequence_pk=4, step_key="18", kind="email")
    assert one != copy_publishing.short_id(sequence_pk=4, step_key="17", kind="sms")
    assert one != copy_publishing.short_id(
        sequence_pk=4, step_key="17", kind="email", replacing="tmpl_x"
    )
    settings.SECRET_KEY = "another installation's secret key, long enough to count"
    assert one != copy_publishing.short_id(sequence_pk=4, step_key="17", kind="email")


# --- shared templates ------------------------------------------------------------------------


def test_changed_copy_of_an_adopted_template_gets_a_template_of_its_own(
    published, user, reviewer, publisher, sandbox, client
):
    adopted = rows(published)[1]
    OwnedTemplate.objects.filter(pk=adopted.pk).update(created_by_us=False)
    shared_before = template(sandbox, adopted.close_id)
    edit_step(published, user, reviewer, 1, body=BETTER)
    client.force_login(publisher)

    page = page_of(client, published)

    assert f"Step 2's template <code>{adopted.close_id}</code> is shared" in page
    assert "it came from Close, not from this app" in page
    assert "Publishing gives step 2 a template of its own" in page
    assert "Update the shared template too" in page
    assert "1 template to create, then the sequence" in page
    since = len(sandbox.requests)

    outcome = publish(published, publisher)

    assert outcome.ok, outcome.message
    assert writes(sandbox, since) == [
        ("POST", "/email_template/"),
        ("PUT", f"/sequence/{published.close_id}/"),
    ]
    assert template(sandbox, adopted.close_id) == shared_before, "the shared one is untouched"
    own = rows(published)[1]
    assert own.close_id != adopted.close_id and own.created_by_us and own.name != adopted.name
    assert template(sandbox, own.close_id)["body"] == BETTER
    assert steps(published)[1].email_template_id == own.close_id


def test_a_template_other_sequences_use_is_shown_with_their_contacts_and_left_alone(
    published, user, reviewer, publisher, sandbox, client
):
    ours = rows(published)[3]
    other = sandbox.add_ui_sequence(
        {
            "name": "Someone else's sequence",
            "timezone": "UTC",
            "steps": [{"step_type": "sms", "delay": 0, "sms_template_id": ours.close_id}],
        }
    )
    sandbox.set_subscription_counts(other["id"], active=7)
    edit_step(published, user, reviewer, 3, text="Hi, a quick reminder.")
    client.force_login(publisher)

    page = page_of(client, published)

    assert f"Step 4's template <code>{ours.close_id}</code> is shared" in page
    assert "“Someone else's sequence”" in page and "7 contacts active in it" in page
    since = len(sandbox.requests)
    outcome = publish(published, publisher)

    assert outcome.ok, outcome.message
    assert writes(sandbox, since) == [
        ("POST", "/sms_template/"),
        ("PUT", f"/sequence/{published.close_id}/"),
    ]
    assert template(sandbox, ours.close_id)["text"] == SMS
    assert template(sandbox, rows(published)[3].close_id)["text"] == "Hi, a quick reminder."


def test_update_the_shared_template_too_is_a_publishers_revocable_choice(
    published, user, reviewer, publisher, viewer, sandbox, client
):
    adopted = rows(published)[1]
    OwnedTemplate.objects.filter(pk=adopted.pk).update(created_by_us=False)
    edit_step(published, user, reviewer, 1, body=BETTER)
    url = reverse("template_update_shared", args=[published.pk, adopted.pk])

    client.force_login(viewer)
    assert client.post(url, {"update_shared": "on"}).status_code == 403
    careful = Client(enforce_csrf_checks=True)
    careful.force_login(publisher)
    assert careful.post(url, {"update_shared": "on"}).status_code == 403
    client.force_login(publisher)
    assert client.post(url, {"update_shared": "maybe"}).status_code == 422
    assert not OwnedTemplate.objects.get(pk=adopted.pk).update_shared
    assert client.post(url, {"update_shared": "on"}).status_code == 302
    page = page_of(client, published)
    assert "You chose to update the shared template too" in page
    assert "Leave the shared template as it is" in page
    assert "1 template to update, then the sequence" in page
    assert client.post(url, {"update_shared": "off"}).status_code == 302
    assert not OwnedTemplate.objects.get(pk=adopted.pk).update_shared
    assert client.post(url, {"update_shared": "on"}).status_code == 302
    since = len(sandbox.requests)

    outcome = publish(published, publisher)

    assert outcome.ok, outcome.message
    assert writes(sandbox, since) == [
        ("PUT", f"/email_template/{adopted.close_id}/"),
        ("PUT", f"/sequence/{published.close_id}/"),
    ]
    assert template(sandbox, adopted.close_id)["body"] == BETTER
    assert not OwnedTemplate.objects.get(pk=adopted.pk).update_shared, "the choice is used up"


def test_a_reply_borrowing_an_edited_subject_has_its_template_updated_too(
    published, user, reviewer, publisher, sandbox
):
    intro, reply = rows(published)[1], rows(published)[2]
    edit_step(published, user, reviewer, 1, subject="A better question")
    since = len(sandbox.requests)

    outcome = publish(published, publisher)

    assert outcome.ok, outcome.message
    assert writes(sandbox, since) == [
        ("PUT", f"/email_template/{intro.close_id}/"),
        ("PUT", f"/email_template/{reply.close_id}/"),
        ("PUT", f"/sequence/{published.close_id}/"),
    ]
    assert template(sandbox, reply.close_id)["subject"] == "Re: A better question"


# --- drift -----------------------------------------------------------------------------------


def drifted(published, sandbox, client, who):
    """Someone edits step 2's body in Close; `who` opens the publish page, which notices."""
    changed = "<div>Hi there, <strong>two</strong> quick questions.</div>"
    sandbox.edit_template_copy(rows(published)[1].close_id, body=changed)
    client.force_login(who)
    return changed, page_of(client, published)


def test_copy_changed_in_close_is_found_shown_and_blocks_publishing_that_step(
    published, user, reviewer, publisher, sandbox, client
):
    changed, page = drifted(published, sandbox, client, publisher)

    row = rows(published)[1]
    assert row.has_drift and row.drift_body == changed and row.sent_body == INTRO
    assert "Step 2's copy was changed in Close" in page
    drift = page.split('class="copy-drift"', 1)[1].split("</ul>", 1)[0]
    assert "<del>one</del>" in drift and "<ins>two</ins>" in drift
    assert "Overwrite on publish" in page
    assert "Keep Close's version" not in page, "a Publisher without the Editor role"
    assert copy_publishing.drift_by_step(published)[row.step_key].step_number == 2

    edit_step(published, user, reviewer, 0, delay=60)
    with pytest.raises(publishing.PublishRefused, match="copy of step 2 was changed in Close"):
        publish(published, publisher)
    page = page_of(client, published)
    assert "The copy of step 2 was changed in Close since it was published" in page


def test_keep_closes_version_brings_it_into_the_draft_as_an_edit(
    published, user, reviewer, publisher, sandbox, client
):
    changed, _ = drifted(published, sandbox, client, user)
    row = rows(published)[1]
    sequence = fresh(published)

    response = client.post(
        reverse("copy_drift_keep", args=[sequence.pk, row.pk]),
        {"version": sequence.version, "next": "edit"},
    )

    assert response.status_code == 302 and response.url == reverse(
        "sequence_edit", args=[sequence.pk]
    )
    sequence = fresh(published)
    assert steps(sequence)[1].body == changed
    assert sequence.status == Sequence.Status.DRAFT and sequence.version == published.version + 1
    assert sequence.revisions.get(number=sequence.version).summary.startswith(
        "Step 2: kept Close's version"
    )
    row = rows(published)[1]
    assert not row.has_drift and row.sent_body == changed
    approve(sequence, reviewer)
    since = len(sandbox.requests)
    outcome = publish(sequence, publisher)
    assert outcome.ok, outcome.message
    assert writes(sandbox, since) == [("PUT", f"/sequence/{published.close_id}/")]


def test_keep_needs_an_editor_and_the_current_version(published, sandbox, client, publisher, user):
    _, _ = drifted(published, sandbox, client, publisher)
    row = rows(published)[1]
    url = reverse("copy_drift_keep", args=[published.pk, row.pk])
    assert client.post(url, {"version": published.version}).status_code == 403  # no Editor
    client.force_login(user)
    assert client.post(url, {"version": published.version - 1}).status_code == 409
    assert rows(published)[1].has_drift
    with pytest.raises(editing.Refused):
        editing.keep_close_copy(
            sequence=fresh(published),
            step_key=str(steps(published)[0].pk),
            user=user,
            loaded_version=fresh(published).version,
        )


def test_overwrite_on_publish_puts_the_drafts_copy_back(
    published, user, reviewer, publisher, sandbox, client
):
    changed, _ = drifted(published, sandbox, client, publisher)
    row = rows(published)[1]
    url = reverse("copy_drift_overwrite", args=[published.pk, row.pk])
    assert client.post(url, {"overwrite": "on", "next": "publish"}).status_code == 302
    assert "Publishing will overwrite Close's version" in page_of(client, published)
    edit_step(published, user, reviewer, 0, delay=60)
    since = len(sandbox.requests)

    outcome = publish(published, publisher)

    assert outcome.ok, outcome.message
    assert writes(sandbox, since) == [
        ("PUT", f"/email_template/{row.close_id}/"),
        ("PUT", f"/sequence/{published.close_id}/"),
    ]
    assert template(sandbox, row.close_id)["body"] == INTRO
    row = rows(published)[1]
    assert not row.has_drift and not row.overwrite_drift and row.sent_body == INTRO


def test_drift_found_by_the_publish_job_itself_stops_before_changing_the_template(
    published, user, reviewer, publisher, sandbox
):
    """Close's copy changed after the page last looked: the job's own look before its PUT
    finds it, sends nothing, and says which step."""
    template_id = rows(published)[1].close_id
    edit_step(published, user, reviewer, 1, subject="A better question")
    sandbox.edit_template_copy(template_id, body="<div>Rewritten in Close.</div>")
    since = len(sandbox.requests)

    outcome = publish(published, publisher)

    assert not outcome.ok
    assert "copy of step 2 was changed in Close" in outcome.message
    assert writes(sandbox, since) == []
    assert template(sandbox, template_id)["body"] == "<div>Rewritten in Close.</div>"
    assert rows(published)[1].has_drift
    assert fresh(published).publishing_since is None


def test_names_in_the_sandbox_are_each_used_once(published, sandbox):
    for row in rows(published).values():
        assert len(templates_named(sandbox, row.name)) == 1


# --- a template gone from Close, a create whose process died -----------------------------------


def test_a_template_gone_from_close_is_replaced_when_its_copy_changes(
    published, user, reviewer, publisher, sandbox
):
    row = rows(published)[1]
    OwnedTemplate.objects.filter(pk=row.pk).update(close_id="tmpl_DeletedInClose0000000000")
    edit_step(published, user, reviewer, 1, body=BETTER)
    since = len(sandbox.requests)

    outcome = publish(published, publisher)

    assert outcome.ok, outcome.message
    assert writes(sandbox, since) == [
        ("POST", "/email_template/"),
        ("PUT", f"/sequence/{published.close_id}/"),
    ]
    replaced = rows(published)[1]
    assert replaced.name != row.name and template(sandbox, replaced.close_id)["body"] == BETTER


def test_the_publish_page_notices_a_gone_template_and_plans_a_new_one(
    published, user, reviewer, publisher, sandbox, client
):
    row = rows(published)[3]
    OwnedTemplate.objects.filter(pk=row.pk).update(close_id="smstmpl_DeletedInClose00000000")
    edit_step(published, user, reviewer, 0, delay=60)
    client.force_login(publisher)

    page = page_of(client, published)

    assert "Step 4's SMS template smstmpl_DeletedInClose00000000 is no longer in Close" in page
    assert "1 template to create, then the sequence" in page
    since = len(sandbox.requests)
    outcome = publish(published, publisher)
    assert outcome.ok, outcome.message
    assert writes(sandbox, since) == [
        ("POST", "/sms_template/"),
        ("PUT", f"/sequence/{published.close_id}/"),
    ]
    assert template(sandbox, rows(published)[3].close_id)["text"] == SMS


def test_a_create_whose_process_died_is_found_by_name_not_sent_again(written, publisher, sandbox):
    """The row (with its name) is written before the create is sent; the process died after
    Close made the template. The next publish looks the name up and uses it."""
    plan = copy_publishing.plan_templates(sequence=fresh(written))[0]
    copy_publishing.claim_row(sequence=fresh(written), plan=plan)
    api = close.client_from_settings()
    made = api.create_email_template(plan.payload)

    outcome = publish(written, publisher)

    assert outcome.ok, outcome.message
    assert writes(sandbox).count(("POST", "/email_template/")) == 2, "one before, one for step 3"
    assert rows(written)[1].close_id == made["id"]
    assert len(templates_named(sandbox, plan.name)) == 1
    assert "found in Close for step 2" in outcome.message


def test_copy_put_back_in_close_is_no_drift_any_more(published, publisher, sandbox, client):
    drifted(published, sandbox, client, publisher)
    assert rows(published)[1].has_drift
    sandbox.edit_template_copy(rows(published)[1].close_id, body=INTRO)

    page = page_of(client, published)

    assert not rows(published)[1].has_drift
    assert "was changed in Close" not in page


def test_the_step_card_says_its_copy_changed_in_close_and_keeps_closes_version(
    published, user, reviewer, publisher, sandbox, client
):
    """The editor shows the drift on the step's own card, with Keep Close's version."""
    changed, _ = drifted(published, sandbox, client, publisher)
    assert rows(published)[1].has_drift
    client.force_login(user)
    editor = html.unescape(
        client.get(reverse("sequence_edit", args=[published.pk])).content.decode()
    )
    assert "Step 2's copy was changed in Close</strong>" in editor
    assert editor.count("was changed in Close") == 1  # on step 2's card only
    assert "Keep Close's version" in editor
    assert "Overwrite on publish" not in editor  # an Editor only: that choice is a Publisher's

    row = rows(published)[1]
    response = client.post(
        reverse("copy_drift_keep", args=[published.pk, row.pk]),
        {"version": fresh(published).version, "next": "edit"},
    )
    assert response.status_code == 302
    assert steps(published)[1].body == changed
