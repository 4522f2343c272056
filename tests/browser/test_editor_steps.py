"""Issue 11 in a real browser: what a new user hits on the Steps tab in the first ten minutes.

Step numbers that agree across summaries and history, a reply that survives a trip to the top,
seconds that survive an edit, Required as a fact, an honest empty list, review comments on the
cards, and a template picker that works from the keyboard alone.
"""

import threading
import time

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from builder.models import Comment, Sequence, Step
from tests.browser.navigation import follow
from tests.browser.test_editor import role_groups, saved, signed_in, step  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def open_editor(browser, live_server, user, sequence):
    page = signed_in(browser, live_server, user)
    page.goto(live_server.url + reverse("sequence_edit", args=[sequence.pk]))
    return page


def ordered(sequence):
    return Sequence.objects.get(pk=sequence.pk).ordered_steps()


def test_a_reply_moved_to_the_top_and_back_keeps_replying(
    browser, live_server, synced, user, example_sequence
):
    page = open_editor(browser, live_server, user, example_sequence)
    reply_box = step(page, 3).get_by_label("Reply in previous thread")
    expect(reply_box).to_be_checked()

    step(page, 3).get_by_role("button", name="Move up").click()
    saved(page, "Step 2 (was 3): moved up; step 2 (was 3) now starts a new thread")
    top = step(page, 2)
    expect(top.get_by_label("Reply in previous thread")).to_be_disabled()
    expect(top.get_by_label("Reply in previous thread")).not_to_be_checked()
    expect(top.locator(".step-summary")).to_contain_text("starts the thread")
    # The move back comes after a pause: a revision of its own (saves in a row are grouped).
    example_sequence.close_revisions()

    step(page, 2).get_by_role("button", name="Move down").click()
    saved(page, "Step 3 (was 2): moved down; step 3 (was 2) replies in the previous thread again")
    expect(step(page, 3).get_by_label("Reply in previous thread")).to_be_checked()
    expect(step(page, 3).get_by_label("Reply in previous thread")).to_be_enabled()
    assert [s.threading for s in ordered(example_sequence)] == ["", "new_thread", "old_thread"]

    # History says it with the same numbers as the status line did.
    page.goto(live_server.url + reverse("sequence_history", args=[example_sequence.pk]))
    history = page.locator(".revisions")
    expect(history).to_contain_text("Step 3 (was 2): moved down")
    expect(history).to_contain_text("Step 2 (was 3): moved up")
    page.context.close()


def test_changing_hours_on_an_imported_delay_keeps_its_seconds(
    browser, live_server, synced, user, example_sequence
):
    reply = ordered(example_sequence)[2]
    Step.objects.filter(pk=reply.pk).update(delay=90061)  # as Close may hold it
    page = open_editor(browser, live_server, user, example_sequence)
    card = step(page, 3)
    expect(card.get_by_label("Hours")).to_have_value("1")
    expect(card.locator(".delay-seconds")).to_have_text("+ 1 second (set in Close, kept)")

    card.get_by_label("Hours").fill("2")
    card.get_by_label("Hours").press("Tab")

    saved(page, "Step 3: delay 1 day 1 hour 1 minute 1 second → 1 day 2 hours 1 minute 1 second")
    assert ordered(example_sequence)[2].delay == 93661
    page.context.close()


def test_call_required_is_a_fact_and_open_comments_show_on_the_card(
    browser, live_server, synced, user, example_sequence
):
    first_email = ordered(example_sequence)[1]
    comment = Comment.objects.create(
        sequence=example_sequence, step=first_email, author=user, body="Shorter subject?"
    )
    page = open_editor(browser, live_server, user, example_sequence)

    call = step(page, 1)
    expect(call.get_by_role("checkbox")).to_have_count(0)
    expect(call.locator(f"#step-{ordered(example_sequence)[0].pk}-required")).to_contain_text(
        "Required"
    )
    expect(page.get_by_role("heading", name="No problems")).to_be_visible()

    follow(step(page, 2).get_by_role("link", name="1 open comment on step 2"))
    expect(page).to_have_url(
        f"{live_server.url}/sequences/{example_sequence.pk}/review/#comment-{comment.pk}"
    )
    expect(page.locator(f"#comment-{comment.pk}")).to_contain_text("Shorter subject?")
    page.context.close()


