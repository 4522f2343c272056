"""Issue 13's whole loop in a real browser, every step through the UI: an Editor writes an
email (pasting HTML that needs cleaning) and an SMS and submits; a Reviewer approves; a Publisher
publishes, and Close (the sandbox) gets one template create per written step, then one sequence
create referencing them, with the clean body. Then one word of the body changes; the Reviewer
sees that word; the next publish is one PUT to the same template, and no new template."""

import pytest
from playwright.sync_api import expect

from builder import audience
from builder.models import OwnedTemplate, Sequence
from tests.browser.navigation import follow
from tests.browser.test_copy_editor import PASTED
from tests.browser.test_editor import saved, signed_in, step
from tests.browser.test_review_copy import select_words
from tests.builder import copykit
from tests.builder.copykit import INTRO, written_draft
from tests.builder.test_audience import Q1
from tests.conftest import approve as approved_by

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TIMEOUT = 20_000  # ms, for every wait below


def writes(sandbox, since=0):
    """Every POST and PUT Close received since `since`: (method, path below /api/v1, body)."""
    return [
        (r.method, r.path.removeprefix("/api/v1"), r.body)
        for r in sandbox.requests[since:]
        if r.method in ("POST", "PUT")
    ]


def paste_html(body, html):
    """Paste `html` into the Trix body as Chromium pastes from another app (see
    test_copy_editor.test_pasted_html_is_stored_clean_and_nothing_runs)."""
    body.evaluate(
        """(editor, html) => {
            const data = new DataTransfer();
            data.setData("text/html", html);
            data.setData("text/plain", editor.textContent);
            const options = {bubbles: true, cancelable: true};
            const paste = new ClipboardEvent("paste", {...options, clipboardData: data});
            if (editor.dispatchEvent(paste)) {
                editor.dispatchEvent(new InputEvent("beforeinput", {
                    ...options, inputType: "insertFromPaste", dataTransfer: data,
                }));
            }
        }""",
        html,
    )


def tab(page, name):
    follow(page.get_by_role("navigation", name="Sequence pages").get_by_role("link", name=name))


def submit(page):
    tab(page, "Review")
    page.get_by_role("button", name="Submit for review").click()
    expect(page.get_by_role("status").get_by_text("is in review.")).to_be_visible(timeout=TIMEOUT)


def approve(page, url):
    page.goto(url)
    page.get_by_role("button", name="Approve").click()
    expect(page.get_by_role("status").get_by_text("A Publisher can publish it now.")).to_be_visible(
        timeout=TIMEOUT
    )


def publish(page, url, button="Publish to Close", done="Published to Close"):
    page.goto(url)
    page.get_by_role("button", name=button).click()
    expect(page.get_by_role("heading", name=done)).to_be_visible(timeout=TIMEOUT)


