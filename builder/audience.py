"""The audience check: a sequence's copy against the contacts of a Close Smart View, and the
preview of every step as one of those contacts will read it.

How one check runs (the shape of publishing.py)
1. start_check() runs in the request: it checks the rules (a role that may edit, review or
   publish; a limit within bounds; a Smart View Close knows), returns a check of the same
   revision and Smart View made within AUDIENCE_REUSE_SECONDS instead of asking Close again, or
   records a new AudienceCheck "running" and hands run_check to a background job (jobs.py).
   The last look for one to reuse and the new row share a transaction holding the sequence's
   row, so two people pressing at once start one read.
2. run_check() pages through the Smart View's contacts (search_contacts_page, `_fields` limited
   to what the copy needs), writing its progress onto the row after every page and honouring
   Cancel between pages. When Close rate-limits us beyond the client's own budget it waits (a
   bounded number of times) and asks again for the same page; a 5xx, a dropped connection or
   an unreadable answer ends the check "failed" with a message, keeping the summary of the
   contacts read so far.

What is stored (the page says so): counts per merge field and per problem, the steps they
affect, and for the contacts each problem lists only id, lead id, display name and email. The
contacts' other data lives in memory for one page of the read, and in a preview only for the
request that shows it.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import timedelta

import requests
from django.conf import settings
from django.db import transaction
from django.template.defaultfilters import linebreaksbr
from django.utils import timezone
from django.utils.html import escape
from django.utils.safestring import mark_safe

from builder import close, copytext, jobs, permissions, steps
from builder.models import AudienceCheck, CloseTemplate, OwnedTemplate, Sequence

logger = logging.getLogger(__name__)

State = AudienceCheck.State
DEFAULT_LIMIT = 200
MAX_LIMIT = 5000
PAGE_SIZE = 200  # close-api.md §14: the largest /data/search/ page community code uses
LISTED_CONTACTS = 100  # contacts listed per problem; the counts cover everyone read
MAX_RATE_LIMIT_WAITS = 5  # a check asks again after Close's wait at most this many times
MAX_RATE_LIMIT_WAIT = 60.0  # seconds, per wait
SEARCH_RESULTS = 20  # "Preview as" search: contacts shown per search
# Fields every read needs besides the copy's: who the contact is and whether they can receive
# an email, a call or an SMS at all.
BASE_CONTACT_FIELDS = ("id", "lead_id", "name", "emails", "phones")
# Steps that need an address or a number to be sent.
NEEDS_EMAIL = ("email",)
NEEDS_PHONE = ("call", "sms")
EMPTY_MARK = "sbemptymark{}x"  # a placeholder that survives clean_body (letters only)
_sleep = time.sleep  # tests may replace it


class AudienceRefused(Exception):
    """Nothing was started; the message says why (invalid input: the view answers 422)."""


class NotAllowed(AudienceRefused):
    """The person's roles do not allow it (the view answers 403)."""


def can_check(user) -> bool:
    """Who may check an audience and preview as a contact: anyone with a role (Editor, Reviewer
    or Publisher). Each check reads contacts from Close with the team's key, so a member who
    can only look sees the results but starts no reads."""
    return bool(permissions.roles_of(user))


def reuse_window() -> timedelta:
    return timedelta(seconds=float(getattr(settings, "AUDIENCE_REUSE_SECONDS", 300)))


def job_client(**overrides):
    """The client a background read uses: it may wait longer for Close than a request."""
    wait = float(getattr(settings, "CLOSE_MAX_WAIT_IN_JOB", 60.0))
    return close.client_from_settings(**{"max_wait": wait, **overrides})


def request_client(**overrides):
    wait = float(getattr(settings, "CLOSE_MAX_WAIT_IN_REQUEST", 5.0))
    return close.client_from_settings(**{"max_wait": wait, **overrides})


# --- the copy a check reads -------------------------------------------------------------------


@dataclass(frozen=True)
class StepCopy:
    """One email or SMS step's words, written in the step or in its shared Close template."""

    number: int  # 1-based, as the pages number steps
    step_type: str
    written: bool
    template_id: str  # the Close template carrying the words ("" when none yet)
    key: str  # the step row (spec.Step.key), "" for a revision without keys
    subject: str = ""
    body: str = ""  # HTML for an email, "" for an SMS
    text: str = ""  # an SMS's words

    @property
    def texts(self) -> tuple[str, ...]:
        return (self.subject, self.body) if self.step_type == "email" else (self.text,)


