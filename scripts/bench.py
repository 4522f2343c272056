"""`make bench`: how fast Sequence Builder is with a realistic team's data, on SQLite and on
PostgreSQL, under production settings.

For each database it
1. makes a fresh database (a temporary SQLite file; a temporary PostgreSQL server started as in
   CI, with its default durability), migrates it, and starts a local Close sandbox;
2. seeds a team of 20, 3,000 Close templates (synced from the sandbox), 500 sequences and one
   50-step sequence with a long history;
3. measures pages in-process with Django's test client (p50/p95 over repeated requests, and the
   SQL query count of one request);
4. starts gunicorn (gunicorn.conf.py, production settings) on 127.0.0.1 and, on that server,
   loads the pages that area modules mark with a "page" (the editor pages at 50 steps and the
   log-in page, scripts/bench_steps.py) in headless Chromium (scripts/bench_pages.py: navigation
   start → load event end, warm HTTP cache) and clicks "Add call step" in the editors marked
   with a click (at 10 and at 200 steps: click → settled), then runs a load test: a bounded
   client of 20 editors autosaving their own sequences for 30 s;
and prints one table. Figures for parts that are not built yet are "not built yet", never
invented.

Other areas add measurements by putting a module next to this one: scripts/bench_editor.py,
bench_review.py, bench_publish.py. If such a module defines `measure(bench)`, it is called in
the measuring process with a `Bench` (see below: .client, .time(), .big, .users, ...) and
returns rows `{"name", "samples_ms", "queries", "note"}`; bench_editor.py may also define
`autosave_request(bench, sequence) -> (path, data)` for the load run. A row may carry a "page"
(`{"key", "name", "path", "logged_in"}`, and `"click": "add"` for an editor page whose "Add call
step" is to be clicked): that page is then also loaded, or clicked in, in Chromium against the
load run's server, as a row of its own placed after it. A module without `measure` is run as its
own script and its output is printed after the table.

    python scripts/bench.py [--databases sqlite,postgres] [--load-seconds 30] [--editors 20]
"""

import argparse
import contextlib
import importlib
import json
import os
import platform
import random
import secrets
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from http.client import HTTPConnection
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ROOT / "scripts"
sys.path[:0] = [str(ROOT), str(SCRIPTS)]

import temp_postgres  # noqa: E402

PYTHON = sys.executable
SANDBOX_KEY = "bench-sandbox-key"
TEAM = 20
SEQUENCES = 500
TEMPLATES = 3000
BIG_STEPS = 50
EDITOR_STEPS = 10
REPEATS = 40
MIN_REPEATS = 10
TIME_BUDGET = 10.0  # seconds per measurement, once MIN_REPEATS are in
AREA_MODULES = ["bench_editor", "bench_review", "bench_publish", "bench_steps"]
TARGETS = {
    "editor_page": ("p50", 50.0),
    "template_search": ("p50", 30.0),
}


# =================================================================================================
# Orchestration (the parent process)
# =================================================================================================
def main():
    parser = argparse.ArgumentParser(description="Sequence Builder benchmarks")
    parser.add_argument("--databases", default="sqlite,postgres")
    parser.add_argument("--load-seconds", type=float, default=30.0)
    parser.add_argument("--editors", type=int, default=20)
    parser.add_argument("--think", type=float, default=1.0, help="mean seconds between saves")
    parser.add_argument("--workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY", 2)))
    parser.add_argument("--threads", type=int, default=int(os.environ.get("GUNICORN_THREADS", 4)))
    parser.add_argument(
        "--no-write", action="store_true", help="do not update the figures in BENCHMARKS.md"
    )
    parser.add_argument(
        "--load-only", action="store_true", help="seed and run the load test only (tuning)"
    )
    parser.add_argument("--measure", help=argparse.SUPPRESS)  # child mode: JSON output path
    args = parser.parse_args()
    if args.measure:
        return measure_child(args)

    machine = machine_info()
    print_machine(machine)
    base_env = production_env()
    _python(base_env, "manage.py", "collectstatic", "--noinput", "-v", "0")
    results = {}
    for database in args.databases.split(","):
        print(f"\n--- {database}: seeding and measuring ---", flush=True)
        with fresh_database(database) as url:
            env = base_env | {"DATABASE_URL": url}
            _python(env, "manage.py", "migrate", "--noinput", "-v", "0")
            with tempfile.TemporaryDirectory(prefix="sequence-builder-bench-") as folder:
                out = Path(folder) / "measured.json"
                _python(
                    env,
                    __file__,
                    "--measure",
                    str(out),
                    "--editors",
                    str(args.editors),
                    *(["--load-only"] if args.load_only else []),
                )
                measured = json.loads(out.read_text())
                print(
                    f"--- {database}: load run ({args.editors} editors, "
                    f"{args.load_seconds:.0f} s) ---",
                    flush=True,
                )
                measured["load"], pages = load_run(
                    env, measured["editors"], args, measured.get("browser"), database
                )
                _place_page_rows(measured["rows"], pages)
            results[database] = measured
    table = render_table(results, args)
    table += render_ratios(results)
    # A script run on its own makes its own database (see its docstring), whichever database the
    # seeded run used: print each once, under its own name, not as if it ran on that database.
    scripts = {}
    for measured in results.values():
        for name, output in measured.get("scripts", {}).items():
            scripts.setdefault(name, output)
    extra = "".join(
        f"\n\n{name} (run as its own script, on the database it makes itself):"
        f"\n\n```\n{output}\n```"
        for name, output in scripts.items()
    )
    print()
    print(table + extra)
    if not (args.no_write or args.load_only):
        write_report(machine, table + extra, args)


