"""The audit log in monthly partitions (PostgreSQL), and old months detached to cold storage.

``audit_events`` grows with every act (hundreds of millions of rows a day in a country), and
what an operator does with old rows is move them out whole: on PostgreSQL it is partitioned by
``occurred_at`` (range, one partition a month, in UTC), so a month leaves as one
``DETACH PARTITION`` instead of a delete, which the append-only trigger refuses anyway. SQLite
keeps one table.

- ``audit_events_legacy``: the rows written before migration 0017, attached as they stood
  (no row copied), from ``MINVALUE`` to the first of the month after the migration ran.
- ``audit_events_yYYYYmMM``: one a month, made :data:`MONTHS_AHEAD` ahead by
  :func:`ensure_months` (``flask audit partitions``, and the daily job ``audit.partitions``).
- ``audit_events_default``: catches a row whose month was not made in time, so an act is never
  refused for want of a partition; :func:`ensure_months` moves such rows into their month.

Detaching (:func:`detach_before`) first checks the hash links of the rows it takes out and
writes, per shard, each unbroken run of sequence numbers they hold (first and last ``seq``, the
first row's ``prev_hash``, the last row's ``hash``) to ``audit_detached_runs``: the chain of the
rows left still verifies (:func:`identity.audit.service.verify_chain` steps over a run whose
ends link to the rows around it). A run, not one
anchor per shard: an event stamped 23:59:59.999 may take its sequence number after one stamped
00:00:00.001, so the two months of a shard interleave at their border.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import sqlalchemy as sa

from identity.audit.errors import AuditChainBroken

#: How many months after the current one have their partition made in advance.
MONTHS_AHEAD = 3
#: How long a change of the partitions waits for the log's lock before it gives up (ms). The
#: change needs a lock that makes the service's audit writes queue behind it: rather fail (the
#: daily job tries again, with months in hand) than hold them behind a long transaction.
LOCK_TIMEOUT_MS = 5_000

TABLE = "audit_events"
LEGACY = "audit_events_legacy"
DEFAULT = "audit_events_default"
_NAMES = re.compile(r"audit_events_(legacy|default|y\d{4}m\d{2})")
_BOUND = re.compile(r"FOR VALUES FROM \((?P<lower>[^)]*)\) TO \((?P<upper>[^)]*)\)")


class PartitionError(Exception):
    """An operator's partition request that cannot be done (the message says why)."""


def is_partition(name: str | None) -> bool:
    """Whether ``name`` is one of the audit log's partitions (Alembic leaves them out of its
    comparison of the models with the database: the models know only ``audit_events``)."""
    return bool(name) and _NAMES.fullmatch(name or "") is not None


def month_of(moment: dt.datetime | dt.date) -> dt.datetime:
    """The first instant (UTC) of the month ``moment`` falls in."""
    if isinstance(moment, dt.datetime):
        moment = moment.astimezone(dt.timezone.utc)
    return dt.datetime(moment.year, moment.month, 1, tzinfo=dt.timezone.utc)


def next_month(month: dt.datetime) -> dt.datetime:
    return month_of(month + dt.timedelta(days=32))


def month_name(month: dt.datetime) -> str:
    return f"{TABLE}_y{month:%Y}m{month:%m}"


@dataclass(frozen=True)
class Partition:
    """One partition: its name, its bounds (``None``: unbounded; both for the default) and
    PostgreSQL's estimate of its rows."""

    name: str
    lower: dt.datetime | None
    upper: dt.datetime | None
    rows: int

    @property
    def is_default(self) -> bool:
        return self.name == DEFAULT


def _bound(text: str) -> dt.datetime | None:
    text = text.strip()
    return None if text == "MINVALUE" else dt.datetime.fromisoformat(text.strip("'"))


def partitioned(connection: sa.Connection) -> bool:
    """Whether ``audit_events`` is partitioned here (PostgreSQL after migration 0017)."""
    return connection.dialect.name == "postgresql" and bool(connection.scalar(sa.text(
        "SELECT count(*) FROM pg_partitioned_table WHERE partrelid = to_regclass(:t)"),
        {"t": TABLE}))


