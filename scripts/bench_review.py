"""Review benchmark: the review page (the diff) of a 50-step sequence with 10 changes.

Target: the review page renders in under 100 ms (p95), with a query count that does not depend on
the number of steps, comments or revisions.

    python scripts/bench_review.py [--repeats 40]

runs on its own: a temporary SQLite database under production settings (DEBUG off), seeded with a
reviewer, an author, 60 email templates with real bodies and the 50-step sequence below, measured
in-process with Django's test client; prints p50/p95 and query counts. `make bench`
(scripts/bench.py) imports this module instead and calls `measure(bench)` on its own data.

The scenario: an approved 50-step sequence, then one save with 10 changes (6 waits, 2 template
swaps with their text diff, 1 step moved, 1 step removed), submitted again; the page shows the
diff since the approved revision, the comments and the state log.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

STEPS = 50
TARGET_MS = 100.0
REPEATS = 40


def build_scenario(*, author, reviewer, email_ids, name="Review bench: 50 steps, 10 changes"):
    """The approved-then-changed 50-step sequence, in review again. Returns the sequence."""
    from builder import review
    from builder.models import Sequence, Step

    sequence = Sequence.create_draft(name=name, timezone_name="America/New_York", user=author)
    with sequence.editing(user=author, loaded_version=sequence.version, summary="50 steps"):
        steps = []
        for position in range(STEPS):
            if position % 5 == 0:
                steps.append(Step(sequence=sequence, position=position, step_type="call"))
            else:
                steps.append(
                    Step(
                        sequence=sequence,
                        position=position,
                        step_type="email",
                        delay=86400 * (1 + position % 3),
                        email_template_id=email_ids[position % len(email_ids)],
                        threading="new_thread" if position == 1 else "old_thread",
                    )
                )
        Step.objects.bulk_create(steps)
    review.submit_for_review(sequence=sequence, user=author)
    sequence.refresh_from_db()
    review.approve(sequence=sequence, user=reviewer, revision_number=sequence.version)
    sequence.refresh_from_db()
    for number in range(10):
        review.add_comment(sequence=sequence, user=reviewer, body=f"Comment {number}")

    with sequence.editing(user=author, loaded_version=sequence.version, summary="10 changes"):
        rows = sequence.ordered_steps()
        for step in rows[2:32:5]:  # 6 waits (steps 3, 8, ... are emails)
            step.delay += 3600
        rows[11].email_template_id = email_ids[-1]  # 2 template swaps
        rows[23].email_template_id = email_ids[-2]
        rows.insert(40, rows.pop(3))  # 1 step moved
        removed = rows.pop(45)  # 1 step removed
        removed.delete()
        for position, step in enumerate(rows):
            step.position = position
        Step.objects.bulk_update(rows, ["delay", "email_template_id", "position"])
    review.submit_for_review(sequence=sequence, user=author)
    sequence.refresh_from_db()
    return sequence


def measure(bench):
    """Rows for `make bench` (scripts/bench.py), on its seeded team and templates."""
    from django.test import Client
    from django.urls import reverse

    reviewer = next(user for user in bench.users if user.groups.filter(name="Reviewer").exists())
    author = next(user for user in bench.users if not user.groups.filter(name="Reviewer").exists())
    sequence = build_scenario(author=author, reviewer=reviewer, email_ids=bench.templates[:60])
    client = Client()
    client.force_login(reviewer)
    rows = []
    for key, name, route, args in _PAGES:
        url = reverse(route, args=[sequence.pk, *args(sequence)])
        samples, queries = bench.time(lambda url=url: client.get(url))
        rows.append(
            {
                **({"key": key} if key else {}),
                "name": name,
                "samples_ms": samples,
                "queries": queries,
                "note": f"route {url}; target p95 < {TARGET_MS:.0f} ms" if key else f"route {url}",
            }
        )
    samples = _time_diff(sequence, repeats=REPEATS)
    rows.append(
        {"name": "Diff alone (builder/diff.py)", "samples_ms": samples, "queries": 0, "note": ""}
    )
    return rows


_PAGES = [
    ("diff_page", f"Review page ({STEPS} steps, 10 changes)", "sequence_review", lambda s: []),
    ("", "History page", "sequence_history", lambda s: []),
    ("", "Revision page (read-only + restore diff)", "sequence_revision", lambda s: [2]),
]


def _time_diff(sequence, *, repeats):
    from builder import diff, review
    from builder.views.review import template_texts

    before = review.review_base(sequence).to_spec()
    after = sequence.to_spec()
    templates = template_texts(diff.template_ids(before, after))
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        result = diff.diff_specs(before, after, templates)
        samples.append((time.perf_counter() - started) * 1000)
    assert result.count == 10, result.headlines()
    return samples


# --- Standalone -------------------------------------------------------------------------------
def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=REPEATS)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="review-bench-"))
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "sequence_builder.settings",
            "DEBUG": "false",
            "SECRET_KEY": "review-bench-only",
            "ALLOWED_HOSTS": "testserver",
            "SECURE_SSL_REDIRECT": "false",
            "DATABASE_URL": f"sqlite:///{workdir / 'bench.sqlite3'}",
            "CACHE_URL": "locmemcache://",
            "EMAIL_URL": "memorymail://",
            "LOG_LEVEL": "WARNING",
        }
    )
    import django

    django.setup()
    from django.core.management import call_command
    from django.test import Client
    from django.urls import reverse

    call_command("migrate", verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0)
    author, reviewer, email_ids = _seed_standalone()
    sequence = build_scenario(author=author, reviewer=reviewer, email_ids=email_ids)
    client = Client()
    client.force_login(reviewer)

    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(f"Review benchmark: {STEPS}-step sequence, 10 changes; {args.repeats} requests each")
    print(f"(load average {load} on {os.cpu_count()} CPUs: wall time includes waiting for a CPU)")
    print(f"{'what':44} {'p50 ms':>8} {'p95 ms':>8} {'cpu p50':>8} {'queries':>8}")
    failed = False
    for key, name, route, route_args in _PAGES:
        url = reverse(route, args=[sequence.pk, *route_args(sequence)])
        samples, cpu, queries = _time_requests(client, url, repeats=args.repeats)
        p50, p95 = _p50_p95(samples)
        verdict = ""
        if key:
            ok = p95 < TARGET_MS
            failed |= not ok
            verdict = f"  {'OK' if ok else 'TOO SLOW'} (target p95 < {TARGET_MS:.0f} ms)"
        print(
            f"{name:44} {p50:8.1f} {p95:8.1f} {statistics.median(cpu):8.1f} {queries:8d}{verdict}"
        )
    p50, p95 = _p50_p95(_time_diff(sequence, repeats=args.repeats))
    print(f"{'Diff alone (builder/diff.py)':44} {p50:8.2f} {p95:8.2f} {'':8} {0:8d}")
    return 1 if failed else 0


def _seed_standalone():
    from django.contrib.auth.models import Group, User

    from builder.models import CloseTemplate

    def member(name, role):
        user = User.objects.create_user(username=name, email=f"{name}@example.com")
        user.groups.set([Group.objects.get(name=role)])
        return user

    paragraphs = [
        "Hi {{ contact.first_name }},",
        "Teams like {{ lead.display_name }} usually tell us outbound takes too long to set up.",
        "We built a way to review every step before it goes live.",
        "Would a 15-minute call next week be useful?",
        "Best,<br>{{ user.first_name }}",
    ]
    CloseTemplate.objects.bulk_create(
        CloseTemplate(
            close_id=f"tmpl_bench_{number:03d}",
            kind="email",
            name=f"Bench template {number:03d}",
            subject=f"Quick question #{number}",
            body="".join(
                f"<p>{text} {number if i == 2 else ''}</p>" for i, text in enumerate(paragraphs)
            ),
            is_shared=True,
        )
        for number in range(60)
    )
    ids = list(CloseTemplate.objects.order_by("pk").values_list("close_id", flat=True))
    return member("author", "Editor"), member("reviewer", "Reviewer"), ids


def _time_requests(client, url, *, repeats, warmup=3):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for _ in range(warmup):
        _ok(client.get(url))
    samples, cpu = [], []
    for _ in range(repeats):
        started, started_cpu = time.perf_counter(), time.process_time()
        _ok(client.get(url))
        samples.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - started_cpu) * 1000)
    with CaptureQueriesContext(connection) as queries:
        _ok(client.get(url))
    return samples, cpu, len(queries)


def _ok(response):
    if response.status_code != 200:
        raise RuntimeError(f"{response.request['PATH_INFO']} answered {response.status_code}")
    return response


def _p50_p95(samples):
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[max(0, round(0.95 * len(ordered)) - 1)]


if __name__ == "__main__":
    sys.exit(main())
