"""Copy in review: the review page's word diff and each written step's copy, history and the
revision page, restore bringing copy back, and comments quoting a passage of the copy."""

import re

import pytest
from django.db.models import F
from django.urls import reverse

from builder import review, spec
from builder.models import REVISION_PAUSE, Comment, Revision, Sequence, Step
from tests.builder.reviewkit import edit, fresh

pytestmark = pytest.mark.django_db

BODY = (
    '<div>Hi {{ contact.first_name | default:"there" }},</div>'
    "<div>Quick question about your team.</div>"
)


def url(name, sequence, *args):
    return reverse(name, args=[sequence.pk, *args])


def as_user(client, user):
    client.force_login(user)
    return client


def page(response):
    return response.content.decode()


def write(sequence, user, **copy):
    """Step 2 (an email) written here, with `copy` over a valid subject and body."""
    values = {"content_source": "written", "subject": "Quick question", "body": BODY}
    return edit(sequence, user, summary="Copy", **(values | copy))


def make_third_step_an_sms(sequence, user, text):
    sequence.refresh_from_db()
    with sequence.editing(user=user, loaded_version=sequence.version, summary="SMS"):
        Step.objects.filter(sequence=sequence, position=2).update(
            step_type="sms",
            content_source="written",
            text=text,
            email_template_id="",
            threading="",
        )
    # A sitting of its own, as reviewkit.edit makes: the next save starts a new revision.
    Revision.objects.filter(sequence=sequence, is_open=True).update(
        created_at=F("created_at") - REVISION_PAUSE
    )


def second_step(sequence):
    return fresh(sequence).ordered_steps()[1]


@pytest.fixture
def written(valid, user):
    """The example with step 2 written here: a valid draft."""
    write(valid, user)
    assert not spec.blocking(fresh(valid).problems())
    return fresh(valid)


@pytest.fixture
def approved_copy(written, user, reviewer):
    review.submit_for_review(sequence=written, user=user)
    sequence = fresh(written)
    review.approve(sequence=sequence, user=reviewer, revision_number=sequence.version)
    return fresh(written)


# --- Restore ----------------------------------------------------------------------------------
def test_restore_brings_the_copy_back(written, user):
    make_third_step_an_sms(written, user, "Free for a call this week?")
    good = fresh(written).version
    write(written, user, subject="Rewritten subject", body="<div>All new words.</div>")
    make_third_step_an_sms(written, user, "Changed my mind")
    edit(written, user, content_source="template")  # step 2 back to its shared template
    sequence = fresh(written)

    review.restore_revision(
        sequence=sequence, user=user, revision_number=good, loaded_version=sequence.version
    )

    email, sms = fresh(written).ordered_steps()[1:]
    assert (email.content_source, email.subject, email.body) == ("written", "Quick question", BODY)
    assert (sms.content_source, sms.text) == ("written", "Free for a call this week?")
    assert (
        fresh(written).to_spec().steps[1:]
        == fresh(written).revisions.get(number=good).to_spec().steps[1:]
    )


def test_the_revision_page_shows_what_restoring_does_to_the_copy(client, written, user):
    good = fresh(written).version
    write(written, user, subject="Rewritten question")

    html = page(as_user(client, user).get(url("sequence_revision", written, good)))

    assert "Step 2: subject" not in html  # the diff, not the history's line
    assert "<del>Rewritten</del><ins>Quick</ins>" in html


# --- The revision page ------------------------------------------------------------------------
def test_a_revision_shows_each_written_step_copy(client, written, user):
    make_third_step_an_sms(written, user, "Line one\nLine <two> & three")
    number = fresh(written).version

    html = page(as_user(client, user).get(url("sequence_revision", written, number)))

    subject = 'data-quote-field="subject" data-quote-label="subject">Quick question</dd>'
    assert f'<dd class="copy-text" {subject}' in html
    assert "<div>Quick question about your team.</div>" in html  # the body as HTML
    assert "Line one\nLine &lt;two&gt; &amp; three" in html  # the SMS escaped, its lines kept


def test_an_old_revision_body_is_cleaned_again_when_shown(client, written, user):
    revision = fresh(written).revisions.get(number=fresh(written).version)
    snapshot = revision.snapshot_data()
    snapshot["steps"][1]["body"] = (
        '<div onclick="steal()">Hi</div><script>alert(1)</script>'
        '<a href="javascript:alert(2)">x</a><img src=x onerror=alert(3)>'
    )
    Revision.objects.filter(pk=revision.pk).update(
        **Revision.snapshot_columns(spec.from_snapshot(snapshot))
    )

    html = page(as_user(client, user).get(url("sequence_revision", written, revision.number)))

    assert "<div>Hi</div>" in html
    for unsafe in ("onclick", "<script>alert", "javascript:", "<img", "onerror"):
        assert unsafe not in html


