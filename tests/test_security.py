"""Security properties of every page, proven by walking the URL conf (new routes are included
automatically): log-in required, object-level access, CSRF, the Close key never shown or
logged, user text escaped, production settings hardened."""

import base64
import html
import io
import json
import logging
import os
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import quote

import pytest
from django.test import Client
from django.urls import reverse

from closesandbox import Sandbox
from sequence_builder.log_filters import HideCloseKey
from tests.urlwalk import (
    XSS,
    build_world,
    every_kwargs,
    fingerprint,
    has_child_objects,
    plausible_data,
    routes,
    sample_kwargs,
)

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parent.parent
# Routes anyone may open without logging in. Adding one here is a security decision.
# (Admin's log-in URL redirects to the app's throttled form, so it counts as "asks to log in".)
PUBLIC = {"login", "healthz"}
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def world(django_user_model, synced):
    return build_world(django_user_model)


def app_routes():
    return [route for route in routes() if not route.is_admin]


def url_for(route, world, **options):
    kwargs = sample_kwargs(route, world.a, **options)
    if kwargs is None:
        pytest.fail(f"{route.name}: the test world has no object for {route.pattern}")
    return route.url(kwargs)


def redirects_to_login(response):
    location = response.get("Location", "")
    return response.status_code == 302 and location.startswith(("/login/", "/admin/login/"))


# --- Log-in required ---------------------------------------------------------------------------
def test_every_url_requires_login_except_login_static_and_healthz(client, world):
    answered_anonymously = {}
    for route in routes():
        url = url_for(route, world)
        for method, extra in [("get", {}), ("post", {}), ("get", HTMX), ("post", HTMX)]:
            response = getattr(client, method)(url, **extra)
            assert response.status_code < 500, f"{method.upper()} {url}"
            if not redirects_to_login(response):
                answered_anonymously.setdefault(route.name, set()).add(response.status_code)

    assert set(answered_anonymously) == PUBLIC, answered_anonymously


def test_public_pages_show_no_team_data(client, world):
    for name in ("login", "healthz"):
        response = client.get("/healthz" if name == "healthz" else "/login/")
        assert world.a.name not in response.text
        assert world.root.email not in response.text


def test_static_files_are_served_without_login(client, db):
    response = client.get("/static/css/app.css")

    assert response.status_code == 200
    assert b"".join(response.streaming_content)


# --- Object-level access -----------------------------------------------------------------------
def test_every_sequence_url_answers_404_for_a_sequence_that_does_not_exist(client, world):
    client.force_login(world.root)
    missing = world.a.pk + world.b.pk + 1000
    sequence_routes = [route for route in app_routes() if route.takes_sequence]
    assert sequence_routes, "the walk found no sequence URLs"

    for route in sequence_routes:
        kwargs = sample_kwargs(route, world.a) | {"sequence_id": missing}
        url = route.url(kwargs)
        for method, extra in [("get", {}), ("post", {}), ("post", HTMX)]:
            response = getattr(client, method)(url, plausible_data(world.a), **extra)
            assert response.status_code in (404, 405), f"{method.upper()} {url}"


def test_objects_of_another_sequence_are_refused_under_this_sequence(client, world):
    """A step or comment id of sequence B in a URL of sequence A is refused and changes
    nothing, for a user who may do everything (so only the object check can stop it)."""
    client.force_login(world.root)
    before = fingerprint(world.b), fingerprint(world.a)
    checked = 0

    for route in app_routes():
        if not (route.takes_sequence and has_child_objects(route)):
            continue
        checked += 1
        url = route.url(sample_kwargs(route, world.a, child_of=world.b))
        for method in ("get", "post"):
            response = getattr(client, method)(url, plausible_data(world.a))
            # "not found", or the page's own refusal message (400/409) — never success.
            assert 400 <= response.status_code < 500, f"{method.upper()} {url}"
        # htmx answers refusals with 200 and the message in the fragment; the data decides.
        assert client.post(url, plausible_data(world.a), **HTMX).status_code < 500, url
        assert (fingerprint(world.b), fingerprint(world.a)) == before, f"POST {url}"

    assert checked or not any(has_child_objects(route) for route in app_routes())


