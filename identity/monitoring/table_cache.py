"""The protected tables of :mod:`.protected`, built once per content of what they come from.

Protecting the tables costs far more than reading them, so each is built
once per content of what it is computed from and kept in the process (one
keeping per database), keyed by a stamp every request reads: the rows of
``account_counts`` themselves (one row of texts, exact: :func:`rows_columns`),
and for the activity and usage the day, the last day rolled up and the number
and sum of the counters and roll-ups (which only ever grow). Every process and
node thus hides the same cells, and a change is seen by the next request;
there is no time-based staleness beyond ``STATS_FRESH_SECONDS`` (:func:`recent`).
"""
from __future__ import annotations

import gc
import threading
import weakref
from collections.abc import Callable
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.orm import Session

from identity import clock

#: The separator of :func:`rows_columns` (no code, status, metric, day or count holds it).
_SEP = ";"
_AGGREGATES = {"sqlite": "group_concat", "postgresql": "string_agg"}
#: The tables built, per database (the engine a session is bound to): a process serving two
#: databases, or tests each in a transaction of its own, never mix their tables.
_caches: weakref.WeakKeyDictionary[Any, dict[tuple[Any, ...], tuple[Any, Any, float]]] = \
    weakref.WeakKeyDictionary()
T = TypeVar("T")
_cache_lock = threading.Lock()

Columns = tuple[Any, ...]


def rows_columns(db_session: Session, columns: tuple[Any, ...], *where: Any) -> Columns:
    """``(number of rows, column 1 text, column 2 text, ...)``: every row, read as one.

    Each column is aggregated into one text by the database (one aggregate
    pass, so the n-th item of every text is of the same row). One row comes
    back however many are read: far cheaper than fetching them, and exact as
    a cache key (the texts *are* the rows; another order of the same rows
    only costs a rebuild).
    """
    dialect = db_session.get_bind().dialect.name
    aggregate = getattr(sa.func, _AGGREGATES[dialect])
    # The separator is written in the statement: bound as a parameter, SQLite reads it again
    # for every row (twice the time).
    separator: Any = sa.literal_column(f"'{_SEP}'")
    texts = [aggregate(column if dialect == "sqlite" else sa.cast(column, sa.Text), separator)
             for column in columns]
    query = sa.select(sa.func.count(), *texts)
    if where:
        query = query.where(*where)
    count, *values = db_session.execute(query).one()
    return (int(count), *(str(value or "") for value in values))


def well_formed(texts: Columns) -> bool:
    """Whether every text of :func:`rows_columns` holds its rows' fields, no more."""
    count, *columns = texts
    return all(column.count(_SEP) == max(count - 1, 0) for column in columns)


def rows(texts: Columns) -> list[tuple[str, ...]]:
    """The rows back from :func:`rows_columns` (every field a text)."""
    count, *columns = texts
    return list(zip(*(column.split(_SEP) for column in columns))) if count else []


def cached(db_session: Session, name: tuple[Any, ...], stamp: Any, build: Callable[[], T],
           recheck: Callable[[], Any] | None = None) -> T:
    """The tables ``name`` for ``stamp`` (what they are computed from), built once per stamp.

    The stamp is read from the database (on every request when
    ``STATS_FRESH_SECONDS`` is 0, else at most that often: :func:`recent`),
    so every process and node hides the same cells for the same counts, and
    a change of the counts is seen by the next check. ``recheck`` reads the stamp
    again after a build that read the tables itself: a table built while
    the counts moved is answered but not kept.
    """
    bind = db_session.get_bind()
    with _cache_lock:
        entry = _caches.get(bind, {}).get(name)
    if entry is not None and entry[0] == stamp:
        with _cache_lock:
            _caches.setdefault(bind, {})[name] = (stamp, entry[1], clock.now().timestamp())
        return entry[1]
    table = without_collection(build)
    if recheck is None or recheck() == stamp:
        with _cache_lock:
            _caches.setdefault(bind, {})[name] = (stamp, table, clock.now().timestamp())
    return table


def recent(db_session: Session, name: tuple[Any, ...], fresh_seconds: float) -> Any | None:
    """The tables ``name`` when their stamp was checked less than ``fresh_seconds`` ago.

    Checking the stamp reads the summary tables (a few milliseconds at a
    million accounts, growing with them); within ``fresh_seconds``
    (``STATS_FRESH_SECONDS``) a process answers from what it checked last.
    Each answer is still one consistent protected table; a change of the
    counts shows after at most that long. ``0``: checked on every request.
    """
    if fresh_seconds <= 0:
        return None
    with _cache_lock:
        entry = _caches.get(db_session.get_bind(), {}).get(name)
    if entry is not None and clock.now().timestamp() - entry[2] < fresh_seconds:
        return entry[1]
    return None


def without_collection(build: Callable[[], T]) -> T:
    """``build()`` with the cyclic garbage collector paused (a third of the time of a build).

    A build makes a few hundred thousand tuples that live on, each of which
    would otherwise set off collections that walk every object of the
    process. Reference counting still frees what dies; whoever paused the
    collector first resumes it.
    """
    paused = gc.isenabled()
    gc.disable()
    try:
        return build()
    finally:
        if paused:
            gc.enable()


def clear_cache() -> None:
    """Forget every protected table (tests; the next request builds them again)."""
    with _cache_lock:
        _caches.clear()
