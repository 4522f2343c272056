"""The step editor's changes, one service each: add, insert, duplicate, remove, restore (Undo),
move, reorder and update a step, and rename the sequence.

Every service:
  - checks everything before writing, so a refusal (`Refused`) leaves nothing half-saved;
  - writes inside `sequence.editing(loaded_version=...)`, which refuses a page that is out of
    date (EditConflict names who saved) and records a revision with a one-line `summary`;
  - reads the kinds from the registry (builder/steps.py) and copies step values through the one
    spec <-> row mapping (Step.from_spec / spec_columns).

The sequence comes with its steps prefetched (the editor loads them once per request); the
services keep that list, not the database, as the order the page showed.
"""

from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.core import signing
from django.db import transaction

from builder import copytext, diff, schedule, spec
from builder import steps as step_kinds
from builder.forms import StepFieldsForm
from builder.models import CloseTemplate, Comment, ScheduleRange, Sequence, Step

UNDO_SALT = "builder.editor.undo-remove"
UNDO_MAX_AGE = 60 * 60  # seconds an "Undo" of a removal stays valid
FOLLOW_UP_DELAY = 86400  # a step added after others waits a day; the first one starts at once
MAX_STEPS = spec.MAX_STEPS  # the one limit, enforced by spec.validate on every path
MAX_SUBJECT_LENGTH = Step._meta.get_field("subject").max_length


class Refused(Exception):
    """Bad input: nothing was changed. `message` tells the user why.

    `status` follows the app's one refusal convention (base.html's htmx-config): 422 for input
    that is not valid, 409 when the sequence changed under the page. htmx swaps both like a 200,
    so the fragments that explain the refusal reach the page in production and with DEBUG on
    (django-htmx's debug script replaces the whole page for a 400, 403, 404 or 500).
    """

    def __init__(self, message, *, status=422, form=None, name_error=False):
        super().__init__(message)
        self.message = message
        self.status = status
        self.form = form  # a StepFieldsForm with errors, shown inline in its card
        self.name_error = name_error  # the message belongs under the Name field


@dataclass
class Edit:
    """What a service did: its summary ("" when nothing changed) and the step it was about."""

    summary: str
    step: Step | None = None
    index: int = 0  # where `step` is now (0-based) in the list of `count` steps
    count: int = 0
    # The rows whose position changed besides `step` (their numbers, days and buttons moved).
    moved: tuple = ()
    undo: dict | None = None  # after a removal: {"message", "token"} for the Undo button
    picked: bool = False  # an update that chose a template from the picker
    # An update that switched between written copy and a shared template (the card's content
    # part changes from boxes to the picker or back).
    switched: bool = False


# --- Services --------------------------------------------------------------------------------


def sequence_rename(
    *, sequence: Sequence, user: AbstractBaseUser, loaded_version: int, name: str
) -> Edit:
    old_name = sequence.name
    if name == old_name:
        return Edit(summary="")
    summary = f"Renamed “{old_name}” → “{name}”"
    steps = sequence.ordered_steps()
    with sequence.editing(user=user, loaded_version=loaded_version, summary=summary, steps=steps):
        Sequence.objects.filter(pk=sequence.pk).update(name=name)
        sequence.name = name
    return Edit(summary=summary)