# --- The review page --------------------------------------------------------------------------
def test_review_shows_a_one_word_edit_as_that_word(client, approved_copy, user, reviewer):
    write(approved_copy, user, subject="Short question")
    review.submit_for_review(sequence=fresh(approved_copy), user=user)

    html = page(as_user(client, reviewer).get(url("sequence_review", approved_copy)))

    diff_section = html[html.index('id="diff-title"') :]
    assert re.findall(r"<ins>(.*?)</ins>", diff_section) == ["Short"]
    assert re.findall(r"<del>(.*?)</del>", diff_section) == ["Quick"]


def test_review_page_shows_each_written_step_copy_with_quote_buttons(client, written, reviewer):
    html = page(as_user(client, reviewer).get(url("sequence_review", written)))

    second = second_step(written)
    assert f'data-quote-step="{second.pk}" data-quote-step-label="Step 2 · Email"' in html
    assert html.count("Quote in comment</button>") == 1  # only the written step has copy
    assert "<div>Quick question about your team.</div>" in html
    assert re.search(r'<script src="/static/js/review\.js" defer nonce="[^"]+"></script>', html)


def test_no_quote_buttons_for_someone_who_cannot_comment(client, written, viewer):
    html = page(as_user(client, viewer).get(url("sequence_review", written)))

    assert "Quick question about your team." in html  # may read the copy
    assert "Quote in comment" not in html


def test_history_says_which_copy_changed(client, written, user):
    write(written, user, subject="Another question")
    write(written, user, subject="Another question", body="<div>Other words.</div>")

    response = as_user(client, user).get(url("sequence_history", written))

    rows = response.context["rows"]
    assert rows[0]["headlines"] == ["Step 2: body changed"]
    assert rows[1]["headlines"] == ["Step 2: subject changed"]
    assert rows[2]["revision"].summary == "Copy"


# --- Quotes -----------------------------------------------------------------------------------
def test_a_comment_quotes_a_passage_of_the_copy(client, written, reviewer):
    second = second_step(written)

    response = as_user(client, reviewer).post(
        url("sequence_comment_add", written),
        {
            "body": "Too vague?",
            "step": second.pk,
            "quote": "  Quick question about\r\nyour team  ",
            "quote_field": "body",
        },
        follow=True,
    )

    comment = Comment.objects.get()
    assert (comment.quote, comment.quote_field) == ("Quick question about\nyour team", "body")
    assert comment.step == second
    html = page(response)
    assert "<figcaption>On the body:</figcaption>" in html
    assert "<blockquote>“Quick question about<br>your team”</blockquote>" in html
    assert html.index("<figcaption>On the body:") < html.index("Too vague?")


@pytest.mark.parametrize(
    ("field", "words"), [("subject", "On the subject:"), ("text", "On the message:")]
)
def test_the_quote_names_its_field(client, written, user, reviewer, field, words):
    make_third_step_an_sms(written, user, "Free for a call?")
    step = fresh(written).ordered_steps()[1 if field == "subject" else 2]
    review.add_comment(
        sequence=written,
        user=reviewer,
        body="Hmm",
        step_id=step.pk,
        quote="Quick" if field == "subject" else "Free",
        quote_field=field,
    )

    html = page(as_user(client, reviewer).get(url("sequence_review", written)))

    assert f"<figcaption>{words}</figcaption>" in html


def test_a_quote_is_escaped(client, written, reviewer):
    review.add_comment(
        sequence=written,
        user=reviewer,
        body="?",
        step_id=second_step(written).pk,
        quote="<script>alert(1)</script>",
        quote_field="subject",
    )

    html = page(as_user(client, reviewer).get(url("sequence_review", written)))

    assert "<script>alert(1)" not in html
    assert "“&lt;script&gt;alert(1)&lt;/script&gt;”" in html


