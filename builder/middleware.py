"""Request-wide behaviour: the app's own 404 page with DEBUG on, and the viewer's timezone."""

from urllib.parse import unquote
from zoneinfo import ZoneInfo

from django.conf import settings
from django.http import Http404
from django.urls import Resolver404, resolve
from django.utils import timezone
from django.views.defaults import page_not_found

from builder import schedule


class AppNotFoundMiddleware:
    """Answer "not found" with templates/404.html with DEBUG on too, for everyone.

    Production already does (handler404); with DEBUG on (`make run`, the demo) Django shows its
    technical page instead, which lists every URL pattern of the project and reads like a crash
    to someone trying the app. Always, not only for non-staff: the demo's users are often staff,
    and a developer learns as much from the address and urls.py. Other errors (500s) keep the
    technical page: that one is for developers.

    Place it last in MIDDLEWARE, so the page gets the user, messages and CSP nonce like any
    other, and CommonMiddleware still turns a 404 for "/path" into a redirect to "/path/".
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if settings.DEBUG:
            # An address no URL pattern matches fails before any view or process_exception
            # runs; find out first, the way the handler is about to.
            try:
                resolve(request.path_info, getattr(request, "urlconf", None))
            except Resolver404 as missing:
                return page_not_found(request, missing)
        return self.get_response(request)

    def process_exception(self, request, exception):
        if settings.DEBUG and isinstance(exception, Http404):
            return page_not_found(request, exception)
        return None


VIEWER_TZ_COOKIE = "viewer_tz"  # set by static/js/viewer-tz.js on every page


class ViewerTimezoneMiddleware:
    """Show times in the viewer's timezone: the browser's, which viewer-tz.js keeps in the
    `viewer_tz` cookie (a year; it follows the person's browser, so a laptop that travels shows
    the new zone from the next page on). Without the cookie (the very first page, or scripts
    off) times stay in UTC; the `when` filter names the zone either way, so none is ambiguous.

    Activation is per request and undone after it: background publish threads, emails and the
    stored data stay in UTC.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        # The scripts write the name URL-encoded ("Asia%2FTokyo"); Django hands cookies over raw.
        name = unquote(request.COOKIES.get(VIEWER_TZ_COOKIE, ""))[:100]
        if name and schedule.is_timezone(name):
            timezone.activate(ZoneInfo(name))
        else:
            timezone.deactivate()
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
