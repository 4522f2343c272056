"""Close's data model (templates, sequences, subscriptions) and the logic of every /api/v1/
endpoint.

Nothing here does I/O or locking: the HTTP layer holds the sandbox lock around each call and
serialises the returned payload while still holding it, so payloads may reference live state.
Tags such as [I] refer to the confidence tags of ../shared/close-api.md (beside the project).
"""

import copy
import datetime as dt
import functools
import hashlib
import re
import zoneinfo

from . import seed

MAX_LIMIT = 100
STATUSES = ("active", "paused", "draft")
STEP_TYPES = ("email", "call", "sms")
THREADINGS = ("new_thread", "old_thread")
STEP_FIELDS = (
    "step_type",
    "delay",
    "email_template_id",
    "sms_template_id",
    "threading",
    "required",
    "step_allowed_delay",
)
REQUIRED = "This field is required."
UNKNOWN_FIELD = "Unknown field."  # [I] marshmallow's wording; Close's exact message is unknown
SMS_STATUSES = ("active", "archived")
SUBSCRIPTION_STATUSES = ("active", "paused", "finished", "goal", "error")
# SMS template create/update schemas are closed (additionalProperties: false) [D].
SMS_CREATE_KEYS = frozenset({"name", "text", "is_shared", "attachments"})
SMS_UPDATE_KEYS = SMS_CREATE_KEYS | {"status"}
_TIME = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])(?::([0-5][0-9]))?")
_MISSING = object()


class ApiError(Exception):
    """Aborts an endpoint with an HTTP status and a JSON body."""

    def __init__(self, status, body):
        super().__init__(status, body)
        self.status = status
        self.body = body


new_id = seed.new_id


def _read_only_sequence_fields(now):
    """What Close adds to a sequence it stores. Seen in live responses [O], not documented as
    writable."""
    return {
        "trigger_query": None,
        "allow_manual_enrollment": True,
        "owner_id": seed.USER_ID,
        "organization_id": seed.ORG_ID,
        "created_by_id": seed.USER_ID,
        "updated_by_id": seed.USER_ID,
        "date_created": now,
        "date_updated": now,
    }


def naive_now():
    # Sequence objects carry naive UTC timestamps with microseconds, as in Close's examples.
    return dt.datetime.now(dt.UTC).replace(tzinfo=None).isoformat(timespec="microseconds")


def aware_now():
    # Templates carry offset-aware timestamps ("+00:00"), as in Close's examples.
    return dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")


@functools.cache
def _timezones():
    return frozenset(zoneinfo.available_timezones())


def is_integer(value):
    return isinstance(value, int) and not isinstance(value, bool)


# ---------------------------------------------------------------------------------------------
# Query parameters


def _int_param(query, name, default):
    raw = query.get(name)
    if raw is None:
        return default
    if not re.fullmatch(r"[0-9]+", raw):
        raise ApiError(400, {"error": f"{name} must be a non-negative integer"})
    return int(raw)


def _bool_param(query, name):
    raw = query.get(name)
    if raw is None:
        return None
    if raw.lower() not in ("true", "false"):
        raise ApiError(400, {"error": f"{name} must be true or false"})
    return raw.lower() == "true"


def select_fields(obj, query):
    """Apply `_fields=a,b,c`: keep only those keys (unknown names are silently skipped)."""
    raw = query.get("_fields")
    if not raw:
        return obj
    names = [n.strip() for n in raw.split(",") if n.strip()]
    return {n: obj[n] for n in names if n in obj}


def paginate(items, query, decorate=None):
    """One page of `items`; `decorate(item)` adds computed keys to the items of that page only."""
    skip = _int_param(query, "_skip", 0)
    limit = _int_param(query, "_limit", MAX_LIMIT)
    if limit > MAX_LIMIT:
        raise ApiError(400, {"error": f"_limit must be at most {MAX_LIMIT}"})
    page = items[skip : skip + limit]
    if decorate is not None:
        page = [decorate(item) for item in page]
    return {
        "data": [select_fields(item, query) for item in page],
        "has_more": skip + limit < len(items),
    }


# ---------------------------------------------------------------------------------------------
# Validation


class _Errors:
    """Collects Close-style validation errors so one 400 reports every problem at once."""

    def __init__(self):
        self.errors = []
        self.fields = {}

    def field(self, key, message):
        self.fields.setdefault(key, message)

    def general(self, message):
        if message not in self.errors:
            self.errors.append(message)

    def raise_if_any(self):
        if self.errors or self.fields:
            raise ApiError(400, {"errors": self.errors, "field-errors": self.fields})


