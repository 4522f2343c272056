"""What the step editor shows of each step: its card, and the template picker's results.

A `Card` reads its kind from the registry (builder/steps.py): label, whether the editor changes
it, its template field and the partial that shows its kind-specific part. The view builds cards,
the templates in templates/builder/ render them.
"""

import functools
from dataclasses import dataclass, field

from django.db.models import Count, Min, Q
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html_join
from django.utils.safestring import mark_safe

from builder import copy_publishing, copytext, spec, template_preview
from builder import steps as step_kinds
from builder.forms import StepFieldsForm
from builder.models import CloseTemplate, Comment, OwnedTemplate, Sequence, Step

PICKER_LIMIT = 20  # results per search: enough to choose from, small enough to stay fast
MAX_QUERY_LENGTH = 100
# reverse() costs about as much as rendering a whole card: each step's URLs are made from
# patterns reversed once per page with a marker where the step id goes.
URL_MARKER = "9876543210"
# Kinds registered without a partial of their own show the generic one.
DEFAULT_CARD_PARTIAL = "builder/steps/_card.html"
# Which part of a card a problem path's field belongs to (see Card.problems).
PROBLEM_PLACES = {
    "delay": "delay",
    "email_template_id": "template",
    "sms_template_id": "template",
    "threading": "threading",
    "required": "required",
    "content_source": "content",
    "subject": "subject",
    "body": "body",
    "text": "text",
}
# The partial showing the boxes of a kind's written copy (inside the card's content part).
COPY_PARTIALS = {
    "email": "builder/steps/_email_copy.html",
    "sms": "builder/steps/_sms_copy.html",
}


@dataclass
class Picker:
    step_id: int
    query: str
    results: list  # of PickerResult
    total: int


@dataclass
class PickerResult:
    template: CloseTemplate
    preview: template_preview.Preview


def template_search(*, step: Step, query: str) -> "Picker":
    """Shared, live templates of the step's kind whose name or subject has every word typed."""
    query = " ".join(query.split())[:MAX_QUERY_LENGTH]
    templates = CloseTemplate.usable_choices(step.step_type).defer(None).order_by("name")
    for word in query.split()[:8]:
        templates = templates.filter(Q(name__icontains=word) | Q(subject__icontains=word))
    found = list(templates[: PICKER_LIMIT + 1])
    total = len(found) if len(found) <= PICKER_LIMIT else templates.count()
    results = [
        PickerResult(template, template_preview_of(template)) for template in found[:PICKER_LIMIT]
    ]
    return Picker(step_id=step.pk, query=query, results=results, total=total)


def template_preview_of(template: CloseTemplate) -> template_preview.Preview:
    return template_preview.preview(
        subject=template.subject, body=template.body, is_html=template.kind == "email"
    )


class ProblemsByPlace(dict):
    """A card's problems by place; a place without any reads as none (and is not added).

    The card templates loop over `card.problems.delay` and the like for every card. A missing key
    would make Django's variable lookup fall back to getattr() and then dir() of the dict, for
    every such place of every card (about four per card on each page and fragment)."""

    def __missing__(self, place):
        return ()


