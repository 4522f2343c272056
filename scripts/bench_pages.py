"""Page loads and clicks in headless Chromium: what a user waits for (issue 10's ratios).

Called by scripts/bench.py against the production gunicorn of its load run (the same server, the
same run as the other rows): `page_loads(port, cookie_name, session_key, pages)` drives Debian's
Chromium (/usr/bin/chromium or CHROMIUM_PATH, through Playwright's Python package; no browser is
downloaded) and times each page's navigation with the browser's own Navigation Timing
(PerformanceNavigationTiming, in the page's clock):

- load: navigation start → the load event's end (`loadEventEnd - startTime`): the HTML, its
  scripts and styles run and the page drawn, what issue 10 compared;
- DOMContentLoaded: navigation start → `domContentLoadedEventEnd`;
- response: navigation start → `responseEnd`, the last byte of the HTML (mostly server time).

Every page is measured the same way: a browser context of its own (the log-in page anonymous,
the others logged in by the session cookie), WARMUP loads, then REPEATS timed loads in the same
context, so the static files come from the HTTP cache as they do for a returning user. The pages
take turns, one load each per round, so a ratio between two of them compares loads made under
the same conditions: measured one page after the other, the first page paid for a browser and
server still warming up and the machine's drift fell on one side only (on this 2-core machine
the same page's p50 moved by 20 % between runs that way). A load
that answers anything but 200 for the address asked (an error, or a redirect to the log-in page)
raises PageLoadError: never a fast wrong figure. Every wait has a timeout.

Calibration (BENCHMARKS.md, "How issue 10's ratios are measured"): on the commit issue 10 was filed
against, this method gives editor page at 50 steps / log-in page = 4.5x where the issue said
4.6x; the in-process test client gives 24x and plain HTTP to gunicorn 16x.

`step_adds` times "Add call step" in editor pages the same way a person meets it: from the click
to the settled page (htmx:afterSettle), the editors taking turns. On that commit it gives 65 ms
at 10 steps and 2.1 s at 200 (32x; the issue: 134 ms and 4.9 s, 37x), where the test client
gives 19 and 136 ms (7x).
"""

import contextlib
import statistics
from pathlib import Path

from chromium import CHROMIUM_ARGS, chromium_path

WARMUP = 3
REPEATS = 21
TIMEOUT_MS = 30_000  # any one navigation or wait in the browser
VIEWPORT = {"width": 1280, "height": 720}  # Playwright's default, as calibrated

# The navigation's timing once its load event has finished (loadEventEnd is 0 until then), and
# the page's subresources: how many came over the network (transferSize > 0), not from cache.
TIMING = """() => {
  const nav = performance.getEntriesByType("navigation")[0];
  const resources = performance.getEntriesByType("resource");
  return {
    load: nav.loadEventEnd - nav.startTime,
    dcl: nav.domContentLoadedEventEnd - nav.startTime,
    response: nav.responseEnd - nav.startTime,
    resources: resources.length,
    fetched: resources.filter((entry) => entry.transferSize > 0).length,
  };
}"""
LOADED = (
    "() => { const nav = performance.getEntriesByType('navigation')[0];"
    " return !!nav && nav.loadEventEnd > 0; }"
)


class PageLoadError(RuntimeError):
    """A page answered something other than 200 for the address asked."""


def unavailable():
    """Why pages cannot be measured here (no Chromium, no Playwright), or None."""
    if not Path(chromium_path()).exists():
        return "no Chromium"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "no Chromium (Playwright is not installed)"
    return None


def page_loads(port, cookie_name, session_key, pages, *, warmup=WARMUP, repeats=REPEATS):
    """Time `pages` in headless Chromium against the server on 127.0.0.1:`port`.

    `pages` is a list of dicts with "key", "path" and "logged_in" (send the session cookie
    `cookie_name`=`session_key`). Returns {key: {"load": [ms...], "dcl": [...], "response":
    [...], "warmup": n, "resources": n, "fetched": n}} where resources/fetched are the
    subresources of the last timed load and how many of them did not come from the HTTP cache."""
    results = {spec["key"]: {"load": [], "dcl": [], "response": []} for spec in pages}
    with _tabs(port, cookie_name, session_key, pages) as (base, tabs):
        for number in range(warmup + repeats):
            for spec, page in tabs:
                timing = _load(page, base + spec["path"])
                measured = results[spec["key"]]
                if number >= warmup:
                    for name in ("load", "dcl", "response"):
                        measured[name].append(timing[name])
                measured.update(
                    warmup=warmup, resources=timing["resources"], fetched=timing["fetched"]
                )
    return results