def test_a_member_without_roles_can_read_but_not_change_anything(client, world, viewer):
    from builder.models import Sequence

    client.force_login(viewer)
    before = [fingerprint(world.a), fingerprint(world.b)], Sequence.objects.count()

    for route in app_routes():
        url = url_for(route, world)
        if route.name == "logout":
            continue
        for extra in ({}, HTMX):
            response = client.post(url, plausible_data(world.a), **extra)
            assert response.status_code < 500, f"POST {url}"
        response = client.get(url)
        assert response.status_code < 500, f"GET {url}"

    assert ([fingerprint(world.a), fingerprint(world.b)], Sequence.objects.count()) == before


def test_every_form_post_is_csrf_protected(world):
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.root)

    for route in app_routes():
        url = url_for(route, world)
        response = client.post(url, plausible_data(world.a), **HTMX)
        assert response.status_code == 403, f"POST {url} without a CSRF token"
        assert "CSRF" in response.text


# --- The Close key -----------------------------------------------------------------------------
GOOD_KEY = "api_7Zq2LeakCanaryGOOD0123456789abcdefXYZ"
BAD_KEY = "api_9Wm4LeakCanaryBAD9876543210fedcbaQRS"


def key_forms():
    forms = []
    for key in (GOOD_KEY, BAD_KEY):
        forms += [key, base64.b64encode(f"{key}:".encode()).decode(), key[4:20]]
    return forms


@pytest.fixture
def leak_sandbox(settings):
    server = Sandbox(api_keys={GOOD_KEY}, host="127.0.0.1", port=0).start()
    settings.CLOSE_API_KEY = GOOD_KEY
    settings.CLOSE_API_URL = server.url
    settings.CLOSE_APP_URL = f"{server.base_url}/_sandbox/"
    settings.CLOSE_MAX_WAIT_IN_REQUEST = 1.0
    yield server
    server.stop()


@pytest.fixture
def console_output():
    """What the app's configured log handlers actually print (they carry the key filter)."""
    handlers = [
        handler
        for handler in logging.getLogger().handlers
        if any(isinstance(f, HideCloseKey) for f in handler.filters)
    ]
    assert handlers, "LOGGING in settings lost its key filter"
    stream = io.StringIO()
    old = [handler.setStream(stream) for handler in handlers]
    yield stream
    for handler, previous in zip(handlers, old, strict=True):
        handler.setStream(previous)


class Seen:
    def __init__(self):
        self.texts = []

    def add(self, response, label):
        content = b"".join(response.streaming_content) if response.streaming else response.content
        headers = "\n".join(f"{k}: {v}" for k, v in response.items())
        cookies = response.cookies.output()
        self.texts.append((label, content.decode(errors="replace") + headers + cookies))
        return response

    def assert_no_key(self):
        assert len(self.texts) > 20, "the walk saw too few responses to prove anything"
        for label, text in self.texts:
            for form in key_forms():
                assert form not in text, f"the Close key appears in the response to {label}"


