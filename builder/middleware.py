"""Request-wide behaviour: the app's own 404 page with DEBUG on, and the viewer's timezone."""

from django.conf import settings
from django.http import Http404
from django.urls import Resolver404, resolve
from django.views.defaults import page_not_found


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
