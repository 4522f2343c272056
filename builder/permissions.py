"""Team roles. Every rule is checked on the server (views and services); templates only mirror it.

Roles are Django auth groups created by a data migration and assigned in Django admin;
superusers hold every role.
"""

EDITOR = "Editor"
REVIEWER = "Reviewer"
PUBLISHER = "Publisher"
ROLES = (EDITOR, REVIEWER, PUBLISHER)


def roles_of(user):
    """The user's role names, cached on the user object for the rest of the request."""
    if not user.is_authenticated or not user.is_active:
        return frozenset()
    if user.is_superuser:
        return frozenset(ROLES)
    if not hasattr(user, "_sequence_builder_roles"):
        user._sequence_builder_roles = frozenset(
            user.groups.filter(name__in=ROLES).values_list("name", flat=True)
        )
    return user._sequence_builder_roles


def can_edit(user):
    return EDITOR in roles_of(user)


def can_review(user):
    return REVIEWER in roles_of(user)


def can_publish(user):
    return PUBLISHER in roles_of(user)
