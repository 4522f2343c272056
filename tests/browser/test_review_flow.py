"""The review loop in a real browser: an editor submits, a reviewer comments on step 2 and asks
for changes, the editor fixes it and resubmits, the reviewer sees exactly that change and
approves, and a publisher publishes it to the local Close sandbox."""

import re

import pytest

from builder.models import Sequence
from tests.browser.navigation import follow
from tests.browser.test_publish_flow import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def person(browser, live_server, username):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.set_default_timeout(20_000)
    log_in(page, live_server, username, f"{username}-password-1")
    return page


def open_from_inbox(page, filter_name, sequence_name):
    follow(
        page.get_by_role("navigation", name="Review inbox").get_by_role(
            "link", name=re.compile(f"^{filter_name}")
        )
    )
    follow(page.get_by_role("link", name=sequence_name))
    page.get_by_role("heading", name="Where this review stands").wait_for()


def status_message(page, text):
    page.get_by_role("status").get_by_text(text).wait_for()


def test_submit_comment_request_changes_fix_resubmit_approve_publish(
    browser, live_server, sandbox, synced, jobs_inline, example_sequence, user, reviewer, publisher
):
    # The editor submits from the sequence's Review tab.
    alice = person(browser, live_server, "alice")
    follow(alice.get_by_role("link", name="My Sequence"))
    follow(
        alice.get_by_role("navigation", name="Sequence pages").get_by_role("link", name="Review")
    )
    alice.get_by_role("button", name="Submit for review").click()
    status_message(alice, "is in review. Reviewers have been emailed.")

    # The reviewer finds it in their inbox, comments on step 2, and asks for changes.
    rita = person(browser, live_server, "rita")
    open_from_inbox(rita, "Waiting for my review", "My Sequence")
    rita.get_by_label("About").select_option(label="Step 2 · Email")
    rita.get_by_label("Comment", exact=True).fill("One day is too soon after the call.")
    rita.get_by_role("button", name="Add comment").click()
    thread = rita.get_by_role("article", name="Comment by rita on Step 2 · Email")
    thread.get_by_text("One day is too soon after the call.").wait_for()
    rita.get_by_label("What should change?").fill("Step 2 should wait two days.")
    rita.get_by_role("button", name="Request changes").click()
    status_message(rita, "Changes requested.")
    assert Sequence.objects.get().status == Sequence.Status.CHANGES_REQUESTED
    looked_at = Sequence.objects.get().version

    # The editor sees it under "Changes requested on mine", fixes step 2 in the editor (its
    # autosave), replies, resolves the thread and submits again.
    alice.goto(f"{live_server.url}/")
    open_from_inbox(alice, "Changes requested on mine", "My Sequence")
    alice.get_by_text("One day is too soon after the call.").wait_for()
    follow(alice.get_by_role("navigation", name="Sequence pages").get_by_role("link", name="Steps"))
    second = alice.get_by_role("list", name="Steps").get_by_role(
        "listitem", name=re.compile(r"^Step 2\b")
    )
    days = second.get_by_label("Days")
    with alice.expect_response(lambda r: r.request.method == "POST" and "/steps/" in r.url):
        days.fill("2")
        days.press("Tab")
    assert Sequence.objects.get().ordered_steps()[1].delay == 2 * 86400
    follow(
        alice.get_by_role("navigation", name="Sequence pages").get_by_role("link", name="Review")
    )
    thread = alice.get_by_role("article", name="Comment by rita on Step 2 · Email")
    thread.get_by_label("Your reply").fill("Done: two days now.")
    thread.get_by_role("button", name="Reply").click()
    thread.get_by_text("Done: two days now.").wait_for()
    thread.get_by_role("button", name="Resolve").click()
    alice.get_by_text("1 resolved comment").wait_for()
    alice.get_by_role("button", name="Submit for review").click()
    status_message(alice, "is in review.")

    # The reviewer sees exactly that change since they asked for it, and approves.
    rita.reload()
    fix = rita.get_by_role(
        "region", name=f"Changed since changes were requested on revision {looked_at}"
    )
    changes = fix.locator(".diff-item")
    assert changes.count() == 1
    change = " ".join(changes.first.inner_text().split())
    assert change == "Step 2 changed · Email Wait 1 day → changed to 2 days"
    rita.get_by_role("button", name="Approve").click()
    status_message(rita, "A Publisher can publish it now.")

    # The publisher publishes from the approved list, through the publish page.
    paul = person(browser, live_server, "paul")
    open_from_inbox(paul, "Approved, not published", "My Sequence")
    follow(paul.get_by_role("link", name="Publish to Close"))
    paul.get_by_role("button", name="Publish to Close").click()
    paul.get_by_role("heading", name="Published to Close").wait_for()

    sequence = Sequence.objects.get()
    assert sequence.status == Sequence.Status.PUBLISHED
    (payload,) = sandbox.created_payloads
    assert [step["delay"] for step in payload["steps"]] == [0, 2 * 86400, 3 * 86400]
    moves = [(c.from_status, c.to_status) for c in sequence.state_changes.order_by("pk")]
    assert moves[0] == ("draft", "in_review") and moves[-1] == ("approved", "published")
    for page in (alice, rita, paul):
        page.context.close()
