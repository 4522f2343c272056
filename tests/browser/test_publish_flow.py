"""A person builds Close's example sequence in the browser and publishes it to the sandbox."""

import pytest
from playwright.sync_api import expect

from builder.models import Sequence
from tests.browser.navigation import follow
from tests.builder.test_publishing import EXPECTED_PAYLOAD
from tests.conftest import EXAMPLE_EMAIL_1, EXAMPLE_EMAIL_2, approve

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def log_in(page, live_server, username, password):
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{live_server.url}/")


def step(page, number):
    return page.get_by_role("list", name="Steps").get_by_role("listitem", name=f"Step {number}")


def test_build_and_publish_closes_example(
    page, browser, live_server, sandbox, synced, user, reviewer, publisher
):
    log_in(page, live_server, "alice", "alice-password-1")
    follow(page.get_by_role("link", name="New sequence"))
    page.get_by_label("Name").fill("My Sequence")
    page.get_by_label("Timezone").fill("America/Los_Angeles")
    follow(page.get_by_role("button", name="Create sequence"))

    # The editor saves each change as it is made; its status line says when a save is done.
    status = page.locator("#save-status")
    page.get_by_role("button", name="Add call step").click()
    expect(status).to_contain_text("Added step 1 (call)")
    page.get_by_role("button", name="Add email step").click()
    expect(status).to_contain_text("Added step 2 (email)")
    second = step(page, 2)  # a step added after another waits 1 day, as in Close's example
    second.get_by_role("radio", name="Use a shared template").check()  # new ones are written
    expect(status).to_contain_text("Step 2: content written here → shared template")
    second.get_by_label("Email template").fill("quick question")
    second.get_by_role("button", name="Intro — quick question").click()
    expect(status).to_contain_text("Step 2: template")
    page.get_by_role("button", name="Add email step").click()
    expect(status).to_contain_text("Added step 3 (email)")
    third = step(page, 3)
    third.get_by_label("Days").fill("3")
    third.get_by_label("Days").press("Tab")
    expect(status).to_contain_text("Step 3: delay 1 day → 3 days")
    third.get_by_role("radio", name="Use a shared template").check()
    expect(status).to_contain_text("Step 3: content written here → shared template")
    third.get_by_label("Email template").fill("case study")
    third.get_by_role("button", name="Follow-up — case study").click()
    expect(status).to_contain_text("Step 3: template")
    expect(third.get_by_label("Reply in previous thread")).to_be_checked()
    built = Sequence.objects.get(name="My Sequence").ordered_steps()
    assert [s.email_template_id for s in built] == ["", EXAMPLE_EMAIL_1, EXAMPLE_EMAIL_2]

    assert page.get_by_role("heading", name="No problems").is_visible()  # a draft, not approved

    # --- publish: a reviewer approved this version (test_review_flow.py clicks through that);
    # the publisher confirms, the job runs in the background and the page follows it.
    sequence = approve(Sequence.objects.get(name="My Sequence"), reviewer)
    paul = publisher_page(browser, live_server)
    paul.goto(f"{live_server.url}/sequences/{sequence.pk}/")
    follow(
        paul.get_by_role("navigation", name="Sequence pages").get_by_role("link", name="Publish")
    )
    expect(paul.get_by_text("Close accepts the API key")).to_be_visible()
    expect(paul.get_by_label("Paused: nobody is enrolled")).to_be_checked()
    paul.get_by_role("button", name="Publish to Close").click()

    paul.get_by_role("heading", name="Published to Close").wait_for()
    assert sandbox.created_payloads == [{**EXPECTED_PAYLOAD, "status": "paused"}]
    sequence.refresh_from_db()
    link = paul.get_by_role("link", name="View in Close")
    assert link.get_attribute("href") == sequence.close_url
    assert sequence.close_id in sequence.close_url
    expect(paul.get_by_role("list", name="Publish attempts")).to_contain_text("by paul")


def publisher_page(browser, live_server):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    paul = context.new_page()
    paul.set_default_timeout(20_000)
    log_in(paul, live_server, "paul", "paul-password-1")
    return paul


