"""Going to another page by a link or a plain form, the way a test must."""


def follow(locator, **click_options):
    """Click something that loads another page; return once that page has loaded.

    Playwright's click returns as soon as the navigation starts. The new page's buttons and
    boxes are there as soon as they are parsed, before its deferred scripts (htmx, editor.js,
    schedule-grid.js) have run and wired them up. An action in that gap is a plain form post, or
    an input no script hears, so the test would pass or fail by timing. The load event comes
    after the deferred scripts and htmx's set-up on DOMContentLoaded: waiting for it closes the gap.
    """
    with locator.page.expect_navigation():
        locator.click(**click_options)
