"""A person builds Close's example sequence in the browser and publishes it to the sandbox."""

import pytest
from playwright.sync_api import expect

from builder.models import Sequence
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
    page.get_by_role("link", name="New sequence").click()
    page.get_by_label("Name").fill("My Sequence")
    page.get_by_label("Timezone").fill("America/Los_Angeles")
    page.get_by_role("button", name="Create sequence").click()

    # The editor saves each change as it is made; its status line says when a save is done.
    status = page.locator("#save-status")
    page.get_by_role("button", name="Add call step").click()
    expect(status).to_contain_text("Added step 1 (call)")
    page.get_by_role("button", name="Add email step").click()
    expect(status).to_contain_text("Added step 2 (email)")
    second = step(page, 2)  # a step added after another waits 1 day, as in Close's example
    second.get_by_label("Email template").fill("quick question")
    second.get_by_role("button", name="Intro — quick question").click()
    expect(status).to_contain_text("Step 2: template")
    page.get_by_role("button", name="Add email step").click()
    expect(status).to_contain_text("Added step 3 (email)")
    third = step(page, 3)
    third.get_by_label("Days").fill("3")
    third.get_by_label("Days").press("Tab")
    expect(status).to_contain_text("Step 3: delay 1 day → 3 days")
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
    paul.get_by_role("navigation", name="Sequence pages").get_by_role(
        "link", name="Publish"
    ).click()
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
