from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from builder import copytext, spec, steps
from builder.management.commands import seed_demo
from builder.models import CloseTemplate, Sequence

pytestmark = pytest.mark.django_db


def test_sync_templates_command_fills_the_cache(sandbox):
    out = StringIO()

    call_command("sync_templates", stdout=out)

    assert CloseTemplate.objects.count() == len(sandbox.email_templates) + len(
        sandbox.sms_templates
    )
    assert "Synced" in out.getvalue()


def test_sync_templates_command_fails_clearly_on_a_bad_key(sandbox, settings):
    settings.CLOSE_API_KEY = "bad-key-424242"

    with pytest.raises(CommandError, match="API key") as error:
        call_command("sync_templates", stdout=StringIO())
    assert "bad-key-424242" not in str(error.value)


def test_seed_demo_creates_a_login_and_a_publishable_example_once(sandbox):
    out = StringIO()

    call_command("seed_demo", stdout=out)
    call_command("seed_demo", stdout=StringIO())

    user = get_user_model().objects.get(username="demo")
    assert user.check_password("demo-sequences")
    assert "demo-sequences" in out.getvalue()
    example = Sequence.objects.get(name="Example: call, then two emails")
    assert [step.step_type for step in example.ordered_steps()] == ["call", "email", "email"]
    assert spec.blocking(example.problems()) == []
    # Its history starts with the steps in it, ready to submit for review.
    assert example.revisions.first().to_spec() == example.to_spec()
    reviewer = get_user_model().objects.get(username="reviewer")
    assert {g.name for g in reviewer.groups.all()} == {"Reviewer", "Publisher"}


def test_seed_demo_adds_an_example_whose_copy_is_written_in_the_app_once(sandbox):
    out = StringIO()

    call_command("seed_demo", stdout=out)
    call_command("seed_demo", stdout=StringIO())

    assert "Added the example draft “Example: copy written here”." in out.getvalue()
    assert Sequence.objects.count() == 2
    example = Sequence.objects.get(name=seed_demo.WRITTEN_EXAMPLE_NAME)
    first, reply, text = example.ordered_steps()
    assert [(s.step_type, s.content_source) for s in (first, reply, text)] == [
        ("email", "written"),
        ("email", "written"),
        ("sms", "written"),
    ]
    assert not any(s.email_template_id or s.sms_template_id for s in (first, reply, text))
    # What the editor offers, used for real: merge fields with fallbacks, a list, a link.
    assert "{{ lead.display_name }}" in first.subject
    assert '{{ contact.first_name | default:"there" }}' in first.body
    assert "<ul><li>" in first.body
    assert copytext.body_links(first.body) == [
        (
            "Read how Northwind cut follow-up time by 40%",
            "https://example.com/case-studies/northwind",
        )
    ]
    assert '{{ contact.first_name | default:"there" }}' in text.text
    examples = {field.tag: field.example for field in copytext.MERGE_FIELDS}
    assert copytext.sms_length(copytext.render(text.text, examples)).segments == 1
    # Stored as the editor stores a body, and valid with nothing to warn about either.
    assert all(s.body == copytext.clean_body(s.body) for s in (first, reply))
    assert example.problems() == []
    assert example.revisions.first().to_spec() == example.to_spec()
    assert all(steps.is_written(step) for step in example.to_spec().steps)


def test_seed_demo_adds_the_written_example_when_only_it_is_missing(sandbox):
    call_command("seed_demo", stdout=StringIO())
    Sequence.objects.filter(name=seed_demo.WRITTEN_EXAMPLE_NAME).delete()

    call_command("seed_demo", stdout=StringIO())

    assert sorted(Sequence.objects.values_list("name", flat=True)) == [
        "Example: call, then two emails",
        "Example: copy written here",
    ]
