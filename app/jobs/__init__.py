"""Background jobs: RQ on Redis, or in the process for the embedded default and the tests.

This module is the engine; the jobs of each domain are in ``app/jobs/<domain>.py``.

A job is a function registered under a name with :func:`job`, called with
JSON-able keyword arguments inside an application context. Jobs are
enqueued *after* the commit that makes their data visible, re-read the
database, and are idempotent: a retry or a duplicate delivery is harmless.
What must not be lost is kept in the database first (a callback still owed,
a payment still pending), and a periodic job or a sweep enqueues it again;
the queue only carries the work.

Backends (``JOB_QUEUE``):

- ``rq``: RQ on the service's Redis. ``flask jobs worker`` runs a worker
  (with RQ's scheduler for delayed retries), ``flask jobs cron`` the periodic
  jobs. Default whenever ``REDIS_URL`` is a real Redis.
- ``thread``: a small thread pool in the web process, retries on timers,
  periodic jobs on a timer thread: the embedded default of ``make run``.
- ``inline``: run at once in the caller's thread, retries without delay: the
  tests on the in-process Redis stand-in (a test's database transaction is
  one connection, which another thread cannot share).
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

import redis
from flask import Flask, current_app, has_app_context

from config import MEMORY_REDIS_URL

log = logging.getLogger("vnid.jobs")

#: Seconds before each retry of a failed job (so at most len(...) retries).
DEFAULT_RETRIES: tuple[int, ...] = (5, 30, 120, 600, 1800)


@dataclass(frozen=True)
class Periodic:
    """A job run every ``interval`` seconds with no arguments."""

    name: str
    interval: int


_HANDLERS: dict[str, Callable[..., Any]] = {}
_PERIODIC: dict[str, Periodic] = {}


Handler = Callable[..., Any]


def job(name: str, *, every: int | None = None) -> Callable[[Handler], Handler]:
    """Register a job handler under ``name`` (and run it every ``every`` seconds if given)."""
    def register(handler: Handler) -> Handler:
        _HANDLERS[name] = handler
        if every is not None:
            _PERIODIC[name] = Periodic(name, every)
        return handler
    return register


def perform(name: str, kwargs: dict[str, Any]) -> None:
    """Run a registered job in an application context (the entry point RQ calls)."""
    handler = _HANDLERS.get(name)
    if handler is None:
        raise LookupError(f"no job named {name!r}")
    app: Flask = (current_app._get_current_object()  # type: ignore[attr-defined]
                  if has_app_context() else _worker_app())
    with app.app_context():  # a context (and database session) of its own
        try:
            handler(**kwargs)
        except Exception:
            log.warning("job failed", extra={"job": name}, exc_info=True)
            raise


_APP: Flask | None = None


def _worker_app() -> Flask:
    """The application of an RQ worker process started outside ``flask``."""
    global _APP
    if _APP is None:
        from app import create_app
        _APP = create_app()
    return _APP


class JobQueue(Protocol):
    """Where jobs go."""

    def enqueue(self, name: str, *, retries: Sequence[int] = DEFAULT_RETRIES,
                **kwargs: Any) -> None:
        """Run job ``name`` with ``kwargs`` soon, retrying after each delay of ``retries``."""

    def run_pending(self) -> int:
        """Run what is queued now, in this thread (tests, ``flask jobs run``); how many ran."""


class RQJobs:
    """Jobs on RQ: durable in Redis, run by ``flask jobs worker`` processes."""

    def __init__(self, connection: redis.Redis, queue_name: str, *,
                 job_timeout: int = 120) -> None:
        import rq
        self.connection = connection
        self.queue = rq.Queue(queue_name, connection=connection)
        self.job_timeout = job_timeout

    def enqueue(self, name: str, *, retries: Sequence[int] = DEFAULT_RETRIES,
                **kwargs: Any) -> None:
        import rq
        retry = rq.Retry(max=len(retries), interval=list(retries)) if retries else None
        self.queue.enqueue(perform, name, kwargs, retry=retry, job_timeout=self.job_timeout,
                           result_ttl=3600, failure_ttl=7 * 86400)

    def worker(self, *, worker_ttl: int | None = None,
               maintenance_interval: int | None = None) -> Any:
        """A worker of this queue (no fork per job: the app and its pools stay warm).

        ``worker_ttl``: how long the worker's registration lives without a heartbeat, and how
        long it blocks waiting for a job before it looks after the queue's registries (RQ's
        default, 420 s, unless given); ``maintenance_interval``: how often, at most, it does
        (RQ's default, 600 s). Among that care, a job whose worker died is found abandoned
        once its timeout plus the worker TTL (at most 60 s) has passed since it started, and
        retried (RQ counts that as one of its retries).
        """
        options = {key: value for key, value in (("worker_ttl", worker_ttl),
                                                 ("maintenance_interval", maintenance_interval))
                   if value is not None}
        return _worker_class()([self.queue], connection=self.connection, **options)

    def run_pending(self) -> int:
        before = self.queue.count
        self.worker().work(burst=True, with_scheduler=True, logging_level="WARNING")
        return before

    def cron(self) -> Any:
        """RQ's scheduler of the periodic jobs (``flask jobs cron``)."""
        from rq.cron import CronScheduler
        scheduler = CronScheduler(connection=self.connection)
        for periodic in _PERIODIC.values():
            scheduler.register(perform, self.queue.name, args=(periodic.name, {}),
                               interval=periodic.interval, name=periodic.name)
        return scheduler


def _worker_class() -> type:
    import rq
    from rq.defaults import DEFAULT_WORKER_TTL

    class Worker(rq.SimpleWorker):
        """RQ's worker that runs jobs in its own process, whose running job is taken as
        abandoned once its timeout plus the worker's TTL (RQ: plus 60 s) has passed."""

        def get_heartbeat_ttl(self, job: Any) -> int:
            if job.timeout == -1:
                return int(DEFAULT_WORKER_TTL)
            return int(job.timeout or DEFAULT_WORKER_TTL) + min(60, int(self.worker_ttl))

    return Worker


class InlineJobs:
    """Jobs run at once in the caller's thread; a failure is retried at once (tests)."""

    def __init__(self) -> None:
        self.failed: list[tuple[str, dict[str, Any]]] = []

    def enqueue(self, name: str, *, retries: Sequence[int] = DEFAULT_RETRIES,
                **kwargs: Any) -> None:
        for attempt in range(len(retries) + 1):
            try:
                perform(name, kwargs)
                return
            except Exception:  # noqa: BLE001 - a job's failure never fails the enqueuer
                continue
        self.failed.append((name, kwargs))

    def run_pending(self) -> int:
        return 0


class ThreadJobs:
    """Jobs on a thread pool of the web process, retries on timers (the embedded default).

    Not durable: what is queued when the process stops is lost, which the
    database-first rule above makes harmless (sweeps enqueue it again).
    """

    def __init__(self, app: Flask, workers: int = 2) -> None:
        self.app = app
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="vnid-job")
        self._timers: list[threading.Timer] = []

    def enqueue(self, name: str, *, retries: Sequence[int] = DEFAULT_RETRIES,
                **kwargs: Any) -> None:
        self.pool.submit(self._run, name, kwargs, tuple(retries))

    def _run(self, name: str, kwargs: dict[str, Any], retries: tuple[int, ...]) -> None:
        try:
            with self.app.app_context():
                perform(name, kwargs)
        except Exception:  # noqa: BLE001 - logged by perform; retried below
            if retries:
                timer = threading.Timer(retries[0], self.pool.submit,
                                        args=(self._run, name, kwargs, retries[1:]))
                timer.daemon = True
                timer.start()

    def start_periodic(self) -> None:
        """Run each periodic job every its interval, on daemon timers."""
        for periodic in _PERIODIC.values():
            self._schedule(periodic)

    def _schedule(self, periodic: Periodic) -> None:
        def tick() -> None:
            self.enqueue(periodic.name, retries=())
            self._schedule(periodic)
        timer = threading.Timer(periodic.interval, tick)
        timer.daemon = True
        timer.start()

    def run_pending(self) -> int:
        return 0


