"""Review pages: the review screen, history, one revision, comments, and the inbox filters.

Every action goes through builder/review.py, which enforces the rules; a refusal comes back as
the page it was made from, with the reason and the refusal's status (403 for a rule, 400 for
missing input), and nothing changed.
"""

from dataclasses import dataclass, field

from django.contrib import messages
from django.core.paginator import InvalidPage, Paginator
from django.db.models import Prefetch
from django.http import QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_POST

from builder import copytext, diff, permissions, review, spec, steps
from builder.models import CloseTemplate, Comment, EditConflict, Revision, StateChange
from builder.views.access import get_sequence_for_user

STATE_LOG_ON_REVIEW = 20
STATE_LOG_ON_HISTORY = 200
REVISIONS_PER_PAGE = 50
HEADLINES_PER_REVISION = 4


# The tabs of templates/builder/_sequence_header.html, by the `active_tab` each page passes.
SEQUENCE_TABS = ("steps", "schedule", "review", "history", "audience", "publish")


def sequence_header(request, sequence, *, active_tab, actions=None):
    """The context templates/builder/_sequence_header.html needs: the page's tab, and the review
    buttons worked out once for this request (the template tag only presents them). A page that
    has already computed them (with the problems it read anyway) passes `actions`."""
    if active_tab not in SEQUENCE_TABS:
        raise ValueError(f"No sequence tab called {active_tab!r}.")
    if actions is None:
        actions = review.available_actions(sequence=sequence, user=request.user)
    return {"active_tab": active_tab, "review_actions": actions}


# --- Review -----------------------------------------------------------------------------------


def sequence_review(request, sequence_id):
    sequence = get_sequence_for_user(request, sequence_id)
    return _render_review(request, sequence)


@require_POST
def sequence_submit(request, sequence_id):
    sequence = get_sequence_for_user(request, sequence_id)
    try:
        change = review.submit_for_review(sequence=sequence, user=request.user)
    except review.ReviewRefused as refusal:
        return _refused(request, sequence, refusal)
    messages.success(
        request, f"Revision {change.revision.number} is in review. Reviewers have been emailed."
    )
    return redirect("sequence_review", sequence_id=sequence.pk)


@require_POST
def sequence_approve(request, sequence_id):
    sequence = get_sequence_for_user(request, sequence_id)
    try:
        revision_number = _posted_int(request.POST, "revision")
        change = review.approve(
            sequence=sequence, user=request.user, revision_number=revision_number
        )
    except review.ReviewRefused as refusal:
        return _refused(request, sequence, refusal)
    messages.success(
        request, f"Approved revision {change.revision.number}. A Publisher can publish it now."
    )
    return redirect("sequence_review", sequence_id=sequence.pk)


@require_POST
def sequence_request_changes(request, sequence_id):
    sequence = get_sequence_for_user(request, sequence_id)
    comment = request.POST.get("comment", "")
    try:
        review.request_changes(sequence=sequence, user=request.user, comment=comment)
    except review.ReviewRefused as refusal:
        return _refused(request, sequence, refusal, draft_request=comment)
    messages.success(request, "Changes requested. The author has been emailed.")
    return redirect("sequence_review", sequence_id=sequence.pk)


def _refused(request, sequence, refusal, **context):
    messages.error(request, refusal.message)
    return _render_review(request, sequence, status=refusal.status, **context)


def _posted_int(post, name):
    try:
        return int(post.get(name, ""))
    except ValueError:
        raise review.InvalidInput("The form is out of date. Reload the page.") from None


