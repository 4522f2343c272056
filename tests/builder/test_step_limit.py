"""One step limit (spec.MAX_STEPS, 200), enforced by spec.validate for every way steps arrive:
the editor's Add step, a JSON file, an import from Close, and publishing."""

import html
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from builder import close, publishing, spec
from builder.models import PublishAttempt, Sequence, Step
from tests.conftest import approve

pytestmark = pytest.mark.django_db

LIMIT = 200  # the product rule; the test names it so a silent change of the constant shows


def calls(count):
    return [{"step_type": "call", "delay": 3600, "required": True} for _ in range(count)]


def sequence_json(count):
    return {"name": "Long", "timezone": "Europe/Paris", "schedule": None, "steps": calls(count)}


def text(response):
    return html.unescape(response.content.decode())


def test_the_limit_lives_in_the_spec_and_validate_enforces_it():
    at_limit = spec.from_close(sequence_json(LIMIT))
    over = spec.from_close(sequence_json(LIMIT + 1))

    assert spec.MAX_STEPS == LIMIT
    assert not spec.blocking(spec.validate(at_limit))
    problems = spec.blocking(spec.validate(over))
    assert [(p.path, p.code) for p in problems] == [("steps", "steps_too_many")]
    assert problems[0].message == "A sequence can have at most 200 steps; this one has 201."


def test_a_file_over_the_limit_is_refused_and_creates_nothing(logged_in):
    raw = json.dumps(sequence_json(3000)).encode()
    upload = SimpleUploadedFile("long.json", raw, content_type="application/json")

    response = logged_in.post(reverse("sequence_import_file"), {"file": upload})

    assert response.status_code == 400
    assert "A sequence can have at most 200 steps; this one has 3000." in text(response)
    assert not Sequence.objects.exists() and not Step.objects.exists()


def test_a_close_sequence_over_the_limit_is_refused_and_creates_nothing(logged_in, sandbox):
    made = sandbox.add_ui_sequence(sequence_json(LIMIT + 1))

    response = logged_in.post(reverse("sequence_import_close"), {"close_id": made["id"]})

    assert response.status_code == 400
    assert "A sequence can have at most 200 steps; this one has 201." in text(response)
    assert not Sequence.objects.exists()


def test_an_approved_sequence_over_the_limit_is_not_published(user, reviewer, publisher, sandbox):
    # Rows written before the limit was enforced everywhere (the old file import made these).
    sequence = Sequence.create_draft(name="Long", timezone_name="Europe/Paris", user=user)
    Step.objects.bulk_create(
        Step(sequence=sequence, position=index, step_type="call", delay=3600)
        for index in range(LIMIT + 1)
    )
    approve(sequence, reviewer)

    with pytest.raises(publishing.PublishRefused, match="at most 200 steps"):
        publishing.publish_sequence(
            sequence=sequence, user=publisher, client=close.client_from_settings()
        )

    assert sandbox.requests == []
    assert not PublishAttempt.objects.exists()


def test_the_editor_refuses_the_step_after_the_limit(logged_in, user):
    sequence = Sequence.create_draft(name="Long", timezone_name="Europe/Paris", user=user)
    Step.objects.bulk_create(
        Step(sequence=sequence, position=index, step_type="call", delay=3600)
        for index in range(LIMIT)
    )

    response = logged_in.post(
        reverse("step_add", args=[sequence.pk]),
        {"step_type": "call", "version": sequence.version},
    )

    assert response.status_code in (400, 409, 422)
    assert "at most 200 steps" in text(response)
    assert sequence.steps.count() == LIMIT
