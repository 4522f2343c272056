"""Publishing to Close from the editor page."""

from django.contrib import messages
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from builder import publishing
from builder.views.access import get_sequence_for_user


@require_POST
def sequence_publish(request, sequence_id):
    sequence = get_sequence_for_user(request, sequence_id)
    try:
        outcome = publishing.publish_sequence(sequence=sequence, user=request.user)
    except publishing.PublishRefused as refusal:
        messages.error(request, str(refusal))
        return redirect("sequence_edit", sequence_id=sequence.pk)
    if outcome.ok:
        messages.success(request, outcome.message)
    else:
        messages.error(request, outcome.message)
        for field, message in outcome.field_errors.items():
            messages.error(request, f"Close says {_field_label(field)}: {message}")
    return redirect("sequence_edit", sequence_id=sequence.pk)


def _field_label(path):
    """'steps.1.email_template_id' -> 'step 2 email template' (Close's field paths, in words)."""
    parts = str(path).split(".")
    if parts[0] == "steps" and len(parts) > 1 and parts[1].isdigit():
        rest = " ".join(parts[2:]).replace("_id", "").replace("_", " ")
        return f"step {int(parts[1]) + 1} {rest}".strip()
    return str(path).replace("_", " ")