def _clean_required_string(payload, key, err):
    value = payload.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        err.field(key, REQUIRED)
    elif not isinstance(value, str):
        err.field(key, "Not a valid string.")
    else:
        return value
    return None


def _clean_bool(payload, key, err):
    value = payload.get(key)
    if not isinstance(value, bool):
        err.field(key, "Must be a boolean.")
        return None
    return value


def _clean_text(payload, key, err):
    value = payload.get(key)
    if not isinstance(value, str):
        err.field(key, "Not a valid string.")
        return None
    return value


def _clean_attachments(payload, err, *, sms):
    """A list of {url, filename, content_type} objects (email ones may add size and more).
    [I] Uploads are not modelled: any http(s) URL is stored as given."""
    value = payload.get("attachments")
    if not isinstance(value, list):
        err.field("attachments", "Must be a list of attachments.")
        return None
    cleaned = []
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            err.field(f"attachments.{i}", "Must be an object.")
            continue
        for key in ("url", "filename", "content_type"):
            if not isinstance(item.get(key), str) or not item[key].strip():
                err.field(f"attachments.{i}.{key}", REQUIRED)
        if isinstance(item.get("url"), str) and not re.match(r"https?://", item["url"]):
            err.field(f"attachments.{i}.url", "Must be an http(s) URL.")
        if sms:
            unknown = set(item) - {"url", "filename", "content_type"}
            for key in sorted(unknown):
                err.field(f"attachments.{i}.{key}", UNKNOWN_FIELD)
        elif "size" in item and not (is_integer(item["size"]) and item["size"] >= 0):
            err.field(f"attachments.{i}.size", "Must be a number of bytes.")
        cleaned.append(copy.deepcopy(item))
    return cleaned


def _reject_unknown(payload, allowed, err):
    for key in sorted(set(payload) - allowed):
        err.field(key, UNKNOWN_FIELD)


def _clean_timezone(payload, err):
    value = _clean_required_string(payload, "timezone", err)
    if value is not None and value not in _timezones():
        err.field("timezone", f'Unknown timezone "{value}".')
        return None
    return value


def _clean_status(value, err):
    if value not in STATUSES:
        err.field("status", f"Must be one of: {', '.join(STATUSES)}.")
    return value


def _clean_schedule_id(value, err):
    # [I] Saved schedules are not modelled, so any string id is echoed back unchecked.
    if value is not None and not isinstance(value, str):
        err.field("schedule_id", "Not a valid string.")
    return value


def _parse_time(value, where):
    match = _TIME.fullmatch(value) if isinstance(value, str) else None
    if not match:
        raise ValueError(f'{where}: must be a time "HH:MM" (24h).')
    hours, minutes, seconds = match.groups()
    return f"{hours}:{minutes}:{seconds or '00'}"


def _normalize_schedule(value):
    if not isinstance(value, dict) or not isinstance(value.get("ranges"), list):
        raise ValueError('Must be an object like {"ranges": [{"weekday", "start", "end"}]}.')
    ranges = []
    for i, item in enumerate(value["ranges"]):
        if not isinstance(item, dict):
            raise ValueError(f"ranges.{i}: must be an object with weekday, start and end.")
        weekday = item.get("weekday")
        if not is_integer(weekday) or not 1 <= weekday <= 7:
            raise ValueError(f"ranges.{i}.weekday: must be an integer, 1 (Monday) to 7 (Sunday).")
        start = _parse_time(item.get("start"), f"ranges.{i}.start")
        end = _parse_time(item.get("end"), f"ranges.{i}.end")
        if start >= end:  # "HH:MM:SS" strings compare chronologically
            raise ValueError(f"ranges.{i}: start must be before end.")
        # Close was observed echoing times as "HH:MM:SS" [O], so store them that way.
        ranges.append({"weekday": weekday, "start": start, "end": end})
    # [I] An empty list and several ranges per weekday are accepted: Close's rules are unknown.
    return {"ranges": ranges}


def _clean_schedule(value, err):
    if value is None:
        return None
    try:
        return _normalize_schedule(value)
    except ValueError as exc:
        err.field("schedule", str(exc))
        return None


# ---------------------------------------------------------------------------------------------
# The store


