"""builder/diff.py on copy written in a step: word by word, a body's formatting and links apart,
switching between written copy and a shared template; and how templates/builder/_diff.html
shows it (escaped)."""

import re

import pytest
from django.template.loader import render_to_string

from builder import diff, spec
from builder.diff import TemplateText, WordRun, diff_specs

Step = spec.Step
TEMPLATES = {
    "t_intro": TemplateText(
        "t_intro",
        "Intro",
        "Quick question",
        "<p>Hi there,</p><p>Quick question about your team.</p>",
    ),
    "s_hi": TemplateText("s_hi", "SMS hi", "", "Hi there, reply STOP to opt out", kind="sms"),
}
BODY = "<div>Hi {{ contact.first_name }},</div><div>Quick question about your team.</div>"


def written_email(subject="Quick question", body=BODY, **fields):
    return Step(
        "email",
        86400,
        threading="new_thread",
        content_source="written",
        subject=subject,
        body=body,
        key="2",
        **fields,
    )


def written_sms(text="Hi there, are you free for a call?", **fields):
    return Step("sms", 0, content_source="written", text=text, key="3", **fields)


def sequence(*steps):
    return spec.SequenceSpec(name="S", timezone="UTC", steps=[Step("call", 0, key="1"), *steps])


def one_change(before, after, templates=TEMPLATES):
    result = diff_specs(before, after, templates)
    (change,) = result.steps
    return change


def render(changes):
    return render_to_string("builder/_diff.html", {"changes": changes})


def tags(html, name):
    return re.findall(rf"<{name}(?: [^>]*)?>(.*?)</{name}>", html, re.S)


# --- Words ------------------------------------------------------------------------------------
def test_a_one_word_edit_of_the_subject_is_that_word_removed_and_added():
    before = sequence(written_email(subject="Quick question for you"))
    after = sequence(written_email(subject="Short question for you"))

    change = one_change(before, after)

    (subject,) = change.copy
    assert (subject.name, subject.label, subject.kind) == ("subject", "Subject", "changed")
    assert subject.runs == [
        WordRun("removed", "Quick"),
        WordRun("added", "Short"),
        WordRun("same", " question for you"),
    ]
    assert change.fields == []  # the copy is the whole change
    assert change.title == "Step 2 changed"
    html = render(diff_specs(before, after, TEMPLATES))
    assert tags(html, "ins") == ["Short"]
    assert tags(html, "del") == ["Quick"]


def test_a_one_word_edit_of_an_sms_is_that_word():
    before = sequence(written_sms("Hi there, are you free for a call?"))
    after = sequence(written_sms("Hi there, are you around for a call?"))

    (text,) = one_change(before, after).copy

    assert text.label == "Message"
    assert [run for run in text.runs if run.op != "same"] == [
        WordRun("removed", "free"),
        WordRun("added", "around"),
    ]
    html = render(diff_specs(before, after, TEMPLATES))
    assert (tags(html, "ins"), tags(html, "del")) == (["around"], ["free"])


def test_a_body_is_compared_as_its_text_line_by_line():
    before = sequence(written_email(body="<div>Hi Ada,</div><div>Quick question about you.</div>"))
    after = sequence(
        written_email(body="<div>Hi Ada,</div><div>Quick question about your team.</div>")
    )

    (body,) = one_change(before, after).copy

    assert body.runs == [
        WordRun("same", "Hi Ada,\nQuick question about "),
        WordRun("removed", "you."),
        WordRun("added", "your team."),
    ]
    assert (body.formatting, body.links) == ([], [])


def test_neighbouring_word_swaps_read_as_one_change():
    runs = diff.word_runs("the quick fox jumps", "the slow cat jumps")

    assert runs == [
        WordRun("same", "the "),
        WordRun("removed", "quick fox"),
        WordRun("added", "slow cat"),
        WordRun("same", " jumps"),
    ]


def test_a_rewritten_sentence_keeps_no_stray_common_word():
    runs = diff.word_runs(
        "Quick question about your team.", "A longer pitch about the product and the team."
    )

    assert runs == [
        WordRun("removed", "Quick question about your"),
        WordRun("added", "A longer pitch about the product and the"),
        WordRun("same", " team."),
    ]


