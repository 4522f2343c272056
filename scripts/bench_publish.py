"""Publish benchmark: our own time per publish, on top of Close's round trip.

Target: publishing adds under 20 ms of our own time (p50) to Close's answer.

Each sample publishes a fresh, approved 5-step sequence (call, email, email, SMS-free mix) to a
local Close sandbox that answers at once, and splits the wall time into
- Close's round trip: the time spent inside requests' Session.request (sending, the sandbox's
  handling, reading the answer), and
- our own time: everything else (the rules and the spec's validation, the guard's
  compare-and-set, the attempt row, reading Close's JSON, storing the ids, the state change, the
  published notice).
Two paths are measured: the service (publishing.publish_sequence) and the whole POST through
Django (middleware, session, the view, the job run inline, the redirect).

    python scripts/bench_publish.py [--repeats 40] [--database-url URL]

runs on its own: a temporary SQLite database (or the empty one --database-url names) under
production settings (DEBUG off) and a sandbox in its own process. On a throw-away PostgreSQL:

    scripts/temp_postgres.py -- sh -c \
        'python scripts/bench_publish.py --database-url "$DATABASE_URL"'

`make bench` (scripts/bench.py) imports this module instead and calls
`measure(bench)` on its own data.
"""

import argparse
import os
import queue
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TARGET_MS = 20.0
REPEATS = 40
WARMUP = 3
SANDBOX_KEY = "publish-bench-key"


class TimedSession(requests.Session):
    """A requests session that adds up the time spent inside HTTP calls."""

    def __init__(self):
        super().__init__()
        self.seconds = 0.0

    def request(self, *args, **kwargs):
        started = time.perf_counter()
        try:
            return super().request(*args, **kwargs)
        finally:
            self.seconds += time.perf_counter() - started


def approved_sequence(*, number, author, reviewer, email_ids):
    """A fresh 5-step sequence, submitted and approved through the review workflow."""
    from builder import review
    from builder.models import Sequence, Step

    sequence = Sequence.create_draft(
        name=f"Publish bench {number:04d}", timezone_name="America/New_York", user=author
    )
    with sequence.editing(user=author, loaded_version=sequence.version, summary="Steps"):
        Step.objects.bulk_create(
            [
                Step(sequence=sequence, position=0, step_type="call", delay=0),
                Step(
                    sequence=sequence,
                    position=1,
                    step_type="email",
                    delay=86400,
                    email_template_id=email_ids[0],
                    threading="new_thread",
                ),
                Step(
                    sequence=sequence,
                    position=2,
                    step_type="email",
                    delay=2 * 86400,
                    email_template_id=email_ids[1 % len(email_ids)],
                    threading="old_thread",
                ),
                Step(sequence=sequence, position=3, step_type="call", delay=86400),
                Step(
                    sequence=sequence,
                    position=4,
                    step_type="email",
                    delay=3 * 86400,
                    email_template_id=email_ids[2 % len(email_ids)],
                    threading="old_thread",
                ),
            ]
        )
    review.submit_for_review(sequence=sequence, user=author)
    sequence.refresh_from_db()
    review.approve(sequence=sequence, user=reviewer, revision_number=sequence.version)
    sequence.refresh_from_db()
    return sequence


def time_service(*, publisher, make_sequence, close_url, repeats):
    """(our ms, total ms, CPU ms) per publish through publishing.publish_sequence."""
    from builder import close, publishing

    ours, totals, cpu = [], [], []
    for index in range(WARMUP + repeats):
        sequence = make_sequence()
        session = TimedSession()
        started, started_cpu = time.perf_counter(), time.process_time()
        # A client per publish, as each background job makes its own.
        with close.CloseClient(api_key=SANDBOX_KEY, base_url=close_url, session=session) as api:
            outcome = publishing.publish_sequence(sequence=sequence, user=publisher, client=api)
        total, used = time.perf_counter() - started, time.process_time() - started_cpu
        if not outcome.ok:
            raise RuntimeError(f"publish failed: {outcome.message}")
        if index >= WARMUP:
            totals.append(total * 1000)
            ours.append((total - session.seconds) * 1000)
            cpu.append(used * 1000)
    return ours, totals, cpu


