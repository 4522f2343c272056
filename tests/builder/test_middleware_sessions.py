"""Sessions end after SESSION_IDLE_TIMEOUT without a request, and SESSION_MAX_AGE after log-in
whatever the activity (builder/middleware.py, SessionTimeoutMiddleware)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.urls import reverse

from builder import middleware

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parent.parent.parent
IDLE = 2 * 3600
MAXIMUM = 12 * 3600


@pytest.fixture(autouse=True)
def policy(settings):
    settings.SESSION_IDLE_TIMEOUT = IDLE
    settings.SESSION_MAX_AGE = MAXIMUM


class Clock:
    def __init__(self, monkeypatch):
        self.now = middleware._now()
        monkeypatch.setattr(middleware, "_now", lambda: self.now)

    def advance(self, seconds):
        self.now += seconds


@pytest.fixture
def clock(monkeypatch):
    return Clock(monkeypatch)


def log_in(client):
    response = client.post("/login/", {"username": "alice", "password": "alice-password-1"})
    assert response.status_code == 302
    return response


def is_logged_in(client):
    return client.get(reverse("sequence_list")).status_code == 200


def test_a_session_ends_after_the_idle_timeout(client, user, clock):
    log_in(client)
    clock.advance(IDLE + 1)

    response = client.get(reverse("sequence_list"))

    assert response.status_code == 302
    assert response["Location"].startswith("/login/")
    assert "_auth_user_id" not in client.session


def test_activity_keeps_a_session_alive_past_the_idle_timeout(client, user, clock):
    log_in(client)
    for _ in range(4):  # 4 × (idle - 5 min): well past one idle timeout, never idle that long
        clock.advance(IDLE - 300)
        assert is_logged_in(client)


def test_a_session_ends_at_the_absolute_maximum_however_active(client, user, clock):
    log_in(client)
    elapsed = 0
    while elapsed + 1800 < MAXIMUM:
        clock.advance(1800)
        elapsed += 1800
        assert is_logged_in(client)

    clock.advance(MAXIMUM - elapsed + 1)

    assert not is_logged_in(client)


def test_the_cookie_and_the_stored_session_expire_with_the_idle_timeout(client, user, settings):
    response = log_in(client)

    assert settings.SESSION_COOKIE_AGE == settings.SESSION_IDLE_TIMEOUT
    assert response.cookies["sessionid"]["max-age"] == settings.SESSION_COOKIE_AGE


def test_a_session_without_a_log_in_time_gets_one_rather_than_living_forever(client, user, clock):
    client.force_login(user)  # as a session from before this policy: no log-in time in it
    elapsed = 0
    while elapsed < MAXIMUM - 1800:
        assert is_logged_in(client)
        clock.advance(1800)
        elapsed += 1800

    clock.advance(1801)

    assert not is_logged_in(client)


def test_the_policy_is_read_from_the_environment():
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "sequence_builder.settings",
        "DEBUG": "true",
        "SESSION_IDLE_TIMEOUT": "900",
        "SESSION_MAX_AGE": "3600",
    }
    code = (
        "from django.conf import settings as s; "
        "print(s.SESSION_IDLE_TIMEOUT, s.SESSION_COOKIE_AGE, s.SESSION_MAX_AGE)"
    )
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )

    assert result.stdout.split() == ["900", "900", "3600"], result.stderr


def test_an_htmx_request_after_the_session_ended_takes_the_whole_page_to_log_in(
    client, user, clock, example_sequence
):
    """An autosave after the idle timeout: htmx follows the redirect to the log-in page, which
    must not be swapped into a step card (or dropped unseen): the page goes to log-in, and
    back to the editor afterwards."""
    log_in(client)
    editor = f"http://testserver{reverse('sequence_edit', args=[example_sequence.pk])}"
    clock.advance(IDLE + 1)

    response = client.post(
        reverse("sequence_rename", args=[example_sequence.pk]),
        {"name": "Renamed", "version": example_sequence.version},
        follow=True,
        HTTP_HX_REQUEST="true",
        HTTP_HX_CURRENT_URL=editor,
    )

    assert response["HX-Redirect"] == f"/login/?next=/sequences/{example_sequence.pk}/"
    example_sequence.refresh_from_db()
    assert example_sequence.name == "My Sequence"


def test_htmx_log_in_redirects_go_only_to_this_site(client, db):
    response = client.get(
        "/login/", HTTP_HX_REQUEST="true", HTTP_HX_CURRENT_URL="https://evil.example/x"
    )

    assert response["HX-Redirect"] == "/login/"
