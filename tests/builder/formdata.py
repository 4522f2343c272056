"""POST data for the editor form, built from what the page shows for a sequence."""

from builder import spec


def edit_form_data(sequence):
    steps = sequence.ordered_steps()
    ranges = list(sequence.schedule_ranges.all())
    data = {
        "name": sequence.name,
        "timezone": sequence.timezone,
        "version": str(sequence.version),
        "steps-TOTAL_FORMS": str(len(steps)),
        "steps-INITIAL_FORMS": str(len(steps)),
        "steps-MIN_NUM_FORMS": "0",
        "steps-MAX_NUM_FORMS": "200",
        "ranges-TOTAL_FORMS": str(len(ranges)),
        "ranges-INITIAL_FORMS": str(len(ranges)),
        "ranges-MIN_NUM_FORMS": "0",
        "ranges-MAX_NUM_FORMS": "100",
    }
    if sequence.has_schedule:
        data["has_schedule"] = "on"
    for index, step in enumerate(steps):
        days, hours, minutes = spec.split_delay(step.delay)
        prefix = f"steps-{index}-"
        data |= {
            prefix + "id": str(step.pk),
            prefix + "step_type": step.step_type,
            prefix + "days": str(days),
            prefix + "hours": str(hours),
            prefix + "minutes": str(minutes),
            prefix + "email_template_id": step.email_template_id,
            prefix + "sms_template_id": step.sms_template_id,
        }
        if step.threading == "old_thread":
            data[prefix + "reply_in_thread"] = "on"
        if step.required:
            data[prefix + "required"] = "on"
    for index, schedule_range in enumerate(ranges):
        prefix = f"ranges-{index}-"
        data |= {
            prefix + "id": str(schedule_range.pk),
            prefix + "weekday": str(schedule_range.weekday),
            prefix + "start": f"{schedule_range.start:%H:%M}",
            prefix + "end": f"{schedule_range.end:%H:%M}",
        }
    return data
