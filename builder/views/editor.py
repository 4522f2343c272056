"""The step editor: one page of step cards that saves every change as the user makes it.

Each endpoint parses the request, calls a service of builder/editing.py and renders: for htmx,
fragments of builder/sequence_edit.html swapped out of band (the card it changed, and only the
small place fragments of cards it renumbered, so an answer does not grow with the list); for a
plain form post (no JavaScript), a redirect back to the page with a message. Every change:
  - is for Editors only (`require_editor`, checked first) and is a CSRF-protected POST;
  - is checked completely before anything is written, so a refusal leaves nothing half-saved;
  - goes through `sequence.editing(loaded_version=...)`, which refuses a page that is out of date
    (EditConflict names who saved) and records a revision with a one-line summary of the change.

The page carries the version it shows; each save answers with the new version (an out-of-band
swap of the status line, which holds it), and editor.js sends it with the next save.
"""

import functools

from django.contrib import messages
from django.db.models import prefetch_related_objects
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRefresh, reswap, trigger_client_event

from builder import editing, permissions, review, spec
from builder import steps as step_kinds
from builder.cards import (
    Card,
    schedule_url,
    step_cards,
    step_url_patterns,
    template_search,
)
from builder.editing import Refused
from builder.forms import AddStepForm, MoveStepForm, RenameForm
from builder.models import EditConflict, Sequence, Step
from builder.views.access import get_sequence_for_user, require_editor

PAGE = "builder/sequence_edit.html"
MAX_STEPS = editing.MAX_STEPS  # the one limit, enforced by spec.validate on every path
# The page renders whole the cards of its first screen and a little more (this many rem of
# cards, by their kinds' card_height: a desktop screen shows about 45 rem of them); the rest
# arrive as the person scrolls near them (`steps_cards`, editor.js asks two screens ahead), so
# opening a 200-step sequence costs about what a 3-step one does.
FIRST_SCREEN_REM = 70


# --- Views -----------------------------------------------------------------------------------


@require_GET
def sequence_edit(request, sequence_id):
    sequence = _load(request, sequence_id)
    undo = editing.undo_offer(sequence=sequence, token=request.GET.get("undo", ""))
    context = _context(request, sequence, undo=undo)
    # "Show every step in full" (the pending cards' link, for a browser without JavaScript).
    if request.GET.get("cards") != "all":
        cards = context["cards"]
        for card in cards[first_screen([card.step for card in cards]) :]:
            card.pending = True
    return render(request, PAGE, context)


def first_screen(steps):
    """How many of `steps` (in order) the page renders whole: those that start within the first
    FIRST_SCREEN_REM of cards, always at least one."""
    height = 0
    for count, step in enumerate(steps):
        if height >= FIRST_SCREEN_REM:
            return count
        height += step_kinds.kind_of(step.step_type).card_height
    return len(steps)


@require_GET
def steps_cards(request, sequence_id):
    """The whole cards of steps the page shows as pending (`ids`), as the person scrolls near
    them: each swapped out of band over its pending head.

    The page says the version it shows: cards of a newer one would let an edit of them pass the
    version check with the rest of the page out of date, so a page that is behind is refused
    like a save (409) and offered a reload."""
    sequence = _load(request, sequence_id)
    if not request.htmx:  # the address opened as a page: show the cards in it
        return redirect(_edit_url(sequence) + "?cards=all")
    ids = request.GET.get("ids", "").split(",")
    version = request.GET.get("version", "")
    if not version.isdigit() or len(version) > 9:
        return _refuse(request, sequence, Refused("The page did not say which version it shows."))
    if int(version) != sequence.version:
        return _refuse_stale(request, sequence, EditConflict(sequence))
    if not all(i.isdigit() and len(i) <= 18 for i in ids) or len(ids) > MAX_STEPS:
        return _refuse(request, sequence, Refused("Those are not steps of this sequence."))
    wanted = {int(i) for i in ids}
    context = _context(request, sequence, card_swap_oob=True)
    cards = [card for card in context["cards"] if card.pk in wanted]
    if len(cards) != len(wanted):
        return _refuse(request, sequence, Refused("Those are not steps of this sequence."))
    html = [_render(request, {**context, "card": card}, "step-card") for card in cards]
    return reswap(HttpResponse("".join(html)), "none")


