"""Importing sequences: from Close's live sequences, and from JSON files."""

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
    messages.success(
        request,
        f"Imported “{sequence.name}” from Close. It is marked Published: edit it, have it "
        "reviewed, and publish to update it in Close.",
    )
    for note in notes:
        messages.warning(request, note)
    return redirect("sequence_edit", sequence_id=sequence.pk)


@require_POST
def sequence_import_file(request):
    require_editor(request)
    upload = request.FILES.get("file")
    try:
        data = importing.read_upload(upload)
        sequence = importing.import_file(
            data=data, user=request.user, filename=getattr(upload, "name", "")
        )
    except importing.ImportRefused as refusal:
        return _render(request, file_error=refusal.message, status=refusal.status, list_close=False)
    messages.success(request, f"Imported “{sequence.name}” from the file as a new draft.")
    return redirect("sequence_edit", sequence_id=sequence.pk)


def _render(request, *, error="", file_error="", existing=None, status=200, list_close=True):
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
        "max_kb": importing.MAX_FILE_BYTES // 1024,
    }
    return render(request, "builder/import.html", context, status=status)