@contextlib.contextmanager
def _tabs(port, cookie_name, session_key, specs):
    """Headless Chromium with a browser context and page of its own for each spec (logged in by
    the session cookie unless the spec says "logged_in": False): yields (base URL, [(spec,
    page)]), and closes the browser however the measuring ends."""
    from playwright.sync_api import sync_playwright

    base = f"http://127.0.0.1:{port}"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium_path(), args=CHROMIUM_ARGS, timeout=TIMEOUT_MS
        )
        try:
            tabs = []
            for spec in specs:
                context = browser.new_context(viewport=VIEWPORT)
                if spec.get("logged_in", True):
                    context.add_cookies([{"name": cookie_name, "value": session_key, "url": base}])
                page = context.new_page()
                page.set_default_timeout(TIMEOUT_MS)
                page.set_default_navigation_timeout(TIMEOUT_MS)
                tabs.append((spec, page))
            yield base, tabs
        finally:
            browser.close()


def _load(page, url):
    """One navigation, to its load event's end: the page's own timing of it."""
    response = page.goto(url, wait_until="load")
    _expect_200(url, response)
    page.wait_for_function(LOADED, timeout=TIMEOUT_MS)
    timing = page.evaluate(TIMING)
    # What a page does after its load event (the editor asks for the cards below its first
    # screen) ends before the next page loads in another tab: it is not that page's cost.
    page.wait_for_load_state("networkidle", timeout=TIMEOUT_MS)
    return timing


def _expect_200(url, response):
    if response is None:
        raise PageLoadError(f"{url}: no response")
    redirected = response.request.redirected_from
    if redirected is not None:
        raise PageLoadError(f"{url}: redirected to {response.url}")
    if response.status != 200:
        raise PageLoadError(f"{url}: answered {response.status}")


def summary(measured):
    """A table note: the p50s of DOMContentLoaded and the response end, and the cache."""
    return (
        f"DOMContentLoaded p50 {statistics.median(measured['dcl']):.1f} ms, "
        f"HTML response end p50 {statistics.median(measured['response']):.1f} ms; "
        f"{len(measured['load'])} loads after {measured['warmup']} warm-up, warm HTTP cache "
        f"({measured['fetched']} of {measured['resources']} subresources fetched)"
    )


# --- Clicks: from the click to the settled page -----------------------------------------------
# Two frames and a task: what came into view has been reported to editor.js's watcher by then.
NEXT_FRAMES = (
    "new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(() =>"
    " setTimeout(done, 50))))"
)
# No card asked for is still on its way (a head asked for carries data-requested until its whole
# card replaces it).
NONE_ARRIVING = "() => !document.querySelector('#step-list > li.is-pending[data-requested]')"
# Arms the page for one click: window.__settled resolves once the next htmx request from the page
# has settled (htmx:afterSettle) or failed, with the times in the page's clock.
ARM = """() => {
  window.__answered = null;
  window.__clicked = null;
  performance.clearResourceTimings();
  // The click as the page receives it: Playwright first finds the button (a role query
  // computes accessible names over the whole 200-card page), scrolls it into view and
  // waits for it to be stable, none of which a person's click costs.
  document.addEventListener("click", (event) => {
    window.__clicked = event.timeStamp;
  }, { once: true, capture: true });
  document.body.addEventListener("htmx:beforeSwap", () => {
    window.__answered = performance.now();
  }, { once: true });
  window.__settled = new Promise((resolve) => {
    const done = (event) => {
      ["htmx:afterSettle", "htmx:responseError", "htmx:sendError"].forEach((name) =>
        document.body.removeEventListener(name, done));
      const status = event.detail.xhr && event.detail.xhr.status;
      const xhr = performance.getEntriesByType("resource")
        .filter((entry) => entry.initiatorType === "xmlhttprequest").pop();
      resolve({
        at: performance.now(), answered: window.__answered, clicked: window.__clicked,
        server: xhr ? xhr.responseStart - xhr.requestStart : null, kind: event.type, status,
      });
    };
    ["htmx:afterSettle", "htmx:responseError", "htmx:sendError"].forEach((name) =>
      document.body.addEventListener(name, done));
  });
}"""


