"""Production settings refuse to start without what they cannot guess (in a fresh process)."""

import json
import os
import shutil
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


# --- The developer's .env ----------------------------------------------------------------------
HOSTILE_DOTENV = """\
DEBUG=true
SECRET_KEY=from-the-dotenv-file
ALLOWED_HOSTS=evil.example
DATABASE_URL=postgres://evil:evil@db.evil.example:5432/evil
CLOSE_API_KEY=dotenv-close-key
CLOSE_API_URL=https://close.evil.example/api/v1/
LOGIN_FAILURE_LIMIT=1
DATA_UPLOAD_MAX_NUMBER_FIELDS=10
"""
SHOWN = [
    "DEBUG",
    "SECRET_KEY",
    "ALLOWED_HOSTS",
    "CLOSE_API_KEY",
    "CLOSE_API_URL",
    "LOGIN_FAILURE_LIMIT",
    "DATA_UPLOAD_MAX_NUMBER_FIELDS",
]
PRINT_SETTINGS = (
    "import json; from django.conf import settings as s; print(json.dumps({"
    + ", ".join(f"{name!r}: s.{name}" for name in SHOWN)
    + ", 'DATABASE_HOST': s.DATABASES['default'].get('HOST', '')}))"
)


def settings_in_a_copy(tmp_path, module):
    """The settings `module` gives in a copy of the project with a hostile .env beside its
    manage.py, started with nothing of those names in the environment."""
    copy = tmp_path / "project"
    shutil.copytree(ROOT / "sequence_builder", copy / "sequence_builder")
    shutil.copytree(ROOT / "builder", copy / "builder")  # settings check CLOSE_API_URL with it
    (copy / "tests").mkdir()
    shutil.copy(ROOT / "tests" / "__init__.py", copy / "tests")
    shutil.copy(ROOT / "tests" / "settings.py", copy / "tests")
    shutil.copy(ROOT / "manage.py", copy)
    (copy / ".env").write_text(HOSTILE_DOTENV)
    names = {line.split("=")[0] for line in HOSTILE_DOTENV.splitlines()}
    env = {k: v for k, v in os.environ.items() if k not in names | {"ENV_FILE"}}
    env |= {"DJANGO_SETTINGS_MODULE": module, "PYTHONPATH": str(copy)}
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-c", PRINT_SETTINGS],
        cwd=copy,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_the_app_reads_a_dotenv_file_beside_manage_py(tmp_path):
    # The control: the same copy under the app's own settings does take the file's values.
    seen = settings_in_a_copy(tmp_path, "sequence_builder.settings")

    assert seen["DEBUG"] is True
    assert seen["SECRET_KEY"] == "from-the-dotenv-file"
    assert seen["LOGIN_FAILURE_LIMIT"] == 1
    assert seen["DATABASE_HOST"] == "db.evil.example"


def test_the_tests_settings_ignore_the_developers_dotenv(tmp_path):
    seen = settings_in_a_copy(tmp_path, "tests.settings")

    assert seen == {
        "DEBUG": False,
        "SECRET_KEY": "tests-only-secret-key",
        "ALLOWED_HOSTS": ["testserver", "localhost", "127.0.0.1"],
        "CLOSE_API_KEY": "sandbox-test-key",
        "CLOSE_API_URL": "http://127.0.0.1:9/api/v1/",
        "LOGIN_FAILURE_LIMIT": 5,
        "DATA_UPLOAD_MAX_NUMBER_FIELDS": 5000,
        "DATABASE_HOST": "",
    }
