"""The one module that talks to Close. ../shared/close-api.md is the reference; § numbers point
into it.

Everything else in the project goes through CloseClient and sees only plain dicts and the typed
errors below, whose .message is written for the sales-ops person reading it in the UI.

Retry policy in short (§6, §10):
- 429 was not processed, so any method is retried after the wait Close asks for, within a budget
  of max_attempts requests and max_wait seconds of sleep per call.
- GETs are retried on 502/503/504, timeouts and broken connections with a short back-off.
- Writes are never retried on 5xx, timeouts or broken connections: POST /sequence/ is not
  idempotent, so a blind retry can create a duplicate. Instead CloseUnavailable says whether the
  request may have been processed, and the caller looks the object up before trying again.
"""

from __future__ import annotations

import email.utils
import logging
import random
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

import requests
from urllib3.exceptions import ConnectTimeoutError, MaxRetryError
from urllib3.exceptions import TimeoutError as Urllib3Timeout

from builder.copytext import usable_email
from builder.redact import redact, redact_json

logger = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.close.com/api/v1/"
USER_AGENT = "SequenceBuilder/0.1"
PAGE_SIZE = 100  # §8: per-resource maxima are unpublished; 100 is the documented default
DEFAULT_RATE_LIMIT_WAIT = 2.0  # §10: what Close's own client waits when no header says otherwise
JITTER_MAX = 0.25
BACKOFF_STEP = 0.5  # GET back-off: 0.5 s × attempt number
RETRYABLE_GET_STATUSES = {502, 503, 504}
WRITE_METHODS = {"POST", "PUT", "DELETE"}
HIDDEN = "<hidden>"  # stands in for the key wherever Close echoed it
SEARCH_PAGE_SIZE = 200  # §14: the largest search page community code uses ([O])
LEAD_FIELDS = ("id", "display_name", "url", "custom")  # what a lead's merge fields read (§7)
CONTACT_FIELDS = ("name", "emails", "phones")  # what a contact's merge fields read (§7)


# --- errors --------------------------------------------------------------------------------------


class CloseError(Exception):
    """Base class. .message is plain words for a person; .status_code is None without a response."""

    def __init__(self, message: str, *, status_code: int | None = None):
        super().__init__(message)
        self.message = message
        self.status_code = status_code

    def __str__(self) -> str:
        return self.message


class CloseValidationError(CloseError):
    """400 (§9): .errors are non-field errors, .field_errors map onto form fields."""

    def __init__(self, message, *, errors=None, field_errors=None, status_code=400):
        super().__init__(message, status_code=status_code)
        self.errors: list[str] = list(errors or [])
        self.field_errors: dict = dict(field_errors or {})


class CloseAuthError(CloseError):
    """401 (key rejected or revoked) and 403 (key not allowed to do this)."""


class CloseNotFound(CloseError):
    """404."""


class ClosePlanLimit(CloseError):
    """402: the organization's plan does not allow it (§11: Workflows need Growth or Scale)."""


class CloseRateLimited(CloseError):
    """429 and waiting longer would exceed our budget. .retry_after is Close's wait in seconds."""

    def __init__(self, message: str, *, retry_after: float, status_code: int | None = 429):
        super().__init__(message, status_code=status_code)
        self.retry_after = float(retry_after)


class CloseUnavailable(CloseError):
    """5xx, timeout, broken connection or unreadable answer.

    request_may_have_been_processed is True when a write reached Close and we cannot know whether
    Close acted on it. Callers must look the object up before trying again (§6). .problem is
    what went wrong on its own ("Close did not answer in time"), for callers that go on to say
    what they did about it.
    """

    def __init__(
        self, message, *, status_code=None, request_may_have_been_processed=False, problem=""
    ):
        super().__init__(message, status_code=status_code)
        self.request_may_have_been_processed = request_may_have_been_processed
        self.problem = problem or message.rstrip(".")


# --- rate-limit headers --------------------------------------------------------------------------


@dataclass(frozen=True)
class RateLimitInfo:
    limit: int | None
    remaining: int | None
    reset: float | None


# Aliases so the newer IETF draft form (`RateLimit: "default";r=50;t=30`) parses too.
_RATE_KEYS = {"limit": "limit", "q": "limit", "remaining": "remaining", "r": "remaining"}
_RATE_KEYS |= {"reset": "reset", "t": "reset"}
_PAIR = re.compile(r"([A-Za-z_-]+)\s*=\s*\"?([0-9]+(?:\.[0-9]+)?)\"?")


