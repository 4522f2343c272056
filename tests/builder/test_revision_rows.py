"""A step edit records its revision from the rows the request loaded and saved (one read of the
rows per request), and those rows are exactly what is stored."""

from django.db.models import prefetch_related_objects

from builder import editing
from builder.models import Sequence, Step
from tests.builder.editor_support import steps_of


def _loaded(sequence):
    """The sequence as the editor loads it: steps and schedule prefetched once."""
    sequence = Sequence.objects.get(pk=sequence.pk)
    prefetch_related_objects([sequence], "steps", "schedule_ranges")
    return sequence


def _draft(user, count=3):
    sequence = Sequence.create_draft(name="Rows", timezone_name="Europe/Berlin", user=user)
    Step.objects.bulk_create(
        Step(sequence=sequence, position=i, step_type="call", delay=86400 if i else 0)
        for i in range(count)
    )
    return sequence


def _latest_spec(sequence):
    return Sequence.objects.get(pk=sequence.pk).revisions.order_by("-number").first().to_spec()


def test_publishing_bookkeeping_written_after_the_load_is_in_the_revision_and_the_rows(db, user):
    sequence = _draft(user)
    loaded = _loaded(sequence)
    first = steps_of(sequence)[0]
    # A publish finishing meanwhile stores Close's step id, without a new version.
    Step.objects.filter(pk=first.pk).update(close_id="seqstep_published")

    editing.step_move(
        sequence=loaded,
        user=user,
        loaded_version=loaded.version,
        step=loaded.ordered_steps()[0],
        up=False,
    )

    recorded = _latest_spec(sequence)
    assert [s.key for s in recorded.steps] == [str(s.pk) for s in steps_of(sequence)]
    by_key = {s.key: s for s in recorded.steps}
    assert by_key[str(first.pk)].close_id == "seqstep_published"
    # The object's rows are the stored ones, in their new order (what the answer shows).
    shown = loaded.ordered_steps()
    assert [s.pk for s in shown] == [s.pk for s in steps_of(sequence)]
    assert next(s for s in shown if s.pk == first.pk).close_id == "seqstep_published"
    assert loaded.problems() == Sequence.objects.get(pk=sequence.pk).problems()


def test_a_row_added_outside_the_editor_is_read_again_not_lost(db, user):
    sequence = _draft(user)
    loaded = _loaded(sequence)
    # The admin or a script adds a row without going through Sequence.editing().
    extra = Step.objects.create(sequence=sequence, position=3, step_type="call", delay=60)

    editing.step_add(sequence=loaded, user=user, loaded_version=loaded.version, step_type="call")

    keys = [s.key for s in _latest_spec(sequence).steps]
    assert str(extra.pk) in keys
    assert keys == [str(s.pk) for s in steps_of(sequence)]
    assert [s.pk for s in loaded.ordered_steps()] == [s.pk for s in steps_of(sequence)]


def test_the_recorded_revision_equals_the_rows_read_again(db, user):
    sequence = _draft(user, count=4)
    loaded = _loaded(sequence)
    step = loaded.ordered_steps()[2]

    editing.step_update(
        sequence=loaded,
        user=user,
        loaded_version=loaded.version,
        step=step,
        data={"days": "5", "hours": "0", "minutes": "0", "required": "on"},
    )

    assert _latest_spec(sequence) == Sequence.objects.get(pk=sequence.pk).to_spec()
