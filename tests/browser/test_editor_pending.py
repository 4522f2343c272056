"""A long sequence in a real browser: the page opens with its first screen of cards whole and
the rest as heads, and each card arrives whole as the person scrolls near it (views/editor.py
first_screen, editor.js "Cards further down"). Edits anywhere keep every head and card
numbered right, with no console error (an out-of-band part aimed at a card the page does not
hold would log one).
"""

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from builder.models import Sequence
from tests.browser.test_editor import role_groups, saved, signed_in, step  # noqa: F401
from tests.builder.test_editor_pending import WHOLE, long_sequence

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

COUNT = 30


def open_editor(browser, live_server, user, sequence, viewport=None):
    page = signed_in(browser, live_server, user, viewport=viewport)
    page.goto(live_server.url + reverse("sequence_edit", args=[sequence.pk]))
    return page


PHONE = {"width": 390, "height": 844}


@pytest.mark.parametrize("viewport", [None, PHONE], ids=["desktop", "phone"])
def test_cards_arrive_as_the_person_scrolls_and_save_like_any_other(
    browser, live_server, user, viewport
):
    sequence = long_sequence(user, COUNT)
    page = open_editor(browser, live_server, user, sequence, viewport)

    # The far end is a head: its number and what it sends, no boxes yet.
    last = step(page, COUNT)
    expect(last.locator(".step-summary")).to_contain_text("SMS · written here: “Text 30”")
    expect(last).to_have_class("step type-sms is-pending")
    expect(last.get_by_label("Days")).to_have_count(0)
    expect(step(page, WHOLE).get_by_label("Days")).to_be_visible()

    # Scrolled to, it arrives whole, and saves like any card.
    last.scroll_into_view_if_needed()
    expect(last.get_by_label("Days")).to_be_visible()
    expect(last).not_to_have_class("step type-sms is-pending")
    last.get_by_label("Days").fill("4")
    last.get_by_label("Days").press("Tab")
    saved(page, "Step 30: delay 1 hour → 4 days 1 hour")
    assert Sequence.objects.get(pk=sequence.pk).ordered_steps()[-1].delay == 4 * 86400 + 3600
    # The cards in the middle were never near the screen: still heads.
    expect(step(page, 15)).to_have_class("step type-sms is-pending")
    page.context.close()


def test_an_insert_at_the_top_renumbers_heads_and_cards_alike(browser, live_server, user):
    sequence = long_sequence(user, COUNT)
    page = open_editor(browser, live_server, user, sequence)
    last = step(page, COUNT)
    last.scroll_into_view_if_needed()
    expect(last.get_by_label("Days")).to_be_visible()  # the far end whole, the middle heads
    page.keyboard.press("Home")

    first = step(page, 1)
    first.locator("summary", has_text="Insert step").click()
    first.get_by_role("button", name="Insert call step").click()
    saved(page, "Inserted step 1 (call)")

    # Every card moved down one: the new one is step 1, the old last one is step 31 whole, and
    # the heads in between say their new numbers.
    expect(step(page, COUNT + 1).get_by_label("Days")).to_be_visible()
    wait = step(page, COUNT + 1).get_by_role("group", name=f"Wait after step {COUNT}")
    expect(wait).to_be_visible()
    middle = step(page, 16)
    expect(middle.locator(".step-title")).to_have_text("Step 16")
    expect(page.locator(".step-title")).to_have_count(COUNT + 1)
    numbers = page.locator(".step-title").all_inner_texts()
    assert numbers == [f"Step {n}" for n in range(1, COUNT + 2)]

    # A head that arrives after the change comes whole with its new number.
    middle.scroll_into_view_if_needed()
    expect(middle.get_by_role("group", name="Wait after step 15")).to_be_visible()
    page.context.close()


def test_a_page_that_fell_behind_is_told_to_reload_when_a_card_arrives(
    browser, live_server, user, other_user
):
    sequence = long_sequence(user, COUNT)
    page = open_editor(browser, live_server, user, sequence)
    expect(step(page, 1).get_by_label("Days")).to_be_visible()
    # Someone else saves after this page loaded.
    with sequence.editing(user=other_user, loaded_version=sequence.version, summary="Renamed"):
        Sequence.objects.filter(pk=sequence.pk).update(name="Renamed elsewhere")

    step(page, COUNT).scroll_into_view_if_needed()

    status = page.locator("#save-status")
    expect(status).to_contain_text("after you opened it")
    expect(status.get_by_role("button", name="Reload")).to_be_visible()
    expect(step(page, COUNT)).to_have_class("step type-sms is-pending")
    page.context.close()


def test_the_keyboard_reaches_every_card(browser, live_server, user):
    sequence = long_sequence(user, COUNT)
    page = open_editor(browser, live_server, user, sequence)
    far = step(page, 20)
    expect(far).to_have_class("step type-email is-pending")

    # Tab lands on a head's link: its card comes at once, and focus goes into it.
    far.get_by_role("link", name="Show step 20 in full").focus()
    expect(far.get_by_label("Subject")).to_be_visible()
    expect(far).to_be_focused()
    page.keyboard.press("Tab")
    expect(far.locator("summary", has_text="Insert step")).to_be_focused()

    # Followed, the link brings its card in the page, not a page of every card.
    link = step(page, 27).get_by_role("link", name="Show step 27 in full")
    link.click()
    expect(step(page, 27).get_by_label("Message")).to_be_visible()
    assert "cards=all" not in page.url
    page.context.close()
