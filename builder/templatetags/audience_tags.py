"""`{% last_audience_check sequence as check %}`: the publish page's audience headline reads the
last check of the current revision itself, so the publish view needs no change for it."""

from django import template

from builder import audience

register = template.Library()


@register.simple_tag
def last_audience_check(sequence):
    """The latest audience check of `sequence`'s current revision, or None."""
    return audience.latest_check(sequence=sequence, revision_number=sequence.version)
