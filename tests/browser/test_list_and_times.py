"""Issue 11 in a real browser: times in the browser's own timezone, the list saying what is in
Close, importing a file whose name is taken as a copy, buttons by role, and the app's 404."""

import datetime as dt
import json
import re

import pytest
from playwright.sync_api import expect

from builder.models import Revision, Sequence
from tests.browser.navigation import follow
from tests.browser.test_publish_flow import log_in
from tests.builder.reviewkit import edit
from tests.builder.test_publishing import EXPECTED_PAYLOAD
from tests.conftest import mark_published

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def tokyo(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 800}, timezone_id="Asia/Tokyo")
    page = context.new_page()
    page.set_default_timeout(20_000)
    yield page
    context.close()


def test_times_are_in_the_browsers_zone_named_with_the_exact_time_on_hover(
    tokyo, live_server, example_sequence, user
):
    # 00:14 UTC is 09:14 in Tokyo.
    Revision.objects.filter(sequence=example_sequence).update(
        created_at=dt.datetime(2026, 12, 7, 0, 14, 5, tzinfo=dt.UTC)
    )
    log_in(tokyo, live_server, "alice", "alice-password-1")
    follow(tokyo.get_by_role("link", name="My Sequence"))
    follow(
        tokyo.get_by_role("navigation", name="Sequence pages").get_by_role("link", name="History")
    )

    revision = tokyo.get_by_role("listitem").filter(has_text="Revision 1")
    exact = revision.locator("time", has_text="7 Dec 2026, 09:14 JST")
    expect(exact).to_be_visible()
    expect(exact).to_have_attribute("datetime", "2026-12-07T09:14:05+09:00")
    expect(revision.locator("time", has_text="ago")).to_have_attribute(
        "title", "7 Dec 2026, 09:14:05 JST"
    )


def test_the_list_says_what_is_in_close_and_filters_on_it(page, live_server, user, other_user):
    live = Sequence.create_draft(name="Onboarding live", timezone_name="UTC", user=user)
    mark_published(live, close_sequence={"id": "seq_live1"}, user=user)
    Sequence.objects.filter(pk=live.pk).update(close_status="active")
    edit(live, other_user, name="Onboarding live")  # an edit: a Draft here, still live there
    Sequence.create_draft(name="Onboarding draft", timezone_name="UTC", user=user)
    Sequence.create_draft(name="Renewal draft", timezone_name="UTC", user=user)
    log_in(page, live_server, "alice", "alice-password-1")

    row = page.get_by_role("row").filter(has_text="Onboarding live")
    expect(row).to_contain_text("Draft")
    expect(row).to_contain_text("In Close · active")

    page.get_by_label("Search sequences").fill("onboarding")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_role("link", name="Onboarding draft")).to_be_visible()
    follow(
        page.get_by_role("navigation", name="Where it runs").get_by_role(
            "link", name=re.compile("^In Close")
        )
    )

    expect(page.get_by_role("link", name="Onboarding live")).to_be_visible()
    expect(page.get_by_role("link", name="Onboarding draft")).to_have_count(0)
    expect(page.get_by_label("Search sequences")).to_have_value("onboarding")


def test_a_file_whose_name_is_taken_imports_as_a_copy_in_one_click(
    page, live_server, example_sequence, user
):
    log_in(page, live_server, "alice", "alice-password-1")
    follow(page.get_by_role("link", name="Import from Close"))
    page.get_by_label("Sequence file").set_input_files(
        files=[
            {
                "name": "my-sequence.json",
                "mimeType": "application/json",
                "buffer": json.dumps(EXPECTED_PAYLOAD).encode(),
            }
        ]
    )
    with page.expect_response("**/import/file/"):
        page.get_by_role("button", name="Import file").click()
    # A 409 on purpose: the app's refusal convention, not a console error.
    expect(page.get_by_role("alert")).to_contain_text(
        "A sequence named “My Sequence” is already here, so nothing was imported."
    )

    page.get_by_role("button", name="Import as “My Sequence (copy 2)”").click()

    expect(
        page.get_by_role("heading", name=re.compile("^My Sequence \\(copy 2\\)"))
    ).to_be_visible()
    assert Sequence.objects.filter(name="My Sequence (copy 2)").count() == 1


def test_a_reviewer_is_not_offered_what_only_editors_do(page, live_server, reviewer):
    log_in(page, live_server, "rita", "rita-password-1")

    expect(page.get_by_role("heading", name="Sequences")).to_be_visible()
    expect(page.get_by_role("button", name="Sync templates")).to_be_visible()
    expect(page.get_by_role("link", name="New sequence")).to_have_count(0)
    expect(page.get_by_role("link", name="Import from Close")).to_have_count(0)


def test_an_unknown_address_shows_the_apps_404_page(page, live_server, user, console_errors):
    log_in(page, live_server, "alice", "alice-password-1")

    response = page.goto(f"{live_server.url}/sequences/987654/")

    assert response.status == 404
    expect(page.get_by_role("heading", name="Not found")).to_be_visible()
    expect(page.get_by_role("link", name="Back to sequences")).to_be_visible()
    # The browser logs the 404 it was asked to load; that one is the point of this test.
    console_errors[:] = [e for e in console_errors if "status of 404" not in e]
