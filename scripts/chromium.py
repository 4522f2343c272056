"""How this project launches Debian's Chromium through Playwright: the browser tests
(tests/conftest.py) and the benchmarks that load pages (bench_pages.py, bench_browser.py)
drive the same browser with the same switches, so a figure and a test see one browser."""

import os
import shutil

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def chromium_path():
    """CHROMIUM_PATH, else Debian's chromium on PATH (never a browser Playwright downloads)."""
    return os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