def copy_of(sequence_spec) -> list[StepCopy]:
    """Every email and SMS step's words: written copy from the step, a picked template's from
    the synced cache (what Close sends for it)."""
    template_ids = [
        step.email_template_id or step.sms_template_id
        for step in sequence_spec.steps
        if not steps.is_written(step)
    ]
    cached = {
        template.close_id: template
        for template in CloseTemplate.objects.filter(close_id__in=[i for i in template_ids if i])
    }
    copies = []
    for number, step in enumerate(sequence_spec.steps, start=1):
        if step.step_type not in ("email", "sms"):
            continue
        template_id = (
            step.email_template_id if step.step_type == "email" else step.sms_template_id
        ) or ""
        if steps.is_written(step):
            words = {"subject": step.subject or "", "body": step.body or "", "text": step.text}
        else:
            template = cached.get(template_id)
            subject = template.subject if template else ""
            body = template.body if template else ""
            words = (
                {"subject": subject, "body": body} if step.step_type == "email" else {"text": body}
            )
        copies.append(
            StepCopy(
                number=number,
                step_type=step.step_type,
                written=steps.is_written(step),
                template_id=template_id,
                key=step.key or "",
                subject=words.get("subject") or "",
                body=words.get("body") or "",
                text=words.get("text") or "",
            )
        )
    return copies


@dataclass
class FieldUse:
    tag: str
    label: str
    uses: list[dict] = field(default_factory=list)  # [{"step": 2, "fallback": "there" | None}]

    @property
    def steps(self) -> list[int]:
        return sorted({use["step"] for use in self.uses})

    @property
    def uncovered_steps(self) -> list[int]:
        """The steps where an empty value shows as a gap (a use without a fallback)."""
        return sorted({use["step"] for use in self.uses if use["fallback"] is None})

    @property
    def covered(self) -> bool:
        """Every use has a fallback: an empty value never shows as a gap."""
        return all(use["fallback"] is not None for use in self.uses)


def fields_used(copies: list[StepCopy]) -> dict[str, FieldUse]:
    """The merge fields the copy uses (copytext.used_fields over every step), with the steps
    using each and whether each use has a fallback. Only fields that vary per contact count:
    the sender's (user.*, organization.*) are the same for everyone."""
    used: dict[str, FieldUse] = {}
    for copy in copies:
        for tag in copytext.used_fields(*copy.texts):
            if not tag.startswith(("contact.", "lead.")):
                continue
            known = copytext.known_field(tag)
            entry = used.setdefault(tag, FieldUse(tag, known.label if known else tag))
            for text in copy.texts:
                for use in copytext.tags_in(text):
                    if use.path == tag and not use.problem:
                        entry.uses.append({"step": copy.number, "fallback": use.fallback})
    return used


def contact_fields(used: dict[str, FieldUse]) -> list[str]:
    """The contact `_fields` a read asks for: who the contact is and how to reach them, which
    is also all copytext.contact_values reads of a contact (close.CONTACT_FIELDS)."""
    return list(BASE_CONTACT_FIELDS)


def lead_fields(used: dict[str, FieldUse]) -> list[str]:
    """The lead fields the copy's lead.* merge fields need ([] when it uses none)."""
    names = []
    for tag in used:
        if tag == "lead.display_name":
            names.append("display_name")
        elif tag == "lead.url":
            names.append("url")
        elif tag.startswith(copytext.CUSTOM_FIELD_PREFIX):
            names.append("custom")
    return list(dict.fromkeys(names))


# --- starting a check -------------------------------------------------------------------------


def parse_limit(value) -> int:
    """The "Limit" input as a number of contacts; AudienceRefused when it is not one we read."""
    text = str(value if value is not None else "").strip()
    if not text:
        return DEFAULT_LIMIT
    if not text.isdigit() or not 1 <= int(text) <= MAX_LIMIT:
        raise AudienceRefused(f"The limit must be a whole number from 1 to {MAX_LIMIT:,}.")
    return int(text)


