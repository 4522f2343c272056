"""Helpers shared by the review tests: valid templates in the cache, edits through editing()."""

from django.db.models import F

from builder.models import REVISION_PAUSE, CloseTemplate, Revision, Sequence, Step
from tests.conftest import EXAMPLE_EMAIL_1, EXAMPLE_EMAIL_2

INTRO_BODY = "<p>Hi {{ contact.first_name }},</p><p>Quick question about your team.</p><p>Best,</p>"
FOLLOW_UP_BODY = "<p>Hi {{ contact.first_name }},</p><p>Following up on my note.</p><p>Best,</p>"


def cache_example_templates():
    """The two templates of Close's example, shared and live, as after a sync (no HTTP)."""
    CloseTemplate.objects.create(
        close_id=EXAMPLE_EMAIL_1,
        kind="email",
        name="Intro",
        subject="Quick question",
        body=INTRO_BODY,
        is_shared=True,
    )
    CloseTemplate.objects.create(
        close_id=EXAMPLE_EMAIL_2,
        kind="email",
        name="Follow-up",
        subject="Re: quick question",
        body=FOLLOW_UP_BODY,
        is_shared=True,
    )


def edit(sequence, user, summary="Edited", **step_2):
    """Save a change through Sequence.editing(), as the editor does: step 2's fields, or the
    name when `name=` is given.

    Each call is a sitting of its own, a revision of its own: the editor then pauses longer
    than REVISION_PAUSE (the clock moved on), so the next save does not extend this revision
    (test_revision_grouping.py tests the grouping itself)."""
    name = step_2.pop("name", None)
    sequence.refresh_from_db()
    with sequence.editing(user=user, loaded_version=sequence.version, summary=summary):
        if name is not None:
            Sequence.objects.filter(pk=sequence.pk).update(name=name)
            sequence.name = name
        if step_2:
            Step.objects.filter(sequence=sequence, position=1).update(**step_2)
    Revision.objects.filter(sequence=sequence, is_open=True).update(
        created_at=F("created_at") - REVISION_PAUSE
    )
    return sequence


def fresh(sequence):
    return Sequence.objects.get(pk=sequence.pk)