@pytest.mark.parametrize(
    ("quote", "field", "step", "message"),
    [
        ("   ", "body", 2, "The quote is empty"),
        ("x" * 1001, "body", 2, "The quote is 1001 characters long; quote at most 1000."),
        ("Quick", "text", 2, "A quote from Step 2 · Email comes from its subject or body."),
        ("Quick", "", 2, "A quote from Step 2 · Email comes from its subject or body."),
        ("Quick", "body", None, "A quote is from a step's copy: choose the step it is about."),
        ("Quick", "body", 1, "Step 1 · Call has no copy to quote."),
    ],
)
def test_bad_quotes_are_refused(written, reviewer, quote, field, step, message):
    steps = fresh(written).ordered_steps()
    step_id = steps[step - 1].pk if step else ""

    with pytest.raises(review.InvalidInput) as refusal:
        review.add_comment(
            sequence=written,
            user=reviewer,
            body="?",
            step_id=step_id,
            quote=quote,
            quote_field=field,
        )

    assert message in refusal.value.message
    assert not Comment.objects.exists()


def test_a_quote_of_exactly_the_limit_is_kept(written, reviewer):
    comment = review.add_comment(
        sequence=written,
        user=reviewer,
        body="?",
        step_id=second_step(written).pk,
        quote="y" * review.MAX_QUOTE_LENGTH,
        quote_field="subject",
    )

    assert len(comment.quote) == review.MAX_QUOTE_LENGTH


def test_a_reply_quotes_from_its_thread_step(written, reviewer, user):
    root = review.add_comment(
        sequence=written, user=reviewer, body="?", step_id=second_step(written).pk
    )

    reply = review.add_comment(
        sequence=written,
        user=user,
        body="Changed it",
        parent_id=root.pk,
        quote="Quick",
        quote_field="subject",
    )

    assert (reply.quote, reply.step) == ("Quick", root.step)


def test_a_refused_quote_over_htmx_keeps_the_form(client, written, reviewer):
    second = second_step(written)

    response = as_user(client, reviewer).post(
        url("sequence_comment_add", written),
        {"body": "Hmm", "step": second.pk, "quote": "Quick", "quote_field": "text"},
        HTTP_HX_REQUEST="true",
    )

    assert response.status_code == 422
    html = page(response)
    assert 'role="alert">A quote from Step 2 · Email comes from its subject or body.</p>' in html
    assert '<input type="hidden" name="quote" value="Quick">' in html
    assert f'<div class="quote-preview" id="comment-quote" data-step="{second.pk}">' in html
    assert f'<option value="{second.pk}" selected>' in html
    assert not Comment.objects.exists()


def test_a_refused_quote_without_htmx_is_400_with_the_message(client, written, reviewer):
    response = as_user(client, reviewer).post(
        url("sequence_comment_add", written),
        {"body": "Hmm", "quote": "Quick", "quote_field": "subject"},
    )

    assert response.status_code == 400
    assert "A quote is from a step&#x27;s copy" in page(response)


def test_a_comment_without_a_quote_still_works(client, written, reviewer):
    as_user(client, reviewer).post(
        url("sequence_comment_add", written),
        {"body": "Fine", "step": second_step(written).pk, "quote": "", "quote_field": ""},
    )

    comment = Comment.objects.get()
    assert (comment.body, comment.quote, comment.quote_field) == ("Fine", "", "")


def test_someone_without_a_role_cannot_quote(client, written, viewer):
    response = as_user(client, viewer).post(
        url("sequence_comment_add", written),
        {"body": "me", "step": second_step(written).pk, "quote": "Quick", "quote_field": "subject"},
    )

    assert response.status_code == 403
    assert not Comment.objects.exists()


def test_every_role_may_quote(client, written, publisher):
    as_user(client, publisher).post(
        url("sequence_comment_add", written),
        {"body": "ok", "step": second_step(written).pk, "quote": "Quick", "quote_field": "subject"},
    )

    assert Comment.objects.get().quote == "Quick"
    assert Sequence.objects.get().status == Sequence.Status.DRAFT


def test_a_replys_empty_subject_reads_as_the_threads_not_as_empty(client, written, user):
    """A reply in the thread needs no subject of its own (Close keeps the thread's)."""
    sequence = fresh(written)
    with sequence.editing(user=user, loaded_version=sequence.version, summary="Reply"):
        Step.objects.filter(sequence=sequence, position=2).update(
            content_source="written", subject="", body="<div>Following up.</div>"
        )
    number = fresh(written).version
    steps_now = fresh(written).ordered_steps()
    assert steps_now[2].threading == "old_thread"

    html = page(as_user(client, user).get(url("sequence_revision", written, number)))

    assert "(none of its own: it replies in the previous email&#x27;s thread)" in html