def reusable_check(*, sequence, smart_view_id, limit) -> AudienceCheck | None:
    """A check of this revision and Smart View made within reuse_window() that answers the same
    question: still running, or done having read at least `limit` contacts (or all there were)."""
    since = timezone.now() - reuse_window()
    candidates = AudienceCheck.objects.filter(
        sequence=sequence,
        revision_number=sequence.version,
        smart_view_id=smart_view_id,
        started_at__gte=since,
        state__in=(State.RUNNING, State.DONE),
    ).order_by("-started_at", "-pk")
    for check in candidates:
        if check.state == State.RUNNING and not check.cancel_requested:
            return check
        if check.state == State.DONE and (limit <= check.limit or check.read_count < check.limit):
            return check
    return None


def start_check(*, sequence, user, smart_view_id, limit, client=None) -> AudienceCheck:
    """Start a check of `sequence`'s current revision against a Smart View (or return the one
    made a moment ago). Raises NotAllowed or AudienceRefused without reading any contact."""
    if not can_check(user):
        raise NotAllowed(
            "Only team members with a role (Editor, Reviewer or Publisher) can check an audience."
        )
    smart_view_id = str(smart_view_id or "").strip()
    if not smart_view_id:
        raise AudienceRefused("Choose a Smart View to check.")
    if not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise AudienceRefused(f"The limit must be a whole number from 1 to {MAX_LIMIT:,}.")
    sequence = Sequence.objects.get(pk=sequence.pk)
    found = reusable_check(sequence=sequence, smart_view_id=smart_view_id, limit=limit)
    if found is not None:
        return found
    # Close is asked outside the guard below: no lock is held while the network answers.
    view = _smart_view(smart_view_id, client)
    # The guard: two people pressing "Check audience" at once both got here (neither saw a
    # check to reuse). Looking again and creating inside one transaction that holds the
    # sequence's row (select_for_update on PostgreSQL; on SQLite every transaction is
    # IMMEDIATE, a write lock) makes the second wait for the first's commit, then find its
    # check: one read of Close, as for publishing's guard.
    with transaction.atomic():
        sequence = Sequence.objects.select_for_update().get(pk=sequence.pk)
        found = reusable_check(sequence=sequence, smart_view_id=smart_view_id, limit=limit)
        if found is not None:
            return found
        check = AudienceCheck.objects.create(
            sequence=sequence,
            revision_number=sequence.version,
            smart_view_id=smart_view_id,
            smart_view_name=str(view.get("name") or smart_view_id)[:300],
            started_by=user,
            limit=limit,
            requests_made=1,  # the Smart View looked up above
            message="Waiting for a free worker…",
        )
    # After the row is committed (as publishing does): the job's thread must see it.
    jobs.submit(run_check_job, check.pk)
    check.refresh_from_db()  # an inline job (tests, scripts) has finished it already
    return check


def _smart_view(smart_view_id, client) -> dict:
    own = client is None
    client = client or request_client()
    try:
        view = client.fetch_smart_view(smart_view_id)
    except close.CloseNotFound as error:
        raise AudienceRefused(
            "Close has no Smart View with that id. Choose one from the list."
        ) from error
    except (close.CloseError, ValueError) as error:
        message = getattr(error, "message", "") or "That is not a Smart View id."
        raise AudienceRefused(f"Could not read the Smart View from Close: {message}") from error
    finally:
        if own:
            client.close()
    if not isinstance(view, dict):
        raise AudienceRefused("Close answered with a Smart View we could not read.")
    return view


def cancel_check(*, check, user) -> bool:
    """Ask a running check to stop after the page it is reading. True when it was running."""
    if not can_check(user):
        raise NotAllowed("Only team members with a role can cancel an audience check.")
    return bool(
        AudienceCheck.objects.filter(pk=check.pk, state=State.RUNNING).update(cancel_requested=True)
    )


# --- running a check --------------------------------------------------------------------------


def run_check_job(check_id):
    check = AudienceCheck.objects.select_related("sequence").get(pk=check_id)
    return run_check(check=check)


class _Counter:
    """Counts Close's answers (every HTTP response, retries included) on the client's session."""

    def __init__(self):
        self.requests = 0

    def __call__(self, response, *args, **kwargs):
        self.requests += 1
        return response