def _render_review(request, sequence, *, status=200, draft_request="", comment_error=None):
    live = sequence.to_spec()
    problems = spec.validate(live, CloseTemplate.lookup_for(live))
    base = review.review_base(sequence)
    base_number = base.number if base else 0
    compare_with = base or sequence.revisions.order_by("number").first()
    fixed_from = review.changes_requested_revision(sequence, base_number)
    compare_spec = compare_with.to_spec() if compare_with else None
    fixed_spec = fixed_from.to_spec() if fixed_from else None
    templates = template_texts(diff.template_ids(live, compare_spec, fixed_spec))
    actions = review.available_actions(
        sequence=sequence, user=request.user, problems=problems, base_number=base_number
    )
    state_log = list(
        StateChange.objects.filter(sequence=sequence)
        .select_related("user", "revision")
        .defer("revision__snapshot", "revision__step_digests")[: STATE_LOG_ON_REVIEW + 1]
    )
    context = {
        "sequence": sequence,
        **sequence_header(request, sequence, active_tab="review", actions=actions),
        "can_request_changes": any(a.name == "request_changes" and a.enabled for a in actions),
        "blocking": spec.blocking(problems),
        "current": review.current_revision(sequence),
        "compare_with": compare_with,
        "compare_reason": _compare_reason(sequence, base, compare_with),
        "changes": diff.diff_specs(compare_spec, live, templates),
        "fixed_from": fixed_from,
        "fix_changes": diff.diff_specs(fixed_spec, live, templates) if fixed_spec else None,
        "state_log": state_log[:STATE_LOG_ON_REVIEW],
        "state_log_more": len(state_log) > STATE_LOG_ON_REVIEW,
        "draft_request": draft_request,
        # Each written step's words as they read now: what a reviewer selects to quote.
        "step_copies": [item for item in step_copies(live, templates) if item.written],
        **_comments_context(request, sequence, live, templates, comment_error),
    }
    return render(request, "builder/sequence_review.html", context, status=status)


def _compare_reason(sequence, base, compare_with):
    if compare_with is None:
        return "no earlier revision"
    if base is None:
        return "when it was created"
    if sequence.published_revision_id == base.pk:
        return "the published revision"
    return "the last approved revision"


def template_texts(ids):
    """id -> diff.TemplateText from the template cache, in one query."""
    if not ids:
        return {}
    return {
        template.close_id: diff.TemplateText(
            id=template.close_id,
            name=template.name,
            subject=template.subject,
            body=template.body,
            kind=template.kind,
        )
        for template in CloseTemplate.objects.filter(close_id__in=ids).only(
            "close_id", "name", "subject", "body", "kind"
        )
    }


# --- A step's copy, as it reads -----------------------------------------------------------------


@dataclass(frozen=True)
class CopyField:
    name: str  # "subject" | "body" | "text"
    label: str  # "Subject"
    text: str = ""  # a subject's or SMS's words (escaped by the template)
    html: str = ""  # a body: the stored HTML cleaned again, so safe to show as HTML
    empty_words: str = "(empty)"  # what an empty field reads as

    @property
    def is_empty(self) -> bool:
        return not (self.html or self.text.strip())


@dataclass(frozen=True)
class StepCopy:
    key: str  # the step row's id (spec.Step.key), "" for a step without one
    number: int
    label: str  # "Step 2 · Email"
    description: str  # diff.describe_step: "Email · wait 1 day · written here: “Hi”"
    written: bool
    fields: tuple[CopyField, ...] = ()


def step_copies(sequence_spec, templates):
    """Every step of `sequence_spec`, with the copy of those written here.

    A body is run through copytext.clean_body again before it is marked safe: it was cleaned
    when it was saved, but an old revision may predate today's rules, and what a page shows as
    HTML must never rest on what was stored.
    """
    result = []
    first_email = spec.first_email_index(sequence_spec.steps)
    for number, step in enumerate(sequence_spec.steps, start=1):
        written = steps.is_written(step)
        replies = step.threading == "old_thread" and number - 1 != first_email
        fields = []
        for name in steps.kind_of(step.step_type).copy_fields if written else ():
            value = getattr(step, name) or ""
            label = steps.FIELD_LABELS.get(name, name.capitalize())
            if name == "body":
                cleaned = copytext.clean_body(value)
                blank = copytext.is_blank_body(cleaned)
                # Safe: nh3 has just cleaned it to the body's tag subset (the docstring's why).
                html = "" if blank else mark_safe(cleaned)  # noqa: S308
                fields.append(CopyField(name, label, html=html))
            elif name == "subject" and replies:
                # Close sends a reply in the thread under the thread's own subject.
                words = "(none of its own: it replies in the previous email's thread)"
                fields.append(CopyField(name, label, text=value, empty_words=words))
            else:
                fields.append(CopyField(name, label, text=value))
        result.append(
            StepCopy(
                key=step.key or "",
                number=number,
                label=review.step_label(number, step.step_type),
                description=diff.describe_step(step, templates),
                written=written,
                fields=tuple(fields),
            )
        )
    return result


