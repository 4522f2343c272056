"""Writing an email's and an SMS's words in the editor, in a real browser: the Trix body with its
toolbar, autosave and reload, pasted HTML cleaned (nothing runs), the merge field menu by
keyboard, the SMS counter agreeing with copytext.sms_length, and "Edit a copy"."""

import time
from pathlib import Path

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from builder import copytext
from builder.models import CloseTemplate, Sequence
from tests.browser.test_editor import role_groups, saved, signed_in, step  # noqa: F401
from tests.conftest import EXAMPLE_EMAIL_1

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHOTS = Path("/tmp/editor-shots")  # noqa: S108 - where the team looks at screenshots


def open_editor(browser, live_server, user, sequence, viewport=None):
    page = signed_in(browser, live_server, user, viewport=viewport)
    page.goto(live_server.url + reverse("sequence_edit", args=[sequence.pk]))
    return page


def ordered(sequence):
    return Sequence.objects.get(pk=sequence.pk).ordered_steps()


def eventually(read, expected, timeout=10):
    """Wait until `read()` gives `expected` (a save that follows another lands a moment later)."""
    deadline = time.monotonic() + timeout
    while (value := read()) != expected:
        assert time.monotonic() < deadline, f"not saved in time: {value!r}"
        time.sleep(0.1)


def add(page, kind, number):
    page.get_by_role("button", name=f"Add {kind} step").click()
    saved(page, f"Added step {number}")
    return step(page, number)


def stored(sequence, number):
    return ordered(sequence)[number - 1]


def test_write_an_email_with_bold_and_a_list_it_autosaves_and_reloads(
    browser, live_server, user, example_sequence
):
    page = open_editor(browser, live_server, user, example_sequence)
    card = add(page, "email", 4)
    expect(card.get_by_role("radio", name="Write it here")).to_be_checked()

    card.get_by_label("Subject").fill("Quick question")
    body = card.get_by_role("textbox", name="Body")
    body.click()
    card.get_by_role("button", name="Bold").click()
    page.keyboard.type("Hello")
    card.get_by_role("button", name="Bold").click()
    page.keyboard.press("Enter")
    card.get_by_role("button", name="Bulleted list").click()
    page.keyboard.type("one")
    page.keyboard.press("Enter")
    page.keyboard.type("two")
    saved(page, "body edited")

    step_row = stored(example_sequence, 4)
    assert step_row.subject == "Quick question"
    assert step_row.body == ("<div><strong>Hello</strong></div><ul><li>one</li><li>two</li></ul>")
    # The person kept typing where they were: the box was never re-rendered under them.
    expect(body).to_be_focused()

    # One save per edit: a pause in typing saves, leaving the box does not save it again.
    posts = []
    page.on(
        "request", lambda request: posts.append(request.url) if request.method == "POST" else None
    )
    card.get_by_label("Subject").fill("Quick question, again")
    saved(page, "→ “Quick question, again”")
    card.get_by_label("Subject").press("Tab")
    page.wait_for_timeout(1200)
    assert len(posts) == 1, posts

    posts.clear()
    page.reload()
    card = step(page, 4)
    expect(card.get_by_label("Subject")).to_have_value("Quick question, again")
    page.wait_for_timeout(1200)
    assert posts == []  # loading the body into Trix is no edit
    expect(card.get_by_role("textbox", name="Body").locator("strong")).to_have_text("Hello")
    expect(card.get_by_role("textbox", name="Body").locator("li")).to_have_text(["one", "two"])
    page.context.close()


PASTED = (
    '<h1>Title</h1><p>Hi <b>there</b><script>window.pwned = "script"</script></p>'
    '<img src="x" onerror="window.pwned = \'onerror\'">'
    "<a href=\"javascript:window.pwned='link'\">click me</a>"
    '<svg onload="window.pwned = \'svg\'"><circle r="1"></circle></svg>'
    "<ul><li>kept</li></ul><del>struck</del>"
)


