"""builder/editing.py: the step editor's services, called as the views call them (no HTTP)."""

import pytest
from django.http import QueryDict

from builder import editing
from builder.models import EditConflict, Sequence, Step
from tests.builder.editor_support import steps_of


def loaded(sequence):
    """The sequence as a view loads it: its steps and schedule read once."""
    return Sequence.objects.prefetch_related("steps", "schedule_ranges").get(pk=sequence.pk)


def call(service, sequence, user, **kwargs):
    sequence = loaded(sequence)
    return service(sequence=sequence, user=user, loaded_version=sequence.version, **kwargs)


def test_add_appends_with_the_kinds_new_values_and_a_days_wait(example_sequence, user):
    edit = call(editing.step_add, example_sequence, user, step_type="email")

    steps = steps_of(example_sequence)
    assert edit.summary == "Added step 4 (email)"
    assert (edit.step.pk, edit.index, edit.count, edit.moved) == (steps[3].pk, 3, 4, ())
    assert (steps[3].delay, steps[3].threading) == (86400, "old_thread")


def test_insert_at_the_top_renumbers_the_others_and_starts_at_once(example_sequence, user):
    before = steps_of(example_sequence)

    edit = call(editing.step_add, example_sequence, user, step_type="call", position=0)

    steps = steps_of(example_sequence)
    assert edit.summary == "Inserted step 1 (call)"
    assert steps[0].pk == edit.step.pk and steps[0].delay == 0
    assert [s.pk for s in steps[1:]] == [s.pk for s in before]
    assert sorted(s.pk for s in edit.moved) == sorted(s.pk for s in before)


def test_duplicate_copies_the_spec_values_but_not_the_close_id(example_sequence, user):
    original = steps_of(example_sequence)[1]
    Step.objects.filter(pk=original.pk).update(close_id="seqstep_1")
    step = next(s for s in loaded(example_sequence).steps.all() if s.pk == original.pk)
    sequence = step.sequence

    edit = editing.step_duplicate(
        sequence=sequence, user=user, loaded_version=sequence.version, step=step
    )

    copy = steps_of(example_sequence)[2]
    assert edit.summary.startswith("Duplicated step 2 as step 3")
    assert copy.spec_columns() == original.spec_columns() and copy.close_id == ""


def test_remove_then_restore_puts_the_same_row_back(example_sequence, user):
    sequence = loaded(example_sequence)
    step = sequence.ordered_steps()[0]
    pk = step.pk

    removed = editing.step_remove(
        sequence=sequence, user=user, loaded_version=sequence.version, step=step
    )
    restored = call(editing.step_restore, example_sequence, user, token=removed.undo["token"])

    assert removed.summary == "Removed step 1 (call)"
    assert restored.summary == "Restored step 1 (call)" and restored.step.pk == pk
    assert steps_of(example_sequence)[0].pk == pk
    with pytest.raises(editing.Refused, match="already back"):
        call(editing.step_restore, example_sequence, user, token=removed.undo["token"])


def test_move_past_the_end_is_refused_and_changes_nothing(example_sequence, user):
    sequence = loaded(example_sequence)
    last = sequence.ordered_steps()[-1]

    with pytest.raises(editing.Refused, match="already the last step"):
        editing.step_move(
            sequence=sequence, user=user, loaded_version=sequence.version, step=last, up=False
        )
    assert Sequence.objects.get(pk=example_sequence.pk).version == example_sequence.version


def test_reorder_with_the_same_order_saves_nothing(example_sequence, user):
    order = [str(s.pk) for s in steps_of(example_sequence)]

    edit = call(editing.steps_reorder, example_sequence, user, order=order)

    assert edit.summary == ""
    assert Sequence.objects.get(pk=example_sequence.pk).version == example_sequence.version


def test_update_refuses_bad_input_with_the_form_and_saves_a_change(example_sequence, user):
    sequence = loaded(example_sequence)
    step = sequence.ordered_steps()[0]

    with pytest.raises(editing.Refused) as refusal:
        editing.step_update(
            sequence=sequence,
            user=user,
            loaded_version=sequence.version,
            step=step,
            data=QueryDict("days=-1&hours=0&minutes=0"),
        )
    assert refusal.value.form is not None and refusal.value.status == 422

    edit = call(
        editing.step_update,
        example_sequence,
        user,
        step=steps_of(example_sequence)[0],
        data=QueryDict("days=2&hours=0&minutes=0"),
    )
    assert edit.summary == "Step 1: delay immediately → 2 days"


def test_a_stale_page_is_refused_as_a_conflict(example_sequence, user):
    sequence = loaded(example_sequence)

    with pytest.raises(EditConflict):
        editing.sequence_rename(
            sequence=sequence, user=user, loaded_version=sequence.version - 1, name="Other"
        )
    edit = call(editing.sequence_rename, example_sequence, user, name="Other")
    assert edit.summary == "Renamed “My Sequence” → “Other”"
