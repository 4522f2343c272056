from django.conf import settings
from django.utils.functional import SimpleLazyObject

from builder import permissions


def close_mode(request):
    """Tell every page whether it talks to the local Close sandbox (demo mode) or to Close."""
    return {"close_demo_mode": settings.CLOSE_DEMO_MODE}


class _May:
    """What the signed-in person's roles let them do, for templates to show only those buttons.

    The server checks every action itself (permissions.py, review.py); this only mirrors it.
    """

    def __init__(self, user):
        self.edit = permissions.can_edit(user)
        self.review = permissions.can_review(user)
        self.publish = permissions.can_publish(user)
        # Comments and the template cache are open to any role; someone with none only looks.
        self.any_role = bool(permissions.roles_of(user))


def roles(request):
    """`may.edit`, `may.review`, `may.publish`, `may.any_role` on every page (one query, and
    only on pages that ask)."""
    return {"may": SimpleLazyObject(lambda: _May(request.user))}