def counted_session() -> tuple[requests.Session, _Counter]:
    counter = _Counter()
    session = requests.Session()
    session.hooks["response"].append(counter)
    return session, counter


class _Summary:
    """What a check keeps while it reads: counts, and the few contacts each problem lists."""

    def __init__(self, used: dict[str, FieldUse], sequence_steps):
        self.used = used
        self.email_steps = [n for n, t in sequence_steps if t in NEEDS_EMAIL]
        self.phone_steps = [n for n, t in sequence_steps if t in NEEDS_PHONE]
        self.active_checked = False
        self.restart()

    def restart(self):
        """Forget what was counted (the read starts again from the first page)."""
        self.read = 0
        self.empty = {tag: 0 for tag in self.used}
        self.empty_listed: dict[str, list] = {tag: [] for tag in self.used}
        self.no_email: list = []
        self.no_email_count = 0
        self.no_phone: list = []
        self.no_phone_count = 0
        self.active: list = []
        self.active_count = 0
        self.leads_without_contacts = 0

    def add(self, contact, values, active_ids):
        self.read += 1
        listed = listed_contact(contact)
        for tag in self.used:
            if not (values.get(tag) or "").strip():
                self.empty[tag] += 1
                _append(self.empty_listed[tag], listed)
        if not email_of(contact):
            self.no_email_count += 1
            _append(self.no_email, listed)
        if not any(isinstance(p, dict) and p.get("phone") for p in contact.get("phones") or []):
            self.no_phone_count += 1
            _append(self.no_phone, listed)
        if contact.get("id") in active_ids:
            self.active_count += 1
            _append(self.active, listed)

    def as_json(self) -> dict:
        return {
            "read": self.read,
            "fields": [
                {
                    "tag": tag,
                    "label": use.label,
                    "empty": self.empty[tag],
                    "total": self.read,
                    "steps": use.steps,
                    "uses": use.uses,
                    "covered": use.covered,
                    "uncovered_steps": use.uncovered_steps,
                    "contacts": self.empty_listed[tag],
                }
                for tag, use in self.used.items()
            ],
            "no_email": {
                "count": self.no_email_count,
                "steps": self.email_steps,
                "contacts": self.no_email,
            },
            "no_phone": {
                "count": self.no_phone_count,
                "steps": self.phone_steps,
                "contacts": self.no_phone,
            },
            "active": {
                "checked": self.active_checked,
                "count": self.active_count,
                "contacts": self.active,
            },
            "leads_without_contacts": self.leads_without_contacts,
        }


def _append(listing, contact):
    if len(listing) < LISTED_CONTACTS:
        listing.append(contact)


def email_of(contact) -> str:
    """The address an email step would go to: the first one not unsubscribed (close-api.md §14)."""
    return copytext.usable_email(contact)


def listed_contact(contact) -> dict:
    """The only contact details a check stores: id, lead id, display name and email."""
    name = str(contact.get("display_name") or contact.get("name") or "")
    return {
        "id": str(contact.get("id") or ""),
        "lead_id": str(contact.get("lead_id") or ""),
        "name": " ".join(name.split())[:200],  # one line, however Close spaced it
        "email": email_of(contact)[:254],
    }


class _Stopped(Exception):
    def __init__(self, state, message):
        super().__init__(message)
        self.state = state
        self.message = message


