"""Read replicas: reads that tolerate a bounded lag go to a PostgreSQL streaming replica.

A replica (``DATABASE_REPLICA_URLS``) is a hot standby fed by streaming replication from
the primary. It serves only the reads a caller names as tolerating lag (the police queues
and the like: :mod:`app.replica_reads` says which); every write, every check of a token, a
lock or a revocation, and every read a citizen makes, stays on the primary.

:class:`Replicas` picks, for each such read, a replica whose lag is at most
``REPLICA_MAX_LAG_SECONDS``, taking them in turn. What it knows of a replica is at most
``REPLICA_CHECK_SECONDS`` old (a replica found down is tried again after
:data:`DOWN_RETRY_SECONDS`): one thread of the process checks it while the others wait for
that check, so a process sends one check a second per replica, not one per request.

The check (:func:`measure`) asks the primary for its WAL position and then the replica
whether it is still in recovery and how many bytes of WAL it has yet to replay up to that
position. None: the lag is 0, whatever the time since its last replayed transaction (an
idle primary writes nothing to replay). Some: the lag is the time since the replica last
replayed a transaction, an upper bound (a replica that was idle for a minute and has one
transaction to go counts a minute behind, and sends its reads to the primary until its
next check): the error is always towards the primary. A replica that is not in recovery
(promoted, or a primary named by mistake) is never read from.

Nothing here fails a request: a replica that cannot be reached, lags, or answers
something unexpected is passed over, and with none fit the read goes to the primary
(``None`` from :meth:`Replicas.choose`, with the reason).
"""
from __future__ import annotations

import itertools
import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from identity.database import configure_engine

log = logging.getLogger("vnid.replicas")

#: Why a read went where it went.
ROUTED = "replica"  # to a replica within the lag bound
LAGGING = "lag"  # every replica is behind by more than the bound (or up to one is down)
DOWN = "down"  # no replica could be reached, or none is in recovery
#: Seconds before a replica found down is checked again.
DOWN_RETRY_SECONDS = 5.0
#: Seconds a replica may take to accept a connection before it counts as down.
CONNECT_TIMEOUT_SECONDS = 1


@dataclass(frozen=True)
class Health:
    """What the last check of a replica found."""

    usable: bool
    reason: str  # ROUTED, LAGGING or DOWN
    lag_seconds: float | None  # None: not measured (down)
    checked_at: float  # time.monotonic()


_PRIMARY_POSITION = sa.text("SELECT CAST(pg_current_wal_lsn() AS text)")
_REPLICA_STATE = sa.text("""
SELECT pg_is_in_recovery() AS in_recovery,
       pg_wal_lsn_diff(CAST(:position AS pg_lsn), pg_last_wal_replay_lsn()) AS behind_bytes,
       EXTRACT(EPOCH FROM clock_timestamp() - pg_last_xact_replay_timestamp()) AS idle_seconds
""")


def measure(primary: sa.Engine, replica: sa.Engine) -> float:
    """The replica's lag in seconds (see the module's doc); ``inf`` when it is not a replica
    or has replayed nothing yet. Raises what the database raises when one cannot be reached."""
    with primary.connect() as connection:
        position = connection.execute(_PRIMARY_POSITION).scalar_one()
    with replica.connect() as connection:
        row = connection.execute(_REPLICA_STATE, {"position": position}).one()
    if not row.in_recovery:
        return math.inf
    if row.behind_bytes is None or row.behind_bytes <= 0:
        return 0.0
    return math.inf if row.idle_seconds is None else max(float(row.idle_seconds), 0.0)


def replica_engine(url: str, engine_options: dict[str, Any]) -> sa.Engine:
    """An engine for a replica: the primary's options, a short connect timeout."""
    options = dict(engine_options)
    options["connect_args"] = {**options.get("connect_args", {}),
                               "connect_timeout": CONNECT_TIMEOUT_SECONDS}
    engine = sa.create_engine(url, **options)
    configure_engine(engine)
    return engine


class Replicas:
    """The replicas of one primary, their health as last checked, and the choice of one.

    ``on_health`` is called with the replica's index and each new :class:`Health` (the
    metrics' gauge of the lag)."""

    def __init__(self, primary: sa.Engine, engines: Sequence[sa.Engine], *, max_lag: float,
                 check_every: float,
                 on_health: Callable[[int, Health], None] | None = None) -> None:
        if not engines:
            raise ValueError("no replica")
        self.primary, self.engines = primary, list(engines)
        self.max_lag, self.check_every = max_lag, check_every
        self._on_health = on_health
        self._health: list[Health | None] = [None] * len(self.engines)
        self._checking = [threading.Lock() for _ in self.engines]
        self._turn = itertools.count()

    def choose(self) -> tuple[int | None, str]:
        """The index of a replica fit to read from (taken in turn) and :data:`ROUTED`, or
        None and why none is: :data:`LAGGING` when one answered but lags, else :data:`DOWN`."""
        start = next(self._turn)
        reasons = set()
        for step in range(len(self.engines)):
            index = (start + step) % len(self.engines)
            health = self.health(index)
            if health.usable:
                return index, ROUTED
            reasons.add(health.reason)
        return None, LAGGING if LAGGING in reasons else DOWN

    def health(self, index: int) -> Health:
        """The replica's health, checked again when the last check is too old."""
        health = self._health[index]
        if health is not None and not self._stale(health):
            return health
        with self._checking[index]:  # one thread checks; the others wait for its answer
            health = self._health[index]
            if health is None or self._stale(health):
                health = self._check(index)
        return health

    def mark_down(self, index: int) -> None:
        """A read on the replica lost its connection: pass it over until it is checked again
        (after :data:`DOWN_RETRY_SECONDS`); its pooled connections are dropped."""
        self.engines[index].dispose()
        self._record(index, Health(False, DOWN, None, time.monotonic()))

    def dispose(self) -> None:
        """Close every replica's pooled connections."""
        for engine in self.engines:
            engine.dispose()

    def _stale(self, health: Health) -> bool:
        wait = self.check_every
        if health.reason == DOWN:
            wait = max(wait, DOWN_RETRY_SECONDS)
        return time.monotonic() - health.checked_at >= wait

    def _check(self, index: int) -> Health:
        try:
            lag = measure(self.primary, self.engines[index])
        except sa.exc.SQLAlchemyError as error:
            log.warning("replica unreachable", extra={"replica": index,
                                                      "error": type(error).__name__})
            self.engines[index].dispose()
            health = Health(False, DOWN, None, time.monotonic())
        else:
            if math.isinf(lag):
                health = Health(False, DOWN, None, time.monotonic())
            elif lag > self.max_lag:
                health = Health(False, LAGGING, lag, time.monotonic())
            else:
                health = Health(True, ROUTED, lag, time.monotonic())
        self._record(index, health)
        return health

    def _record(self, index: int, health: Health) -> None:
        self._health[index] = health
        if self._on_health is not None:
            self._on_health(index, health)