@require_GET
def step_templates(request, sequence_id, step_id):
    """Search the shared templates for one step's picker (htmx active search, or a plain GET)."""
    sequence = _load(request, sequence_id)
    try:
        step = editing.step_in(sequence=sequence, step_id=step_id)
        if not step_kinds.kind_of(step.step_type).template_field:
            number = sequence.ordered_steps().index(step) + 1
            raise Refused(f"Step {number} is a call: it has no template to pick.")
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
    edit = editing.sequence_rename(
        sequence=sequence, user=request.user, loaded_version=version, name=form.cleaned_data["name"]
    )
    return _saved(request, sequence, edit.summary, changed="name")


@editor_action
def step_update(request, sequence, step_id):
    """Save one card's fields: the wait, threading, Required, or a template from the picker."""
    version = _loaded_version(request, sequence)
    shown = _shown(request, sequence, own=True)
    step = editing.step_in(sequence=sequence, step_id=step_id)
    edit = editing.step_update(
        sequence=sequence, user=request.user, loaded_version=version, step=step, data=request.POST
    )
    focus = f"#step-{step.pk}-chosen" if edit.picked else None
    if edit.switched:
        # The content part is rendered again (boxes or picker): focus its chosen radio anew.
        focus = f"#step-{step.pk}-source-{step.content_source}"
    return _saved(
        request,
        sequence,
        edit.summary,
        changed=step,
        shown=shown,
        picked=edit.picked,
        switched=edit.switched,
        focus=focus,
    )


@editor_action
def step_copy_template(request, sequence, step_id):
    """ "Edit a copy": the picked template's words become the step's own, ready to edit."""
    version = _loaded_version(request, sequence)
    shown = _shown(request, sequence, own=True)
    step = editing.step_in(sequence=sequence, step_id=step_id)
    edit = editing.step_copy_template(
        sequence=sequence, user=request.user, loaded_version=version, step=step
    )
    first = step_kinds.kind_of(step.step_type).copy_fields[0]
    return _saved(
        request,
        sequence,
        edit.summary,
        changed=step,
        shown=shown,
        switched=True,
        focus=f"#step-{step.pk}-{first}",
    )


@editor_action
def step_add(request, sequence):
    """ "Add email step" (at the end) or "Insert step" (before the step at `position`)."""
    version = _loaded_version(request, sequence)
    shown = _shown(request, sequence)
    # "Insert step" buttons name the place in their URL (?position=2), the type in their value.
    position = request.POST.get("position", request.GET.get("position", ""))
    form = AddStepForm({"step_type": request.POST.get("step_type", ""), "position": position})
    if not form.is_valid():
        raise Refused(editing.first_error(form))
    edit = editing.step_add(
        sequence=sequence,
        user=request.user,
        loaded_version=version,
        step_type=form.cleaned_data["step_type"],
        position=form.cleaned_data["position"],
    )
    return _saved_new_step(request, sequence, edit, shown)


@editor_action
def step_duplicate(request, sequence, step_id):
    version = _loaded_version(request, sequence)
    shown = _shown(request, sequence)
    step = editing.step_in(sequence=sequence, step_id=step_id)
    edit = editing.step_duplicate(
        sequence=sequence, user=request.user, loaded_version=version, step=step
    )
    return _saved_new_step(request, sequence, edit, shown)


