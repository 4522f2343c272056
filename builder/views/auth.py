"""Log-in with throttling: repeated failures for one username from one address get a 429.

Failures are counted in the cache (the database cache by default, shared by every worker and
app server), per username + client address and per address alone, in a fixed window that
starts at the first failure. While a pair is over the limit the password is not even checked,
so guessing stops yielding answers; a successful log-in clears the pair's count.
"""

import hashlib
import logging
import math
import time

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.core.cache import cache

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
    # Hashed so any username (spaces, unicode, 10 KB of junk) makes a valid, short cache key.
    digest = hashlib.sha256("\x00".join(parts).encode()).hexdigest()
    return f"login-failures:{digest}"


class Throttle:
    def __init__(self, request, username):
        address = client_address(request)
        self.keys = {
            _key("pair", username.strip().casefold(), address): settings.LOGIN_FAILURE_LIMIT,
            _key("address", address): settings.LOGIN_FAILURE_LIMIT_PER_ADDRESS,
        }
        self.pair_key = next(iter(self.keys))

    def retry_after(self):
        """Seconds until log-in may be tried again, or 0 when it may be tried now."""
        counts = cache.get_many(list(self.keys))
        waits = [
            entry["until"] - time.time()
            for key, limit in self.keys.items()
            if (entry := counts.get(key)) and entry["count"] >= limit
        ]
        return max([0, *waits])

    def record_failure(self):
        now = time.time()
        window = settings.LOGIN_FAILURE_WINDOW
        for key in self.keys:
            entry = cache.get(key)
            if not entry or entry["until"] <= now:
                entry = {"count": 0, "until": now + window}
            entry["count"] += 1
            # Read-then-write: failures sent in the same instant can count as one (the database
            # cache has no atomic increment). Sequential guessing, what a throttle is for, is
            # counted exactly; a burst is bounded by the server's threads.
            cache.set(key, entry, timeout=max(1, math.ceil(entry["until"] - now)))

    def clear(self):
        cache.delete(self.pair_key)


class ThrottledLoginView(auth_views.LoginView):
    def post(self, request, *args, **kwargs):
        username = request.POST.get("username", "")[:300]
        throttle = Throttle(request, username)
        wait = throttle.retry_after()
        if wait:
            logger.warning("Log-in refused: too many failures from %s", client_address(request))
            return self._too_many(wait, username)
        response = super().post(request, *args, **kwargs)
        if request.user.is_authenticated:
            throttle.clear()
        else:
            throttle.record_failure()
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