def _number(value) -> float | None:
    try:
        number = float(str(value).strip().strip('"'))
    except (TypeError, ValueError):
        return None
    return number if number >= 0 else None


def _seconds_from_retry_after(value) -> float | None:
    """Retry-After is either delta-seconds or an HTTP date (RFC 9110 §10.2.3)."""
    if value is None:
        return None
    seconds = _number(value)
    if seconds is not None:
        return seconds
    try:
        when = email.utils.parsedate_to_datetime(str(value))
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _combined_header(value) -> dict[str, float]:
    found: dict[str, float] = {}
    for key, number in _PAIR.findall(value or ""):
        name = _RATE_KEYS.get(key.lower())
        if name and name not in found:
            found[name] = float(number)
    return found


def parse_rate_limit(headers) -> RateLimitInfo:
    """Read Close's `RateLimit: limit=100, remaining=50, reset=5` (§10), tolerant of key order,
    floats and spacing; fields it lacks come from separate RateLimit-* or legacy X-Rate-Limit-*
    headers. Missing values are None."""
    lower = {str(k).lower(): v for k, v in (headers or {}).items()}
    found = _combined_header(lower.get("ratelimit"))
    for name in ("limit", "remaining", "reset"):
        if name not in found:
            for header in (f"ratelimit-{name}", f"x-rate-limit-{name}"):
                number = _number(lower.get(header)) if header in lower else None
                if number is not None:
                    found[name] = number
                    break

    def as_int(name):
        return int(found[name]) if name in found else None

    return RateLimitInfo(as_int("limit"), as_int("remaining"), found.get("reset"))


def _rate_limit_wait(response: requests.Response) -> float:
    """How long Close asks us to wait after a 429, in the order of §10."""
    headers = response.headers
    candidates = [
        _combined_header(headers.get("RateLimit")).get("reset"),
        _seconds_from_retry_after(headers.get("Retry-After")),
        _number(headers.get("RateLimit-Reset")) if "RateLimit-Reset" in headers else None,
    ]
    body = _json_or_none(response)  # legacy body, deprecated in 2024 but cheap to honour
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and "rate_reset" in error:
            candidates.append(_number(error["rate_reset"]))
        if "rate_reset" in body:
            candidates.append(_number(body["rate_reset"]))
    return next((c for c in candidates if c is not None), DEFAULT_RATE_LIMIT_WAIT)


_jitter_random = random.Random()  # not the global one, which tests may seed


def _jitter() -> float:
    # Spreads out clients that were all told the same reset. Tests patch this to 0.
    return _jitter_random.uniform(0, JITTER_MAX)


# --- response bodies -----------------------------------------------------------------------------


def _json_or_none(response: requests.Response):
    try:
        return response.json()
    except ValueError:
        return None