def test_rewritten_lines_show_as_blocks_of_their_own():
    before = sequence(written_email(body="<div>Hi,</div><div>One two three</div><div>Four</div>"))
    after = sequence(written_email(body="<div>Hi,</div><div>Alpha beta gamma delta</div>"))

    (body,) = one_change(before, after).copy
    html = render(diff_specs(before, after, TEMPLATES))

    assert body.runs == [
        WordRun("same", "Hi,\n"),
        WordRun("removed", "One two three\nFour", block=True),
        WordRun("added", "Alpha beta gamma delta", block=True),
    ]
    assert '<del class="copy-block">One two three\nFour</del>' in html
    assert '<ins class="copy-block">Alpha beta gamma delta</ins>' in html


def test_each_rewritten_line_shows_its_old_words_then_its_new():
    runs = diff.word_runs("Hi,\nOne two three\nFour", "Hi,\nAlpha beta\nGamma")

    assert runs == [
        WordRun("same", "Hi,\n"),
        WordRun("removed", "One two three"),
        WordRun("added", "Alpha beta"),
        WordRun("same", "\n"),
        WordRun("removed", "Four"),
        WordRun("added", "Gamma"),
    ]


def test_a_removed_line_break_is_marked():
    before = sequence(written_email(body="<div>Hi Ada,</div><div>Thanks.</div>"))
    after = sequence(written_email(body="<div>Hi Ada, Thanks.</div>"))

    change = one_change(before, after)
    html = render(diff_specs(before, after, TEMPLATES))

    assert [run.op for run in change.copy[0].runs] == ["same", "removed", "added", "same"]
    assert 'class="copy-break" title="Line break removed">⏎</del>' in html


def test_long_unchanged_stretches_are_folded_with_context():
    words = [f"word{number}" for number in range(200)]
    paragraphs = [" ".join(words[start : start + 20]) for start in range(0, 200, 20)]
    old_body = "".join(f"<div>{text}</div>" for text in paragraphs)
    new_body = old_body.replace("word105", "CHANGED")

    (body,) = one_change(
        sequence(written_email(body=old_body)), sequence(written_email(body=new_body))
    ).copy

    ops = [run.op for run in body.runs]
    assert ops == ["gap", "same", "removed", "added", "same", "gap"]
    shown = "".join(run.text for run in body.runs if run.op == "same")
    assert len(shown.split()) <= 2 * diff.COPY_CONTEXT_WORDS  # the change, not three pages
    assert shown.split()[-1] == "word113" and shown.split()[0] == "word100"
    assert body.runs[0].gap_label == "100 unchanged words"
    # Folded, not lost: the gaps hold every other word, for the reviewer who unfolds them.
    folded = " ".join(run.text for run in body.runs if run.op in ("gap", "same", "removed"))
    assert folded.split() == words

    html = render(
        diff_specs(sequence(written_email(body=old_body)), sequence(written_email(body=new_body)))
    )
    assert "<summary>100 unchanged words</summary>" in html


def test_a_short_text_is_never_folded():
    runs = diff.trim_runs(diff.word_runs("one two three four five", "one two THREE four five"))

    assert [run.op for run in runs] == ["same", "removed", "added", "same"]


def test_a_huge_change_is_shown_whole_rather_than_matched_slowly(monkeypatch):
    monkeypatch.setattr(diff, "_MAX_MATCH_PAIRS", 10)
    runs = diff.word_runs("a b c d e f", "a x c y e f")

    assert runs == [
        WordRun("same", "a "),
        WordRun("removed", "b c d"),
        WordRun("added", "x c y"),
        WordRun("same", " e f"),
    ]


# --- Formatting and links ---------------------------------------------------------------------
def test_bold_italic_and_lists_are_listed_apart_from_the_words():
    before = sequence(
        written_email(
            body="<div>Hi <em>Ada</em>, one quick question</div>"
            "<ul><li>first</li><li>second</li></ul>"
        )
    )
    after = sequence(
        written_email(
            body="<div>Hi Ada, one <strong>quick question</strong></div>"
            "<ol><li>first</li><li>second</li></ol><div>Best</div>"
        )
    )

    (body,) = one_change(before, after).copy

    assert body.formatting == [
        "“Ada,” is no longer italic",
        "“quick question” is now bold",
        "“first second” is now a numbered list (was bulleted)",
    ]
    # The words only changed by the added line (and the list markers).
    assert [run.text for run in body.runs if run.op == "added"] == ["1.", "2.", "\nBest"]


