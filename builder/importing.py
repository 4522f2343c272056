"""Bring sequences in: from Close (live sequences, to review and change here) and from JSON files
("sequence as code").

From Close, the local copy starts out *Published* at its first revision, linked to Close's
sequence and step ids: it is exactly what runs in Close, so there is nothing to review or
publish until someone changes it. The first edit returns it to Draft (Sequence.editing), it goes
through review like any change, and publishing it sends PUT /sequence/{id}/ with the step ids,
so Close keeps the steps' history. Step types the editor does not model are kept in Step.extra
and sent back by id, untouched. (Importing it as a Draft with a Close id would ask reviewers to
approve something that is already live, and would offer to "publish" a sequence Close has.)

From a file, the result is a new Draft that is not linked to anything in Close: a file is input
like any other, so it is size-limited, parsed with spec.from_close and refused, with nothing
created, when it has a blocking problem. Ids in a file are ignored: a file may well come from
another Close organization. Template ids are checked by the editor like any draft's.
"""

import datetime as dt
import json
import re
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils import timezone

from builder import close, spec, template_sync
from builder import steps as step_kinds
from builder.models import CloseTemplate, ScheduleRange, Sequence, Step

MAX_FILE_BYTES = 256 * 1024
CLOSE_ID = re.compile(r"seq_[A-Za-z0-9]{1,60}")
_POSITIVE_INT_MAX = 2_147_483_647  # PositiveIntegerField on every database Django supports


