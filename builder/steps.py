"""The kinds of step a sequence can have, each in one place: the registry every module asks.

A `StepKind` holds everything that differs between Close's step types — its label and words,
the `spec.Step` fields it owns, its template field, the values a new step starts with, its Close
JSON, its own checks, how it is described, whether the editor changes it and which card partial
shows it. spec.py, forms.py, diff.py, publishing.py, importing.py, models.py and the views read
`KINDS` / `kind_of()` instead of keeping their own tables, so a new kind is one entry here.

Steps Close has that we do not model (e.g. "task") get `UNKNOWN`: read-only, kept by id.

Pure Python like spec.py, and importable by it: nothing here imports spec at module level.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

# Fields Close sets on stored steps; they must never be sent back on create.
READ_ONLY_CLOSE_FIELDS = frozenset(
    {"id", "created_by_id", "updated_by_id", "date_created", "date_updated", "organization_id"}
)

# How the fields of a step are named to people (diffs, Close's field errors on the publish page).
FIELD_LABELS = {
    "step_type": "Type",
    "delay": "Wait",
    "email_template_id": "Email template",
    "sms_template_id": "SMS template",
    "threading": "Threading",
    "required": "Required",
    "content_source": "Content",
    "subject": "Subject",
    "body": "Body",
    "text": "Message",
}

# Where a step's words live (spec.Step.content_source).
TEMPLATE, WRITTEN = "template", "written"
CONTENT_SOURCES = (TEMPLATE, WRITTEN)
# Step fields that are ours alone: Close's step JSON never carries them (the copy goes to Close
# as a template, whose id the step sends).
COPY_ONLY_FIELDS = frozenset({"content_source", "subject", "body", "text"})

THREADING_WORDS = {
    "new_thread": "starts a new thread",
    "old_thread": "replies in the previous thread",
}


@dataclass(frozen=True)
class OwnedField:
    """A `spec.Step` field that belongs to one kind of step."""

    name: str
    # "an email template": what a step of another kind "cannot have" (spec's unexpected-field
    # check); empty for fields every step carries anyway (`required` defaults to True on all).
    words: str = ""
    unexpected_code: str = ""


@dataclass(frozen=True)
class StepPlace:
    """Where a check runs, handed to a kind's own checks by spec.validate.

    `error(field, code, message)` builds spec's Problem, so this module needs no spec import.
    """

    label: str  # "Step 2"
    path: str  # "steps.1"
    is_first_email: bool
    error: Callable[[str, str, str], object]
    warning: Callable[[str, str, str], object]


@dataclass(frozen=True)
class StepDescription:
    """What a step says about itself; `line()` and `sentence()` are its two renderings."""

    label: str  # "Email"
    template: str = ""  # "“Intro”", or "" when the kind has no template
    details: tuple[str, ...] = ()  # ("starts a new thread",)

    def line(self, *, wait: str = "") -> str:
        """ "Email · wait 1 day · “Intro” · starts a new thread" (diffs, the review page)."""
        parts = [self.label, wait, self.template, *self.details]
        return " · ".join(part for part in parts if part)

    def sentence(self) -> str:
        """ "Email “Intro”, starts a new thread"; "Call (required)" (the publish summary)."""
        head = f"{self.label} {self.template}" if self.template else self.label
        if not self.details:
            return head
        details = ", ".join(self.details)
        # After a template name a detail follows a comma; alone it reads as a parenthesis.
        return f"{head}, {details}" if self.template else f"{head} ({details})"


@dataclass(frozen=True)
class StepKind:
    key: str  # Close's step_type: "email"
    label: str  # "Email": card titles, diffs, summaries
    noun: str  # "email": inside sentences ("choose email, call or SMS")
    words: str  # "an email": "Step 2 is an email step"
    owns: tuple[OwnedField, ...] = ()
    template_field: str | None = None  # the spec.Step field holding its Close template id
    new_step_values: Mapping = field(default_factory=dict)  # what "Add step" starts with
    # Values every step of this kind has, whatever it stores (call steps are always required):
    # the payload sends them and the editor's save writes them.
    fixed_values: Mapping = field(default_factory=dict)
    # Kind-specific checks by field: field name -> check(step, place) -> [Problem]; spec runs
    # them in field order with the generic ones.
    field_checks: Mapping[str, Callable] = field(default_factory=dict)
    # A payload of its own (step -> dict); None builds step_type, delay and the owned fields.
    payload_builder: Callable | None = None
    # Description details after the template: step -> tuple of words.
    detail_words: Callable | None = None
    editable: bool = True
    card_partial: str = ""  # "builder/steps/_email_card.html"
    # The spec.Step fields holding words written in the step ("subject", "body"), in the order
    # the card shows them; empty for kinds without copy (a call).
    copy_fields: tuple[str, ...] = ()
    # About how tall its whole card is, in rem (a written email with a short body): the editor
    # renders whole the cards that fit its first screen, and a card further down stands in at
    # this height until it arrives (editor.css's .step.is-pending heights say the same).
    card_height: int = 18

    @property
    def add_label(self) -> str:
        """The editor's button text: "Add email step"."""
        return f"Add {self.noun} step"

    @property
    def insert_label(self) -> str:
        return f"Insert {self.noun} step"

    @property
    def owned_names(self) -> tuple[str, ...]:
        return tuple(owned.name for owned in self.owns)

    def label_for(self, step_type: str | None) -> str:
        return self.label

    def payload(self, step) -> dict:
        """The step as Close's JSON (POST /sequence/ and PUT without the id)."""
        if self.payload_builder is not None:
            return self.payload_builder(step)
        payload = {"step_type": self.key, "delay": step.delay}
        for name in self.sent_names:
            payload[name] = getattr(step, name)
        payload.update(self.fixed_values)
        return payload

    @property
    def sent_names(self) -> tuple[str, ...]:
        """The owned fields Close's step JSON has: not the copy (it travels in the template)."""
        return tuple(name for name in self.owned_names if name not in COPY_ONLY_FIELDS)

    def describe(self, step, template_name: Callable[[str], str]) -> StepDescription:
        """What the step is, in words; `template_name(id)` names a template as the caller can."""
        template_id = getattr(step, self.template_field) if self.template_field else None
        details = self.detail_words(step) if self.detail_words else ()
        if is_written(step):
            template = f"written here: {copy_headline(step)}"
        else:
            template = template_name(template_id) if template_id else ""
        return StepDescription(
            label=self.label_for(step.step_type),
            template=template,
            details=tuple(details),
        )


