"""Static files as production serves them: `collectstatic` into a temporary STATIC_ROOT with the
production storage (hashed names in a manifest, compressed copies), DEBUG off, and whitenoise
serving only what was collected (no finders). Every page of the URL conf renders, and every
static file a page references is in the manifest and served.

Everywhere else the tests serve static files from the finders (tests/settings.py), where a
{% static %} naming a file that does not exist still renders."""

import json
import re
import shutil
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import Client

import sequence_builder.settings as production
from tests.urlwalk import build_world, every_kwargs, routes

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parent.parent
HTMX = {"HTTP_HX_REQUEST": "true"}
STATIC_REFERENCE = re.compile(r'(?:src|href)="/static/([^"?#]+)')
TEMPLATE_STATIC = re.compile(r"{%\s*static\s+['\"]([^'\"]+)['\"]")


def collect(settings, static_root, source=None):
    """collectstatic as `make serve` runs it, into `static_root`; `source` replaces the
    project's static/ folder."""
    assert "Manifest" in production.STORAGES["staticfiles"]["BACKEND"]
    settings.DEBUG = False
    settings.STORAGES = {**settings.STORAGES, "staticfiles": production.STORAGES["staticfiles"]}
    settings.STATIC_ROOT = str(static_root)
    settings.WHITENOISE_USE_FINDERS = False
    settings.WHITENOISE_AUTOREFRESH = False
    if source is not None:
        settings.STATICFILES_DIRS = [
            source if entry == production.BASE_DIR / "static" else entry
            for entry in production.STATICFILES_DIRS
        ]
    call_command("collectstatic", interactive=False, verbosity=0)
    manifest = json.loads((static_root / "staticfiles.json").read_text())
    return manifest["paths"]


def walk(world):
    """GET every route (each object it can address; plain and htmx) as a user with every role,
    the log-in page signed out, and the 404 and 400 pages. Returns the problems found and the
    static paths the pages referenced."""
    problems, referenced = [], set()

    def look(client, url, **extra):
        try:
            response = client.get(url, **extra)
        except Exception as error:  # what a production 500 would hide: say which file
            problems.append(f"GET {url}: {type(error).__name__}: {error}")
            return
        if response.status_code >= 500:
            problems.append(f"GET {url}: {response.status_code}")
        elif "html" in response.get("Content-Type", ""):
            referenced.update(STATIC_REFERENCE.findall(response.content.decode()))

    client = Client()  # a fresh one: its whitenoise reads the settings above
    client.force_login(world.root)
    for route in routes():
        if route.name == "logout":
            continue
        for kwargs in every_kwargs(route, world.a):
            url = route.url(kwargs)
            look(client, url)
            look(client, url, **HTMX)
    look(Client(), "/login/")
    look(client, "/no/such/page/")
    look(client, "/", HTTP_HOST="evil.example")
    return problems, referenced


def test_every_page_renders_and_gets_its_static_files_as_production_serves_them(
    settings, tmp_path, django_user_model, synced
):
    paths = collect(settings, tmp_path / "staticfiles")
    world = build_world(django_user_model)

    problems, referenced = walk(world)

    assert problems == []
    # Every reference is a hashed name from the manifest, served by whitenoise, cached forever.
    assert referenced and referenced <= set(paths.values()), referenced - set(paths.values())
    client = Client()
    for name in sorted(referenced):
        response = client.get(f"/static/{name}")
        assert response.status_code == 200, name
        assert b"".join(response.streaming_content), name
        assert "max-age=315360000" in response["Cache-Control"], name
    # Not vacuous: each file the app's templates name was referenced by some page.
    named = {
        match
        for template in (ROOT / "templates").rglob("*.html")
        for match in TEMPLATE_STATIC.findall(template.read_text())
    }
    assert named and {paths[name] for name in named} <= referenced


def test_a_static_file_missing_from_the_collection_fails_the_walk(
    settings, tmp_path, django_user_model, synced
):
    source = tmp_path / "static"
    shutil.copytree(ROOT / "static", source)
    (source / "css" / "app.css").unlink()  # every page's stylesheet
    collect(settings, tmp_path / "staticfiles", source=source)
    world = build_world(django_user_model)

    problems, _ = walk(world)

    assert problems
    assert all("Missing staticfiles manifest entry for 'css/app.css'" in p for p in problems)