def test_a_failed_publish_says_why_and_the_retry_publishes_once(
    browser, live_server, sandbox, synced, approved_sequence, publisher
):
    sandbox.inject("error", status=503, method="POST", path="/sequence/")
    paul = publisher_page(browser, live_server)
    paul.goto(f"{live_server.url}/sequences/{approved_sequence.pk}/publish/")
    paul.get_by_label("Active: contacts can be enrolled right away").check()
    expect(paul.locator("#request-json")).to_contain_text('"status": "active"')

    paul.get_by_role("button", name="Publish to Close").click()

    paul.get_by_role("heading", name="Not published").wait_for()
    expect(paul.locator("#publish-progress")).to_contain_text(
        "We checked: Close did not create the sequence"
    )
    assert sandbox.sequences == []
    paul.get_by_role("button", name="Publish to Close").click()
    paul.get_by_role("heading", name="Published to Close").wait_for()
    assert len(sandbox.sequences) == 1
    assert sandbox.sequences[0]["status"] == "active", "the retry keeps the choice"


def test_republishing_an_edited_sequence_updates_it_in_close_in_place(
    browser, live_server, sandbox, synced, approved_sequence, user, reviewer, publisher
):
    from builder import publishing
    from builder.models import Step

    assert publishing.publish_sequence(
        sequence=approved_sequence, user=publisher, requested_status="active"
    ).ok
    sequence = Sequence.objects.get(pk=approved_sequence.pk)
    close_id = sequence.close_id
    step_ids = [step.close_id for step in sequence.ordered_steps()]
    call, first, second = sequence.ordered_steps()
    with sequence.editing(user=user, loaded_version=sequence.version, summary="Rename"):
        Sequence.objects.filter(pk=sequence.pk).update(name="My Sequence, revised")
        Step.objects.filter(pk=second.pk).update(delay=4 * 86400)
    sequence = approve(Sequence.objects.get(pk=sequence.pk), reviewer)

    paul = publisher_page(browser, live_server)
    paul.goto(f"{live_server.url}/sequences/{sequence.pk}/publish/")
    expect(paul.get_by_role("heading", name="What changes in Close")).to_be_visible()
    expect(paul.get_by_label("Keep as it is in Close (active)")).to_be_checked()
    expect(paul.locator("#request-json")).to_contain_text(f'"id": "{step_ids[2]}"')
    paul.get_by_role("button", name="Update in Close").click()

    paul.get_by_role("heading", name="Updated in Close").wait_for()
    expect(paul.locator("#publish-progress")).to_contain_text(f"Updated {close_id} in Close.")
    expect(paul.get_by_text(f"Version {sequence.version} is in Close")).to_be_visible()
    [stored] = sandbox.sequences
    assert stored["id"] == close_id and stored["name"] == "My Sequence, revised"
    assert [step["id"] for step in stored["steps"]] == step_ids, "steps updated in place"
    assert stored["steps"][2]["delay"] == 4 * 86400 and stored["status"] == "active"
    assert len(sandbox.created_payloads) == 1


def test_a_look_alike_in_close_is_shown_and_not_ours_creates_a_new_one(
    browser, live_server, sandbox, synced, approved_sequence, publisher
):
    from builder import publishing

    payload = publishing.build_payload(approved_sequence.to_spec(), action="create")
    foreign = sandbox.add_ui_sequence(payload)  # same shape, made in Close by someone
    sandbox.inject("error", status=500, method="POST", path="/sequence/")
    paul = publisher_page(browser, live_server)
    paul.goto(f"{live_server.url}/sequences/{approved_sequence.pk}/publish/")

    paul.get_by_role("button", name="Publish to Close").click()

    paul.get_by_role("heading", name="Is this sequence in Close ours?").wait_for()
    expect(paul.locator("#publish-progress")).to_contain_text(foreign["id"])
    assert len(sandbox.sequences) == 1
    paul.get_by_role("button", name="Not ours — create a new one").click()
    paul.get_by_role("heading", name="Published to Close").wait_for()
    assert len(sandbox.sequences) == 2
    sequence = Sequence.objects.get(pk=approved_sequence.pk)
    assert sequence.close_id not in ("", foreign["id"])