@dataclass
class Card:
    """What one step card shows: the step, where it starts, its template and its problems."""

    step: Step
    index: int
    count: int
    starts_at: int = 0  # seconds after enrollment
    template: CloseTemplate | None = None
    problems: dict = field(default_factory=ProblemsByPlace)  # place in the card -> [Problem]
    is_first_email: bool = False
    form: StepFieldsForm | None = None  # a refused post, shown with its errors
    picker: Picker | None = None
    url_patterns: dict = field(default_factory=dict)  # from step_url_patterns()
    previews: dict = field(default_factory=dict)  # template id -> Preview, shared by the cards
    open_comments: int = 0  # unresolved review comments about this step
    comments_url: str = ""  # the first of them, on the Review tab
    # Its copy changed in Close since it was published (OwnedTemplate, ready for
    # templates/builder/_copy_drift.html), or None.
    drift: object = None
    # Shown as its head alone until the page asks for it whole (views/editor.py first_screen).
    pending: bool = False

    @property
    def pk(self):
        return self.step.pk

    @property
    def number(self):
        return self.index + 1

    @property
    def is_last(self):
        return self.index == self.count - 1

    @functools.cached_property
    def urls(self):
        pk = str(self.pk)
        urls = {name: url.replace(URL_MARKER, pk) for name, url in self.url_patterns.items()}
        urls["insert"] = f"{self.url_patterns.get('add', '')}?position={self.index}"
        return urls

    @functools.cached_property
    def kind(self):
        return step_kinds.kind_of(self.step.step_type)

    @property
    def editable(self):
        return self.kind.editable

    @property
    def template_field(self):
        return self.kind.template_field

    @property
    def partial(self):
        """The template showing this kind's own part of the card."""
        return self.kind.card_partial or DEFAULT_CARD_PARTIAL

    @property
    def template_id(self):
        return getattr(self.step, self.template_field) if self.template_field else ""

    @property
    def type_label(self):
        return step_kinds.type_label(self.step.step_type)

    @property
    def day(self):
        return self.starts_at // 86400 + 1

    @property
    def starts_text(self):
        return describe_start(self.starts_at)

    @property
    def delay_values(self):
        if self.form is not None:
            return {name: self.form.data.get(name, "") for name in ("days", "hours", "minutes")}
        days, hours, minutes = spec.split_delay(self.step.delay)
        return {"days": days, "hours": hours, "minutes": minutes}

    @property
    def leftover_seconds(self):
        """Seconds the boxes cannot show (a delay made in Close); saves keep them."""
        return spec.leftover_seconds(self.step.delay)

    @property
    def replies_in_thread(self):
        """What Close gets: the first email starts the thread, whatever it stores."""
        if self.is_first_email:
            return False
        if self.form is not None:
            return bool(self.form.data.get("reply_in_thread"))
        return self.step.threading == "old_thread"

    @property
    def thread_locked(self):
        """The first email starts the thread; its stored choice waits for it to move down."""
        return self.is_first_email

    @property
    def keeps_reply_choice(self):
        return self.is_first_email and self.step.threading == "old_thread"

    @property
    def template_flag(self):
        """Why a picked template cannot be used any more, in two or three words."""
        template = self.template
        if self.template_id and template is None:
            return "Not synced"
        if template is None:
            return ""
        if not template.present_in_close:
            return "Deleted in Close"
        if template.is_archived:
            return "Archived in Close"
        if not template.is_shared:
            return "Not shared"
        return ""

    @property
    def preview(self):
        if self.template is None:
            return None
        if self.template.close_id not in self.previews:
            self.previews[self.template.close_id] = template_preview_of(self.template)
        return self.previews[self.template.close_id]

    @property
    def summary(self):
        """ "Email · Follow-up — case study · replies in thread" (the card puts the day first)."""
        parts = [self.type_label]
        if self.is_written:
            parts.append(f"written here: {step_kinds.copy_headline(self.step)}")
        elif self.template_field:
            if self.template:
                parts.append(self.template.name)
            else:
                parts.append("unknown template" if self.template_id else "no template yet")
        if self.step.step_type == "email" and self.is_first_email:
            parts.append("starts the thread")
        elif self.step.step_type == "email":
            parts.append("replies in thread" if self.replies_in_thread else "new thread")
        elif self.step.step_type == "call":
            parts.append("required")  # always, in Close (spec.require_calls)
        return " · ".join(parts)

    @property
    def delay_errors(self):
        """What was wrong with a refused post's wait (shown under the three boxes)."""
        if self.form is None:
            return []
        names = ("__all__", "days", "hours", "minutes")
        return [error for name in names for error in self.form.errors.get(name, [])]

    @property
    def invalid_delay_fields(self):
        """The wait boxes a refused post's errors are about (all three for the wait as a whole)."""
        if self.form is None:
            return []
        names = ("days", "hours", "minutes")
        if self.form.errors.get("__all__"):
            return list(names)
        return [name for name in names if self.form.errors.get(name)]

    # --- Written copy (content_source "written") or a shared template ------------------------

    @property
    def copy_fields(self):
        return self.kind.copy_fields

    @property
    def is_written(self):
        return step_kinds.is_written(self.step)

    @property
    def shows_picker(self):
        """The template picker shows for a step that uses a shared template (and kinds without
        copy of their own)."""
        return bool(self.template_field) and not self.is_written

    @property
    def content_legend(self):
        return f"{self.kind.label} content"

    @property
    def copy_partial(self):
        return COPY_PARTIALS.get(self.step.step_type, DEFAULT_CARD_PARTIAL)

    @property
    def copy_values(self):
        """The copy the boxes show: the step's, or what a refused post (without JavaScript) sent."""
        values = {name: getattr(self.step, name) or "" for name in self.copy_fields}
        if self.form is not None:
            values.update(
                {name: self.form.data[name] for name in self.copy_fields if name in self.form.data}
            )
        return values

    @property
    def copy_errors(self):
        """A refused post's errors by copy field ("subject" -> [messages])."""
        if self.form is None:
            return {}
        return {name: self.form.errors.get(name, []) for name in self.copy_fields}

    @functools.cached_property
    def notes(self):
        """What shows under each copy field and the content choice: {"subject": {"name",
        "errors", "problems"}, …}; a save sends them again (out of band), never the boxes."""
        errors = dict(self.copy_errors)
        if self.form is not None:
            errors["content"] = self.form.errors.get("content_source", [])
        return {
            name: {"name": name, "errors": errors.get(name, []), "problems": self.problems[name]}
            for name in ("content", *self.copy_fields)
        }

    @property
    def copy_notes(self):
        """The notes a save sends back: the content choice's, and the boxes' when written."""
        notes = self.notes
        names = ("content", *self.copy_fields) if self.is_written else ("content",)
        return [notes[name] for name in names]

    @property
    def body_html(self):
        """The stored body, cleaned again on the way out (an import may predate the rules)."""
        return cleaned_body(self.copy_values.get("body", ""))

    @property
    def sms_length(self):
        """ "42 characters · 1 SMS segment (GSM-7)" (copy-editor.js says it the same way)."""
        return copytext.sms_length(self.copy_values.get("text", "")).sentence()

    @property
    def merge_items(self):
        """The Insert merge field menu's items: copytext's table, rendered by the server (the
        same markup on every card, made once: see merge_menu_items)."""
        return merge_menu_items()

    @property
    def can_copy_template(self):
        """ "Edit a copy" needs the picked template in the local cache."""
        return not self.is_written and self.template is not None

    @property
    def template_errors(self):
        if self.form is None or not self.template_field:
            return []
        return self.form.errors.get(self.template_field, [])