@editor_action
def step_remove(request, sequence, step_id):
    """Remove a step; the answer carries a signed copy of it, which "Undo" posts back."""
    version = _loaded_version(request, sequence)
    shown = _shown(request, sequence)
    step = editing.step_in(sequence=sequence, step_id=step_id)
    removed = step.pk  # delete() clears step.pk
    edit = editing.step_remove(
        sequence=sequence, user=request.user, loaded_version=version, step=step
    )
    if not request.htmx:
        messages.success(request, f"Saved: {edit.summary}.")
        return redirect(f"{_edit_url(sequence)}?undo={edit.undo['token']}#editor-notice")
    return _saved(
        request,
        sequence,
        edit.summary,
        changed="list",
        shown=shown,
        removed=removed,
        undo=edit.undo,
        focus="#undo-button",
    )


@editor_action
def step_restore(request, sequence):
    """Undo a removal: put the step back where it was, with its id, fields and comments."""
    version = _loaded_version(request, sequence)
    shown = _shown(request, sequence)
    edit = editing.step_restore(
        sequence=sequence,
        user=request.user,
        loaded_version=version,
        token=request.POST.get("token", ""),
    )
    return _saved_new_step(request, sequence, edit, shown)


@editor_action
def step_move(request, sequence, step_id):
    """Move up / Move down: the keyboard (and no-JavaScript) way to reorder."""
    version = _loaded_version(request, sequence)
    shown = _shown(request, sequence)
    step = editing.step_in(sequence=sequence, step_id=step_id)
    form = MoveStepForm(request.POST)
    if not form.is_valid():
        raise Refused(editing.first_error(form))
    direction = form.cleaned_data["direction"]
    edit = editing.step_move(
        sequence=sequence,
        user=request.user,
        loaded_version=version,
        step=step,
        up=direction == "up",
    )
    # Focus follows the moved card: the same button, or the other one once it reaches an end.
    at_end = edit.index == 0 if direction == "up" else edit.index == edit.count - 1
    button = {"up": "down", "down": "up"}[direction] if at_end else direction
    return _saved(
        request,
        sequence,
        edit.summary,
        changed="list",
        shown=shown,
        placed=step,
        removed=step.pk,
        focus=f"#step-{step.pk}-{button}",
    )


@editor_action
def steps_reorder(request, sequence):
    """Drag and drop: `order` lists every step id of the sequence, once, in the new order."""
    version = _loaded_version(request, sequence)
    shown = _shown(request, sequence)
    edit = editing.steps_reorder(
        sequence=sequence,
        user=request.user,
        loaded_version=version,
        order=request.POST.getlist("order"),
    )
    # The cards are where the drag put them: only their numbers and days follow.
    return _saved(request, sequence, edit.summary, changed="list", shown=shown)


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


# --- Rendering -------------------------------------------------------------------------------


def _context(request, sequence, *, form=None, picker=None, undo=None, **extra):
    """Everything the page and its fragments show; the same number of queries for any length."""
    problems = sequence.problems()
    url_patterns = step_url_patterns(sequence)
    card_list, problem_items = step_cards(
        sequence=sequence, problems=problems, url_patterns=url_patterns, form=form, picker=picker
    )
    schedule = sequence.schedule_spec()  # not to_spec(): that converts every step again
    return {
        "sequence": sequence,
        "cards": card_list,
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
            "schedule": schedule_url(sequence),
            "add": url_patterns["add"],
            "rename": reverse("sequence_rename", args=[sequence.pk]),
            "reorder": reverse("steps_reorder", args=[sequence.pk]),
            "restore": reverse("step_restore", args=[sequence.pk]),
            "cards": reverse("steps_cards", args=[sequence.pk]),
        },
        "resets_review": sequence.status in sequence.EDIT_RESETS_TO_DRAFT,
        # "Ready to publish" is a reviewer's word: before approval the page only says whether
        # anything blocks publishing.
        "is_approved": sequence.status == Sequence.Status.APPROVED,
        # The shared header: its current tab, and its review buttons checked against the
        # problems worked out above (one validation per answer, not one per use).
        "active_tab": "steps",
        "review_actions": review.available_actions(
            sequence=sequence, user=request.user, problems=problems
        ),
        "undo": undo,
        **extra,
    }


def _edit_url(sequence):
    return reverse("sequence_edit", args=[sequence.pk])


