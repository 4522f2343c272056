"""Two people import the same Close sequence at the same moment: one draft, one clear refusal.

Real threads with their own database connections against the real database (SQLite here,
PostgreSQL in CI); the unique close_id constraint is what decides.
"""

import threading

import pytest
from django.db import connection

from builder import close, importing
from builder.models import Sequence

pytestmark = pytest.mark.django_db(transaction=True)
IMPORTERS = 6


def test_simultaneous_imports_of_one_close_sequence_make_one_draft(user, sandbox):
    made = sandbox.add_ui_sequence(
        {
            "name": "Built in Close",
            "timezone": "America/New_York",
            "steps": [{"step_type": "call", "delay": 0}],
        }
    )
    start = threading.Barrier(IMPORTERS)
    results, errors = [], []

    def import_it():
        try:
            client = close.client_from_settings()
            start.wait(timeout=60)
            try:
                importing.import_from_close(close_id=made["id"], user=user, client=client)
                results.append("imported")
            except importing.ImportRefused as refusal:
                results.append(str(refusal))
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=import_it) for _ in range(IMPORTERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "an import never returned"

    assert errors == []
    assert results.count("imported") == 1
    assert all("already holds Close's sequence" in r for r in results if r != "imported")
    assert Sequence.objects.filter(close_id=made["id"]).count() == 1
