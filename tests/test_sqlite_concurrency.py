"""SQLite as configured in settings (WAL, busy timeout, IMMEDIATE transactions) lets 20 editors
save at the same moment without "database is locked". (Checked: with a near-zero timeout, or
with deferred transactions, this test fails with exactly that error.)

The test suite's own SQLite database lives in memory, so this runs a fresh process against a
file database, the way `make run` and a one-box deployment use SQLite.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SCRIPT = r"""
import json, threading
import django
django.setup()
from django.core.management import call_command
from django.db import connection, transaction
from django.db.models import F

call_command("migrate", verbosity=0)
from django.contrib.auth.models import User
from builder.models import Sequence, Step

user = User.objects.create_user("alice", password="x" * 20)
sequences = []
for number in range(20):
    sequence = Sequence.create_draft(name=f"S{number}", timezone_name="UTC", user=user)
    Step.objects.bulk_create(
        Step(sequence=sequence, position=p, step_type="call", delay=3600) for p in range(10)
    )
    sequences.append(sequence.pk)
connection.close()

barrier = threading.Barrier(len(sequences))
errors = []

def editor(pk):
    try:
        barrier.wait(timeout=60)
        for _ in range(10):
            sequence = Sequence.objects.get(pk=pk)
            with sequence.editing(user=user, loaded_version=sequence.version, summary="autosave"):
                Step.objects.filter(sequence=sequence, position=1).update(delay=F("delay") + 60)
            # Read, then write, in one transaction (as the publish guard does): with SQLite's
            # default deferred transactions the write fails at once when another save committed
            # in between; IMMEDIATE takes the write lock first, so it waits its turn instead.
            with transaction.atomic():
                count = Step.objects.filter(sequence_id=pk).count()
                Step.objects.filter(sequence_id=pk, position=2).update(delay=F("delay") + count)
    except Exception as error:
        errors.append(f"{type(error).__name__}: {error}")
    finally:
        connection.close()

threads = [threading.Thread(target=editor, args=(pk,)) for pk in sequences]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join(timeout=240)
errors += [f"{thread.name} still saving after 240 s" for thread in threads if thread.is_alive()]
with connection.cursor() as cursor:
    cursor.execute("PRAGMA journal_mode")
    mode = cursor.fetchone()[0]
versions = sorted(Sequence.objects.values_list("version", flat=True))
print(json.dumps({"errors": errors, "journal_mode": mode, "versions": versions}))
"""


def test_twenty_simultaneous_autosaves_on_sqlite_all_succeed(tmp_path):
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DJANGO_SETTINGS_MODULE", "DATABASE_URL"}
    }
    env |= {
        "DJANGO_SETTINGS_MODULE": "sequence_builder.settings",
        "DEBUG": "true",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'app.sqlite3'}",
        "LOG_LEVEL": "WARNING",
    }

    result = subprocess.run(  # noqa: S603
        [sys.executable, "-c", SCRIPT],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome["errors"] == []
    assert outcome["journal_mode"] == "wal"
    assert outcome["versions"] == [11] * 20  # version 1 at creation, then 10 saves each