def step_update(
    *, sequence: Sequence, user: AbstractBaseUser, loaded_version: int, step: Step, data
) -> Edit:
    """Save one card's fields (`data`, as the card posts them): the wait, threading, Required,
    or a template from the picker."""
    kind = step_kinds.kind_of(step.step_type)
    steps = sequence.ordered_steps()
    if not kind.editable:
        raise Refused(
            f"Step {steps.index(step) + 1} is kept as it is in Close: it cannot be edited."
        )
    # The first email's box is locked (it starts the thread), so it posts no choice: keep the
    # stored one for when the step moves after another email.
    is_first_email = step is _first_email(steps)
    form = StepFieldsForm(data, step=step, thread_locked=is_first_email)
    if not form.is_valid():
        raise Refused(first_error(form), form=form)
    before = _step_values(step)
    form.apply()
    after = _step_values(step)
    changes = _describe_changes(before, after)
    index = steps.index(step)
    summary = f"Step {index + 1}: {changes}" if changes else ""
    if summary:
        with sequence.editing(
            user=user, loaded_version=loaded_version, summary=summary, steps=steps
        ):
            step.save(update_fields=_changed_fields(step, before, after))
    picked = bool(data.get(kind.template_field or "", ""))
    switched = before["content_source"] != after["content_source"]
    return Edit(
        summary=summary,
        step=step,
        index=index,
        count=len(steps),
        picked=picked,
        switched=switched,
    )


def step_copy_template(
    *, sequence: Sequence, user: AbstractBaseUser, loaded_version: int, step: Step
) -> Edit:
    """ "Edit a copy": the picked shared template's words become the step's own written copy.

    The subject and body (cleaned to the editor's subset) or the SMS text are copied from the
    cached template; the step stops pointing at the shared template (publishing makes the copy a
    template of its own), and the shared one is left as it is."""
    kind = step_kinds.kind_of(step.step_type)
    steps = sequence.ordered_steps()
    number = steps.index(step) + 1
    if not kind.copy_fields or not kind.template_field:
        raise Refused(f"Step {number} has no words to copy: it is not an email or an SMS.")
    if step_kinds.is_written(step):
        raise Refused(f"Step {number} is already written here: there is no template to copy.")
    template_id = getattr(step, kind.template_field)
    if not template_id:
        raise Refused(f"Step {number} has no template yet: pick one, or write it here.")
    template = CloseTemplate.objects.filter(close_id=template_id, kind=kind.key).first()
    if template is None:
        raise Refused(
            f"Step {number}'s template is not in the local copy of Close's templates: "
            "sync templates, then try again."
        )
    # What each copy field takes from a template (an SMS template's text is its body).
    subject = " ".join(template.subject.splitlines())
    words = {
        "subject": subject,
        "body": copytext.clean_body(template.body),
        "text": template.body.replace("\r\n", "\n"),
    }
    if "subject" in kind.copy_fields and len(subject) > MAX_SUBJECT_LENGTH:
        raise Refused(
            f"The template's subject is longer than {MAX_SUBJECT_LENGTH} characters, the most a "
            "step's subject holds: shorten it in Close, sync templates, then try again."
        )
    before = _step_values(step)
    for name in kind.copy_fields:
        setattr(step, name, words[name])
    step.content_source = step_kinds.WRITTEN
    setattr(step, kind.template_field, "")
    after = _step_values(step)
    summary = f"Step {number}: copied the template “{template.name}” to edit it here"
    with sequence.editing(user=user, loaded_version=loaded_version, summary=summary, steps=steps):
        step.save(update_fields=_changed_fields(step, before, after))
    return Edit(summary=summary, step=step, index=number - 1, count=len(steps), switched=True)


def step_add(
    *,
    sequence: Sequence,
    user: AbstractBaseUser,
    loaded_version: int,
    step_type: str,
    position: int | None = None,
) -> Edit:
    """ "Add email step" (at the end, `position` None) or "Insert step" (before `position`)."""
    steps = _room_for_one_more(sequence)
    if position is None:
        position = len(steps)
    elif position > len(steps):
        raise Refused("That place in the list does not exist any more: reload the page.")
    before = list(steps)
    step = Step(
        sequence=sequence,
        step_type=step_type,
        delay=FOLLOW_UP_DELAY if position else 0,
        **step_kinds.kind_of(step_type).new_step_values,
    )
    steps.insert(position, step)
    if step is _first_email(steps):
        step.threading = "new_thread"  # a new first email: the default, nobody chose a reply
    verb = "Added" if position == len(steps) - 1 else "Inserted"
    return _save_new_step(
        sequence=sequence,
        user=user,
        loaded_version=loaded_version,
        steps=steps,
        before=before,
        step=step,
        what=f"{verb} step {position + 1} ({step_type})",
    )


