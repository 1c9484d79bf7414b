"""Requests in autocommit on PostgreSQL: reads, then ONE write that is its own commit.

A hot request that reads and then writes once (an online verification, an identity match, a
refresh) sends no ``BEGIN`` and no ``COMMIT``: each statement
commits on its own, and the write (an audited act: its event and counters, by one statement
of :mod:`identity.audit.writer`) is as durable when it returns as a commit
(``synchronous_commit``). Its reads see what was committed, as in a ``READ COMMITTED``
transaction.

:func:`autocommit_statements` serves such a request: its reads are Core statements
(:class:`identity.database.Statement`) and its one write the audited act. The request holds
one pooled connection in autocommit, and the ORM session never begins a transaction at all
(its begin, commit and close cost about as much as the statements themselves:
``tools.instructions statement held session``). The act is written by
:func:`identity.audit.writer.commit_recorded`. Between requests the connection stays checked
out, in a small reserve of the process (:class:`Reserve`): the next request takes it back
without the pool's checkout, autocommit switch, reset and checkin. Should anything of the ORM
begin a transaction, the held connection is given back first and the mode ends
(:func:`leave_autocommit`): the rest of the request is an ordinary transaction on a
connection of its own, never a second one held beside the first. (A second way, the ORM
session's own transaction with its connection set to autocommit, served the refresh and a
payment's idempotency claim; neither took it any more, and it went.)

What the request writes must be ONE statement: the writer refuses anything more
(``RuntimeError``, nothing of it written), and :func:`leave_autocommit` ends the mode for a
request that turns out to write more. Nothing changes on SQLite (its ``BEGIN IMMEDIATE``), on
a session bound to a connection (a test's transaction), or once the session's transaction has
begun. :data:`UNWRITTEN` counts the requests in the mode that have not handed their write
yet: a group commit (:mod:`identity.audit.group_commit`) waits a moment for them.
"""
from __future__ import annotations

import contextlib
import queue
import threading
import time
import weakref
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from psycopg import pq
from sqlalchemy.orm import Session

#: ``Session.info`` keys: the connection the mode holds; the engine while the write is not
#: handed (:data:`UNWRITTEN`).
_AUTOCOMMIT, _UNWRITTEN = "vnid_autocommit_connection", "vnid_autocommit_unwritten"
#: ``Session.info`` key of what :mod:`identity.audit.writer` holds for the transaction's
#: commit (an object whose ``events`` and ``counters`` are empty when nothing is held).
PENDING_WRITES = "vnid_pending_writes"
#: ``Session.info`` key by which :mod:`identity.audit.writer` knows the mode's one write went.
WROTE = "vnid_autocommit_write"
_AUTOCOMMIT_ENGINE, _POOL_ENGINE = "_vnid_autocommit_engine", "_vnid_pool_engine"


def _postgres_engine(db_session: Session) -> sa.Engine | None:
    """The session's engine where a mode may begin: PostgreSQL, no transaction yet."""
    bind = db_session.get_bind()
    if (isinstance(bind, sa.Engine) and bind.dialect.name == "postgresql"
            and not db_session.in_transaction()):
        return bind
    return None


def _autocommit_engine(bind: sa.Engine) -> sa.Engine:
    """``bind`` in autocommit, sharing its pool: each checkout is set to autocommit and given
    back with its isolation level reset. One per engine (``execution_options()`` makes a new
    one each call), with its :class:`Reserve`."""
    engine = bind.__dict__.get(_AUTOCOMMIT_ENGINE)
    if engine is None:
        engine = bind.execution_options(isolation_level="AUTOCOMMIT")
        engine.__dict__[_POOL_ENGINE] = bind
        engine.__dict__[_RESERVE] = Reserve(engine, bind)
        bind.__dict__[_AUTOCOMMIT_ENGINE] = engine
    return engine


#: How many connections of :func:`autocommit_statements` a process keeps checked out between
#: requests, at most (its requests in flight: ``MAX_IN_FLIGHT``, 2 by default).
KEEP = 4
#: A kept connection idle for longer than this is pinged before it serves again (as the
#: pool pings its own: :data:`identity.database.IDLE_PING_SECONDS`).
KEPT_IDLE_PING_SECONDS = 1.0
_RESERVE, _TAKEN = "_vnid_reserve", "vnid_reserve_generation"
_IDLE = pq.TransactionStatus.IDLE


