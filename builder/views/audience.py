"""The Audience tab: check the copy against a Smart View's contacts (a background read the page
follows), the results, and "Preview as" a contact.

Who may do what (builder/audience.can_check): anyone with a role (Editor, Reviewer or
Publisher) starts and cancels checks and previews as a contact, since each of those reads
contacts from Close with the team's key; a member without a role sees the stored results only.
"""

from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRefresh

from builder import audience, close
from builder.models import AudienceCheck
from builder.views.access import get_sequence_for_user
from builder.views.review import sequence_header

# The bar chart (server-rendered SVG): label column, bar column, row height, in SVG units.
CHART_LABEL_WIDTH = 230
CHART_BAR_WIDTH = 240
CHART_ROW = 24


@require_http_methods(["GET", "POST"])
def sequence_audience(request, sequence_id):
    """The tab (GET), or "Check audience" (POST: start a check, then show it)."""
    sequence = get_sequence_for_user(request, sequence_id)
    if request.method == "GET":
        return _render(request, sequence, check=_chosen_check(request, sequence))
    _require_checker(request)
    smart_view_id = request.POST.get("smart_view", "").strip()
    try:
        limit = audience.parse_limit(request.POST.get("limit"))
        check = audience.start_check(
            sequence=sequence, user=request.user, smart_view_id=smart_view_id, limit=limit
        )
    except audience.NotAllowed as refusal:
        raise PermissionDenied(str(refusal)) from refusal
    except audience.AudienceRefused as refusal:
        return _render(
            request,
            sequence,
            check=audience.latest_check(sequence=sequence),
            error=str(refusal),
            chosen_view=smart_view_id,
            chosen_limit=request.POST.get("limit", ""),
            status=422,
        )
    return redirect(f"{reverse('sequence_audience', args=[sequence.pk])}?check={check.pk}")


@require_GET
def audience_check(request, sequence_id, check_id):
    """The polled fragment: progress while the read runs. Once it has ended, htmx reloads the
    whole page, so the results and "Preview as" show together."""
    sequence = get_sequence_for_user(request, sequence_id)
    check = get_object_or_404(AudienceCheck, pk=check_id, sequence=sequence)
    if not request.htmx:
        return redirect(f"{reverse('sequence_audience', args=[sequence.pk])}?check={check.pk}")
    if not audience.is_running(check):
        return HttpResponseClientRefresh()
    context = {"sequence": sequence, **_check_context(request, sequence, check)}
    return render(request, "builder/sequence_audience.html#audience-check", context)


@require_POST
def audience_check_cancel(request, sequence_id, check_id):
    sequence = get_sequence_for_user(request, sequence_id)
    check = get_object_or_404(AudienceCheck, pk=check_id, sequence=sequence)
    _require_checker(request)
    audience.cancel_check(check=check, user=request.user)
    if request.htmx:
        check.refresh_from_db()
        context = {"sequence": sequence, **_check_context(request, sequence, check)}
        return render(request, "builder/sequence_audience.html#audience-check", context)
    return redirect(f"{reverse('sequence_audience', args=[sequence.pk])}?check={check.pk}")


@require_GET
def audience_preview(request, sequence_id, check_id):
    """ "Preview as": `q` searches the check's Smart View in Close; `contact` renders every
    email and SMS step for that contact. Nothing read here is stored."""
    sequence = get_sequence_for_user(request, sequence_id)
    check = get_object_or_404(AudienceCheck, pk=check_id, sequence=sequence)
    _require_checker(request)
    query = request.GET.get("q", "").strip()[:200]
    contact_id = request.GET.get("contact", "").strip()
    preview = {"query": query}
    status = 200
    with audience.request_client() as client:
        try:
            if contact_id:
                shown, steps = audience.preview(
                    sequence=sequence, contact_id=contact_id, client=client
                )
                preview |= {"contact": shown, "steps": steps}
            elif query:
                preview["results"] = audience.search_contacts(
                    check=check, text=query, client=client
                )
        except close.CloseNotFound:
            preview["error"] = "Close could not find that contact. Search again."
            status = 422
        except (close.CloseError, ValueError) as error:
            preview["error"] = f"Could not read from Close: {getattr(error, 'message', error)}"
            status = 422 if isinstance(error, ValueError) else 200
    if request.htmx:
        target = "preview-results" if request.htmx.target == "preview-results" else "preview"
        context = {"sequence": sequence, "check": check, "preview": preview, "can_check": True}
        return render(request, f"builder/sequence_audience.html#{target}", context, status=status)
    return _render(request, sequence, check=check, preview=preview, status=status)