class ClickError(RuntimeError):
    """A timed click's request failed or was refused: never a fast wrong figure."""


def timed_click(page, locator):
    """Click `locator` and wait until the page has settled: (click → settled, click → answer in
    (htmx:beforeSwap), server time (requestStart → responseStart), Playwright's own time before
    the click reached the page), in ms. The click is timed from the click event as the page
    receives it: Playwright first finds the button (a role query computes accessible names over
    the whole page), scrolls it into view and waits for it to be stable, none of which a
    person's click costs."""
    page.evaluate(ARM)
    started = page.evaluate("performance.now()")
    locator.click()
    result = page.evaluate("window.__settled")
    if result["kind"] != "htmx:afterSettle":
        raise ClickError(f"{result['kind']} (HTTP {result['status']})")
    page.wait_for_function("() => !document.querySelector('#save-status.is-error')")
    clicked = result["clicked"]
    return (
        result["at"] - clicked,
        result["answered"] - clicked,
        result["server"],
        clicked - started,
    )


def go_to(page, locator):
    """Scroll to `locator` as the person would, and let the cards near it arrive first (editor.js
    asks for the cards within two screens of the view, in the editor's request queue): the timed
    click is then the person's next action, not a wait."""
    locator.scroll_into_view_if_needed()
    page.evaluate(NEXT_FRAMES)  # the watcher reports what came near, after a frame
    page.wait_for_function(NONE_ARRIVING, timeout=TIMEOUT_MS)


def step_adds(port, cookie_name, session_key, editors, *, warmup=WARMUP, repeats=REPEATS):
    """Time "Add call step" in headless Chromium in each of `editors` (dicts with "key" and
    "path", an editor page), from the click to the settled page, as issue 10 measured it.

    Each editor has a browser context of its own, logged in by the session cookie. After each
    add, the new step is removed again by a click on its "Remove step" (not timed), so every add
    starts from the same list. The editors take turns, one add each per round, like the pages.
    Returns {key: {"settled": [ms...], "answered": [...], "server": [...], "warmup": n}}."""
    results = {spec["key"]: {"settled": [], "answered": [], "server": []} for spec in editors}
    with _tabs(port, cookie_name, session_key, editors) as (base, tabs):
        for spec, page in tabs:
            _expect_200(base + spec["path"], page.goto(base + spec["path"], wait_until="load"))
            page.wait_for_load_state("networkidle", timeout=TIMEOUT_MS)
        for number in range(warmup + repeats):
            for spec, page in tabs:
                add = page.get_by_role("button", name="Add call step")
                go_to(page, add)
                settled, answered, server, _ = timed_click(page, add)
                last = page.locator("#step-list > li.step").last
                timed_click(page, last.get_by_role("button", name="Remove step"))
                page.wait_for_load_state("networkidle", timeout=TIMEOUT_MS)
                if number >= warmup:
                    measured = results[spec["key"]]
                    measured["settled"].append(settled)
                    measured["answered"].append(answered)
                    measured["server"].append(server)
                    measured["warmup"] = warmup
    return results


def clicks_summary(measured):
    """A table note for a click row: where the time went, and how many clicks."""
    return (
        f"click → answer in (htmx:beforeSwap) p50 {statistics.median(measured['answered']):.1f}"
        f" ms, server p50 {statistics.median(measured['server']):.1f} ms; "
        f"{len(measured['settled'])} adds after {measured['warmup']} warm-up, each removed again"
    )