def test_the_close_key_never_appears_in_responses_logs_or_error_pages(
    client, world, leak_sandbox, settings, caplog, console_output, monkeypatch
):
    from builder import template_sync

    caplog.set_level(logging.DEBUG)
    client.raise_request_exception = False
    client.force_login(world.root)
    seen = Seen()
    template_sync.sync_templates()

    # Every page and every form, as a user with every role; publishing really talks to Close.
    for route in routes():
        url = url_for(route, world)
        responses = []
        for kwargs in every_kwargs(route, world.a):
            other = route.url(kwargs)
            responses.append(seen.add(client.get(other), f"GET {other}"))
            responses.append(seen.add(client.get(other, **HTMX), f"htmx GET {other}"))
        if not route.is_admin and route.name != "logout":
            for extra in ({}, HTMX):
                response = client.post(url, plausible_data(world.a), **extra)
                responses.append(seen.add(response, f"POST {url}"))
        assert all(r.status_code < 500 for r in responses), url

    # Close failing in each way the client knows, then refusing the key.
    for fault in [
        {"kind": "error", "status": 500},
        {"kind": "error", "status": 503},
        {"kind": "rate_limit", "reset": 30},
        {"kind": "drop"},
        {"kind": "malformed"},
        {"kind": "unauthorized"},
    ]:
        leak_sandbox.inject(fault.pop("kind"), method=None, path="/", times=10, **fault)
        seen.add(client.post("/templates/sync/", {}), f"sync with {fault}")
        seen.add(client.post(f"/sequences/{world.b.pk}/publish/", {}), f"publish with {fault}")
        leak_sandbox.clear_faults()
    settings.CLOSE_API_KEY = BAD_KEY
    seen.add(client.post("/templates/sync/", {}), "sync with a refused key")
    seen.add(client.post(f"/sequences/{world.b.pk}/publish/", {}), "publish with a refused key")

    # Error pages: 404, 403, 400 (bad host), and 500 from an exception that carries the key.
    seen.add(client.get("/no/such/page/"), "404")
    seen.add(client.get("/", HTTP_HOST="evil.example"), "400 bad host")

    def broken(*args, **kwargs):
        api_key = settings.CLOSE_API_KEY  # a local in the traceback's frame, as in real bugs
        raise RuntimeError(f"could not reach https://{api_key}:@api.close.com/api/v1/")

    # Every page renders through this function: it is where the bug is made to happen.
    monkeypatch.setattr("django.template.loader.render_to_string", broken)
    edit_url = f"/sequences/{world.a.pk}/"
    assert seen.add(client.get(edit_url), "500").status_code == 500
    settings.DEBUG = True  # the developer's error page shows local variables: still hidden
    debug_page = seen.add(client.get(edit_url), "500 with DEBUG")
    assert debug_page.status_code == 500
    assert "could not reach https://[hidden]:@api.close.com" in debug_page.text

    seen.assert_no_key()
    printed = console_output.getvalue()
    assert "Internal Server Error" in printed and "could not reach" in printed
    for form in key_forms():
        assert form not in printed, "the Close key was printed to the log"
        assert form not in caplog.text
        for record in caplog.records:
            assert form not in record.getMessage()


# --- Escaping ----------------------------------------------------------------------------------
class ActiveContentFinder(HTMLParser):
    """Collects every way the page could run script that the server did not put there."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.problems = []
        self._in_script = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for name, value in attrs.items():
            if name.startswith("on"):
                self.problems.append(f"<{tag} {name}={value!r}>")
            if name in ("href", "src", "action", "formaction") and (
                value or ""
            ).strip().lower().startswith(("javascript:", "data:text/html")):
                self.problems.append(f"<{tag} {name}={value!r}>")
            if name == "srcdoc" and (
                "sandbox" not in attrs or "allow-scripts" in (attrs.get("sandbox") or "")
            ):
                self.problems.append(f"<{tag} srcdoc> without a script-free sandbox")
        if tag == "script" and attrs.get("type") == "application/json":
            return  # data for a script (json_script escapes <, > and &), never run
        if tag == "script":
            if not attrs.get("src") and not attrs.get("nonce"):
                self.problems.append("<script> without src or nonce")
            self._in_script = ""

    def handle_data(self, data):
        if self._in_script is not None:
            self._in_script += data

    def handle_endtag(self, tag):
        if tag == "script" and self._in_script is not None:
            if "alert(" in self._in_script:
                self.problems.append(f"script body {self._in_script[:80]!r}")
            self._in_script = None


def active_content(html):
    finder = ActiveContentFinder()
    finder.feed(html)
    return finder.problems


def test_the_checker_finds_what_it_is_meant_to_find():
    assert active_content(XSS)
    assert active_content('<a href="javascript:alert(1)">x</a>')
    assert active_content('<iframe srcdoc="&lt;script&gt;"></iframe>')
    assert not active_content('<script src="/static/x.js"></script><p>&lt;script&gt;</p>')


@pytest.fixture
def hostile_world(django_user_model, sandbox, synced):
    """Names, comments, notes, Close's messages and template names/bodies all hostile."""
    from builder import template_sync

    sandbox.update_template(
        "tmpl_0gMIs4xwhr0jMypNPulMqlXC94Y9wgT7Z5giUb3BBjL", name=f"Webinar {XSS}"
    )
    template_sync.sync_templates()
    return build_world(django_user_model, text=XSS)