# --- Comments ---------------------------------------------------------------------------------


@dataclass
class CommentError:
    """Where a refused comment form was (a reply's thread id, or "new") and what it said."""

    form: str
    message: str
    text: str = ""
    step: str = ""
    quote: str = ""
    quote_field: str = ""

    @property
    def quote_label(self) -> str:
        """ "body": the copy field the quote is from, as the form names it."""
        return steps.FIELD_LABELS.get(self.quote_field, self.quote_field).lower()


@require_POST
def comment_add(request, sequence_id):
    sequence = get_sequence_for_user(request, sequence_id)
    parent = request.POST.get("parent", "")
    try:
        review.add_comment(
            sequence=sequence,
            user=request.user,
            body=request.POST.get("body", ""),
            step_id=request.POST.get("step", ""),
            parent_id=parent,
            quote=request.POST.get("quote", ""),
            quote_field=request.POST.get("quote_field", ""),
        )
    except review.ReviewRefused as refusal:
        error = CommentError(
            form=parent or "new",
            message=refusal.message,
            text=request.POST.get("body", ""),
            step=request.POST.get("step", ""),
        )
        if not parent:  # only the new-comment form quotes (and shows a quote back)
            error.quote = request.POST.get("quote", "")[: review.MAX_QUOTE_LENGTH * 2]
            error.quote_field = request.POST.get("quote_field", "")[:20]
        return _comment_refused(request, sequence, refusal, error)
    return _comments_changed(request, sequence, "Reply added." if parent else "Comment added.")


@require_POST
def comment_resolve(request, sequence_id, comment_id):
    sequence = get_sequence_for_user(request, sequence_id)
    try:
        review.resolve_comment(sequence=sequence, user=request.user, comment_id=comment_id)
    except review.ReviewRefused as refusal:
        error = CommentError(form=str(comment_id), message=refusal.message)
        return _comment_refused(request, sequence, refusal, error)
    return _comments_changed(request, sequence, "Comment resolved.")


def _comments_changed(request, sequence, message):
    if request.htmx:
        return _render_comments(request, sequence, notice=message)
    messages.success(request, message)
    return redirect(reverse("sequence_review", args=[sequence.pk]) + "#comments")


def _comment_refused(request, sequence, refusal, error):
    if request.htmx and isinstance(refusal, review.InvalidInput):
        # The app's one refusal convention (base.html's htmx-config): htmx swaps a 422 like a
        # 200, so the fragment with the message next to the form replaces the comments.
        return _render_comments(request, sequence, comment_error=error, status=422)
    return _render_review(request, sequence, status=refusal.status, comment_error=error)


def _render_comments(request, sequence, *, comment_error=None, notice="", status=200):
    live = sequence.to_spec()
    context = {
        "sequence": sequence,
        "comment_notice": notice,
        **_comments_context(request, sequence, live, None, comment_error),
    }
    return render(request, "builder/sequence_review.html#comments", context, status=status)


def _comments_context(request, sequence, live, templates, comment_error):
    replies = Prefetch(
        "replies", queryset=Comment.objects.select_related("author").order_by("created_at", "pk")
    )
    threads = list(
        Comment.objects.filter(sequence=sequence, parent__isnull=True)
        .select_related("author", "resolved_by")
        .prefetch_related(replies)
        .order_by("created_at", "pk")
    )
    if (
        comment_error
        and comment_error.form != "new"
        and not any(str(thread.pk) == comment_error.form for thread in threads)
    ):
        comment_error.form = "new"  # the thread is gone: show the message at the new form
    numbers = {step.key: number for number, step in enumerate(live.steps, start=1)}
    for thread in threads:
        thread.now = _step_now(thread, numbers)
    step_choices = [
        (step.key, review.step_label(number, step.step_type))
        for number, step in enumerate(live.steps, start=1)
        if step.key
    ]
    return {
        "open_threads": [thread for thread in threads if not thread.resolved_at],
        "resolved_threads": [thread for thread in threads if thread.resolved_at],
        "step_choices": step_choices,
        "can_comment": bool(permissions.roles_of(request.user)),
        "comment_error": comment_error,
    }


