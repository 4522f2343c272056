"""The publish page's confirmation: what would be sent, the rules' verdict, live checks against
Close just before sending, and Close's field errors in the editor's words.

This presents; builder/publishing.py runs the publish (and says who may publish what).
"""

import json
from dataclasses import dataclass, field

from django.conf import settings

from builder import close, copy_publishing, spec
from builder import steps as step_kinds
from builder.models import CloseTemplate, PublishAttempt
from builder.publishing import (
    NOTES,
    STATUS_CHOICES,
    action_for,
    build_payload,
    curl_command,
    curl_for,
    publish_refusal,
)
from builder.redact import redact, redact_json

Action = PublishAttempt.Action


@dataclass
class Check:
    state: str  # "ok" | "problem" | "warning"
    text: str


@dataclass
class StepLine:
    number: int
    step_type: str
    what: str  # "Email “Intro — quick question”, starts a new thread"
    wait: str  # "1 day after the previous step"
    change: str = ""  # update only: "new" | "changed" | "unchanged" | "kept as it is"
    close_id: str = ""
    close_errors: list = field(default_factory=list)


@dataclass
class Request:
    """One request publishing sends, in order: the templates first, then the sequence."""

    number: int
    method: str  # "POST" | "PUT"
    path: str  # "email_template/", below the API's base URL
    title: str  # "Create step 2's email template"
    payload_json: str
    curl: str
    notes: list = field(default_factory=list)
    plan: copy_publishing.TemplatePlan | None = None


# Most other sequences whose active contacts a shared template's warning counts (a request each).
SHARED_COUNT_LIMIT = 10


@dataclass
class Confirmation:
    action: str
    requested_status: str
    payload: dict
    payload_json: str
    curl: str
    schedule_text: str
    steps: list
    checks: list
    refusal: str = ""
    removed_steps: list = field(default_factory=list)
    active_subscriptions: int | None = None
    close_status: str = ""
    live_checked: bool = False
    templates: list = field(default_factory=list)  # copy_publishing.TemplatePlan per written step
    requests: list = field(default_factory=list)  # Request, in the order they are sent
    drifted: list = field(default_factory=list)  # OwnedTemplate rows whose copy Close changed

    @property
    def can_publish(self):
        return not self.refusal and not any(check.state == "problem" for check in self.checks)

    @property
    def request_summary(self) -> str:
        """ "2 templates to create, 1 to update, then the sequence"."""
        creates = sum(1 for p in self.templates if p.action == copy_publishing.CREATE)
        updates = sum(1 for p in self.templates if p.action == copy_publishing.UPDATE)
        parts = []
        if creates:
            parts.append(f"{creates} template{'s' if creates != 1 else ''} to create")
        if updates:
            noun = "" if creates else f" template{'s' if updates != 1 else ''}"
            parts.append(f"{updates}{noun} to update")
        if not parts:
            return "One request: the sequence"
        return ", ".join(parts) + ", then the sequence"


def confirmation(*, sequence, user, requested_status=None, client=None, live=True, check_copy=None):
    """What the confirmation page shows: the rules, live checks against Close, the summary and
    the exact requests. Live checks run only when the user could publish right now; the copy
    check (each written step's template as Close has it: drift, other sequences using it) runs
    with `check_copy` (default: `live`) whatever the state, since Close's copy can change after
    publishing."""
    check_copy = live if check_copy is None else check_copy
    action = action_for(sequence)
    offered = STATUS_CHOICES if action == Action.CREATE else ("", *STATUS_CHOICES)
    if requested_status not in offered:
        # Close-api.md §12: create paused and let people activate on purpose; on update keep
        # whatever status the sequence has in Close unless asked.
        requested_status = "paused" if action == Action.CREATE else ""
    sequence_spec = sequence.to_spec()
    templates = CloseTemplate.lookup_for(sequence_spec)
    problems = spec.validate(sequence_spec, templates)
    payload = build_payload(sequence_spec, action=action, requested_status=requested_status)
    plans = copy_publishing.plan_templates(sequence=sequence, sequence_spec=sequence_spec)
    result = Confirmation(
        action=action,
        requested_status=requested_status,
        payload=copy_publishing.with_template_ids(payload, plans, placeholders=True),
        payload_json="",
        curl="",
        schedule_text=spec.describe_schedule(sequence_spec.schedule),
        steps=_step_lines(sequence_spec, templates),
        checks=[],
        refusal=publish_refusal(sequence=sequence, user=user, problems=problems),
        templates=plans,
    )
    for problem in spec.blocking(problems):
        result.checks.append(Check("problem", problem.message))
    live = live and not result.refusal
    if live or (check_copy and any(plan.owned and plan.owned.close_id for plan in plans)):
        own_client = client is None
        client = client or close.client_from_settings(max_wait=settings.CLOSE_MAX_WAIT_IN_REQUEST)
        try:
            if check_copy:
                _check_copy(client, sequence, sequence_spec, result)
            if live:
                _live_checks(client, sequence, sequence_spec, result)
        finally:
            if own_client:
                client.close()
    numbers = {plan.step_key: plan.number for plan in result.templates}
    result.drifted = [
        copy_publishing.for_display(plan.owned, numbers)
        for plan in result.templates
        if plan.owned and plan.owned.has_drift
    ]
    _requests(sequence, result)
    return result


