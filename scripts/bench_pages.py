"""Page loads in headless Chromium: what a returning user waits for (issue 10's page ratio).

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

Calibration (BENCHMARKS.md, "How the page ratio is measured"): on the commit issue 10 was filed
against, this method gives editor page at 50 steps / log-in page = 4.5x where the issue said
4.6x; the in-process test client gives 24x and plain HTTP to gunicorn 16x.
"""

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
    from playwright.sync_api import sync_playwright

    base = f"http://127.0.0.1:{port}"
    results = {spec["key"]: {"load": [], "dcl": [], "response": []} for spec in pages}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium_path(), args=CHROMIUM_ARGS, timeout=TIMEOUT_MS
        )
        try:
            tabs = []
            for spec in pages:
                context = browser.new_context(viewport=VIEWPORT)
                if spec["logged_in"]:
                    context.add_cookies([{"name": cookie_name, "value": session_key, "url": base}])
                page = context.new_page()
                page.set_default_timeout(TIMEOUT_MS)
                page.set_default_navigation_timeout(TIMEOUT_MS)
                tabs.append((spec, page))
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
        finally:
            browser.close()
    return results


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