def _flatten_field_errors(value, prefix="") -> Iterator[tuple[str, str]]:
    """field-errors values may be strings, lists or nested dicts/lists for steps (§9)."""
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from _flatten_field_errors(inner, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(value, list) and any(isinstance(v, dict | list) for v in value):
        for index, inner in enumerate(value):
            yield from _flatten_field_errors(inner, f"{prefix}.{index}" if prefix else str(index))
    elif isinstance(value, list):
        yield prefix, " ".join(str(v) for v in value)
    elif value not in (None, ""):
        yield prefix, str(value)


def flatten_field_errors(field_errors) -> list[tuple[str, str]]:
    """Close's field-errors as (dotted path, message) pairs: {"steps": {"1": {"delay": "..."}}}
    and {"steps.1.delay": "..."} both give ("steps.1.delay", "...")."""
    return list(_flatten_field_errors(field_errors or {}))


def _error_details(response: requests.Response, key: str) -> tuple[list[str], dict]:
    """Pull (errors, field_errors) out of any error body: `errors`/`field-errors`, a plain
    `error` string or {"message": ...}, or non-JSON text (§9: parse defensively). Every form of
    `key` is hidden first: a server that echoes our Authorization header must not leak it, and
    cutting the text before hiding could leave half an encoded key behind."""
    body = redact_json(_json_or_none(response), key=key, hidden=HIDDEN)
    if not isinstance(body, dict):
        text = redact(response.text or "", key=key, hidden=HIDDEN).strip()
        return ([text[:300]] if text else []), {}
    errors = body.get("errors") or []
    errors = [str(e) for e in (errors if isinstance(errors, list) else [errors])]
    field_errors = body.get("field-errors") or body.get("field_errors") or {}
    if not isinstance(field_errors, dict):
        field_errors = {"__all__": field_errors}
    error = body.get("error")
    if isinstance(error, dict):
        error = error.get("message")
    if error:
        errors.append(str(error))
    if not errors and not field_errors and body.get("message"):
        errors.append(str(body["message"]))
    return errors, field_errors


def _describe(errors: list[str], field_errors: dict) -> str:
    parts = list(errors)
    parts += [
        f"{path}: {msg}" if path else msg for path, msg in _flatten_field_errors(field_errors)
    ]
    return " ".join(p if p.endswith((".", "!", "?")) else p + "." for p in parts)


# --- connection failures -------------------------------------------------------------------------


def _reason(exc: Exception):
    reason = exc.args[0] if exc.args else None
    return reason.reason if isinstance(reason, MaxRetryError) else reason


def _nothing_sent(exc: Exception) -> bool:
    """Connection refused, DNS failure or connect timeout: the request never left us.
    (NewConnectionError and NameResolutionError subclass ConnectTimeoutError in urllib3.)"""
    return isinstance(exc, requests.ConnectTimeout) or isinstance(_reason(exc), ConnectTimeoutError)


def _timed_out(exc: Exception) -> bool:
    # requests raises ReadTimeout before the headers arrive, but a plain ConnectionError
    # wrapping urllib3's ReadTimeoutError when the body stalls.
    return isinstance(exc, requests.Timeout) or isinstance(_reason(exc), Urllib3Timeout)


_NETWORK_ERRORS = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
)


def _unknown_outcome(problem: str, outcome: str, status_code=None) -> CloseUnavailable:
    return CloseUnavailable(
        f"{problem}; {outcome}. We will check before trying again.",
        status_code=status_code,
        request_may_have_been_processed=True,
        problem=problem,
    )


def base_url_problem(url) -> str:
    """Why `url` cannot be the Close API base URL, in words; "" when it can. Checked when the
    settings load and when a client is made, so a bad CLOSE_API_URL never reaches a request."""
    try:
        parts = urlsplit(str(url or "").strip())
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        parts = None
    if parts is None or parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return (
            "CLOSE_API_URL must be an http:// or https:// address with a host name, such as "
            f"{DEFAULT_BASE_URL}"
        )
    return ""


def _quote_id(object_id) -> str:
    text = str(object_id or "")
    if not text or "/" in text or text.strip(".") == "":
        raise ValueError(f"Not a Close object id: {text!r}")
    return quote(text, safe="")


# --- the client ----------------------------------------------------------------------------------