def step_duplicate(
    *, sequence: Sequence, user: AbstractBaseUser, loaded_version: int, step: Step
) -> Edit:
    if not step_kinds.kind_of(step.step_type).editable:
        number = sequence.ordered_steps().index(step) + 1
        raise Refused(f"Step {number} is kept as it is in Close: it cannot be copied.")
    steps = _room_for_one_more(sequence)
    before = list(steps)
    index = steps.index(step)
    copy = Step.from_spec(step.to_spec(), sequence=sequence, position=index + 1)
    steps.insert(index + 1, copy)
    return _save_new_step(
        sequence=sequence,
        user=user,
        loaded_version=loaded_version,
        steps=steps,
        before=before,
        step=copy,
        what=f"Duplicated step {index + 1} as step {index + 2}",
    )


def step_remove(
    *, sequence: Sequence, user: AbstractBaseUser, loaded_version: int, step: Step
) -> Edit:
    """Remove a step; the Edit's `undo` carries a signed copy of it, which "Undo" posts back."""
    steps = sequence.ordered_steps()
    before = list(steps)
    index = steps.index(step)
    token = signing.dumps(
        {
            "sequence": sequence.pk,
            "position": index,
            "step": _step_record(step),
            "comments": list(Comment.objects.filter(step=step).values_list("pk", flat=True)),
        },
        salt=UNDO_SALT,
        compress=True,
    )
    steps.remove(step)
    label = removed_label(step, index)
    changed, notes = _apply_order(steps, before)
    summary = _with_notes(f"Removed {label}", notes)
    with sequence.editing(user=user, loaded_version=loaded_version, summary=summary, steps=steps):
        step.delete()
        _save_steps(changed)
    edit = Edit(summary=summary, step=None, index=index, count=len(steps), moved=tuple(changed))
    edit.undo = {"message": f"Removed {label}.", "token": token}
    return edit


def step_restore(
    *, sequence: Sequence, user: AbstractBaseUser, loaded_version: int, token: str
) -> Edit:
    """Undo a removal: put the step back where it was, with its id, fields and comments."""
    record = undo_record(sequence=sequence, token=token)
    if Step.objects.filter(pk=record["step"]["pk"]).exists():
        raise Refused("That step is already back: there is nothing to undo.")
    steps = _room_for_one_more(sequence)
    before = list(steps)
    position = min(record["position"], len(steps))
    step = Step(sequence=sequence, **record["step"])
    steps.insert(position, step)
    changed, notes = _apply_order(steps, before)
    label = step_kinds.type_label(step.step_type).lower()
    summary = _with_notes(f"Restored step {position + 1} ({label})", notes)
    with sequence.editing(user=user, loaded_version=loaded_version, summary=summary, steps=steps):
        _save_steps(changed, new=step)
        Comment.objects.filter(
            pk__in=record["comments"], sequence=sequence, step__isnull=True
        ).update(step=step)
    return _edit(summary, step, steps, changed)


def step_move(
    *, sequence: Sequence, user: AbstractBaseUser, loaded_version: int, step: Step, up: bool
) -> Edit:
    """Move up / Move down: the keyboard (and no-JavaScript) way to reorder."""
    steps = sequence.ordered_steps()
    before = list(steps)
    index = steps.index(step)
    target = index - 1 if up else index + 1
    if not 0 <= target < len(steps):
        where = "first" if up else "last"
        raise Refused(f"Step {index + 1} is already the {where} step.")
    steps[index], steps[target] = steps[target], steps[index]
    changed, notes = _apply_order(steps, before)
    moved = diff.step_label(target + 1, index + 1)
    summary = _with_notes(f"{moved}: {diff.move_words(target + 1, index + 1)}", notes)
    with sequence.editing(user=user, loaded_version=loaded_version, summary=summary, steps=steps):
        _save_steps(changed)
    return _edit(summary, step, steps, changed)