class Store:
    def __init__(self):
        self.email_templates = {}
        self.sms_templates = {}
        self.sequences = {}  # id -> sequence; dicts keep creation order
        self.subscription_counts = {}
        # Subscriptions of given contacts (add_subscription), beside the made-up ones behind
        # subscription_counts: for tests and modules that model real contacts.
        self.subscriptions = []
        self.created_payloads = []
        self.on_change = None  # called after every mutation (state-file saving)
        self.reseed()

    def reseed(self):
        self.email_templates = {t["id"]: t for t in seed.email_templates()}
        self.sms_templates = {t["id"]: t for t in seed.sms_templates()}

    def clear_sequences(self):
        self.sequences.clear()
        self.subscription_counts.clear()
        self.subscriptions.clear()
        self.created_payloads.clear()
        self._changed()

    def _changed(self):
        if self.on_change is not None:
            self.on_change()

    # -- routing ------------------------------------------------------------------------------

    ROUTES = (
        (re.compile(r"me/"), {"GET": "get_me"}),
        (re.compile(r"sequence/"), {"GET": "list_sequences", "POST": "create_sequence"}),
        (
            re.compile(r"sequence/(?P<oid>[^/]+)/"),
            {"GET": "get_sequence", "PUT": "update_sequence", "DELETE": "delete_sequence"},
        ),
        (
            re.compile(r"email_template/"),
            {"GET": "list_email_templates", "POST": "create_email_template"},
        ),
        (
            re.compile(r"email_template/(?P<oid>[^/]+)/"),
            {"GET": "get_email_template", "PUT": "update_email_template"},
        ),
        (
            re.compile(r"sms_template/"),
            {"GET": "list_sms_templates", "POST": "create_sms_template"},
        ),
        (
            re.compile(r"sms_template/(?P<oid>[^/]+)/"),
            {"GET": "get_sms_template", "PUT": "update_sms_template"},
        ),
        (re.compile(r"sequence_subscription/"), {"GET": "list_subscriptions"}),
    )
    # Handlers answer 200 unless listed here (close-api.md §7: SMS template create is 201).
    CREATED = frozenset({"create_sms_template"})

    def dispatch(self, method, subpath, query, body):
        """Run one API call. `subpath` is the path below /api/v1/ (e.g. "sequence/seq_x/").

        Returns (status, payload, extra_headers); raises nothing.
        """
        for pattern, methods in self.ROUTES:
            match = pattern.fullmatch(subpath)
            if not match:
                continue
            if method not in methods:
                allow = ", ".join(methods)
                return 405, {"error": "Method not allowed"}, [("Allow", allow)]
            name = methods[method]
            handler = getattr(self, name)
            try:
                payload = handler(query=query, body=body, **match.groupdict())
            except ApiError as exc:
                return exc.status, exc.body, []
            return (201 if name in self.CREATED else 200), payload, []
        # No redirect for a missing trailing slash: Close documents every path with one [I].
        return 404, {"error": "Not found"}, []

    # -- /me/ ---------------------------------------------------------------------------------

    def get_me(self, query, body):
        return select_fields(seed.ME, query)

    # -- templates ----------------------------------------------------------------------------

    def _used_by_index(self, field):
        """template id -> [{"id", "name"}] of the sequences whose steps use it, in creation
        order, each sequence once."""
        index = {}
        for sequence in self.sequences.values():
            for tid in dict.fromkeys(step.get(field) for step in sequence["steps"]):
                if tid is not None:
                    index.setdefault(tid, []).append(
                        {"id": sequence["id"], "name": sequence["name"]}
                    )
        return index

    def _template_view(self, template, index=None):
        """A template as the API shows it: with `used_by_sequences` (close-api.md §7)."""
        field = "sms_template_id" if template["id"] in self.sms_templates else "email_template_id"
        if index is None:
            index = self._used_by_index(field)
        return {**template, "used_by_sequences": index.get(template["id"], [])}

    def used_by_sequences(self, template_id):
        template = self.email_templates.get(template_id) or self.sms_templates.get(template_id)
        if template is None:
            raise KeyError(template_id)
        return self._template_view(template)["used_by_sequences"]

    def list_email_templates(self, query, body):
        archived = _bool_param(query, "is_archived")
        shared = _bool_param(query, "is_shared")
        items = [
            t
            for t in self.email_templates.values()
            if (archived is None or t["is_archived"] == archived)
            and (shared is None or t["is_shared"] == shared)
        ]
        index = self._used_by_index("email_template_id")
        return paginate(items, query, lambda t: self._template_view(t, index))

    def _email_template(self, oid):
        template = self.email_templates.get(oid)
        if template is None:
            raise ApiError(404, {"error": "Not found"})
        return template

    def _sms_template(self, oid):
        template = self.sms_templates.get(oid)
        if template is None:
            raise ApiError(404, {"error": "Not found"})
        return template

    def get_email_template(self, query, body, oid):
        # [I] include_embedded resolves templates embedded in Workflows built in Close's UI;
        # the sandbox has none, so the flag is checked and otherwise changes nothing.
        _bool_param(query, "include_embedded")
        return select_fields(self._template_view(self._email_template(oid)), query)

    def create_email_template(self, query, body):
        payload = _require_object(body)
        err = _Errors()
        name = _clean_required_string(payload, "name", err)
        subject = _clean_required_string(payload, "subject", err)
        body_html = _clean_required_string(payload, "body", err)
        shared = _clean_bool(payload, "is_shared", err) if "is_shared" in payload else False
        archived = _clean_bool(payload, "is_archived", err) if "is_archived" in payload else False
        attachments = []
        if "attachments" in payload:
            attachments = _clean_attachments(payload, err, sms=False)
        err.raise_if_any()
        # [I] Other keys are ignored: Close publishes no schema for email template bodies, and
        # its clone script re-POSTs fetched templates with their read-only keys (§7).
        now = aware_now()
        template = {
            "id": self._new_template_id("tmpl_", self.email_templates),
            "name": name,
            "subject": subject,
            "body": body_html,
            "is_shared": shared,
            "is_archived": archived,
            "attachments": attachments,
            "organization_id": seed.ORG_ID,
            "created_by": seed.USER_ID,
            "updated_by": seed.USER_ID,
            "date_created": now,
            "date_updated": now,
        }
        self.email_templates[template["id"]] = template
        self._changed()
        return self._template_view(template)

    def update_email_template(self, query, body, oid):
        template = self._email_template(oid)
        payload = _require_object(body)
        err = _Errors()
        changes = {}
        # PUT is a PATCH: only keys present are validated and changed (close-api.md §7).
        for key in ("name", "subject", "body"):
            if key in payload:
                changes[key] = _clean_required_string(payload, key, err)
        for key in ("is_shared", "is_archived"):
            if key in payload:
                changes[key] = _clean_bool(payload, key, err)
        if "attachments" in payload:
            # [I] An update replaces the list; whether Close merges it is not stated.
            changes["attachments"] = _clean_attachments(payload, err, sms=False)
        err.raise_if_any()
        self._apply(template, changes, by=seed.USER_ID)
        return self._template_view(template)

    def list_sms_templates(self, query, body):
        # Close documents no is_shared/status filter here: clients filter themselves [D].
        index = self._used_by_index("sms_template_id")
        return paginate(
            list(self.sms_templates.values()), query, lambda t: self._template_view(t, index)
        )

    def get_sms_template(self, query, body, oid):
        _bool_param(query, "include_embedded")
        return select_fields(self._template_view(self._sms_template(oid)), query)

    def create_sms_template(self, query, body):
        payload = _require_object(body)
        err = _Errors()
        # `status` is not accepted on create: it is unknown to the closed create schema [D].
        _reject_unknown(payload, SMS_CREATE_KEYS, err)
        name = _clean_required_string(payload, "name", err)
        text = _clean_text(payload, "text", err) if "text" in payload else ""
        shared = _clean_bool(payload, "is_shared", err) if "is_shared" in payload else False
        attachments = []
        if "attachments" in payload:
            attachments = _clean_attachments(payload, err, sms=True)
        err.raise_if_any()
        now = aware_now()
        template = {
            "id": self._new_template_id("smstmpl_", self.sms_templates),
            "name": name,
            "text": text,
            "is_shared": shared,
            "status": "active",
            "attachments": attachments,
            "organization_id": seed.ORG_ID,
            "owned_by": seed.USER_ID,
            "created_by": seed.USER_ID,
            "updated_by": seed.USER_ID,
            "date_created": now,
            "date_updated": now,
        }
        self.sms_templates[template["id"]] = template
        self._changed()
        return self._template_view(template)

    def update_sms_template(self, query, body, oid):
        template = self._sms_template(oid)
        payload = _require_object(body)
        err = _Errors()
        _reject_unknown(payload, SMS_UPDATE_KEYS, err)
        changes = {}
        if "name" in payload:
            changes["name"] = _clean_required_string(payload, "name", err)
        if "text" in payload:
            changes["text"] = _clean_text(payload, "text", err)
        if "is_shared" in payload:
            changes["is_shared"] = _clean_bool(payload, "is_shared", err)
        if "status" in payload:
            if payload["status"] not in SMS_STATUSES:
                err.field("status", f"Must be one of: {', '.join(SMS_STATUSES)}.")
            changes["status"] = payload["status"]
        if "attachments" in payload:
            changes["attachments"] = _clean_attachments(payload, err, sms=True)
        err.raise_if_any()
        self._apply(template, changes, by=seed.USER_ID)
        return self._template_view(template)

    @staticmethod
    def _new_template_id(prefix, existing):
        oid = new_id(prefix, 43)  # Close's template ids are longer than sequence ids
        while oid in existing:
            oid = new_id(prefix, 43)
        return oid

    def _apply(self, template, changes, *, by):
        # [I] A PUT that changes nothing still counts as an update in Close's other objects
        # (sequences bump date_updated on every PUT), so templates do the same.
        template.update(changes)
        template["updated_by"] = by
        template["date_updated"] = aware_now()
        self._changed()

    def add_email_templates(self, n, shared=True):
        start = len(self.email_templates)
        new = [seed.bulk_email_template(start + i, shared=shared) for i in range(n)]
        self.email_templates.update((t["id"], t) for t in new)
        return [t["id"] for t in new]

    def update_template(self, template_id, fields):
        template = self.email_templates.get(template_id) or self.sms_templates.get(template_id)
        if template is None:
            raise KeyError(template_id)
        # Only existing fields may change (catches typos in tests); the id never changes.
        unknown = (set(fields) - set(template)) | ({"id"} & set(fields))
        if unknown:
            raise ValueError(f"cannot set template field(s): {', '.join(sorted(unknown))}")
        template.update(copy.deepcopy(fields))
        template["date_updated"] = aware_now()
        self._changed()
        return template

    def edit_template_copy(self, template_id, fields, by=seed.COLLEAGUE_ID):
        """A person edits a template in Close's own editor (the sandbox's template page): the
        copy changes, date_updated moves, updated_by is that person. How tests make drift."""
        template = self.email_templates.get(template_id) or self.sms_templates.get(template_id)
        if template is None:
            raise KeyError(template_id)
        editable = ("name", "subject", "body") if "subject" in template else ("name", "text")
        unknown = set(fields) - set(editable)
        if unknown:
            raise ValueError(f"cannot edit template field(s): {', '.join(sorted(unknown))}")
        bad = [k for k, v in fields.items() if not isinstance(v, str)]
        if bad:
            raise ValueError(f"not text: {', '.join(sorted(bad))}")
        # Close's editor, like its API (close-api.md §7), keeps a name, and a subject and a
        # body on an email template; an SMS text may be empty.
        blank = [k for k in ("name", "subject", "body") if k in fields and not fields[k].strip()]
        if blank:
            raise ValueError(f"{' and '.join(blank)} cannot be blank")
        self._apply(template, dict(fields), by=by)
        return template

    # -- subscriptions ------------------------------------------------------------------------

    def counts_for(self, oid):
        counts = dict.fromkeys(SUBSCRIPTION_STATUSES, 0)
        counts.update(self.subscription_counts.get(oid, {}))
        for item in self.subscriptions:
            if item["sequence_id"] == oid:
                counts[item["status"]] += 1
        return counts

    def subscriptions_for(self, oid):
        """A sequence's subscriptions: made-up ones behind its counts, then given ones. The
        made-up ones are stable (ids derive from the sequence id and a number), so paging
        through them twice gives the same items."""
        sequence = self.sequences.get(oid)
        stamp = sequence["date_created"] if sequence else naive_now()
        items = []
        for status in SUBSCRIPTION_STATUSES:
            for _ in range(self.subscription_counts.get(oid, {}).get(status, 0)):
                items.append(_subscription(oid, len(items), status, stamp))
        return items + [item for item in self.subscriptions if item["sequence_id"] == oid]

    def add_subscription(self, sequence_id, *, contact_id, lead_id, status="active", email=None):
        """Enroll a given contact (e.g. one of a module that models leads and contacts)."""
        if sequence_id not in self.sequences:
            raise KeyError(sequence_id)
        if status not in SUBSCRIPTION_STATUSES:
            raise ValueError(f"status must be one of {SUBSCRIPTION_STATUSES}")
        stamp = naive_now()
        item = _subscription(sequence_id, 0, status, stamp)
        item.update(
            id=new_id("sub_"),
            contact_id=contact_id,
            lead_id=lead_id,
            contact_email=email,
        )
        self.subscriptions.append(item)
        self._changed()
        return item

    def list_subscriptions(self, query, body):
        sequence_id = query.get("sequence_id")
        contact_id = query.get("contact_id")
        lead_id = query.get("lead_id")
        if not (sequence_id or contact_id or lead_id):
            # Mandatory since 2021-03-31 (close-api.md §14). [I] wording
            raise ApiError(400, {"error": "One of sequence_id, contact_id or lead_id is required."})
        if sequence_id:
            ids = [sequence_id]
        else:
            ids = list(
                dict.fromkeys(
                    [*self.subscription_counts, *(i["sequence_id"] for i in self.subscriptions)]
                )
            )
        items = [
            item
            for oid in ids
            for item in self.subscriptions_for(oid)
            if (not contact_id or item["contact_id"] == contact_id)
            and (not lead_id or item["lead_id"] == lead_id)
        ]
        return paginate(items, query)

    # -- sequences ----------------------------------------------------------------------------

    def _sequence(self, oid):
        sequence = self.sequences.get(oid)
        if sequence is None:
            raise ApiError(404, {"error": "Not found"})
        return sequence

    def list_sequences(self, query, body):
        return paginate(list(self.sequences.values()), query)

    def get_sequence(self, query, body, oid):
        sequence = self._sequence(oid)
        return select_fields(
            {**sequence, "subscription_counts_by_status": self.counts_for(oid)}, query
        )

    def delete_sequence(self, query, body, oid):
        self._sequence(oid)
        del self.sequences[oid]
        self.subscription_counts.pop(oid, None)
        self.subscriptions = [i for i in self.subscriptions if i["sequence_id"] != oid]
        self._changed()
        return {}

    def create_sequence(self, query, body):
        payload = _require_object(body)
        err = _Errors()
        name = _clean_required_string(payload, "name", err)
        timezone = _clean_timezone(payload, err)
        # Default status is "active" [O]; "draft" is in Close's enum, so it is accepted [I].
        status = _clean_status(payload.get("status", "active"), err)
        schedule = _clean_schedule(payload.get("schedule"), err)
        schedule_id = _clean_schedule_id(payload.get("schedule_id"), err)
        # Step ids in a create payload are ignored: every step is new [I].
        steps = self._clean_steps(payload.get("steps"), err, current=None)
        err.raise_if_any()

        now = naive_now()
        oid = new_id("seq_")
        while oid in self.sequences:
            oid = new_id("seq_")
        sequence = {
            "id": oid,
            "name": name,
            "status": status,
            "timezone": timezone,
            "schedule": schedule,
            "schedule_id": schedule_id,
            "steps": [_build_step(fields, None, now) for _, fields in steps],
            **_read_only_sequence_fields(now),
        }
        self.sequences[oid] = sequence
        self.created_payloads.append(copy.deepcopy(payload))
        self._changed()
        return sequence

    def add_ui_sequence(self, data):
        """Store a sequence as if built in Close's own UI, where operational step types (task,
        assign user, ...) exist that the API cannot create. For import/republish tests."""
        now = naive_now()
        oid = data.get("id") or new_id("seq_")
        steps = []
        for step in data.get("steps", []):
            steps.append(
                {
                    "id": step.get("id") or new_id("seqstep_"),
                    "delay": 0,
                    "email_template_id": None,
                    "sms_template_id": None,
                    "threading": None,
                    "required": True,
                    "step_allowed_delay": None,
                    **step,
                    "created_by_id": seed.USER_ID,
                    "updated_by_id": seed.USER_ID,
                    "date_created": now,
                    "date_updated": now,
                }
            )
        self.sequences[oid] = {
            "id": oid,
            "name": data["name"],
            "status": data.get("status", "active"),
            "timezone": data["timezone"],
            "schedule": data.get("schedule"),
            "schedule_id": data.get("schedule_id"),
            "steps": steps,
            **_read_only_sequence_fields(now),
            # Made by another user of the organization, or long ago: who and when, if given.
            **{key: data[key] for key in ("created_by_id", "date_created") if key in data},
        }
        self._changed()
        return self.sequences[oid]

    def update_sequence(self, query, body, oid):
        sequence = self._sequence(oid)
        payload = _require_object(body)
        err = _Errors()
        changes = {}
        # PUT is a PATCH: only keys present in the payload are validated and changed [D].
        if "name" in payload:
            changes["name"] = _clean_required_string(payload, "name", err)
        if "timezone" in payload:
            changes["timezone"] = _clean_timezone(payload, err)
        if "status" in payload:
            changes["status"] = _clean_status(payload["status"], err)
        if "schedule" in payload:
            changes["schedule"] = _clean_schedule(payload["schedule"], err)
        if "schedule_id" in payload:
            changes["schedule_id"] = _clean_schedule_id(payload["schedule_id"], err)
        steps = None
        if "steps" in payload:
            current = {step["id"]: step for step in sequence["steps"]}
            steps = self._clean_steps(payload["steps"], err, current=current)
        err.raise_if_any()

        now = naive_now()
        sequence.update(changes)
        if steps is not None:
            # The array is the complete new list, in order; steps left out are deleted [D].
            sequence["steps"] = [_build_step(fields, old, now) for old, fields in steps]
        sequence["updated_by_id"] = seed.USER_ID
        sequence["date_updated"] = now
        self._changed()
        return sequence

    def _clean_steps(self, value, err, current):
        """Validate a `steps` array. `current` maps this sequence's step ids to steps (PUT) or
        is None (POST). Returns [(existing step or None, merged step fields)]."""
        if value is None:
            err.field("steps", REQUIRED)
            return []
        if not isinstance(value, list):
            err.field("steps", "Must be a list of steps.")
            return []
        if not value:
            err.field("steps", "At least one step is required.")
            return []
        cleaned, seen = [], set()
        for i, item in enumerate(value):
            key = f"steps.{i}"
            if not isinstance(item, dict):
                err.field(key, "Must be an object.")
                continue
            old = None
            if current is not None and "id" in item:
                sid = item["id"]
                if not isinstance(sid, str) or sid not in current:
                    err.field(f"{key}.id", f'Step "{sid}" does not belong to this sequence.')
                    continue
                if sid in seen:
                    err.field(f"{key}.id", f'Step "{sid}" is listed more than once.')
                    continue
                seen.add(sid)
                old = current[sid]
            given = {k: item[k] for k in STEP_FIELDS if k in item}
            fields = self._clean_step(key, given, old, err)
            if fields is not None:
                cleaned.append((old, fields))
        return cleaned

    def _clean_step(self, key, given, old, err):
        if old is not None and old.get("step_type") not in STEP_TYPES:
            # An operational step made in Close's UI (task, assign user, ...): the API cannot
            # create or change it, but listing its id keeps it, as for any step [D].
            if (
                set(given) - {"step_type"}
                or given.get("step_type", old["step_type"]) != old["step_type"]
            ):
                err.field(key, f"A {old['step_type']} step can only be changed in Close's app.")
                return None
            return {k: old[k] for k in old if k in STEP_FIELDS}
        if old is None:
            fields = {
                "step_type": "email",
                "delay": _MISSING,
                "email_template_id": None,
                "sms_template_id": None,
                "threading": None,
                "required": True,
                "step_allowed_delay": None,
            }
        else:
            fields = {k: old[k] for k in STEP_FIELDS}
        fields.update(given)
        # An omitted (or null) step_type means email: Close's create example relies on it [D].
        if fields["step_type"] is None:
            fields["step_type"] = "email"
        step_type = fields["step_type"]
        if step_type not in STEP_TYPES:
            err.field(f"{key}.step_type", f"Must be one of: {', '.join(STEP_TYPES)}.")
            return None
        if old is not None and step_type != old["step_type"]:
            # [I] Changing a step's type drops the fields of its old type unless resent.
            for name in ("email_template_id", "sms_template_id", "threading"):
                fields[name] = given.get(name)

        delay = fields["delay"]
        if delay is _MISSING or delay is None:
            err.field(f"{key}.delay", REQUIRED)
        elif not is_integer(delay):
            err.field(f"{key}.delay", "Must be an integer number of seconds.")
        elif delay < 0:
            err.field(f"{key}.delay", "Must be at least 0.")
        if not isinstance(fields["required"], bool):
            err.field(f"{key}.required", "Must be a boolean.")
        allowed_delay = fields["step_allowed_delay"]
        if allowed_delay is not None and not (is_integer(allowed_delay) and allowed_delay >= 0):
            # [I] Units undocumented; seconds, like delay, is the plausible reading.
            err.field(f"{key}.step_allowed_delay", "Must be null or a number of seconds.")

        # Template rules apply to ids sent in this request; an unchanged step kept by id keeps
        # its template even if that template was unshared since [I].
        check = old is None or "email_template_id" in given or "sms_template_id" in given
        if step_type == "email":
            # [I] threading may be null (Close's schema allows it); it is stored as null.
            if fields["threading"] not in (None, *THREADINGS):
                err.field(f"{key}.threading", f"Must be one of: {', '.join(THREADINGS)}.")
            self._check_template(key, fields, "email_template_id", self.email_templates, check, err)
            if fields["sms_template_id"] is not None:
                err.field(f"{key}.sms_template_id", "Only sms steps can have an SMS template.")
        elif step_type == "sms":
            if fields["threading"] is not None:
                err.field(f"{key}.threading", "Only email steps can have threading.")
            self._check_template(key, fields, "sms_template_id", self.sms_templates, check, err)
            if fields["email_template_id"] is not None:
                err.field(f"{key}.email_template_id", "Only email steps can have a template.")
        else:  # call
            if fields["threading"] is not None:
                err.field(f"{key}.threading", "Only email steps can have threading.")
            for name in ("email_template_id", "sms_template_id"):
                if fields[name] is not None:
                    err.field(f"{key}.{name}", "Call steps cannot have a template.")
        return fields

    @staticmethod
    def _check_template(key, fields, name, templates, check, err):
        tid = fields[name]
        if tid is None:
            err.field(f"{key}.{name}", REQUIRED)
        elif not isinstance(tid, str):
            err.field(f"{key}.{name}", "Not a valid string.")
        elif check:
            template = templates.get(tid)
            # Close's wording [O]; SMS templates are assumed to get the same messages [I].
            if template is None:
                err.general(f'Template "{tid}" does not exist.')
            elif not template["is_shared"]:
                err.general(
                    f'Template "{tid}" cannot be used in Workflows because it is not shared.'
                )
            elif template.get("is_archived") or template.get("status") == "archived":
                err.general(f'Template "{tid}" cannot be used in Workflows because it is archived.')


