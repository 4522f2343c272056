"""Written copy as Close templates: which template each written step needs, what to send for
it, what Close has of it now (drift), and the records that make its create happen once.

A written step's copy travels to Close as a shared template the sequence's step references
(close-api.md §7). One OwnedTemplate row per step and kind remembers that template: its unique
name, Close's id, and the copy we last sent, so a republish sends nothing for unchanged copy and
a change made in Close since ("drift") can be told from our own edits.

This module plans and records; builder/publishing.py does the talking to Close, inside the
publish guard, and builder/confirmation.py shows the plan as requests on the publish page.
"""

import base64
import difflib
import hashlib
import hmac
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from builder import close, copytext, spec
from builder import steps as step_kinds
from builder.models import CloseTemplate, OwnedTemplate

CREATE, UPDATE, NOTHING = "create", "update", ""
REPLY_PREFIX = "Re: "
# The copy each kind of template carries, as Close names the fields (and OwnedTemplate's sent_*).
COPY_KEYS = {"email": ("subject", "body"), "sms": ("text",)}
WORDS = {"email": "email template", "sms": "SMS template"}


@dataclass
class TemplatePlan:
    """What publishing does for one written step's template."""

    index: int  # the step's place in the sequence (0-based)
    step_key: str
    kind: str  # "email" | "sms"
    action: str  # CREATE, UPDATE or NOTHING
    name: str
    copy: dict  # the copy as Close gets it: {"subject", "body"} or {"text"}
    payload: dict  # create: the whole template; update: the changed keys only
    owned: OwnedTemplate | None = None
    close_id: str = ""  # the template the step references now ("" until it is created)
    look_first: bool = False  # an earlier attempt may have created it: look it up by name first
    fork: bool = False  # the current template is shared: this step gets a template of its own
    reply_subject_from: int | None = None  # the step number whose subject a reply borrows
    shared_with: list = field(default_factory=list)  # [{"id", "name", "active"}], page only
    drift: bool = False  # Close's copy changed since we sent ours, unresolved
    overwrite: bool = False  # a person chose "Overwrite on publish"

    @property
    def number(self) -> int:
        return self.index + 1

    @property
    def words(self) -> str:
        return WORDS[self.kind]

    @property
    def shared_choice(self) -> bool:
        """Changed copy for a template that is shared (adopted from Close, or used by other
        sequences): the person may choose to update the shared template too."""
        row = self.owned
        if row is None or not row.close_id:
            return False
        shared = not row.created_by_us or bool(self.shared_with)
        changing = self.fork or (self.action == UPDATE and row.update_shared)
        return shared and changing


def is_written(step) -> bool:
    return step_kinds.is_written(step) and step.step_type in COPY_KEYS


# --- names -----------------------------------------------------------------------------------


def short_id(*, sequence_pk, step_key, kind, replacing="") -> str:
    """Six characters, the same every time for this draft step (and the template it replaces),
    different in every installation (the secret key keys it): two apps writing to one Close
    organization never look up each other's templates by name."""
    message = f"{sequence_pk}:{step_key}:{kind}:{replacing}".encode()
    digest = hmac.new(settings.SECRET_KEY.encode(), message, hashlib.sha256).digest()
    return base64.b32encode(digest[:5]).decode().lower()[:6]


def template_name(*, sequence, number, step_key, kind, replacing="") -> str:
    """ "My Sequence · step 2 · k3x9qa": readable in Close's template picker, unique per step."""
    token = short_id(sequence_pk=sequence.pk, step_key=step_key, kind=kind, replacing=replacing)
    return f"{sequence.name[:200]} · step {number} · {token}"


# --- the copy as Close gets it ---------------------------------------------------------------


def thread_subjects(sequence_spec) -> dict[int, tuple[int, str]]:
    """index of each reply email -> (number, subject) of the email that starts its thread.

    The payload's threading (the first email always starts a thread) decides; a picked
    template's subject comes from the template cache."""
    steps = spec.apply_threading_rule(sequence_spec.steps)
    cached = {
        template.close_id: template.subject
        for template in CloseTemplate.objects.filter(
            close_id__in=[s.email_template_id for s in steps if s.email_template_id],
            kind=CloseTemplate.Kind.EMAIL,
        )
    }
    starter = None
    found = {}
    for index, step in enumerate(steps):
        if step.step_type != "email":
            continue
        if step.threading == "old_thread" and starter is not None:
            found[index] = starter
            continue
        if is_written(step):
            subject = (step.subject or "").strip()
        else:
            subject = cached.get(step.email_template_id or "", "")
        starter = (index + 1, subject)
    return found