def run_check(*, check, client=None) -> AudienceCheck:
    """Read the Smart View's contacts page by page and store the summary (see the module
    docstring). Returns the check as stored."""
    counter = None
    own = client is None
    if own:
        session, counter = counted_session()
        client = job_client(session=session)
    sequence = check.sequence
    revision = sequence.revisions.filter(number=check.revision_number).first()
    sequence_spec = revision.to_spec() if revision is not None else sequence.to_spec()
    copies = copy_of(sequence_spec)
    used = fields_used(copies)
    step_types = [(n, s.step_type) for n, s in enumerate(sequence_spec.steps, start=1)]
    summary = _Summary(used, step_types)
    reader = _Reader(check, client, counter, summary, used)
    state, message = State.DONE, ""
    try:
        reader.read()
    except _Stopped as stop:
        state, message = stop.state, stop.message
    except Exception:
        logger.exception("Audience check %s failed unexpectedly", check.pk)
        state = State.FAILED
        message = "Something went wrong on our side while reading the contacts."
        message += reader.kept()
    finally:
        if own:
            client.close()
            session.close()
    if state == State.DONE:
        message = f"Checked {summary.read} contact{'s' if summary.read != 1 else ''}."
        if reader.more:
            message += f" The Smart View has more: the limit of {check.limit:,} was reached."
    check.state = state
    check.message = message
    check.read_count = summary.read
    check.total = summary.read if state == State.DONE and not reader.more else reader.total
    check.requests_made = reader.requests()
    check.summary = summary.as_json()
    check.finished_at = timezone.now()
    check.save(
        update_fields=[
            *("state", "message", "read_count", "total", "requests_made", "summary"),
            "finished_at",
        ]
    )
    return check


class _Reader:
    def __init__(self, check, client, counter, summary, used):
        self.check = check
        self.client = client
        self.counter = counter
        self.summary = summary
        self.used = used
        self.calls = 0  # logical calls, when no counter sees the HTTP answers
        self.before = check.requests_made  # made before the job began (start_check's look-up)
        self.total = None
        self.more = False

    def requests(self) -> int:
        made = self.counter.requests if self.counter is not None else self.calls
        return self.before + made

    def kept(self) -> str:
        read = self.summary.read
        if not read:
            return " No contacts were read."
        return (
            f" The summary below covers the {read} contact{'s' if read != 1 else ''} read "
            "before it stopped."
        )

    def read(self):
        check = self.check
        self._progress("Reading the Smart View from Close…")
        view = self._ask(self.client.fetch_smart_view, check.smart_view_id)
        if not isinstance(view, dict):
            raise _Stopped(State.FAILED, "Close answered with a Smart View we could not read.")
        self._progress("Asking Close which contacts are already active in this sequence…")
        active_ids = self._active_ids()
        cursor = None
        waits = 0
        restarted = False
        while self.summary.read < check.limit:
            if self._cancelled():
                raise _Stopped(State.CANCELLED, "Cancelled." + self.kept())
            self._progress(f"Read {self.summary.read} contacts…")
            try:
                page = self._call(
                    self.client.search_contacts_page,
                    smart_view=view,
                    fields=contact_fields(self.used),
                    cursor=cursor,
                    limit=min(PAGE_SIZE, check.limit - self.summary.read),
                    lead_fields=lead_fields(self.used) or ("id",),
                )
            except close.CloseRateLimited as error:
                waits += 1
                if waits > MAX_RATE_LIMIT_WAITS:
                    raise _Stopped(State.FAILED, self._failure(error)) from error
                seconds = min(MAX_RATE_LIMIT_WAIT, max(0.0, error.retry_after))
                self._progress(
                    f"Read {self.summary.read} contacts. Close asked us to wait "
                    f"{max(1, round(seconds))} s…"
                )
                _sleep(seconds)
                continue  # the same cursor: the page Close refused
            except close.CloseCursorExpired as error:
                # Close forgot where the list had got to (a long wait): read it again from the
                # start, once, rather than count anyone twice or leave a gap.
                if restarted:
                    raise _Stopped(State.FAILED, self._failure(error)) from error
                restarted, cursor = True, None
                self.summary.restart()
                continue
            except close.CloseError as error:
                raise _Stopped(State.FAILED, self._failure(error)) from error
            contacts, next_cursor = _page_contents(page)
            if contacts is None:
                raise _Stopped(
                    State.FAILED,
                    "The read stopped: Close answered with a list of contacts we could not read."
                    + self.kept(),
                )
            total = page.get("total")
            if page.get("object_type") == "contact" and isinstance(total, int) and total >= 0:
                self.total = min(total, check.limit)
            leads = page.get("leads") if isinstance(page.get("leads"), dict) else {}
            self.summary.leads_without_contacts += len(page.get("leads_without_contacts") or [])
            for contact in contacts[: check.limit - self.summary.read]:
                lead = leads.get(contact.get("lead_id")) or {}
                values = copytext.contact_values(contact, lead, None, None)
                self.summary.add(contact, values, active_ids)
            if not next_cursor or not contacts:
                self.more = False
                return
            if self.summary.read >= check.limit:
                self.more = True  # stopped at the limit with a next page to read
                return
            cursor = next_cursor
            self._save_progress()

    def _failure(self, error) -> str:
        """What stopped the read, what was kept, and what to do: the client's message without
        its own advice, which we give once at the end."""
        words = error.message.replace("Try again in a few minutes.", "").strip()
        if not words.endswith((".", "!", "?")):
            words += "."
        return f"The read stopped: {words}{self.kept()} Check again in a few minutes."

    def _call(self, method, *args, **kwargs):
        self.calls += 1
        return method(*args, **kwargs)

    def _ask(self, method, *args, **kwargs):
        """A call before the contacts (the view, the enrollments): a failure stops the read."""
        try:
            return self._call(method, *args, **kwargs)
        except close.CloseError as error:
            raise _Stopped(State.FAILED, self._failure(error)) from error

    def _active_ids(self) -> set:
        close_id = self.check.sequence.close_id
        if not close_id:
            return set()
        subscriptions = self._ask(
            self.client.sequence_subscriptions, close_id, statuses=("active",)
        )
        self.summary.active_checked = True
        return {
            str(item.get("contact_id"))
            for item in subscriptions or []
            if isinstance(item, dict) and item.get("contact_id")
        }

    def _cancelled(self) -> bool:
        return (
            AudienceCheck.objects.filter(pk=self.check.pk)
            .values_list("cancel_requested", flat=True)
            .first()
            or False
        )

    def _progress(self, words):
        AudienceCheck.objects.filter(pk=self.check.pk).update(
            message=words, read_count=self.summary.read, requests_made=self.requests()
        )

    def _save_progress(self):
        AudienceCheck.objects.filter(pk=self.check.pk).update(
            read_count=self.summary.read, requests_made=self.requests(), total=self.total
        )


