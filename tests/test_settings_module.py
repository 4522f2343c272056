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