REPORT = ROOT / "BENCHMARKS.md"
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"


def write_report(machine, table, args):
    """Replace the figures between the markers in BENCHMARKS.md; the prose around them stays."""
    text = REPORT.read_text() if REPORT.exists() else f"# Benchmarks\n\n{BEGIN}\n{END}\n"
    if BEGIN not in text or END not in text:
        print(f"bench: {REPORT.name} has no {BEGIN} … {END} markers; not updated")
        return
    ran = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    command = " ".join(["python scripts/bench.py", *sys.argv[1:]])
    lines = [BEGIN, "", f"Measured {ran} with `{command}` on:", ""]
    lines += [f"- {key}: {value}" for key, value in machine.items()]
    lines += ["", table, "", END]
    head, rest = text.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    REPORT.write_text(head + "\n".join(lines) + tail)
    print(f"\nFigures written to {REPORT.relative_to(ROOT)}")


def production_env():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PYTEST"))}
    return env | {
        "DJANGO_SETTINGS_MODULE": "sequence_builder.settings",
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
        # The load client talks plain HTTP on loopback; everything else stays production.
        "SECURE_SSL_REDIRECT": "false",
        "LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
    }


def _python(env, *args):
    result = subprocess.run([PYTHON, *args], cwd=ROOT, env=env, check=False)  # noqa: S603
    if result.returncode != 0:
        raise SystemExit(f"bench: {' '.join(args[:2])} failed (exit {result.returncode})")


@contextlib.contextmanager
def fresh_database(kind):
    if kind == "sqlite":
        folder = Path(tempfile.mkdtemp(prefix="sequence-builder-bench-db-"))
        try:
            yield f"sqlite:///{folder / 'bench.sqlite3'}"
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    elif kind == "postgres":
        # Default durability (fsync on): the figures are what a real server would see.
        with temp_postgres.temp_postgres(fast=False) as url:
            yield url
    else:
        raise SystemExit(f"unknown database {kind!r}: use sqlite or postgres")


def machine_info():
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = "unknown"
    with contextlib.suppress(OSError, ValueError, IndexError):
        kb = int(Path("/proc/meminfo").read_text().split("\n")[0].split()[1])
        memory = f"{kb / 1024 / 1024:.1f} GiB"
    try:
        postgres = temp_postgres.server_version()
    except SystemExit:
        postgres = "not installed"
    import django
    import gunicorn

    return {
        "cores (nproc)": str(os.cpu_count()),
        "CPU": cpu,
        "memory": memory,
        "OS": platform.platform(),
        "Python": platform.python_version(),
        "Django": django.get_version(),
        "gunicorn": gunicorn.__version__,
        "SQLite": sqlite3.sqlite_version,
        "PostgreSQL": postgres,
    }


def print_machine(machine):
    print("Machine:")
    for key, value in machine.items():
        print(f"  {key}: {value}")