def test_user_text_is_escaped_on_every_page(client, hostile_world):
    from builder.models import CloseTemplate

    hostile = CloseTemplate.objects.get(close_id="tmpl_0gMIs4xwhr0jMypNPulMqlXC94Y9wgT7Z5giUb3BBjL")
    assert "<script>alert(1)</script>" in hostile.body and "onerror" in hostile.body
    client.force_login(hostile_world.root)
    pages = bodies_shown = 0

    for route in routes():
        for kwargs in every_kwargs(route, hostile_world.a):
            url = route.url(kwargs)
            for extra in ({}, HTMX):
                response = client.get(url, **extra)
                if response.status_code != 200 or "html" not in response.get("Content-Type", ""):
                    continue
                pages += 1
                html = response.content.decode()
                problems = active_content(html)
                assert not problems, f"GET {url}: {problems}"
                bodies_shown += "Join our live webinar" in html

    assert pages >= 4
    # Not vacuous: the hostile template's body really is shown (sanitised) somewhere.
    assert bodies_shown, "no page showed a template body: nothing was checked"
    page = client.get(f"/sequences/{hostile_world.a.pk}/").content.decode()
    assert "&lt;script&gt;alert(&#x27;xss-name&#x27;)&lt;/script&gt;" in page


# --- Production settings -----------------------------------------------------------------------
PRODUCTION_ENV = {
    "DJANGO_SETTINGS_MODULE": "sequence_builder.settings",
    "DEBUG": "false",
    "SECRET_KEY": "production-like-secret-" + "k" * 40,
    "ALLOWED_HOSTS": "sequences.example.com",
}


def manage(*args, **env):
    environment = {
        k: v
        for k, v in os.environ.items()
        if k
        not in {"SECRET_KEY", "ALLOWED_HOSTS", "SECURE_SSL_REDIRECT", "DEBUG"}
        | {"DJANGO_ALLOW_ASYNC_UNSAFE"}  # set by conftest for Playwright; never in production
    }
    return subprocess.run(  # noqa: S603
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=environment | PRODUCTION_ENV | env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_is_clean_under_production_settings():
    result = manage("check", "--deploy", "--fail-level", "DEBUG")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_settings_harden_cookies_hsts_and_framing():
    code = (
        "from django.conf import settings as s; print("
        "s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SESSION_COOKIE_HTTPONLY, "
        "s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS >= 31536000, "
        "s.SECURE_HSTS_INCLUDE_SUBDOMAINS, s.X_FRAME_OPTIONS, s.SECURE_CONTENT_TYPE_NOSNIFF)"
    )
    result = manage("shell", "-c", code)

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1].split() == ["True"] * 6 + ["DENY", "True"]


def test_pages_carry_a_nonce_csp_and_frame_denial(logged_in):
    response = logged_in.get("/")

    csp = response["Content-Security-Policy"]
    assert "script-src 'self' 'nonce-" in csp
    assert "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    nonce = csp.split("'nonce-")[1].split("'")[0]
    assert f'nonce="{nonce}"' in response.text  # htmx's script tag carries it


# --- Request size limits -----------------------------------------------------------------------
TOO_BIG = "That request could not be used"
TOO_BIG_DETAIL = "The form sent more or different data than this page accepts. Nothing was saved."


def stored_counts():
    from builder.models import Comment, PublishAttempt, Revision, Sequence, Step

    return [model.objects.count() for model in (Sequence, Step, Revision, Comment, PublishAttempt)]