@functools.lru_cache(maxsize=2_000)
def cleaned_body(body: str) -> str:
    """copytext.clean_body(body), remembered: a page shows every written email's body, and nh3
    costs about as much as the rest of the card, so a body is cleaned once while it stays the
    same (it is a pure function of the text)."""
    return copytext.clean_body(body)


# After an unconfirmed tag in the menu (copytext.MERGE_FIELDS says which).
NOT_CONFIRMED = ' <span class="muted">(not confirmed by Close)</span>'


@functools.cache
def merge_menu_items() -> str:
    """The <li> items of every card's Insert merge field menu, from copytext.MERGE_FIELDS: the
    same for every card, so made once rather than by the template for each card."""
    return format_html_join(
        "\n",
        '<li role="menuitem" tabindex="-1" data-tag="{}">{} <code>{}</code>{}</li>',
        (
            (
                field.tag,
                field.label,
                field.tag,
                "" if field.confirmed else mark_safe(NOT_CONFIRMED),  # noqa: S308 - a constant
            )
            for field in copytext.MERGE_FIELDS
        ),
    )


def describe_start(seconds):
    """ "starts on day 4", or "starts on day 1, 3 hours in" (editor.js says it the same way)."""
    days, rest = divmod(seconds, 86400)
    text = f"starts on day {days + 1}"
    if rest:
        text += f", {spec.describe_delay(rest)} in"
    return text


# --- The cards of a sequence ------------------------------------------------------------------


