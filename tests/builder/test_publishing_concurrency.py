"""Twenty publishers press "Publish to Close" at the same moment: Close gets one sequence.

Real threads, each with its own database connection, against the real database (SQLite here,
PostgreSQL in CI when DATABASE_URL points at it), and the background jobs running for real.
"""

import threading

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from builder import jobs
from builder.models import PublishAttempt, Sequence

pytestmark = pytest.mark.django_db(transaction=True)
PRESSES = 20


def test_twenty_simultaneous_publish_requests_create_exactly_one_sequence(
    approved_sequence, publisher, sandbox, synced
):
    url = reverse("sequence_publish", args=[approved_sequence.pk])
    data = {"status": "paused", "version": approved_sequence.version}
    clients = []
    for _ in range(PRESSES):
        client = Client()
        client.force_login(publisher)
        clients.append(client)
    start = threading.Barrier(PRESSES)
    answers = []
    errors = []

    def press(client):
        try:
            start.wait(timeout=60)
            response = client.post(url, data)
            answers.append((response.status_code, response.content.decode()))
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=press, args=(client,)) for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a press never answered"
    assert jobs.wait_all(timeout=60)

    assert errors == []
    statuses = sorted(status for status, _ in answers)
    assert statuses == [302] + [409] * (PRESSES - 1)
    for status, body in answers:
        if status == 409:
            message = body.split('role="alert">', 1)[1].split("</p>", 1)[0]
            assert (
                "publishing this sequence right now" in message or "already in Close" in message
            ), message
    assert len(sandbox.sequences) == 1
    assert len([r for r in sandbox.requests if r.method == "POST"]) == 1
    attempt = PublishAttempt.objects.get()
    assert attempt.outcome == PublishAttempt.Outcome.PUBLISHED
    sequence = Sequence.objects.get(pk=approved_sequence.pk)
    assert sequence.close_id == sandbox.sequences[0]["id"]
    assert sequence.publishing_since is None