def test_a_paragraph_becoming_a_list_and_back():
    plain = "<div>alpha</div><div>beta</div>"
    listed = "<ul><li>alpha</li><li>beta</li></ul>"

    assert diff.formatting_changes(plain, listed) == ["“alpha beta” is now a bulleted list"]
    assert diff.formatting_changes(listed, plain) == ["“alpha beta” is no longer a bulleted list"]


def test_partly_bold_words():
    assert diff.formatting_changes("<div>quickly</div>", "<div><b>quick</b>ly</div>") == [
        "“quickly” is now partly bold"
    ]


def test_formatting_only_change_says_the_words_are_the_same():
    before = sequence(written_email(body="<div>Quick question about your team.</div>"))
    after = sequence(
        written_email(body="<div>Quick <strong>question</strong> about your team.</div>")
    )

    change = one_change(before, after)
    html = render(diff_specs(before, after, TEMPLATES))

    (body,) = change.copy
    assert body.runs == [] and body.formatting == ["“question” is now bold"]
    assert "The words are the same." in html
    assert "“question” is now bold" in html
    assert change.headline() == "Step 2: body changed"


def test_link_changes_are_listed():
    before = (
        '<div><a href="https://a.example">site</a> <a href="https://docs.example">docs</a> '
        '<a href="https://old.example">gone</a> <a href="https://same.example">same</a></div>'
    )
    after = (
        '<div><a href="https://b.example">site</a> <a href="https://docs.example">the docs</a> '
        '<a href="https://same.example">same</a> <a href="mailto:hi@example.com">write us</a></div>'
    )

    assert diff.link_changes(before, after) == [
        "Link “site”: https://a.example → https://b.example",
        "Link to https://docs.example: “docs” → “the docs”",
        "Link added: “write us” → mailto:hi@example.com",
        "Link removed: “gone” (was https://old.example)",
    ]
    (body,) = one_change(
        sequence(written_email(body=before)), sequence(written_email(body=after))
    ).copy
    assert body.links[0] == "Link “site”: https://a.example → https://b.example"


# --- Escaping ---------------------------------------------------------------------------------
def test_html_in_copy_is_escaped_in_the_diff():
    before = sequence(written_email(subject="Hello", body="<div>Hello there</div>"))
    after = sequence(
        written_email(
            subject="<script>alert(1)</script> Hello",
            # Text that reads as a tag once the body's entities are decoded.
            body="<div>Hello &lt;img src=x onerror=alert(2)&gt; there</div>",
        ),
        written_sms("<b>bold?</b> & more"),
    )

    html = render(diff_specs(before, after, TEMPLATES))

    assert "<script>" not in html and "<img" not in html and "<b>bold" not in html
    assert "<ins>&lt;script&gt;alert(1)&lt;/script&gt; </ins>" in html
    assert "&lt;img src=x onerror=alert(2)&gt; " in html
    assert "&lt;b&gt;bold?&lt;/b&gt; &amp; more" in html


# --- Where the words come from ----------------------------------------------------------------
def test_switching_from_a_template_to_written_copy_names_the_template():
    before = sequence(Step("email", 86400, "t_intro", threading="new_thread", key="2"))
    after = sequence(written_email(email_template_id="t_intro"))

    change = one_change(before, after)

    (source,) = change.fields
    assert source.sentence == "Now written here (was the template “Intro”)"
    # The written words are compared with the template's text the cache holds.
    assert [copy.name for copy in change.copy] == ["body"]  # same subject
    assert change.copy[0].compared_with == "the template “Intro”"
    assert change.headline() == "Step 2: now written here (was the template “Intro”) (+1 more)"
    html = render(diff_specs(before, after, TEMPLATES))
    assert "<dd>Now written here (was the template “Intro”)</dd>" in html
    assert "compared with the template “Intro”" in html


