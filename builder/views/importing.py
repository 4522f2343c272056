"""Importing sequences: from Close's live sequences, and from JSON files."""

import secrets

from django.conf import settings
from django.contrib import messages
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from builder import close, importing
from builder.redact import redact
from builder.views.access import require_editor


@require_GET
def sequence_import(request):
    require_editor(request)
    return _render(request)


@require_POST
def sequence_import_close(request):
    require_editor(request)
    close_id = request.POST.get("close_id", "").strip()
    client = close.client_from_settings(max_wait=settings.CLOSE_MAX_WAIT_IN_REQUEST)
    try:
        sequence, notes = importing.import_from_close(
            close_id=close_id, user=request.user, client=client
        )
    except importing.ImportRefused as refusal:
        return _render(
            request, error=refusal.message, existing=refusal.sequence, status=refusal.status
        )
    except close.CloseError as error:
        return _render(request, error=f"Nothing was imported: {error.message}", status=502)
    finally:
        client.close()
    copy_read = importing.copy_read_words(sequence)
    messages.success(
        request,
        f"Imported “{sequence.name}” from Close. It is marked Published: edit it, have it "
        "reviewed, and publish to update it in Close." + (f" {copy_read}" if copy_read else ""),
    )
    for note in notes:
        messages.warning(request, note)
    return redirect("sequence_edit", sequence_id=sequence.pk)


@require_POST
def sequence_import_file(request):
    """Import an uploaded file; or, with `pending`, the file this session uploaded a moment ago
    whose name was taken, as a copy (one click, no second upload)."""
    require_editor(request)
    as_copy = "pending" in request.POST
    try:
        if as_copy:
            data, filename = _take_pending(request, request.POST["pending"])
        else:
            upload = request.FILES.get("file")
            data, filename = importing.read_upload(upload), getattr(upload, "name", "")
        sequence = importing.import_file(
            data=data, user=request.user, filename=filename, as_copy=as_copy
        )
    except importing.NameTaken as taken:
        return _render(
            request,
            file_error=taken.message,
            existing=taken.sequence,
            copy_name=taken.copy_name,
            pending=_keep_pending(request, data, filename),
            status=taken.status,
            list_close=False,
        )
    except importing.ImportRefused as refusal:
        return _render(request, file_error=refusal.message, status=refusal.status, list_close=False)
    request.session.pop(PENDING_KEY, None)
    messages.success(request, f"Imported “{sequence.name}” from the file as a new draft.")
    return redirect("sequence_edit", sequence_id=sequence.pk)


# A file whose name was taken waits in the session (one per session, at most the size
# read_upload allows) for the "Import as a copy" button, which names it by a random token:
# a click from an older page (another file was uploaded since) is refused, never imports the
# wrong file.
PENDING_KEY = "builder_import_pending"


def _keep_pending(request, data, filename):
    token = secrets.token_urlsafe(16)
    request.session[PENDING_KEY] = {"token": token, "data": data, "filename": filename}
    return token


def _take_pending(request, token):
    pending = request.session.get(PENDING_KEY)
    if not isinstance(pending, dict) or not secrets.compare_digest(
        str(pending.get("token", "")), str(token)
    ):
        raise importing.ImportRefused(
            "That file is no longer waiting to be imported (another file was chosen since, or "
            "it was imported). Choose it again.",
            status=409,
        )
    return pending["data"], str(pending.get("filename", ""))


def _render(
    request,
    *,
    error="",
    file_error="",
    existing=None,
    copy_name="",
    pending="",
    status=200,
    list_close=True,
):
    rows, close_error = [], ""
    if list_close:
        client = close.client_from_settings(max_wait=settings.CLOSE_MAX_WAIT_IN_REQUEST)
        try:
            rows = importing.close_sequences(client=client)
        except close.CloseError as problem:
            close_error = f"Could not list Close's sequences: {problem.message}"
        finally:
            client.close()
    context = {
        "rows": rows,
        "listed": list_close,
        # close.py hides the key in Close's answers already; this page shows nothing unhidden.
        "close_error": redact(close_error),
        "error": redact(error),
        "file_error": file_error,
        "existing": existing,
        "copy_name": copy_name,
        "pending": pending,
        "max_kb": importing.MAX_FILE_BYTES // 1024,
    }
    return render(request, "builder/import.html", context, status=status)
