"""Background jobs: a small thread pool inside the web process.

Why this design (and not Celery/RQ or a job table): a publish is a handful of HTTP calls that can
take up to a minute only when Close makes us wait (a 429's reset, a slow answer, the look-up after
an unclear one). Running them on a few threads keeps web workers free without adding a broker and
a worker process to deploy. What a job does is not kept in memory alone: publishing writes its
intent, progress and outcome to the database (Sequence.publishing_since, PublishAttempt), so

- any web process can show progress (the page polls the attempt's row), and
- a process that dies mid-publish leaves the guard and an attempt "in progress" behind; after
  PUBLISH_STALE_SECONDS (publishing.stale_after()) the next page load or publish attempt treats
  that attempt as unclear and checks Close before it creates anything (publishing.resolve_stale,
  _create_once).

Jobs are not retried or resumed after a restart: the database state above says what happened and
a person decides to publish again. Each job closes its own database connections when it ends.

Tests set BUILDER_RUN_JOBS_INLINE = True to run jobs in the calling thread (the test's database
transaction is not visible to other threads), or call wait_all() after submitting.
"""

import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures

from django.conf import settings
from django.db import connections

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_executor: ThreadPoolExecutor | None = None
_pending: set[Future] = set()


def submit(function, /, *args, **kwargs) -> Future:
    """Run function(*args, **kwargs) on the pool; returns a Future.

    Call it after the transaction that wrote the job's rows has committed.
    """
    if getattr(settings, "BUILDER_RUN_JOBS_INLINE", False):
        future: Future = Future()
        try:
            future.set_result(function(*args, **kwargs))
        except Exception as error:  # the same contract as the pool: the error is on the future
            logger.exception("Background job %s failed", getattr(function, "__name__", function))
            future.set_exception(error)
        return future
    with _lock:
        future = _get_executor().submit(_run, function, args, kwargs)
        _pending.add(future)
    future.add_done_callback(_forget)
    return future


def wait_all(timeout: float = 30.0) -> bool:
    """Wait until every submitted job has finished; True unless the timeout ran out."""
    with _lock:
        pending = set(_pending)
    if not pending:
        return True
    done, not_done = wait_futures(pending, timeout=timeout)
    return not not_done


def _get_executor() -> ThreadPoolExecutor:
    global _executor
    if _executor is None:
        workers = int(getattr(settings, "BUILDER_JOB_THREADS", 4))
        _executor = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="job")
    return _executor


def _run(function, args, kwargs):
    try:
        return function(*args, **kwargs)
    except Exception:
        logger.exception("Background job %s failed", getattr(function, "__name__", function))
        raise
    finally:
        # Threads get their own connections; a pool thread must not keep one open forever.
        connections.close_all()


def _forget(future: Future) -> None:
    with _lock:
        _pending.discard(future)