def _require_checker(request):
    if not audience.can_check(request.user):
        raise PermissionDenied(
            "Only team members with a role (Editor, Reviewer or Publisher) can read contacts "
            "from Close. Ask an admin for a role."
        )


def _chosen_check(request, sequence):
    wanted = request.GET.get("check", "")
    if wanted.isdigit():
        return get_object_or_404(AudienceCheck, pk=int(wanted), sequence=sequence)
    return audience.latest_check(sequence=sequence)


def _smart_views(request):
    """(Close's Smart Views of contacts and leads, an error message) for the picker."""
    if not audience.can_check(request.user):
        return [], ""
    try:
        with audience.request_client() as client:
            views = client.list_smart_views()
    except close.CloseError as error:
        return [], f"Could not list the Smart Views from Close: {error.message}"
    return [view for view in views or [] if isinstance(view, dict) and view.get("id")], ""


def _check_context(request, sequence, check):
    return {
        "check": check,
        "running": audience.is_running(check),
        "current": check is not None and check.revision_number == sequence.version,
        "chart": chart(check),
        "can_check": audience.can_check(request.user),
    }


def chart(check):
    """The rows of the results' bar chart: each merge field's empty count, then the contacts
    without an email address or a phone number, as SVG coordinates."""
    if check is None or not check.summary:
        return None
    summary = check.summary
    read = summary.get("read") or 0
    rows = [(f"Empty {row['tag']}", row["empty"]) for row in summary.get("fields", [])]
    if summary.get("no_email", {}).get("steps"):
        rows.append(("No email address", summary["no_email"]["count"]))
    if summary.get("no_phone", {}).get("steps"):
        rows.append(("No phone number", summary["no_phone"]["count"]))
    if not rows:
        return None
    bars = []
    for index, (label, count) in enumerate(rows):
        width = round(CHART_BAR_WIDTH * count / read) if read else 0
        bars.append(
            {
                "label": label,
                "count": count,
                "y": index * CHART_ROW,
                "text_y": index * CHART_ROW + CHART_ROW - 8,
                "width": width,
                "count_x": CHART_LABEL_WIDTH + width + 6,
                "high": read and count * 4 >= read,  # a quarter or more of the audience
            }
        )
    return {
        "bars": bars,
        "bar_x": CHART_LABEL_WIDTH,
        "track_width": CHART_BAR_WIDTH,
        "bar_height": CHART_ROW - 8,
        "width": CHART_LABEL_WIDTH + CHART_BAR_WIDTH + 60,
        "height": len(rows) * CHART_ROW,
        "read": read,
    }


def _render(
    request, sequence, *, check, error="", preview=None, chosen_view="", chosen_limit="", status=200
):
    views, views_error = _smart_views(request)
    context = {
        "sequence": sequence,
        **_check_context(request, sequence, check),
        **sequence_header(request, sequence, active_tab="audience"),
        "smart_views": views,
        "smart_views_error": views_error,
        "chosen_view": chosen_view or (check.smart_view_id if check else ""),
        "chosen_limit": chosen_limit or (check.limit if check else audience.DEFAULT_LIMIT),
        "max_limit": audience.MAX_LIMIT,
        "preview": preview or {},
        "error": error,
    }
    return render(request, "builder/sequence_audience.html", context, status=status)