# --- Load run ------------------------------------------------------------------------------------
def load_run(env, editors, args, browser=None, database=""):
    """Start gunicorn, load the child's pages in Chromium on it, then run the load test on the
    same server: (load result, page rows)."""
    port = temp_postgres.free_port()
    gunicorn_env = env | {
        "BIND": f"127.0.0.1:{port}",
        "WEB_CONCURRENCY": str(args.workers),
        "GUNICORN_THREADS": str(args.threads),
        "GUNICORN_ACCESS_LOG": "",
        "GUNICORN_LOG_LEVEL": "warning",
    }
    server = subprocess.Popen(  # noqa: S603 - our own gunicorn config
        [
            str(Path(PYTHON).parent / "gunicorn"),
            "--config",
            "gunicorn.conf.py",
            "sequence_builder.wsgi",
        ],
        cwd=ROOT,
        env=gunicorn_env,
    )
    try:
        _wait_healthy(port)
        pages = measure_pages(port, browser, database)
        return _drive(port, editors, args), pages
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()


def measure_pages(port, browser, database=""):
    """The pages the child marked (`browser`: cookie name, a logged-in session, the pages),
    loaded in headless Chromium against the server on `port`: one row per page, p50/p95 of
    navigation start → load event end. Without Chromium (or Playwright) the rows say so."""
    if not browser or not browser["pages"]:
        return []
    import bench_pages

    specs = browser["pages"]
    reason = bench_pages.unavailable()
    if reason:
        print(f"    pages in Chromium: not measured ({reason})", flush=True)
        return [_page_row(spec, [], "not measured (no Chromium)", missing=True) for spec in specs]
    print(f"--- {database}: pages in Chromium ({len(specs)} pages and clicks) ---", flush=True)
    session = (browser["cookie_name"], browser["session"])
    pages = [spec for spec in specs if not spec.get("click")]
    adds = [spec for spec in specs if spec.get("click")]  # "add", the one click measured
    measured = bench_pages.page_loads(port, *session, pages) if pages else {}
    if adds:
        measured |= bench_pages.step_adds(port, *session, adds)
    rows = []
    for spec in specs:
        found = measured[spec["key"]]
        if spec.get("click"):
            samples = found["settled"]
            note = f"route {spec['path']}; {bench_pages.clicks_summary(found)}"
        else:
            samples = found["load"]
            note = f"route {spec['path']}; {bench_pages.summary(found)}"
        rows.append(_page_row(spec, samples, note))
        print(f"    {spec['name']}: p50 {percentile(samples, 50):.1f} ms", flush=True)
    return rows


def _page_row(spec, samples, note, *, missing=False):
    row = {"key": spec["key"], "name": spec["name"], "samples_ms": samples, "queries": None}
    return row | {"note": note, "after": spec.get("after"), "missing": missing}


def _place_page_rows(rows, pages):
    """Put the Chromium rows after the last row whose page they load (else at the end)."""
    keys = [row["key"] for row in rows]
    at = max((keys.index(p["after"]) + 1 for p in pages if p["after"] in keys), default=None)
    if at is None:
        rows.extend(pages)
    else:
        rows[at:at] = pages


