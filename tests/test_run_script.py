"""`make run` (scripts/run.py): the links in review emails point where it serves the app."""

import importlib.util
from pathlib import Path

import pytest

_PATH = Path(__file__).resolve().parent.parent / "scripts" / "run.py"


@pytest.fixture
def run():
    spec = importlib.util.spec_from_file_location("run_script", _PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_site_url_defaults_to_the_address_make_run_serves_on(run):
    env = run.app_environment({"RUN_ADDRESS": "127.0.0.1:8123"})

    assert env["SITE_URL"] == "http://127.0.0.1:8123"


def test_site_url_without_run_address_is_the_default_address(run):
    assert run.app_environment({})["SITE_URL"] == "http://127.0.0.1:8000"


@pytest.mark.parametrize(
    ("address", "url"),
    [
        ("8001", "http://127.0.0.1:8001"),
        ("0.0.0.0:8002", "http://127.0.0.1:8002"),  # every interface: this machine answers too
        ("0:8003", "http://127.0.0.1:8003"),
        ("localhost:8004", "http://localhost:8004"),
        ("[::1]:8005", "http://[::1]:8005"),
        ("[::]:8006", "http://127.0.0.1:8006"),
    ],
)
def test_site_url_from_each_form_runserver_accepts(run, address, url):
    assert run.site_url(address) == url


def test_an_explicit_site_url_wins(run):
    env = run.app_environment({"RUN_ADDRESS": "127.0.0.1:8123", "SITE_URL": "https://x.example"})

    assert env["SITE_URL"] == "https://x.example"