def step_cards(
    *,
    sequence: Sequence,
    problems: list,
    url_patterns: dict,
    form: StepFieldsForm | None = None,
    picker: Picker | None = None,
) -> tuple[list[Card], list[dict]]:
    """A card for each step, and the problems for the summary with where each is shown (the
    cards get theirs); the same number of queries for any number of steps."""
    steps = sequence.ordered_steps()
    template_ids = {step.email_template_id or step.sms_template_id for step in steps} - {""}
    templates = (
        {t.close_id: t for t in CloseTemplate.objects.filter(close_id__in=template_ids)}
        if template_ids
        else {}
    )
    comments = _open_comments(sequence)
    drifted = OwnedTemplate.objects.filter(sequence=sequence, drift_seen_at__isnull=False)
    numbers = {str(step.pk): index + 1 for index, step in enumerate(steps)}
    drift = {row.step_key: copy_publishing.for_display(row, numbers) for row in drifted}
    review_url = reverse("sequence_review", args=[sequence.pk])
    previews = {}
    cards, starts_at = [], 0
    first_email = next((i for i, s in enumerate(steps) if s.step_type == "email"), None)
    for index, step in enumerate(steps):
        starts_at += step.delay
        card = Card(
            step=step,
            index=index,
            count=len(steps),
            starts_at=starts_at,
            template=templates.get(step.email_template_id or step.sms_template_id),
            is_first_email=index == first_email,
            url_patterns=url_patterns,
            previews=previews,
        )
        card.drift = drift.get(str(step.pk))
        if step.pk in comments:
            card.open_comments = comments[step.pk]["count"]
            card.comments_url = f"{review_url}#comment-{comments[step.pk]['first']}"
        if form is not None and form.step.pk == step.pk:
            card.form = form
        if picker is not None and picker.step_id == step.pk:
            card.picker = picker
        cards.append(card)
    problem_items = [_problem_item(problem, cards, sequence) for problem in problems]
    return cards, problem_items


def _open_comments(sequence):
    """{step id: {"count", "first"}} of unresolved review threads, in one grouped query."""
    rows = (
        Comment.objects.filter(
            sequence=sequence, step__isnull=False, parent__isnull=True, resolved_at__isnull=True
        )
        .values("step")
        .annotate(count=Count("pk"), first=Min("pk"))
        .order_by()
    )
    return {row["step"]: row for row in rows}


def _problem_item(problem, cards, sequence):
    """A problem for the summary at the top, with where it is shown (and linked) on the page."""
    parts = problem.path.split(".")
    item = {"problem": problem, "href": "", "place": parts[0]}
    if parts[0] == "steps" and len(parts) > 1 and parts[1].isdigit() and int(parts[1]) < len(cards):
        card = cards[int(parts[1])]
        place = PROBLEM_PLACES.get(parts[2] if len(parts) > 2 else "", "step")
        if place == "template" and parts[2] != card.template_field:
            place = "step"  # a stray template of the other kind: about the step as a whole
        card.problems.setdefault(place, []).append(problem)
        anchor = {
            "delay": "days",
            "template": "template",
            "threading": "thread",
            "required": "required",
            "content": "content",
            "subject": "subject",
            "body": "body",
            "text": "text",
        }.get(place)
        item["href"] = f"#step-{card.pk}-{anchor}" if anchor else f"#step-{card.pk}"
    elif parts[0] == "name":
        item["href"] = "#sequence-name"
    elif parts[0] == "steps":
        item["href"] = "#add-steps"
    elif parts[0] in ("timezone", "schedule"):
        item["place"] = "schedule"
        item["href"] = schedule_url(sequence)
    return item


_STEP_URLS = {
    "update": "step_update",
    "move": "step_move",
    "duplicate": "step_duplicate",
    "remove": "step_remove",
    "templates": "step_templates",
    "copy_template": "step_copy_template",
}


def step_url_patterns(sequence: Sequence) -> dict:
    patterns = {
        name: reverse(url_name, args=[sequence.pk, int(URL_MARKER)])
        for name, url_name in _STEP_URLS.items()
    }
    patterns["add"] = reverse("step_add", args=[sequence.pk])
    return patterns


def schedule_url(sequence: Sequence) -> str:
    try:
        return reverse("sequence_schedule", args=[sequence.pk])
    except NoReverseMatch:  # the schedule page is another area's; link it once it exists
        return ""