def _check_copy(client, sequence, sequence_spec, result):
    """Each written step's template as Close has it now: record drift, and learn which other
    sequences use it (and how many contacts are in them) where publishing would change it."""
    try:
        live = copy_publishing.check_templates(client, sequence=sequence, plans=result.templates)
    except close.CloseError as error:
        result.checks.append(
            Check("warning", f"We could not check the steps' templates in Close: {error.message}")
        )
        return
    used_by = {
        item.plan.owned.close_id: item.plan.shared_with
        for item in live
        if item.plan.owned.close_id and not item.problem
    }
    for item in live:
        if item.problem:
            result.checks.append(Check("warning", item.problem))
    # Planned again with what Close said (the rows may have changed too: drift, a gone template).
    plans = copy_publishing.plan_templates(
        sequence=sequence, sequence_spec=sequence_spec, used_by=used_by
    )
    for plan in plans:
        plan.shared_with = used_by.get(plan.owned.close_id, []) if plan.owned else []
    result.templates = plans
    _count_active_contacts(client, plans, result)
    if any(plan.drift for plan in plans):
        refusal = copy_publishing.drift_refusal(sequence)
        if refusal:
            result.checks.append(Check("problem", refusal))
    result.payload = copy_publishing.with_template_ids({**result.payload}, plans, placeholders=True)


def _count_active_contacts(client, plans, result):
    """How many contacts the other sequences sharing a template hold, where publishing would
    change copy in a shared template (a fork leaves it alone, but the person may choose)."""
    counted = 0
    for plan in plans:
        changing = plan.fork or (plan.action == copy_publishing.UPDATE and plan.shared_with)
        if not changing:
            continue
        for other in plan.shared_with:
            if counted >= SHARED_COUNT_LIMIT:
                return
            counted += 1
            try:
                other["active"] = client.sequence_active_contacts(other["id"])
            except close.CloseError:
                other["active"] = None


def _requests(sequence, result):
    """The requests in the order publishing sends them, each with its JSON and curl."""
    requests = []
    for plan in result.templates:
        if plan.action == copy_publishing.NOTHING:
            continue
        base = "sms_template/" if plan.kind == "sms" else "email_template/"
        if plan.action == copy_publishing.CREATE:
            method, path = "POST", base
            title = f"Create step {plan.number}'s {plan.words}"
        else:
            method, path = "PUT", f"{base}{plan.close_id}/"
            title = f"Update step {plan.number}'s {plan.words}"
        requests.append(
            Request(
                number=len(requests) + 1,
                method=method,
                path=path,
                title=title,
                payload_json=json.dumps(plan.payload, indent=2, ensure_ascii=False),
                curl=curl_for(method, path, plan.payload),
                notes=_request_notes(plan),
                plan=plan,
            )
        )
    payload = result.payload
    result.payload_json = json.dumps(payload, indent=2, ensure_ascii=False)
    result.curl = curl_command(action=result.action, payload=payload, close_id=sequence.close_id)
    method, path = (
        ("PUT", f"sequence/{sequence.close_id}/")
        if result.action == Action.UPDATE
        else ("POST", "sequence/")
    )
    notes = []
    if any(plan.action == copy_publishing.CREATE for plan in result.templates):
        notes.append(
            "Where the JSON says “<the id Close gives …>”, publishing puts the id Close "
            "answers the template's create with."
        )
    requests.append(
        Request(
            number=len(requests) + 1,
            method=method,
            path=path,
            title=f"{'Create' if result.action == Action.CREATE else 'Update'} the sequence",
            payload_json=result.payload_json,
            curl=result.curl,
            notes=notes,
        )
    )
    result.requests = requests


