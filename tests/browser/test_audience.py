"""A person checks a sequence's copy against the sandbox's "Q1 prospects" Smart View (40
contacts, 12 without a first name, 3 without an email address) and previews it as one of them.

The check runs as a background job of the live server (not inline): the page follows its
progress by polling, as it does in production.
"""

import pytest
from playwright.sync_api import expect

from tests.browser.navigation import follow
from tests.browser.test_publish_flow import log_in
from tests.builder.test_audience import Q1, q1_contacts, written_sequence

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_check_the_audience_then_preview_as_a_named_contact(page, live_server, sandbox, user):
    # The copy is written as rows (the copy editor is another page's work): an email whose
    # subject greets the contact by first name.
    sequence = written_sequence(user, subject="Hi {{ contact.first_name }}, a quick question")
    named = next(c for c in q1_contacts(sandbox) if len((c.get("name") or "").split()) >= 2)
    first_name = named["name"].split()[0]

    log_in(page, live_server, "alice", "alice-password-1")
    page.goto(f"{live_server.url}/sequences/{sequence.pk}/")
    follow(
        page.get_by_role("navigation", name="Sequence pages").get_by_role("link", name="Audience")
    )
    expect(page.get_by_role("link", name="Audience")).to_have_attribute("aria-current", "page")
    page.get_by_label("Smart View").select_option(label=f"{Q1} (contacts)")
    expect(page.get_by_label("Limit")).to_have_value("200")
    page.get_by_role("button", name="Check audience").click()

    results = page.locator("#audience-check")
    expect(results.get_by_role("table")).to_contain_text("empty for 12 of 40 contacts")
    row = results.get_by_role("row").filter(has_text="contact.first_name")
    expect(row).to_contain_text("Step 1")
    expect(row).to_contain_text("not covered")
    no_email = results.get_by_role("row").filter(has_text="No email address")
    expect(no_email).to_contain_text("3 of 40 contacts")
    no_email.get_by_text("List them").click()
    listed = no_email.get_by_role("list", name="Contacts without an email address")
    expect(listed.get_by_role("listitem")).to_have_count(3)
    expect(results.get_by_role("img", name="Contacts affected, of 40 read")).to_be_visible()
    expect(page.get_by_text("Only this summary is stored")).to_be_visible()

    page.get_by_role("searchbox", name="Preview as").fill(named["name"])
    choice = page.get_by_role("list", name="Matching contacts").get_by_role(
        "link", name=named["name"], exact=False
    )
    choice.first.click()
    step = page.get_by_role("list", name="Rendered steps").get_by_role("listitem", name="Step 1")
    expect(step.locator("[data-part=subject]")).to_have_text(f"Hi {first_name}, a quick question")
    expect(step).to_contain_text("as it will read once published")