def time_view(*, publisher, make_sequence, close_url, repeats, monkeypatch_client):
    """(our ms, total ms, CPU ms, queries) per publish through the POST, the job inline."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse

    client = Client()
    client.force_login(publisher)
    ours, totals, cpu, queries = [], [], [], 0
    for index in range(WARMUP + repeats + 1):
        sequence = make_sequence()
        session = monkeypatch_client()
        url = reverse("sequence_publish", args=[sequence.pk])
        data = {"status": "paused", "version": sequence.version}
        if index == WARMUP + repeats:  # one extra run counts the queries
            with CaptureQueriesContext(connection) as captured:
                response = client.post(url, data)
            queries = len(captured)
            continue
        started, started_cpu = time.perf_counter(), time.process_time()
        response = client.post(url, data)
        total, used = time.perf_counter() - started, time.process_time() - started_cpu
        if response.status_code != 302:
            raise RuntimeError(f"publish POST answered {response.status_code}")
        if index >= WARMUP:
            totals.append(total * 1000)
            ours.append((total - session.seconds) * 1000)
            cpu.append(used * 1000)
    return ours, totals, cpu, queries


def _client_patch(close_url):
    """Make the background job's client use a TimedSession; returns a function that installs a
    fresh one and gives its session."""
    from builder import close, publishing

    def install():
        session = TimedSession()
        publishing.job_client = lambda **overrides: close.CloseClient(
            api_key=SANDBOX_KEY, base_url=close_url, session=session
        )
        return session

    return install


def run(*, publisher, author, reviewer, email_ids, close_url, repeats):
    """Both measurements; rows of (name, our ms, total ms, CPU ms[, queries])."""
    from django.conf import settings

    from builder import publishing

    counter = iter(range(1_000_000))

    def make_sequence():
        return approved_sequence(
            number=next(counter), author=author, reviewer=reviewer, email_ids=email_ids
        )

    settings.BUILDER_RUN_JOBS_INLINE = True  # the job's time counts, start to finish
    original_job_client = publishing.job_client
    try:
        service = time_service(
            publisher=publisher, make_sequence=make_sequence, close_url=close_url, repeats=repeats
        )
        view = time_view(
            publisher=publisher,
            make_sequence=make_sequence,
            close_url=close_url,
            repeats=repeats,
            monkeypatch_client=_client_patch(close_url),
        )
    finally:
        publishing.job_client = original_job_client
    return [
        ("Publish (service): our own time", *service),
        ("Publish (POST, job inline): our own time", *view),
    ]


def measure(bench):
    """Rows for `make bench` (scripts/bench.py), on its seeded team and sandbox."""
    from django.conf import settings

    def with_role(role):
        return next(user for user in bench.users if user.groups.filter(name=role).exists())

    publisher = with_role("Publisher")
    reviewer = next(
        user
        for user in bench.users
        if user.groups.filter(name="Reviewer").exists() and user != publisher
    )
    author = next(
        user for user in bench.users if user not in (publisher, reviewer) and not user.is_superuser
    )
    global SANDBOX_KEY
    SANDBOX_KEY = settings.CLOSE_API_KEY
    rows = []
    for name, ours, totals, cpu, *queries in run(
        publisher=publisher,
        author=author,
        reviewer=reviewer,
        email_ids=bench.templates[:3],
        close_url=settings.CLOSE_API_URL,
        repeats=REPEATS,
    ):
        rows.append(
            {
                "key": "publish_overhead" if "service" in name else "",
                "name": name,
                "samples_ms": ours,
                "queries": queries[0] if queries else None,
                "note": (
                    f"wall time minus the HTTP calls; CPU p50 {statistics.median(cpu):.1f} ms; "
                    f"with Close's round trip p50 {statistics.median(totals):.1f} ms; "
                    f"target p50 < {TARGET_MS:.0f} ms"
                ),
            }
        )
    return rows


# --- Standalone -------------------------------------------------------------------------------
def _sandbox_url(process, *, timeout):
    """The URL the sandbox prints first; stops it and exits when none comes within `timeout`."""
    lines = queue.Queue()

    def read():
        for line in process.stdout:
            if line.startswith("CLOSE_SANDBOX_URL="):
                lines.put(line.split("=", 1)[1].strip())
                return
        lines.put(None)  # it exited without printing one

    threading.Thread(target=read, daemon=True).start()
    try:
        url = lines.get(timeout=timeout)
    except queue.Empty:
        url = None
    if url is None:
        process.kill()
        raise SystemExit(f"bench: the Close sandbox printed no URL within {timeout} s")
    return url


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=REPEATS)
    parser.add_argument(
        "--database-url",
        help="an empty database to use instead of a temporary SQLite file, e.g. one started by "
        "scripts/temp_postgres.py",
    )
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="publish-bench-"))

    # Out of process, as Close is: an in-process sandbox's threads would take turns with ours
    # for the interpreter lock, and that time would count as ours.
    sandbox = subprocess.Popen(  # noqa: S603 - our own module, fixed arguments
        [sys.executable, "-m", "closesandbox", "--quiet", "--port", "0"]
        + ["--api-key", SANDBOX_KEY, "--rate-limit", "100000/1"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    close_url = _sandbox_url(sandbox, timeout=60)
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "sequence_builder.settings",
            "DEBUG": "false",
            "SECRET_KEY": "publish-bench-only",
            "ALLOWED_HOSTS": "testserver",
            "SECURE_SSL_REDIRECT": "false",
            "DATABASE_URL": args.database_url or f"sqlite:///{workdir / 'bench.sqlite3'}",
            "CACHE_URL": "locmemcache://",
            "EMAIL_URL": "memorymail://",
            "LOG_LEVEL": "WARNING",
            "CLOSE_API_KEY": SANDBOX_KEY,
            "CLOSE_API_URL": close_url,
        }
    )
    import django

    django.setup()
    from django.contrib.auth.models import Group, User
    from django.core.management import call_command

    from builder import template_sync

    call_command("migrate", verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0)
    template_sync.sync_templates()

    def member(name, role):
        user = User.objects.create_user(username=name, email=f"{name}@example.com")
        user.groups.set([Group.objects.get(name=role)])
        return user

    from builder.models import CloseTemplate

    email_ids = [t.close_id for t in CloseTemplate.usable_choices("email")[:3]]
    try:
        rows = run(
            publisher=member("publisher", "Publisher"),
            author=member("author", "Editor"),
            reviewer=member("reviewer", "Reviewer"),
            email_ids=email_ids,
            close_url=close_url,
            repeats=args.repeats,
        )
    finally:
        sandbox.terminate()
        sandbox.wait(timeout=10)

    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    from django.db import connection

    print(
        f"Publish benchmark: {args.repeats} publishes each, sandbox answering at once, "
        f"{connection.display_name}"
    )
    print(f"(load average {load} on {os.cpu_count()} CPUs: wall time includes waiting for a CPU)")
    print("our own time = wall time minus the time inside HTTP calls; CPU = this process's CPU")
    header = (
        f"{'what':42} {'p50 ms':>7} {'p95 ms':>7} {'CPU p50':>8} {'with HTTP':>10} {'queries':>8}"
    )
    print(header)
    failed = False
    for name, ours, totals, cpu, *queries in rows:
        p50, p95 = _p50_p95(ours)
        ok = p50 < TARGET_MS
        failed |= not ok
        shown = f"{queries[0]:8d}" if queries else f"{'':8}"
        verdict = f"  {'OK' if ok else 'TOO SLOW'} (target p50 < {TARGET_MS:.0f} ms)"
        print(
            f"{name:42} {p50:7.1f} {p95:7.1f} {statistics.median(cpu):8.1f} "
            f"{statistics.median(totals):10.1f} {shown}{verdict}"
        )
    return 1 if failed else 0


def _p50_p95(samples):
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[max(0, round(0.95 * len(ordered)) - 1)]


if __name__ == "__main__":
    sys.exit(main())
