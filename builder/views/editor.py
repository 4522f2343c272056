"""The step editor: one page of step cards that saves every change as the user makes it.

Each endpoint answers an htmx request with fragments of builder/sequence_edit.html, and a plain
form post (no JavaScript) with a redirect back to the page and a message, so the editor works
either way. Every change:
  - is for Editors only (`require_editor`, checked first) and is a CSRF-protected POST;
  - is checked completely before anything is written, so a refusal leaves nothing half-saved;
  - goes through `sequence.editing(loaded_version=...)`, which refuses a page that is out of date
    (EditConflict names who saved) and records a revision with a one-line summary of the change.

The page carries the version it shows; each save answers with the new version (an out-of-band
swap of the status line, which holds it), and editor.js sends it with the next save.
"""

import functools
from urllib.parse import urlsplit

from django.contrib import messages
from django.core import signing
from django.db.models import Count, Min, prefetch_related_objects
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import NoReverseMatch, reverse
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRefresh, reswap, trigger_client_event

from builder import diff, permissions, spec
from builder import steps as step_kinds
from builder.cards import URL_MARKER, Card, template_search
from builder.forms import AddStepForm, MoveStepForm, RenameForm, StepFieldsForm
from builder.models import CloseTemplate, Comment, EditConflict, Sequence, Step
from builder.views.access import get_sequence_for_user, require_editor

PAGE = "builder/sequence_edit.html"
UNDO_SALT = "builder.editor.undo-remove"
UNDO_MAX_AGE = 60 * 60  # seconds an "Undo" of a removal stays valid
FOLLOW_UP_DELAY = 86400  # a step added after others waits a day; the first one starts at once
MAX_STEPS = spec.MAX_STEPS  # the one limit, enforced by spec.validate on every path
# Which part of a card a problem path's field belongs to (see Card.problems).
PROBLEM_PLACES = {
    "delay": "delay",
    "email_template_id": "template",
    "sms_template_id": "template",
    "threading": "threading",
    "required": "required",
}


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


# --- Views -----------------------------------------------------------------------------------


@require_GET
def sequence_edit(request, sequence_id):
    sequence = _load(request, sequence_id)
    undo = _undo_offer(sequence, request.GET.get("undo", ""))
    return render(request, PAGE, _context(request, sequence, undo=undo))


@require_GET
def step_templates(request, sequence_id, step_id):
    """Search the shared templates for one step's picker (htmx active search, or a plain GET)."""
    sequence = _load(request, sequence_id)
    try:
        step = _step_of(sequence, step_id)
        if not step_kinds.kind_of(step.step_type).template_field:
            raise Refused(f"Step {_number(sequence, step)} is a call: it has no template to pick.")
    except Refused as refusal:
        return _refuse(request, sequence, refusal)
    picker = template_search(step=step, query=request.GET.get("q", ""))
    if request.htmx:
        card = Card(step=step, index=step.position, count=0, picker=picker)
        return render(request, f"{PAGE}#template-picker", {"card": card, "sequence": sequence})
    # Without JavaScript the search is a GET form: show the whole page with the results open.
    return render(request, PAGE, _context(request, sequence, picker=picker))


def editor_action(view):
    """Every mutating editor endpoint: POST only, Editors only, and one way to refuse."""

    @require_POST
    @functools.wraps(view)
    def wrapper(request, sequence_id, **kwargs):
        # templates/403.html shows the message. The page offers no editing controls to anyone
        # else, so for htmx this is the unexpected case: editor.js says the server refused it.
        require_editor(request)
        sequence = _load(request, sequence_id)
        try:
            return view(request, sequence, **kwargs)
        except EditConflict as conflict:
            return _refuse_stale(request, sequence, conflict)
        except Refused as refusal:
            return _refuse(request, sequence, refusal)

    return wrapper


@editor_action
def sequence_rename(request, sequence):
    version = _loaded_version(request, sequence)
    form = RenameForm(request.POST)
    if not form.is_valid():
        raise Refused(form.errors["name"][0], name_error=True)
    old_name, name = sequence.name, form.cleaned_data["name"]
    summary = ""
    if name != old_name:
        summary = f"Renamed “{old_name}” → “{name}”"
        with sequence.editing(user=request.user, loaded_version=version, summary=summary):
            Sequence.objects.filter(pk=sequence.pk).update(name=name)
            sequence.name = name
    return _saved(request, sequence, summary, changed="name")


