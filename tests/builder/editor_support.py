"""Helpers for the step editor's tests: its URLs, the posts its page makes, the saved state."""

from django.urls import reverse

from builder import spec
from builder import steps as step_kinds
from builder.models import Sequence, Step

# What htmx sends with every request from the editor page.
HTMX = {"HTTP_HX_REQUEST": "true"}


def edit_url(sequence):
    return reverse("sequence_edit", args=[sequence.pk])


def url(name, sequence, *args):
    return reverse(name, args=[sequence.pk, *args])


def version_of(sequence):
    return Sequence.objects.get(pk=sequence.pk).version


def steps_of(sequence):
    return list(Step.objects.filter(sequence=sequence).order_by("position", "pk"))


def state_of(sequence):
    """Everything the editor can change, to compare before and after a refused request."""
    fresh = Sequence.objects.get(pk=sequence.pk)
    return (
        fresh.name,
        fresh.version,
        [
            (s.pk, s.position, s.step_type, s.delay, s.email_template_id or s.sms_template_id)
            + (s.threading, s.required)
            for s in steps_of(sequence)
        ],
        fresh.revisions.count(),
    )


def card_data(step, **overrides):
    """The fields a step card posts on autosave (as the page renders them)."""
    days, hours, minutes = spec.split_delay(step.delay)
    data = {
        "version": str(version_of(step.sequence)),
        "days": str(days),
        "hours": str(hours),
        "minutes": str(minutes),
    }
    if step.threading == "old_thread":
        data["reply_in_thread"] = "on"
    if step.step_type == "call" and step.required:
        data["required"] = "on"
    kind = step_kinds.kind_of(step.step_type)
    if kind.copy_fields:  # the content choice, and the written copy's boxes when it shows them
        data["content_source"] = step.content_source
        if step_kinds.is_written(step):
            data.update({name: getattr(step, name) for name in kind.copy_fields})
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


def post(client, name, sequence, *args, data=None, htmx=True, query=""):
    """POST to an editor endpoint with the page's current version (unless `data` says one)."""
    payload = {"version": str(version_of(sequence))} | (data or {})
    headers = HTMX | {"HTTP_HX_CURRENT_URL": f"http://testserver{edit_url(sequence)}"}
    return client.post(url(name, sequence, *args) + query, payload, **(headers if htmx else {}))


def update_step(client, step, htmx=True, **overrides):
    return client.post(
        url("step_update", step.sequence, step.pk),
        card_data(step, **overrides),
        **(HTMX if htmx else {}),
    )
