"""The background runner, and a publish that really runs in the background."""

import html
import threading

import pytest
from django.test import Client
from django.urls import reverse

from builder import close, jobs, publishing
from builder.models import PublishAttempt, Sequence
from tests.conftest import SANDBOX_KEY


def test_jobs_run_on_pool_threads_and_wait_all_waits():
    started = threading.Event()
    release = threading.Event()

    def job(value):
        started.set()
        release.wait(60)  # held until the test has seen it running
        return value, threading.current_thread().name

    future = jobs.submit(job, 42)
    assert started.wait(5)
    assert not future.done()
    assert not jobs.wait_all(timeout=0.05)

    release.set()

    assert jobs.wait_all(timeout=5)
    value, thread_name = future.result()
    assert value == 42 and thread_name.startswith("job")


def test_inline_jobs_run_in_the_calling_thread(settings):
    settings.BUILDER_RUN_JOBS_INLINE = True

    future = jobs.submit(lambda: threading.current_thread().name)

    assert future.result() == threading.current_thread().name


def test_a_failing_job_is_logged_and_does_not_stop_the_pool(caplog, monkeypatch):
    closed = []
    monkeypatch.setattr(jobs.connections, "close_all", lambda: closed.append(True))

    def broken():
        raise RuntimeError("boom")

    failed = jobs.submit(broken)
    fine = jobs.submit(lambda: "fine")

    assert jobs.wait_all(timeout=5)
    assert isinstance(failed.exception(), RuntimeError)
    assert fine.result() == "fine"
    assert "Background job broken failed" in caplog.text
    assert closed == [True, True], "each job closes its database connections"


@pytest.mark.django_db(transaction=True)
def test_publish_returns_at_once_and_the_page_shows_closes_wait(
    approved_sequence, publisher, sandbox, synced, monkeypatch
):
    sandbox.inject("rate_limit", method="POST", path="/sequence/", reset=9)
    waiting = threading.Event()
    release = threading.Event()

    def sleep(seconds):  # Close's wait, held until the test has looked at the page
        waiting.set()
        assert release.wait(10)

    monkeypatch.setattr(
        publishing,
        "job_client",
        lambda: close.CloseClient(
            api_key=SANDBOX_KEY, base_url=sandbox.url, sleep=sleep, max_wait=60
        ),
    )
    client = Client()
    client.force_login(publisher)
    url = reverse("sequence_publish", args=[approved_sequence.pk])

    response = client.post(url, {"status": "paused", "version": approved_sequence.version})

    assert response.status_code == 302, "answered while the job is still running"
    assert waiting.wait(10)
    progress = reverse("sequence_publish_progress", args=[approved_sequence.pk])
    seen = html.unescape(client.get(progress, headers={"HX-Request": "true"}).content.decode())
    assert "Close asked us to wait 9 s before sending again." in seen
    assert PublishAttempt.objects.get().outcome == PublishAttempt.Outcome.IN_PROGRESS

    release.set()
    assert jobs.wait_all(timeout=10)

    assert PublishAttempt.objects.get().outcome == PublishAttempt.Outcome.PUBLISHED
    assert Sequence.objects.get(pk=approved_sequence.pk).status == Sequence.Status.PUBLISHED
    assert len(sandbox.sequences) == 1
    done = client.get(progress, headers={"HX-Request": "true"})
    assert done["HX-Refresh"] == "true"