def partitions(connection: sa.Connection) -> list[Partition]:
    """The partitions of ``audit_events``, the default last, the others by their bounds."""
    connection.execute(sa.text("SET LOCAL TimeZone = 'UTC'"))
    rows = connection.execute(sa.text(
        "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid), greatest(c.reltuples, 0) "
        "FROM pg_inherits AS i JOIN pg_class AS c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = to_regclass(:t)"), {"t": TABLE}).all()
    found = []
    for name, bound, rows_estimate in rows:
        match = _BOUND.fullmatch(bound)
        lower, upper = ((_bound(match["lower"]), _bound(match["upper"])) if match
                        else (None, None))
        found.append(Partition(name, lower, upper, int(rows_estimate)))
    return sorted(found, key=lambda p: (p.is_default, p.upper or dt.datetime.max.replace(
        tzinfo=dt.timezone.utc)))


def _changing(connection: sa.Connection, lock_timeout_ms: int) -> None:
    """One change of the partitions at a time (the daily job and an operator), each waiting
    at most ``lock_timeout_ms`` for a lock on the log, for the rest of its transaction."""
    connection.execute(sa.text("SELECT pg_advisory_xact_lock(7312, 1)"))
    connection.execute(sa.text(f"SET LOCAL lock_timeout = {int(lock_timeout_ms)}"))


def _create_month(connection: sa.Connection, month: dt.datetime) -> str:
    name = month_name(month)
    connection.execute(sa.text(
        f"CREATE TABLE {name} PARTITION OF {TABLE} "
        f"FOR VALUES FROM ('{month.isoformat()}') TO ('{next_month(month).isoformat()}')"))
    return name


def ensure_months(connection: sa.Connection, *, now: dt.datetime, ahead: int = MONTHS_AHEAD,
                  lock_timeout_ms: int = LOCK_TIMEOUT_MS) -> list[str]:
    """Make the monthly partitions from the newest one up to ``ahead`` months after ``now``'s;
    the names made. Rows the default partition caught (a month made too late) move into their
    month in the same transaction. Nothing to do where the log is not partitioned."""
    if not partitioned(connection):
        return []
    _changing(connection, lock_timeout_ms)
    ranged = [p for p in partitions(connection) if not p.is_default]
    newest = max((p.upper for p in ranged if p.upper is not None), default=month_of(now))
    target = month_of(now)
    for _ in range(ahead + 1):
        target = next_month(target)
    months = []
    while newest < target:
        months.append(newest)
        newest = next_month(newest)
    if not months:
        return []
    caught = connection.scalar(sa.text(f"SELECT count(*) FROM {DEFAULT}"))
    if caught:
        # A partition cannot be made over rows the default holds: take the default out, make
        # the months, put its rows back through the parent (the same rows, ids and hashes; an
        # insert, which the append-only trigger allows), and drop the emptied table.
        connection.execute(sa.text(f"ALTER TABLE {TABLE} DETACH PARTITION {DEFAULT}"))
        connection.execute(sa.text(f"ALTER TABLE {DEFAULT} RENAME TO {DEFAULT}_moving"))
        connection.execute(sa.text(f"CREATE TABLE {DEFAULT} PARTITION OF {TABLE} DEFAULT"))
    made = [_create_month(connection, month) for month in months]
    if caught:
        connection.execute(sa.text(f"INSERT INTO {TABLE} SELECT * FROM {DEFAULT}_moving"))
        connection.execute(sa.text(f"DROP TABLE {DEFAULT}_moving"))
    return made


