"""The Schedule page: weekly sending hours, timezone, and when each step would fire.

GET shows the page; an htmx GET gets only the timeline fragment (the preview the page refreshes
while someone paints). POST saves the sending hours, the "only during these hours" switch and the
timezone together, as one revision. The page's script posts through htmx after each pause in
painting or typing (an autosave, answered with the status line and the described hours, like the
Steps page); without JavaScript the form posts and gets a redirect. Refusals follow base.html's
convention: 422 for invalid input, 409 when someone else saved first.

The schedule arrives in one of two shapes, both read by schedule.parse_ranges() and checked by
spec.validate(): the grid script posts `ranges` as one JSON list; without JavaScript the page's
time inputs post repeated `weekday`/`start`/`end` fields (ignored when `ranges` is present).
"""

from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from django.contrib import messages
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.utils import timezone as django_timezone
from django.views.decorators.http import require_http_methods
from django_htmx.http import HttpResponseClientRefresh, trigger_client_event

from builder import editing, permissions, schedule, spec
from builder import steps as step_kinds
from builder.middleware import viewer_timezone_cookie
from builder.models import CloseTemplate, EditConflict
from builder.schedule import ScheduleInputError
from builder.views.access import get_sequence_for_user, require_editor
from builder.views.review import sequence_header

BLANK_ROWS = 2  # empty time-input rows offered without JavaScript
SENDING = {"hours": True, "any_time": False}
# Problems a draft may be saved with: an empty grid is a moment in editing (clear, then paint),
# so it is kept and shown; spec.validate() still blocks submitting and publishing it.
SAVABLE_PROBLEMS = {"schedule_empty"}


@dataclass(frozen=True)
class Draft:
    """What the schedule form holds: saved values, or what was posted."""

    timezone: str
    has_schedule: bool
    ranges: list

    def effective(self):
        """The schedule Close would get: None means "any time"."""
        return self.ranges if self.has_schedule else None


@require_http_methods(["GET", "POST"])
def sequence_schedule(request, sequence_id):
    sequence = get_sequence_for_user(request, sequence_id)
    if request.method == "POST":
        require_editor(request)
        return _save(request, sequence)

    saved = _saved_draft(sequence)
    preview = _preview(request, sequence, saved)
    # A bad query is invalid input (422, the app's refusal convention, which htmx swaps): the
    # timeline shows what it could, with the message saying what was corrected.
    status = 422 if preview.error else 200
    if request.htmx:
        context = {"sequence": sequence, "preview": preview}
        return render(request, "builder/sequence_schedule.html#timeline", context, status=status)
    return _render(request, sequence, saved, preview=preview, status=status)


def _save(request, sequence):
    """Save the posted schedule. The page's script posts through htmx as the person paints or
    types (an autosave, answered with fragments); without JavaScript the form posts and the
    answer is a redirect, or the page again with the refusal."""
    saved = _saved_draft(sequence)
    loaded_version = None
    try:
        post = request.POST
        loaded_version = _read_version(post)
        draft = _posted_draft(post)
    except (TooManyFieldsSent, RequestDataTooBig):
        return _refuse(
            request,
            sequence,
            saved,
            f"Nothing was saved: that is far too much data for a schedule "
            f"(at most {schedule.MAX_RANGES} blocks of sending hours).",
        )
    except ScheduleInputError as error:
        return _refuse(request, sequence, saved, f"Nothing was saved: {error}", loaded_version)

    problems = _draft_problems(sequence, draft)
    if _refusing(problems):
        return _refuse(
            request,
            sequence,
            draft,
            "Nothing was saved: fix the sending hours marked below."
            if not request.htmx
            else "Nothing was saved: " + " ".join(p.message for p in _refusing(problems)),
            loaded_version,
            problems=problems,
        )
    draft = replace(draft, ranges=schedule.normalize(draft.ranges))
    status_before = sequence.status
    try:
        summary = editing.schedule_save(
            sequence=sequence,
            user=request.user,
            loaded_version=loaded_version,
            timezone_name=draft.timezone,
            has_schedule=draft.has_schedule,
            ranges=draft.ranges,
        )
    except EditConflict as conflict:
        return _refuse_stale(request, sequence, draft, conflict, loaded_version)
    if not summary:
        if request.htmx:
            return _saved(request, sequence, draft, "No changes", problems)
        messages.info(request, "Nothing to save: the schedule is unchanged.")
        return redirect("sequence_schedule", sequence_id=sequence.pk)
    if not request.htmx:
        messages.success(request, f"Saved. {summary}.")
        return redirect("sequence_schedule", sequence_id=sequence.pk)
    sequence.refresh_from_db()
    if sequence.status != status_before:
        # The edit sent a reviewed or published sequence back to Draft: reload so the header
        # and the review controls say so (what was painted is saved, nothing is lost).
        messages.info(request, f"Saved. {summary}. The sequence is back in Draft.")
        return HttpResponseClientRefresh()
    return _saved(request, sequence, draft, summary, problems)