def _step_now(thread, numbers):
    """Where the commented step is now, when that differs from its label."""
    if not thread.step_label:
        return ""
    if thread.step_id is None:
        return "step removed since"
    number = numbers.get(str(thread.step_id))
    if number is not None and not thread.step_label.startswith(f"Step {number} "):
        return f"now step {number}"
    return ""


# --- History and revisions --------------------------------------------------------------------


def sequence_history(request, sequence_id):
    sequence = get_sequence_for_user(request, sequence_id)
    paginator = Paginator(
        Revision.objects.filter(sequence=sequence).select_related("created_by").order_by("-number"),
        REVISIONS_PER_PAGE,
    )
    try:
        page = paginator.page(request.GET.get("page", "1"))
    except InvalidPage:
        messages.error(request, "There is no such page of revisions.")
        return render(
            request,
            "builder/sequence_history.html",
            {
                "sequence": sequence,
                **sequence_header(request, sequence, active_tab="history"),
                "rows": [],
                "page": None,
            },
            status=400,
        )
    revisions = list(page.object_list)
    previous = None
    if revisions:
        previous = (
            Revision.objects.filter(sequence=sequence, number__lt=revisions[-1].number)
            .order_by("-number")
            .first()
        )
    Revision.load_steps([*revisions, previous])  # their steps in one query
    specs = [revision.to_spec() for revision in revisions]
    specs.append(previous.to_spec() if previous else None)
    templates = template_texts(diff.template_ids(*specs))
    moves = {}
    for change in StateChange.objects.filter(revision__in=revisions).values_list(
        "revision_id", "to_status"
    ):
        moves.setdefault(change[0], set()).add(change[1])
    rows = []
    for index, revision in enumerate(revisions):
        if specs[index + 1] is None:
            headlines = [_first_revision_headline(specs[index])]
        else:
            # One line per change: which copy fields changed is enough ("Step 2: subject
            # changed"); the words are compared on the revision's own page.
            headlines = diff.diff_specs(
                specs[index + 1], specs[index], templates, copy_words=False
            ).headlines()
        rows.append(
            {
                "revision": revision,
                "headlines": headlines[:HEADLINES_PER_REVISION],
                "more": max(0, len(headlines) - HEADLINES_PER_REVISION),
                "is_current": revision.number == sequence.version,
                "is_published": revision.pk == sequence.published_revision_id,
                "moves": moves.get(revision.pk, set()),
            }
        )
    state_log = list(
        StateChange.objects.filter(sequence=sequence)
        .select_related("user", "revision")
        .defer("revision__snapshot", "revision__step_digests")[: STATE_LOG_ON_HISTORY + 1]
    )
    context = {
        "sequence": sequence,
        **sequence_header(request, sequence, active_tab="history"),
        "rows": rows,
        "page": page,
        "state_log": state_log[:STATE_LOG_ON_HISTORY],
        "state_log_more": len(state_log) > STATE_LOG_ON_HISTORY,
    }
    return render(request, "builder/sequence_history.html", context)


def _first_revision_headline(first):
    count = len(first.steps)
    return (
        f"First recorded revision: {count} step{'' if count == 1 else 's'}, "
        f"{spec.describe_schedule(first.schedule)}"
    )


def sequence_revision(request, sequence_id, number):
    sequence = get_sequence_for_user(request, sequence_id)
    revision = get_object_or_404(
        Revision.objects.select_related("created_by"), sequence=sequence, number=number
    )
    return _render_revision(request, sequence, revision)