def steps_reorder(
    *, sequence: Sequence, user: AbstractBaseUser, loaded_version: int, order: list[str]
) -> Edit:
    """Drag and drop: `order` lists every step id of the sequence, once, in the new order."""
    steps = sequence.ordered_steps()
    by_id = {str(step.pk): step for step in steps}
    if len(order) != len(steps) or set(order) != set(by_id):
        raise Refused(
            "The new order does not list exactly the steps of this sequence (one was added or "
            "removed meanwhile?). Reload the page, then reorder again."
        )
    new_steps = [by_id[step_id] for step_id in order]
    if new_steps == steps:
        return Edit(summary="", count=len(steps))
    changed, notes = _apply_order(new_steps, steps)
    moves = [
        f"{diff.step_label(new, old)}: {diff.move_words(new, old)}"
        for new, old in diff.moved_steps([s.pk for s in steps], [s.pk for s in new_steps])
    ]
    summary = _with_notes("; ".join(moves), notes)
    with sequence.editing(
        user=user, loaded_version=loaded_version, summary=summary, steps=new_steps
    ):
        _save_steps(changed)
    return Edit(summary=summary, count=len(new_steps), moved=tuple(changed))


# --- Reading ---------------------------------------------------------------------------------


def step_in(*, sequence: Sequence, step_id: int) -> Step:
    """The step of the sequence with this id (from its loaded steps)."""
    for step in sequence.ordered_steps():
        if step.pk == step_id:
            return step
    # 409, not 404: the page shows a step that is gone, i.e. the sequence changed under it.
    raise Refused(
        "That step is not in this sequence (any more): reload the page to see its steps.",
        status=409,
    )


def undo_record(*, sequence: Sequence, token: str) -> dict:
    """The removed step a signed Undo token carries (Refused when expired, forged or foreign)."""
    try:
        record = signing.loads(token, salt=UNDO_SALT, max_age=UNDO_MAX_AGE)
    except signing.SignatureExpired:
        raise Refused("That undo has expired (after an hour): add the step again.") from None
    except signing.BadSignature:
        raise Refused("That undo is not valid: reload the page.") from None
    if record.get("sequence") != sequence.pk:
        raise Refused("That undo belongs to another sequence.")
    return record


def undo_offer(*, sequence: Sequence, token: str) -> dict | None:
    """The "Undo" a page shows after a removal without JavaScript (the token is in the URL)."""
    if not token:
        return None
    try:
        record = undo_record(sequence=sequence, token=token)
    except Refused:
        return None
    if Step.objects.filter(pk=record["step"]["pk"]).exists():
        return None
    label = removed_label(Step(**record["step"]), record["position"])
    return {"message": f"Removed {label}.", "token": token}


def removed_label(step: Step, index: int) -> str:
    return f"step {index + 1} ({step_kinds.type_label(step.step_type).lower()})"


def first_error(form) -> str:
    """The message to show for a refused form (its field errors are worded to stand alone)."""
    return next((errors[0] for errors in form.errors.values() if errors), "That is not valid.")


# --- Changing --------------------------------------------------------------------------------


def _save_new_step(*, sequence, user, loaded_version, steps, before, step, what) -> Edit:
    """Save `step`, already inserted in `steps`, and renumber the rest: one revision whose
    summary is `what` plus the notes renumbering brings (threading that starts or stops)."""
    changed, notes = _apply_order(steps, before)
    summary = _with_notes(what, notes)
    with sequence.editing(user=user, loaded_version=loaded_version, summary=summary, steps=steps):
        _save_steps(changed, new=step)
    return _edit(summary, step, steps, changed)


