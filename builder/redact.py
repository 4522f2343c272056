"""The one place that knows how the Close API key can show up in text, and hides it.

Close should never echo the key, but a server at CLOSE_API_URL (a proxy, a mock, Close on a bad
day) may put the request's `Authorization: Basic <base64 of "key:">` header into an error or even
a 200 body. Whatever we keep or show of a Close answer (close.py's errors and answers, publish
records, import and template sync messages, log lines) goes through redact() or redact_json().

Pure Python: close.py works without Django, so the key is passed in; only the convenience of
defaulting to settings.CLOSE_API_KEY imports Django, lazily.
"""

import base64
import json
import re
from functools import lru_cache
from urllib.parse import quote

HIDDEN = "[hidden]"  # plain text: safe in HTML, JSON and log lines alike
MIN_KEY_LENGTH = 4  # an empty or toy value would blank out ordinary text
MIN_FRAGMENT = 8  # shorter base64 fragments are too likely to match ordinary words
_ESCAPE = re.compile(r"%[0-9A-F]{2}")


def _settings_key() -> str:
    from django.conf import settings

    return getattr(settings, "CLOSE_API_KEY", "") or ""


def _base64_forms(raw: bytes) -> list[str]:
    """Standard and URL-safe base64 of `raw`, with and without padding, plus the fragments that
    stay the same whatever comes before or after it (when it sits inside a longer encoded
    string, e.g. `Basic` credentials of "key:password", or a whole header base64-encoded)."""
    forms = []
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        for offset in range(3):
            encoded = encode(b"\0" * offset + raw).decode()
            if offset == 0:
                forms += [encoded, encoded.rstrip("=")]
            # The first group holds prefix bits when offset > 0; the last group may hold the
            # bits of whatever follows. Everything between depends on `raw` alone.
            start = 4 if offset else 0
            end = (len(raw) + offset) // 3 * 4
            fragment = encoded[start:end]
            if len(fragment) >= MIN_FRAGMENT:
                forms.append(fragment)
    return forms


@lru_cache(maxsize=8)
def key_forms(key: str) -> tuple[str, ...]:
    """Every form of `key` we hide, longest first so a longer form is replaced whole."""
    if not key or len(key) < MIN_KEY_LENGTH:
        return ()
    # "key:" in plain text needs no form of its own: hiding the key leaves a harmless ":".
    forms = {key, *_base64_forms(key.encode()), *_base64_forms(f"{key}:".encode())}
    # URL-encoded (a query string or a form body echoed back): %3A for ":", %2B, %2F, %3D.
    for form in list(forms):
        escaped = quote(form, safe="")
        # Some servers write the %XX escapes in lower case.
        forms |= {escaped, _ESCAPE.sub(lambda match: match[0].lower(), escaped)}
    return tuple(sorted((f for f in forms if f), key=len, reverse=True))


def redact(text, *, key=None, hidden=HIDDEN):
    """`text` with every form of the Close key replaced by `hidden`. Non-strings pass through."""
    if not text or not isinstance(text, str):
        return text
    for form in key_forms(_settings_key() if key is None else key):
        if form in text:
            text = text.replace(form, hidden)
    return text


def redact_json(value, *, key=None, hidden=HIDDEN):
    """A JSON-able value (a Close answer) with the key hidden in every string, keys included."""
    if value is None:
        return value
    key = _settings_key() if key is None else key
    if isinstance(value, str):
        return redact(value, key=key, hidden=hidden)
    forms = key_forms(key)
    if not forms:
        return value
    text = json.dumps(value, ensure_ascii=False)
    # A quick look first: most answers hold no form at all. Should the key contain a character
    # JSON escapes, the look could miss it, so then every string is checked.
    escaped = any(char in key for char in '"\\')
    if not escaped and not any(form in text for form in forms):
        return value
    return _walk(value, key, hidden)


def _walk(value, key, hidden):
    # Walks the value rather than replacing inside its JSON text: a replacement can never break
    # the JSON, and a form split by an escape (\u003d) is still found in the decoded string.
    if isinstance(value, str):
        return redact(value, key=key, hidden=hidden)
    if isinstance(value, dict):
        return {_walk(k, key, hidden): _walk(v, key, hidden) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_walk(item, key, hidden) for item in value]
    return value
