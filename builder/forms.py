"""Forms: field checks here (types, ranges, what a request may carry); sequence rules in spec.py."""

import zoneinfo
from functools import cache

from django import forms
from django.core.exceptions import ValidationError

from builder import copytext, spec
from builder import steps as step_kinds
from builder.models import CloseTemplate, Sequence


@cache
def timezone_names():
    return sorted(zoneinfo.available_timezones())


def validate_timezone(value):
    """Any name spec.canonical_timezone understands ("PST", "pacific", "europe/paris")."""
    if spec.canonical_timezone(value) is None:
        suggestions = spec.suggest_timezones(value)
        hint = f"Did you mean “{suggestions[0]}”?" if suggestions else "Use a name like"
        raise ValidationError(
            f"“{value}” is not a timezone Close knows. "
            + (hint if suggestions else f"{hint} America/New_York.")
        )


class NewSequenceForm(forms.ModelForm):
    class Meta:
        model = Sequence
        fields = ["name", "timezone"]
        widgets = {"timezone": forms.TextInput(attrs={"list": "timezone-names"})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["timezone"].validators.append(validate_timezone)

    def clean_timezone(self):
        # Stored as the canonical IANA name, whatever alias was typed.
        return spec.canonical_timezone(self.cleaned_data["timezone"])


def _delay_part(label, max_value):
    return forms.IntegerField(
        label=label,
        required=False,  # an empty box means 0
        min_value=0,
        max_value=max_value,
        error_messages={
            "invalid": f"{label}: enter a whole number, such as 3.",
            "min_value": f"{label} cannot be negative.",
            "max_value": "A wait can be at most 365 days.",
        },
    )


class StepFieldsForm(forms.Form):
    """One step card's fields, as the card posts them on every autosave.

    The card always sends its three delay boxes (an empty box is 0; a missing one is refused, so
    a partial post cannot reset a delay) and its checkboxes (unchecked boxes are absent, as in
    any HTML form). A template id comes only from the picker's "use this template" buttons;
    without one the step keeps its template.
    """

    days = _delay_part("Days", 365)
    hours = _delay_part("Hours", 365 * 24)
    minutes = _delay_part("Minutes", 365 * 24 * 60)
    reply_in_thread = forms.BooleanField(label="Reply in previous thread", required=False)
    email_template_id = forms.CharField(required=False, max_length=80)
    sms_template_id = forms.CharField(required=False, max_length=80)
    # The copy (only a card that shows it posts it; a field that is not posted is kept).
    content_source = forms.ChoiceField(
        required=False,
        choices=[(source, source) for source in step_kinds.CONTENT_SOURCES],
        error_messages={"invalid_choice": "Choose “Write it here” or “Use a shared template”."},
    )
    subject = forms.CharField(
        label="Subject",
        required=False,
        strip=False,
        max_length=500,
        error_messages={"max_length": "Keep the subject to %(limit_value)d characters."},
    )
    body = forms.CharField(
        label="Body",
        required=False,
        strip=False,
        max_length=copytext.MAX_BODY_LENGTH,
        error_messages={"max_length": "The body is too long: keep it under 100,000 characters."},
    )
    text = forms.CharField(
        label="Message",
        required=False,
        strip=False,
        max_length=5 * copytext.MAX_SMS_LENGTH,
        error_messages={"max_length": "The message is far too long for an SMS."},
    )

    def __init__(self, data, *, step, thread_locked=False):
        super().__init__(data)
        self.step = step
        # The first email's "Reply in previous thread" box is locked and posts nothing.
        self.thread_locked = thread_locked

    def clean(self):
        cleaned = super().clean()
        missing = [name for name in ("days", "hours", "minutes") if name not in self.data]
        if missing:
            raise ValidationError("The wait (days, hours, minutes) was not sent: reload the page.")
        parts = [cleaned.get(name) for name in ("days", "hours", "minutes")]
        if not any(name in self.errors for name in ("days", "hours", "minutes")):
            delay = spec.edited_delay(*(part or 0 for part in parts), previous=self.step.delay)
            if delay > spec.MAX_DELAY_SECONDS:
                self.add_error("days", "A wait can be at most 365 days.")
            else:
                cleaned["delay"] = delay
        for kind in step_kinds.template_kinds():
            self._clean_template(cleaned, kind)
        if cleaned.get("subject") is not None:
            # One line: a pasted line break in a subject would reach Close as a header break.
            cleaned["subject"] = " ".join(cleaned["subject"].splitlines())
        if cleaned.get("body") is not None:
            cleaned["body"] = copytext.clean_body(cleaned["body"])
        if cleaned.get("text") is not None:
            cleaned["text"] = cleaned["text"].replace("\r\n", "\n")
        return cleaned

    def _clean_template(self, cleaned, kind):
        field = kind.template_field
        chosen = cleaned.get(field)
        current = getattr(self.step, field)
        if not chosen or chosen == current:
            cleaned[field] = current
            return
        if self.step.step_type != kind.key:
            words = step_kinds.words_for(self.step.step_type)
            self.add_error(field, f"This is {words} step: it cannot use {kind.words} template.")
        elif not CloseTemplate.usable_choices(kind.key).filter(close_id=chosen).exists():
            self.add_error(
                field,
                "That template is not available: it is not shared, is archived or no longer "
                "exists in Close. Pick another one.",
            )

    def apply(self):
        """Copy the cleaned fields that belong to the step's type onto the step (not saved)."""
        step, cleaned = self.step, self.cleaned_data
        kind = step_kinds.kind_of(step.step_type)
        step.delay = cleaned["delay"]
        if kind.template_field:
            setattr(step, kind.template_field, cleaned[kind.template_field])
        if "threading" in kind.owned_names and not self.thread_locked:
            step.threading = "old_thread" if cleaned["reply_in_thread"] else "new_thread"
        for name, value in kind.fixed_values.items():
            setattr(step, name, value)  # a call is always required (spec.require_calls)
        if "content_source" in kind.owned_names and cleaned.get("content_source"):
            step.content_source = cleaned["content_source"]
        for name in kind.copy_fields:
            if name in self.data:
                setattr(step, name, cleaned[name] or "")
        return step


class RenameForm(forms.Form):
    name = forms.CharField(
        label="Name",
        max_length=spec.MAX_NAME_LENGTH,
        error_messages={
            "required": "Give the sequence a name.",
            "max_length": f"Keep the name to {spec.MAX_NAME_LENGTH} characters.",
        },
    )


def _addable_kinds():
    return [(kind.key, kind.key) for kind in step_kinds.KINDS if kind.editable]


class AddStepForm(forms.Form):
    # A callable, so the choices are the registry's when the form is used, not when imported.
    step_type = forms.ChoiceField(choices=_addable_kinds)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        message = f"Choose {step_kinds.choice_words()} step."
        self.fields["step_type"].error_messages.update(required=message, invalid_choice=message)

    # Insert before the step at this index; empty = add at the end.
    position = forms.IntegerField(
        required=False,
        min_value=0,
        error_messages={
            "invalid": "That place in the list is not valid: reload the page.",
            "min_value": "That place in the list is not valid: reload the page.",
        },
    )


class MoveStepForm(forms.Form):
    direction = forms.ChoiceField(
        choices=[("up", "up"), ("down", "down")],
        error_messages={
            "required": "Move a step up or down.",
            "invalid_choice": "Move a step up or down.",
        },
    )