def test_an_oversized_post_is_refused_with_400_and_nothing_saved(client, world):
    client.force_login(world.root)
    before = stored_counts()
    data = {"name": "x" * (1024 * 1024 + 1), "timezone": "America/New_York"}

    response = client.post(reverse("sequence_new"), data)

    assert response.status_code == 400
    assert TOO_BIG in response.text and TOO_BIG_DETAIL in response.text
    assert stored_counts() == before


def test_an_oversized_json_body_is_refused_or_ignored_never_used(client, world):
    """Django reads only form bodies, where the size limit applies (above), and the app's
    views read forms only. So each route either refuses a JSON body over the limit (400, the
    size message) or never reads it and answers exactly as to an empty POST; nothing is
    made from it either way."""
    client.force_login(world.root)
    before = stored_counts()
    body = '{"name": "' + "x" * (1024 * 1024 + 1) + '"}'
    urls = [
        url_for(route, world) for route in app_routes() if route.name not in ("logout", "login")
    ]

    oversized = {
        url: client.post(url, body, content_type="application/json", **HTMX) for url in urls
    }

    assert stored_counts() == before
    from builder.models import Comment, Sequence

    assert not Sequence.objects.filter(name__contains="x" * 100).exists()
    assert not Comment.objects.filter(body__contains="x" * 100).exists()
    for url, response in oversized.items():
        if response.status_code == 400 and TOO_BIG in response.text:
            continue  # refused for its size
        assert response.status_code == client.post(url, **HTMX).status_code, f"POST {url}"


def test_a_large_file_upload_to_any_url_is_refused_without_a_500(client, world):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from builder.models import Sequence

    client.force_login(world.root)
    count = Sequence.objects.count()
    big = b'{"name": "' + b"x" * (3 * 1024 * 1024) + b'"}'

    for route in app_routes():
        if route.name in ("logout", "login"):
            continue
        url = url_for(route, world)
        upload = SimpleUploadedFile("sequence.json", big, content_type="application/json")
        response = client.post(url, {"file": upload, "name": "Big"})
        assert response.status_code < 500, f"POST {url}"
        assert response.status_code != 302 or route.name != "sequence_import_file", url

    assert Sequence.objects.count() == count


def test_too_many_fields_are_refused_with_400(client, world):
    from builder.models import Sequence

    client.force_login(world.root)
    count = Sequence.objects.count()
    data = {"name": "Fields", "timezone": "America/New_York"}
    data |= {f"junk-{n}": "1" for n in range(6000)}

    response = client.post(reverse("sequence_new"), data)

    assert response.status_code == 400
    assert TOO_BIG in response.text and TOO_BIG_DETAIL in response.text
    assert Sequence.objects.count() == count