@dataclass(frozen=True)
class UnknownKind(StepKind):
    """A step type we do not model: Close keeps it as it is, the editor shows it read-only."""

    def label_for(self, step_type: str | None) -> str:
        return f"Close “{step_type}” step" if step_type else "No type"

    def payload(self, step) -> dict:
        if step.step_type and step.extra:
            # Imported from Close: send back what Close gave us, minus what Close sets itself.
            return {k: v for k, v in step.extra.items() if k not in READ_ONLY_CLOSE_FIELDS}
        # Untyped (or unknown and local): validation blocks it; send what was filled in.
        payload = {"step_type": step.step_type, "delay": step.delay}
        for name in owned_field_names(kind_specific=True):
            if name not in COPY_ONLY_FIELDS:
                payload[name] = getattr(step, name)
        return {key: value for key, value in payload.items() if value is not None}


def _check_threading(step, place: StepPlace) -> list:
    path = f"{place.path}.threading"
    if not step.threading and place.is_first_email:
        return []  # nothing to choose: the first email starts the thread (apply_threading_rule)
    if not step.threading:
        return [
            place.error(
                path,
                "threading_required",
                f"{place.label} needs a threading choice: a new thread or a reply in the same "
                "thread.",
            )
        ]
    if step.threading not in THREADING_WORDS:
        return [
            place.error(
                path,
                "threading_invalid",
                f"{place.label} has an unknown threading choice; pick a new thread or a reply.",
            )
        ]
    # "old_thread" on the first email is no problem: it is the person's choice, kept for when
    # the step moves after another email; the payload sends new_thread (apply_threading_rule).
    return []


