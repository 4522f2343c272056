"""Log-in with throttling: repeated failures get a 429, and nobody can lock a user out of a
browser they use.

Each attempt is checked against, and recorded under, a few counts kept in the database (shared
by every worker and app server) over a sliding window of LOGIN_FAILURE_WINDOW seconds:

- the pair: this username from this client, LOGIN_FAILURE_LIMIT failures. The client is the
  browser when it holds a *trust cookie* for this username (a signed cookie set when it logged
  in as them, see TRUST_MAX_AGE), else the client's address;
- the username from anywhere, LOGIN_FAILURE_LIMIT_PER_USER failures (guessing one password
  from many addresses);
- the address, LOGIN_FAILURE_LIMIT_PER_ADDRESS failures for usernames of *no account*
  (spraying guessed names). People mistyping their own password behind one proxy or office
  address never add to it.

A browser with a trust cookie for the username is checked against its own pair only: an
attacker at the same address, or guessing the same account from elsewhere, can pause every
other browser but not that one. Everyone else is checked against all three.

Each attempt is recorded *before* the password is checked, as rows of its own: inserts are
atomic, so a burst of attempts sent in the same instant cannot all slip under a limit. While a
count is over its limit the password is not even checked, so guessing stops yielding answers;
a refused attempt is not counted (the pause ends when the failures age out), and a successful
log-in clears the pair's count.
"""

import functools
import hashlib
import ipaddress
import logging
import math
import secrets
import time
import unicodedata
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth import views as auth_views
from django.core import signing
from django.http import HttpResponse
from django.urls import reverse

from builder.models import LoginAttempt

logger = logging.getLogger(__name__)

TRUST_COOKIE = "login_trust"
TRUST_SALT = "builder.views.auth.trusted-browser"
TRUST_MAX_AGE = 90 * 86400  # a browser someone logs in with at least once a quarter stays known


def client_address(request):
    """The client's IP: REMOTE_ADDR, or, when REMOTE_ADDR is one of our proxies
    (FORWARDED_ALLOW_IPS, as gunicorn), the X-Forwarded-For entry NUM_PROXIES from the right.

    A client that reaches the app directly (BIND=0.0.0.0) may send any X-Forwarded-For: it
    is believed only from a proxy we named, or every guess could claim a new address."""
    remote = request.META.get("REMOTE_ADDR", "")
    proxies = settings.NUM_PROXIES
    if proxies > 0 and _is_our_proxy(remote):
        forwarded = [
            part.strip()
            for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
            if part.strip()
        ]
        if len(forwarded) >= proxies:
            return forwarded[-proxies]
    return remote


def _is_our_proxy(address):
    allowed = tuple(settings.FORWARDED_ALLOW_IPS)
    if "*" in allowed:
        return True
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip.version == net.version and ip in net for net in _networks(allowed))


@functools.cache
def _networks(allowed):
    return [ipaddress.ip_network(entry, strict=False) for entry in allowed if entry != "*"]


def _key(*parts):
    # Hashed so any username (spaces, unicode, 10 KB of junk) makes a valid, short key.
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()


def throttle_name(username):
    """The name failures are counted under: `username` as authentication reads it (see
    ThrottledLoginView.post), case-folded so "Alice" and "alice" share a count. NFKC again after
    folding, since folding can produce characters that normalisation would fold further."""
    return unicodedata.normalize("NFKC", username.casefold())


def trusted_browser(request, name):
    """The browser's id when its trust cookie is for `name` (a throttle_name), else None."""
    try:
        value = signing.loads(
            request.COOKIES.get(TRUST_COOKIE, ""), salt=TRUST_SALT, max_age=TRUST_MAX_AGE
        )
    except signing.BadSignature:  # also: expired, empty, or not ours
        return None
    if not isinstance(value, dict) or value.get("n") != _key("name", name):
        return None
    browser = value.get("b")
    return browser if isinstance(browser, str) and browser else None