class CloseClient:
    """A thin, careful client for the endpoints Sequence Builder needs (§3)."""

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str = DEFAULT_BASE_URL,
        timeout: float | tuple = (3.05, 20.0),
        max_attempts: int = 5,
        max_wait: float = 60.0,
        sleep=time.sleep,
        session: requests.Session | None = None,
        on_wait=None,
    ):
        problem = base_url_problem(base_url)
        if problem:
            raise ValueError(problem)
        self._api_key = api_key
        self._auth = (api_key, "")  # §2: HTTP Basic, key as username, empty password
        self.base_url = base_url.rstrip("/") + "/"
        self.timeout = timeout
        self.max_attempts = max(1, int(max_attempts))
        self.max_wait = float(max_wait)
        self._sleep = sleep
        # Called as on_wait(seconds, reason) before every sleep, reason "rate_limit" (Close
        # asked us to wait) or "retry" (back-off after a failed GET): a background job shows it.
        self.on_wait = on_wait
        self._owns_session = session is None
        self._session = session or requests.Session()
        self._headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
        self.last_rate_limit: RateLimitInfo | None = None
        self.waited_seconds = 0.0
        self._pause_until: float | None = None  # monotonic time; set when remaining hit 0

    def __repr__(self) -> str:
        return f"<CloseClient base_url={self.base_url!r} api_key={HIDDEN}>"

    def close(self) -> None:
        if self._owns_session:
            self._session.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    # -- endpoints --

    def me(self) -> dict:
        fields = "id,email,first_name,last_name,organizations"
        return self._request("GET", "me/", params={"_fields": fields})

    def iter_email_templates(self, **filters) -> Iterator[dict]:
        return self._iter_pages("email_template/", filters)

    def list_email_templates(self, **filters) -> list[dict]:
        return list(self.iter_email_templates(**filters))

    def iter_sms_templates(self, **filters) -> Iterator[dict]:
        return self._iter_pages("sms_template/", filters)

    def list_sms_templates(self, **filters) -> list[dict]:
        return list(self.iter_sms_templates(**filters))

    def fetch_email_template(self, template_id) -> dict:
        return self._request(
            "GET", f"email_template/{_quote_id(template_id)}/", what="email template"
        )

    def fetch_sms_template(self, template_id) -> dict:
        return self._request("GET", f"sms_template/{_quote_id(template_id)}/", what="SMS template")

    def list_sequences(self, **params) -> list[dict]:
        return list(self._iter_pages("sequence/", params))

    def fetch_sequence(self, sequence_id) -> dict:
        return self._request("GET", f"sequence/{_quote_id(sequence_id)}/", what="sequence")

    def create_sequence(self, payload: dict) -> dict:
        # Never retried after it may have reached Close (§6): a retry can create a duplicate.
        return self._request(
            "POST",
            "sequence/",
            payload=payload,
            what="sequence",
            outcome="the sequence may or may not have been created",
        )

    def update_sequence(self, sequence_id, payload: dict) -> dict:
        return self._request(
            "PUT",
            f"sequence/{_quote_id(sequence_id)}/",
            payload=payload,
            what="sequence",
            outcome="the changes to the sequence may or may not have been saved",
        )

    def delete_sequence(self, sequence_id) -> None:
        self._request(
            "DELETE",
            f"sequence/{_quote_id(sequence_id)}/",
            what="sequence",
            outcome="the sequence may or may not have been deleted",
        )

    # -- plumbing --

    def _iter_pages(self, path: str, params: dict) -> Iterator[dict]:
        """§8: offset pagination, skip += len(data) until has_more is false."""
        params = {k: _param(v) for k, v in params.items()}
        params.setdefault("_limit", PAGE_SIZE)
        skip = int(params.pop("_skip", 0))
        while True:
            page = self._request("GET", path, params={**params, "_skip": skip})
            data = page.get("data") if isinstance(page, dict) else None
            if not isinstance(data, list):
                raise CloseUnavailable(
                    "Close answered with a list we could not read. Try again in a few minutes.",
                    status_code=200,
                )
            yield from data
            # An empty page with has_more would loop forever; stop instead.
            if not page.get("has_more") or not data:
                return
            skip += len(data)

    def _request(
        self, method, path, *, params=None, payload=None, what="request", outcome="", reads=False
    ):
        """One logical call: send, wait out 429s, retry transient GET failures, map errors.

        `what` names the object in messages; `outcome` says what may have happened when a write
        gets no clear answer ("the sequence may or may not have been created"). `reads` marks a
        POST that only reads (POST /data/search/, §14): it is retried and reported like a GET."""
        if not self._api_key:
            # Raised here rather than in __init__ so callers' `except CloseError` covers it.
            raise CloseAuthError("No Close API key is configured. Set CLOSE_API_KEY.")
        is_write = method in WRITE_METHODS and not reads
        waited = 0.0  # seconds slept inside this call, bounded by max_wait
        attempt = 0
        while True:
            attempt += 1
            waited += self._pause_if_exhausted(self.max_wait - waited)
            started = time.monotonic()
            try:
                response = self._session.request(
                    method,
                    self.base_url + path,
                    params=params,
                    json=payload if method in ("POST", "PUT") else None,
                    auth=self._auth,
                    headers=self._headers,
                    timeout=self.timeout,  # never without one
                )
            except _NETWORK_ERRORS as exc:  # other RequestExceptions are bugs: let them out
                ms = (time.monotonic() - started) * 1000
                name = type(exc).__name__
                logger.warning("Close %s /%s failed after %.0f ms: %s", method, path, ms, name)
                if not is_write and self._can_back_off(attempt, waited):
                    waited += self._back_off(attempt, waited)
                    continue
                raise self._connection_error(exc, is_write, outcome) from exc

            status = response.status_code
            ms = (time.monotonic() - started) * 1000
            log = logger.info if status < 400 else logger.warning
            log("Close %s /%s -> %s in %.0f ms", method, path, status, ms)
            self._note_rate_limit(response)

            if status == 429:  # not processed, so even a POST may be retried (§10)
                delay = _rate_limit_wait(response)
                if attempt >= self.max_attempts or waited + delay > self.max_wait:
                    raise self._rate_limited(delay)
                waited += self._wait(delay + self._capped_jitter(delay, waited), "rate_limit")
                self._pause_until = None  # that sleep already covered the window
                continue
            retryable = not is_write and status in RETRYABLE_GET_STATUSES
            if retryable and self._can_back_off(attempt, waited):
                waited += self._back_off(attempt, waited)
                continue
            return self._result(response, is_write, what, outcome)

    def _result(self, response, is_write, what, outcome):
        status = response.status_code
        if 200 <= status < 300:
            if status == 204 or not response.content.strip():
                return None
            try:
                # Hidden at the door: whatever keeps or shows this answer never sees the key.
                return redact_json(response.json(), key=self._api_key, hidden=HIDDEN)
            except ValueError:
                pass
            if is_write:  # Close acted (2xx) but we cannot read what it stored
                raise _unknown_outcome(
                    "Close answered with something we could not read", outcome, status
                )
            raise CloseUnavailable(
                "Close answered with something we could not read. Try again in a few minutes.",
                status_code=status,
            )
        if status >= 500:
            if is_write:  # Close may have failed after saving; only a look-up can tell (§6)
                raise _unknown_outcome(f"Close had a problem (HTTP {status})", outcome, status)
            raise CloseUnavailable(
                f"Close is having trouble (HTTP {status}). Try again in a few minutes.",
                status_code=status,
            )

        errors, field_errors = _error_details(response, self._api_key)
        details = _describe(errors, field_errors)
        if status == 400:
            if details:
                message = f"Close refused the {what}: {details}"
            else:
                message = f"Close refused the {what} without saying why."
            raise CloseValidationError(message, errors=errors, field_errors=field_errors)
        if status == 401:
            # Whatever Close says, the message never carries the key itself.
            message = "Close rejected the API key. Check CLOSE_API_KEY."
            raise CloseAuthError(message, status_code=401)
        said = f" Close said: {details}" if details else ""
        if status == 403:
            message = f"Close does not allow this API key to do that.{said}"
            raise CloseAuthError(message, status_code=403)
        if status == 402:
            message = (
                "Close says the organization's plan does not allow this "
                f"(Workflows need the Growth or Scale plan).{said}"
            )
            raise ClosePlanLimit(message, status_code=402)
        if status == 404:
            thing = f"that {what}" if what != "request" else "what we asked for"
            raise CloseNotFound(f"Close could not find {thing}.{said}", status_code=404)
        message = f"Close returned an unexpected error (HTTP {status}).{said}"
        raise CloseError(message, status_code=status)

    def _connection_error(self, exc, is_write, outcome) -> CloseUnavailable:
        if _nothing_sent(exc):
            return CloseUnavailable(
                "Could not connect to Close; nothing was sent. Check the network and try again."
            )
        if _timed_out(exc):
            problem = "Close did not answer in time"
        else:
            problem = "The connection to Close broke before it answered"
        if is_write:
            return _unknown_outcome(problem, outcome)
        return CloseUnavailable(f"{problem}. Try again in a few minutes.")

    def _note_rate_limit(self, response) -> None:
        info = parse_rate_limit(response.headers)
        if info == RateLimitInfo(None, None, None):
            return
        self.last_rate_limit = info
        # §10: pause pre-emptively when the window is used up, instead of earning a 429.
        if info.remaining == 0 and info.reset:
            self._pause_until = time.monotonic() + info.reset
        else:
            self._pause_until = None

    def _pause_if_exhausted(self, budget: float) -> float:
        if self._pause_until is None:
            return 0.0
        delay = self._pause_until - time.monotonic()
        if delay <= 0:
            self._pause_until = None
            return 0.0
        if delay > budget:
            # Nothing sent, so no status; the deadline stays for the next call.
            raise self._rate_limited(delay, status_code=None)
        self._pause_until = None
        return self._wait(delay, "rate_limit")

    def _can_back_off(self, attempt: int, waited: float) -> bool:
        return attempt < self.max_attempts and waited + BACKOFF_STEP * attempt <= self.max_wait

    def _back_off(self, attempt: int, waited: float) -> float:
        delay = BACKOFF_STEP * attempt
        return self._wait(delay + self._capped_jitter(delay, waited), "retry")

    def _capped_jitter(self, delay: float, waited: float) -> float:
        return max(0.0, min(_jitter(), self.max_wait - waited - delay))

    def _wait(self, seconds: float, reason: str = "retry") -> float:
        if seconds <= 0:
            return 0.0
        logger.warning("Waiting %.2f s before calling Close again", seconds)
        if self.on_wait is not None:
            self.on_wait(seconds, reason)
        self._sleep(seconds)
        self.waited_seconds += seconds
        return seconds

    def _rate_limited(self, delay: float, status_code: int | None = 429) -> CloseRateLimited:
        shown = f"{max(1, round(delay))}" if delay >= 1 else f"{delay:.1f}"
        message = f"Close asked us to wait {shown} s before trying again."
        return CloseRateLimited(message, retry_after=delay, status_code=status_code)

    # -- leads, contacts, Smart Views, search and render (§7 "Render", §8, §14) ---------------
    # Every call here only reads. The audience check pages through a Smart View with
    # search_contacts_page; a CloseRateLimited mid-way leaves the caller's cursor valid, so it
    # calls again with the same cursor after the wait (Close's cursors expire after about 30 s
    # [O]: past that, CloseCursorExpired says to start again from None).

    def list_smart_views(self) -> list[dict]:
        """The lead and contact Smart Views (§14 step 5), without their queries: the picker
        lists these, and fetch_smart_view reads the one picked."""
        params = {"type__in": "lead,contact", "_fields": SMART_VIEW_FIELDS}
        return [v for v in self._iter_pages("saved_search/", params) if _is_audience_view(v)]

    def fetch_smart_view(self, view_id) -> dict:
        return self._request("GET", f"saved_search/{_quote_id(view_id)}/", what="Smart View")

    def search_contacts_page(
        self,
        *,
        smart_view: dict,
        fields: list[str],
        cursor: str | None,
        limit: int = SEARCH_PAGE_SIZE,
        text: str | None = None,
        lead_fields: list[str] | tuple = LEAD_FIELDS,
        contact_preference: str = "lead",
    ) -> dict:
        """One page of the contacts a Smart View reaches, with their leads.

        Answers {"data": [contact, ...], "cursor": str | None, "leads": {lead id: lead},
        "total": int | None, "object_type": "contact" | "lead", "leads_without_contacts": [id]}.
        Each contact carries `id`, `lead_id` and `fields` (Close's names: "name", "emails",
        "phones", "custom", "custom.cf_…"; CONTACT_FIELDS is what copytext.contact_values
        reads); each lead `id` and `lead_fields`. `cursor` is None on
        the first call and, in the answer, None after the last page. `total` is Close's count
        of the view's objects (leads, for a lead view).

        A contact view (§14 step 2) is one POST /data/search/ per page with the view's query,
        sort and results limit, then one more for that page's leads (one per page, not one per
        contact). A lead view returns leads with their contacts, and §14 step 4 leaves us to
        choose the recipients: `contact_preference` "lead" (the default, what Close's bulk
        enrollment does) takes each lead's first contact with an email address we may use, or
        its first contact when none has one (so the check reports the missing address instead
        of losing the lead); "contact" takes every contact. A lead without contacts reaches
        nobody and is listed in `leads_without_contacts`.

        `text` ("Preview as") searches the view's contacts by the start of a name's words or of
        an email address, through the same query; with a lead view it searches the contacts of
        the view's leads. Without the view's results limit: that bounds the view, not a search
        inside it."""
        kind = smart_view.get("type")
        if kind not in SMART_VIEW_TYPES:
            raise ValueError(f"Not a lead or contact Smart View: {smart_view.get('id')!r}")
        if not 1 <= limit <= SEARCH_PAGE_SIZE:
            raise ValueError(f"limit must be from 1 to {SEARCH_PAGE_SIZE}")
        if contact_preference not in ("lead", "contact"):
            raise ValueError('contact_preference must be "lead" or "contact"')
        text = (text or "").strip() or None  # a blank search box searches nothing
        view_query, sort, results_limit = _view_search(smart_view)
        contact_fields = list(dict.fromkeys(["id", "lead_id", *fields]))
        lead_fields = list(dict.fromkeys(["id", *lead_fields]))
        body = {"_limit": limit, "include_counts": True, "sort": sort}
        if cursor:
            body["cursor"] = cursor  # no underscore (§14)

        if kind == "lead" and not text:
            body |= {"query": view_query, "results_limit": results_limit}
            body["_fields"] = {"lead": [*lead_fields, "contacts"]}
            page = self._search(body, with_cursor=bool(cursor))
            leads, contacts, empty = {}, [], []
            for lead in page["data"]:
                lead_contacts = lead.pop("contacts", None) or []
                leads[lead["id"]] = _fields_of(lead, lead_fields)
                chosen = _recipients(lead_contacts, contact_preference)
                contacts += [
                    _fields_of({**c, "lead_id": lead["id"]}, contact_fields) for c in chosen
                ]
                if not chosen:
                    empty.append(lead["id"])
        else:
            if kind == "lead":  # the contacts of the view's leads (§14 has_related)
                view_query = _and(_object_type("contact"), _has_related("lead", view_query))
                body["sort"] = []  # a lead view's sort names lead fields
            if text:
                view_query = _and(view_query, _contact_text(text))
            else:
                body["results_limit"] = results_limit
            body |= {"query": view_query, "_fields": {"contact": contact_fields}}
            page = self._search(body, with_cursor=bool(cursor))
            contacts = [_fields_of(c, contact_fields) for c in page["data"]]
            leads = self._leads_by_id([c["lead_id"] for c in contacts], lead_fields)
            empty = []
        count = page.get("count")
        return {
            "data": contacts,
            "cursor": page.get("cursor") or None,
            "leads": leads,
            "total": count.get("total") if isinstance(count, dict) else None,
            "object_type": "contact" if text else kind,
            "leads_without_contacts": empty,
        }

    def fetch_lead(self, lead_id, fields: list[str] | None = None) -> dict:
        params = {"_fields": ",".join(fields)} if fields else None
        return self._request("GET", f"lead/{_quote_id(lead_id)}/", params=params, what="lead")

    def fetch_contact(self, contact_id, fields: list[str] | None = None) -> dict:
        params = {"_fields": ",".join(fields)} if fields else None
        path = f"contact/{_quote_id(contact_id)}/"
        return self._request("GET", path, params=params, what="contact")

    def render_email_template(self, template_id, *, lead_id, contact_id) -> dict:
        """Close's own rendering for one recipient, as the API key's user (§7): {subject, body,
        lead_id, lead_display_name, contact_id, contact_display_name, email}."""
        params = {"lead_id": lead_id, "contact_id": contact_id}
        path = f"email_template/{_quote_id(template_id)}/render/"
        return self._request("GET", path, params=params, what="preview")

    def render_sms_template(self, template_id, *, lead_id, contact_id=None) -> dict:
        """{text, lead_id, ...}; without contact_id Close picks the lead's contact (§7 [D])."""
        params = {"lead_id": lead_id} | ({"contact_id": contact_id} if contact_id else {})
        path = f"sms_template/{_quote_id(template_id)}/render/"
        return self._request("GET", path, params=params, what="preview")

    def list_lead_custom_fields(self) -> list[dict]:
        return list(self._iter_pages("custom_field/lead/", {}))

    def sequence_subscriptions(
        self, sequence_id, *, statuses: tuple | None = ("active", "paused")
    ) -> list[dict]:
        """The Workflow's enrollments with a status in `statuses` (None: all), paged once for
        the whole Workflow (§14: a set of contact ids beats one call per contact). Close
        documents no status filter, so it is applied here. `status_reason` is filled from
        `pause_reason` when only that is present (§14: Close's own script reads that one)."""
        _quote_id(sequence_id)  # refuses what cannot be an id, like the other calls
        params = {"sequence_id": str(sequence_id)}
        found = []
        for item in self._iter_pages("sequence_subscription/", params):
            if item.get("status_reason") is None and item.get("pause_reason") is not None:
                item = {**item, "status_reason": item["pause_reason"]}
            if statuses is None or item.get("status") in statuses:
                found.append(item)
        return found

    def _search(self, body: dict, *, with_cursor: bool) -> dict:
        try:
            page = self._request("POST", "data/search/", payload=body, what="search", reads=True)
        except CloseValidationError as exc:
            if with_cursor and "cursor" in exc.field_errors:
                raise CloseCursorExpired(
                    "Close no longer knows where this list of contacts had got to (it waited too"
                    " long between pages). Start again.",
                    errors=exc.errors,
                    field_errors=exc.field_errors,
                ) from exc
            raise
        if not isinstance(page, dict) or not isinstance(page.get("data"), list):
            raise CloseUnavailable(
                "Close answered with a list we could not read. Try again in a few minutes.",
                status_code=200,
            )
        return page

    def _leads_by_id(self, lead_ids: list[str], fields: list[str]) -> dict[str, dict]:
        """One search for the leads of a page of contacts (the `id` node, §14 [O])."""
        ids = list(dict.fromkeys(lead_ids))
        if not ids:
            return {}
        query = _and(_object_type("lead"), {"type": "or", "queries": [_id_node(i) for i in ids]})
        body = {"query": query, "_fields": {"lead": fields}, "_limit": len(ids)}
        page = self._search(body, with_cursor=False)
        return {lead["id"]: _fields_of(lead, fields) for lead in page["data"]}