_STATUS_REASONS = {
    "active": None,
    "paused": "manual",
    "finished": None,
    "goal": "reply-received",
    "error": "email-bounced",
}


def _stable_id(prefix, *parts, length=22):
    digest = hashlib.sha256(":".join(parts).encode()).digest()
    return prefix + "".join(seed.BASE62[b % 62] for b in digest[:length])


def _subscription(sequence_id, number, status, stamp):
    """One subscription item with the fields of close-api.md §14."""
    key = (sequence_id, str(number))
    return {
        "id": _stable_id("sub_", *key),
        "sequence_id": sequence_id,
        "contact_id": _stable_id("cont_", *key),
        "lead_id": _stable_id("lead_", *key),
        "contact_email": f"contact{number + 1}@example.com",
        "sender_account_id": seed.ME["email_accounts"][0]["id"],
        "sender_email": seed.ME["email"],
        "sender_name": f"{seed.ME['first_name']} {seed.ME['last_name']}",
        "calls_assigned_to": [seed.USER_ID],
        "start_date": stamp,
        "status": status,
        "status_reason": _STATUS_REASONS[status],
        "created_by_id": seed.USER_ID,
        "updated_by_id": seed.USER_ID,
        "date_created": stamp,
        "date_updated": stamp,
    }


def _require_object(body):
    if not isinstance(body, dict):
        raise ApiError(400, {"error": "Invalid JSON"})
    return body


def _build_step(fields, old, now):
    if old is None:
        step = {
            "id": new_id("seqstep_"),
            **fields,
            "created_by_id": seed.USER_ID,
            "updated_by_id": seed.USER_ID,
            "date_created": now,
            "date_updated": now,
        }
    else:
        step = dict(old)
        if any(step[k] != v for k, v in fields.items()):
            step.update(fields)
            step["updated_by_id"] = seed.USER_ID
            step["date_updated"] = now
    return step
