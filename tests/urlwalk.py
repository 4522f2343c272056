"""Every route in the URL conf, with sample arguments: the security and fuzz tests walk these,
so a route added later is covered without anyone listing it."""

import dataclasses

from django.apps import apps
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.urls.converters import IntConverter

# Parameter names whose model is not simply "<name>_id" -> model "<name>".
MODEL_ALIASES = {
    "attempt": "publishattempt",
    "range": "schedulerange",
    "template": "closetemplate",
    "change": "statechange",
    "reply": "comment",
    "parent": "comment",
    "check": "audiencecheck",
}


@dataclasses.dataclass(frozen=True)
class Route:
    name: str  # "namespace:name", or the pattern text when the route has no name
    pattern: str
    converters: dict  # parameter name -> converter instance
    callback: object

    @property
    def is_admin(self):
        return self.name.startswith("admin:")

    @property
    def takes_sequence(self):
        return "sequence_id" in self.converters

    def url(self, kwargs):
        return reverse(self.name, kwargs=kwargs)


def routes():
    """Every named leaf of the URL conf (unnamed ones are admin's catch-all)."""
    found = []
    _walk(get_resolver().url_patterns, "", "", {}, found)
    return found


def _walk(patterns, prefix, namespace, converters, found):
    for entry in patterns:
        text = prefix + str(entry.pattern)
        these = converters | dict(getattr(entry.pattern, "converters", {}))
        if isinstance(entry, URLResolver):
            space = namespace
            if entry.namespace:
                space = f"{namespace}{entry.namespace}:"
            _walk(entry.url_patterns, text, space, these, found)
        elif isinstance(entry, URLPattern) and entry.name:
            regex_names = entry.pattern.regex.groupindex
            params = {name: these.get(name) for name in regex_names} | these
            found.append(Route(f"{namespace}{entry.name}", text, params, entry.callback))


def model_for(param):
    """'step_id' -> Step, 'attempt_id' -> PublishAttempt; None when no model matches."""
    if not param.endswith("_id"):
        return None
    stem = param.removesuffix("_id").replace("_", "")
    stem = MODEL_ALIASES.get(stem, stem)
    for model in apps.get_app_config("builder").get_models():
        if model._meta.model_name == stem:
            return model
    return None


def sample_kwargs(route, sequence, *, child_of=None):
    """Arguments that address real objects of `sequence`.

    child_of: take child objects (steps, comments, ...) from that other sequence instead,
    to check a view refuses objects that do not belong to the sequence in the URL.
    Returns None when the route cannot be addressed (no object of that kind exists).
    """
    kwargs = {}
    owner = child_of or sequence
    for param, converter in route.converters.items():
        if param == "sequence_id":
            kwargs[param] = sequence.pk
            continue
        model = model_for(param)
        if model is not None and not route.is_admin:
            objects = model.objects.order_by("pk")
            if any(field.name == "sequence" for field in model._meta.fields):
                objects = objects.filter(sequence=owner)
            obj = objects.first()
            if obj is None:
                return None
            value = obj.close_id if model._meta.model_name == "closetemplate" else obj.pk
            kwargs[param] = value if isinstance(converter, IntConverter) else str(value)
        elif param == "app_label":
            kwargs[param] = "builder"
        elif isinstance(converter, IntConverter):
            kwargs[param] = 1  # revision numbers, versions, admin ids: 1 always exists
        else:
            kwargs[param] = "1"
    return kwargs


def every_kwargs(route, sequence):
    """sample_kwargs for every object of `sequence` the route can address (each step, each
    comment, ...), so pages that differ by object (an email step's template picker, a call
    step's card) are all seen. Small: the test world has two of each."""
    base = sample_kwargs(route, sequence)
    if base is None:
        return []
    variants = [base]
    for param in route.converters:
        model = model_for(param)
        if param == "sequence_id" or model is None or route.is_admin:
            continue
        if not any(field.name == "sequence" for field in model._meta.fields):
            continue
        pks = list(
            model.objects.filter(sequence=sequence).order_by("pk").values_list("pk", flat=True)
        )
        variants = [kwargs | {param: pk} for kwargs in variants for pk in pks]
    return variants


def has_child_objects(route):
    """Does the route address an object that belongs to a sequence (besides the sequence)?"""
    for param in route.converters:
        model = model_for(param)
        if (
            param != "sequence_id"
            and model is not None
            and any(field.name == "sequence" for field in model._meta.fields)
        ):
            return True
    return False


# --- A small world to walk: two sequences with every kind of child object ---------------------
XSS_SCRIPT = "<script>alert('xss-name')</script>"
XSS_IMG = "\"><img src=x onerror=alert('xss-attr')>"
XSS = f"{XSS_SCRIPT}{XSS_IMG}"


@dataclasses.dataclass
class World:
    root: object  # superuser: every role
    a: object  # the sequence the URLs address
    b: object  # another sequence, whose data nothing may touch


