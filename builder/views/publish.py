"""The publish page: the confirmation (GET), starting a publish (POST), its progress (polled),
and the sequence as a JSON file."""

import json

from django.conf import settings
from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils.text import slugify
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRefresh

from builder import (
    audience,
    confirmation,
    copy_publishing,
    editing,
    importing,
    permissions,
    publishing,
)
from builder.models import EditConflict, OwnedTemplate, PublishAttempt, Sequence
from builder.views.access import get_sequence_for_user, require_editor, require_publisher
from builder.views.review import sequence_header

Outcome = PublishAttempt.Outcome
HISTORY_LENGTH = 20


@require_http_methods(["GET", "POST"])
def sequence_publish(request, sequence_id):
    sequence = get_sequence_for_user(request, sequence_id)
    if request.method == "GET":
        publishing.resolve_stale(sequence=sequence)
        if request.htmx and request.htmx.target == "request":
            return _render(request, sequence, partial="request")
        return _render(request, sequence)

    require_publisher(request)
    if "decision" in request.POST:
        return _decide(request, sequence)
    requested_status = publishing.chosen_status(
        sequence=sequence, posted=request.POST.get("status", "")
    )
    version = request.POST.get("version", "")
    if requested_status is None or not version.isdigit():
        return _render(
            request,
            sequence,
            error="Choose whether the sequence starts active or paused, then publish again.",
            status=400,
        )
    try:
        publishing.publish_in_background(
            sequence=sequence,
            user=request.user,
            requested_status=requested_status,
            expected_version=int(version),
        )
    except publishing.PublishRefused as refusal:
        return _render(request, sequence, error=str(refusal), status=409)
    # The job runs on; the page shows its progress and polls until it ends.
    return redirect("sequence_publish", sequence_id=sequence.pk)


DECISIONS = {"ours": publishing.link_candidate, "not_ours": publishing.reject_candidate}


def _decide(request, sequence):
    """A Publisher says whether the sequence found in Close is this one (see publishing._ask)."""
    decide = DECISIONS.get(request.POST.get("decision", ""))
    attempt_id = request.POST.get("attempt", "")
    candidate_id = request.POST.get("candidate", "").strip()
    if decide is None or not attempt_id.isdigit() or not candidate_id:
        return _render(
            request,
            sequence,
            error="Choose whether the sequence found in Close is this one, then send again.",
            status=422,
        )
    try:
        decide(
            sequence=sequence,
            user=request.user,
            attempt_id=int(attempt_id),
            candidate_id=candidate_id,
        )
    except publishing.PublishRefused as refusal:
        return _render(request, sequence, error=str(refusal), status=409)
    return redirect("sequence_publish", sequence_id=sequence.pk)


# --- written copy's templates: shared ones, and copy changed in Close ------------------------

BACK_TO = {"edit": "sequence_edit", "publish": "sequence_publish"}
ON_OFF = {"on": True, "off": False}


def _back(request, sequence):
    """To the page the button was on: the step editor or the publish page."""
    return redirect(
        BACK_TO.get(request.POST.get("next", ""), "sequence_publish"), sequence_id=sequence.pk
    )


def _publisher_choice(request, sequence_id, owned_id, *, field, ask, choose):
    """A Publisher's on/off choice about one step's template (`field` in the POST): parse it,
    let `choose(sequence=, user=, owned_id=, on=)` record it, and go back to the page it was
    made on."""
    sequence = get_sequence_for_user(request, sequence_id)
    require_publisher(request)
    choice = ON_OFF.get(request.POST.get(field, ""))
    if choice is None:
        return _render(request, sequence, error=ask, status=422)
    try:
        choose(sequence=sequence, user=request.user, owned_id=owned_id, on=choice)
    except copy_publishing.ChoiceRefused as refusal:
        return _render(request, sequence, error=refusal.message, status=refusal.status)
    return _back(request, sequence)


@require_POST
def template_update_shared(request, sequence_id, ownedtemplate_id):
    """ "Update the shared template too", or take that choice back (Publishers)."""
    return _publisher_choice(
        request,
        sequence_id,
        ownedtemplate_id,
        field="update_shared",
        ask="Choose whether to update the shared template, then send again.",
        choose=copy_publishing.choose_update_shared,
    )


@require_POST
def copy_drift_overwrite(request, sequence_id, ownedtemplate_id):
    """ "Overwrite on publish" for copy changed in Close, or take it back (Publishers)."""
    return _publisher_choice(
        request,
        sequence_id,
        ownedtemplate_id,
        field="overwrite",
        ask="Choose whether publishing overwrites Close's copy, then send again.",
        choose=copy_publishing.choose_overwrite,
    )


