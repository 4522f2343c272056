"""`{{ moment|when }}`: the one way pages show a time — in the viewer's timezone (activated by
builder/middleware.py from the browser's zone), with the zone named, in a <time> element whose
title gives the exact moment.

    {{ revision.created_at|when }}        7 Dec 2026, 09:14 JST
    {{ comment.created_at|when:"ago" }}   3 minutes ago   (the exact time on hover)
    {{ attempt.started_at|when:"time" }}  09:14:05 JST    (the date on hover)
"""

from django import template
from django.utils import timezone
from django.utils.html import format_html
from django.utils.timesince import timesince

register = template.Library()

STYLES = ("", "ago", "time")


def exact(moment, *, seconds=False):
    """ "7 Dec 2026, 09:14 JST" in the active (viewer's) timezone."""
    local = timezone.localtime(moment)
    clock = "%H:%M:%S" if seconds else "%H:%M"
    return f"{local.day} {local:%b %Y}, {local.strftime(clock)} {local:%Z}"


@register.filter(is_safe=True)
def when(moment, style=""):
    if not moment:
        return ""
    if style not in STYLES:
        raise template.TemplateSyntaxError(f"when: style must be one of {STYLES}, not {style!r}")
    local = timezone.localtime(moment).replace(microsecond=0)
    full = exact(moment, seconds=True)
    if style == "ago":
        # timesince says "0 minutes" for the last minute; people say "just now".
        passed = timezone.now() - moment
        text = "just now" if passed.total_seconds() < 60 else f"{timesince(moment)} ago"
    elif style == "time":
        text = f"{local:%H:%M:%S %Z}"
    else:
        text = exact(moment)
    return format_html('<time datetime="{}" title="{}">{}</time>', local.isoformat(), full, text)