@editor_action
def step_update(request, sequence, step_id):
    """Save one card's fields: the wait, threading, Required, or a template from the picker."""
    version = _loaded_version(request, sequence)
    step = _step_of(sequence, step_id)
    if not step_kinds.kind_of(step.step_type).editable:
        raise Refused(
            f"Step {_number(sequence, step)} is kept as it is in Close: it cannot be edited."
        )
    steps = sequence.ordered_steps()
    # The first email's box is locked (it starts the thread), so it posts no choice: keep the
    # stored one for when the step moves after another email.
    is_first_email = steps.index(step) == spec.first_email_index([s.to_spec() for s in steps])
    form = StepFieldsForm(request.POST, step=step, thread_locked=is_first_email)
    if not form.is_valid():
        raise Refused(_first_error(form), form=form)
    before = _step_values(step)
    form.apply()
    changes = _describe_changes(before, _step_values(step))
    summary = f"Step {steps.index(step) + 1}: {changes}" if changes else ""
    if summary:
        with sequence.editing(user=request.user, loaded_version=version, summary=summary):
            step.save(update_fields=_changed_fields(step, before, _step_values(step)))
    picked = bool(request.POST.get(step_kinds.kind_of(step.step_type).template_field or "", ""))
    focus = f"#step-{step.pk}-chosen" if picked else None
    return _saved(request, sequence, summary, changed=step, picked=picked, focus=focus)


@editor_action
def step_add(request, sequence):
    """ "Add email step" (at the end) or "Insert step" (before the step at `position`)."""
    version = _loaded_version(request, sequence)
    # "Insert step" buttons name the place in their URL (?position=2), the type in their value.
    position = request.POST.get("position", request.GET.get("position", ""))
    form = AddStepForm({"step_type": request.POST.get("step_type", ""), "position": position})
    if not form.is_valid():
        raise Refused(_first_error(form))
    steps = _room_for_one_more(sequence)
    step_type, position = form.cleaned_data["step_type"], form.cleaned_data["position"]
    if position is None:
        position = len(steps)
    elif position > len(steps):
        raise Refused("That place in the list does not exist any more: reload the page.")
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
    changed, notes = _apply_order(steps, sequence.ordered_steps())
    summary = _with_notes(f"{verb} step {position + 1} ({step_type})", notes)
    with sequence.editing(user=request.user, loaded_version=version, summary=summary):
        _save_steps(changed, new=step)
    return _saved(request, sequence, summary, changed="list", focus=f"#step-{step.pk}")


@editor_action
def step_duplicate(request, sequence, step_id):
    version = _loaded_version(request, sequence)
    step = _step_of(sequence, step_id)
    if not step_kinds.kind_of(step.step_type).editable:
        raise Refused(
            f"Step {_number(sequence, step)} is kept as it is in Close: it cannot be copied."
        )
    steps = _room_for_one_more(sequence)
    index = steps.index(step)
    copy = Step.from_spec(step.to_spec(), sequence=sequence, position=index + 1)
    steps.insert(index + 1, copy)
    changed, notes = _apply_order(steps, sequence.ordered_steps())
    summary = _with_notes(f"Duplicated step {index + 1} as step {index + 2}", notes)
    with sequence.editing(user=request.user, loaded_version=version, summary=summary):
        _save_steps(changed, new=copy)
    return _saved(request, sequence, summary, changed="list", focus=f"#step-{copy.pk}")


@editor_action
def step_remove(request, sequence, step_id):
    """Remove a step; the answer carries a signed copy of it, which "Undo" posts back."""
    version = _loaded_version(request, sequence)
    step = _step_of(sequence, step_id)
    steps = sequence.ordered_steps()
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
    label = f"step {index + 1} ({_type_label(step).lower()})"
    changed, notes = _apply_order(steps, sequence.ordered_steps())
    summary = _with_notes(f"Removed {label}", notes)
    with sequence.editing(user=request.user, loaded_version=version, summary=summary):
        step.delete()
        _save_steps(changed)
    undo = {"message": f"Removed {label}.", "token": token}
    if not request.htmx:
        messages.success(request, f"Saved: {summary}.")
        return redirect(f"{_edit_url(sequence)}?undo={token}#editor-notice")
    return _saved(request, sequence, summary, changed="list", undo=undo, focus="#undo-button")


