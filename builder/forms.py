"""Forms for the plain (no-JavaScript) editor: field checks here, sequence rules in spec.py."""

import zoneinfo
from functools import cache

from django import forms
from django.core.exceptions import ValidationError

from builder import spec
from builder.models import CloseTemplate, ScheduleRange, Sequence, Step


@cache
def timezone_names():
    return sorted(zoneinfo.available_timezones())


def validate_timezone(value):
    if value not in timezone_names():
        raise ValidationError(
            f"“{value}” is not a timezone Close knows. Use a name like America/New_York."
        )


class SequenceForm(forms.ModelForm):
    # The version the editor loaded; saving is refused if someone saved after it.
    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)

    class Meta:
        model = Sequence
        fields = ["name", "timezone", "has_schedule"]
        labels = {"has_schedule": "Send only during the hours below"}
        widgets = {"timezone": forms.TextInput(attrs={"list": "timezone-names"})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["version"].initial = self.instance.version
        self.fields["timezone"].validators.append(validate_timezone)
        self.fields["name"].widget.attrs["autocomplete"] = "off"


class NewSequenceForm(forms.ModelForm):
    class Meta:
        model = Sequence
        fields = ["name", "timezone"]
        widgets = {"timezone": forms.TextInput(attrs={"list": "timezone-names"})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["timezone"].validators.append(validate_timezone)


def template_choices(templates, kind):
    """(id, label) choices for one kind, from templates already loaded for the whole page."""
    return [("", "— Choose a template —")] + [
        (template.close_id, template.name) for template in templates if template.kind == kind
    ]


class StepForm(forms.ModelForm):
    days = forms.IntegerField(label="Days", min_value=0, max_value=365, initial=0)
    hours = forms.IntegerField(label="Hours", min_value=0, max_value=365 * 24, initial=0)
    minutes = forms.IntegerField(label="Minutes", min_value=0, max_value=365 * 24 * 60, initial=0)
    reply_in_thread = forms.BooleanField(label="Reply in previous thread", required=False)
    email_template_id = forms.ChoiceField(label="Email template", required=False)
    sms_template_id = forms.ChoiceField(label="SMS template", required=False)

    class Meta:
        model = Step
        fields = ["step_type", "email_template_id", "sms_template_id", "required"]
        labels = {"step_type": "Type", "required": "Required"}

    def __init__(self, *args, templates=(), **kwargs):
        super().__init__(*args, **kwargs)
        days, hours, minutes = spec.split_delay(self.instance.delay or 0)
        self.fields["days"].initial = days
        self.fields["hours"].initial = hours
        self.fields["minutes"].initial = minutes
        self.fields["reply_in_thread"].initial = self.instance.threading == "old_thread"
        self.fields["email_template_id"].choices = self._with_current(
            template_choices(templates, "email"), self.instance.email_template_id
        )
        self.fields["sms_template_id"].choices = self._with_current(
            template_choices(templates, "sms"), self.instance.sms_template_id
        )

    @staticmethod
    def _with_current(choices, current):
        # Keep a template that is no longer usable selectable, so the user sees what is set;
        # the spec's validation says why it blocks publishing.
        if current and current not in {value for value, _ in choices}:
            choices = choices + [(current, f"{current} (not available in Close)")]
        return choices

    def clean(self):
        cleaned = super().clean()
        parts = [cleaned.get(name) for name in ("days", "hours", "minutes")]
        if None not in parts:
            delay = spec.join_delay(*parts)
            if delay > spec.MAX_DELAY_SECONDS:
                raise ValidationError("A delay can be at most 365 days.")
            cleaned["delay"] = delay
        return cleaned

    def save(self, commit=True):
        step = super().save(commit=False)
        step.delay = self.cleaned_data["delay"]
        step_type = step.step_type
        # Only the fields that belong to the step's type are kept, so switching type leaves
        # no stale template behind.
        step.email_template_id = step.email_template_id if step_type == "email" else ""
        step.sms_template_id = step.sms_template_id if step_type == "sms" else ""
        step.threading = (
            ("old_thread" if self.cleaned_data.get("reply_in_thread") else "new_thread")
            if step_type == "email"
            else ""
        )
        if step_type != "call":
            step.required = True
        if commit:
            step.save()
        return step


class BaseStepFormSet(forms.BaseInlineFormSet):
    def __init__(self, *args, templates=(), **kwargs):
        self.templates = templates
        super().__init__(*args, **kwargs)

    def get_form_kwargs(self, index):
        return {**super().get_form_kwargs(index), "templates": self.templates}


StepFormSet = forms.inlineformset_factory(
    Sequence,
    Step,
    form=StepForm,
    formset=BaseStepFormSet,
    extra=0,
    can_delete=True,
    max_num=200,
    validate_max=True,
    absolute_max=200,
)


class ScheduleRangeForm(forms.ModelForm):
    class Meta:
        model = ScheduleRange
        fields = ["weekday", "start", "end"]
        labels = {"weekday": "Day", "start": "From", "end": "Until (inclusive)"}
        widgets = {
            "start": forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
            "end": forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
        }

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("start"), cleaned.get("end")
        if start and end and start >= end:
            raise ValidationError("The start must be before the end.")
        return cleaned


ScheduleRangeFormSet = forms.inlineformset_factory(
    Sequence,
    ScheduleRange,
    form=ScheduleRangeForm,
    extra=1,
    can_delete=True,
    max_num=100,
    validate_max=True,
    absolute_max=100,
)


def usable_templates():
    """Every shared, live template for the pickers, loaded once per page."""
    return list(
        CloseTemplate.objects.filter(is_shared=True, is_archived=False, present_in_close=True)
        .only("close_id", "name", "kind")
        .order_by("name")
    )
