"""Request-wide rules that no single view should have to remember.

SessionTimeoutMiddleware: a session ends after SESSION_IDLE_TIMEOUT seconds without a request,
and SESSION_MAX_AGE seconds after log-in however busy (README, "Settings").
"""

import time

from django.conf import settings
from django.contrib.auth import logout

LOGIN_AT = "builder_login_at"  # when this session logged in (epoch seconds)
SEEN_AT = "builder_seen_at"  # the session's last request, to within TOUCH_EVERY
# Writing the session on every request would cost a database write per autosave; writing it
# once a minute at most keeps the idle timeout exact to a minute.
TOUCH_EVERY = 60


def mark_logged_in(request):
    """Start the absolute maximum now (the log-in view calls this after a successful log-in)."""
    now = time.time()
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
        if request.user.is_authenticated and self._expired(request.session, time.time()):
            logout(request)  # LoginRequiredMiddleware then sends the browser to log in
        response = self.get_response(request)
        if request.user.is_authenticated:
            self._touch(request.session, time.time())
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
