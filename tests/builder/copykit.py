"""Helpers the written-copy publishing tests share: a draft whose emails and SMS are written in
their steps, edits to it, and the writes the sandbox received."""

from builder import publishing
from builder.models import OwnedTemplate, Sequence, Step
from tests.conftest import approve

INTRO = "<div>Hi there, <strong>one</strong> quick question.</div>"
FOLLOW_UP = "<div>Just following up on my note.</div>"
SMS = "Hi, did you see my email?"


def written_draft(user, *, name="Copy Test", **step_2):
    """A call, a written email starting the thread, a written reply without a subject of its own
    (it borrows step 2's), and a written SMS. `step_2` overrides the first email's columns."""
    sequence = Sequence.create_draft(name=name, timezone_name="America/New_York", user=user)
    Step.objects.bulk_create(
        [
            Step(sequence=sequence, position=0, step_type="call", delay=0),
            Step(
                sequence=sequence,
                position=1,
                step_type="email",
                delay=86400,
                threading="new_thread",
                content_source="written",
                subject="Quick question",
                body=INTRO,
            ),
            Step(
                sequence=sequence,
                position=2,
                step_type="email",
                delay=3 * 86400,
                threading="old_thread",
                content_source="written",
                subject="",
                body=FOLLOW_UP,
            ),
            Step(
                sequence=sequence,
                position=3,
                step_type="sms",
                delay=86400,
                content_source="written",
                text=SMS,
            ),
        ]
    )
    if step_2:
        Step.objects.filter(sequence=sequence, position=1).update(**step_2)
    return Sequence.objects.get(pk=sequence.pk)


def fresh(sequence):
    return Sequence.objects.get(pk=sequence.pk)


def steps(sequence):
    return fresh(sequence).ordered_steps()


def edit_step(sequence, user, reviewer, position, **values):
    """Change one step's columns as an edit (a revision), then have it approved again."""
    sequence = fresh(sequence)
    with sequence.editing(user=user, loaded_version=sequence.version, summary="Edited"):
        Step.objects.filter(sequence=sequence, position=position).update(**values)
    return approve(fresh(sequence), reviewer)


def publish(sequence, publisher):
    return publishing.publish_sequence(sequence=fresh(sequence), user=publisher)


def writes(sandbox, since=0):
    """(method, path below /api/v1) of every POST and PUT the sandbox received."""
    return [
        (r.method, r.path.removeprefix("/api/v1"))
        for r in sandbox.requests[since:]
        if r.method in ("POST", "PUT")
    ]


def rows(sequence):
    """step position -> its OwnedTemplate."""
    by_key = {row.step_key: row for row in OwnedTemplate.objects.filter(sequence=sequence)}
    return {
        index: by_key[str(step.pk)]
        for index, step in enumerate(steps(sequence))
        if str(step.pk) in by_key
    }


def templates_named(sandbox, name):
    return [t for t in sandbox.email_templates + sandbox.sms_templates if t["name"] == name]


def template(sandbox, template_id):
    return next(
        t for t in sandbox.email_templates + sandbox.sms_templates if t["id"] == template_id
    )