def _edit(summary, step, steps, changed):
    moved = tuple(other for other in changed if other is not step)
    return Edit(summary=summary, step=step, index=steps.index(step), count=len(steps), moved=moved)


def _room_for_one_more(sequence):
    steps = sequence.ordered_steps()
    if len(steps) >= MAX_STEPS:
        raise Refused(f"A sequence can have at most {MAX_STEPS} steps.")
    return steps


def _apply_order(steps, before):
    """Number the steps in list order (`before` is the order they had); return what changed.

    Returns (changed steps, notes for the user), without saving. A step's threading is the
    person's choice and stays stored: the first email starts the thread only in what Close gets
    (spec.apply_threading_rule) and on its card. The notes say where that rule now applies to a
    reply, or stops applying to one.
    """
    changed, notes = [], []
    for position, step in enumerate(steps):
        if step.position != position:
            step.position = position
            changed.append(step)
    old_first, new_first = _first_email(before), _first_email(steps)
    # A step being added or restored needs no note: it comes with its own summary.
    adding = new_first is not None and new_first._state.adding
    if not adding and new_first is not old_first and _replies(new_first):
        label = _renumbered(new_first, steps, before)
        notes.append(f"{label} now starts a new thread (it is the first email)")
    if old_first is not new_first and old_first in steps and _replies(old_first):
        notes.append(
            f"{_renumbered(old_first, steps, before)} replies in the previous thread again"
        )
    return changed, notes


def _renumbered(step, steps, before):
    """ "step 2 (was 3)": a note names the step by its new number, like the change it follows."""
    label = diff.step_label(steps.index(step) + 1, before.index(step) + 1)
    return label[0].lower() + label[1:]


def _replies(step):
    return step is not None and step.threading == "old_thread"


def _first_email(steps):
    # The rule reads only step_type, which rows have too: no spec of every step is built.
    index = spec.first_email_index(steps)
    return None if index is None else steps[index]


def _save_steps(changed, new=None):
    """Write a new step, and the positions and threading of the rows `_apply_order` changed."""
    if new is not None:
        new.save(force_insert=True)
    Step.objects.bulk_update(
        [step for step in changed if step is not new], ["position", "threading"]
    )


def _changed_fields(step, before, after):
    """The columns an edit of one card changed (`_step_values` before and after).

    Only these are written: the row was read before the edit's transaction, and a publish
    finishing meanwhile stores Close's step id in it; saving the whole row would put back the
    id read earlier. Close's ids are never an edit's to write.
    """
    columns = {
        "delay": "delay",
        "template": step_kinds.kind_of(step.step_type).template_field,
        "threading": "threading",
        "required": "required",
        **{name: name for name in COPY_VALUES},
    }
    return [columns[name] for name in after if after[name] != before[name] and columns[name]]


def _with_notes(summary, notes):
    return "; ".join([summary, *notes])


# The copy columns an edit of one card may change (builder/steps.py COPY_ONLY_FIELDS).
COPY_VALUES = ("content_source", "subject", "body", "text")


def _step_values(step):
    return {
        "delay": step.delay,
        "template": step.email_template_id or step.sms_template_id,
        "threading": step.threading,
        "required": step.required,
        **{name: getattr(step, name) for name in COPY_VALUES},
    }