def _saved(request, sequence, draft, detail, problems):
    """An autosave's answer: the status line (with the new version the next save sends), the
    hours described with their problems, and an event telling the script what is saved now."""
    context = {
        "sequence": sequence,
        **sequence_header(request, sequence, active_tab="schedule"),
        "form_version": sequence.version,
        "save_detail": detail,
        "summary": schedule.describe(draft.ranges),
        "problems": problems,
        "oob": True,
    }
    response = _fragments(request, context, ["save-status", "schedule-summary", "head"])
    return trigger_client_event(response, "schedule-saved", {"saved": _as_json(draft)})


def _fragments(request, context, names, *, status=200):
    html = "".join(
        render_to_string(f"builder/sequence_schedule.html#{name}", context, request)
        for name in names
    )
    return HttpResponse(html, status=status)


def _refuse_stale(request, sequence, draft, conflict, loaded_version):
    """Someone saved after this page loaded: refuse, say who, what they changed and what is
    saved now, and offer a reload. The page keeps its own (stale) version, so every later save
    is refused too: nothing of theirs is overwritten."""
    now_saved = _saved_draft(sequence)
    message = str(conflict)
    latest = sequence.revisions.order_by("-number").values_list("summary", flat=True).first()
    if latest:
        message += f" Their last change: {latest}."
    message += f" Saved now: {schedule.describe(now_saved.effective())} in {now_saved.timezone}."
    return _refuse(request, sequence, draft, message, loaded_version, status=409)


def _read_version(post):
    try:
        version = int(post.get("version", ""))
    except ValueError:
        version = 0
    if version < 1:
        raise ScheduleInputError("the form is missing its version. Reload the page and try again.")
    return version


def _posted_draft(post):
    """The schedule as posted, before validation. Raises ScheduleInputError for bad shapes."""
    if post.get("has_schedule") not in SENDING:
        raise ScheduleInputError(
            "choose whether Close sends only during the sending hours or at any time."
        )
    if "ranges" in post:
        ranges = schedule.parse_ranges_json(post["ranges"])
    else:
        ranges = _ranges_from_rows(post)
    # The grid's buttons, pressed without JavaScript (the script handles them in the page).
    preset = post.get("preset")
    if preset is not None:
        if preset not in schedule.PRESETS:
            raise ScheduleInputError(f"there is no preset called “{preset[:40]}”.")
        ranges = list(schedule.PRESETS[preset][1])
    toggle = post.get("toggle_day")
    if toggle is not None:
        if toggle not in {str(day) for day in schedule.WEEKDAYS}:
            raise ScheduleInputError("there is no such day. Reload the page.")
        ranges = schedule.toggle_day(ranges, int(toggle))
    return Draft(
        timezone=schedule.resolve_timezone(post.get("timezone", "")),
        has_schedule=SENDING[post["has_schedule"]],
        ranges=ranges,
    )