def _param(value):
    # Close expects lowercase booleans in query strings (is_shared=true); requests sends "True".
    return str(value).lower() if isinstance(value, bool) else value


def client_from_settings(**overrides) -> CloseClient:
    """A client configured from Django settings (imported lazily so this module works without
    Django). CLOSE_TIMEOUT is the read timeout; the connect timeout is at most 3.05 s.
    `overrides` go to CloseClient, e.g. max_wait=settings.CLOSE_MAX_WAIT_IN_REQUEST in a view."""
    from django.conf import settings

    read_timeout = float(getattr(settings, "CLOSE_TIMEOUT", 20.0))
    options = {
        "api_key": getattr(settings, "CLOSE_API_KEY", ""),
        "base_url": getattr(settings, "CLOSE_API_URL", "") or DEFAULT_BASE_URL,
        "timeout": (min(3.05, read_timeout), read_timeout),
    }
    return CloseClient(**(options | overrides))


# --- leads, contacts, Smart Views and search: helpers (§14) -------------------------------------

SMART_VIEW_TYPES = ("contact", "lead")
SMART_VIEW_FIELDS = "id,name,type,description,is_shared,is_user_dependent,date_updated"


class CloseCursorExpired(CloseValidationError):
    """Close refused a search cursor (expired, or made for another search): read from the start."""