def is_written(step) -> bool:
    """Whether the step's words are written in the step (not a picked shared template)."""
    kind = kind_of(step.step_type)
    return bool(kind.copy_fields) and getattr(step, "content_source", TEMPLATE) == WRITTEN


def copy_headline(step, length: int = 50) -> str:
    """ "“Quick question”": a written step named by its subject (email) or first words (SMS)."""
    from builder import copytext  # noqa: PLC0415 - copytext imports nh3; keep this module light

    kind = kind_of(step.step_type)
    first = kind.copy_fields[0] if kind.copy_fields else None
    words = " ".join(str(getattr(step, first) or "").split()) if first else ""
    if first == "body":
        words = " ".join(copytext.body_text(words).split())
    if not words:
        return "(no subject)" if first == "subject" else "(empty)"
    return f"“{words if len(words) <= length else words[: length - 1] + '…'}”"


def _copy_place(place: StepPlace, name: str, code: str, message: str, *, blocking=True):
    build = place.error if blocking else place.warning
    return build(f"{place.path}.{name}", code, message)


def _tag_checks(step, place: StepPlace, name: str, what: str) -> list:
    from builder import copytext  # noqa: PLC0415

    return [
        _copy_place(
            place,
            name,
            problem.code,
            f"{place.label}'s {what} has {problem.message}.",
            blocking=problem.blocking,
        )
        for problem in copytext.tag_problems(getattr(step, name))
    ]


def _check_subject(step, place: StepPlace) -> list:
    if not is_written(step):
        return []
    starts_thread = place.is_first_email or step.threading != "old_thread"
    if not (step.subject or "").strip() and starts_thread:
        return [
            _copy_place(
                place,
                "subject",
                "copy_subject_required",
                f"{place.label} starts a new thread, so it needs a subject.",
            )
        ]
    return _tag_checks(step, place, "subject", "subject")


def _check_body(step, place: StepPlace) -> list:
    from builder import copytext  # noqa: PLC0415

    if not is_written(step):
        return []
    if copytext.is_blank_body(step.body):
        return [
            _copy_place(
                place, "body", "copy_body_required", f"{place.label} needs a body: write the email."
            )
        ]
    return _tag_checks(step, place, "body", "body")


def _check_text(step, place: StepPlace) -> list:
    from builder import copytext  # noqa: PLC0415

    if not is_written(step):
        return []
    text = step.text or ""
    if not text.strip():
        return [
            _copy_place(
                place,
                "text",
                "copy_text_required",
                f"{place.label} needs a message: write the SMS.",
            )
        ]
    if len(text) > copytext.MAX_SMS_LENGTH:
        return [
            _copy_place(
                place,
                "text",
                "copy_text_too_long",
                f"{place.label}'s message is {len(text)} characters long; Close takes at most "
                f"{copytext.MAX_SMS_LENGTH}.",
            )
        ]
    return _tag_checks(step, place, "text", "message")


def _check_content_source(step, place: StepPlace) -> list:
    if getattr(step, "content_source", TEMPLATE) in CONTENT_SOURCES:
        return []
    return [
        _copy_place(
            place,
            "content_source",
            "content_source_invalid",
            f"{place.label} has an unknown content choice: write it here or use a shared template.",
        )
    ]


def _email_details(step) -> tuple[str, ...]:
    return (THREADING_WORDS[step.threading],) if step.threading in THREADING_WORDS else ()


