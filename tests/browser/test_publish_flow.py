"""A person builds Close's example sequence in the browser and publishes it to the sandbox."""

import pytest

from builder.models import Sequence
from tests.builder.test_publishing import EXPECTED_PAYLOAD
from tests.conftest import EXAMPLE_EMAIL_1, EXAMPLE_EMAIL_2

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def log_in(page, live_server, username, password):
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{live_server.url}/")


def step(page, number):
    return page.get_by_role("list", name="Steps").get_by_role("listitem", name=f"Step {number}")


def test_build_and_publish_closes_example(page, live_server, sandbox, synced, user):
    log_in(page, live_server, "alice", "alice-password-1")
    page.get_by_role("link", name="New sequence").click()
    page.get_by_label("Name").fill("My Sequence")
    page.get_by_label("Timezone").fill("America/Los_Angeles")
    page.get_by_role("button", name="Create sequence").click()

    page.get_by_role("button", name="Add call step").click()
    page.get_by_role("button", name="Add email step").click()
    second = step(page, 2)
    second.get_by_label("Days").fill("1")
    second.get_by_label("Email template").select_option(EXAMPLE_EMAIL_1)
    page.get_by_role("button", name="Add email step").click()
    third = step(page, 3)
    third.get_by_label("Days").fill("3")
    third.get_by_label("Email template").select_option(EXAMPLE_EMAIL_2)
    third.get_by_label("Reply in previous thread").check()
    page.get_by_role("button", name="Save").click()

    assert page.get_by_role("heading", name="Ready to publish").is_visible()
    page.get_by_role("button", name="Publish to Close").click()

    page.get_by_role("status").get_by_text("Published to Close as").wait_for()
    assert sandbox.created_payloads == [EXPECTED_PAYLOAD]
    sequence = Sequence.objects.get(name="My Sequence")
    link = page.get_by_role("link", name="View in Close")
    assert link.get_attribute("href") == sequence.close_url
    assert sequence.close_id in sequence.close_url