def test_write_submit_approve_publish_then_one_word_is_one_put(
    browser, live_server, sandbox, user, reviewer, publisher
):
    sequence = Sequence.create_draft(name="Copy Round", timezone_name="Europe/Paris", user=user)
    base = f"{live_server.url}/sequences/{sequence.pk}"
    alice = signed_in(browser, live_server, user)
    rita = signed_in(browser, live_server, reviewer)
    paul = signed_in(browser, live_server, publisher)
    for page in (alice, rita, paul):
        page.set_default_timeout(TIMEOUT)

    # The Editor writes an email, pasting HTML from elsewhere, and an SMS.
    alice.goto(f"{base}/")
    alice.get_by_role("button", name="Add email step").click()
    saved(alice, "Added step 1")
    email = step(alice, 1)
    expect(email.get_by_role("radio", name="Write it here")).to_be_checked()
    email.get_by_label("Subject").fill("Quick question")
    saved(alice, "→ “Quick question”")
    body = email.get_by_role("textbox", name="Body")
    body.click()
    paste_html(body, PASTED + '<p onclick="window.pwned = 1">Talk soon</p>')
    saved(alice, "body edited")
    alice.get_by_role("button", name="Add SMS step").click()
    saved(alice, "Added step 2")
    step(alice, 2).get_by_label("Message").fill("Hi, did you see my email?")
    saved(alice, "message edited")
    assert alice.evaluate("window.pwned") is None
    submit(alice)

    # Another person approves; a Publisher publishes.
    approve(rita, f"{base}/review/")
    publish(paul, f"{base}/publish/")

    first = writes(sandbox)
    assert [(method, path) for method, path, _ in first] == [
        ("POST", "/email_template/"),
        ("POST", "/sms_template/"),
        ("POST", "/sequence/"),
    ]
    (_, _, email_sent), (_, _, sms_sent), (_, _, sequence_sent) = first
    email_template = next(t for t in sandbox.email_templates if t["name"] == email_sent["name"])
    sms_template = next(t for t in sandbox.sms_templates if t["name"] == sms_sent["name"])
    assert [
        (s["step_type"], s.get("email_template_id"), s.get("sms_template_id"))
        for s in sequence_sent["steps"]
    ] == [("email", email_template["id"], None), ("sms", None, sms_template["id"])]
    assert email_sent["subject"] == "Quick question"
    assert sms_sent["text"] == "Hi, did you see my email?"
    sent_body = email_sent["body"]
    for unsafe in ("<script", "onclick", "onerror", "onload", "javascript:", "<img", "<svg"):
        assert unsafe not in sent_body, sent_body
    assert "<strong>there</strong>" in sent_body and "<li>kept</li>" in sent_body
    assert "Talk soon" in sent_body
    assert email_template["body"] == sent_body

    # The Editor changes one word of the body ("kept" becomes "saved") and submits again.
    alice.goto(f"{base}/")
    body = step(alice, 1).get_by_role("textbox", name="Body")
    expect(body).to_contain_text("kept")
    body.focus()
    select_words(body, "kept")
    # Trix takes the selection from the page's on its next "selectionchange".
    alice.wait_for_function(
        "() => document.querySelector('trix-editor:focus')?.editor.getSelectedRange()[1] -"
        " document.querySelector('trix-editor:focus')?.editor.getSelectedRange()[0] === 4",
        timeout=TIMEOUT,
    )
    # One input, so one save: typed key by key, a busy machine could let the autosave fire
    # between keys, and the reload that save brings (back to Draft) would eat the rest.
    alice.keyboard.insert_text("saved")
    # The edit sends the published sequence back to Draft: the page reloads and says so.
    expect(alice.get_by_text("The sequence is back in Draft.")).to_be_visible(timeout=TIMEOUT)
    assert "<li>saved</li>" in Sequence.objects.get().ordered_steps()[0].body
    submit(alice)

    # The Reviewer sees that word, and the old one struck out, then approves.
    rita.goto(f"{base}/review/")
    change = rita.get_by_role("region", name="Changes since revision").locator(
        ".diff-item", has_text="Step 1 changed"
    )
    expect(change.locator("ins")).to_have_text("saved")
    expect(change.locator("del")).to_have_text("kept")
    approve(rita, f"{base}/review/")

    # The last publish still heads the page, saying it was an older version.
    paul.goto(f"{base}/publish/")
    now = Sequence.objects.get()
    was, current = now.published_revision.number, now.version
    expect(
        paul.get_by_text(f"That was version {was}; version {current} is not in Close yet.")
    ).to_be_visible(timeout=TIMEOUT)

    since = len(sandbox.requests)
    templates_before = (len(sandbox.email_templates), len(sandbox.sms_templates))
    publish(paul, f"{base}/publish/", button="Update in Close", done="Updated in Close")

    second = writes(sandbox, since)
    assert [(method, path) for method, path, _ in second] == [
        ("PUT", f"/email_template/{email_template['id']}/"),
        ("PUT", f"/sequence/{Sequence.objects.get().close_id}/"),
    ]
    assert second[0][2] == {"body": sent_body.replace("kept", "saved")}
    # The SMS did not change: nothing is written to its template (the page only looks at it,
    # to notice copy changed in Close).
    assert not [
        r for r in sandbox.requests[since:] if "sms_template" in r.path and r.method != "GET"
    ]
    assert (len(sandbox.email_templates), len(sandbox.sms_templates)) == templates_before
    assert OwnedTemplate.objects.count() == 2
    for page in (alice, rita, paul):
        page.context.close()