@editor_action
def step_restore(request, sequence):
    """Undo a removal: put the step back where it was, with its id, fields and comments."""
    version = _loaded_version(request, sequence)
    record = _read_undo(sequence, request.POST.get("token", ""))
    if Step.objects.filter(pk=record["step"]["pk"]).exists():
        raise Refused("That step is already back: there is nothing to undo.")
    steps = _room_for_one_more(sequence)
    position = min(record["position"], len(steps))
    step = Step(sequence=sequence, **record["step"])
    steps.insert(position, step)
    changed, notes = _apply_order(steps, sequence.ordered_steps())
    summary = _with_notes(f"Restored step {position + 1} ({_type_label(step).lower()})", notes)
    with sequence.editing(user=request.user, loaded_version=version, summary=summary):
        _save_steps(changed, new=step)
        Comment.objects.filter(
            pk__in=record["comments"], sequence=sequence, step__isnull=True
        ).update(step=step)
    return _saved(request, sequence, summary, changed="list", focus=f"#step-{step.pk}")


@editor_action
def step_move(request, sequence, step_id):
    """Move up / Move down: the keyboard (and no-JavaScript) way to reorder."""
    version = _loaded_version(request, sequence)
    step = _step_of(sequence, step_id)
    form = MoveStepForm(request.POST)
    if not form.is_valid():
        raise Refused(_first_error(form))
    steps = sequence.ordered_steps()
    index = steps.index(step)
    up = form.cleaned_data["direction"] == "up"
    target = index - 1 if up else index + 1
    if not 0 <= target < len(steps):
        where = "first" if up else "last"
        raise Refused(f"Step {index + 1} is already the {where} step.")
    steps[index], steps[target] = steps[target], steps[index]
    direction = "up" if up else "down"
    changed, notes = _apply_order(steps, sequence.ordered_steps())
    moved = diff.step_label(target + 1, index + 1)
    summary = _with_notes(f"{moved}: {diff.move_words(target + 1, index + 1)}", notes)
    with sequence.editing(user=request.user, loaded_version=version, summary=summary):
        _save_steps(changed)
    # Focus follows the moved card: the same button, or the other one once it reaches an end.
    at_end = target == 0 if up else target == len(steps) - 1
    button = {"up": "down", "down": "up"}[direction] if at_end else direction
    return _saved(request, sequence, summary, changed="list", focus=f"#step-{step.pk}-{button}")


@editor_action
def steps_reorder(request, sequence):
    """Drag and drop: `order` lists every step id of the sequence, once, in the new order."""
    version = _loaded_version(request, sequence)
    order = request.POST.getlist("order")
    steps = sequence.ordered_steps()
    by_id = {str(step.pk): step for step in steps}
    if len(order) != len(steps) or set(order) != set(by_id):
        raise Refused(
            "The new order does not list exactly the steps of this sequence (one was added or "
            "removed meanwhile?). Reload the page, then reorder again."
        )
    new_steps = [by_id[step_id] for step_id in order]
    if new_steps == steps:
        return _saved(request, sequence, "", changed="list")
    changed, notes = _apply_order(new_steps, steps)
    moves = [
        f"{diff.step_label(new, old)}: {diff.move_words(new, old)}"
        for new, old in diff.moved_steps([s.pk for s in steps], [s.pk for s in new_steps])
    ]
    summary = _with_notes("; ".join(moves), notes)
    with sequence.editing(user=request.user, loaded_version=version, summary=summary):
        _save_steps(changed)
    return _saved(request, sequence, summary, changed="list")


# --- Loading and checking --------------------------------------------------------------------


def _load(request, sequence_id):
    """The sequence with its steps and schedule loaded once for the whole request."""
    sequence = get_sequence_for_user(request, sequence_id)
    prefetch_related_objects([sequence], "steps", "schedule_ranges")
    # An edit can send a reviewed sequence back to Draft; _saved() compares against this.
    sequence.status_at_load = sequence.status
    return sequence


