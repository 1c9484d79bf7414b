"""Load shedding: refuse at once, with ``503`` and ``Retry-After``, what cannot be served in time.

A server that takes every request under overload answers all of them late:
queues grow, every client times out, and retries pile on. Each worker
process lets at most ``MAX_IN_FLIGHT`` requests run inside the application
at once (granian runs each WSGI request on a thread of its own, up to its
backpressure, so without a bound they would all be admitted). A request
beyond the bound waits at most ``IN_FLIGHT_WAIT_MS`` for a slot (parked,
spending no CPU), then gets ``503 service.overloaded`` with ``Retry-After:
SHED_RETRY_AFTER`` and the uniform error body, without touching the
database or Redis.

The defaults, 2 in flight and 1,000 ms of wait per worker process (one per
core), are measured (``docs/benchmarks.md``, run J): a worker's requests share
one interpreter lock, so two at once let one compute while the other waits
for the database, and more only take turns at the lock (with 8 in flight an
online verification cost about 10 % more CPU and served 20-25 % fewer answers). A
request waiting on a bank gateway gives its slot back meanwhile
(:mod:`identity.slots`). Clients (the mobile app, relying parties) back off and
come back; the requests admitted keep a bounded latency (Little's law:
in-flight / throughput). ``/healthz`` and ``/metrics`` are never shed, so a
load balancer does not take a busy node for a dead one. ``MAX_IN_FLIGHT=0``
turns the bound off.

The same 503 answers a database that is gone (connection lost, refused or
timed out): a client may retry in a moment, as when Redis is down
(``app/errors.py``), rather than read a 500 as a bug. The transaction of
the request is rolled back with the session at the end of the request, so
nothing half-done is committed.
"""
from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any

import sqlalchemy as sa
from flask import Flask, Response

from app.errors import error_response, handle_unexpected
from identity.audit import group_commit
from identity.database import connection_lost
from identity.slots import Slots

log = logging.getLogger(__name__)

#: Paths never shed: health checks and metrics scrapes must see a busy node as alive.
EXEMPT_PATHS = frozenset({"/healthz", "/metrics"})
OVERLOADED = "service.overloaded"

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class InFlightLimit:
    """WSGI middleware: at most ``limit`` requests inside ``wsgi_app`` at once in this process
    (:class:`identity.slots.Slots`: a request waiting on a bank gateway gives its slot back)."""

    def __init__(self, wsgi_app: WsgiApp, *, limit: int, wait_seconds: float,
                 retry_after: int) -> None:
        self.wsgi_app = wsgi_app
        self.limit = limit
        self.wait_seconds = wait_seconds
        self.retry_after = retry_after
        self._slots = Slots(limit)
        self._lock = threading.Lock()
        #: Requests refused since the start of the process.
        self.shed = 0
        body = {"status": 503, "code": OVERLOADED,
                "message": "The service is busy. Try again in a moment.", "errors": {}}
        self._body = json.dumps(body).encode()

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") in EXEMPT_PATHS:
            return self.wsgi_app(environ, start_response)
        if not self._slots.take(self.wait_seconds):
            with self._lock:
                self.shed += 1
            start_response("503 SERVICE UNAVAILABLE", [
                ("Content-Type", "application/json"), ("Content-Length", str(len(self._body))),
                ("Retry-After", str(self.retry_after))])
            return [self._body]
        # The slot is held while the application builds its answer (Flask's JSON answers are
        # built whole by then), not while a slow client reads it: the bound is on the work.
        try:
            return self.wsgi_app(environ, start_response)
        finally:
            self._slots.give_back()


def handle_database_error(error: sa.exc.DBAPIError) -> Response:
    """A database outage is 503 with Retry-After; any other database error stays a 500."""
    if not connection_lost(error):
        return handle_unexpected(error)
    log.error("database unavailable: %s", type(error.orig).__name__)
    return error_response(503, "service.unavailable",
                          "A component of the service is unavailable. Try again shortly.",
                          headers={"Retry-After": "5"})


def register_load_shedding(app: Flask) -> None:
    """Bound the requests in flight (``MAX_IN_FLIGHT``), answer database outages with 503, and
    set the group commit's wait (``GROUP_COMMIT_WAIT_MS``: the requests in flight it groups)."""
    app.register_error_handler(sa.exc.DBAPIError, handle_database_error)
    group_commit.WAIT_SECONDS = float(app.config.get("GROUP_COMMIT_WAIT_MS", 0)) / 1000
    limit = int(app.config.get("MAX_IN_FLIGHT", 0))
    if limit > 0:
        middleware = InFlightLimit(app.wsgi_app, limit=limit,
                                   wait_seconds=int(app.config.get("IN_FLIGHT_WAIT_MS", 0)) / 1000,
                                   retry_after=int(app.config.get("SHED_RETRY_AFTER", 2)))
        app.extensions["in_flight_limit"] = middleware
        app.wsgi_app = middleware  # type: ignore[method-assign]