def periodic_jobs() -> list[str]:
    """The names of every domain's periodic jobs (what ``flask jobs cron`` schedules)."""
    _import_domains()
    return sorted(_PERIODIC)


def _import_domains() -> None:
    # The handlers of each domain, one module each; imported here, not at the top, because
    # they use this module's ``job``.
    from app.jobs import audit, payments, relying_parties  # noqa: F401


def init_jobs(app: Flask) -> None:
    """The app's job queue, by ``JOB_QUEUE`` (see the module's doc), and the domains' jobs."""
    _import_domains()
    kind = app.config["JOB_QUEUE"]
    if kind == "rq" and app.config["JOB_REDIS_URL"] == MEMORY_REDIS_URL:
        # An app given the in-process stand-in (tests, tools) has no Redis for RQ to use.
        kind = "inline" if app.testing else "thread"
    queue: JobQueue
    if kind == "rq":
        queue = RQJobs(redis.Redis.from_url(app.config["JOB_REDIS_URL"],
                                            socket_connect_timeout=2),
                       app.config["JOB_QUEUE_NAME"],
                       job_timeout=int(app.config.get("JOB_TIMEOUT_SECONDS", 120)))
    elif kind == "thread":
        queue = ThreadJobs(app)
        queue.start_periodic()
    elif kind == "inline":
        queue = InlineJobs()
    else:
        raise ValueError(f"JOB_QUEUE must be rq, thread or inline, not {kind!r}")
    app.extensions["jobs"] = queue


def get_jobs() -> JobQueue:
    """The current application's job queue."""
    return current_app.extensions["jobs"]


def enqueue(name: str, *, retries: Sequence[int] = DEFAULT_RETRIES, **kwargs: Any) -> None:
    """Enqueue job ``name`` on the current application's queue (after your commit)."""
    scale = float(current_app.config["JOB_RETRY_SCALE"])
    get_jobs().enqueue(name, retries=[int(delay * scale) for delay in retries], **kwargs)