def build_world(django_user_model, *, text="Note"):
    """Two sequences, each with steps, schedule, revisions, a comment, a state change and a
    publish attempt; `text` goes into every free-text field (names, comments, messages)."""
    from builder.models import (
        AudienceCheck,
        Comment,
        OwnedTemplate,
        PublishAttempt,
        Sequence,
        Step,
    )

    root = django_user_model.objects.create_superuser(
        username="root", password="root-password-1", email="root@example.com"
    )
    root.first_name = text
    root.save()
    sequences = []
    for label in ("A", "B"):
        sequence = Sequence.create_draft(
            name=f"{text} {label}", timezone_name="America/New_York", user=root
        )
        with sequence.editing(user=root, loaded_version=sequence.version, summary=text):
            Step.objects.bulk_create(
                [
                    Step(sequence=sequence, position=0, step_type="call", delay=0),
                    Step(
                        sequence=sequence,
                        position=1,
                        step_type="email",
                        delay=86400,
                        email_template_id="tmpl_0gMIs4xwhr0jMypNPulMqlXC94Y9wgT7Z5giUb3BBjL",
                        threading="new_thread",
                    ),
                ]
            )
        step = sequence.ordered_steps()[1]
        revision = sequence.revisions.order_by("-number").first()
        parent = Comment.objects.create(
            sequence=sequence,
            revision=revision,
            step=step,
            step_label="Step 2 · Email",
            author=root,
            body=text,
        )
        Comment.objects.create(sequence=sequence, parent=parent, author=root, body=text)
        sequence.change_status(Sequence.Status.IN_REVIEW, user=root, note=text)
        PublishAttempt.objects.create(
            sequence=sequence,
            user=root,
            revision=revision,
            request_payload={"name": text},
            response_status=400,
            response_body={"errors": [text]},
            message=text,
            outcome=PublishAttempt.Outcome.REFUSED,
        )
        OwnedTemplate.objects.create(
            sequence=sequence,
            step_key=str(step.pk),
            kind="email",
            close_id="tmpl_0gMIs4xwhr0jMypNPulMqlXC94Y9wgT7Z5giUb3BBjL",
            name=text,
            created_by_us=False,
            drift_seen_at=revision.created_at,
            drift_body=text,
        )
        listed = {"id": "cont_1", "lead_id": "lead_1", "name": text, "email": "a@example.com"}
        AudienceCheck.objects.create(
            sequence=sequence,
            revision_number=sequence.version,
            smart_view_id="save_world",
            smart_view_name=text,
            started_by=root,
            state=AudienceCheck.State.DONE,
            read_count=1,
            summary={
                "read": 1,
                "fields": [
                    {
                        **{"tag": "contact.first_name", "label": text, "empty": 1, "total": 1},
                        **{"steps": [2], "uses": [{"step": 2, "fallback": text}]},
                        **{"covered": True, "uncovered_steps": [], "contacts": [listed]},
                    }
                ],
                "no_email": {"count": 1, "steps": [2], "contacts": [listed]},
                "no_phone": {"count": 0, "steps": [1], "contacts": []},
                "active": {"checked": True, "count": 1, "contacts": [listed]},
            },
            message=text,
        )
        sequence.refresh_from_db()
        sequences.append(sequence)
    return World(root, *sequences)


def fingerprint(sequence):
    """What must not change when a request is about something else (or refused)."""
    from builder.models import Sequence

    sequence = Sequence.objects.get(pk=sequence.pk)
    return {
        "name": sequence.name,
        "version": sequence.version,
        "status": sequence.status,
        "close_id": sequence.close_id,
        "revisions": sequence.revisions.count(),
        "steps": list(sequence.steps.values_list("pk", "position", "step_type", "delay")),
        "ranges": list(sequence.schedule_ranges.values_list("weekday", "start", "end")),
        "comments": list(sequence.comments.values_list("pk", "body", "resolved_at").order_by("pk")),
        "attempts": sequence.publish_attempts.count(),
    }


def plausible_data(sequence, text="Hello"):
    """POST data shaped like what the app's forms send for `sequence`: a step card's fields,
    drag and drop's full order, the schedule form's rows, plus the usual names of single-field
    forms, so views that are not permission-checked would act."""
    steps = sequence.ordered_steps()
    ranges = list(sequence.schedule_ranges.order_by("weekday", "start"))
    return {
        "name": text,
        "timezone": sequence.timezone,
        "has_schedule": "hours" if sequence.has_schedule else "any_time",
        "weekday": [str(row.weekday) for row in ranges],
        "start": [f"{row.start:%H:%M}" for row in ranges],
        "end": [f"{row.end:%H:%M}" for row in ranges],
        "order": [str(step.pk) for step in steps],
        "body": text,
        "comment": text,
        "note": text,
        "message": text,
        "summary": text,
        "step_type": "email",
        "days": "1",
        "hours": "0",
        "minutes": "0",
        "position": "0",
        "q": text,
        "status": "active",
        "confirm": "on",
        "version": str(sequence.version),
        "loaded_version": str(sequence.version),
    }