EMAIL = StepKind(
    key="email",
    label="Email",
    noun="email",
    words="an email",
    owns=(
        OwnedField("email_template_id", "an email template", "unexpected_email_template"),
        OwnedField("threading", "email threading", "unexpected_threading"),
        OwnedField("content_source"),
        OwnedField("subject", "an email subject", "unexpected_subject"),
        OwnedField("body", "an email body", "unexpected_body"),
    ),
    template_field="email_template_id",
    copy_fields=("subject", "body"),
    # A new email replies in the thread unless it is the first email (the rule forces that), and
    # is written here: the words are part of the draft unless someone picks a shared template.
    new_step_values={"threading": "old_thread", "content_source": WRITTEN},
    field_checks={
        "threading": _check_threading,
        "content_source": _check_content_source,
        "subject": _check_subject,
        "body": _check_body,
    },
    detail_words=_email_details,
    card_partial="builder/steps/_email_card.html",
    card_height=36,
)
CALL = StepKind(
    key="call",
    label="Call",
    noun="call",
    words="a call",
    # `required` is no problem on any step: every step stores one (default True); only a call
    # sends it, and always True (spec.require_calls), whatever an old revision stored.
    owns=(OwnedField("required"),),
    new_step_values={"required": True},
    fixed_values={"required": True},
    detail_words=lambda step: ("required",) if step.required else (),
    card_partial="builder/steps/_call_card.html",
    card_height=17,
)
SMS = StepKind(
    key="sms",
    label="SMS",
    noun="SMS",
    words="an SMS",
    owns=(
        OwnedField("sms_template_id", "an SMS template", "unexpected_sms_template"),
        OwnedField("content_source"),
        OwnedField("text", "an SMS message", "unexpected_text"),
    ),
    template_field="sms_template_id",
    copy_fields=("text",),
    new_step_values={"content_source": WRITTEN},
    field_checks={"content_source": _check_content_source, "text": _check_text},
    card_partial="builder/steps/_sms_card.html",
    card_height=26,
)
UNKNOWN = UnknownKind(
    key="",
    label="Close step",
    noun="Close",
    words="a Close",  # "… is a Close step"
    editable=False,
    detail_words=lambda step: ("kept as it is in Close",),
    card_partial="builder/steps/_kept_card.html",
)

# In the order the editor offers them.
KINDS: list[StepKind] = [EMAIL, CALL, SMS]


def kind_of(step_type: str | None) -> StepKind:
    """The registered kind for `step_type`, or UNKNOWN for anything else (None included)."""
    return next((kind for kind in KINDS if kind.key == step_type), UNKNOWN)


def is_known(step_type: str | None) -> bool:
    return kind_of(step_type) is not UNKNOWN


def keys() -> tuple[str, ...]:
    return tuple(kind.key for kind in KINDS)


def template_kinds() -> list[StepKind]:
    """The kinds that send a Close template (the template cache's kinds)."""
    return [kind for kind in KINDS if kind.template_field]


def template_ids(step) -> list:
    """Every template field's value on `step`: its kind's, and any left behind by a type switch."""
    return [getattr(step, kind.template_field) for kind in template_kinds()]


def owned_field_names(*, kind_specific: bool = False) -> tuple[str, ...]:
    """The fields the registered kinds own, each once, in registry order; `kind_specific`
    leaves out those every step carries anyway (`required`)."""
    return tuple(
        dict.fromkeys(
            owned.name
            for kind in KINDS
            for owned in kind.owns
            if owned.unexpected_code or not kind_specific
        )
    )


def type_label(step_type: str | None) -> str:
    """ "Email", or "Close “task” step" for a kind we keep, or "No type"."""
    return kind_of(step_type).label_for(step_type)


def words_for(step_type: str | None) -> str:
    """ "an email" ... for sentences such as "Step 2 is an email step"; "this" when unknown."""
    kind = kind_of(step_type)
    return kind.words if kind.editable else "this"


def choice_words(*, article: bool = True) -> str:
    """ "an email, call or SMS" (or without the article): the kinds to choose from."""
    nouns = [kind.noun for kind in KINDS]
    phrase = nouns[0] if len(nouns) == 1 else f"{', '.join(nouns[:-1])} or {nouns[-1]}"
    if not article:
        return phrase
    return KINDS[0].words.removesuffix(KINDS[0].noun) + phrase  # "an " + ...


def describe(step, template_name: Callable[[str], str]) -> StepDescription:
    """The one description of a step, by its kind; see StepDescription for its renderings."""
    return kind_of(step.step_type).describe(step, template_name)


@contextlib.contextmanager
def registered(kind: StepKind) -> Iterator[StepKind]:
    """Add `kind` to the registry for the `with` block (tests; a kind is normally one entry)."""
    if is_known(kind.key):
        raise ValueError(f"a step kind {kind.key!r} is registered already")
    KINDS.append(kind)
    try:
        yield kind
    finally:
        KINDS.remove(kind)
