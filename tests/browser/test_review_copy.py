"""Copy in review, in a real browser: a reviewer sees a one-word edit of a step's copy as that
word, selects a passage of the body, presses "Quote in comment", posts the comment and sees it
with its quote; the keyboard quotes the subject the same way, and the quote can be dropped."""

import pytest
from django.db.models import F
from playwright.sync_api import expect

from builder import review
from builder.models import REVISION_PAUSE, Comment, Revision, Sequence, Step
from tests.browser.test_editor import signed_in
from tests.builder.reviewkit import cache_example_templates

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

BODY = (
    '<div>Hi {{ contact.first_name | default:"there" }},</div>'
    "<div>Quick question about your <strong>team</strong>.</div>"
)


def save_step_2(sequence, user, **fields):
    """Step 2's copy saved through Sequence.editing(), as the editor does, in a sitting of its
    own (the next save starts a new revision)."""
    sequence.refresh_from_db()
    with sequence.editing(user=user, loaded_version=sequence.version, summary="Copy"):
        Step.objects.filter(sequence=sequence, position=1).update(**fields)
    Revision.objects.filter(sequence=sequence, is_open=True).update(
        created_at=F("created_at") - REVISION_PAUSE
    )


def select_words(locator, words):
    """Select `words` inside the element, as a mouse drag over them would."""
    locator.evaluate(
        """(element, words) => {
            const walker = document.createTreeWalker(element, NodeFilter.SHOW_TEXT);
            for (let node = walker.nextNode(); node; node = walker.nextNode()) {
                const start = node.data.indexOf(words);
                if (start < 0) continue;
                const range = document.createRange();
                range.setStart(node, start);
                range.setEnd(node, start + words.length);
                const selection = document.getSelection();
                selection.removeAllRanges();
                selection.addRange(range);
                return;
            }
            throw new Error("no text node holds " + words);
        }""",
        words,
    )


@pytest.fixture
def in_review_with_a_word_changed(example_sequence, user, reviewer):
    """Step 2 written here, approved, then one word of its subject edited and submitted."""
    cache_example_templates()
    save_step_2(
        example_sequence, user, content_source="written", subject="Quick question", body=BODY
    )
    review.submit_for_review(sequence=example_sequence, user=user)
    sequence = Sequence.objects.get(pk=example_sequence.pk)
    review.approve(sequence=sequence, user=reviewer, revision_number=sequence.version)
    save_step_2(sequence, user, subject="Short question")
    review.submit_for_review(sequence=Sequence.objects.get(pk=sequence.pk), user=user)
    return Sequence.objects.get(pk=sequence.pk)


def test_reviewer_sees_the_word_and_quotes_the_copy_in_a_comment(
    browser, live_server, in_review_with_a_word_changed, reviewer
):
    sequence = in_review_with_a_word_changed
    rita = signed_in(browser, live_server, reviewer)
    rita.goto(f"{live_server.url}/sequences/{sequence.pk}/review/")

    # The diff shows exactly the word that changed.
    changes = rita.get_by_role("region", name="Changes since revision")
    step_2 = changes.locator(".diff-item", has_text="Step 2 changed")
    expect(step_2.locator("ins")).to_have_count(1)
    expect(step_2.locator("ins")).to_have_text("Short")
    expect(step_2.locator("del")).to_have_text("Quick")

    # The step's copy, as it reads now; its button waits for a selection inside it.
    copy = rita.get_by_role("article", name="Step 2 · Email", exact=True)
    quote_button = copy.get_by_role("button", name="Quote in comment")
    expect(quote_button).to_be_visible()
    expect(quote_button).to_be_disabled()
    expect(copy.locator("[data-quote-field=body] strong")).to_have_text("team")

    # A selection outside the copy does not count.
    select_words(rita.get_by_role("heading", name="The copy, as it reads now"), "copy")
    expect(quote_button).to_be_disabled()

    select_words(copy.locator("[data-quote-field=body]"), "question about")
    expect(quote_button).to_be_enabled()
    quote_button.click()

    form = rita.locator("form.comment-form")
    expect(form.get_by_label("About")).to_have_value(str(sequence.ordered_steps()[1].pk))
    preview = form.locator("#comment-quote")
    expect(preview).to_be_visible()
    expect(preview).to_contain_text("Quoting the body:")
    expect(preview.locator("blockquote")).to_have_text("question about")
    comment = form.get_by_label("Comment", exact=True)
    expect(comment).to_be_focused()
    comment.fill("Which question? Say it here.")
    form.get_by_role("button", name="Add comment").click()

    thread = rita.get_by_role("article", name="Comment by rita on Step 2 · Email")
    expect(thread.locator("figcaption")).to_have_text("On the body:")
    expect(thread.locator("blockquote")).to_have_text("“question about”")
    expect(thread).to_contain_text("Which question? Say it here.")
    stored = Comment.objects.get()
    assert (stored.quote, stored.quote_field) == ("question about", "body")
    # The fresh form has no quote left over.
    expect(rita.locator("#comment-quote")).to_be_hidden()
    rita.context.close()


def test_the_keyboard_quotes_and_a_quote_can_be_dropped(
    browser, live_server, in_review_with_a_word_changed, reviewer
):
    sequence = in_review_with_a_word_changed
    rita = signed_in(browser, live_server, reviewer)
    rita.goto(f"{live_server.url}/sequences/{sequence.pk}/review/")
    copy = rita.get_by_role("article", name="Step 2 · Email", exact=True)
    quote_button = copy.get_by_role("button", name="Quote in comment")

    select_words(copy.locator("[data-quote-field=subject]"), "Short")
    expect(quote_button).to_be_enabled()
    quote_button.focus()  # where Tab lands next: the selection stays
    rita.keyboard.press("Enter")

    form = rita.locator("form.comment-form")
    preview = form.locator("#comment-quote")
    expect(preview).to_contain_text("Quoting the subject:")
    expect(preview.locator("blockquote")).to_have_text("Short")
    expect(form.locator("input[name=quote_field]")).to_have_value("subject")

    # Another step under "About" drops the quote; so does "Remove quote".
    form.get_by_label("About").select_option(label="Step 1 · Call")
    expect(preview).to_be_hidden()
    expect(form.locator("input[name=quote]")).to_have_value("")

    select_words(copy.locator("[data-quote-field=subject]"), "question")
    quote_button.click()
    expect(preview.locator("blockquote")).to_have_text("question")
    preview.get_by_role("button", name="Remove quote").click()
    expect(preview).to_be_hidden()
    expect(form.get_by_label("Comment", exact=True)).to_be_focused()

    form.get_by_label("Comment", exact=True).fill("No quote this time.")
    form.get_by_role("button", name="Add comment").click()
    expect(rita.get_by_role("article", name="Comment by rita on Step 2 · Email")).to_contain_text(
        "No quote this time."
    )
    assert Comment.objects.get().quote == ""
    rita.context.close()