def test_an_empty_search_inside_a_filter_says_what_matches_outside_it(browser, live_server, user):
    for name in ("Sales intro", "Sales follow-up"):
        Sequence.objects.create(name=name, created_by=user, updated_by=user)
    page = signed_in(browser, live_server, user)
    page.goto(live_server.url + reverse("sequence_list") + "?inbox=approved-not-published&q=sales")

    empty = page.locator(".empty")
    expect(empty).to_contain_text(
        "No sequence in “Approved, not published” has a name containing “sales”. "
        "2 sequences outside this filter match"
    )
    follow(empty.get_by_role("link", name="show all matches"))
    expect(page.get_by_role("link", name="Sales intro")).to_be_visible()
    expect(page.get_by_role("link", name="Sales follow-up")).to_be_visible()
    page.context.close()


def test_the_template_picker_works_from_the_keyboard_alone(
    browser, live_server, synced, user, example_sequence
):
    Step.objects.create(sequence=example_sequence, position=3, step_type="sms", delay=60)
    page = open_editor(browser, live_server, user, example_sequence)
    sms_search = step(page, 4).get_by_role("searchbox", name="Search SMS templates")
    expect(sms_search).to_have_attribute("placeholder", "Search templates by name")
    card = step(page, 3)
    search = card.get_by_role("searchbox", name="Search email templates")
    expect(search).to_have_attribute("placeholder", "Change template: search by name or subject")

    search.focus()
    page.keyboard.type("follow")
    results = card.locator(".pick-use")
    expect(card.locator(".picker-count")).to_contain_text("templates match “follow”")
    first, second = results.nth(0), results.nth(1)
    page.keyboard.press("ArrowDown")
    expect(first).to_be_focused()
    page.keyboard.press("ArrowDown")
    expect(second).to_be_focused()
    page.keyboard.press("ArrowUp")
    expect(first).to_be_focused()
    page.keyboard.press("ArrowUp")
    expect(search).to_be_focused()

    # Escape from a result closes the list and returns to the box.
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Escape")
    expect(search).to_be_focused()
    expect(card.locator(".picker-results")).not_to_have_class("is-open")
    expect(results).to_have_count(0)

    # Enter on a result picks it.
    page.keyboard.type(" bump")
    expect(card.locator(".picker-count")).to_contain_text("1 template matches “follow bump”")
    page.keyboard.press("ArrowDown")
    expect(results.nth(0)).to_be_focused()
    page.keyboard.press("Enter")
    expect(card.locator(".chosen-name")).to_have_text("Follow-up — bump")
    saved(page, "Step 3: template")
    page.context.close()


def test_typing_while_the_picker_is_still_answering_aborts_nothing(
    browser, live_server, synced, user, example_sequence, monkeypatch
):
    """Focusing the search asks for the list; typing before it answers asks again. The second
    request waits for the first instead of aborting it (htmx logs an aborted request as a
    console error, which the console_errors fixture turns into a failure)."""
    from builder.views import editor

    answered = threading.Event()
    search = editor.template_search

    def slow_first_answer(**kwargs):
        if not answered.is_set():
            answered.set()
            time.sleep(1.5)  # a busy server: the answer to focusing comes after the typing
        return search(**kwargs)

    monkeypatch.setattr(editor, "template_search", slow_first_answer)
    page = open_editor(browser, live_server, user, example_sequence)
    card = step(page, 3)
    box = card.get_by_role("searchbox", name="Search email templates")
    box.focus()
    page.keyboard.type("follow")
    expect(card.locator(".picker-count")).to_contain_text("templates match “follow”")
    assert answered.is_set()
    page.context.close()
