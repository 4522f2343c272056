"""Shared fixtures: a real local Close sandbox over HTTP, logged-in clients, headless Chromium."""

import os
import tempfile
import warnings

import pytest
from hypothesis import settings as hypothesis_settings

# Playwright's sync API runs an event loop; the live-server tests still use the ORM directly.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

from closesandbox import Sandbox
from scripts.chromium import CHROMIUM_ARGS, chromium_path

# No test asserts wall-clock time (speed is `make bench`'s): Hypothesis's default deadline of
# 200 ms per example would fail a correct property on a busy machine, e.g. beside the other
# pytest-xdist worker `make pytest` starts.
hypothesis_settings.register_profile("sequence-builder", deadline=None)
hypothesis_settings.load_profile("sequence-builder")

SANDBOX_KEY = "sandbox-test-key"  # the key tests/settings.py gives the app


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix):
    """On SQLite, test in a database file rather than Django's shared-cache memory database.

    In shared-cache memory, a second thread that writes fails at once with "database table is
    locked"; with a file, threads (the concurrency tests, the live server) lock like production
    does (WAL, busy timeout, IMMEDIATE transactions). One file per test process."""
    from django.conf import settings

    database = settings.DATABASES["default"]
    if database["ENGINE"] == "django.db.backends.sqlite3":
        name = f"sequence-builder-tests-{os.getpid()}.sqlite3"
        database.setdefault("TEST", {})["NAME"] = os.path.join(tempfile.gettempdir(), name)


@pytest.fixture(scope="session")
def _sandbox_server():
    server = Sandbox(api_keys={SANDBOX_KEY}, host="127.0.0.1", port=0).start()
    yield server
    server.stop()


@pytest.fixture
def sandbox(_sandbox_server, settings):
    """The local Close sandbox, freshly seeded, with the app's settings pointing at it."""
    _sandbox_server.reset()
    settings.CLOSE_API_URL = _sandbox_server.url
    settings.CLOSE_API_KEY = SANDBOX_KEY
    settings.CLOSE_APP_URL = f"{_sandbox_server.base_url}/_sandbox/"
    settings.CLOSE_MAX_WAIT_IN_REQUEST = 3.0
    return _sandbox_server


def make_user(django_user_model, username, *roles):
    from django.contrib.auth.models import Group

    user = django_user_model.objects.create_user(
        username=username, password=f"{username}-password-1", email=f"{username}@example.com"
    )
    # get_or_create: the groups come from a data migration, and a transactional test's flush
    # deletes them, so a later test would silently get a user without its roles.
    user.groups.set([Group.objects.get_or_create(name=role)[0] for role in roles])
    return user


@pytest.fixture
def user(django_user_model):
    """An editor (the author of most drafts in the tests)."""
    return make_user(django_user_model, "alice", "Editor")


@pytest.fixture
def other_user(django_user_model):
    """A second editor."""
    return make_user(django_user_model, "bob", "Editor")


@pytest.fixture
def reviewer(django_user_model):
    return make_user(django_user_model, "rita", "Reviewer")


@pytest.fixture
def publisher(django_user_model):
    return make_user(django_user_model, "paul", "Publisher")


@pytest.fixture
def viewer(django_user_model):
    """A signed-in team member with no role: may look, may not change anything."""
    return make_user(django_user_model, "vera")


@pytest.fixture
def logged_in(client, user):
    client.force_login(user)
    return client


# --- Browser ---------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def browser(django_db_setup):
    """Headless Chromium for the session. Set up after the test databases, so it closes before
    they are dropped: its kept-alive connections hold live-server threads, and each such thread
    a database session, which would stop PostgreSQL dropping its test database."""
    path = chromium_path()
    if not os.path.exists(path):
        message = (
            f"\n{'!' * 78}\nBROWSER TESTS SKIPPED: no Chromium at {path}. Install Debian's "
            f"'chromium' or set CHROMIUM_PATH.\n{'!' * 78}"
        )
        if os.environ.get("REQUIRE_BROWSER"):
            pytest.fail(message)
        warnings.warn(message, stacklevel=1)
        pytest.skip(message)
    from playwright.sync_api import expect, sync_playwright

    # Generous waits: they cost nothing when the page is on time, and a CI machine running the
    # suite twice (SQLite, PostgreSQL) on two cores is sometimes slow to paint.
    expect.set_options(timeout=10_000)

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.set_default_timeout(20_000)
    yield page
    context.close()


# --- Data ------------------------------------------------------------------------------------
EXAMPLE_EMAIL_1 = "tmpl_00jcushDRuoBBS5sSTUAbNt4dPpBUhlJqQafVfzzRJn"
EXAMPLE_EMAIL_2 = "tmpl_l12k3as9d008324ljeANFTyS239048asdFdsVfnzaln"


@pytest.fixture
def synced(sandbox, db):
    """The sandbox's templates in the local cache, as after pressing "Sync templates"."""
    from builder.template_sync import sync_templates

    return sync_templates()


@pytest.fixture
def example_sequence(db, user):
    """Close's documented example as a draft: call; email after 1 day; reply after 3 days."""
    from builder.models import Sequence, Step

    sequence = Sequence.create_draft(
        name="My Sequence", timezone_name="America/Los_Angeles", user=user
    )
    Step.objects.bulk_create(
        Step.close_example(sequence, first_email=EXAMPLE_EMAIL_1, second_email=EXAMPLE_EMAIL_2)
    )
    return sequence


def approve(sequence, user):
    """Record the sequence's rows as its current revision (saved by its last editor) and let
    `user` approve that revision (publishing needs Approved at the current revision)."""
    from builder.models import Sequence

    author = sequence.updated_by or sequence.created_by or user
    with sequence.editing(user=author, loaded_version=sequence.version, summary="Ready"):
        pass
    sequence.approved_revision = sequence.revisions.get(number=sequence.version)
    sequence.change_status(Sequence.Status.APPROVED, user=user, note="Approved in a test.")
    return sequence


@pytest.fixture
def approved_sequence(example_sequence, reviewer):
    """Close's example, approved at its current revision: ready for a Publisher."""
    return approve(example_sequence, reviewer)


@pytest.fixture(autouse=True)
def _finish_background_jobs():
    """A test ends only when the jobs it started (a publish from a page) have: none may write
    into the next test's database."""
    yield
    from builder import jobs

    if not jobs.wait_all(timeout=60):
        pytest.fail("a background job this test started was still running after 60 s")


@pytest.fixture
def jobs_inline(settings):
    """Background jobs (publishing) run in the calling thread, inside the test's transaction."""
    settings.BUILDER_RUN_JOBS_INLINE = True


def mark_published(sequence, *, close_sequence, user):
    """Record a publish without Close (review and notification tests need a published draft):
    Close's ids on the sequence and its steps, the current revision as the published one."""
    from django.utils import timezone

    from builder.models import Sequence, Step

    sequence.close_id = close_sequence["id"]
    sequence.published_at = timezone.now()
    sequence.published_by = user
    sequence.published_revision = sequence.revisions.order_by("-number").first()
    sequence.save(update_fields=["close_id", "published_at", "published_by", "published_revision"])
    if sequence.status != Sequence.Status.PUBLISHED:
        sequence.change_status(Sequence.Status.PUBLISHED, user=user, note="Published to Close.")
    steps = sequence.ordered_steps()
    for step, close_step in zip(steps, close_sequence.get("steps") or [], strict=False):
        step.close_id = close_step.get("id") or ""
    Step.objects.bulk_update(steps, ["close_id"])
