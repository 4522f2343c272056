"""The review buttons in every sequence page's header (templates/builder/_sequence_header.html)."""

from django import template

from builder import permissions

register = template.Library()

# The role each state button needs. Someone without it gets no button, only the sentence saying
# who can (a button they can never use is noise); a button the person's role allows but the
# state refuses (approving one's own change, blocking problems) stays, disabled, with the reason.
ROLE_OF_ACTION = {
    "submit": permissions.can_edit,
    "approve": permissions.can_review,
    "request_changes": permissions.can_review,
    "publish": permissions.can_publish,
}


@register.inclusion_tag("builder/_review_actions.html", takes_context=True)
def review_actions(context, sequence):
    """The state buttons the user's roles allow, enabled or disabled with the reason the server
    would give; for the others, only who may use them.

    This only presents: the view works the actions out once (builder.views.review.
    sequence_header) and passes `review_actions` with the page's `active_tab`.
    """
    request = context["request"]
    actions = context.get("review_actions")
    if actions is None:
        raise template.TemplateSyntaxError(
            "review_actions needs `review_actions` in the context: pass "
            "builder.views.review.sequence_header(...) from the view."
        )
    if context.get("active_tab") == "publish":
        # The publish page has the real button (and its own reasons); no link to itself.
        actions = [action for action in actions if action.name != "publish"]
    # Two buttons refused for the same reason ("Only Reviewers can ...") share one sentence.
    reasons = []
    buttons = []
    for action in actions:
        if not ROLE_OF_ACTION[action.name](request.user):
            if action.reason and action.reason not in reasons:
                reasons.append(action.reason)
            continue
        reason_id = ""
        if not action.enabled:
            if action.reason not in reasons:
                reasons.append(action.reason)
            reason_id = f"review-why-{reasons.index(action.reason) + 1}"
        buttons.append({"action": action, "reason_id": reason_id})
    return {
        "sequence": sequence,
        "buttons": buttons,
        "reasons": [(f"review-why-{n}", text) for n, text in enumerate(reasons, start=1)],
        "csrf_token": context.get("csrf_token"),
        "request": request,
    }