def _ranges_from_rows(post):
    """Ranges from the time-input rows (the page without JavaScript); blank rows are skipped."""
    columns = [post.getlist(name) for name in ("weekday", "start", "end")]
    if len({len(column) for column in columns}) > 1:
        raise ScheduleInputError("the sending-hours rows are incomplete. Reload the page.")
    rows = [
        {"weekday": weekday, "start": start, "end": end}
        for weekday, start, end in zip(*columns, strict=True)
    ]
    remove = post.get("remove")
    if remove is not None:  # a row's Remove button pressed without JavaScript
        if not remove.isdigit() or int(remove) >= len(rows):
            raise ScheduleInputError("that row is not there any more. Reload the page.")
        del rows[int(remove)]
    rows = [row for row in rows if any(value.strip() for value in row.values())]
    return schedule.parse_ranges(rows)


def _draft_problems(sequence, draft):
    """spec.validate()'s problems with the timezone and the sending hours (steps are elsewhere)."""
    draft_spec = spec.SequenceSpec(
        name=sequence.name, timezone=draft.timezone, steps=[], schedule=draft.ranges
    )
    problems = [
        problem
        for problem in spec.validate(draft_spec)
        if problem.path == "timezone" or problem.path.startswith("schedule")
    ]
    if not draft.has_schedule:
        # "Any time" ignores the kept hours: an empty grid is no longer worth a warning.
        problems = [p for p in problems if p.code != "schedule_empty"]
    return problems


def _refusing(problems):
    """The problems that stop a save (not only a publish)."""
    return [p for p in spec.blocking(problems) if p.code not in SAVABLE_PROBLEMS]


def _saved_draft(sequence):
    return Draft(
        timezone=sequence.timezone,
        has_schedule=sequence.has_schedule,
        ranges=[r.to_spec() for r in sequence.schedule_ranges.all()],
    )


def _refuse(request, sequence, draft, message, loaded_version=None, *, problems=None, status=422):
    """Nothing saved: 422 for invalid input, 409 when someone else saved first (the app's
    refusal convention, base.html). An autosave gets the status line saying why, and the posted
    hours' problems; without JavaScript, the page again with the message and the posted hours.

    Either way the form keeps the version the editor loaded, so saving again cannot silently
    overwrite what someone else saved meanwhile.
    """
    if problems is None:
        problems = _draft_problems(sequence, draft)
    if request.htmx:
        context = {
            "sequence": sequence,
            "form_version": loaded_version or "",
            "save_error": f"Not saved: {message.removeprefix('Nothing was saved: ')}",
            "conflict": status == 409,
            "summary": schedule.describe(draft.ranges),
            "problems": problems,
            "oob": True,
        }
        return _fragments(request, context, ["save-status", "schedule-summary"], status=status)
    preview = _preview(request, sequence, _saved_draft(sequence))
    return _render(
        request,
        sequence,
        draft,
        preview=preview,
        problems=problems,
        error=message,
        conflict=status == 409,
        version=loaded_version,
        status=status,
    )