def trust_browser(response, name):
    """After a successful log-in: this browser is known for `name` from now on."""
    value = {"n": _key("name", name), "b": secrets.token_urlsafe(16)}
    response.set_cookie(
        TRUST_COOKIE,
        signing.dumps(value, salt=TRUST_SALT),
        max_age=TRUST_MAX_AGE,
        path=reverse("login"),  # only the log-in form needs it
        secure=settings.SESSION_COOKIE_SECURE,
        httponly=True,
        samesite="Lax",
    )


def _is_account(username):
    if "\x00" in username:  # no username holds one (forms refuse it; PostgreSQL cannot compare it)
        return False
    model = get_user_model()
    lookup = {f"{model.USERNAME_FIELD}__iexact": username}
    return model._default_manager.filter(**lookup).exists()


class Throttle:
    def __init__(self, request, username):
        """`username` as the log-in form will authenticate it (stripped, NFKC)."""
        name = throttle_name(username)
        address = client_address(request)
        browser = trusted_browser(request, name)
        pair = _key("pair", name, "browser", browser) if browser else _key("pair", name, address)
        per_user, per_address = _key("user", name), _key("address", address)
        self.pair_key = pair
        self.name = name
        # Every attempt counts for its pair and its username; one for a name of no account also
        # counts for its address.
        self.counted = [pair, per_user] if _is_account(username) else [pair, per_user, per_address]
        self.limits = {pair: settings.LOGIN_FAILURE_LIMIT}
        if not browser:
            self.limits[per_user] = settings.LOGIN_FAILURE_LIMIT_PER_USER
            self.limits[per_address] = settings.LOGIN_FAILURE_LIMIT_PER_ADDRESS
        self.recorded = []

    def begin(self):
        """Count this attempt; return 0 when its password may be checked, else seconds to wait.

        Counted first, checked second: attempts in flight at the same time see each other.
        """
        now = time.time()
        window = settings.LOGIN_FAILURE_WINDOW
        LoginAttempt.objects.filter(at__lt=now - window).delete()  # aged out, for everyone
        self.recorded = [LoginAttempt.objects.create(key=key, at=now) for key in self.counted]
        wait = self._wait(now, counting_this=True)
        if wait:
            self.forget()  # refused without a check: the pause runs from the real failures
        return wait

    def retry_after(self):
        """Seconds until log-in may be tried again, or 0 when it may be tried now."""
        return self._wait(time.time(), counting_this=False)

    def _wait(self, now, *, counting_this):
        """How long until every count has room for another attempt. `counting_this`: the
        attempt being decided is already among the rows of the counts it adds to."""
        window = settings.LOGIN_FAILURE_WINDOW
        times = {key: [] for key in self.limits}
        rows = LoginAttempt.objects.filter(key__in=self.limits, at__gt=now - window)
        for key, at in rows.order_by("at").values_list("key", "at"):
            times[key].append(at)
        waits = []
        for key, limit in self.limits.items():
            allowed_extra = 1 if counting_this and key in self.counted else 0
            over = len(times[key]) - (limit - 1 + allowed_extra)
            if over > 0:  # room again once the `over` oldest attempts leave the window
                waits.append(times[key][over - 1] + window - now)
        return max([0, *waits])

    def forget(self):
        LoginAttempt.objects.filter(pk__in=[row.pk for row in self.recorded]).delete()

    def clear(self):
        """A successful log-in: the pair starts afresh, and this attempt is not held against
        the username or the address."""
        self.forget()
        LoginAttempt.objects.filter(key=self.pair_key).delete()


class ThrottledLoginView(auth_views.LoginView):
    def get(self, request, *args, **kwargs):
        if request.htmx:
            # An htmx request from a page whose session ended (idle timeout) was redirected
            # here: the log-in form must replace the page, not a fragment of it, and bring the
            # user back to that page afterwards.
            return _to_login_page(request)
        return super().get(request, *args, **kwargs)

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
            trust_browser(response, throttle.name)
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


def _to_login_page(request):
    page = request.htmx.current_url_abs_path  # None unless it is a page of this site
    target = reverse("login")
    if page and not page.startswith(target):
        target += "?" + urlencode({"next": page}, safe="/")
    response = HttpResponse(status=204)  # nothing to swap: htmx navigates instead
    response["HX-Redirect"] = target
    return response
