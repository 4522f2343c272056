"""Revisions store their steps by reference (StepSnapshot, builder/snapshots.py): a save writes
only the steps it changed, and every reader gets the whole spec back through the accessor."""

import importlib

from django.apps import apps
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from builder import editing, snapshots, spec
from builder.models import Revision, Sequence, Step, StepSnapshot
from tests.builder.editor_support import steps_of

migration = importlib.import_module("builder.migrations.0012_speed")


def _written(user, count=5):
    sequence = Sequence.create_draft(name="Snapshots", timezone_name="Europe/Berlin", user=user)
    Step.objects.bulk_create(
        Step(
            sequence=sequence,
            position=i,
            step_type="email",
            delay=86400 if i else 0,
            threading="new_thread" if i == 0 else "old_thread",
            content_source="written",
            subject=f"Subject {i}",
            body=f"<div>Body {i}: {'words ' * 150}</div>",
        )
        for i in range(count)
    )
    return Sequence.objects.get(pk=sequence.pk)


def _edit_wait(sequence, user, index, days):
    sequence = Sequence.objects.prefetch_related("steps", "schedule_ranges").get(pk=sequence.pk)
    editing.step_update(
        sequence=sequence,
        user=user,
        loaded_version=sequence.version,
        step=sequence.ordered_steps()[index],
        data={"days": str(days), "hours": "0", "minutes": "0"},
    )


def test_a_revision_reads_back_exactly_the_spec_it_recorded(db, user):
    sequence = _written(user)
    _edit_wait(sequence, user, 2, 4)

    revision = Revision.objects.get(sequence=sequence, number=2)
    stored = Sequence.objects.get(pk=sequence.pk).to_spec()
    assert revision.to_spec() == stored
    assert revision.snapshot_data() == spec.to_snapshot(stored)
    # The steps are not in the revision's own row: only their digests, in order.
    assert "steps" not in revision.snapshot and len(revision.step_digests) == 5


def test_a_save_stores_only_the_steps_it_changed(db, user):
    sequence = _written(user)
    _edit_wait(sequence, user, 1, 3)
    before = set(StepSnapshot.objects.values_list("digest", flat=True))
    first = Revision.objects.get(sequence=sequence, number=2).step_digests

    _edit_wait(sequence, user, 3, 6)

    after = set(StepSnapshot.objects.values_list("digest", flat=True))
    latest = Revision.objects.filter(sequence=sequence).order_by("-number").first()
    assert len(after - before) == 1  # step 4's new version, nothing else
    assert [a == b for a, b in zip(first, latest.step_digests, strict=True)] == [
        True,
        True,
        True,
        False,
        True,
    ]


def test_a_step_version_is_stored_once_and_its_digest_is_its_content(db, user):
    sequence = _written(user, count=2)
    _edit_wait(sequence, user, 1, 2)
    revision = Revision.objects.filter(sequence=sequence).order_by("-number").first()
    for digest, data in zip(revision.step_digests, revision.snapshot_data()["steps"], strict=True):
        assert snapshots.digest_of(data) == digest
        assert StepSnapshot.objects.filter(digest=digest).count() == 1


def test_the_migration_moves_existing_steps_out_and_back(db, user):
    sequence = _written(user, count=3)
    whole = spec.to_snapshot(Sequence.objects.get(pk=sequence.pk).to_spec())
    old = Revision.objects.create(sequence=sequence, number=99, snapshot=whole, step_digests=[])
    assert old.snapshot_data() == whole  # a revision recorded whole still reads

    migration.steps_by_reference(apps, None)

    old.refresh_from_db()
    assert "steps" not in old.snapshot and len(old.step_digests) == 3
    assert old.snapshot_data() == whole and old.to_spec() == spec.from_snapshot(whole)

    migration.steps_inline(apps, None)

    old.refresh_from_db()
    assert old.snapshot["steps"] == whole["steps"]


def test_the_history_page_reads_every_revision_s_steps_in_one_query(logged_in, user):
    def queries_for(sequence):
        url = reverse("sequence_history", args=[sequence.pk])
        logged_in.get(url)
        with CaptureQueriesContext(connection) as queries:
            assert logged_in.get(url).status_code == 200
        return len(queries)

    short, long = _written(user, count=2), _written(user, count=2)
    for days in range(2, 4):
        _edit_wait(short, user, 1, days)
    for days in range(2, 12):
        Revision.objects.filter(sequence=long).update(is_open=False)  # one revision per save
        _edit_wait(long, user, 1, days)

    assert (
        Revision.objects.filter(sequence=long).count()
        > Revision.objects.filter(sequence=short).count()
    )
    assert queries_for(long) == queries_for(short)
    assert len(steps_of(long)) == 2
