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

Copy: an email's or SMS's words come in as copy written in the step ("written"), so the team
reviews and edits them with the draft. From Close, each referenced template's copy is read (once
per template) and its id kept on the step, with an OwnedTemplate row saying the template is
Close's, not ours (created_by_us=False: publishing must not treat it as its own). From a file,
the copy is the step's "copy" key. Either way a body is cleaned to copytext's subset on the way
in, whatever Close or the file held (scripts, event handlers, javascript: links, SVG).
"""

import datetime as dt
import json
import re
from dataclasses import dataclass
from html.parser import HTMLParser

from django.db import IntegrityError, transaction
from django.utils import timezone

from builder import close, copytext, spec, template_sync
from builder import steps as step_kinds
from builder.models import CloseTemplate, OwnedTemplate, ScheduleRange, Sequence, Step

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
    """Copy Close's sequence `close_id` here, Published and linked, each email's and SMS's copy
    read from its template (_read_copy). Returns (sequence, notes).

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
    adopted, copy_notes = _read_copy(sequence_spec, client)
    notes = spec.require_calls(sequence_spec) + copy_notes
    notes += _sync_missing_templates(sequence_spec, client)
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
            _adopt_templates(sequence, adopted)
    except IntegrityError:
        # Someone imported (or published) the same Close sequence a moment ago: the unique
        # close_id constraint kept it to one draft.
        _refuse_if_here(close_id)
        raise
    return sequence, notes


def copy_read_words(sequence) -> str:
    """ "3 steps' copy read from their Close templates." for an imported sequence; "" when no
    step's copy came from Close."""
    count = sequence.owned_templates.filter(created_by_us=False).count()
    if not count:
        return ""
    if count == 1:
        return "1 step's copy read from its Close template."
    return f"{count} steps' copy read from their Close templates."


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


@dataclass
class _Template:
    """One Close template as the import read it, its copy as stored here."""

    kind: step_kinds.StepKind
    close_id: str
    name: str
    copy: dict  # the kind's copy fields: subject and body, or text
    date_updated: str
    archived: bool
    shared: bool
    removed: list  # what cleaning the body took out, in words ("a script", ...)


def _read_copy(sequence_spec, client):
    """Bring each email's and SMS's copy in from its Close template, in place: the step
    becomes "written" and keeps the template's id. One fetch per distinct template; a template
    that cannot be read leaves its steps as they are (using the shared template), with a note.

    Returns ([(step index, _Template)], notes)."""
    fetchers = {
        step_kinds.EMAIL.key: client.fetch_email_template,
        step_kinds.SMS.key: client.fetch_sms_template,
    }
    uses = {}  # (kind key, template id) -> [step index, ...], in step order
    for index, step in enumerate(sequence_spec.steps):
        kind = step_kinds.kind_of(step.step_type)
        template_id = getattr(step, kind.template_field) if kind.template_field else None
        if template_id and kind.key in fetchers and not step_kinds.is_written(step):
            uses.setdefault((kind.key, template_id), []).append(index)
    adopted, notes = [], []
    for (kind_key, template_id), indexes in uses.items():
        kind = step_kinds.kind_of(kind_key)
        steps_words = _steps_words([index + 1 for index in indexes])
        keeps = "The step keeps" if len(indexes) == 1 else "The steps keep"
        try:
            # include_embedded (close-api.md §7): a Workflow built in Close's UI may hold
            # templates that are not in the library.
            data = fetchers[kind_key](template_id, include_embedded=True)
            template = _template_from_close(kind, template_id, data)
        except close.CloseNotFound:
            notes.append(
                f"{steps_words} {kind.noun} copy was not brought in: Close has no {kind.noun} "
                f"template {template_id} (it may have been deleted). {keeps} using it."
            )
            continue
        except (close.CloseError, _Unreadable) as problem:
            notes.append(
                f"{steps_words} {kind.noun} copy was not brought in from the template "
                f"{template_id}: {str(problem).rstrip('.')}. {keeps} using the template."
            )
            continue
        for index in indexes:
            step = sequence_spec.steps[index]
            step.content_source = step_kinds.WRITTEN
            for name, value in template.copy.items():
                setattr(step, name, value)
            adopted.append((index, template))
        notes += _template_notes(steps_words, template)
    return adopted, notes


_NAME_LIMIT = OwnedTemplate._meta.get_field("name").max_length
_SUBJECT_LIMIT = Step._meta.get_field("subject").max_length


class _Unreadable(Exception):
    """Close's template is not something we can store; str() says why, in words."""


