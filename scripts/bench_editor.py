"""Benchmark the step editor: page render time and SQL queries for a short and a long sequence.

    .venv/bin/python scripts/bench_editor.py [--runs 200]

Runs Django's test client against a throwaway SQLite database (migrated from scratch), with
the template cache holding the sandbox's templates plus 2,000 generated ones. Prints, for the
editor page with 3 and with 50 steps: wall-clock p50/p95 and CPU p50 in ms per request, and the
number of SQL queries; and the same for an autosave of one card and a template search. Figures,
not a pass/fail test (tests/builder/test_editor.py asserts the query count stays flat).
"""

import argparse
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


# Two of the sandbox's seeded templates (closesandbox/seed.py), as the editor tests use them.
BUMP = "tmpl_kcFjIXorOE5mikCzhi4ed1dRStfrMUNGTdZu2U4wiHz"  # "Follow-up — bump"
SMS_CHECK_IN = "smstmpl_71JQ1KxplWkUvKD7TBdDT643l8hSBT7sYxnj16xOXZT"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200, help="timed requests per figure")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-editor-") as folder:
        # The app's own settings, as production runs them (not the test suite's).
        os.environ.update(
            {
                "DJANGO_SETTINGS_MODULE": "sequence_builder.settings",
                "DEBUG": "false",
                "SECRET_KEY": "editor-bench-only",
                "ALLOWED_HOSTS": "testserver",
                "SECURE_SSL_REDIRECT": "false",
                "DATABASE_URL": f"sqlite:///{folder}/bench.sqlite3",
                "CACHE_URL": "locmemcache://",
                "EMAIL_URL": "memorymail://",
                "LOG_LEVEL": "WARNING",
            }
        )
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)
        client, sequences, user = _setup()
        rows = []
        for label, sequence in sequences.items():
            url = f"/sequences/{sequence.pk}/"
            timed = _measure(args.runs, lambda u=url: client.get(u))
            rows.append((f"editor page, {label}", *timed))
        long_sequence = sequences["50 steps"]
        step = long_sequence.ordered_steps()[24]  # an email step
        rows.append(("autosave one card (50 steps)", *_measure(args.runs, _autosave(client, step))))
        search = f"/sequences/{long_sequence.pk}/steps/{step.pk}/templates/"
        rows.append(
            (
                "template search, 2,000+ templates",
                *_measure(
                    args.runs,
                    lambda: client.get(search, {"q": "pricing variant"}, HTTP_HX_REQUEST="true"),
                ),
            )
        )
    print(f"Step editor, {args.runs} timed requests each (Django test client, SQLite)")
    print(f"{'':38} {'p50 ms':>8} {'p95 ms':>8} {'CPU p50':>8} {'queries':>8}")
    for label, p50, p95, cpu, queries in rows:
        print(f"{label:38} {p50:8.1f} {p95:8.1f} {cpu:8.1f} {queries:8d}")
    # Wall times include waiting for a busy CPU; the CPU column is the work the request did.
    print(f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores while measuring)")


def _setup():
    from django.contrib.auth import get_user_model
    from django.test import Client

    from builder.models import CloseTemplate, Sequence, Step
    from closesandbox import seed

    user = get_user_model().objects.create_superuser("bench", "bench@example.com", "x")
    templates = [
        CloseTemplate(
            close_id=t["id"],
            kind="email",
            name=t["name"],
            subject=t["subject"],
            body=t["body"],
            is_shared=t["is_shared"],
            is_archived=t["is_archived"],
        )
        for t in [*seed.email_templates(), *(seed.bulk_email_template(n) for n in range(2000))]
    ] + [
        CloseTemplate(
            close_id=t["id"],
            kind="sms",
            name=t["name"],
            body=t["text"],
            is_shared=t["is_shared"],
            is_archived=t["status"] == "archived",
        )
        for t in seed.sms_templates()
    ]
    CloseTemplate.objects.bulk_create(templates, batch_size=500)
    kinds = [
        {"step_type": "email", "email_template_id": BUMP, "threading": "old_thread"},
        {"step_type": "call"},
        {"step_type": "sms", "sms_template_id": SMS_CHECK_IN},
    ]
    sequences = {}
    for count in (3, 50):
        sequence = Sequence.create_draft(name=f"{count} steps", timezone_name="UTC", user=user)
        Step.objects.bulk_create(
            Step(sequence=sequence, position=i, delay=86400 if i else 0, **kinds[i % 3])
            for i in range(count)
        )
        sequences[f"{count} steps"] = sequence
    client = Client()
    client.force_login(user)
    return client, sequences, user


def _autosave(client, step):
    """A POST of one card, alternating two waits so every save really changes something; the
    next save sends the version the last one returned, as the page does."""
    url = f"/sequences/{step.sequence_id}/steps/{step.pk}/"
    state = {"version": step.sequence.version, "days": 1}

    def save():
        state["days"] = 3 - state["days"]
        data = {"version": state["version"], "days": state["days"], "hours": 0, "minutes": 0}
        response = client.post(url, data, HTTP_HX_REQUEST="true")
        found = re.search(rb'id="editor-version" value="(\d+)"', response.content)
        state["version"] = int(found.group(1)) if found else state["version"]
        return response

    return save


def _measure(runs, request):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for _ in range(10):  # warm up: template compilation, caches
        _checked(request())
    with CaptureQueriesContext(connection) as queries:
        _checked(request())
    query_count = len(queries.captured_queries)  # now: every request clears the query log
    timings, cpu = [], []
    for _ in range(runs):
        start, start_cpu = time.perf_counter(), time.process_time()
        _checked(request())
        timings.append((time.perf_counter() - start) * 1000)
        cpu.append((time.process_time() - start_cpu) * 1000)
    p95 = statistics.quantiles(timings, n=20)[-1]
    return statistics.median(timings), p95, statistics.median(cpu), query_count


def _checked(response):
    if response.status_code != 200:
        raise SystemExit(f"unexpected {response.status_code}: {response.content[:300]!r}")
    return response


if __name__ == "__main__":
    main()