def reply_subject(subject) -> str:
    subject = " ".join(str(subject or "").split())
    if subject.lower().startswith("re:"):
        return subject
    return REPLY_PREFIX + subject if subject else REPLY_PREFIX.strip()


def copy_of(step, *, borrowed=None) -> dict:
    """The step's copy as its template carries it. The body is cleaned again on the way out
    (copytext.clean_body): rows written by other paths get the same subset the editor keeps.
    A reply without a subject of its own borrows its thread's, with "Re: " (`borrowed`)."""
    if step.step_type == "sms":
        return {"text": step.text or ""}
    subject = " ".join((step.subject or "").split())
    if not subject and borrowed is not None:
        subject = reply_subject(borrowed[1])
    return {"subject": subject, "body": copytext.clean_body(step.body or "")}


def sent_copy(owned: OwnedTemplate) -> dict:
    return {key: getattr(owned, f"sent_{key}") for key in COPY_KEYS[owned.kind]}


def drift_copy(owned: OwnedTemplate) -> dict:
    return {key: getattr(owned, f"drift_{key}") for key in COPY_KEYS[owned.kind]}


def close_copy(kind, template) -> dict:
    """The copy in a template as Close returns it."""
    template = template if isinstance(template, dict) else {}
    return {key: str(template.get(key) or "") for key in COPY_KEYS[kind]}


def same_copy(kind, one: dict, other: dict) -> bool:
    """Equal as copy: spacing in a subject or SMS and Close's rewriting of the body's HTML
    into the same subset do not count as a change."""
    for key in COPY_KEYS[kind]:
        a, b = one.get(key) or "", other.get(key) or ""
        if key == "body":
            a, b = copytext.clean_body(a), copytext.clean_body(b)
        else:
            a, b = " ".join(a.split()), " ".join(b.split())
        if a != b:
            return False
    return True


def changed_keys(kind, wanted: dict, current: dict) -> dict:
    return {
        key: wanted[key]
        for key in COPY_KEYS[kind]
        if not same_copy(kind, {key: wanted[key]}, {key: current.get(key)})
    }


def create_payload(kind, name, copy) -> dict:
    """POST /email_template/ or /sms_template/: shared, or Close refuses it in a sequence."""
    return {"name": name, **{key: copy[key] for key in COPY_KEYS[kind]}, "is_shared": True}


# --- the plan --------------------------------------------------------------------------------


def owned_templates(sequence) -> dict[tuple[str, str], OwnedTemplate]:
    return {(o.step_key, o.kind): o for o in OwnedTemplate.objects.filter(sequence=sequence)}


def is_shared(owned: OwnedTemplate | None, used_by=None) -> bool:
    """A template we must not change by default: not created by us (a Close import adopted
    it), or used by other sequences too (`used_by`, from Close, when known)."""
    return owned is not None and bool(owned.close_id) and (not owned.created_by_us or bool(used_by))


def plan_templates(*, sequence, sequence_spec=None, used_by=None, owned=None) -> list:
    """A TemplatePlan per written email or SMS step, in step order.

    `used_by` maps a template id to the other sequences Close says use it (what a live check
    or the publish job fetched); without it only adopted templates count as shared."""
    sequence_spec = sequence_spec or sequence.to_spec()
    owned = owned_templates(sequence) if owned is None else owned
    used_by = used_by or {}
    borrowed = thread_subjects(sequence_spec)
    plans = []
    for index, step in enumerate(spec.apply_threading_rule(sequence_spec.steps)):
        if not is_written(step):
            continue
        kind = step.step_type
        key = str(step.key or "")
        row = owned.get((key, kind))
        copy = copy_of(step, borrowed=borrowed.get(index))
        plan = TemplatePlan(
            index=index,
            step_key=key,
            kind=kind,
            action=NOTHING,
            name=row.name if row else "",
            copy=copy,
            payload={},
            owned=row,
            close_id=row.close_id if row else "",
            reply_subject_from=_borrowed_from(step, borrowed.get(index)),
            drift=bool(row and row.has_drift and not row.overwrite_drift),
            overwrite=bool(row and row.has_drift and row.overwrite_drift),
        )
        plans.append(_decide(plan, sequence, row, used_by.get(row.close_id) if row else None))
    return plans