def _describe_changes(before, after):
    """ "delay 3 days → 5 days; replies in thread → new thread" (empty when nothing changed)."""
    parts = []
    if before["delay"] != after["delay"]:
        old, new = (spec.describe_delay(before["delay"]), spec.describe_delay(after["delay"]))
        parts.append(f"delay {old} → {new}")
    if before["template"] != after["template"]:
        names = dict(
            CloseTemplate.objects.filter(
                close_id__in=[before["template"], after["template"]]
            ).values_list("close_id", "name")
        )
        new = f"“{names.get(after['template'], after['template'])}”"
        if before["template"]:
            parts.append(f"template “{names.get(before['template'], before['template'])}” → {new}")
        else:
            parts.append(f"template {new}")
    if before["threading"] != after["threading"]:
        parts.append(f"{_threading_words(before)} → {_threading_words(after)}")
    if before["required"] != after["required"]:
        parts.append("required" if after["required"] else "not required")
    if before["content_source"] != after["content_source"]:
        words = {step_kinds.WRITTEN: "written here", step_kinds.TEMPLATE: "shared template"}
        old = words.get(before["content_source"], before["content_source"])
        parts.append(f"content {old} → {words.get(after['content_source'], '?')}")
    if before["subject"] != after["subject"]:
        parts.append(f"subject {_quoted(before['subject'])} → {_quoted(after['subject'])}")
    if before["body"] != after["body"]:
        parts.append("body edited")
    if before["text"] != after["text"]:
        parts.append("message edited")
    return "; ".join(parts)


def _quoted(text, length=40):
    """ "“Quick question”" for a summary line; a long subject is cut with an ellipsis."""
    text = " ".join((text or "").split())
    if not text:
        return "(empty)"
    return f"“{text if len(text) <= length else text[: length - 1] + '…'}”"


def _threading_words(values):
    return "replies in thread" if values["threading"] == "old_thread" else "new thread"


def _step_record(step):
    """Everything needed to put a removed step back exactly as it was: the same row, so its
    Close id too."""
    return {"pk": step.pk, **step.spec_columns(keep_close_id=True)}


# --- Schedule --------------------------------------------------------------------------------


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


# --- Copy changed in Close -------------------------------------------------------------------


def keep_close_copy(
    *, sequence: Sequence, step_key: str, user: AbstractBaseUser, loaded_version: int
) -> Edit:
    """ "Keep Close's version": the copy someone changed in Close (OwnedTemplate drift) becomes
    the step's copy, as a normal edit (a revision; an approved draft goes back to Draft). The
    template already holds it, so the next publish sends nothing for it."""
    from builder import copytext  # noqa: PLC0415 - nh3 only where copy is handled
    from builder.models import OwnedTemplate  # noqa: PLC0415

    steps = sequence.ordered_steps()
    step = next((s for s in steps if str(s.pk) == str(step_key)), None)
    if step is None:
        raise Refused("That step is no longer in the sequence. Reload the page.", status=409)
    row = OwnedTemplate.objects.filter(
        sequence=sequence, step_key=str(step.pk), kind=step.step_type, drift_seen_at__isnull=False
    ).first()
    if row is None or step.content_source != step_kinds.WRITTEN:
        raise Refused(
            "Close's copy of this step no longer differs from the draft's. Reload the page.",
            status=409,
        )
    if step.step_type == "sms":
        values = {"text": row.drift_text}
    else:
        subject = " ".join(row.drift_subject.split())
        if not (step.subject or "").strip() and subject == row.sent_subject:
            subject = ""  # a reply still borrowing its thread's subject keeps borrowing it
        if len(subject) > Step._meta.get_field("subject").max_length:
            raise Refused("Close's subject for this step is longer than a subject may be here.")
        values = {"subject": subject, "body": copytext.clean_body(row.drift_body)}
    index = steps.index(step)
    summary = f"Step {index + 1}: kept Close's version of the copy"
    with sequence.editing(user=user, loaded_version=loaded_version, summary=summary, steps=steps):
        Step.objects.filter(pk=step.pk).update(**values)
        for name, value in values.items():
            setattr(step, name, value)
        OwnedTemplate.objects.filter(pk=row.pk).update(
            sent_subject=row.drift_subject,
            sent_body=row.drift_body,
            sent_text=row.drift_text,
            drift_seen_at=None,
            drift_subject="",
            drift_body="",
            drift_text="",
            overwrite_drift=False,
        )
    return Edit(summary=summary, step=step, index=index, count=len(steps))