def _template_from_close(kind, template_id, data) -> _Template:
    if not isinstance(data, dict):
        raise _Unreadable("Close's answer was not a template")
    copy, removed = {}, []
    for name in kind.copy_fields:
        value = data.get(name)
        if value is not None and not isinstance(value, str):
            raise _Unreadable(f"its {name} is not text")
        copy[name] = value or ""
    if "body" in copy:
        removed = _unsafe_parts(copy["body"])
        copy["body"] = copytext.clean_body(copy["body"])
    if len(copy.get("subject", "")) > _SUBJECT_LIMIT:
        raise _Unreadable(f"its subject is longer than {_SUBJECT_LIMIT} characters")
    archived = data.get("is_archived") is True or data.get("status") == "archived"
    return _Template(
        kind=kind,
        close_id=template_id,
        name=str(data.get("name") or template_id)[:_NAME_LIMIT],
        copy=copy,
        date_updated=str(data.get("date_updated") or "")[:40],
        archived=archived,
        shared=data.get("is_shared") is not False,
        removed=removed,
    )


def _template_notes(steps_words, template):
    """What a person should know about copy read from `template`."""
    name = f"{template.kind.noun} template “{template.name}”"
    notes = []
    if template.archived or not template.shared:
        state = " and ".join(
            words
            for words, applies in (
                ("archived", template.archived),
                ("not shared", not template.shared),
            )
            if applies
        )
        notes.append(
            f"{steps_words} copy came from the {name}, which is {state} in Close; the copy "
            "is written in the step now."
        )
    if template.removed:
        notes.append(
            f"{steps_words} copy from the {name} had {_and_list(template.removed)}; "
            "Sequence Builder keeps text, bold, italic, links and lists only, so that was removed."
        )
    return notes


class _UnsafeParts(HTMLParser):
    """What copytext.clean_body will take out of a body that matters to its reader: active
    content and things that are not text (formatting it keeps, or unwraps, is not listed)."""

    NAMED = {
        "script": "a script",
        "style": "a style sheet",
        "svg": "SVG",
        "img": "an image",
        "iframe": "an embedded frame",
        "object": "an embedded object",
        "embed": "an embedded object",
        "form": "a form",
        "table": "a table",
    }

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.found = {}

    def handle_starttag(self, tag, attrs):
        if tag in self.NAMED:
            self.found.setdefault(self.NAMED[tag], None)
        for attribute, value in attrs:
            if attribute.startswith("on"):
                self.found.setdefault("event handlers", None)
            elif attribute == "href" and not _allowed_link(value):
                self.found.setdefault("a link that is not http, https or mailto", None)


def _allowed_link(href) -> bool:
    scheme = re.match(r"\s*([A-Za-z][A-Za-z0-9+.-]*):", href or "")
    return scheme is None or scheme.group(1).lower() in copytext.BODY_URL_SCHEMES


def _unsafe_parts(body) -> list:
    reader = _UnsafeParts()
    reader.feed(body or "")
    reader.close()
    return list(reader.found)


def _and_list(items) -> str:
    items = list(items)
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def _steps_words(numbers) -> str:
    """ "Step 2's" / "Steps 2 and 4'" : the possessive that starts a note."""
    if len(numbers) == 1:
        return f"Step {numbers[0]}'s"
    return f"Steps {_and_list([str(n) for n in numbers])}'"


def _adopt_templates(sequence, adopted):
    """An OwnedTemplate row per step whose copy came from a Close template: the template is
    Close's (maybe used by other sequences), so publishing knows it did not create it."""
    rows = list(sequence.ordered_steps())
    OwnedTemplate.objects.bulk_create(
        OwnedTemplate(
            sequence=sequence,
            step_key=str(rows[index].pk),
            kind=template.kind.key,
            close_id=template.close_id,
            name=template.name,
            created_by_us=False,
            sent_subject=template.copy.get("subject", ""),
            sent_body=template.copy.get("body", ""),
            sent_text=template.copy.get("text", ""),
            close_date_updated=template.date_updated,
        )
        for index, template in adopted
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
        copy_problems = _copy_shape_problems(number, step)
        if copy_problems:
            problems += copy_problems
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


def _copy_shape_problems(number, step):
    """A step's "copy" holds its kind's copy fields as text, and only those."""
    copy = step.get("copy")
    if not isinstance(copy, dict):
        return []
    kind = step_kinds.kind_of(
        step.get("step_type") if isinstance(step.get("step_type"), str) else None
    )
    if not kind.copy_fields:
        return [f"Step {number} is not an email or SMS step, so it cannot have “copy”."]
    fields = " and ".join(kind.copy_fields)
    problems = []
    if set(copy) - set(kind.copy_fields):
        problems.append(f"Step {number}'s “copy” may hold only {fields} ({kind.words} step).")
    problems += [
        f"Step {number}'s copy “{name}” must be text."
        for name in kind.copy_fields
        if copy.get(name) is not None and not isinstance(copy[name], str)
    ]
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
        if len(step.subject or "") > _SUBJECT_LIMIT:
            problems.append(f"Step {number}'s subject is longer than {_SUBJECT_LIMIT} characters.")
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