def _wait_healthy(port, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            connection = HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/healthz", headers={"Host": "127.0.0.1"})
            if connection.getresponse().status == 200:
                return
        time.sleep(0.2)
    raise SystemExit("bench: gunicorn did not become healthy in time")


def _drive(port, editors, args):
    """Each editor saves their own sequence every `think` seconds on average (jittered), over
    one kept-alive connection, like a browser tab autosaving while someone types. Bounded by
    the duration; every request has a 10 s timeout."""
    deadline = time.monotonic() + args.load_seconds
    latencies, errors, lock = [], [], threading.Lock()
    editors = editors[: args.editors]

    def editor(spec):
        rng = random.Random(spec["session"])
        cookie = f"sessionid={spec['session']}; csrftoken={spec['csrf']}"
        version = spec["version"]
        saves = 0
        connection = HTTPConnection("127.0.0.1", port, timeout=10)
        time.sleep(rng.uniform(0, args.think))  # editors do not all start in the same instant
        while time.monotonic() < deadline:
            data = dict(spec["data"])
            if spec["versioned"]:
                data[spec["version_field"]] = str(version)
            # A different value each time (2..23), so every save really changes the step.
            saves += 1
            data[spec["change_field"]] = str(2 + saves % 22)
            body = urllib.parse.urlencode(data, doseq=True)
            headers = {
                "Host": "127.0.0.1",
                "Cookie": cookie,
                "X-CSRFToken": spec["csrf"],
                "Content-Type": "application/x-www-form-urlencoded",
                "HX-Request": "true",
            }
            started = time.perf_counter()
            try:
                connection.request("POST", spec["path"], body, headers)
                response = connection.getresponse()
                response.read()
                status = response.status
            except OSError as error:
                status = type(error).__name__
                connection.close()
                connection = HTTPConnection("127.0.0.1", port, timeout=10)
            elapsed = (time.perf_counter() - started) * 1000
            with lock:
                if status in spec["ok_statuses"]:
                    latencies.append(elapsed)
                else:
                    errors.append(status)
            if status in spec["ok_statuses"]:
                version += 1
            time.sleep(max(0.0, rng.uniform(0.5, 1.5) * args.think - elapsed / 1000))
        connection.close()

    threads = [threading.Thread(target=editor, args=(spec,)) for spec in editors]
    load_before = os.getloadavg()[0]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=args.load_seconds + 30)
    duration = time.monotonic() - started
    completed = len(latencies) + len(errors)
    result = {
        "editors": len(editors),
        "what": editors[0]["what"] if editors else "",
        "requests": completed,
        "throughput": completed / duration if duration else 0.0,
        "p50": percentile(latencies, 50),
        "p99": percentile(latencies, 99),
        "max": max(latencies) if latencies else None,
        "errors": len(errors),
        "error_kinds": sorted({str(e) for e in errors}),
        # Other work on the machine shows up in the tail latencies: say how busy it was.
        "loadavg": f"{load_before:.1f} → {os.getloadavg()[0]:.1f}",
    }
    print(f"    {json.dumps(result)}", flush=True)
    return result


def percentile(samples, p):
    if not samples:
        return None
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[index]


# --- The table -----------------------------------------------------------------------------------
def render_table(results, args):
    databases = list(results)
    labels = {"sqlite": "SQLite", "postgres": "PostgreSQL"}
    header = ["Measurement"]
    for database in databases:
        label = labels.get(database, database)
        header += [f"{label} p50 ms", f"{label} p95 ms", f"{label} queries"]
    header += ["Target", "Notes"]
    lines = [_row(header), _row(["---"] * len(header))]
    names = []
    for measured in results.values():
        for row in measured["rows"]:
            if row["key"] not in names:
                names.append(row["key"])
    for key in names:
        rows = {
            db: next((r for r in results[db]["rows"] if r["key"] == key), None) for db in databases
        }
        first = next(r for r in rows.values() if r)
        cells = [first["name"]]
        met = []
        for database in databases:
            row = rows[database]
            if row is None or row.get("missing") or not row["samples_ms"]:
                cells += ["—", "—", "—"]
                continue
            p50, p95 = percentile(row["samples_ms"], 50), percentile(row["samples_ms"], 95)
            queries = row.get("queries")
            cells += [_ms(p50), _ms(p95), "—" if queries is None else str(queries)]
            if key in TARGETS:
                _, limit = TARGETS[key]
                met.append(p50 is not None and p50 < limit)
        target = ""
        if key in TARGETS:
            stat, limit = TARGETS[key]
            verdict = "met" if met and all(met) else "NOT met" if met else "not measured"
            target = f"{stat} < {limit:.0f} ms: {verdict}"
        cells += [target, first.get("note", "")]
        lines.append(_row(cells))

    lines += [
        "",
        f"Load run: gunicorn with {args.workers} workers x {args.threads} threads "
        f"(gthread), production settings, client on 127.0.0.1.",
        "",
    ]
    load_header = [
        "Database",
        "Editors",
        "Request",
        "Duration s",
        "Requests",
        "Throughput req/s",
        "p50 ms",
        "p99 ms",
        "max ms",
        "Errors",
        "Machine load avg",
        "Target",
    ]
    lines += [_row(load_header), _row(["---"] * len(load_header))]
    for database in databases:
        load = results[database]["load"]
        ok = load["errors"] == 0 and load["p99"] is not None and load["p99"] < 250
        errors = str(load["errors"])
        if load["error_kinds"]:
            errors += f" ({', '.join(load['error_kinds'])})"
        lines.append(
            _row(
                [
                    labels.get(database, database),
                    str(load["editors"]),
                    load["what"],
                    f"{args.load_seconds:.0f}",
                    str(load["requests"]),
                    f"{load['throughput']:.1f}",
                    _ms(load["p50"]),
                    _ms(load["p99"]),
                    _ms(load["max"]),
                    errors,
                    load.get("loadavg", ""),
                    "0 errors, p99 < 250 ms: " + ("met" if ok else "NOT met"),
                ]
            )
        )
    return "\n".join(lines)