def test_pasted_html_is_stored_clean_and_nothing_runs(browser, live_server, user, example_sequence):
    page = open_editor(browser, live_server, user, example_sequence)
    card = add(page, "email", 4)
    card.get_by_label("Subject").fill("Pasted")
    body = card.get_by_role("textbox", name="Body")
    body.click()

    # What Google Docs or Word put on the clipboard, pasted as Chromium pastes: a paste event,
    # then (nobody cancelled it) a beforeinput "insertFromPaste" with the same data, which is
    # where Trix reads HTML.
    body.evaluate(
        """(editor, html) => {
            const data = new DataTransfer();
            data.setData("text/html", html);
            data.setData("text/plain", "Title Hi there click me kept struck");
            const options = {bubbles: true, cancelable: true};
            const paste = new ClipboardEvent("paste", {...options, clipboardData: data});
            if (editor.dispatchEvent(paste)) {
                editor.dispatchEvent(new InputEvent("beforeinput", {
                    ...options, inputType: "insertFromPaste", dataTransfer: data,
                }));
            }
        }""",
        PASTED,
    )
    saved(page, "body edited")
    page.wait_for_timeout(300)  # any handler the paste smuggled in would have run by now

    assert page.evaluate("window.pwned") is None
    stored_body = stored(example_sequence, 4).body
    for evil in ("<script", "onerror", "javascript:", "<svg", "onload", "<img", "<h1", "<del"):
        assert evil not in stored_body
    assert "<strong>there</strong>" in stored_body and "<li>kept</li>" in stored_body
    assert stored_body == copytext.clean_body(stored_body)
    page.reload()
    expect(step(page, 4).get_by_role("textbox", name="Body")).to_contain_text("kept")
    assert page.evaluate("window.pwned") is None
    page.context.close()


def test_merge_field_menu_by_keyboard_inserts_a_tag_with_a_fallback(
    browser, live_server, user, example_sequence
):
    page = open_editor(browser, live_server, user, example_sequence)
    card = add(page, "email", 4)
    subject = card.get_by_label("Subject")
    subject.fill("Hi , quick question")
    subject.press("Home")
    for _ in range(3):
        subject.press("ArrowRight")  # after "Hi "

    button = card.get_by_role("button", name="Insert merge field")
    button.focus()
    expect(button).to_have_attribute("aria-expanded", "false")
    page.keyboard.press("Enter")
    expect(button).to_have_attribute("aria-expanded", "true")
    menu = card.get_by_role("menu", name="Merge fields")
    first = menu.get_by_role("menuitem").first
    expect(first).to_be_focused()
    expect(first).to_contain_text("Contact first name")
    expect(menu.get_by_role("menuitem", name="Contact last name")).to_contain_text(
        "(not confirmed by Close)"
    )
    page.keyboard.press("End")
    expect(menu.get_by_role("menuitem").last).to_be_focused()
    page.keyboard.press("Home")
    page.keyboard.press("ArrowDown")
    expect(menu.get_by_role("menuitem").nth(1)).to_be_focused()
    page.keyboard.press("Escape")
    expect(button).to_be_focused()
    expect(menu).to_be_hidden()

    # Open again, give a fallback, pick the first field.
    page.keyboard.press("ArrowDown")
    expect(first).to_be_focused()
    page.keyboard.press("Shift+Tab")
    expect(card.get_by_label("Fallback")).to_be_focused()
    page.keyboard.type("there")
    page.keyboard.press("ArrowDown")
    expect(first).to_be_focused()
    page.keyboard.press("Enter")

    expect(menu).to_be_hidden()
    expected = 'Hi {{ contact.first_name | default:"there" }}, quick question'
    expect(subject).to_have_value(expected)
    expect(subject).to_be_focused()
    saved(page, "→ “Hi {{ contact.first_name")
    assert stored(example_sequence, 4).subject == expected

    # Into the body, at the caret, without a fallback this time.
    body = card.get_by_role("textbox", name="Body")
    body.click()
    page.keyboard.type("Dear ")
    # Trix renders typing, and puts its selection back, a moment later; setting a selection in
    # an editable element focuses it in Chromium. Moving on before that, on a slow machine,
    # lets Trix take the focus back from the button (the Enter then goes into the body).
    expect(body).to_contain_text("Dear")
    button.focus()
    expect(button).to_be_focused()
    page.keyboard.press("Enter")
    expect(first).to_be_focused()
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Control+A")
    page.keyboard.press("Backspace")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("End")
    expect(menu.get_by_role("menuitem").last).to_be_focused()
    page.keyboard.press("Enter")
    expect(body).to_contain_text("Dear {{ organization.name }}")
    eventually(lambda: stored(example_sequence, 4).body, "<div>Dear {{ organization.name }}</div>")
    page.context.close()


SMS_SAMPLES = [
    "Hi there",
    "Price: 5 €",
    "Café déjà vu",
    "Ça va ? ç",
    "Thanks 🙏",
    "x" * 160,
    "x" * 161,
    "é" * 70 + "ç",
    "[" * 80,
    "🙂" * 35,
]