def _request_notes(plan):
    notes = []
    if plan.look_first:
        notes.append(
            "An earlier attempt may have created it: we look it up in Close by its name first "
            "and use it if it is there."
        )
    if plan.action == copy_publishing.UPDATE:
        changed = ", ".join(sorted(plan.payload))
        notes.append(f"Only what changed is sent ({changed}); Close keeps the rest.")
    if plan.reply_subject_from is not None:
        notes.append(
            f"Step {plan.number} replies in its thread without a subject of its own; Close needs "
            f"one, so its template gets step {plan.reply_subject_from}'s subject with “Re: ”."
        )
    return notes


def _step_lines(sequence_spec, templates):
    lines = []
    # As the payload has it: the first email starts the thread, whatever the step stores.
    for index, step in enumerate(spec.apply_threading_rule(sequence_spec.steps)):
        if index == 0:
            wait = (
                "right after enrollment"
                if not step.delay
                else f"{spec.describe_delay(step.delay)} after enrollment"
            )
        else:
            wait = (
                "right after the previous step"
                if not step.delay
                else f"{spec.describe_delay(step.delay)} after the previous step"
            )
        lines.append(
            StepLine(
                number=index + 1,
                step_type=step.step_type or "",
                what=_describe_step(step, templates),
                wait=wait if isinstance(step.delay, int) and step.delay >= 0 else "",
                close_id=step.close_id or "",
            )
        )
    return lines


def _describe_step(step, templates):
    """ "Email “Intro”, starts a new thread"; "Call (required)" (steps.describe, as a sentence)."""

    def template_name(template_id):
        info = templates.get(template_id)
        return f"“{info.name}”" if info else f"template {template_id}"

    return step_kinds.describe(step, template_name).sentence()


def _live_checks(client, sequence, sequence_spec, result):
    """Ask Close itself, just before sending: the key, every template, and for an update the
    sequence as Close has it now. Problems block; an unreachable Close only warns."""
    checks = result.checks
    try:
        me = client.me()
    except close.CloseAuthError as error:
        checks.append(Check("problem", error.message))
        return
    except close.CloseError as error:
        checks.append(Check("warning", f"We could not check with Close just now: {error.message}"))
        return
    organizations = me.get("organizations") if isinstance(me, dict) else None
    org = (
        organizations[0].get("name") if organizations and isinstance(organizations[0], dict) else ""
    )
    checks.append(Check("ok", "Close accepts the API key" + (f" ({org})." if org else ".")))
    result.live_checked = True
    if not _check_templates(client, sequence_spec, checks):
        return
    if result.action == Action.UPDATE:
        _check_close_sequence(client, sequence, result)


def _check_templates(client, sequence_spec, checks):
    used: dict[tuple[str, str], list[int]] = {}
    for index, step in enumerate(sequence_spec.steps):
        if copy_publishing.is_written(step):
            continue  # its template is ours: _check_copy looks at it
        if step.step_type == "email" and step.email_template_id:
            used.setdefault(("email", step.email_template_id), []).append(index + 1)
        elif step.step_type == "sms" and step.sms_template_id:
            used.setdefault(("sms", step.sms_template_id), []).append(index + 1)
    for (kind, template_id), numbers in used.items():
        where = ("Step " if len(numbers) == 1 else "Steps ") + ", ".join(map(str, numbers))
        word = "email" if kind == "email" else "SMS"
        try:
            if kind == "email":
                template = client.fetch_email_template(template_id)
            else:
                template = client.fetch_sms_template(template_id)
        except close.CloseNotFound:
            checks.append(
                Check(
                    "problem",
                    f"{where}: the {word} template {template_id} no longer exists in Close. "
                    "Pick another template.",
                )
            )
            continue
        except close.CloseError as error:
            checks.append(
                Check("warning", f"We could not check the templates just now: {error.message}")
            )
            return False
        name = f"“{template.get('name') or template_id}”"
        archived = template.get("is_archived") or template.get("status") == "archived"
        if not template.get("is_shared"):
            checks.append(
                Check(
                    "problem",
                    f"{where}: {name} is not shared in Close, and Close refuses unshared "
                    "templates in Workflows. Share it in Close, then check again.",
                )
            )
        elif archived:
            checks.append(
                Check("problem", f"{where}: {name} is archived in Close. Pick another template.")
            )
        else:
            checks.append(Check("ok", f"{where}: {name} exists in Close, is shared and active."))
    return True