def _loaded_version(request, sequence):
    """The version the page showed; a page that is out of date is refused before anything else."""
    value = request.POST.get("version", "")
    if not value.isdigit() or len(value) > 9:
        raise Refused("The page did not say which version it shows: reload the page.")
    version = int(value)
    if version != sequence.version:
        raise EditConflict(sequence)
    return version


def _step_of(sequence, step_id):
    for step in sequence.ordered_steps():
        if step.pk == step_id:
            return step
    # 409, not 404: the page shows a step that is gone, i.e. the sequence changed under it.
    raise Refused(
        "That step is not in this sequence (any more): reload the page to see its steps.",
        status=409,
    )


def _number(sequence, step):
    """The number the page shows for `step` (positions may have gaps in old data)."""
    return sequence.ordered_steps().index(step) + 1


def _room_for_one_more(sequence):
    steps = sequence.ordered_steps()
    if len(steps) >= MAX_STEPS:
        raise Refused(f"A sequence can have at most {MAX_STEPS} steps.")
    return steps


def _first_error(form):
    """The message to show for a refused form (its field errors are worded to stand alone)."""
    return next((errors[0] for errors in form.errors.values() if errors), "That is not valid.")


def _read_undo(sequence, token):
    try:
        record = signing.loads(token, salt=UNDO_SALT, max_age=UNDO_MAX_AGE)
    except signing.SignatureExpired:
        raise Refused("That undo has expired (after an hour): add the step again.") from None
    except signing.BadSignature:
        raise Refused("That undo is not valid: reload the page.") from None
    if record.get("sequence") != sequence.pk:
        raise Refused("That undo belongs to another sequence.")
    return record


def _undo_offer(sequence, token):
    """The "Undo" a page shows after a removal without JavaScript (the token is in the URL)."""
    if not token:
        return None
    try:
        record = _read_undo(sequence, token)
    except Refused:
        return None
    if Step.objects.filter(pk=record["step"]["pk"]).exists():
        return None
    step = Step(**record["step"])
    label = f"step {record['position'] + 1} ({_type_label(step).lower()})"
    return {"message": f"Removed {label}.", "token": token}


# --- Changing --------------------------------------------------------------------------------


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
    index = spec.first_email_index([step.to_spec() for step in steps])
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
    }
    return [columns[name] for name in after if after[name] != before[name] and columns[name]]


def _with_notes(summary, notes):
    return "; ".join([summary, *notes])


