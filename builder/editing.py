"""Services that change a draft, each inside Sequence.editing(): one transaction, one revision."""

# --- Schedule --------------------------------------------------------------------------------

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from builder import schedule, spec
from builder.models import ScheduleRange, Sequence


def schedule_change_summary(
    *, sequence: Sequence, timezone_name: str, has_schedule: bool, ranges: list[spec.ScheduleRange]
) -> str:
    """ "Schedule: Mon–Fri 09:00–16:59 → Mon–Thu 09:00–16:59; Timezone: A → B", or "" when the
    posted schedule is the saved one."""
    saved_ranges = [r.to_spec() for r in sequence.schedule_ranges.all()]
    ranges = schedule.normalize(ranges)
    saved_effective = saved_ranges if sequence.has_schedule else None
    changes = []
    before = schedule.describe(saved_effective)
    after = schedule.describe(ranges if has_schedule else None)
    if before != after:
        changes.append(f"Schedule: {before} → {after}")
    elif schedule.normalize(saved_ranges) != ranges:  # kept while sending at any time
        changes.append(
            f"Kept hours: {schedule.describe(saved_ranges)} → {schedule.describe(ranges)}"
        )
    if sequence.timezone != timezone_name:
        changes.append(f"Timezone: {sequence.timezone} → {timezone_name}")
    return "; ".join(changes)


@transaction.atomic
def schedule_save(
    *,
    sequence: Sequence,
    user: AbstractBaseUser,
    loaded_version: int,
    timezone_name: str,
    has_schedule: bool,
    ranges: list[spec.ScheduleRange],
) -> str:
    """Save the sending hours, the "only during these hours" switch and the timezone together,
    as one revision; return its summary, or "" when nothing changed (and nothing was saved).

    The ranges must be valid (spec.validate(); the caller shows the problems); they are stored
    in canonical form. Raises EditConflict when someone saved after `loaded_version`.
    """
    summary = schedule_change_summary(
        sequence=sequence, timezone_name=timezone_name, has_schedule=has_schedule, ranges=ranges
    )
    if not summary:
        return ""
    with sequence.editing(user=user, loaded_version=loaded_version, summary=summary):
        sequence.timezone = timezone_name
        sequence.has_schedule = has_schedule
        sequence.save(update_fields=["timezone", "has_schedule"])
        sequence.schedule_ranges.all().delete()
        ScheduleRange.objects.bulk_create(
            ScheduleRange.from_spec(r, sequence=sequence) for r in schedule.normalize(ranges)
        )
    return summary
