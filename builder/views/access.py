"""Access helpers used at the top of every view: load what the user may see, refuse the rest."""

from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404

from builder import permissions
from builder.models import Sequence


def get_sequence_for_user(request, sequence_id):
    """The team shares its sequences: any signed-in member may read any of them.

    What they may change depends on their roles (see `require_*` below and permissions.py).
    """
    queryset = Sequence.objects.select_related("updated_by", "created_by", "published_by")
    return get_object_or_404(queryset, pk=sequence_id)


def require_editor(request):
    if not permissions.can_edit(request.user):
        raise PermissionDenied(
            "Only Editors can change sequences. Ask an admin for the Editor role."
        )


def require_reviewer(request):
    if not permissions.can_review(request.user):
        raise PermissionDenied("Only Reviewers can approve or request changes.")


def require_publisher(request):
    if not permissions.can_publish(request.user):
        raise PermissionDenied("Only Publishers can publish to Close.")


def require_template_user(request):
    """Syncing asks Close for every template: for every role, since Editors pick templates,
    Reviewers read them in diffs and Publishers check them; not for a member who only looks."""
    if not permissions.roles_of(request.user):
        raise PermissionDenied(
            "Only team members with a role (Editor, Reviewer or Publisher) can sync templates. "
            "Ask an admin for a role."
        )
