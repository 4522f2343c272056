"""Click-to-settled times in a real browser for the step editor at 200 steps (issue 10).

    .venv/bin/python scripts/bench_browser.py [--runs 5]      (also: make bench BROWSER=yes)

A timing script, not a test: it asserts nothing about time. It serves the app the way
production does (gunicorn, production settings, hashed static files, a throw-away SQLite
database and a local Close sandbox), seeds one Editor and a 199-step sequence, logs in through
the log-in page in headless Chromium (/usr/bin/chromium or CHROMIUM_PATH, the test suite's
arguments), and times, `--runs` times each, from the click (the click event as the page
receives it) to "settled": htmx has finished the request and swapped the answer in (its
`htmx:afterSettle` for that request) and the status line has been redrawn. Prints the median
and the range per action, the median time until the answer was in (htmx:beforeSwap: client
work, server and network; the rest is the browser's swap), the median server time (the
request's Resource Timing, requestStart → responseStart) and, apart, the median time Playwright
itself spent before the click reached the page (finding the button by its role on a 200-card
page, scrolling, actionability checks: no person's click costs that, so it is not counted):

- Add call step (199 → 200 steps, the limit),
- Remove step (that new step, 200 → 199; it offers Undo),
- Move up (step 100, then Move down to put it back; only Move up is timed).
"""

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ROOT / "scripts"
sys.path[:0] = [str(ROOT), str(SCRIPTS)]

import bench  # noqa: E402  (scripts/bench.py: production env, gunicorn health check)
import temp_postgres  # noqa: E402
from bench_pages import go_to, timed_click  # noqa: E402
from chromium import CHROMIUM_ARGS, chromium_path  # noqa: E402

USERNAME = "browser-bench"
PASSWORD = "browser-bench-password"  # noqa: S105 - a throw-away database
STEPS = 199
SANDBOX_KEY = "browser-bench-sandbox-key"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="timed clicks per action")
    args = parser.parse_args()
    chromium = chromium_path()
    if not Path(chromium).exists():
        print("bench_browser: no Chromium (install Debian's chromium or set CHROMIUM_PATH)")
        return 0

    folder = Path(tempfile.mkdtemp(prefix="sequence-builder-browser-bench-"))
    from closesandbox import Sandbox

    sandbox = Sandbox(api_keys={SANDBOX_KEY}, host="127.0.0.1", port=0).start()
    env = bench.production_env() | {
        "DATABASE_URL": f"sqlite:///{folder / 'bench.sqlite3'}",
        "CLOSE_API_KEY": SANDBOX_KEY,
        "CLOSE_API_URL": sandbox.url,
        "CLOSE_APP_URL": f"{sandbox.base_url}/_sandbox/",
    }
    server = None
    try:
        os.environ.update(env)
        import django

        django.setup()
        from django.core.management import call_command

        call_command("collectstatic", interactive=False, verbosity=0)
        call_command("migrate", interactive=False, verbosity=0)
        sequence_id = seed()
        port = temp_postgres.free_port()
        server = subprocess.Popen(  # noqa: S603 - our own gunicorn config
            [str(Path(sys.executable).parent / "gunicorn"), "-c", "gunicorn.conf.py"]
            + ["sequence_builder.wsgi"],
            cwd=ROOT,
            env=env
            | {
                "BIND": f"127.0.0.1:{port}",
                "GUNICORN_ACCESS_LOG": "",
                "GUNICORN_LOG_LEVEL": "warning",
            },
        )
        bench._wait_healthy(port)
        times, answers, servers, harness = drive(
            chromium, f"http://localhost:{port}", sequence_id, args.runs
        )
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        sandbox.stop()
        shutil.rmtree(folder, ignore_errors=True)

    print(f"Step editor in headless Chromium, {STEPS}-step sequence (gunicorn, production)")
    print(
        f"{'click → settled':<32}{'median ms':>10}{'min ms':>9}{'max ms':>9}{'runs':>6}"
        f"{'answer in, median ms':>22}{'server ms':>11}{'(before click ms)':>19}"
    )
    for name, samples in times.items():
        print(
            f"{name:<32}{statistics.median(samples):>10.0f}{min(samples):>9.0f}"
            f"{max(samples):>9.0f}{len(samples):>6}{statistics.median(answers[name]):>22.0f}"
            f"{statistics.median(servers[name]):>11.0f}{statistics.median(harness[name]):>19.0f}"
        )
    print("(answer in: click → htmx:beforeSwap, the response has arrived; the rest is the swap)")
    print("(server: requestStart → responseStart; before click: Playwright's own work, not timed)")
    return 0


def seed():
    import bench_steps
    from django.contrib.auth.models import Group, User

    from builder.models import CloseTemplate

    user = User.objects.create_user(USERNAME, password=PASSWORD)
    user.groups.add(Group.objects.get_or_create(name="Editor")[0])
    for kind, prefix in [("email", "tmpl"), ("sms", "smstmpl")]:
        CloseTemplate.objects.bulk_create(
            CloseTemplate(
                close_id=f"{prefix}_browserbench{n:03d}",
                kind=kind,
                name=f"Browser bench {kind} {n}",
                subject="Hello {{ contact.first_name }}" if kind == "email" else "",
                body="<p>Just checking in.</p>" if kind == "email" else "Just checking in.",
                is_shared=True,
            )
            for n in range(20)
        )

    ids = CloseTemplate.objects.values_list("close_id", flat=True)

    class Seeded:
        templates = list(ids.filter(kind="email"))
        sms_templates = list(ids.filter(kind="sms"))

    sequence = bench_steps._sequence("Browser bench", STEPS, user, random.Random(7), Seeded)
    return sequence.pk


def drive(chromium, base, sequence_id, runs):
    from playwright.sync_api import sync_playwright

    names = ["Add call step (199 → 200)", "Remove step (200 → 199)", "Move up"]
    times = {name: [] for name in names}
    answers = {name: [] for name in names}  # click → the answer is in (htmx:beforeSwap)
    servers = {name: [] for name in names}  # requestStart → responseStart
    harness = {name: [] for name in names}  # Playwright's click() call → the page's click event
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.set_default_timeout(60_000)
        page.goto(f"{base}/login/")
        page.fill("input[name=username]", USERNAME)
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit], input[type=submit]")
        page.wait_for_load_state()
        page.goto(f"{base}/sequences/{sequence_id}/")
        page.wait_for_selector("#step-list > li.step")

        for run in range(runs + 1):  # the first round warms up
            add_button = page.get_by_role("button", name="Add call step")
            go_to(page, add_button)
            add = timed_click(page, add_button)
            last = page.locator("#step-list > li.step").last
            remove = timed_click(page, last.get_by_role("button", name="Remove step"))
            middle = page.locator("#step-list > li.step").nth(99)
            go_to(page, middle)
            up = timed_click(page, middle.get_by_role("button", name="Move up"))
            moved = page.locator("#step-list > li.step").nth(98)
            # Put it back (not timed).
            timed_click(page, moved.get_by_role("button", name="Move down"))
            if run:
                for name, value in zip(times, [add, remove, up], strict=True):
                    times[name].append(value[0])
                    answers[name].append(value[1])
                    servers[name].append(value[2])
                    harness[name].append(value[3])
        browser.close()
    return times, answers, servers, harness


if __name__ == "__main__":
    started = time.monotonic()
    code = main()
    print(f"(took {time.monotonic() - started:.0f} s)")
    sys.exit(code)