class PostForms(HTMLParser):
    """The POST forms of a page and the fields each submits: named inputs, selects and
    textareas inside it or pointing at it with form="…" (buttons: only the one pressed)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.forms = {}  # id -> {"action": ..., "fields": [(name, value)]}
        self._open = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            if (attrs.get("method") or "get").lower() == "post":
                self._open = attrs.get("id") or f"form-{len(self.forms)}"
                self.forms[self._open] = {"action": attrs.get("action"), "fields": []}
            return
        if tag not in ("input", "select", "textarea") or not attrs.get("name"):
            return
        if attrs.get("type") in ("submit", "button", "reset"):
            return
        if attrs.get("type") in ("checkbox", "radio") and "checked" not in attrs:
            return
        owner = attrs.get("form") or self._open
        if owner in self.forms and "disabled" not in attrs:
            self.forms[owner]["fields"].append((attrs["name"], attrs.get("value") or ""))

    def handle_endtag(self, tag):
        if tag == "form":
            self._open = None


def post_forms(html):
    parser = PostForms()
    parser.feed(html)
    return parser.forms


EMAIL_TEMPLATE = "tmpl_0gMIs4xwhr0jMypNPulMqlXC94Y9wgT7Z5giUb3BBjL"  # in the synced cache


def test_a_200_step_sequence_is_edited_within_the_request_limits(world, settings):
    """The biggest sequence the editor allows, through the app: its page renders every card,
    and the largest posts the page makes (a card's autosave; drag and drop, which lists every
    step) fit DATA_UPLOAD_MAX_NUMBER_FIELDS and DATA_UPLOAD_MAX_MEMORY_SIZE and save, CSRF
    checks on, as a browser sends them."""
    from urllib.parse import urlencode

    from builder.models import Sequence, Step
    from builder.views.editor import MAX_STEPS

    sequence = Sequence.create_draft(name="Long", timezone_name="UTC", user=world.root)
    kinds = [
        {"step_type": "call", "threading": ""},
        {"step_type": "email", "email_template_id": EMAIL_TEMPLATE, "threading": "new_thread"},
        {"step_type": "sms", "sms_template_id": "", "threading": ""},
    ]
    with sequence.editing(user=world.root, loaded_version=sequence.version, summary="Long"):
        Step.objects.bulk_create(
            Step(sequence=sequence, position=n, delay=3600, **kinds[n % 3])
            for n in range(MAX_STEPS)
        )
    ids = [step.pk for step in sequence.ordered_steps()]
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.root)
    edit = reverse("sequence_edit", args=[sequence.pk])
    htmx = HTMX | {"HTTP_HX_CURRENT_URL": f"http://testserver{edit}"}

    def sent_within_limits(fields):
        assert len(fields) <= settings.DATA_UPLOAD_MAX_NUMBER_FIELDS
        assert len(urlencode(fields).encode()) <= settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        return fields

    # Without JavaScript, "Show every step in full" renders every card's form, in order.
    page = client.get(edit + "?cards=all")
    assert page.status_code == 200
    forms = post_forms(page.content.decode())
    cards = [f"step-{pk}-fields" for pk in ids]
    assert [name for name in forms if name in cards] == cards  # every card, in order

    # With it, the last card arrives whole as the person scrolls to it (steps_cards).
    late = client.get(
        reverse("steps_cards", args=[sequence.pk]),
        {"ids": str(ids[-1]), "version": str(sequence.version)},
        **htmx,
    )
    assert late.status_code == 200, late.content.decode()[:500]
    last = post_forms(late.content.decode())[cards[-1]]

    def unmasked(form):  # each render masks the CSRF token anew
        return form["action"], [f for f in form["fields"] if f[0] != "csrfmiddlewaretoken"]

    assert unmasked(last) == unmasked(forms[cards[-1]])
    fields = [(k, "3" if k == "days" else v) for k, v in last["fields"]]
    saved = client.post(
        last["action"],
        urlencode(sent_within_limits(fields)),
        content_type="application/x-www-form-urlencoded",
        **htmx,
    )
    assert saved.status_code == 200, saved.content.decode()[:500]
    assert Step.objects.get(pk=ids[-1]).delay == 3 * 86400 + 3600  # days 3, hours 1 as shown

    reorder = post_forms(client.get(edit).content.decode())["reorder-form"]
    fields = reorder["fields"] + [("order", str(pk)) for pk in reversed(ids)]
    moved = client.post(
        reorder["action"],
        urlencode(sent_within_limits(fields)),
        content_type="application/x-www-form-urlencoded",
        **htmx,
    )
    assert moved.status_code == 200, moved.content.decode()[:500]
    assert [step.pk for step in sequence.ordered_steps()] == ids[::-1]


def test_the_log_filter_hides_the_key_in_messages_arguments_and_tracebacks(settings):
    settings.CLOSE_API_KEY = GOOD_KEY
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "calling %s", (GOOD_KEY,), None)
    try:
        raise ValueError(f"auth={base64.b64encode(f'{GOOD_KEY}:'.encode()).decode()}")
    except ValueError:
        record.exc_info = sys.exc_info()

    assert HideCloseKey().filter(record)

    assert record.getMessage() == "calling [hidden]"
    assert "auth=[hidden]" in record.exc_text
    assert GOOD_KEY not in logging.Formatter().format(record)


def test_a_malformed_log_call_is_left_to_the_handler(settings):
    settings.CLOSE_API_KEY = GOOD_KEY
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "%s %s", ("one",), None)

    assert HideCloseKey().filter(record)  # does not raise into the code that logged


# --- A server that echoes the Authorization header ----------------------------------------------
# Its base64 holds "+", "/" and "=", so the standard, URL-safe and URL-encoded forms all differ,
# and its "?" and ">" are escaped differently in a URL and in HTML.
ECHO_KEY = "api_Umer?BH3M1>XS0DRdJuPnBIKpi99lS"
ECHO_STATUSES = (400, 402, 403, 404, 418, 200)


def echo_key_forms(key=ECHO_KEY):
    """Every encoding in which the key could reach a page or the database, by name."""
    basic = base64.b64encode(f"{key}:".encode()).decode()
    bare = base64.b64encode(key.encode()).decode()
    urlsafe = base64.urlsafe_b64encode(f"{key}:".encode()).decode()
    forms = {
        "the key": key,
        "key:": f"{key}:",
        "part of the key": key[4:20],
        "base64 of key:": basic,
        "base64 of key: without padding": basic.rstrip("="),
        "base64 of the key": bare,
        "base64 of the key without padding": bare.rstrip("="),
        "URL-safe base64 of key:": urlsafe,
        "URL-safe base64 of key: without padding": urlsafe.rstrip("="),
        "part of the base64": basic[4:28],
        "URL-encoded key": quote(key, safe=""),
        "URL-encoded base64 of key:": quote(basic, safe=""),
        "URL-encoded Basic header": quote(f"Basic {basic}", safe=""),
    }
    assert len(set(forms.values())) == len(forms), "two encodings coincide: pick another key"
    return forms


def leaks(text, where):
    text = html.unescape(text)
    return [f"{name} in {where}" for name, form in echo_key_forms().items() if form in text]


@pytest.fixture
def echo_world(settings, django_user_model, jobs_inline):
    from builder import template_sync
    from tests.conftest import make_user

    server = Sandbox(api_keys={ECHO_KEY}, host="127.0.0.1", port=0).start()
    settings.CLOSE_API_KEY = ECHO_KEY
    settings.CLOSE_API_URL = server.url
    settings.CLOSE_APP_URL = f"{server.base_url}/_sandbox/"
    settings.CLOSE_MAX_WAIT_IN_REQUEST = 1.0
    settings.CLOSE_MAX_WAIT_IN_JOB = 0.0
    settings.PUBLISH_SETTLE_SECONDS = 0.0
    template_sync.sync_templates()
    user = make_user(django_user_model, "echo", "Editor", "Reviewer", "Publisher")
    yield server, user
    server.stop()


def approved_example(name, user):
    from builder.models import Sequence, Step
    from tests.conftest import EXAMPLE_EMAIL_1, EXAMPLE_EMAIL_2, approve

    sequence = Sequence.create_draft(name=name, timezone_name="America/New_York", user=user)
    Step.objects.bulk_create(
        Step.close_example(sequence, first_email=EXAMPLE_EMAIL_1, second_email=EXAMPLE_EMAIL_2)
    )
    return approve(sequence, user)


def test_an_echoed_authorization_header_reaches_no_page_and_no_table(client, echo_world):
    """Close (or whatever answers at CLOSE_API_URL) repeats our Authorization header in its
    errors and in a 200: the publish, import and sync pages and the stored records hide it in
    every encoding."""
    import requests

    from builder.models import CloseTemplate, PublishAttempt, Sequence

    server, user = echo_world
    client.force_login(user)
    found, pages = [], 0

    def look(response, where):
        nonlocal pages
        assert response.status_code not in (500, 503), where  # 502: Close failed, said so
        pages += 1
        found.extend(leaks(response.content.decode(), where))

    for status in ECHO_STATUSES:
        # Publish: Close's answer to the create, then the page with its live checks.
        sequence = approved_example(f"Echo {status}", user)
        server.inject("echo_auth", method="POST", path="/sequence/", status=status)
        started = client.post(
            reverse("sequence_publish", args=[sequence.pk]),
            {"status": "paused", "version": sequence.version},
        )
        assert started.status_code == 302, started.content
        server.inject("echo_auth", method="GET", path="/", status=status, times=50)
        look(client.get(reverse("sequence_publish", args=[sequence.pk])), f"publish {status}")
        look(client.get(reverse("sequence_publish_progress", args=[sequence.pk])), "progress")
        server.clear_faults()

        # Import: the list of Close's sequences, and one sequence brought in.
        in_close = requests.post(
            server.url + "sequence/",
            json={
                "name": f"From Close {status}",
                "timezone": "UTC",
                "steps": [{"step_type": "call", "delay": 0, "required": True}],
            },
            auth=(ECHO_KEY, ""),
            timeout=5,
        ).json()
        server.inject("echo_auth", method="GET", path="/", status=status, times=50)
        look(client.get(reverse("sequence_import")), f"import list {status}")
        imported = client.post(
            reverse("sequence_import_close"), {"close_id": in_close["id"]}, follow=True
        )
        look(imported, f"import {status}")

        # Template sync, and the page it leads back to.
        look(client.post(reverse("templates_sync"), {}, follow=True), f"sync {status}")
        server.clear_faults()

    rows = [
        *PublishAttempt.objects.values_list("message", "response_body", "progress"),
        *Sequence.objects.values_list("name"),
        *CloseTemplate.objects.values_list("name", "subject", "body"),
    ]
    found.extend(leaks(json.dumps(rows, ensure_ascii=False), "the database"))
    assert PublishAttempt.objects.count() == len(ECHO_STATUSES)
    assert pages == 5 * len(ECHO_STATUSES)
    assert found == [], found


def test_the_log_filter_hides_every_encoding_of_the_key(settings):
    settings.CLOSE_API_KEY = ECHO_KEY
    for name, form in echo_key_forms().items():
        if name.startswith("part of"):
            continue  # only ever checked as a leftover of a whole form, never logged alone
        record = logging.LogRecord(
            "x", logging.WARNING, __file__, 1, "Close said %s", (form,), None
        )

        assert HideCloseKey().filter(record)

        assert not leaks(record.getMessage(), "the log"), name


# --- Roles on every change, Close included ---------------------------------------------------
def test_a_member_without_roles_cannot_make_the_app_call_close(client, world, viewer, sandbox):
    """Walks every app URL with a POST (plain and htmx) as a member with no role: none may
    change anything here (see above) nor make the app talk to Close on their behalf."""
    from builder.models import CloseTemplate

    client.force_login(viewer)
    cached = sorted(CloseTemplate.objects.values_list("close_id", "synced_at"))
    sandbox.reset()

    for route in app_routes():
        if route.name == "logout":
            continue
        url = url_for(route, world)
        for extra in ({}, HTMX):
            response = client.post(url, plausible_data(world.a), **extra)
            assert response.status_code < 500, f"POST {url}"
            assert sandbox.requests == [], f"POST {url} made the app call Close"

    assert sorted(CloseTemplate.objects.values_list("close_id", "synced_at")) == cached


def test_syncing_templates_needs_a_role_that_uses_them(client, world, viewer, sandbox):
    client.force_login(viewer)
    sandbox.reset()  # forget the world's own sync

    response = client.post(reverse("templates_sync"))

    assert response.status_code == 403
    assert "Only team members with a role (Editor, Reviewer or Publisher) can sync" in response.text
    assert sandbox.requests == []


@pytest.mark.parametrize("role", ["Editor", "Reviewer", "Publisher"])
def test_every_role_syncs_templates(client, django_user_model, sandbox, role):
    from builder.models import CloseTemplate
    from tests.conftest import make_user

    client.force_login(make_user(django_user_model, "sam", role))

    response = client.post(reverse("templates_sync"))

    assert response.status_code == 302
    assert CloseTemplate.objects.exists()
