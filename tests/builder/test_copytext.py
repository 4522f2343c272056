"""The copy's rules (builder/copytext.py): merge tags, the body's HTML subset, SMS length."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from builder import copytext, spec

# --- Merge tags ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "path", "fallback"),
    [
        ("{{ contact.first_name }}", "contact.first_name", None),
        ("{{contact.first_name}}", "contact.first_name", None),
        ('{{ contact.first_name | default:"there" }}', "contact.first_name", "there"),
        ("{{ contact.first_name|default:'friend' }}", "contact.first_name", "friend"),
        ("{{ contact.first_name | default:&quot;there&quot; }}", "contact.first_name", "there"),
        ("{{ lead.custom.Industry }}", "lead.custom.Industry", None),
        ("{{ contact.phones.0.phone }}", "contact.phones.0.phone", None),
    ],
)
def test_a_known_tag_is_read_with_its_fallback(text, path, fallback):
    [use] = copytext.tags_in(f"Hi {text}!")
    assert (use.path, use.fallback, use.problem) == (path, fallback, "")


@pytest.mark.parametrize(
    ("text", "code", "words"),
    [
        ("Hi {{ contact.first_name", "merge_tag_unbalanced", "without its closing"),
        ("Hi contact.first_name }}", "merge_tag_unbalanced", "without its “{{”"),
        ("{{ contact.first_name {{ lead.display_name }}", "merge_tag_unbalanced", "closing"),
        ("{% if x %}hi{% endif %}", "merge_tag_unbalanced", "template logic"),
        ("{{ contact.nickname }}", "merge_tag_unknown", "unknown merge field “contact.nickname”"),
        ("{{ contact.first_name | upper }}", "merge_tag_unknown", "only default"),
        ("{{ contact.custom.x }}", "merge_tag_unknown", "unknown"),
        ("{{ <strong>contact</strong>.first_name }}", "merge_tag_unbalanced", "formatting"),
        ("{{ }}", "merge_tag_unbalanced", "cannot be read"),
    ],
)
def test_unreadable_and_unknown_tags_block(text, code, words):
    problem, *_ = [p for p in copytext.tag_problems(text) if p.blocking]
    assert problem.code == code
    assert words in problem.message


def test_a_name_without_fallback_is_a_warning_and_with_one_is_fine():
    [problem] = copytext.tag_problems("Hi {{ contact.first_name }},")
    assert (problem.code, problem.blocking) == ("merge_tag_no_fallback", False)
    assert "Hi ," in problem.message
    assert copytext.tag_problems('Hi {{ contact.first_name | default:"there" }},') == ()
    assert copytext.tag_problems("About {{ lead.display_name }}") == ()  # never empty


def test_used_fields_are_listed_once_in_order():
    assert copytext.used_fields(
        "{{ lead.display_name }}", "Hi {{ contact.first_name }} {{ lead.display_name }} {{ x }}"
    ) == ["lead.display_name", "contact.first_name"]


def test_the_local_renderer_uses_values_then_fallbacks_and_marks_empties():
    text = (
        'Hi {{ contact.first_name | default:"there" }}, about {{ lead.display_name }}'
        "{{ contact.last_name }}"
    )
    parts = copytext.render_parts(text, {"lead.display_name": "Acme <Ltd>"}.get)
    assert "".join(part.text for part in parts) == "Hi there, about Acme <Ltd>"
    assert [part.tag for part in parts if part.empty] == ["contact.last_name"]
    assert copytext.render(text, {"lead.display_name": "A&B"}, escape=True).endswith("A&amp;B")


# --- The body's HTML -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dirty", "clean"),
    [
        (
            "<div>Hi <b>there</b> <i>you</i></div>",
            "<div>Hi <strong>there</strong> <em>you</em></div>",
        ),
        ("<p>One</p><p>Two</p>", "<div>One</div><div>Two</div>"),
        ("<div>x<script>alert(1)</script></div>", "<div>x</div>"),
        ('<div onclick="alert(1)">x</div>', "<div>x</div>"),
        ('<a href="javascript:alert(1)">x</a>', '<a rel="noopener noreferrer">x</a>'),
        (
            '<a href="https://example.com" target="_blank">x</a>',
            '<a href="https://example.com" rel="noopener noreferrer">x</a>',
        ),
        (
            '<a href="mailto:a@example.com">x</a>',
            '<a href="mailto:a@example.com" rel="noopener noreferrer">x</a>',
        ),
        ('<svg><a href="https://x.test">y</a><script>1</script></svg>ok', "ok"),  # foreign content
        ('<img src=x onerror="alert(1)">hi', "hi"),
        ('<span style="font-weight:700">Docs</span>', "Docs"),
        ("<ul><li>a</li></ul><ol><li>b</li></ol>", "<ul><li>a</li></ul><ol><li>b</li></ol>"),
        ("<!-- x -->ok", "ok"),
    ],
)
def test_a_body_is_cleaned_to_the_editors_subset(dirty, clean):
    assert copytext.clean_body(dirty) == clean


@given(
    st.text(alphabet=st.sampled_from(list("<>/=\"' abdiv{}:ljsrcptfhonemgLIU&;#x")), max_size=80)
)
def test_cleaning_is_idempotent(text):
    once = copytext.clean_body(text)
    assert copytext.clean_body(once) == once


def test_body_text_and_links():
    body = (
        "<div>Hi <strong>Ada</strong>,</div><ul><li>one</li><li>two</li></ul>"
        '<ol><li>x</li></ol><div><a href="https://e.test">site</a></div>'
    )
    assert copytext.body_text(body) == "Hi Ada,\n• one\n• two\n1. x\nsite"
    assert copytext.body_links(body) == [("site", "https://e.test")]
    assert copytext.is_blank_body("<div><br></div>")


# --- SMS length ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "encoding", "segments", "units"),
    [
        ("", "GSM-7", 0, 0),
        ("a" * 160, "GSM-7", 1, 160),
        ("a" * 161, "GSM-7", 2, 161),
        ("a" * 306, "GSM-7", 2, 306),
        ("a" * 307, "GSM-7", 3, 307),
        ("€" * 80, "GSM-7", 1, 160),  # the extension set counts two
        ("é" * 10, "GSM-7", 1, 10),
        ("ç", "UCS-2", 1, 1),  # lower-case ç is not in GSM 03.38
        ("😀" * 35, "UCS-2", 1, 70),  # a surrogate pair is two units
        ("😀" * 36, "UCS-2", 2, 72),
        ("ü" + "ł" * 70, "UCS-2", 2, 71),
    ],
)
def test_sms_length(text, encoding, segments, units):
    length = copytext.sms_length(text)
    assert (length.encoding, length.segments, length.units) == (encoding, segments, units)


def test_sms_sentence():
    assert copytext.sms_length("Hi").sentence() == "2 characters · 1 SMS segment (GSM-7)"


# --- Spec checks on written steps ----------------------------------------------------------------


def _codes(*steps):
    sequence = spec.SequenceSpec(name="Copy", timezone="Europe/Berlin", steps=list(steps))
    return [(p.path, p.code, p.severity) for p in spec.validate(sequence)]


def test_written_copy_is_checked_instead_of_a_template():
    email = spec.Step("email", threading="new_thread", content_source="written")
    sms = spec.Step("sms", content_source="written")
    assert _codes(email, sms) == [
        ("steps.0.subject", "copy_subject_required", "error"),
        ("steps.0.body", "copy_body_required", "error"),
        ("steps.1.text", "copy_text_required", "error"),
    ]


def test_a_reply_may_leave_its_subject_empty_and_tags_are_checked():
    first = spec.Step(
        "email", threading="new_thread", content_source="written", subject="Hi", body="<div>x</div>"
    )
    reply = spec.Step(
        "email",
        threading="old_thread",
        content_source="written",
        body="<div>Hi {{ contact.first_name }} {{ contact.shoe_size }}</div>",
    )
    sms = spec.Step("sms", content_source="written", text="x" * 1001)
    assert _codes(first, reply, sms) == [
        ("steps.1.body", "merge_tag_no_fallback", "warning"),
        ("steps.1.body", "merge_tag_unknown", "error"),
        ("steps.2.text", "copy_text_too_long", "error"),
    ]


def test_the_copy_never_reaches_the_sequence_payload():
    step = spec.Step(
        "email",
        email_template_id="tmpl_1",
        threading="new_thread",
        content_source="written",
        subject="S",
        body="<div>B</div>",
    )
    sequence = spec.SequenceSpec(name="Copy", timezone="Europe/Berlin", steps=[step])
    assert spec.to_close_payload(sequence)["steps"] == [
        {"step_type": "email", "delay": 0, "email_template_id": "tmpl_1", "threading": "new_thread"}
    ]
