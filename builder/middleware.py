"""Request-wide rules that no single view should have to remember.

SessionTimeoutMiddleware: a session ends after SESSION_IDLE_TIMEOUT seconds without a request,
and SESSION_MAX_AGE seconds after log-in however busy (README, "Settings").
RefuseNulCharacters: text with a NUL character is refused before any view sees it.
AppNotFoundMiddleware: the app's own 404 page with DEBUG on too.
ViewerTimezoneMiddleware: times shown in the viewer's timezone.
"""

import re
from urllib.parse import unquote
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth import logout
from django.contrib.auth.signals import user_logged_in
from django.core.exceptions import BadRequest, SuspiciousOperation
from django.dispatch import receiver
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.urls import Resolver404, resolve
from django.utils import timezone
from django.utils.html import format_html
from django.views.defaults import page_not_found

from builder import schedule

LOGIN_AT = "builder_login_at"  # when this session logged in (epoch seconds)
SEEN_AT = "builder_seen_at"  # the session's last request, to within TOUCH_EVERY
# Writing the session on every request would cost a database write per autosave; writing it
# once a minute at most keeps the idle timeout exact to a minute.
TOUCH_EVERY = 60


def _now():
    """Epoch seconds, from Django's clock (tests that move time.time() for signed tokens or
    log-in throttling must not end the session they are using)."""
    return timezone.now().timestamp()


@receiver(user_logged_in)
def mark_logged_in(sender, request, user, **kwargs):
    """Every log-in (the form, admin, a test's force_login) starts the absolute maximum now;
    connected when the app is ready (builder/apps.py)."""
    if request is None or not hasattr(request, "session"):
        return
    now = _now()
    request.session[LOGIN_AT] = now
    request.session[SEEN_AT] = now


class SessionTimeoutMiddleware:
    """Sliding idle timeout plus an absolute maximum, both checked here on every request.

    The idle timeout slides because a request at most TOUCH_EVERY seconds after the last touch
    saves the session, which also renews its stored expiry and the cookie's (both
    SESSION_COOKIE_AGE = SESSION_IDLE_TIMEOUT): a session nobody uses is gone from the
    database and the browser too. The maximum is counted from log-in, which no activity renews.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.user.is_authenticated and self._expired(request.session, _now()):
            logout(request)  # LoginRequiredMiddleware then sends the browser to log in
        response = self.get_response(request)
        if request.user.is_authenticated:
            self._touch(request.session, _now())
        return response

    def _expired(self, session, now):
        seen_at = session.get(SEEN_AT)
        login_at = session.get(LOGIN_AT)
        idle = seen_at is not None and now - seen_at > settings.SESSION_IDLE_TIMEOUT
        too_old = login_at is not None and now - login_at > settings.SESSION_MAX_AGE
        return idle or too_old

    def _touch(self, session, now):
        if LOGIN_AT not in session:  # a session from before this policy: its clock starts now
            session[LOGIN_AT] = now
        if now - session.get(SEEN_AT, 0) >= TOUCH_EVERY:
            session[SEEN_AT] = now


# In a JSON file, NUL is written raw or as the escape \u0000; "\\u0000" (an escaped
# backslash, then "u0000") is ordinary text, so only an odd run of backslashes counts.
_JSON_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")
NUL_MESSAGE = (
    "{what} contains a NUL character (\\0), which cannot be stored or searched for. "
    "Remove it and try again. Nothing was saved."
)


class NulRefused(BadRequest):
    def __init__(self, what):
        super().__init__(NUL_MESSAGE.format(what=what))
        self.what = what


class RefuseNulCharacters:
    """No text with a NUL character reaches a view: PostgreSQL cannot store or compare it (a
    comment, a search or an imported name answered 500), and no person types one.

    One check for every view: the query string, form fields (names and values), uploaded file
    names and contents. A plain request gets 400 with the page saying why; an htmx request
    gets 422 (the app's "invalid input" refusal, see templates/base.html) with the message,
    put at the top of the page. Anonymous requests are left alone: the only page they reach,
    log-in, validates its own fields.

    The form is checked when it is parsed, not parsed here: parsing it first would take from
    a view the errors it answers in its own words (too many fields: the schedule), since
    Django does not parse a multipart form twice. So: a form parsed before the view (the CSRF
    check does) is refused in process_view, before the view runs; one the view parses itself
    raises NulRefused from request.POST, before the view can use a value, and
    process_exception answers it. A request for a page that does not exist, or without a
    log-in or a CSRF token, is refused for that first.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        parse = request._load_post_and_files

        def parse_and_check():
            parse()  # Django's own errors (too much data, too many fields) come out unchanged
            what = self._nul_in_form(request)
            if what is not None:
                request._builder_nul_in_form = what
                if getattr(request, "_builder_view_started", False):
                    raise NulRefused(what)

        request._load_post_and_files = parse_and_check
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        if not request.user.is_authenticated:
            return None
        try:
            what = self._nul_in_query(request)
        except (SuspiciousOperation, BadRequest):
            return None  # too many fields: the view meets the same error when it reads them
        what = what or getattr(request, "_builder_nul_in_form", None)
        if what is not None:
            return self._refuse(request, what)
        request._builder_view_started = True
        return None

    def process_exception(self, request, exception):
        if isinstance(exception, NulRefused):
            return self._refuse(request, exception.what)
        return None

    def _refuse(self, request, what):
        message = NUL_MESSAGE.format(what=what)
        if getattr(request, "htmx", False):
            fragment = format_html(
                '<ul class="messages" role="alert"><li class="message error">{}</li></ul>',
                message,
            )
            response = HttpResponse(fragment, status=422)
            # The refused request's own target expects something else: show it on the page.
            response["HX-Retarget"] = "main"
            response["HX-Reswap"] = "afterbegin"
            return response
        return render(request, "400.html", {"exception": message}, status=400)

    def _nul_in_query(self, request):
        for name, values in request.GET.lists():
            if "\x00" in name or any("\x00" in value for value in values):
                return "The search" if name == "q" else f"The address's “{name}”"
        return None

    def _nul_in_form(self, request):
        """What in the parsed form holds a NUL ("The field “body”", "The file"), or None."""
        for name, values in request._post.lists():
            if "\x00" in name or any("\x00" in value for value in values):
                return f"The field “{name.replace(chr(0), '')}”"
        for upload in request._files.values():
            if "\x00" in (upload.name or "") or self._file_has_nul(upload):
                return "The file"
        return None

    def _file_has_nul(self, upload):
        # Files beyond the in-memory limit are not read here: the one upload, a sequence file,
        # is refused unread above 256 KB (importing.MAX_FILE_BYTES) before it is parsed.
        if upload.size > settings.FILE_UPLOAD_MAX_MEMORY_SIZE:
            return False
        upload.seek(0)
        content = upload.read()
        upload.seek(0)
        try:
            content.decode("utf-8")
        except UnicodeDecodeError:  # not text at all: its reader says so, better than we can
            return False
        return b"\x00" in content or _JSON_NUL.search(content) is not None


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


def viewer_timezone_cookie(request) -> str:
    """The browser's zone name as viewer-tz.js stored it, decoded: the scripts write it
    URL-encoded ("Asia%2FTokyo") and Django hands cookies over raw."""
    return unquote(request.COOKIES.get(VIEWER_TZ_COOKIE, ""))[:100]


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
        name = viewer_timezone_cookie(request)
        if name and schedule.is_timezone(name):
            timezone.activate(ZoneInfo(name))
        else:
            timezone.deactivate()
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