@require_POST
def copy_drift_keep(request, sequence_id, ownedtemplate_id):
    """ "Keep Close's version": Close's copy into the draft, as an edit (Editors)."""
    sequence = get_sequence_for_user(request, sequence_id)
    require_editor(request)
    row = OwnedTemplate.objects.filter(sequence=sequence, pk=ownedtemplate_id).first()
    version = request.POST.get("version", "")
    if row is None or not version.isdigit():
        return _render(
            request,
            sequence,
            error="That choice is no longer open: reload the page.",
            status=409 if row is None else 422,
        )
    editable = Sequence.objects.prefetch_related("steps").get(pk=sequence.pk)
    try:
        edit = editing.keep_close_copy(
            sequence=editable, step_key=row.step_key, user=request.user, loaded_version=int(version)
        )
    except editing.Refused as refusal:
        return _render(request, sequence, error=refusal.message, status=refusal.status)
    except EditConflict as conflict:
        return _render(request, sequence, error=str(conflict), status=409)
    messages.success(request, f"{edit.summary}.")
    return _back(request, sequence)


@require_GET
def sequence_publish_progress(request, sequence_id):
    """The polled fragment. Once the publish has ended, htmx reloads the whole page, so the
    header, the checks and the history all show the new state."""
    sequence = get_sequence_for_user(request, sequence_id)
    publishing.resolve_stale(sequence=sequence)
    latest = sequence.publish_attempts.select_related("user").order_by("-pk").first()
    running = publishing.is_running(latest)
    if not running and request.htmx:
        return HttpResponseClientRefresh()
    context = {"sequence": sequence, "running": running, **_latest_context(request, latest)}
    return render(request, "builder/sequence_publish.html#publish-progress", context)


@require_GET
def sequence_export(request, sequence_id):
    """The sequence as the JSON Close accepts on POST /sequence/ ("sequence as code")."""
    sequence = get_sequence_for_user(request, sequence_id)
    payload = importing.export_payload(sequence)
    response = HttpResponse(
        json.dumps(payload, indent=2, ensure_ascii=False) + "\n",
        content_type="application/json; charset=utf-8",
    )
    filename = f"{slugify(sequence.name) or 'sequence'}.json"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _latest_context(request, latest):
    """What the state box needs about the latest attempt, on the page and in the polled part."""
    candidate = None if publishing.is_running(latest) else publishing.pending_candidate(latest)
    return {
        "latest": latest,
        "latest_notes": publishing.notes_of(latest) if latest else {},
        "candidate": candidate,
        "candidate_url": f"{settings.CLOSE_APP_URL}sequence/{candidate['id']}/"
        if candidate
        else "",
        "can_decide": permissions.can_publish(request.user),
    }


def _render(request, sequence, *, error="", status=200, partial=""):
    attempts = confirmation.attempt_history(sequence=sequence, limit=HISTORY_LENGTH)
    # Read again after the attempts: a publish that ended since the sequence was read has
    # changed it, and a page showing the ended attempt with the old state would stop polling.
    sequence.refresh_from_db()
    latest = attempts[0] if attempts else None
    running = publishing.is_running(latest)
    up_to_date = publishing.is_up_to_date(sequence)
    requested_status = request.GET.get("status")
    if requested_status is None and latest is not None and latest.outcome != Outcome.PUBLISHED:
        # A retry starts from the choice the failed attempt was made with.
        requested_status = latest.requested_status
    looking = request.method == "GET" and not partial and not running
    shown = confirmation.confirmation(
        sequence=sequence,
        user=request.user,
        requested_status=requested_status,
        live=looking and not up_to_date,
        # Close's copy can change after publishing: looked at for anyone with a role.
        check_copy=looking and bool(permissions.roles_of(request.user)),
    )
    close_errors = confirmation.show_close_refusal(shown, latest)
    context = {
        "sequence": sequence,
        **_latest_context(request, latest),
        "confirmation": shown,
        "attempts": attempts,
        "running": running,
        "up_to_date": up_to_date,
        "close_errors": close_errors,
        "error": error,
    }
    if not partial:  # the fragments have no header
        context.update(sequence_header(request, sequence, active_tab="publish"))
        # The audience headline informs and never blocks (builder/audience.py).
        context["audience_check"] = audience.latest_check(
            sequence=sequence, revision_number=sequence.version
        )
    template = "builder/sequence_publish.html" + (f"#{partial}" if partial else "")
    return render(request, template, context, status=status)
