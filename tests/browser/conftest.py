"""Every browser test runs twice: as production serves the app (DEBUG off) and as `make run`
serves it (DEBUG on, where django-htmx adds its debug script). A bug that shows in one mode only
is still a bug.

And no page may log an error to the console while a test drives it: CSP violations, uncaught
exceptions and failed loads all fail the test that caused them. Refusals the app answers on
purpose (409 conflict, 422 invalid input: the one refusal convention, see base.html's
htmx-config) are the only failed loads allowed.
"""

import os
import re
import time

import pytest

# Both, always, in `make test`. CI's second run (the whole suite again on PostgreSQL, for the
# data layer) sets BROWSER_SERVER_MODES=production: DEBUG mode is `make run`'s, which uses
# SQLite, and the first run has covered it.
SERVER_MODES = tuple(os.environ.get("BROWSER_SERVER_MODES", "production,debug").split(","))
if not SERVER_MODES or not set(SERVER_MODES) <= {"production", "debug"}:
    raise ValueError(f"BROWSER_SERVER_MODES: production and/or debug, not {SERVER_MODES}")

# Chromium logs every non-2xx fetch as "Failed to load resource: ... status of N (...)".
_FAILED_LOAD = re.compile(r"Failed to load resource: the server responded with a status of (\d+)")
_EXPECTED_REFUSALS = {"409", "422"}

# SLOW_SCRIPTS_MS=400 holds every script back that long. A test that acts on a page before the
# page's scripts have wired it up (see tests/browser/navigation.py) then fails every time rather
# than now and then on a busy machine. Off in `make test`: it doubles the browser tests' time.
SLOW_SCRIPTS_MS = int(os.environ.get("SLOW_SCRIPTS_MS") or 0)


@pytest.fixture(params=SERVER_MODES, autouse=True)
def server_mode(request, settings):
    """The live server's mode for this test: "production" (DEBUG off) or "debug" (make run)."""
    settings.DEBUG = request.param == "debug"
    return request.param


def _held_back(route):
    time.sleep(SLOW_SCRIPTS_MS / 1000)
    route.continue_()


def _is_error(message_type: str, text: str) -> bool:
    if message_type != "error":
        return False
    failed = _FAILED_LOAD.search(text)
    return not (failed and failed.group(1) in _EXPECTED_REFUSALS)


@pytest.fixture(autouse=True)
def console_errors(request, monkeypatch):
    """Errors logged by any page of any browser context the test opens; asserted empty at the
    end. A test that means to provoke one removes it from the list itself."""
    if "browser" not in request.fixturenames:
        yield []
        return
    browser = request.getfixturevalue("browser")
    errors: list[str] = []
    open_context = browser.new_context

    def watched_context(*args, **kwargs):
        context = open_context(*args, **kwargs)
        context.on(
            "console",
            lambda message: (
                errors.append(f"{message.type}: {message.text} ({message.location.get('url')})")
                if _is_error(message.type, message.text)
                else None
            ),
        )
        context.on("weberror", lambda web_error: errors.append(f"uncaught: {web_error.error}"))
        if SLOW_SCRIPTS_MS:
            context.route("**/*.js", _held_back)
        return context

    monkeypatch.setattr(browser, "new_context", watched_context)
    yield errors
    assert errors == [], "the browser console showed errors:\n" + "\n".join(errors)
