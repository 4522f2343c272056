"""htmx works under the nonce-based Content-Security-Policy, in a real browser.

Every page a signed-in person can open (found by walking the URL conf) loads without a single
CSP violation, htmx is running on it, and a declarative htmx request (hx-post, with the CSRF
header htmx takes from the body's hx-headers) completes and swaps its answer in.
"""

import pytest

from tests.browser.test_publish_flow import log_in
from tests.urlwalk import routes, sample_kwargs

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Runs before any page script (through the DevTools protocol, so the CSP does not apply to it).
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(`${event.violatedDirective} blocked ${event.blockedURI}`);
});
"""


def page_urls(sequence):
    """GET pages of the app that need no further arguments than a sequence."""
    urls = []
    for route in routes():
        if route.is_admin or route.name in {"logout", "healthz"}:
            continue
        kwargs = sample_kwargs(route, sequence)
        if kwargs is not None and set(kwargs) <= {"sequence_id"}:
            urls.append(route.url(kwargs))
    return urls


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
    watched_page, live_server, sandbox, synced, user, example_sequence
):
    page = watched_page
    log_in(page, live_server, "alice", "alice-password-1")
    urls = page_urls(example_sequence)
    assert len(urls) >= 3

    for url in urls:
        probe = page.request.get(f"{live_server.url}{url}")
        if not probe.ok or not probe.text().lstrip().lower().startswith("<!doctype html"):
            continue  # POST-only routes, pages for other roles, fragments and downloads
        response = page.goto(f"{live_server.url}{url}")
        assert response.ok, url
        page.wait_for_load_state("networkidle")
        assert page.evaluate("typeof window.htmx") == "object", f"htmx did not load on {url}"
        assert "'nonce-" in response.headers["content-security-policy"]
        assert violations(page) == [], url


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