def render_ratios(results):
    """The ratios between rows that scripts/bench_steps.py asks for (issue 10), per database."""
    import bench_steps

    labels = {"sqlite": "SQLite", "postgres": "PostgreSQL"}
    lines = bench_steps.ratios(results, labels, lambda samples: percentile(samples, 50))
    return "\n\nRatios (issue 10, same run):\n\n" + "\n".join(lines) if lines else ""


def _row(cells):
    return "| " + " | ".join(cells) + " |"


def _ms(value):
    return "—" if value is None else f"{value:.1f}"


# =================================================================================================
# Measuring (the child process: Django set up against the fresh database)
# =================================================================================================
class Bench:
    """What a measuring module gets: a logged-in client, the seeded objects, a timer."""

    def __init__(
        self, *, client, users, big, sequences, editor_sequences, sandbox, templates, sms_templates
    ):
        self.client = client
        self.users = users
        self.big = big  # the 50-step sequence with a long history
        self.sequences = sequences
        self.editor_sequences = editor_sequences  # one 10-step sequence per editor
        self.sandbox = sandbox
        self.templates = templates  # usable email template ids
        self.sms_templates = sms_templates

    def time(self, request, *, repeats=REPEATS, warmup=3):
        """Run `request()` (returns a response) `repeats` times; (samples in ms, queries).

        The query count is from one extra run, so counting does not slow the timed runs."""
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        for _ in range(warmup):
            _expect_ok(request())
        samples = []
        budget_ends = time.perf_counter() + TIME_BUDGET
        for _ in range(repeats):
            started = time.perf_counter()
            _expect_ok(request())
            samples.append((time.perf_counter() - started) * 1000)
            if len(samples) >= MIN_REPEATS and started > budget_ends:
                break  # a slow page: enough samples for p50/p95 without a long wait
        with CaptureQueriesContext(connection) as queries:
            _expect_ok(request())
        return samples, len(queries)


def _expect_ok(response):
    if response.status_code >= 400:
        raise RuntimeError(f"benchmark request failed with {response.status_code}")
    return response


def measure_child(args):
    from closesandbox import Sandbox

    sandbox = Sandbox(api_keys={SANDBOX_KEY}, host="127.0.0.1", port=0).start()
    os.environ |= {
        "CLOSE_API_KEY": SANDBOX_KEY,
        "CLOSE_API_URL": sandbox.url,
        "CLOSE_APP_URL": f"{sandbox.base_url}/_sandbox/",
    }
    import django

    django.setup()
    from django.conf import settings
    from django.test import Client

    settings.BUILDER_RUN_JOBS_INLINE = True  # publishing measured start to finish
    started = time.perf_counter()
    seeded = seed(sandbox)
    print(f"    seeded in {time.perf_counter() - started:.1f} s", flush=True)
    client = Client()
    client.force_login(seeded["users"][0])
    bench = Bench(client=client, sandbox=sandbox, **seeded)
    rows = [] if args.load_only else measure_core(bench)
    scripts = {}
    provided = set()  # area modules that measured their own rows
    load_request = None
    for name in [] if args.load_only else AREA_MODULES:
        if not (SCRIPTS / f"{name}.py").exists():
            continue
        module = importlib.import_module(name)
        if hasattr(module, "measure"):
            provided.add(name)
            for row in module.measure(bench):
                # A row may carry "key" (step_edit, template_search, diff_page, publish) to
                # fill one of the required measurements.
                rows.append({"key": f"{name}:{row['name']}", **row})
        else:
            scripts[name] = _run_script(name)
        if hasattr(module, "autosave_request"):
            load_request = module.autosave_request
    if not args.load_only:
        # A required row is the area's own when its module measured; otherwise measure what
        # exists, and say "not built yet" for what does not.
        covered = {row["key"] for row in rows}
        covered |= {key for key, owner in OWNER_MODULES.items() if owner in provided}
        rows += measure_fallbacks(bench, covered)
        rows = fill_todo_rows(rows, covered)
    editors = load_sessions(bench, load_request)
    browser = browser_pages(bench, rows)
    Path(args.measure).write_text(
        json.dumps({"rows": rows, "editors": editors, "scripts": scripts, "browser": browser})
    )
    sandbox.stop()