def _page_contents(page):
    """(contacts, next cursor) of one search page; (None, None) when it cannot be read."""
    if not isinstance(page, dict) or not isinstance(page.get("data"), list):
        return None, None
    contacts = [item for item in page["data"] if isinstance(item, dict)]
    return contacts, page.get("cursor") or None


def is_running(check) -> bool:
    return check is not None and check.state == State.RUNNING


def latest_check(*, sequence, revision_number=None) -> AudienceCheck | None:
    checks = AudienceCheck.objects.filter(sequence=sequence).select_related("started_by")
    if revision_number is not None:
        checks = checks.filter(revision_number=revision_number)
    return checks.order_by("-started_at", "-pk").first()


# --- preview as a contact ---------------------------------------------------------------------


def search_contacts(*, check, text, client) -> list[dict]:
    """Contacts of the check's Smart View whose name or email starts with `text` (read from
    Close for this request only): id, lead id, name and email."""
    view = client.fetch_smart_view(check.smart_view_id)
    if not isinstance(view, dict):
        raise close.CloseUnavailable("Close answered with a Smart View we could not read.")
    page = client.search_contacts_page(
        smart_view=view,
        fields=["name", "emails"],
        cursor=None,
        limit=SEARCH_RESULTS,
        text=text,
        lead_fields=("id",),
    )
    contacts, _ = _page_contents(page)
    if contacts is None:
        raise close.CloseUnavailable("Close answered with a list of contacts we could not read.")
    return [listed_contact(contact) for contact in contacts]


@dataclass
class StepPreview:
    number: int
    step_type: str
    exact: bool  # rendered by Close's render endpoint
    subject: str = ""  # safe HTML
    body: str = ""  # safe HTML
    empty: list[str] = field(default_factory=list)  # merge fields empty for this contact
    problem: str = ""  # why this step could not be rendered