def test_switching_to_a_template_keeps_the_written_copy_in_the_history():
    before = sequence(written_email())
    after = sequence(
        Step(
            "email",
            86400,
            "t_intro",
            threading="new_thread",
            content_source="template",
            subject="Quick question",
            body=BODY,
            key="2",
        )
    )

    change = one_change(before, after)

    assert change.fields[0].sentence == (
        "Now uses the template “Intro” (the written copy is kept in the history)"
    )
    assert change.fields[0].label == "Content"
    # Without the template's text there is nothing to compare with: no "all removed".
    assert one_change(before, after, templates={}).copy == []


def test_switching_with_no_template_picked():
    template_step = Step("sms", 0, content_source="template", key="3")
    before, after = sequence(template_step), sequence(written_sms("Hi"))

    assert one_change(before, after).fields[0].sentence == (
        "Now written here (no template was picked)"
    )
    assert one_change(after, before).fields[0].sentence == (
        "Now uses a shared template (none picked yet; the written copy is kept in the history)"
    )


def test_the_template_a_publish_created_for_written_copy_is_not_a_change():
    before = sequence(written_email())
    after = sequence(written_email(email_template_id="tmpl_created_by_publishing"))

    result = diff_specs(before, after, TEMPLATES)

    assert result.is_empty


def test_copy_left_in_a_template_step_is_not_compared():
    before = sequence(Step("email", 86400, "t_intro", threading="new_thread", subject="a", key="2"))
    after = sequence(Step("email", 86400, "t_intro", threading="new_thread", subject="b", key="2"))

    assert diff_specs(before, after, TEMPLATES).is_empty


# --- New and removed steps, headlines ---------------------------------------------------------
def test_a_new_step_shows_all_of_its_copy_as_added():
    after = sequence(written_email(subject="Hello", body="<div>Line one</div><div>Line two</div>"))

    result = diff_specs(sequence(), after, TEMPLATES)

    (added,) = result.steps
    assert added.title == "Step 2 added"
    assert [(copy.name, copy.kind, copy.runs) for copy in added.copy] == [
        ("subject", "added", [WordRun("added", "Hello")]),
        ("body", "added", [WordRun("added", "Line one\nLine two")]),
    ]
    html = render(result)
    assert "<ins>Hello</ins>" in html and "<ins>Line one\nLine two</ins>" in html


def test_a_new_sequence_shows_every_step_copy_in_full():
    result = diff_specs(None, sequence(written_sms("Hi there")), TEMPLATES)

    assert result.steps[1].copy[0].runs == [WordRun("added", "Hi there")]


def test_a_removed_step_shows_its_copy_folded_as_removed():
    result = diff_specs(sequence(written_sms("Bye now")), sequence(), TEMPLATES)

    (removed,) = result.steps
    assert removed.copy[0].runs == [WordRun("removed", "Bye now")]
    html = render(result)
    assert "<summary>Its copy, as it was</summary>" in html and "<del>Bye now</del>" in html


def test_headlines_name_the_copy_fields_that_changed():
    before = sequence(written_email(), written_sms())
    after = sequence(
        written_email(subject="Another question", body="<div>Hello.</div>"),
        written_sms("Changed"),
    )
    after.steps[1].delay = 2 * 86400

    assert diff_specs(before, after, TEMPLATES).headlines() == [
        "Step 2: wait 1 day → 2 days (+1 more)",
        "Step 3: message changed",
    ]
    subject_only = sequence(written_email(subject="Another question"), written_sms())
    assert diff_specs(before, subject_only, TEMPLATES).headlines() == ["Step 2: subject changed"]
    both = sequence(written_email(subject="x", body="<div>y</div>"), written_sms())
    assert diff_specs(before, both, TEMPLATES).headlines() == ["Step 2: subject and body changed"]


def test_without_copy_words_only_the_changed_fields_are_named():
    before = sequence(written_email())
    after = sequence(written_email(subject="Other", body="<div>Other</div>"))

    result = diff_specs(before, after, TEMPLATES, copy_words=False)

    (change,) = result.steps
    assert [(copy.name, copy.runs) for copy in change.copy] == [("subject", []), ("body", [])]
    assert change.headline() == "Step 2: subject and body changed"


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("<div>Same</div>", "<div>Same</div>"),
        ("<p>Same</p>", "<div>Same</div>"),  # stored before today's rules: cleaned the same
    ],
)
def test_bodies_that_clean_the_same_are_unchanged(old, new):
    assert diff.diff_copy("body", old, new) is None