def test_sms_counter_follows_copytext_sms_length(browser, live_server, user, example_sequence):
    page = open_editor(browser, live_server, user, example_sequence)
    card = add(page, "SMS", 4)
    message = card.get_by_label("Message")
    counter = card.locator("output.sms-length")
    expect(counter).to_have_text("0 characters · 0 SMS segments (GSM-7)")

    for text in SMS_SAMPLES:
        figure = page.evaluate("text => window.copyEditor.smsSentence(text)", text)
        assert figure == copytext.sms_length(text).sentence(), text
    message.fill("x" * 161)
    expect(counter).to_have_text("161 characters · 2 SMS segments (GSM-7)")
    message.fill("Hi 🙂")
    expect(counter).to_have_text(copytext.sms_length("Hi 🙂").sentence())
    saved(page, "message edited")
    assert stored(example_sequence, 4).text == "Hi 🙂"
    page.context.close()


def test_switch_to_a_template_then_edit_a_copy(
    browser, live_server, synced, user, example_sequence
):
    page = open_editor(browser, live_server, user, example_sequence)
    card = step(page, 2)  # picked "Intro — quick question"
    expect(card.get_by_role("radio", name="Use a shared template")).to_be_checked()
    expect(card.get_by_label("Subject")).to_have_count(0)
    template = CloseTemplate.objects.get(close_id=EXAMPLE_EMAIL_1)

    card.get_by_role("button", name="Edit a copy").click()

    saved(page, "copied the template")
    expect(card.get_by_role("radio", name="Write it here")).to_be_checked()
    expect(card.get_by_label("Subject")).to_have_value(template.subject)
    expect(card.get_by_label("Subject")).to_be_focused()
    expect(card.get_by_role("textbox", name="Body")).to_contain_text(
        copytext.body_text(template.body).split("\n")[0]
    )
    expect(card.get_by_role("searchbox")).to_have_count(0)  # no picker while written
    row = stored(example_sequence, 2)
    assert row.content_source == "written" and row.email_template_id == ""

    # Back to a shared template: the picker returns, the copy stays stored for later.
    card.get_by_role("radio", name="Use a shared template").check()
    saved(page, "content written here → shared template")
    expect(card.get_by_role("searchbox", name="Search email templates")).to_be_visible()
    expect(card.get_by_label("Subject")).to_have_count(0)
    card.get_by_role("radio", name="Write it here").check()
    saved(page, "content shared template → written here")
    expect(card.get_by_label("Subject")).to_have_value(template.subject)
    page.context.close()


@pytest.mark.parametrize("width", [1280, 375])
def test_screenshots_of_written_cards(browser, live_server, synced, user, example_sequence, width):
    """Not an assertion of looks: pictures for people to check at desktop and phone widths."""
    page = open_editor(
        browser, live_server, user, example_sequence, viewport={"width": width, "height": 900}
    )
    card = add(page, "email", 4)
    card.get_by_label("Subject").fill('Hi {{ contact.first_name | default:"there" }}')
    card.get_by_role("textbox", name="Body").click()
    page.keyboard.type("A short note with a list:")
    saved(page, "body edited")
    sms = add(page, "SMS", 5)
    sms.get_by_label("Message").fill("Hi, it's Charles from Babbage & Co. Got a minute? €")
    saved(page, "message edited")
    card.get_by_role("button", name="Insert merge field").click()
    SHOTS.mkdir(exist_ok=True)
    card.scroll_into_view_if_needed()
    page.screenshot(path=SHOTS / f"copy-email-{width}.png", full_page=False)
    page.keyboard.press("Escape")
    sms.scroll_into_view_if_needed()
    page.screenshot(path=SHOTS / f"copy-sms-{width}.png", full_page=False)
    step(page, 2).scroll_into_view_if_needed()
    page.screenshot(path=SHOTS / f"copy-template-{width}.png", full_page=False)
    page.context.close()


def test_a_link_from_the_toolbar_is_stored_with_rel(browser, live_server, user, example_sequence):
    page = open_editor(browser, live_server, user, example_sequence)
    card = add(page, "email", 4)
    card.get_by_label("Subject").fill("Links")
    body = card.get_by_role("textbox", name="Body")
    body.click()
    page.keyboard.type("Our site")
    expect(body).to_have_text("Our site")
    body.evaluate("editor => editor.editor.setSelectedRange([4, 8])")  # "site"
    card.get_by_role("button", name="Link", exact=True).first.click()
    address = card.get_by_label("Link address")
    expect(address).to_be_visible()
    address.fill("https://example.com/about")  # typing the address saves nothing by itself
    card.locator('.trix-dialog input[type="button"][value="Link"]').click()

    link = '<a href="https://example.com/about" rel="noopener noreferrer">site</a>'
    eventually(lambda: stored(example_sequence, 4).body, f"<div>Our {link}</div>")
    page.context.close()
