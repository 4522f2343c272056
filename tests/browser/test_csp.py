"""htmx works under the nonce-based Content-Security-Policy, in a real browser.

Every page a signed-in person can open (found by walking the URL conf) loads without a single
CSP violation, htmx is running on it, and a declarative htmx request (hx-post, with the CSRF
header htmx takes from the body's hx-headers) completes and swaps its answer in.
"""

import pytest

from tests.browser.test_publish_flow import log_in
from tests.urlwalk import build_world, every_kwargs, routes

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Runs before any page script (through the DevTools protocol, so the CSP does not apply to it).
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(`${event.violatedDirective} blocked ${event.blockedURI}`);
});
"""


# Every page a person opens: visiting fewer than these means the walk or the probe broke.
KNOWN_PAGES = {
    "login",
    "sequence_list",
    "sequence_new",
    "sequence_edit",
    "sequence_publish",
    "sequence_import",
    "sequence_schedule",
    "sequence_review",
    "sequence_history",
    "sequence_revision",
}


def page_urls(sequence):
    """(route name, its URLs) for every route of the app, addressed with each real object of
    `sequence` it can take (a step's template search answers for an email step, not a call
    step). Logging out would end the session; health checks are not pages."""
    urls = []
    for route in routes():
        if route.is_admin or route.name in {"logout", "healthz"}:
            continue
        variants = every_kwargs(route, sequence)
        assert variants, f"the test world has nothing for {route.pattern}"
        urls.append((route.name, [route.url(kwargs) for kwargs in variants]))
    return urls


def why_not_a_page(probe):
    """Why a GET of a route is not a page to check, or None when it is one. Only these
    reasons are accepted; anything else (403, 404, 500, ...) fails the test."""
    if probe.status == 405:
        return "POST only"
    if 300 <= probe.status < 400:
        return f"redirects to {probe.headers['location']}"
    if probe.status != 200:
        return None  # not a reason: the page itself is asserted to load
    if not probe.headers.get("content-type", "").startswith("text/html"):
        return f"a download ({probe.headers.get('content-type')})"
    if not probe.text().lstrip().lower().startswith("<!doctype html"):
        return "an htmx fragment"
    return None


@pytest.fixture
def watched_page(page):
    console = []
    page.on(
        "console",
        lambda message: (
            console.append(message.text)
            if "Content Security Policy" in message.text or "Refused to" in message.text
            else None
        ),
    )
    page.add_init_script(RECORD_VIOLATIONS)
    page.console_csp = console
    return page


def violations(page):
    return page.evaluate("window.__cspViolations") + page.console_csp


def test_no_page_violates_the_csp_and_htmx_runs_on_each(
    watched_page, live_server, sandbox, synced, django_user_model
):
    world = build_world(django_user_model)  # a user with every role; comments, revisions, ...
    page = watched_page
    log_in(page, live_server, "root", "root-password-1")
    urls = page_urls(world.a)
    visited, skipped = [], {}

    for name, candidates in urls:
        # The first of the route's URLs that answers (a page, or a reason it is none).
        probes = [
            (url, page.request.get(f"{live_server.url}{url}", max_redirects=0))
            for url in candidates
        ]
        answered = [
            (url, probe) for url, probe in probes if probe.status < 400 or probe.status == 405
        ]
        assert answered, f"{name}: " + ", ".join(f"{url} {probe.status}" for url, probe in probes)
        url, probe = answered[0]
        reason = why_not_a_page(probe)
        if reason is not None:
            skipped[name] = reason
            continue
        response = page.goto(f"{live_server.url}{url}")
        assert response.ok, url
        page.wait_for_load_state("networkidle")
        assert page.evaluate("typeof window.htmx") == "object", f"htmx did not load on {url}"
        assert "'nonce-" in response.headers["content-security-policy"]
        assert violations(page) == [], url
        visited.append((name, url))

    # Every route found was either visited or skipped for one of the reasons above.
    visited_names = {name for name, _ in visited}
    assert len(visited) + len(skipped) == len(urls), (visited, skipped)
    assert visited_names >= KNOWN_PAGES, f"not visited: {KNOWN_PAGES - visited_names}: {skipped}"
    visited_paths = {url for _, url in visited}
    for name, reason in skipped.items():
        if reason.startswith("redirects to "):
            target = reason.removeprefix("redirects to ").split("?")[0]
            assert target in visited_paths, f"{name} {reason}, a page not checked"


def test_an_htmx_request_completes_under_the_csp(
    watched_page, live_server, sandbox, synced, user, example_sequence
):
    page = watched_page
    log_in(page, live_server, "alice", "alice-password-1")
    page.goto(f"{live_server.url}/")
    # A declarative htmx button, as the app's own templates write them: htmx must read the
    # attributes, send the CSRF header from <body hx-headers>, and swap the answer in.
    page.evaluate(
        """() => {
          const button = document.createElement("button");
          button.textContent = "Probe";
          button.setAttribute("hx-post", "/templates/sync/");
          button.setAttribute("hx-target", "#probe-result");
          button.setAttribute("hx-select", "main");
          const result = document.createElement("div");
          result.id = "probe-result";
          document.body.append(button, result);
          htmx.process(button);
        }"""
    )

    with page.expect_response("**/templates/sync/") as answer:
        page.get_by_role("button", name="Probe").click()

    request = answer.value.request
    assert request.headers.get("hx-request") == "true"
    assert request.headers.get("x-csrftoken")
    assert answer.value.status in (200, 302)
    page.locator("#probe-result main").wait_for()
    assert (
        "Templates synced" in page.locator("#probe-result").inner_text()
        or page.locator("#probe-result").get_by_role("heading").count()
    )
    assert violations(page) == []


def test_an_inline_script_without_the_nonce_is_blocked(
    watched_page, live_server, user, console_errors
):
    """The policy is really enforced: what an injected <script> would do does not happen."""
    page = watched_page
    log_in(page, live_server, "alice", "alice-password-1")
    page.evaluate(
        """() => {
          const script = document.createElement("script");
          script.textContent = "window.__injected = true";
          document.body.append(script);
        }"""
    )

    assert page.evaluate("window.__injected === undefined")
    page.wait_for_function("window.__cspViolations.length > 0")
    assert any("script-src" in v for v in violations(page))
    # The violation this test provoked on purpose is the only console error it may leave.
    expected = [error for error in console_errors if "Executing inline script violates" in error]
    assert len(expected) == 1
    console_errors.remove(expected[0])
