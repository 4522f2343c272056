"""Function views: each reads top to bottom — load with access check, validate, change, respond.

The sequence list, new sequence and template sync; the step editor is in editor.py.
"""

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Count
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST

from builder import close, template_sync
from builder.forms import NewSequenceForm, timezone_names
from builder.models import CloseTemplate, Sequence
from builder.views import review as review_views
from builder.views.access import require_editor, require_template_user

SEQUENCES_PER_PAGE = 50


def sequence_list(request):
    sequences = (
        Sequence.objects.annotate(step_count=Count("steps"))
        .select_related("updated_by")
        .order_by("-updated_at", "-pk")  # an aggregate query ignores Meta.ordering
    )
    search = request.GET.get("q", "").strip()[:200]
    if search:
        sequences = sequences.filter(name__icontains=search)
    searched = sequences
    in_close = _in_close_filter(request, sequences)
    sequences = in_close["sequences"]
    # The review inbox filters (?inbox=...): builder/views/review.py.
    inbox = review_views.inbox(request, sequences)
    if in_close["error"]:
        # Shown where the inbox shows its own bad filter, with the same 400 and empty list.
        inbox.error = inbox.error or in_close["error"]
        inbox.status = 400
        inbox.sequences = sequences.none()
    # A team's list grows to hundreds: one page at a time keeps it fast to load and to scan.
    # get_page() turns a page number that is not one ("x", 999) into the nearest real page.
    page = Paginator(inbox.sequences, SEQUENCES_PER_PAGE).get_page(request.GET.get("page"))
    keep = request.GET.copy()
    keep.pop("page", None)
    template_count = CloseTemplate.objects.filter(present_in_close=True).count()
    empty_search = _empty_search(search, inbox, in_close, searched, page)
    return render(
        request,
        "builder/sequence_list.html",
        {
            "sequences": page.object_list,
            "page": page,
            "page_query": keep.urlencode(),
            "search": search,
            "template_count": template_count,
            "inbox": inbox,
            "in_close": in_close,
            "empty_search": empty_search,
        },
        status=inbox.status,
    )


def _in_close_filter(request, sequences):
    """`?in_close=1`: only sequences that exist in Close (published or imported), whatever
    their local state — a published sequence being edited is a Draft here and live there.

    It combines with the search and with an inbox filter; its link keeps both."""
    wanted = request.GET.get("in_close", "")
    keep = request.GET.copy()
    keep.pop("page", None)
    keep.pop("in_close", None)
    toggled = keep.copy()
    if wanted != "1":
        toggled["in_close"] = "1"
    linked = sequences.exclude(close_id="")
    result = {
        "on": wanted == "1",
        "count": linked.count(),
        "toggle_url": f"{reverse('sequence_list')}?{toggled.urlencode()}".rstrip("?"),
        "error": "",
        "sequences": linked if wanted == "1" else sequences,
    }
    if wanted not in ("", "1"):
        result["error"] = (
            f"“{wanted[:40]}” is not a value of the In Close filter: use in_close=1, or leave it "
            "out for all sequences."
        )
        result["sequences"] = sequences.none()
    return result


def _empty_search(search, inbox, in_close, searched, page):
    """Why a search found nothing: with a filter on, say which, and how many match without it.

    "No sequence name contains 'sales'" is untrue when two do, just not in this filter.
    """
    filters = [f["label"] for f in inbox.filters if f["key"] == inbox.current]
    if in_close["on"]:
        filters.append("In Close")
    if not search or page.object_list or not filters:
        return None
    return {"filter": " + ".join(filters), "elsewhere": searched.count()}


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


@require_POST
def templates_sync(request):
    require_template_user(request)
    try:
        with close.client_from_settings(max_wait=settings.CLOSE_MAX_WAIT_IN_REQUEST) as client:
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