@require_POST
def sequence_revision_restore(request, sequence_id, number):
    sequence = get_sequence_for_user(request, sequence_id)
    revision = get_object_or_404(
        Revision.objects.select_related("created_by"), sequence=sequence, number=number
    )
    was = sequence.get_status_display().lower()
    try:
        loaded_version = _posted_int(request.POST, "version")
        restored = review.restore_revision(
            sequence=sequence,
            user=request.user,
            revision_number=revision.number,
            loaded_version=loaded_version,
        )
    except review.ReviewRefused as refusal:
        messages.error(request, refusal.message)
        return _render_revision(request, sequence, revision, status=refusal.status)
    except EditConflict as conflict:
        messages.error(request, str(conflict))
        sequence.refresh_from_db()
        return _render_revision(request, sequence, revision, status=409)
    message = f"Restored revision {revision.number} as the new revision {restored.number}."
    if sequence.status == sequence.Status.DRAFT and was != "draft":
        message += f" It was {was}, so it is back to draft and needs a new review."
    messages.success(request, message)
    return redirect("sequence_history", sequence_id=sequence.pk)


def _render_revision(request, sequence, revision, *, status=200):
    shown = revision.to_spec()
    live = sequence.to_spec()
    templates = template_texts(diff.template_ids(shown, live))
    is_current = revision.number == sequence.version
    try:
        if not permissions.can_edit(request.user):
            raise review.NotAllowed("Only Editors can restore a revision.")
        if is_current:
            raise review.WrongState("This is the current version: there is nothing to restore.")
        restore_reason = ""
    except review.ReviewRefused as refusal:
        restore_reason = refusal.message
    context = {
        "sequence": sequence,
        # A revision is a page of the history.
        **sequence_header(request, sequence, active_tab="history"),
        "revision": revision,
        "shown": shown,
        "steps": step_copies(shown, templates),
        "schedule_text": spec.describe_schedule(shown.schedule),
        "is_current": is_current,
        "restore_changes": diff.diff_specs(live, shown, templates),
        "restore_reason": restore_reason,
    }
    return render(request, "builder/sequence_revision.html", context, status=status)


# --- Inbox (filters on the sequence list) -----------------------------------------------------

INBOX_FILTERS = {
    "waiting-for-my-review": (
        "Waiting for my review",
        review.waiting_for_review,
        "Nothing is waiting for your review.",
    ),
    "changes-requested-on-mine": (
        "Changes requested on mine",
        review.changes_requested_on_mine,
        "No reviewer has asked for changes on your sequences.",
    ),
    "approved-not-published": (
        "Approved, not published",
        review.approved_not_published,
        "No approved sequence is waiting to be published.",
    ),
}


@dataclass
class Inbox:
    sequences: object
    current: str = ""
    error: str = ""
    status: int = 200
    empty_message: str = ""
    filters: list = field(default_factory=list)


def inbox(request, sequences):
    """Apply the `?inbox=` filter of the sequence list; an unknown filter is a 400 with the
    choices, not a silently unfiltered list that looks like an empty inbox."""
    wanted = request.GET.get("inbox", "")
    result = Inbox(sequences=sequences, current=wanted)
    for key, (label, apply, _) in INBOX_FILTERS.items():
        query = QueryDict(mutable=True)
        query["inbox"] = key
        result.filters.append(
            {
                "key": key,
                "label": label,
                "url": f"{reverse('sequence_list')}?{query.urlencode()}",
                "count": apply(sequences, request.user).count(),
            }
        )
    if not wanted:
        return result
    if wanted not in INBOX_FILTERS:
        names = ", ".join(f"“{label}”" for label, _, _ in INBOX_FILTERS.values())
        shown = wanted[:40]
        result.error = f"“{shown}” is not a list filter. Choose one of {names}, or all sequences."
        result.status = 400
        result.current = ""
        result.sequences = sequences.none()
        return result
    _, apply, empty = INBOX_FILTERS[wanted]
    result.sequences = apply(sequences, request.user)
    result.empty_message = empty
    return result
