"""Reads that tolerate lag, on a read replica when one is fit (:mod:`identity.replicas`).

A route whose reads may be up to ``REPLICA_MAX_LAG_SECONDS`` old says so with
:func:`lag_tolerant` and reads through :func:`read_session`; everything else, and every
write, uses the request's ordinary session on the primary. The routes that do: the police
queues (registrations to review, reports, stays, absences, overdue cases), lists an officer
pages through, where a case changed a second ago may show its state of a second ago; an
officer's registry look-up (its audit event written on the primary); the trust list. A
:func:`lag_tolerant` view reads from the replica before it writes anything: should the
replica fail, the view runs again, and nothing it did may have been committed.

Where the read goes, in this order:

- no replica configured: the primary (nothing counted);
- **the officer's own writes**: an officer whose request changed something (any method but
  ``GET``, ``HEAD`` and ``OPTIONS`` answered below 400, but for a :func:`lag_tolerant` route's,
  such as a look-up, which writes only its audit event) reads from the primary for the next
  ``REPLICA_MAX_LAG_SECONDS + REPLICA_CHECK_SECONDS + 1`` seconds, on every node (a Redis key
  with that life): the queue they reload after acting shows what they did. Redis down: the
  primary;
- a replica within the lag bound (:meth:`identity.replicas.Replicas.choose`);
- else the primary, with the reason (``lag`` or ``down``).

A replica that fails during the read (its connection lost) is passed over until it is
checked again, and the route runs once more on the primary: a stopped replica changes
nothing an officer sees. A read the replica cancels because replaying the primary's changes
conflicts with it (a hot standby's ``conflict with recovery``) runs once more on the
primary too, the replica kept. Citizens' routes never read from a replica: what a citizen reads
right after their own write is on the primary by construction.

Metrics: ``vnid_db_reads_total{target, reason}`` counts the lag-tolerant reads by where they
went and why (``replica``, ``lag``, ``down``, ``conflict``, ``own_write``);
``vnid_replica_lag_seconds{replica}`` is each replica's lag as last checked
(-1 when it could not be measured).
"""
from __future__ import annotations

import functools
import logging
import math
from collections.abc import Callable
from typing import Any, TypeVar, cast

import sqlalchemy as sa
from flask import Flask, Response, current_app, g, request
from prometheus_client import Counter, Gauge
from sqlalchemy.orm import Session

from app.extensions import db
from config import ConfigError
from identity.database import connection_lost
from identity.replicas import Health, Replicas, replica_engine

log = logging.getLogger("vnid.replicas")

READS = Counter("vnid_db_reads_total", "Lag-tolerant reads, by where they went and why",
                ["target", "reason"])
LAG = Gauge("vnid_replica_lag_seconds", "A read replica's lag as last checked (-1: unknown)",
            ["replica"], multiprocess_mode="max")

#: Where a read goes when an officer wrote recently (the reason label).
OWN_WRITE = "own_write"
#: What a hot standby answers when replaying the primary's changes must cancel a query
#: ("canceling statement due to conflict with recovery", serialization_failure) or when a
#: statement was cancelled: the replica is up, this read goes to the primary once.
_RECOVERY_CONFLICTS = frozenset({"40001", "57014"})
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: ``g`` keys: the request's read session; the index of its replica (none: the primary's);
#: set by :func:`lag_tolerant` (the request changes nothing a replica serves).
_SESSION, _INDEX, _READS_ONLY = "vnid_read_session", "vnid_read_replica", "vnid_reads_only"

F = TypeVar("F", bound=Callable[..., Any])


def _written_key(officer_id: int) -> str:
    return f"vnid:wrote:officer:{officer_id}"


def _record_lag(index: int, health: Health) -> None:
    lag = health.lag_seconds
    LAG.labels(replica=str(index)).set(-1 if lag is None or math.isinf(lag) else lag)


def init_replicas(app: Flask) -> None:
    """Engines for ``DATABASE_REPLICA_URLS`` (none: every read on the primary)."""
    urls = app.config.get("DATABASE_REPLICA_URLS") or []
    if not urls:
        return
    with app.app_context():
        primary = db.engine
    if primary.dialect.name != "postgresql":
        raise ConfigError("DATABASE_REPLICA_URLS needs DATABASE_URL to be PostgreSQL")
    options = app.config.get("SQLALCHEMY_ENGINE_OPTIONS", {})
    app.extensions["replicas"] = Replicas(
        primary, [replica_engine(url, options) for url in urls],
        max_lag=float(app.config["REPLICA_MAX_LAG_SECONDS"]),
        check_every=float(app.config["REPLICA_CHECK_SECONDS"]), on_health=_record_lag)
    app.after_request(_remember_officer_write)
    app.teardown_appcontext(_close_read_session)


def read_session() -> Session:
    """The session of this request's lag-tolerant reads: a replica's, or the primary's."""
    session = g.get(_SESSION)
    if session is not None:
        return cast(Session, session)
    replicas: Replicas | None = current_app.extensions.get("replicas")
    session = db.session()
    if replicas is not None:
        index, reason = (None, OWN_WRITE) if _officer_wrote_recently() else replicas.choose()
        if index is not None:
            session = Session(bind=replicas.engines[index])
            setattr(g, _INDEX, index)
        READS.labels(target="primary" if index is None else "replica", reason=reason).inc()
    setattr(g, _SESSION, session)
    return session


def lag_tolerant(view: F) -> F:
    """The view's :func:`read_session` may be a replica's; should the replica fail during
    the view, it is passed over and the view runs once more, on the primary."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        setattr(g, _READS_ONLY, True)  # what it writes (an audit event) no replica serves
        try:
            return view(*args, **kwargs)
        except sa.exc.DBAPIError as error:
            index = g.pop(_INDEX, None)
            conflict = getattr(error.orig, "sqlstate", None) in _RECOVERY_CONFLICTS
            lost = not conflict and connection_lost(error)
            if index is None or not (lost or conflict):
                raise
            log.warning("replica read failed: the primary answers",
                        extra={"replica": index, "reason": "down" if lost else "conflict"})
            if lost:
                current_app.extensions["replicas"].mark_down(index)
            g.pop(_SESSION).close()
            db.session.rollback()
            READS.labels(target="primary", reason="down" if lost else "conflict").inc()
            setattr(g, _SESSION, db.session())
            return view(*args, **kwargs)

    return cast(F, wrapper)


def _officer_wrote_recently() -> bool:
    row = g.get("officer_row")
    if row is None:
        return False
    try:
        return bool(current_app.extensions["redis"].exists(_written_key(row.id)))
    except Exception:  # noqa: BLE001 - Redis down: the primary, which is always right
        return True


def _remember_officer_write(response: Response) -> Response:
    row = g.get("officer_row")
    if (row is not None and request.method not in _SAFE_METHODS and response.status_code < 400
            and not g.get(_READS_ONLY)):
        seconds = math.ceil(float(current_app.config["REPLICA_MAX_LAG_SECONDS"])
                            + float(current_app.config["REPLICA_CHECK_SECONDS"])) + 1
        try:
            current_app.extensions["redis"].set(_written_key(row.id), b"1", ex=seconds)
        except Exception:  # noqa: BLE001 - the write is done; its reads may lag a moment
            log.warning("could not mark an officer's write for read-your-writes")
    return response


def _close_read_session(_error: BaseException | None) -> None:
    """A replica's session ends with its request (the primary's is Flask-SQLAlchemy's)."""
    if g.pop(_INDEX, None) is not None:
        g.pop(_SESSION).close()