def _render(
    request,
    sequence,
    draft,
    *,
    preview,
    problems=None,
    error="",
    conflict=False,
    version=None,
    status=200,
):
    now = django_timezone.now()
    saved = _saved_draft(sequence) if error else draft
    if problems is None:
        problems = _draft_problems(sequence, draft)
    invalid_rows = {
        int(parts[1])
        for parts in (problem.path.split(".") for problem in problems)
        if parts[0] == "schedule" and len(parts) > 1 and parts[1].isdigit()
    }
    rows = [{"range": r, "invalid": index in invalid_rows} for index, r in enumerate(draft.ranges)]
    known_timezone = schedule.is_timezone(draft.timezone)
    context = {
        "sequence": sequence,
        **sequence_header(request, sequence, active_tab="schedule"),
        "draft": draft,
        "can_edit": permissions.can_edit(request.user),
        "grid": schedule.grid(draft.ranges),
        "weekdays": [(day, spec.weekday_name(day)) for day in schedule.WEEKDAYS],
        "day_headers": [
            (day, spec.weekday_name(day), schedule.describe_toggle(draft.ranges, day))
            for day in schedule.WEEKDAYS
        ],
        "presets": [(key, label) for key, (label, _) in schedule.PRESETS.items()],
        "rows": rows,
        "blank_rows": [(index, index + 1) for index in range(len(rows), len(rows) + BLANK_ROWS)],
        "page_data": {
            "ranges": [asdict(r) for r in draft.ranges],
            "saved": _as_json(saved),
            "presets": {
                key: [asdict(r) for r in ranges] for key, (_, ranges) in schedule.PRESETS.items()
            },
            "editable": permissions.can_edit(request.user),
            "viewerTimezone": preview.viewer_timezone,
            "timezoneAliases": spec.TIMEZONE_ALIASES,
            "viewerGiven": "viewer_tz" in request.GET,
            "enrollGiven": "enroll" in request.GET,
        },
        "summary": schedule.describe(draft.ranges),
        "problems": problems,
        "form_version": version or sequence.version,
        "error": error,
        "conflict": conflict,
        "timezone_choices": schedule.timezone_choices(now),
        "timezone_offset": schedule.utc_offset(draft.timezone, now) if known_timezone else "",
        "timezone_now": f"{now.astimezone(ZoneInfo(draft.timezone)):%H:%M}"
        if known_timezone
        else "",
        "preview": preview,
    }
    return render(request, "builder/sequence_schedule.html", context, status=status)


def _as_json(draft):
    """The saved state as the script compares it (to tell whether there are unsaved changes)."""
    return {
        "timezone": draft.timezone,
        "has_schedule": "hours" if draft.has_schedule else "any_time",
        "ranges": [asdict(r) for r in schedule.normalize(draft.ranges)],
    }


# --- Timeline preview ------------------------------------------------------------------------


@dataclass
class Preview:
    enroll_value: str  # the datetime-local input's value, in the viewer's zone
    viewer_timezone: str
    timezone: str
    schedule_text: str
    unsaved: bool  # the timeline uses the page's unsaved changes
    note: str  # why the timeline ignores the unsaved changes, if it does
    error: str
    rows: list
    problems: list
    length: str
    # For an htmx refresh carrying unsaved changes: the text and problems of those changes,
    # swapped into the form beside the grid (the server describes, the script does not).
    live: bool = False
    live_summary: str = ""
    live_problems: list = field(default_factory=list)


def _preview(request, sequence, saved):
    """The timeline for the enrollment moment in the query string (default: now)."""
    errors = []
    viewer_name = request.GET.get("viewer_tz") or viewer_timezone_cookie(request)
    viewer_name = schedule.resolve_timezone(viewer_name) if viewer_name else "UTC"
    if not schedule.is_timezone(viewer_name):
        if "viewer_tz" in request.GET:
            errors.append(f"“{viewer_name[:60]}” is not a timezone; your times are shown in UTC.")
        viewer_name = "UTC"
    viewer_tz = ZoneInfo(viewer_name)

    enrolled_at = django_timezone.now().replace(second=0, microsecond=0)
    enroll_text = request.GET.get("enroll", "").strip()
    if enroll_text:
        try:
            typed = datetime.fromisoformat(enroll_text)
        except ValueError:
            typed = None
            errors.append(
                f"“{enroll_text[:40]}” is not a date and time; showing an enrollment now."
            )
        else:
            first, last = schedule.ENROLL_YEARS
            if not first <= typed.year <= last:
                errors.append(
                    f"“{enroll_text[:40]}” is too far from today: pick a date between "
                    f"{first} and {last}; showing an enrollment now."
                )
                typed = None
        if typed is not None:
            # Typed in the viewer's zone; a time skipped by a DST change reads as after it.
            enrolled_at = (typed if typed.tzinfo else typed.replace(tzinfo=viewer_tz)).astimezone(
                UTC
            )

    preview = Preview(
        enroll_value=f"{enrolled_at.astimezone(viewer_tz):%Y-%m-%dT%H:%M}",
        viewer_timezone=viewer_name,
        timezone=saved.timezone,
        schedule_text=schedule.describe(saved.effective()),
        unsaved=False,
        note="",
        error=" ".join(errors),
        rows=[],
        problems=[],
        length="",
    )
    draft = _previewed_draft(request, sequence, saved, preview)
    if not schedule.is_timezone(draft.timezone):
        preview.error = " ".join([*errors, "Choose a valid timezone to see when steps fire."])
        return preview
    steps = sequence.ordered_steps()
    timeline = schedule.build_timeline(
        delays=[step.delay for step in steps],
        schedule=draft.effective(),
        timezone=draft.timezone,
        enrolled_at=enrolled_at,
        viewer_timezone=viewer_name,
    )
    preview.timezone = draft.timezone
    preview.schedule_text = schedule.describe(draft.effective())
    preview.rows = _timeline_rows(timeline, steps, draft.timezone, viewer_tz)
    preview.problems = [p for p in timeline.problems if not p.path.startswith("steps.")]
    preview.length = schedule.describe_length(timeline.length) if timeline.length else ""
    return preview


