"""`make bench` row for the audience check: "audience check, 1,000 contacts: N ms, M Close
requests".

On its own throw-away SQLite database (production settings, DEBUG off) and a local Close sandbox
on loopback seeded with a Smart View of 1,000 contacts, it checks a sequence whose written email
uses `{{ contact.first_name }}` and `{{ lead.display_name }}` against that view with the limit
at 1,000, start to finish (the background job run inline, as bench.py runs publishing), RUNS
times with the reuse window off, and prints the median time and the Close requests one check
made (every HTTP answer, as the check counts them; the sandbox's request log says the same).

    python scripts/bench_audience.py [--runs 3]
"""

import argparse
import os
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT)]

SANDBOX_KEY = "bench-audience-key"
CONTACTS = 1000


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="sequence-builder-bench-audience-"))
    try:
        run(args, folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def run(args, folder):
    from closesandbox import Sandbox

    sandbox = Sandbox(api_keys={SANDBOX_KEY}, host="127.0.0.1", port=0).start()
    os.environ |= {
        "DJANGO_SETTINGS_MODULE": "sequence_builder.settings",
        "ENV_FILE": "",
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
        "DATABASE_URL": f"sqlite:///{folder / 'bench.sqlite3'}",
        "LOG_LEVEL": "WARNING",
        "CLOSE_API_KEY": SANDBOX_KEY,
        "CLOSE_API_URL": sandbox.url,
        "CLOSE_APP_URL": f"{sandbox.base_url}/_sandbox/",
    }
    try:
        import django

        django.setup()
        from django.conf import settings
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        settings.BUILDER_RUN_JOBS_INLINE = True
        settings.AUDIENCE_REUSE_SECONDS = 0  # every run reads Close again
        view_id = sandbox.add_audience(CONTACTS)["id"]
        sequence, user = _sequence()
        timings, requests, logged = [], [], []
        for _ in range(max(1, args.runs)):
            before = len(sandbox.requests)
            started = time.perf_counter()
            found = _check(sequence, user, view_id)
            timings.append((time.perf_counter() - started) * 1000)
            requests.append(found.requests_made)
            logged.append(len(sandbox.requests) - before)
            if found.state != "done" or found.read_count != CONTACTS:
                raise SystemExit(f"bench_audience: the check did not finish: {found.message}")
        print(
            f"audience check, {CONTACTS:,} contacts: {statistics.median(timings):.0f} ms, "
            f"{requests[0]} Close requests "
            f"(median of {len(timings)} runs, {min(timings):.0f}–{max(timings):.0f} ms; "
            f"the sandbox logged {logged[0]} requests per check)"
        )
    finally:
        sandbox.stop()


def _sequence():
    from django.contrib.auth import get_user_model

    from builder.models import Sequence, Step

    user = get_user_model().objects.create_superuser("bench", "bench@example.com", "x" * 20)
    sequence = Sequence.create_draft(name="Audience bench", timezone_name="UTC", user=user)
    with sequence.editing(user=user, loaded_version=sequence.version, summary="Copy"):
        Step.objects.create(
            sequence=sequence,
            position=0,
            step_type="email",
            content_source="written",
            threading="new_thread",
            subject="Hi {{ contact.first_name }}",
            body="<div>Hi {{ contact.first_name }}, a note for {{ lead.display_name }}.</div>",
        )
    return Sequence.objects.get(pk=sequence.pk), user


def _check(sequence, user, view_id):
    from builder import audience

    found = audience.start_check(
        sequence=sequence, user=user, smart_view_id=view_id, limit=CONTACTS
    )
    found.refresh_from_db()
    return found


if __name__ == "__main__":
    main()