def _borrowed_from(step, borrowed):
    """The number of the step whose subject a reply without its own borrows, or None."""
    if borrowed is None or (step.subject or "").strip():
        return None
    return borrowed[0]


def _decide(plan, sequence, row, used_by):
    if row is None or not row.close_id:
        plan.action = CREATE
        plan.look_first = row is not None  # a row without an id: an earlier create was sent
        if row is None:
            plan.name = template_name(
                sequence=sequence, number=plan.number, step_key=plan.step_key, kind=plan.kind
            )
        plan.payload = create_payload(plan.kind, plan.name, plan.copy)
        return plan
    # What Close has now: the drifted copy when a person chose to overwrite it, else ours.
    current = drift_copy(row) if plan.overwrite else sent_copy(row)
    changes = changed_keys(plan.kind, plan.copy, current)
    if not changes:
        return plan
    if is_shared(row, used_by) and not row.update_shared:
        plan.action = CREATE
        plan.fork = True
        plan.name = template_name(
            sequence=sequence,
            number=plan.number,
            step_key=plan.step_key,
            kind=plan.kind,
            replacing=row.close_id,
        )
        plan.payload = create_payload(plan.kind, plan.name, plan.copy)
        return plan
    plan.action = UPDATE
    plan.payload = changes
    return plan


def drift_refusal(sequence) -> str:
    """Why publishing must wait for a person's choice about copy changed in Close; "" when it
    need not. Only steps still written in the draft count."""
    keys = {
        str(step.pk)
        for step in sequence.steps.all()
        if step.step_type in COPY_KEYS and step.content_source == step_kinds.WRITTEN
    }
    unresolved = [
        row
        for row in OwnedTemplate.objects.filter(
            sequence=sequence, drift_seen_at__isnull=False, overwrite_drift=False
        )
        if row.step_key in keys
    ]
    if not unresolved:
        return ""
    numbers = _step_numbers(sequence)
    named = ", ".join(f"step {numbers.get(row.step_key, '?')}" for row in unresolved)
    return (
        f"The copy of {named} was changed in Close since it was published. Choose “Keep "
        "Close's version” or “Overwrite on publish” for it first."
    )


def _step_numbers(sequence):
    return {str(step.pk): index + 1 for index, step in enumerate(sequence.ordered_steps())}


# --- records ---------------------------------------------------------------------------------


def claim_row(*, sequence, plan) -> OwnedTemplate:
    """The step's row, with its name and no Close id, committed BEFORE the create is sent: a
    crash or an unclear answer afterwards leaves the name to look up before creating again."""
    with transaction.atomic():
        row, made = OwnedTemplate.objects.get_or_create(
            sequence=sequence,
            step_key=plan.step_key,
            kind=plan.kind,
            defaults={"name": plan.name, "created_by_us": True},
        )
        if not made and (plan.fork or row.name != plan.name or row.close_id):
            # A fork: the row leaves the shared template (still in Close, untouched) for one
            # of its own, under a new name.
            OwnedTemplate.objects.filter(pk=row.pk).update(
                name=plan.name,
                close_id="",
                created_by_us=True,
                sent_subject="",
                sent_body="",
                sent_text="",
                close_date_updated="",
                **_NO_DRIFT,
                update_shared=False,
            )
            row.refresh_from_db()
    return row


_NO_DRIFT = {
    "drift_seen_at": None,
    "drift_subject": "",
    "drift_body": "",
    "drift_text": "",
    "overwrite_drift": False,
}


def forget_gone(row: OwnedTemplate, *, sequence, number):
    """Close no longer has the step's template: the next publish creates one of the step's
    own, under a new name (an old name may be someone else's, and Close does not keep names
    unique)."""
    name = template_name(
        sequence=sequence,
        number=number,
        step_key=row.step_key,
        kind=row.kind,
        replacing=row.close_id,
    )
    values = {
        "name": name,
        "close_id": "",
        "created_by_us": True,
        "sent_subject": "",
        "sent_body": "",
        "sent_text": "",
        "close_date_updated": "",
        "update_shared": False,
        **_NO_DRIFT,
    }
    OwnedTemplate.objects.filter(pk=row.pk, close_id=row.close_id).update(**values)
    for field_name, value in values.items():
        setattr(row, field_name, value)