def _previewed_draft(request, sequence, saved, preview):
    """The unsaved changes the page sends along (draft_* parameters), when they are usable."""
    if "draft_ranges" not in request.GET:
        return saved
    preview.live = True
    try:
        draft = Draft(
            timezone=schedule.resolve_timezone(request.GET.get("draft_timezone", "")),
            has_schedule=SENDING.get(request.GET.get("draft_has_schedule"), True),
            ranges=schedule.parse_ranges_json(request.GET["draft_ranges"]),
        )
    except ScheduleInputError as error:
        preview.note = f"{error} The timeline uses the saved schedule."
        return saved
    preview.live_summary = schedule.describe(draft.ranges)
    preview.live_problems = _draft_problems(sequence, draft)
    if _refusing(preview.live_problems):
        preview.note = (
            "Your unsaved changes have problems (see Sending hours); "
            "the timeline uses the saved schedule."
        )
        return saved
    preview.unsaved = _differs(draft, saved)
    return draft


def _differs(a, b):
    return (
        a.timezone != b.timezone
        or a.has_schedule != b.has_schedule
        or schedule.normalize(a.ranges) != schedule.normalize(b.ranges)
    )


def _timeline_rows(timeline, steps, timezone_name, viewer_tz):
    tz = ZoneInfo(timezone_name)
    template_names = _template_names(steps)
    problems_by_step = {}
    for problem in timeline.problems:
        if problem.path.startswith("steps."):
            problems_by_step.setdefault(int(problem.path.split(".")[1]), []).append(problem)
    enrolled_day = timeline.enrolled_at.astimezone(tz).date()
    rows = []
    for firing, step in zip(timeline.firings, steps, strict=True):
        at = firing.at
        rows.append(
            {
                "number": firing.step + 1,
                "kind": _kind_label(step.step_type),
                "template": template_names.get(step.email_template_id or step.sms_template_id, ""),
                "wait": spec.describe_delay(firing.delay),
                "after": "after enrollment" if firing.step == 0 else "after the previous step",
                "day": (at.astimezone(tz).date() - enrolled_day).days + 1 if at else None,
                "at": schedule.format_moment(at, tz) if at else "",
                "at_viewer": schedule.format_moment(at, viewer_tz) if at else "",
                "at_iso": at.isoformat() if at else "",
                "held_from": schedule.format_moment(firing.due, tz) if firing.held else "",
                "problems": problems_by_step.get(firing.step, []),
            }
        )
    return rows


def _kind_label(step_type):
    """The timeline's "Email"; a kind we only keep shows Close's own name for it."""
    if step_kinds.is_known(step_type):
        return step_kinds.type_label(step_type)
    return step_type or "Untyped"


def _template_names(steps):
    ids = {step.email_template_id or step.sms_template_id for step in steps} - {""}
    if not ids:
        return {}
    return dict(CloseTemplate.objects.filter(close_id__in=ids).values_list("close_id", "name"))