# --- The round's new screens on a phone ---------------------------------------------------------
PHONE = {"width": 375, "height": 812}


def fits_the_screen(page, where):
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"{where}: the page scrolls sideways ({width}px)"


def current_tab_is_on_screen(page, where):
    tabs = page.get_by_role("navigation", name="Sequence pages")
    current = tabs.locator("[aria-current=page]").bounding_box()
    row = tabs.bounding_box()
    left, right = current["x"], current["x"] + current["width"]
    assert row["x"] - 1 <= left and right <= row["x"] + row["width"] + 1, (
        f"{where}: the current tab is off the screen"
    )


def test_on_a_phone_the_audience_and_publish_pages_fit_and_say_which_page_they_are(
    browser, live_server, sandbox, jobs_inline, user, reviewer, publisher
):
    # Published written copy; then someone rewrites the SMS in Close (drift), another sequence
    # in Close uses the first email's template (shared), and the draft's email changes.
    sequence = approved_by(written_draft(user), reviewer)
    assert copykit.publish(sequence, publisher).ok
    owned = copykit.rows(sequence)
    sandbox.edit_template_copy(owned[3].close_id, text="Rewritten in Close by someone else.")
    sandbox.add_ui_sequence(
        {
            "name": "Someone else's sequence",
            "timezone": "UTC",
            "steps": [{"step_type": "email", "delay": 0, "email_template_id": owned[1].close_id}],
        }
    )
    copykit.edit_step(sequence, user, reviewer, 1, body=INTRO.replace("quick", "short"))
    audience.start_check(
        sequence=copykit.fresh(sequence),
        user=user,
        smart_view_id=sandbox.smart_view(Q1)["id"],
        limit=200,
    )

    paul = signed_in(browser, live_server, publisher, viewport=PHONE)
    paul.set_default_timeout(TIMEOUT)
    paul.goto(f"{live_server.url}/sequences/{sequence.pk}/publish/")
    drift = paul.get_by_role("group", name="Step 4's copy was changed in Close")
    expect(drift.locator("del").first).to_be_visible(timeout=TIMEOUT)
    # The draft's words and Close's are told apart at a glance, not only by a thin line.
    assert drift.locator("del").first.evaluate("e => getComputedStyle(e).backgroundColor") != (
        drift.locator("ins").first.evaluate("e => getComputedStyle(e).backgroundColor")
    )
    expect(paul.get_by_role("note", name="Step 2's template is shared")).to_contain_text(
        owned[1].close_id, timeout=TIMEOUT
    )
    fits_the_screen(paul, "publish")
    current_tab_is_on_screen(paul, "publish")

    paul.goto(f"{live_server.url}/sequences/{sequence.pk}/audience/")
    results = paul.locator("#audience-check")
    expect(results.get_by_role("table")).to_contain_text("3 of 40 contacts", timeout=TIMEOUT)
    for summary in results.get_by_text("List them").all():
        summary.click()
    fits_the_screen(paul, "audience, every list open")
    current_tab_is_on_screen(paul, "audience")
    # Rows with nobody affected say so, rather than sounding like a problem.
    already_active = results.get_by_role("row").filter(has_text="Already active")
    expect(already_active).to_contain_text("0 of 40 contacts")
    expect(already_active).to_contain_text("nobody is affected")

    # A reply has no subject of its own; the preview says why rather than showing nothing.
    paul.get_by_role("searchbox", name="Preview as").fill("a")
    paul.get_by_role("list", name="Matching contacts").get_by_role("link").first.click()
    reply = paul.get_by_role("list", name="Rendered steps").get_by_role("listitem", name="Step 3")
    expect(reply.locator("[data-part=subject]")).to_have_text("")
    expect(reply).to_contain_text("none of its own: it replies in the previous email's thread")
    fits_the_screen(paul, "audience preview")
    paul.context.close()