def _step_values(step):
    return {
        "delay": step.delay,
        "template": step.email_template_id or step.sms_template_id,
        "threading": step.threading,
        "required": step.required,
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
    return "; ".join(parts)


def _threading_words(values):
    return "replies in thread" if values["threading"] == "old_thread" else "new thread"


def _step_record(step):
    """Everything needed to put a removed step back exactly as it was: the same row, so its
    Close id too."""
    return {"pk": step.pk, **step.spec_columns(keep_close_id=True)}


# --- Rendering -------------------------------------------------------------------------------


def _type_label(step):
    return step_kinds.type_label(step.step_type)


def _context(request, sequence, *, form=None, picker=None, undo=None, **extra):
    """Everything the page and its fragments show; the same number of queries for any length."""
    steps = sequence.ordered_steps()
    template_ids = {step.email_template_id or step.sms_template_id for step in steps} - {""}
    templates = (
        {t.close_id: t for t in CloseTemplate.objects.filter(close_id__in=template_ids)}
        if template_ids
        else {}
    )
    problems = sequence.problems()
    url_patterns = _step_url_patterns(sequence)
    comments = _open_comments(sequence)
    review_url = reverse("sequence_review", args=[sequence.pk])
    previews = {}
    cards, starts_at = [], 0
    first_email = next((i for i, s in enumerate(steps) if s.step_type == "email"), None)
    for index, step in enumerate(steps):
        starts_at += step.delay
        card = Card(
            step=step,
            index=index,
            count=len(steps),
            starts_at=starts_at,
            template=templates.get(step.email_template_id or step.sms_template_id),
            is_first_email=index == first_email,
            url_patterns=url_patterns,
            previews=previews,
        )
        if step.pk in comments:
            card.open_comments = comments[step.pk]["count"]
            card.comments_url = f"{review_url}#comment-{comments[step.pk]['first']}"
        if form is not None and form.step.pk == step.pk:
            card.form = form
        if picker is not None and picker.step_id == step.pk:
            card.picker = picker
        cards.append(card)
    problem_items = [_problem_item(problem, cards, sequence) for problem in problems]
    schedule = sequence.to_spec().schedule
    return {
        "sequence": sequence,
        "cards": cards,
        "can_edit": permissions.can_edit(request.user),
        "kinds": [kind for kind in step_kinds.KINDS if kind.editable],  # Add / Insert buttons
        "page_version": sequence.version,
        "name_value": sequence.name,
        "problem_items": problem_items,
        "sequence_problems": [i for i in problem_items if i["place"] == "name"],
        "schedule_problems": [i for i in problem_items if i["place"] == "schedule"],
        "blocking_count": len(spec.blocking(problems)),
        "schedule_text": spec.describe_schedule(schedule),
        "urls": {
            "edit": _edit_url(sequence),
            "schedule": _schedule_url(sequence),
            "add": url_patterns["add"],
            "rename": reverse("sequence_rename", args=[sequence.pk]),
            "reorder": reverse("steps_reorder", args=[sequence.pk]),
            "restore": reverse("step_restore", args=[sequence.pk]),
        },
        "resets_review": sequence.status in sequence.EDIT_RESETS_TO_DRAFT,
        # "Ready to publish" is a reviewer's word: before approval the page only says whether
        # anything blocks publishing.
        "is_approved": sequence.status == Sequence.Status.APPROVED,
        "undo": undo,
        **extra,
    }


def _open_comments(sequence):
    """{step id: {"count", "first"}} of unresolved review threads, in one grouped query."""
    rows = (
        Comment.objects.filter(
            sequence=sequence, step__isnull=False, parent__isnull=True, resolved_at__isnull=True
        )
        .values("step")
        .annotate(count=Count("pk"), first=Min("pk"))
        .order_by()
    )
    return {row["step"]: row for row in rows}


def _problem_item(problem, cards, sequence):
    """A problem for the summary at the top, with where it is shown (and linked) on the page."""
    parts = problem.path.split(".")
    item = {"problem": problem, "href": "", "place": parts[0]}
    if parts[0] == "steps" and len(parts) > 1 and parts[1].isdigit() and int(parts[1]) < len(cards):
        card = cards[int(parts[1])]
        place = PROBLEM_PLACES.get(parts[2] if len(parts) > 2 else "", "step")
        if place == "template" and parts[2] != card.template_field:
            place = "step"  # a stray template of the other kind: about the step as a whole
        card.problems.setdefault(place, []).append(problem)
        anchor = {
            "delay": "days",
            "template": "template",
            "threading": "thread",
            "required": "required",
        }.get(place)
        item["href"] = f"#step-{card.pk}-{anchor}" if anchor else f"#step-{card.pk}"
    elif parts[0] == "name":
        item["href"] = "#sequence-name"
    elif parts[0] == "steps":
        item["href"] = "#add-steps"
    elif parts[0] in ("timezone", "schedule"):
        item["place"] = "schedule"
        item["href"] = _schedule_url(sequence)
    return item


_STEP_URLS = {
    "update": "step_update",
    "move": "step_move",
    "duplicate": "step_duplicate",
    "remove": "step_remove",
    "templates": "step_templates",
}


def _step_url_patterns(sequence):
    patterns = {
        name: reverse(url_name, args=[sequence.pk, int(URL_MARKER)])
        for name, url_name in _STEP_URLS.items()
    }
    patterns["add"] = reverse("step_add", args=[sequence.pk])
    return patterns


def _schedule_url(sequence):
    try:
        return reverse("sequence_schedule", args=[sequence.pk])
    except NoReverseMatch:  # the schedule page is another area's; link it once it exists
        return ""


def _edit_url(sequence):
    return reverse("sequence_edit", args=[sequence.pk])


class _PageRequest:
    """The request as the page the browser shows, for fragments rendered during an htmx call.

    The shared sequence header marks its current tab by `request.path`; re-rendered from an
    htmx POST to /steps/12/, it should still mark the page the user is on.
    """

    def __init__(self, request, path):
        self._request = request
        self.path = path

    def __getattr__(self, name):
        return getattr(self._request, name)


def _fragments(request, context, names, *, status=200, swap=None):
    """One htmx answer: the named partials of the page, in order (the first is the main one).

    `swap="none"`: only the out-of-band fragments are swapped, never the requesting element."""
    page_path = urlsplit(request.htmx.current_url or "").path or _edit_url(context["sequence"])
    context = {**context, "request": _PageRequest(request, page_path)}
    html = "".join(render_to_string(f"{PAGE}#{name}", context, request) for name in names)
    response = HttpResponse(html, status=status)
    return reswap(response, swap) if swap else response


def _saved(request, sequence, summary, *, changed, undo=None, focus=None, picked=False):
    """The answer to a save (or a no-op): fresh fragments for htmx, a redirect otherwise.

    `changed` says what to send back: "name", "list" (the whole step list), or a Step (its
    card's notes, and every card's head, since a later step's day may have moved; the picker
    too when a template was `picked`).
    """
    status_before = sequence.status_at_load
    sequence.refresh_from_db(fields=["name", "status", "version", "updated_by", "updated_at"])
    sequence._prefetched_objects_cache = {}
    prefetch_related_objects([sequence], "steps", "schedule_ranges")
    if not request.htmx:
        if summary:
            messages.success(request, f"Saved: {summary}.")
        anchor = f"#step-{changed.pk}" if isinstance(changed, Step) else ""
        return redirect(_edit_url(sequence) + anchor)
    if sequence.status != status_before:
        # An edit sent a reviewed or published sequence back to Draft: reload the whole page so
        # the header, state and review controls all say so.
        messages.info(request, f"Saved: {summary}. The sequence is back in Draft.")
        return HttpResponseClientRefresh()
    swap = None
    context = _context(request, sequence, save_detail=summary or "No changes", undo=undo, oob=True)
    if changed == "list":
        names = ["step-list", "save-status", "problems", "undo", "head"]
    elif changed == "name":
        names = ["save-status", "problems", "name-errors", "head"]
    else:
        # A card's own boxes are never sent back: the user may be typing in the next one.
        context["card"] = next(card for card in context["cards"] if card.pk == changed.pk)
        context["with_picker"] = picked
        names = ["save-status", "problems", "head", "step-heads", "card-state"]
        swap = "none"
    response = _fragments(request, context, names, swap=swap)
    if focus:
        trigger_client_event(response, "editor-focus", {"target": focus}, after="settle")
    return response


def _refuse(request, sequence, refusal):
    """Nothing was saved: say why, next to the field when there is one, with a 4xx status."""
    if not request.htmx:
        messages.error(request, refusal.message)
        context = _context(request, sequence, form=refusal.form, save_error="Not saved")
        if refusal.name_error:
            context["name_error"] = refusal.message
            context["name_value"] = request.POST.get("name", "")
        return render(request, PAGE, context, status=refusal.status)
    context = _context(
        request,
        sequence,
        form=refusal.form,
        save_error=f"Not saved: {refusal.message}",
        page_version=request.POST.get("version") or sequence.version,
        oob=True,
    )
    names = ["save-status"]
    if refusal.form is not None:
        context["card"] = next(c for c in context["cards"] if c.pk == refusal.form.step.pk)
        context["with_picker"] = bool(context["card"].template_errors)
        names.append("card-state")
    elif refusal.name_error:
        context["name_error"] = refusal.message
        names.append("name-errors")
    return _fragments(request, context, names, status=refusal.status, swap="none")


def _refuse_stale(request, sequence, conflict):
    """Someone saved after this page loaded: refuse, say who and what, offer a reload."""
    message = str(conflict)
    latest = sequence.revisions.order_by("-number").values_list("summary", flat=True).first()
    if latest:
        message += f" Their last change: {latest}."
    if not request.htmx:
        messages.error(request, message)
        context = _context(request, sequence, save_error="Not saved", conflict=True)
        return render(request, PAGE, context, status=409)
    context = _context(
        request,
        sequence,
        save_error=f"Not saved: {message}",
        conflict=True,
        # Keep the page's own (stale) version: every later save is refused too, until a reload.
        page_version=request.POST.get("version", ""),
        oob=True,
    )
    return _fragments(request, context, ["save-status"], status=409, swap="none")
