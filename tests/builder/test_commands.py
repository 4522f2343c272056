from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from builder import spec
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
    example = Sequence.objects.get()
    assert [step.step_type for step in example.ordered_steps()] == ["call", "email", "email"]
    assert spec.blocking(example.problems()) == []
    # Its history starts with the steps in it, ready to submit for review.
    assert example.revisions.first().to_spec() == example.to_spec()
    reviewer = get_user_model().objects.get(username="reviewer")
    assert {g.name for g in reviewer.groups.all()} == {"Reviewer", "Publisher"}
