"""Close's data model (templates, sequences) and the logic of every /api/v1/ endpoint.

Nothing here does I/O or locking: the HTTP layer holds the sandbox lock around each call and
serialises the returned payload while still holding it, so payloads may reference live state.
Tags such as [I] refer to the confidence tags of ../shared/close-api.md (beside the project).
"""

import copy
import datetime as dt
import functools
import re
import zoneinfo

from . import crm, seed

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


def paginate(items, query):
    skip = _int_param(query, "_skip", 0)
    limit = _int_param(query, "_limit", MAX_LIMIT)
    if limit > MAX_LIMIT:
        raise ApiError(400, {"error": f"_limit must be at most {MAX_LIMIT}"})
    page = items[skip : skip + limit]
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
        self.created_payloads = []
        self.on_change = None  # called after every mutation of sequences (state-file saving)
        self.reseed()

    def reseed(self):
        self.email_templates = {t["id"]: t for t in seed.email_templates()}
        self.sms_templates = {t["id"]: t for t in seed.sms_templates()}
        self.crm = crm.Crm(self)  # leads, contacts, Smart Views, search, render: crm.py

    def clear_sequences(self):
        self.sequences.clear()
        self.subscription_counts.clear()
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
        # Template writes exist in Close but nothing here needs them, so they answer 405.
        (re.compile(r"email_template/"), {"GET": "list_email_templates"}),
        (re.compile(r"email_template/(?P<oid>[^/]+)/"), {"GET": "get_email_template"}),
        (re.compile(r"sms_template/"), {"GET": "list_sms_templates"}),
        (re.compile(r"sms_template/(?P<oid>[^/]+)/"), {"GET": "get_sms_template"}),
    )

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
            handler = getattr(self, methods[method])
            try:
                return 200, handler(query=query, body=body, **match.groupdict()), []
            except ApiError as exc:
                return exc.status, exc.body, []
        # No redirect for a missing trailing slash: Close documents every path with one [I].
        return self.crm.dispatch(method, subpath, query, body)  # its own paths, else 404

    # -- /me/ and templates -------------------------------------------------------------------

    def get_me(self, query, body):
        return select_fields(seed.ME, query)

    def list_email_templates(self, query, body):
        archived = _bool_param(query, "is_archived")
        shared = _bool_param(query, "is_shared")
        items = [
            t
            for t in self.email_templates.values()
            if (archived is None or t["is_archived"] == archived)
            and (shared is None or t["is_shared"] == shared)
        ]
        return paginate(items, query)

    def get_email_template(self, query, body, oid):
        template = self.email_templates.get(oid)
        if template is None:
            raise ApiError(404, {"error": "Not found"})
        used_by = [
            {"id": s["id"], "name": s["name"]}
            for s in self.sequences.values()
            if any(step["email_template_id"] == oid for step in s["steps"])
        ]
        # `used_by_sequences` is documented on fetch only, so the list endpoint omits it.
        return select_fields({**template, "used_by_sequences": used_by}, query)

    def list_sms_templates(self, query, body):
        return paginate(list(self.sms_templates.values()), query)

    def get_sms_template(self, query, body, oid):
        template = self.sms_templates.get(oid)
        if template is None:
            raise ApiError(404, {"error": "Not found"})
        return select_fields(template, query)

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
        return template

    # -- sequences ----------------------------------------------------------------------------

    def _sequence(self, oid):
        sequence = self.sequences.get(oid)
        if sequence is None:
            raise ApiError(404, {"error": "Not found"})
        return sequence

    def counts_for(self, oid):
        zero = {"active": 0, "paused": 0, "finished": 0, "goal": 0, "error": 0}
        return {**zero, **self.subscription_counts.get(oid, {})}

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