def _fragments(request, context, names, *, status=200, swap=None):
    """One htmx answer: the named partials of the page, in order (the first is the main one).

    `swap="none"`: only the out-of-band fragments are swapped, never the requesting element."""
    html = "".join(render_to_string(f"{PAGE}#{name}", context, request) for name in names)
    response = HttpResponse(html, status=status)
    return reswap(response, swap) if swap else response


def _shown(request, sequence, *, own=False):
    """What each card shows of its place in the list, as the page had it before a change: the
    answer then re-sends only the cards it changed.

    A change to the list (add, insert, duplicate, remove, Undo, move, reorder) changes no card's
    values, only places, so the cards' positions are enough (`_position`: no validation, no
    cards): a card's problems and summary follow from its values, its number and whether it is
    the first email (spec._check_step), so a card whose position is the same shows the same.
    An edit of one card (`own`) changes that card's values: then the whole places, problems
    included (`_place`), as the page showed them.
    """
    if not request.htmx:
        return {}
    if own:
        cards, _ = step_cards(sequence=sequence, problems=sequence.problems(), url_patterns={})
        return {card.pk: _place(card) for card in cards}
    steps = sequence.ordered_steps()
    first_email = spec.first_email_index(steps)
    shown, starts_at = {}, 0
    for index, step in enumerate(steps):
        starts_at += step.delay
        shown[step.pk] = (index, index == len(steps) - 1, starts_at, index == first_email)
    return shown


def _position(card):
    """(number, last?, start, first email?): as `_shown` works them out from the rows."""
    return (card.index, card.is_last, card.starts_at, card.is_first_email)


def _place(card):
    return (
        *_position(card),
        card.summary,
        card.open_comments,
        repr(sorted(card.problems.items())),
    )


def _saved_new_step(request, sequence, edit, shown):
    """The answer to an edit that put a new card in the list (add, insert, duplicate, Undo):
    the card in its place, focused."""
    return _saved(
        request,
        sequence,
        edit.summary,
        changed="list",
        shown=shown,
        placed=edit.step,
        focus=f"#step-{edit.step.pk}",
    )


