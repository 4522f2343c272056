"""Log-in with throttling: repeated failures for one username from one address get a 429.

Attempts are counted in the database (shared by every worker and app server), per username +
client address and per address alone, over a sliding window. Each attempt is recorded *before*
the password is checked, as a row of its own: inserts are atomic, so a burst of attempts sent in
the same instant cannot all slip under the limit. While a pair is over the limit the password
is not even checked, so guessing stops yielding answers; a refused attempt is not counted (the
pause ends when the failures age out), and a successful log-in clears the pair's count.
"""

import hashlib
import logging
import math
import time
import unicodedata

from django.conf import settings
from django.contrib.auth import views as auth_views

from builder.middleware import mark_logged_in
from builder.models import LoginAttempt

logger = logging.getLogger(__name__)


def client_address(request):
    """The client's IP: REMOTE_ADDR, or X-Forwarded-For's entry set by our own proxies."""
    proxies = settings.NUM_PROXIES
    if proxies > 0:
        forwarded = [
            part.strip()
            for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
            if part.strip()
        ]
        if len(forwarded) >= proxies:
            return forwarded[-proxies]
    return request.META.get("REMOTE_ADDR", "")


def _key(*parts):
    # Hashed so any username (spaces, unicode, 10 KB of junk) makes a valid, short key.
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()


def throttle_name(username):
    """The name failures are counted under: `username` as authentication reads it (see
    ThrottledLoginView.post), case-folded so "Alice" and "alice" share a count. NFKC again after
    folding, since folding can produce characters that normalisation would fold further."""
    return unicodedata.normalize("NFKC", username.casefold())


class Throttle:
    def __init__(self, request, username):
        address = client_address(request)
        self.limits = {
            _key("pair", throttle_name(username), address): settings.LOGIN_FAILURE_LIMIT,
            _key("address", address): settings.LOGIN_FAILURE_LIMIT_PER_ADDRESS,
        }
        self.pair_key = next(iter(self.limits))
        self.recorded = []

    def begin(self):
        """Count this attempt; return 0 when its password may be checked, else seconds to wait.

        Counted first, checked second: attempts in flight at the same time see each other.
        """
        now = time.time()
        window = settings.LOGIN_FAILURE_WINDOW
        LoginAttempt.objects.filter(at__lt=now - window).delete()  # aged out, for everyone
        self.recorded = [LoginAttempt.objects.create(key=key, at=now) for key in self.limits]
        wait = self._wait(now, allowed_extra=1)
        if wait:
            self.forget()  # refused without a check: the pause runs from the real failures
        return wait

    def retry_after(self):
        """Seconds until log-in may be tried again, or 0 when it may be tried now."""
        return self._wait(time.time(), allowed_extra=0)

    def _wait(self, now, *, allowed_extra):
        """How long until every key has room for another attempt. `allowed_extra` is 1 when
        the attempt being decided is already among the rows."""
        window = settings.LOGIN_FAILURE_WINDOW
        times = {key: [] for key in self.limits}
        rows = LoginAttempt.objects.filter(key__in=self.limits, at__gt=now - window)
        for key, at in rows.order_by("at").values_list("key", "at"):
            times[key].append(at)
        waits = []
        for key, limit in self.limits.items():
            over = len(times[key]) - (limit - 1 + allowed_extra)
            if over > 0:  # room again once the `over` oldest attempts leave the window
                waits.append(times[key][over - 1] + window - now)
        return max([0, *waits])

    def forget(self):
        LoginAttempt.objects.filter(pk__in=[row.pk for row in self.recorded]).delete()

    def clear(self):
        """A successful log-in: the pair starts afresh, and this attempt is not held against
        the address."""
        self.forget()
        LoginAttempt.objects.filter(key=self.pair_key).delete()


class ThrottledLoginView(auth_views.LoginView):
    def post(self, request, *args, **kwargs):
        username = request.POST.get("username", "")[:300]
        # Counted under the name the log-in form will authenticate: its username field strips
        # and NFKC-normalises, so "ａlice" (full-width a) logs in as alice and must count as her.
        field = self.get_form_class()(request).fields["username"]
        throttle = Throttle(request, field.to_python(username) or "")
        wait = throttle.begin()
        if wait:
            logger.warning("Log-in refused: too many failures from %s", client_address(request))
            return self._too_many(wait, username)
        response = super().post(request, *args, **kwargs)
        if request.user.is_authenticated:
            throttle.clear()
            mark_logged_in(request)  # a new log-in restarts SESSION_MAX_AGE
        else:
            wait = throttle.retry_after()
            if wait:  # that failure reached the limit: say so now, not on the next try
                return self._too_many(wait, username)
        return response

    def _too_many(self, wait, username):
        minutes = max(1, math.ceil(wait / 60))
        unit = "minute" if minutes == 1 else "minutes"
        message = (
            "Too many failed log-in attempts. For your account's safety, log-in is paused: "
            f"try again in {minutes} {unit}."
        )
        form = self.get_form_class()(self.request, initial={"username": username})
        context = self.get_context_data(form=form, throttled=message)
        response = self.render_to_response(context, status=429)
        response["Retry-After"] = str(math.ceil(wait))
        return response