class Reserve:
    """The autocommit connections of one engine that :func:`autocommit_statements` keeps
    checked out between its blocks, at most :data:`KEEP`, so that the next block takes one
    without the pool's work (checkout, autocommit on, reset, autocommit off, checkin: about
    180,000 instructions, 6 % of an online verification's, ``tools.instructions held``).

    What the pool guarantees of a connection it hands out holds for a kept one too:

    - **Clean**: only a connection with no transaction, open or failed, on the server
      (libpq's status ``IDLE``) and none in SQLAlchemy, not invalidated, is kept; any
      other goes back to the pool, which resets it.
    - **Alive**: one idle for more than :data:`KEPT_IDLE_PING_SECONDS` is pinged before it
      serves, and replaced from the pool if the ping fails. A disconnect seen on any
      connection of the engine (SQLAlchemy's ``handle_error``) closes every kept one, as the
      pool then replaces its own older connections: only requests already under way when
      the database went fail, as with the pool alone.
    - **Bounded**: it never keeps more than :data:`KEEP`, nor one while the pool is in its
      overflow (every pooled connection checked out): other requests then get it back. An
      engine without a pool of its own (``NullPool``) keeps none.
    - **Disposed with the engine**: ``engine.dispose()`` closes the kept ones too.
    """

    def __init__(self, engine: sa.Engine, bind: sa.Engine) -> None:
        self._engine, self._bind = engine, bind
        # Only a pool that keeps connections itself (not NullPool, asked for none kept).
        self._keeps = isinstance(bind.pool, sa.pool.QueuePool)
        self._idle: queue.SimpleQueue[tuple[sa.Connection, float]] = queue.SimpleQueue()
        self._generation = 0  # disconnects seen: a connection taken before one is not kept
        sa.event.listen(bind, "handle_error", self._on_error)
        sa.event.listen(bind, "engine_disposed", lambda _engine: self.drain())

    def take(self) -> sa.Connection:
        """A kept connection, else one checked out of the pool."""
        while True:
            try:
                connection, since = self._idle.get_nowait()
            except queue.Empty:
                connection = self._engine.connect()
                break
            if time.monotonic() - since <= KEPT_IDLE_PING_SECONDS or self._answers(connection):
                break
        connection.info[_TAKEN] = self._generation
        return connection

    def give_back(self, connection: sa.Connection) -> None:
        """Keep ``connection`` if it is clean and there is room, else back to the pool."""
        dbapi = None if connection.invalidated or connection.closed \
            else connection.connection.dbapi_connection
        if (not self._keeps or dbapi is None or connection.in_transaction()
                or connection.info.get(_TAKEN) != self._generation
                or dbapi.info.transaction_status != _IDLE or self._idle.qsize() >= KEEP
                or self._in_overflow()):
            connection.close()
            return
        self._idle.put((connection, time.monotonic()))

    def _in_overflow(self) -> bool:
        pool: Any = self._bind.pool
        return bool(pool.checkedout() > pool.size())

    def kept(self) -> int:
        """How many connections are kept now."""
        return self._idle.qsize()

    def drain(self) -> None:
        """Every kept connection closed: after a disconnect (the pool would replace them at
        their next checkout) or with the engine disposed (their pool is gone)."""
        while True:
            try:
                connection, _since = self._idle.get_nowait()
            except queue.Empty:
                return
            connection.invalidate()
            connection.close()

    def _answers(self, connection: sa.Connection) -> bool:
        """Ping a connection idle for long; one that does not answer is invalidated and
        closed (the pool replaces it)."""
        try:
            dbapi: Any = connection.connection.dbapi_connection
            self._engine.dialect.do_ping(dbapi)
        except Exception:  # noqa: BLE001  (any failure: a new connection serves instead)
            connection.invalidate()
            connection.close()
            return False
        return True

    def _on_error(self, context: Any) -> None:
        if context.is_disconnect:
            self._generation += 1
            self.drain()


def reserve_of(bind: sa.Engine) -> Reserve:
    """The :class:`Reserve` of ``bind`` (a PostgreSQL engine)."""
    reserve: Reserve = _autocommit_engine(bind).__dict__[_RESERVE]
    return reserve


def engine_of(connection: sa.Connection) -> sa.Engine:
    """The engine whose pool ``connection`` is of: for the autocommit engine's, its bind.
    What :data:`UNWRITTEN` and the group commits are keyed by, whichever way a request took."""
    engine = connection.engine
    return engine.__dict__.get(_POOL_ENGINE, engine)


@contextlib.contextmanager
def autocommit_statements(db_session: Session) -> Iterator[bool]:
    """Serve the block on one pooled connection in autocommit, the session's transaction never
    begun (see the module's text); True when it does. When the block ends, the connection
    goes back to the pool. What it recorded and did not write is forgotten, as a rollback
    would; if the block ended without raising, that is a request about to answer with an act
    missing from the log: ``RuntimeError`` (fails closed: a 500, never the answer)."""
    bind = _postgres_engine(db_session)
    if bind is None:
        yield False
        return
    connection = reserve_of(bind).take()
    db_session.info[_AUTOCOMMIT] = connection
    _unwritten(db_session, bind)
    try:
        yield True
    except BaseException:
        _give_back(db_session)
        raise
    pending = db_session.info.get(PENDING_WRITES) if _AUTOCOMMIT in db_session.info else None
    _give_back(db_session)
    if pending is not None and (pending.events or pending.counters):
        raise RuntimeError("a request in autocommit recorded an act and did not write it: "
                           "commit_recorded() before answering")