def _saved(
    request,
    sequence,
    summary,
    *,
    changed,
    shown=None,
    placed=None,
    removed=None,
    undo=None,
    focus=None,
    picked=False,
    switched=False,
):
    """The answer to a save (or a no-op): fragments for htmx, a redirect otherwise.

    `changed` is "name", "list" or the Step whose card was saved. For the list, `placed` is a
    step to put in the page (added, restored or moved: rendered whole, next to a neighbour) and
    `removed` the id of one to take out; every other card whose place changed since `shown`
    (`_shown()` before the change) gets only its small place fragments. The answer's size and
    queries do not grow with the number of steps, except for cards a change really renumbered.
    """
    status_before = sequence.status_at_load
    # `sequence` is as saved: Sequence.editing() made the rows it recorded (checked against the
    # table in its transaction) its steps, in their new order, and refreshed its version and
    # status; an answer without a save shows the rows as loaded, which nothing changed.
    if not request.htmx:
        if summary:
            messages.success(request, f"Saved: {summary}.")
        anchor = ""
        if isinstance(changed, Step):
            # A card further down than the page renders whole: come back to it in full.
            shows_all = changed.position >= first_screen(sequence.ordered_steps())
            anchor = f"{'?cards=all' if shows_all else ''}#step-{changed.pk}"
        return redirect(_edit_url(sequence) + anchor)
    if sequence.status != status_before:
        # An edit sent a reviewed or published sequence back to Draft: reload the whole page so
        # the header, state and review controls all say so.
        messages.info(request, f"Saved: {summary}. The sequence is back in Draft.")
        return HttpResponseClientRefresh()
    context = _context(request, sequence, save_detail=summary or "No changes", undo=undo, oob=True)
    cards = context["cards"]
    pending = _pending_ids(request)
    html = []
    if changed == "name":
        names = ["save-status", "problems", "name-errors", "head"]
    else:
        names = ["save-status", "problems", "head"] + (["undo"] if changed == "list" else [])
        if changed != "list":
            # A card's own boxes are never sent back: the user may be typing in the next one.
            context["card"] = next(card for card in cards if card.pk == changed.pk)
            context["with_picker"] = picked
            context["with_copy"] = switched
            html.append(_render(request, context, "card-state"))
        if (placed is not None or removed is not None) and len(cards) <= 1:
            # The first card, or the last one gone: the list itself changes (its empty note).
            names.append("step-list")
        else:
            if removed is not None:
                html.append(
                    _render(request, {**context, "removed_pk": removed}, "step-card-removed")
                )
            if placed is not None:
                html.append(_render_placed(request, context, placed))
            before = shown or {}
            for card in cards:
                prev = before.get(card.pk)
                if card.pk == getattr(placed, "pk", None):
                    continue
                if prev is not None and len(prev) > 4:  # whole places (an edit of one card)
                    place = _place(card)
                    # Its problems or first-email state changed too: its notes, box and picker.
                    restate = prev[3:] != place[3:]
                else:  # positions (a change to the list: no card's values changed)
                    place = _position(card)
                    # Its summary and problems follow the first email; a renumbered card's
                    # problems, if it has any, now name its new number.
                    restate = prev is not None and (
                        prev[3] != place[3] or (prev[0] != place[0] and bool(card.problems))
                    )
                if prev == place:
                    continue
                if card.pk in pending:
                    # The page holds its head alone: send that again, with its new number.
                    pending_context = {**context, "card": card, "card_oob": True}
                    html.append(_render(request, pending_context, "step-pending"))
                    continue
                # Its buttons change only when it reaches or leaves either end of the list.
                with_tools = prev is None or (prev[0] == 0, prev[1]) != (card.index == 0, place[1])
                # Its number shows in its insert button, wait, save button and problems; a card
                # whose day alone moved (a wait changed above it) gets its head and start only.
                renumbered = prev is None or prev[0] != place[0] or restate
                place_context = {
                    **context,
                    "card": card,
                    "with_tools": with_tools,
                    "with_number": renumbered,
                }
                html.append(_render(request, place_context, "step-place"))
                own = isinstance(changed, Step) and card.pk == changed.pk
                if card.editable and not own and restate:
                    card_context = {**context, "card": card, "with_picker": True}
                    html.append(_render(request, card_context, "card-state"))
    html[:0] = [_render(request, context, name) for name in names]
    response = reswap(HttpResponse("".join(html)), "none")
    if focus:
        trigger_client_event(response, "editor-focus", {"target": focus}, after="settle")
    return response


def _pending_ids(request):
    """The steps the page shows as pending heads (editor.js's Pending-Steps header): an answer
    sends those their head again, never fragments of a card the page does not hold."""
    ids = request.headers.get("Pending-Steps", "").split(",")
    return {int(i) for i in ids[:MAX_STEPS] if i.isdigit() and len(i) <= 18}


def _render_placed(request, context, step):
    """The card of `step`, placed after the card before it (or before the one after it)."""
    cards = context["cards"]
    index = next(i for i, card in enumerate(cards) if card.pk == step.pk)
    neighbour = f"afterend:#step-{cards[index - 1].pk}" if index else ""
    place = neighbour or f"beforebegin:#step-{cards[1].pk}"
    card_context = {**context, "card": cards[index], "card_place": place, "oob": False}
    return _render(request, card_context, "step-card-placed")


def _render(request, context, name):
    return render_to_string(f"{PAGE}#{name}", context, request)


def _shown_version(request):
    """The version the page said it shows (a save posts it, a request for cards asks with it):
    a refusal keeps it, so a page that is behind stays refused until it reloads."""
    return request.POST.get("version") or request.GET.get("version", "")


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
        page_version=_shown_version(request) or sequence.version,
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
        page_version=_shown_version(request),
        oob=True,
    )
    return _fragments(request, context, ["save-status"], status=409, swap="none")