def record_written(row: OwnedTemplate, *, copy, answer, close_id=""):
    """Close has `copy` in the template (our create or update answered, or we found it):
    remember its id and what it holds, and forget any drift it resolved. A choice to update a
    shared template is used up: the next change to it needs a new look and a new choice."""
    answer = answer if isinstance(answer, dict) else {}
    values = {f"sent_{key}": copy[key] for key in COPY_KEYS[row.kind]}
    values["close_id"] = str(answer.get("id") or close_id or row.close_id)
    values["close_date_updated"] = str(answer.get("date_updated") or row.close_date_updated)[:40]
    values["update_shared"] = False
    OwnedTemplate.objects.filter(pk=row.pk).update(**values, **_NO_DRIFT)
    for name, value in {**values, **_NO_DRIFT}.items():
        setattr(row, name, value)


def record_drift(row: OwnedTemplate, *, found: dict):
    """Close's copy differs from what we sent: keep it beside ours until a person decides."""
    values = {f"drift_{key}": value for key, value in found.items()}
    if row.has_drift and all(getattr(row, name) == value for name, value in values.items()):
        return
    values["drift_seen_at"] = timezone.now()
    values["overwrite_drift"] = False  # a new change in Close needs a new decision
    OwnedTemplate.objects.filter(pk=row.pk).update(**values)
    for name, value in values.items():
        setattr(row, name, value)


def clear_drift(row: OwnedTemplate):
    OwnedTemplate.objects.filter(pk=row.pk).update(**_NO_DRIFT)
    for name, value in _NO_DRIFT.items():
        setattr(row, name, value)


def judge(row: OwnedTemplate, template: dict, *, wanted: dict) -> str:
    """Compare Close's template with what we sent: "same" (nothing changed in Close), "ours"
    (Close already holds the draft's copy, e.g. an update whose answer was lost), or "drift".

    A difference while Close's date_updated has not moved is Close's own rewriting of what we
    sent, not someone's edit: it counts as ours."""
    found = close_copy(row.kind, template)
    if same_copy(row.kind, found, sent_copy(row)):
        return "same"
    if same_copy(row.kind, found, wanted):
        return "ours"
    moved = str(template.get("date_updated") or "")
    if row.close_date_updated and moved == row.close_date_updated:
        return "same"
    return "drift"


def fetch_template(client, kind, template_id) -> dict:
    if kind == "sms":
        return client.fetch_sms_template(template_id)
    return client.fetch_email_template(template_id)


def others_using(template, *, own_close_id) -> list[dict]:
    """The sequences other than ours that Close says use the template."""
    used = template.get("used_by_sequences") if isinstance(template, dict) else None
    return [
        {"id": str(item.get("id") or ""), "name": str(item.get("name") or "")}
        for item in used or []
        if isinstance(item, dict) and item.get("id") and item.get("id") != own_close_id
    ]


# --- drift, as the publish page and the step card show it ------------------------------------


@dataclass
class LiveTemplate:
    """What a live check learned about one written step's template."""

    plan: TemplatePlan
    problem: str = ""  # could not fetch it, or it is gone


def check_templates(client, *, sequence, plans) -> list[LiveTemplate]:
    """Fetch each template a written step references: record drift (or clear it when Close is
    back to what we sent), and learn which other sequences use it. Raises CloseError when Close
    cannot be asked; a template Close no longer has is a problem only for that step."""
    checked = []
    for plan in plans:
        row = plan.owned
        if row is None or not row.close_id:
            continue
        live = LiveTemplate(plan=plan)
        try:
            template = fetch_template(client, plan.kind, row.close_id)
        except close.CloseNotFound:
            live.problem = (
                f"Step {plan.number}'s {plan.words} {row.close_id} is no longer in Close: "
                "publishing creates a new one."
            )
            forget_gone(row, sequence=sequence, number=plan.number)
            checked.append(live)
            continue
        verdict = judge(row, template, wanted=plan.copy)
        if verdict == "drift":
            record_drift(row, found=close_copy(row.kind, template))
        elif verdict == "ours":
            record_written(row, copy=plan.copy, answer=template)
        elif row.has_drift:
            clear_drift(row)
        plan.drift = row.has_drift and not row.overwrite_drift
        plan.overwrite = row.has_drift and row.overwrite_drift
        plan.shared_with = others_using(template, own_close_id=sequence.close_id)
        checked.append(live)
    return checked


def drift_by_step(sequence) -> dict[str, OwnedTemplate]:
    """step key -> the OwnedTemplate whose copy was changed in Close, for the step cards:
    each row comes as templates/builder/_copy_drift.html wants it (see for_display)."""
    rows = OwnedTemplate.objects.filter(sequence=sequence, drift_seen_at__isnull=False)
    numbers = _step_numbers(sequence)
    return {row.step_key: for_display(row, numbers) for row in rows if row.step_key in numbers}


