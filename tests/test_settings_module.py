"""Production settings refuse to start without what they cannot guess (in a fresh process)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run_check(**env_overrides):
    env = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "ALLOWED_HOSTS"}}
    env |= {"DJANGO_SETTINGS_MODULE": "sequence_builder.settings", "DEBUG": "false"}
    env |= env_overrides
    return subprocess.run(  # noqa: S603
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("env", "missing"),
    [
        ({"ALLOWED_HOSTS": "example.com"}, "SECRET_KEY is not set"),
        ({"SECRET_KEY": "x" * 50}, "ALLOWED_HOSTS is not set"),
    ],
)
def test_missing_production_setting_stops_start_with_a_clear_message(env, missing):
    result = run_check(**env)

    assert result.returncode != 0
    assert missing in result.stderr


def test_complete_production_settings_start():
    result = run_check(SECRET_KEY="x" * 50, ALLOWED_HOSTS="example.com")

    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    "url",
    ["ftp://api.close.com/api/v1/", "api.close.com/api/v1/", "javascript:alert(1)", "https://"],
)
def test_a_close_url_that_is_not_http_stops_start_and_make_run_with_a_clear_message(url, tmp_path):
    production = {"SECRET_KEY": "x" * 50, "ALLOWED_HOSTS": "example.com"}
    result = run_check(CLOSE_API_URL=url, **production)

    assert result.returncode != 0
    assert "CLOSE_API_URL must be an http:// or https:// address" in result.stderr

    env = {**os.environ, "CLOSE_API_KEY": "a-key", "CLOSE_API_URL": url}
    env |= {"RUN_VAR_DIR": str(tmp_path), "RUN_ADDRESS": "127.0.0.1:0"}
    run = subprocess.run(  # noqa: S603
        [sys.executable, "scripts/run.py"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode != 0
    assert "Cannot start: CLOSE_API_URL must be an http:// or https:// address" in run.stderr
    assert "Traceback" not in run.stderr