def _is_audience_view(view) -> bool:
    return isinstance(view, dict) and view.get("type") in SMART_VIEW_TYPES


def _object_type(kind: str) -> dict:
    return {"type": "object_type", "object_type": kind}


def _and(*queries: dict) -> dict:
    return {"type": "and", "queries": list(queries)}


def _id_node(object_id: str) -> dict:
    return {"type": "id", "value": object_id}


def _has_related(related: str, query: dict, this: str = "contact") -> dict:
    return {
        "type": "has_related",
        "this_object_type": this,
        "related_object_type": related,
        "related_query": query,
    }


def _text_condition(object_type: str, field_name: str, text: str) -> dict:
    return {
        "type": "field_condition",
        "field": {"type": "regular_field", "object_type": object_type, "field_name": field_name},
        "condition": {"type": "text", "mode": "beginning_of_words", "value": text},
    }


def _contact_text(text: str) -> dict:
    """A contact whose name, or one of whose email addresses, has words starting with `text`'s
    (emails are related `contact_email` objects in Close's search, §14)."""
    by_email = _has_related("contact_email", _text_condition("contact_email", "email", text))
    return {"type": "or", "queries": [_text_condition("contact", "name", text), by_email]}


def _view_search(view: dict) -> tuple[dict, list, int | None]:
    """(query, sort, results_limit) for a Smart View: its s_query (§14 step 2), or, for a view
    without one (not fetched, or saved in Close's old search language), the saved_search node
    ([O]; whether Close runs old views that way is §13 q22)."""
    s_query = view.get("s_query")
    if isinstance(s_query, dict) and isinstance(s_query.get("query"), dict):
        sort = s_query.get("sort") if isinstance(s_query.get("sort"), list) else []
        return s_query["query"], sort, s_query.get("results_limit")
    node = {"type": "saved_search", "saved_search_id": view["id"]}
    return _and(_object_type(view["type"]), node), [], None


def _fields_of(obj: dict, names) -> dict:
    """`obj` cut to `names`, as Close's `_fields` does: "custom" keeps every custom field (the
    name-keyed dict and each top-level `custom.cf_…`)."""
    kept = {}
    for name in names:
        if name == "custom":
            kept.update({k: v for k, v in obj.items() if k == "custom" or k.startswith("custom.")})
        elif name in obj:
            kept[name] = obj[name]
    return kept


def _recipients(contacts: list[dict], preference: str) -> list[dict]:
    if preference == "contact" or not contacts:
        return list(contacts)
    return [next((c for c in contacts if usable_email(c)), contacts[0])]