class ImportRefused(Exception):
    """Nothing was imported; .message says why, .status is the HTTP status to answer with."""

    def __init__(self, message, *, status=400, sequence=None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.sequence = sequence  # the local copy, when it is already here


class NameTaken(ImportRefused):
    """A sequence file names a sequence that is already here: importing it anyway would give the
    team two sequences nobody can tell apart. `copy_name` is the name a copy would get now."""

    def __init__(self, sequence, copy_name):
        super().__init__(
            f"A sequence named “{sequence.name}” is already here, so nothing was imported. "
            f"Import the file as “{copy_name}” instead, or open the one that is here.",
            status=409,
            sequence=sequence,
        )
        self.copy_name = copy_name


@dataclass
class CloseSequenceRow:
    close_id: str
    name: str
    status: str
    step_count: int
    local: Sequence | None  # the draft that already holds it here


# --- from Close -------------------------------------------------------------------------------


def close_sequences(*, client):
    """Close's sequences, each with the local sequence that already holds it (two queries and
    one paged list from Close)."""
    items = [item for item in client.list_sequences() if isinstance(item, dict) and item.get("id")]
    ids = [str(item["id"]) for item in items]
    local = {sequence.close_id: sequence for sequence in Sequence.objects.filter(close_id__in=ids)}
    rows = [
        CloseSequenceRow(
            close_id=str(item["id"]),
            name=str(item.get("name") or "(no name)"),
            status=str(item.get("status") or ""),
            step_count=len(item.get("steps") or []) if isinstance(item.get("steps"), list) else 0,
            local=local.get(str(item["id"])),
        )
        for item in items
    ]
    return sorted(rows, key=lambda row: row.name.lower())


def import_from_close(*, close_id, user, client):
    """Copy Close's sequence `close_id` here, Published and linked. Returns (sequence, notes).

    Raises ImportRefused, or close.CloseError when Close cannot be asked.
    """
    if not isinstance(close_id, str) or not CLOSE_ID.fullmatch(close_id):
        raise ImportRefused("That is not a Close sequence id (they look like seq_…).")
    _refuse_if_here(close_id)
    try:
        data = client.fetch_sequence(close_id)
    except close.CloseNotFound:
        raise ImportRefused(
            f"Close has no sequence {close_id} (it may have been deleted). Reload the list.",
            status=404,
        ) from None
    problems = _shape_problems(data)
    if problems:
        raise ImportRefused(
            "Close's sequence has data Sequence Builder cannot store: " + " ".join(problems)
        )
    sequence_spec = spec.from_close(data)
    # A file meets the limit through spec.validate; a sequence from Close is stored even with
    # problems (it is what runs there), but never beyond the limit every draft obeys.
    too_many = spec.step_count_problems(sequence_spec.steps)
    if too_many:
        raise ImportRefused(f"Nothing was imported: {too_many[0].message}")
    storable = _storable_problems(sequence_spec)
    if storable:
        raise ImportRefused(
            "Close's sequence has data Sequence Builder cannot store: " + " ".join(storable)
        )
    notes = spec.require_calls(sequence_spec) + _sync_missing_templates(sequence_spec, client)
    if data.get("schedule") is None and data.get("schedule_id"):
        notes.append(
            "In Close it uses a saved schedule, which Sequence Builder does not show: here it "
            "sends at any time, and publishing a change would replace the saved schedule."
        )
    try:
        with transaction.atomic():
            sequence = _create(
                sequence_spec,
                user=user,
                summary=f"Imported from Close ({close_id})",
                close_id=close_id,
                keep_step_ids=True,
            )
            _mark_imported(sequence, data, close_id=close_id, user=user)
    except IntegrityError:
        # Someone imported (or published) the same Close sequence a moment ago: the unique
        # close_id constraint kept it to one draft.
        _refuse_if_here(close_id)
        raise
    return sequence, notes


def _mark_imported(sequence, data, *, close_id, user):
    """An imported sequence is what runs in Close: published, at its first revision."""
    sequence.published_at = _close_time(data.get("date_updated")) or timezone.now()
    sequence.published_revision = sequence.revisions.get(number=sequence.version)
    sequence.close_status = Sequence.close_status_in(data)
    sequence.save(update_fields=["published_at", "published_revision", "close_status"])
    sequence.change_status(
        Sequence.Status.PUBLISHED,
        user=user,
        note=f"Imported from Close ({close_id}), where it is {data.get('status') or 'live'}.",
    )


def _refuse_if_here(close_id):
    existing = Sequence.objects.filter(close_id=close_id).first()
    if existing is not None:
        raise ImportRefused(
            f"“{existing.name}” already holds Close's sequence {close_id}.",
            status=409,
            sequence=existing,
        )


def _sync_missing_templates(sequence_spec, client):
    """Imported steps name Close templates: make sure the local cache knows them."""
    wanted = {
        template_id
        for step in sequence_spec.steps
        for template_id in (step.email_template_id, step.sms_template_id)
        if template_id
    }
    known = set(
        CloseTemplate.objects.filter(close_id__in=wanted, present_in_close=True).values_list(
            "close_id", flat=True
        )
    )
    if wanted <= known:
        return []
    try:
        template_sync.sync_templates(client=client)
    except close.CloseError as error:
        return [f"Templates were not synced ({error.message}); sync them to check the steps."]
    return []


def _close_time(value):
    """Close's naive ISO timestamps are UTC (close-api.md §1); None when unreadable."""
    try:
        moment = dt.datetime.fromisoformat(str(value))
    except (TypeError, ValueError):
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


# --- from a file --------------------------------------------------------------------------------


def read_upload(upload):
    """The JSON object in an uploaded file, or ImportRefused (too large, not UTF-8, not JSON)."""
    if upload is None:
        raise ImportRefused("Choose a JSON file to import.")
    if upload.size > MAX_FILE_BYTES:
        raise ImportRefused(
            f"The file is {upload.size // 1024} KB; sequence files can be at most "
            f"{MAX_FILE_BYTES // 1024} KB."
        )
    raw = upload.read(MAX_FILE_BYTES + 1)
    if len(raw) > MAX_FILE_BYTES:  # a client that lied about the size
        raise ImportRefused(f"Sequence files can be at most {MAX_FILE_BYTES // 1024} KB.")
    return parse_json(raw)


def parse_json(raw: bytes):
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ImportRefused("The file is not UTF-8 text. Export it again as JSON.") from None
    try:
        return json.loads(text)
    except ValueError as error:
        raise ImportRefused(
            f"The file is not valid JSON (line {getattr(error, 'lineno', '?')}): "
            f"{getattr(error, 'msg', str(error))}."
        ) from None
    except RecursionError:
        raise ImportRefused("The file nests too deeply to be a sequence.") from None


def import_file(*, data, user, filename="", as_copy=False):
    """A new Draft from a parsed sequence file (Close's JSON). Raises ImportRefused, NameTaken
    when a sequence of that name is here already, unless `as_copy`: then it is named
    “name (copy N)”, the first such name that is free."""
    problems = _shape_problems(data)
    if problems:
        raise ImportRefused("This is not a sequence file: " + " ".join(problems))
    sequence_spec = spec.from_close({**data, "status": None})
    # Not linked to anything in Close: the file may come from another organization.
    for step in sequence_spec.steps:
        step.close_id = None
        step.extra = {}
        if step_kinds.is_written(step):
            # A template the file's organization owns for this copy is not ours to update.
            kind = step_kinds.kind_of(step.step_type)
            setattr(step, kind.template_field, None)
    notes = spec.require_calls(sequence_spec)  # the same rule as an import from Close
    errors = spec.blocking(spec.validate(sequence_spec)) + [
        spec.Problem("", spec.ERROR, message, "not_storable")
        for message in _storable_problems(sequence_spec)
    ]
    if errors:
        count = len(errors)
        raise ImportRefused(
            f"Nothing was imported: the file has {count} problem{'s' if count > 1 else ''}. "
            + " ".join(dict.fromkeys(problem.message for problem in errors))
        )
    label = f" {filename}" if filename else ""
    # The history keeps the notes: this import's answer is a redirect with one message.
    summary = "; ".join([f"Imported from the file{label}", *notes])
    with transaction.atomic():
        existing = Sequence.objects.filter(name__iexact=sequence_spec.name).first()
        if existing is not None:
            if not as_copy:
                raise NameTaken(existing, copy_name(sequence_spec.name))
            sequence_spec.name = copy_name(sequence_spec.name)
        return _create(sequence_spec, user=user, summary=summary[:300])


def copy_name(name):
    """“name (copy 2)”, or the first of (copy 3), (copy 4)… that no sequence has, within the
    name length limit (the original is copy 1)."""
    base = re.sub(r" \(copy \d+\)$", "", name)
    taken = {
        taken.lower()
        for taken in Sequence.objects.filter(name__istartswith=base[:50]).values_list(
            "name", flat=True
        )
    }
    number = 2
    while True:
        suffix = f" (copy {number})"
        candidate = base[: spec.MAX_NAME_LENGTH - len(suffix)] + suffix
        if candidate.lower() not in taken:
            return candidate
        number += 1


def export_payload(sequence):
    """What a sequence file holds: the body Close accepts on POST /sequence/, without ids, and
    each written step's copy under its own "copy" key (spec._copy_from_file reads it back)."""
    sequence_spec = sequence.to_spec()
    payload = spec.to_close_payload(sequence_spec)
    for step, step_payload in zip(sequence_spec.steps, payload["steps"], strict=True):
        kind = step_kinds.kind_of(step.step_type)
        if step_kinds.is_written(step):
            step_payload["copy"] = {name: getattr(step, name) or "" for name in kind.copy_fields}
    return payload


# --- shared -----------------------------------------------------------------------------------


def _step_strings():
    """The keys of a step in Close's JSON that hold text: its type, id and kinds' own fields."""
    return ("step_type", *step_kinds.owned_field_names(kind_specific=True), "id")


def _shape_problems(data):
    """What makes `data` impossible to read as a sequence (wrong JSON types), in words.

    spec.from_close is lenient about values, not about shapes; this runs first so odd files get
    a message instead of an error."""
    if not isinstance(data, dict):
        return ["It must hold one JSON object with a name, a timezone and steps."]
    problems = []
    for key in ("name", "timezone"):
        if key in data and not isinstance(data[key], str | None):
            problems.append(f"“{key}” must be text.")
    steps = data.get("steps")
    if not isinstance(steps, list):
        problems.append("“steps” must be a list of steps.")
        steps = []
    for number, step in enumerate(steps, start=1):
        if not isinstance(step, dict):
            problems.append(f"Step {number} must be an object.")
            continue
        if "copy" in step and not isinstance(step["copy"], dict | None):
            problems.append(f"Step {number}'s “copy” must be an object (subject, body or text).")
            continue
        for key in _step_strings():
            if step.get(key) is not None and not isinstance(step[key], str):
                problems.append(f"Step {number}: “{key}” must be text.")
        delay = step.get("delay", 0)
        if isinstance(delay, bool) or not isinstance(delay, int):
            problems.append(f"Step {number}: “delay” must be a whole number of seconds.")
        if step.get("required") is not None and not isinstance(step["required"], bool):
            problems.append(f"Step {number}: “required” must be true or false.")
    schedule = data.get("schedule")
    if schedule is not None:
        ranges = schedule.get("ranges") if isinstance(schedule, dict) else None
        if not isinstance(ranges, list):
            problems.append("“schedule” must be null or an object with a list of “ranges”.")
            ranges = []
        for number, item in enumerate(ranges, start=1):
            if not isinstance(item, dict):
                problems.append(f"Sending hours row {number} must be an object.")
            elif not all(isinstance(item.get(key), str) for key in ("start", "end")) or not (
                isinstance(item.get("weekday"), int) and not isinstance(item["weekday"], bool)
            ):
                problems.append(
                    f"Sending hours row {number} needs a weekday number and start and end times."
                )
    return problems


def _storable_problems(sequence_spec):
    """What the database columns cannot hold (checked after _shape_problems)."""
    problems = []
    if len(sequence_spec.name) > spec.MAX_NAME_LENGTH:
        problems.append(f"The name is longer than {spec.MAX_NAME_LENGTH} characters.")
    if len(sequence_spec.timezone) > 64:
        problems.append("The timezone name is too long.")
    for number, step in enumerate(sequence_spec.steps, start=1):
        if not 0 <= step.delay <= _POSITIVE_INT_MAX:
            problems.append(f"Step {number}'s wait is out of range.")
        if len(step.step_type or "") > 20:
            problems.append(f"Step {number}'s type is too long.")
        if any(len(template_id or "") > 80 for template_id in step_kinds.template_ids(step)):
            problems.append(f"Step {number}'s template id is too long.")
        if (step.threading or "") not in ("", *spec.THREADING):
            problems.append(f"Step {number}'s threading must be new_thread or old_thread.")
        if len(step.close_id or "") > 64:
            problems.append(f"Step {number}'s id is too long.")
    for time_range in sequence_spec.schedule or []:
        if not spec.is_valid_range(time_range):
            problems.append(
                f"Sending hours {time_range.weekday} {time_range.start}–{time_range.end} are "
                "not a valid day and time range."
            )
    return problems


def _create(sequence_spec, *, user, summary, close_id="", keep_step_ids=False):
    sequence = Sequence.objects.create(
        name=sequence_spec.name,
        timezone=sequence_spec.timezone,
        has_schedule=sequence_spec.schedule is not None,
        close_id=close_id,
        created_by=user,
        updated_by=user,
    )
    ScheduleRange.objects.bulk_create(
        ScheduleRange.from_spec(time_range, sequence=sequence)
        for time_range in sequence_spec.schedule or []
    )
    Step.objects.bulk_create(
        Step.from_spec(step, sequence=sequence, position=position, keep_close_id=keep_step_ids)
        for position, step in enumerate(sequence_spec.steps)
    )
    sequence.record_revision(user=user, summary=summary)
    return sequence