def runs_digest(runs: Iterable[tuple[str, int, int, int, bytes, bytes]]) -> str:
    """SHA-256 over every detached run ``(partition, shard, first_seq, last_seq,
    first_prev_hash, last_hash)``, in that order: what each detach records in its own chained
    event, so that a run written into ``audit_detached_runs`` by anyone else (to cover rows
    deleted from the log) does not verify."""
    digest = hashlib.sha256()
    for name, shard, first, last, prev, last_hash in sorted(runs):
        digest.update(f"{name}|{shard}|{first}|{last}|{bytes(prev).hex()}|"
                      f"{bytes(last_hash).hex()}\n".encode())
    return digest.hexdigest()


def all_runs(connection: sa.Connection) -> list[tuple[str, int, int, int, bytes, bytes]]:
    return [tuple(row) for row in connection.execute(sa.text(
        "SELECT partition_name, shard, first_seq, last_seq, first_prev_hash, last_hash "
        "FROM audit_detached_runs"))]


@dataclass(frozen=True)
class Run:
    """Rows of one shard with consecutive sequence numbers, in a detached partition."""

    shard: int
    first_seq: int
    last_seq: int
    first_prev_hash: bytes
    last_hash: bytes


def _runs_of(connection: sa.Connection, name: str,
             check: Callable[[sa.Row[tuple[object, ...]]], bytes]) -> list[Run]:
    """The runs of partition ``name``, its rows' links checked on the way (``check`` of a
    row gives the hash it must have; :class:`AuditChainBroken` where a row does not link)."""
    runs: list[Run] = []
    result = connection.execute(sa.text(f"SELECT * FROM {name} ORDER BY shard, seq")
                                .execution_options(yield_per=5_000))
    current: Run | None = None
    try:
        for row in result:
            if check(row) != row.hash:
                raise AuditChainBroken(shard=row.shard, seq=row.seq, event_id=row.id,
                                       reason="row content does not match its hash")
            follows = current is not None and (current.shard, current.last_seq + 1) == (
                row.shard, row.seq)
            if current is not None and follows:
                if row.prev_hash != current.last_hash:
                    raise AuditChainBroken(shard=row.shard, seq=row.seq, event_id=row.id,
                                           reason="previous-hash link does not match")
                current = Run(row.shard, current.first_seq, row.seq, current.first_prev_hash,
                              row.hash)
                continue
            if current is not None:
                runs.append(current)
            current = Run(row.shard, row.seq, row.seq, row.prev_hash, row.hash)
    finally:
        result.close()
    if current is not None:
        runs.append(current)
    return runs


def detach_before(connection: sa.Connection, *, month: dt.datetime, now: dt.datetime,
                  check: Callable[[sa.Row[tuple[object, ...]]], bytes],
                  lock_timeout_ms: int = LOCK_TIMEOUT_MS) -> list[tuple[str, int]]:
    """Detach every partition that ends at or before ``month`` (not the current month's or a
    later one), once its rows' links are checked and its runs written; ``(name, rows)`` of each.
    The detached tables stay in the database, outside the log, for the operator to dump to
    cold storage and drop."""
    if not partitioned(connection):
        raise PartitionError("the audit log is not partitioned here (PostgreSQL only)")
    if month_of(month) != month:
        raise PartitionError("give the first day of a month")
    if month > month_of(month_of(now) - dt.timedelta(days=1)):
        raise PartitionError("the current month and the one before stay in the log")
    _changing(connection, lock_timeout_ms)
    taken = []
    for part in partitions(connection):
        if part.is_default or part.upper is None or part.upper > month:
            continue
        runs = _runs_of(connection, part.name, check)
        if runs:
            connection.execute(sa.text(
                "INSERT INTO audit_detached_runs (partition_name, shard, first_seq, last_seq, "
                "first_prev_hash, last_hash, detached_at) VALUES (:p, :shard, :first_seq, "
                ":last_seq, :first_prev_hash, :last_hash, :at)"),
                [dict(p=part.name, at=now, **dataclasses.asdict(run)) for run in runs])
        rows = sum(run.last_seq - run.first_seq + 1 for run in runs)
        connection.execute(sa.text(f"ALTER TABLE {TABLE} DETACH PARTITION {part.name}"))
        taken.append((part.name, rows))
    return taken
