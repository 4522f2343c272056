"""Function views: each reads top to bottom — load with access check, validate, change, respond."""

from django.conf import settings
from django.contrib import messages
from django.db.models import Count
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST

from builder import close, spec, template_sync
from builder.forms import (
    NewSequenceForm,
    ScheduleRangeFormSet,
    SequenceForm,
    StepFormSet,
    timezone_names,
    usable_templates,
)
from builder.models import CloseTemplate, EditConflict, Sequence, Step
from builder.views.access import get_sequence_for_user, require_editor

NEW_STEP_DEFAULTS = {
    "email": {"threading": "old_thread"},
    "call": {"required": True},
    "sms": {},
}


def sequence_list(request):
    sequences = Sequence.objects.annotate(step_count=Count("steps")).select_related("updated_by")
    template_count = CloseTemplate.objects.filter(present_in_close=True).count()
    return render(
        request,
        "builder/sequence_list.html",
        {"sequences": sequences, "template_count": template_count},
    )


@require_http_methods(["GET", "POST"])
def sequence_new(request):
    require_editor(request)
    form = NewSequenceForm(request.POST or None)
    if request.method == "POST":
        if form.is_valid():
            sequence = Sequence.create_draft(
                name=form.cleaned_data["name"],
                timezone_name=form.cleaned_data["timezone"],
                user=request.user,
            )
            messages.success(request, "Sequence created. Add its steps below.")
            return redirect("sequence_edit", sequence_id=sequence.pk)
        return _render_new(request, form, status=400)
    return _render_new(request, form)


def _render_new(request, form, status=200):
    return render(
        request,
        "builder/sequence_new.html",
        {"form": form, "timezone_names": timezone_names()},
        status=status,
    )


@require_http_methods(["GET", "POST"])
def sequence_edit(request, sequence_id):
    sequence = get_sequence_for_user(request, sequence_id)
    templates = usable_templates()
    data = request.POST if request.method == "POST" else None
    form = SequenceForm(data, instance=sequence)
    steps = StepFormSet(
        data,
        instance=sequence,
        prefix="steps",
        templates=templates,
        queryset=sequence.steps.order_by("position", "pk"),
    )
    ranges = ScheduleRangeFormSet(data, instance=sequence, prefix="ranges")
    if request.method == "GET":
        return _render_edit(request, sequence, form, steps, ranges)
    require_editor(request)

    if not (form.is_valid() and steps.is_valid() and ranges.is_valid()):
        messages.error(request, "Nothing was saved: fix the fields marked below.")
        return _render_edit(request, sequence, form, steps, ranges, status=400)
    try:
        _save_edit(request, sequence, form, steps, ranges)
    except EditConflict as conflict:
        messages.error(request, str(conflict))
        return _render_edit(request, sequence, form, steps, ranges, status=409, conflict=True)
    except ValueError as error:  # an add/move action naming a step that is not there
        messages.error(request, str(error))
        return _render_edit(request, sequence, form, steps, ranges, status=400)
    messages.success(request, "Saved.")
    return redirect("sequence_edit", sequence_id=sequence.pk)


def _save_edit(request, sequence, form, steps, ranges):
    """Save the whole form in one transaction, then apply the button that submitted it."""
    loaded_version = form.cleaned_data["version"]
    with sequence.editing(user=request.user, loaded_version=loaded_version, summary="Edited"):
        form.save()
        ranges.save()
        kept = [
            step_form.save(commit=False)
            for step_form in steps.forms
            if step_form not in steps.deleted_forms
        ]
        for step_form in steps.deleted_forms:
            if step_form.instance.pk:
                step_form.instance.delete()
        kept = _apply_step_action(request.POST, kept, sequence)
        _renumber_and_thread(kept)
        for step in kept:
            step.save()


def _apply_step_action(post, steps, sequence):
    if post.get("add_step") in NEW_STEP_DEFAULTS:
        step_type = post["add_step"]
        steps.append(Step(sequence=sequence, step_type=step_type, **NEW_STEP_DEFAULTS[step_type]))
    for direction, offset in (("move_up", -1), ("move_down", 1)):
        if direction not in post:
            continue
        try:
            index = int(post[direction])
        except ValueError:
            raise ValueError("That step does not exist any more. Reload the page.") from None
        target = index + offset
        if not (0 <= index < len(steps) and 0 <= target < len(steps)):
            raise ValueError("That step cannot move further.")
        steps[index], steps[target] = steps[target], steps[index]
    return steps


def _renumber_and_thread(steps):
    threaded = spec.apply_threading_rule([step.to_spec() for step in steps])
    for position, (step, step_spec) in enumerate(zip(steps, threaded, strict=True)):
        step.position = position
        if step.step_type == "email":
            step.threading = step_spec.threading or "new_thread"


def _render_edit(request, sequence, form, steps, ranges, status=200, conflict=False):
    problems = sequence.problems()
    step_problems = {}
    other_problems = []
    for problem in problems:
        parts = problem.path.split(".")
        if parts[0] == "steps" and len(parts) > 1 and parts[1].isdigit():
            step_problems.setdefault(int(parts[1]), []).append(problem)
        else:
            other_problems.append(problem)
    step_rows = [
        {"form": step_form, "number": index + 1, "problems": step_problems.get(index, [])}
        for index, step_form in enumerate(steps.forms)
    ]
    context = {
        "sequence": sequence,
        "form": form,
        "steps": steps,
        "step_rows": step_rows,
        "ranges": ranges,
        "problems": problems,
        "other_problems": other_problems,
        "blocking_count": len(spec.blocking(problems)),
        "schedule_text": spec.describe_schedule(sequence.to_spec().schedule),
        "timezone_names": timezone_names(),
        "attempts": sequence.publish_attempts.select_related("user")[:10],
        "conflict": conflict,
    }
    return render(request, "builder/sequence_edit.html", context, status=status)


@require_POST
def templates_sync(request):
    try:
        client = close.client_from_settings(max_wait=settings.CLOSE_MAX_WAIT_IN_REQUEST)
        result = template_sync.sync_templates(client=client)
    except close.CloseError as error:
        messages.error(request, f"Templates were not synced: {error.message}")
    else:
        messages.success(request, result.message)
    next_url = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(
        next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        next_url = "sequence_list"
    return redirect(next_url)