def _give_back(db_session: Session) -> None:
    """End :func:`autocommit_statements`' mode: its connection back to the engine's
    :class:`Reserve` (or the pool)."""
    info = db_session.info
    connection = info.pop(_AUTOCOMMIT, None)
    if connection is None:
        return
    for key in (PENDING_WRITES, WROTE):
        info.pop(key, None)
    handed_write(db_session)
    reserve_of(engine_of(connection)).give_back(connection)


@contextlib.contextmanager
def statement_alone(db_session: Session) -> Iterator[sa.Connection | None]:
    """A connection in autocommit for a request's ONE statement that needs nothing of its
    session (no rows read or pending in it, no event to write), the session left out: the
    one :func:`autocommit_statements` holds, else one of the engine's :class:`Reserve` (or
    its pool) for the statement and given back (``tools.instructions statement pooled
    session``). None where the session's way must be taken: SQLite, a session bound to a
    connection (a test's transaction), or a session whose transaction has begun (it may hold
    a connection already: a second one from the same pool could wait forever once the pool
    is exhausted)."""
    held = db_session.info.get(_AUTOCOMMIT)
    if held is not None:
        yield held
        return
    bind = _postgres_engine(db_session)
    if bind is None:
        yield None
        return
    reserve = reserve_of(bind)
    connection = reserve.take()
    try:
        yield connection
    finally:
        reserve.give_back(connection)


class Unwritten:
    """The sessions of this process in autocommit on each engine that have not handed their
    one write yet: the requests whose write a group commit may still wait for. ``changed`` is
    notified each time one hands its write or ends without one. Weak references: a session
    dropped without ending its mode leaves the count by itself."""

    def __init__(self) -> None:
        self.changed = threading.Condition()
        self._sessions: weakref.WeakKeyDictionary[sa.Engine, weakref.WeakSet[Session]] = (
            weakref.WeakKeyDictionary())

    def add(self, engine: sa.Engine, db_session: Session) -> None:
        with self.changed:
            self._sessions.setdefault(engine, weakref.WeakSet()).add(db_session)

    def discard(self, engine: sa.Engine, db_session: Session) -> None:
        with self.changed:
            self._sessions[engine].discard(db_session)
            self.changed.notify_all()

    def of(self, engine: sa.Engine) -> int:
        return len(self._sessions.get(engine, ()))


UNWRITTEN = Unwritten()


def _unwritten(db_session: Session, engine: sa.Engine) -> None:
    db_session.info[_UNWRITTEN] = engine
    UNWRITTEN.add(engine, db_session)


def handed_write(db_session: Session) -> None:
    """The session in autocommit has handed its one write (or will write none): it leaves
    :data:`UNWRITTEN`'s count (once; the mode's end does it otherwise)."""
    engine = db_session.info.pop(_UNWRITTEN, None)
    if engine is not None:
        UNWRITTEN.discard(engine, db_session)


def autocommit_connection(db_session: Session) -> sa.Connection | None:
    """The connection :func:`autocommit_statements` holds for the session (which then has no
    transaction: its one write is :func:`identity.audit.writer.commit_recorded`'s), else
    None. A dictionary look-up: what a hot path asks instead of ``Session.connection()`` (a
    few µs of SQLAlchemy's state machine per call)."""
    return db_session.info.get(_AUTOCOMMIT)


@sa.event.listens_for(Session, "after_transaction_create")
def _held_gives_way(db_session: Session, transaction: Any) -> None:
    # The ORM begins a transaction in autocommit_statements' mode: the held connection goes
    # back first, so that the request never holds two (RuntimeError if recorded rows would be
    # lost with the mode: fails closed, nothing of them written).
    if transaction.parent is None and _AUTOCOMMIT in db_session.info:
        leave_autocommit(db_session)


def in_autocommit(connection: sa.Connection) -> bool:
    """Whether each statement on ``connection`` commits on its own (PostgreSQL only)."""
    return (connection.dialect.name == "postgresql"
            and bool(connection.connection.dbapi_connection.autocommit))  # type: ignore[union-attr]


def leave_autocommit(db_session: Session) -> None:
    """End the mode before anything is written or recorded: the next statement begins a
    transaction of its own, which commits or rolls back as a whole. Rows already recorded in
    the session would be lost with the mode: ``RuntimeError``."""
    if autocommit_connection(db_session) is not None:
        pending = db_session.info.get(PENDING_WRITES)
        if db_session.new or db_session.dirty or db_session.deleted or (
                pending is not None and (pending.events or pending.counters)):
            raise RuntimeError("leave_autocommit() before recording anything")
        _give_back(db_session)