def browser_pages(bench, rows):
    """The pages rows asked to be loaded in Chromium (a row's "page", taken off the row), with a
    session logged in as the bench's client user, for the parent (measure_pages)."""
    from django.conf import settings

    pages = []
    for row in rows:
        page = row.pop("page", None)
        if page is not None:
            pages.append(page | {"after": row["key"]})
    if not pages:
        return None
    return {
        "cookie_name": settings.SESSION_COOKIE_NAME,
        "session": _login_session(bench.users[0]),
        "pages": pages,
    }


def _run_script(name):
    result = subprocess.run(  # noqa: S603
        [PYTHON, str(SCRIPTS / f"{name}.py")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    return (result.stdout + result.stderr).strip()


# --- Seeding -------------------------------------------------------------------------------------
def seed(sandbox):
    from django.contrib.auth.models import Group, User

    from builder import template_sync
    from builder.models import CloseTemplate, Sequence

    rng = random.Random(7)
    existing = len(sandbox.email_templates) + len(sandbox.sms_templates)
    sandbox.add_email_templates(TEMPLATES - existing)
    template_sync.sync_templates()
    assert CloseTemplate.objects.count() == TEMPLATES, CloseTemplate.objects.count()
    email_ids = list(
        CloseTemplate.objects.filter(kind="email", is_shared=True, is_archived=False)
        .order_by("pk")
        .values_list("close_id", flat=True)
    )
    sms_ids = list(
        CloseTemplate.objects.filter(kind="sms", is_shared=True, is_archived=False)
        .order_by("pk")
        .values_list("close_id", flat=True)
    )

    groups = {group.name: group for group in Group.objects.all()}
    users = []
    for number in range(1, TEAM + 1):
        user = User.objects.create_user(
            username=f"member{number:02d}",
            password=secrets.token_urlsafe(12),
            first_name=f"Member {number}",
        )
        roles = ["Editor"] + (["Reviewer"] if number <= 5 else [])
        roles += ["Publisher"] if 4 <= number <= 7 else []
        user.groups.set([groups[role] for role in roles])
        users.append(user)

    sequences = []
    for number in range(SEQUENCES):
        steps = EDITOR_STEPS if number < TEAM else rng.randint(3, 8)
        sequences.append(
            _make_sequence(
                f"Outbound cadence {number + 1:03d}",
                steps,
                users[number % TEAM],
                rng,
                email_ids,
                sms_ids,
                revisions=rng.randint(1, 3),
            )
        )
    big = _make_sequence(
        "Enterprise onboarding (50 steps)",
        BIG_STEPS,
        users[0],
        rng,
        email_ids,
        sms_ids,
        revisions=20,
        comments=12,
    )
    Sequence.objects.filter(pk=big.pk).update(status=Sequence.Status.IN_REVIEW)
    big.refresh_from_db()
    return {
        "users": users,
        "big": big,
        "sequences": sequences,
        "editor_sequences": sequences[:TEAM],
        "templates": email_ids,
        "sms_templates": sms_ids,
    }


def _make_sequence(name, step_count, user, rng, email_ids, sms_ids, *, revisions, comments=0):
    from builder.models import Comment, Revision, Sequence, Step

    sequence = Sequence.create_draft(name=name, timezone_name="America/New_York", user=user)
    steps = []
    for position in range(step_count):
        kind = "call" if position == 0 else rng.choice(["email", "email", "email", "call", "sms"])
        # Close's rule: the first email starts a thread, later ones may reply in it.
        first_email = kind == "email" and not any(s.step_type == "email" for s in steps)
        steps.append(
            Step(
                sequence=sequence,
                position=position,
                step_type=kind,
                delay=0 if position == 0 else rng.choice([3600, 86400, 2 * 86400, 3 * 86400]),
                email_template_id=rng.choice(email_ids) if kind == "email" else "",
                sms_template_id=rng.choice(sms_ids) if kind == "sms" and sms_ids else "",
                threading=("new_thread" if first_email else "old_thread")
                if kind == "email"
                else "",
                required=True,
            )
        )
    Step.objects.bulk_create(steps)
    sequence_spec = sequence.to_spec()
    columns = Revision.snapshot_columns(sequence_spec)
    Revision.objects.bulk_create(
        Revision(sequence=sequence, number=number, created_by=user, summary="Edited", **columns)
        for number in range(2, revisions + 2)
    )
    Sequence.objects.filter(pk=sequence.pk).update(version=revisions + 1)
    sequence.refresh_from_db()
    saved = sequence.ordered_steps()
    Comment.objects.bulk_create(
        Comment(
            sequence=sequence,
            step=saved[n % len(saved)],
            author=user,
            step_label=f"Step {n % len(saved) + 1}",
            body=f"Comment {n}: tighten this.",
        )
        for n in range(comments)
    )
    return sequence


# --- Core measurements ---------------------------------------------------------------------------
def measure_core(bench):
    from django.urls import reverse

    rows = []
    big = bench.big

    def row(key, name, timed, note=""):
        samples, queries = timed
        rows.append(
            {"key": key, "name": name, "samples_ms": samples, "queries": queries, "note": note}
        )

    edit_url = reverse("sequence_edit", args=[big.pk])
    row(
        "editor_page",
        f"Editor page, {BIG_STEPS}-step sequence (GET)",
        bench.time(lambda: bench.client.get(edit_url)),
    )
    row(
        "sequence_list",
        f"Sequence list ({SEQUENCES + 1} sequences, first page of 50)",
        bench.time(lambda: bench.client.get(reverse("sequence_list"))),
    )

    return rows


def measure_fallbacks(bench, present):
    """The required measurements no area module provided, measured on the routes that exist."""
    from django.urls import reverse

    from builder.models import Step

    rows = []
    names = _route_names()
    if "step_edit" not in present and "step_update" in names:
        sequence = _make_sequence(
            "Step edit bench (50 steps)",
            BIG_STEPS,
            bench.users[0],
            random.Random(5),
            bench.templates,
            bench.sms_templates,
            revisions=1,
        )
        request = _step_autosave(sequence)
        state = {"version": sequence.version, "count": 0}

        def save():
            state["count"] += 1
            data = request["data"] | {
                "version": str(state["version"]),
                "hours": str(2 + state["count"] % 22),
            }
            response = bench.client.post(request["path"], data, HTTP_HX_REQUEST="true")
            if response.status_code == 200:
                state["version"] += 1
            return response

        samples, queries = bench.time(save)
        rows.append(
            {
                "key": "step_edit",
                "name": TODO_ROWS["step_edit"],
                "samples_ms": samples,
                "queries": queries,
                "note": f"htmx POST {request['path']} and its fragments",
            }
        )
    if "template_search" not in present and "step_templates" in names:
        step = Step.objects.filter(sequence=bench.big, step_type="email").order_by("position")[0]
        url = reverse("step_templates", args=[bench.big.pk, step.pk])
        samples, queries = bench.time(
            lambda: bench.client.get(url, {"q": "follow"}, HTTP_HX_REQUEST="true")
        )
        rows.append(
            {
                "key": "template_search",
                "name": TODO_ROWS["template_search"],
                "samples_ms": samples,
                "queries": queries,
                "note": f"htmx GET {url}?q=follow",
            }
        )
    if "diff_page" not in present:
        url = _route_url(["sequence_diff", "sequence_review"], bench.big)
        if url:
            samples, queries = bench.time(lambda: bench.client.get(url))
            rows.append(
                {
                    "key": "diff_page",
                    "name": TODO_ROWS["diff_page"],
                    "samples_ms": samples,
                    "queries": queries,
                    "note": f"route {url}",
                }
            )
    if "publish" not in present:
        rows.extend(measure_publish_service(bench))
    return rows


def _route_names():
    from django.urls import get_resolver

    return {name for name in get_resolver().reverse_dict if isinstance(name, str)}


def _route_url(candidates, sequence):
    """The URL of the first route named in `candidates` that exists and is addressed by the
    sequence alone."""
    from django.urls import NoReverseMatch, reverse

    for candidate in candidates:
        try:
            return reverse(candidate, kwargs={"sequence_id": sequence.pk})
        except NoReverseMatch:
            continue
    return None


def measure_publish_service(bench, copies=8):
    """Until scripts/bench_publish.py exists: the publishing service itself (validate, guard,
    payload, Close calls, audit) for fresh approved 50-step sequences, with the time spent
    waiting for Close (the sandbox on loopback) taken out."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from builder import close, publishing
    from builder.models import Sequence

    key, name = "publish", TODO_ROWS["publish"]
    publisher = next(u for u in bench.users if u.groups.filter(name="Publisher").exists())
    rng = random.Random(11)
    in_close = [0.0]
    original = close.CloseClient._request

    def timed_request(self, *args, **kwargs):
        started = time.perf_counter()
        try:
            return original(self, *args, **kwargs)
        finally:
            in_close[0] += time.perf_counter() - started

    samples, queries, totals = [], 0, []
    close.CloseClient._request = timed_request
    try:
        for number in range(copies + 1):
            sequence = _make_sequence(
                f"Publish me {number}",
                BIG_STEPS,
                publisher,
                rng,
                bench.templates,
                bench.sms_templates,
                revisions=1,
            )
            latest = sequence.revisions.order_by("-number").first()
            Sequence.objects.filter(pk=sequence.pk).update(
                status=Sequence.Status.APPROVED, approved_revision=latest
            )
            sequence.refresh_from_db()
            in_close[0] = 0.0
            started = time.perf_counter()
            with CaptureQueriesContext(connection) as captured:
                outcome = publishing.publish_sequence(sequence=sequence, user=publisher)
            total = time.perf_counter() - started
            if not outcome.ok:
                raise RuntimeError(outcome.message)
            if number:  # the first is a warm-up
                samples.append((total - in_close[0]) * 1000)
                totals.append(total * 1000)
                queries = len(captured)
    except Exception as error:  # noqa: BLE001 - a bench row says what failed instead
        return [
            {
                "key": key,
                "name": name,
                "samples_ms": [],
                "queries": 0,
                "missing": True,
                "note": f"publish_sequence() failed: {error}",
            }
        ]
    finally:
        close.CloseClient._request = original
    note = (
        "publishing.publish_sequence() in-process; total with "
        f"Close's time p50 {statistics.median(totals):.1f} ms"
    )
    return [{"key": key, "name": name, "samples_ms": samples, "queries": queries, "note": note}]


TODO_ROWS = {
    "step_edit": "Step edit round trip (autosave of one step)",
    "template_search": f"Template search over {TEMPLATES:,} templates",
    "diff_page": "Diff page (two revisions of the 50-step sequence)",
    "publish": f"Publish a {BIG_STEPS}-step sequence (overhead beside Close's time)",
}
OWNER_MODULES = {
    "step_edit": "bench_editor",
    "template_search": "bench_editor",
    "diff_page": "bench_review",
    "publish": "bench_publish",
}
TODO_OWNERS = {
    "step_edit": "editor (issue 3): scripts/bench_editor.py",
    "template_search": "editor (issue 3): scripts/bench_editor.py",
    "diff_page": "review (issue 5): scripts/bench_review.py",
    "publish": "publishing (issue 6): scripts/bench_publish.py",
}


def fill_todo_rows(rows, covered):
    """A row for every required measurement: the figure, or a TODO saying it is not built."""
    present = {row["key"] for row in rows} | covered
    for key, name in TODO_ROWS.items():
        if key not in present:
            rows.append(
                {
                    "key": key,
                    "name": name,
                    "samples_ms": [],
                    "queries": 0,
                    "missing": True,
                    "note": f"TODO: not built yet ({TODO_OWNERS[key]})",
                }
            )
    return rows


# --- Load-run sessions ---------------------------------------------------------------------------
def load_sessions(bench, autosave_request):
    """A logged-in session, a CSRF token and the request to repeat, for each editor."""
    editors = []
    for user, sequence in zip(bench.users, bench.editor_sequences, strict=True):
        session_key = _login_session(user)
        if autosave_request is not None:
            spec = autosave_request(bench, sequence)
        else:
            spec = _step_autosave(sequence)
        editors.append(
            {
                "session": session_key,
                "csrf": secrets.token_hex(16),  # 32 characters: Django's unmasked secret form
                "version": sequence.version,
                **spec,
            }
        )
    return editors


def _login_session(user):
    """The key of a new session logged in as `user`, as the log-in page would make it."""
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[0]
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    return session.session_key


def _step_autosave(sequence):
    """What a step card sends when someone changes its wait: one step's fields (htmx)."""
    from django.urls import reverse

    step = sequence.ordered_steps()[1]
    return {
        "what": "step card autosave (htmx POST of one step's wait)",
        "path": reverse("step_update", args=[sequence.pk, step.pk]),
        "data": {"days": "0", "minutes": "0", "required": "on"},
        "versioned": True,
        "version_field": "version",
        "change_field": "hours",
        "ok_statuses": [200],
    }


if __name__ == "__main__":
    sys.exit(main())