def preview(*, sequence, contact_id, client) -> tuple[dict, list[StepPreview]]:
    """Every email and SMS step of the draft as `contact_id` will read it: through Close's
    render endpoint where the words are already in Close unchanged (exact), else with the local
    renderer on copytext.contact_values (as it will read once published). Returns (the contact
    as listed, previews)."""
    contact = client.fetch_contact(contact_id)
    if not isinstance(contact, dict) or not contact.get("lead_id"):
        raise close.CloseNotFound("Close could not find that contact.", status_code=404)
    lead = client.fetch_lead(contact["lead_id"])
    copies = copy_of(sequence.to_spec())
    user = organization = None
    texts = [text for copy in copies for text in copy.texts]
    if any(tag.startswith(("user.", "organization.")) for tag in copytext.used_fields(*texts)):
        # The sender's fields, as Close's render fills them: the API key's user (§7).
        user = client.me()
        organizations = user.get("organizations") if isinstance(user, dict) else None
        organization = organizations[0] if organizations else None
    values = copytext.contact_values(
        contact, lead if isinstance(lead, dict) else {}, user, organization
    )
    owned = {
        (template.step_key, template.kind): template
        for template in OwnedTemplate.objects.filter(sequence=sequence).exclude(close_id="")
    }
    previews = []
    for copy in copies:
        empty = [
            tag for tag in copytext.used_fields(*copy.texts) if not (values.get(tag) or "").strip()
        ]
        in_close = _in_close(copy, owned)
        shown = StepPreview(copy.number, copy.step_type, exact=bool(in_close), empty=empty)
        if in_close:
            try:
                _render_in_close(shown, in_close, contact, client)
            except close.CloseError as error:
                shown.exact = False
                shown.problem = f"Close could not render it ({error.message.rstrip('.')})."
                _render_locally(shown, copy, values)
        else:
            _render_locally(shown, copy, values)
        previews.append(shown)
    return listed_contact(contact), previews


def _in_close(copy: StepCopy, owned) -> str:
    """The Close template whose render is this step's exact copy, or "" when Close does not have
    these words yet (written copy not published, or changed since)."""
    if not copy.written:
        return copy.template_id
    template = owned.get((copy.key, copy.step_type))
    if template is None:
        return ""
    if copy.step_type == "email":
        unchanged = template.sent_subject == copy.subject and template.sent_body == copy.body
    else:
        unchanged = template.sent_text == copy.text
    return template.close_id if unchanged else ""


def _render_in_close(shown, template_id, contact, client):
    if shown.step_type == "email":
        answer = client.render_email_template(
            template_id, lead_id=contact["lead_id"], contact_id=contact["id"]
        )
        answer = answer if isinstance(answer, dict) else {}
        shown.subject = escape(answer.get("subject") or "")
        shown.body = mark_safe(copytext.clean_body(answer.get("body") or ""))  # noqa: S308 - nh3
    else:
        answer = client.render_sms_template(
            template_id, lead_id=contact["lead_id"], contact_id=contact["id"]
        )
        answer = answer if isinstance(answer, dict) else {}
        shown.body = linebreaksbr(answer.get("text") or "", autoescape=True)


def _render_locally(shown, copy, values):
    if copy.step_type == "email":
        shown.subject = _marked_text(copy.subject, values)
        shown.body = _marked_body(copy.body, values)
    else:
        shown.body = linebreaksbr(_marked_text(copy.text, values), autoescape=False)


def _mark(tag) -> str:
    return f'<mark class="merge-empty" title="empty for this contact">{escape(tag)}</mark>'


def _marked_text(text, values) -> str:
    """Plain text rendered for the contact, as safe HTML with empty merge values marked."""
    out = []
    for part in copytext.render_parts(text, values.get):
        out.append(_mark(part.tag) if part.empty else escape(part.text))
    return mark_safe("".join(out))  # noqa: S308 - every part escaped above


def _marked_body(body, values) -> str:
    """An HTML body rendered for the contact and cleaned to the body subset, with empty merge
    values marked: placeholders go through clean_body, the marks replace them afterwards."""
    parts = copytext.render_parts(body, values.get, escape=True)
    marks = {}
    rendered = []
    for part in parts:
        if part.empty:
            placeholder = EMPTY_MARK.format(len(marks))
            marks[placeholder] = _mark(part.tag)
            rendered.append(placeholder)
        else:
            rendered.append(part.text)
    cleaned = copytext.clean_body("".join(rendered))
    for placeholder, mark in marks.items():
        cleaned = cleaned.replace(placeholder, mark)
    return mark_safe(cleaned)  # noqa: S308 - cleaned by nh3; the marks are ours, tags escaped