def for_display(row: OwnedTemplate, numbers=None) -> OwnedTemplate:
    """The row with what the drift partial shows: `changes` (word by word, drift_changes) and
    `step_number` (None when the step is gone)."""
    numbers = _step_numbers(row.sequence) if numbers is None else numbers
    row.changes = drift_changes(row)
    row.step_number = numbers.get(row.step_key)
    return row


@dataclass
class WordChange:
    field: str  # "Subject"
    parts: list  # [(op, text)]: op "same" | "removed" | "added"


def drift_changes(row: OwnedTemplate) -> list[WordChange]:
    """Word by word, what Close's copy changed against what we sent (bodies as their text)."""
    changes = []
    for key in COPY_KEYS[row.kind]:
        ours, theirs = getattr(row, f"sent_{key}"), getattr(row, f"drift_{key}")
        if key == "body":
            ours, theirs = copytext.body_text(ours), copytext.body_text(theirs)
        if ours == theirs:
            continue
        changes.append(WordChange(step_kinds.FIELD_LABELS.get(key, key), word_diff(ours, theirs)))
    return changes


def word_diff(old: str, new: str) -> list[tuple[str, str]]:
    a, b = list(copytext.words(old or "")), list(copytext.words(new or ""))
    parts = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op == "equal":
            parts.append(("same", "".join(a[i1:i2])))
            continue
        if i2 > i1:
            parts.append(("removed", "".join(a[i1:i2])))
        if j2 > j1:
            parts.append(("added", "".join(b[j1:j2])))
    return parts


# --- the sequence's payload ------------------------------------------------------------------


def placeholder(plan: TemplatePlan) -> str:
    return f"<the id Close gives step {plan.number}'s new template>"


def with_template_ids(payload: dict, plans, *, placeholders=False, ids=None) -> dict:
    """The sequence's payload with each written step referencing its template: `ids` (step
    index -> template id) once they are written; before, the id it has, or for one still to
    be created None (or a readable placeholder for the publish page)."""
    steps = payload.get("steps") or []
    if not plans:
        return payload
    payload = {**payload, "steps": [dict(step) for step in steps]}
    for plan in plans:
        if plan.index >= len(steps):
            continue
        field_name = step_kinds.kind_of(plan.kind).template_field
        if ids is not None:
            template_id = ids.get(plan.index) or None
        elif plan.action == CREATE:
            template_id = placeholder(plan) if placeholders else None
        else:
            template_id = plan.close_id or None
        payload["steps"][plan.index][field_name] = template_id
    return payload


# --- a person's choices ----------------------------------------------------------------------


class ChoiceRefused(Exception):
    """Nothing was changed; `message` says why, `status` is the HTTP status to answer with."""

    def __init__(self, message, *, status=409):
        super().__init__(message)
        self.message = message
        self.status = status


def _owned_row(sequence, owned_id, user):
    from builder import permissions  # noqa: PLC0415 - keeps this module's imports light

    if not permissions.can_publish(user):
        raise ChoiceRefused("Only Publishers decide what publishing sends to Close.", status=403)
    row = OwnedTemplate.objects.filter(sequence=sequence, pk=owned_id).first()
    if row is None:
        raise ChoiceRefused("That template is no longer this sequence's. Reload the page.")
    return row


# A Publisher's two on/off choices about a step's template share one signature (`on`), so the
# publish views parse, record and answer them with one helper.


def choose_update_shared(*, sequence, user, owned_id, on: bool) -> OwnedTemplate:
    """ "Update the shared template too" (or take it back): the next publish changes the
    shared template in place instead of giving the step a template of its own."""
    row = _owned_row(sequence, owned_id, user)
    if on and not row.close_id:
        raise ChoiceRefused("This step has no shared template to update any more. Reload the page.")
    OwnedTemplate.objects.filter(pk=row.pk).update(update_shared=on)
    row.update_shared = on
    return row


def choose_overwrite(*, sequence, user, owned_id, on: bool) -> OwnedTemplate:
    """ "Overwrite on publish" (or take it back) for copy changed in Close."""
    row = _owned_row(sequence, owned_id, user)
    if on and not row.has_drift:
        raise ChoiceRefused("Close's copy of this step no longer differs. Reload the page.")
    OwnedTemplate.objects.filter(pk=row.pk).update(overwrite_drift=on)
    row.overwrite_drift = on
    return row
