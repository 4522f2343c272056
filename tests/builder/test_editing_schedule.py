"""builder.editing's schedule service: one revision per change, nothing saved when unchanged."""

import pytest

from builder import editing, spec
from builder.models import EditConflict, Sequence
from tests.conftest import make_user

pytestmark = pytest.mark.django_db

MON_TUE = [spec.ScheduleRange(2, "09:00", "11:59"), spec.ScheduleRange(1, "09:00", "16:59")]


@pytest.fixture
def user(django_user_model):
    return make_user(django_user_model, "schedule-editor", "Editor")


@pytest.fixture
def sequence(user):
    return Sequence.create_draft(name="Schedule service", timezone_name="UTC", user=user)


def test_saves_hours_switch_and_timezone_as_one_revision_in_canonical_form(sequence, user):
    summary = editing.schedule_save(
        sequence=sequence,
        user=user,
        loaded_version=sequence.version,
        timezone_name="Europe/Berlin",
        has_schedule=True,
        ranges=MON_TUE,
    )

    sequence.refresh_from_db()
    assert summary == (
        "Schedule: Mon–Fri 09:00–16:59 → Mon 09:00–16:59; Tue 09:00–11:59; "
        "Timezone: UTC → Europe/Berlin"
    )
    assert sequence.version == 2 and sequence.timezone == "Europe/Berlin"
    assert [r.to_spec() for r in sequence.schedule_ranges.all()] == sorted(
        MON_TUE, key=lambda r: r.weekday
    )
    assert sequence.revisions.get(number=2).summary == summary


def test_an_unchanged_schedule_saves_nothing(sequence, user):
    saved = [r.to_spec() for r in sequence.schedule_ranges.all()]
    summary = editing.schedule_save(
        sequence=sequence,
        user=user,
        loaded_version=sequence.version,
        timezone_name="UTC",
        has_schedule=True,
        ranges=saved,
    )
    sequence.refresh_from_db()
    assert summary == "" and sequence.version == 1


def test_a_stale_version_is_refused_and_changes_nothing(sequence, user):
    with pytest.raises(EditConflict):
        editing.schedule_save(
            sequence=sequence,
            user=user,
            loaded_version=sequence.version - 1,
            timezone_name="UTC",
            has_schedule=False,
            ranges=MON_TUE,
        )
    sequence.refresh_from_db()
    assert sequence.version == 1 and sequence.has_schedule
    assert sequence.schedule_ranges.count() == 5