def _check_close_sequence(client, sequence, result):
    try:
        current = client.fetch_sequence(sequence.close_id)
    except close.CloseNotFound:
        result.checks.append(
            Check(
                "problem",
                f"Close no longer has this sequence ({sequence.close_id}); it may have been "
                "deleted in Close.",
            )
        )
        return
    except close.CloseError as error:
        result.checks.append(
            Check("warning", f"We could not fetch the sequence from Close: {error.message}")
        )
        return
    result.close_status = str(current.get("status") or "")
    counts = current.get("subscription_counts_by_status") or {}
    active = counts.get("active") if isinstance(counts, dict) else None
    result.active_subscriptions = active if isinstance(active, int) else None
    close_steps = {
        step.get("id"): step for step in current.get("steps") or [] if isinstance(step, dict)
    }
    sent_ids = set()
    for line, sent in zip(result.steps, result.payload["steps"], strict=True):
        step_id = sent.get("id")
        if not step_id:
            line.change = "new"
            continue
        sent_ids.add(step_id)
        before = close_steps.get(step_id)
        if set(sent) == {"id"}:
            line.change = "kept as it is"
        elif before is None:
            line.change = "missing in Close"
        elif any(before.get(key) != value for key, value in sent.items()):
            line.change = "changed"
        else:
            line.change = "unchanged"
    removed = [step for step_id, step in close_steps.items() if step_id not in sent_ids]
    result.removed_steps = [_describe_close_step(step) for step in removed]


def _describe_close_step(data):
    parsed = spec.from_close({"steps": [data]}).steps[0]
    kind = parsed.step_type or "email"
    label = step_kinds.type_label(kind) if step_kinds.is_known(kind) else kind.capitalize()
    return f"{label} step {data.get('id', '')}".strip()


# --- Close's field errors, in the editor's words --------------------------------------------

FIELD_LABELS = {
    **step_kinds.FIELD_LABELS,
    "id": "Close step id",
    "name": "Name",
    "timezone": "Timezone",
    "schedule": "Sending hours",
    "status": "Status",
    "steps": "Steps",
}


def map_field_errors(field_errors):
    """Close's field-errors -> ({step index: ["Email template: ..."]}, ["Timezone: ..."]).

    "steps.1.email_template_id" is shown on Step 2 as "Email template: <Close's message>".
    """
    by_step: dict[int, list[str]] = {}
    other: list[str] = []
    for path, message in close.flatten_field_errors(field_errors):
        parts = path.split(".")
        if parts[0] == "steps" and len(parts) > 1 and parts[1].isdigit():
            label = FIELD_LABELS.get(parts[2], parts[2].replace("_", " ")) if len(parts) > 2 else ""
            text = f"{label}: {message}" if label else message
            by_step.setdefault(int(parts[1]), []).append(text)
        else:
            label = FIELD_LABELS.get(parts[0], path.replace("_", " "))
            other.append(f"{label}: {message}" if path else message)
    return by_step, other


def show_close_refusal(result, attempt) -> list[str]:
    """After Close refused the latest attempt, put its field errors on the confirmation's steps;
    returns the errors no step holds ("Timezone: ...", or a step Close has but we do not)."""
    if attempt is None or attempt.outcome != PublishAttempt.Outcome.REFUSED:
        return []
    body = attempt.response_body if isinstance(attempt.response_body, dict) else {}
    by_step, other = map_field_errors(body.get("field-errors"))
    for index, messages in by_step.items():
        if 0 <= index < len(result.steps):
            result.steps[index].close_errors = messages
        else:
            other += [f"Step {index + 1}: {message}" for message in messages]
    return other


def attempt_history(*, sequence, limit: int) -> list[PublishAttempt]:
    """The latest attempts, newest first, each with what was sent and what Close answered as
    JSON text (`sent_json`, `answer_json`) for the page's history."""
    attempts = list(
        sequence.publish_attempts.select_related("user", "revision").order_by("-pk")[:limit]
    )
    for attempt in attempts:
        # Hidden again on the way out: records kept before the key's every form was hidden.
        attempt.message = redact(attempt.message)
        attempt.response_body = redact_json(attempt.response_body)
        attempt.sent_json = json.dumps(attempt.request_payload, indent=2, ensure_ascii=False)
        answer = attempt.response_body
        if isinstance(answer, dict) and NOTES in answer:
            # Our notes are not Close's words: the history shows what Close answered.
            answer = {k: v for k, v in answer.items() if k != NOTES} or None
        if answer is not None:
            attempt.answer_json = json.dumps(answer, indent=2, ensure_ascii=False)
    return attempts
