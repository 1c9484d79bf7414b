"""The database dies between a verification's write and its answer: nothing acknowledged is lost.

An online verification writes its access-log row, its chain head and its usage counter
with one statement (``identity/audit/writer.py``) and is answered only once that row is
durable. On SQLite the statement runs in a transaction and the ``COMMIT`` makes it durable;
on PostgreSQL the request runs in autocommit (``identity.autocommit.autocommit_statements``) and
the statement is its own commit. These tests kill the database connection at the last
moment before the row becomes durable: before the ``COMMIT`` (an engine ``commit``
listener: the session has sent everything, the DBAPI commit is next), or before the
autocommitted statement itself (a ``before_cursor_execute`` listener):

- the verifier gets ``503`` with ``Retry-After``, never a result;
- the row and the counter vanish with the transaction (no half-written act);
- under concurrent verifications with every third commit's backend terminated
  (``pg_terminate_backend``, PostgreSQL), every answered verification has its row in the
  citizen's access log (matched by the caller's ``X-Request-Id``), the rows are exactly
  the answered verifications, the counter agrees, and every chain verifies afterwards.
"""
from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from app.context import acceptable_request_id
from app.extensions import db, get_protector
from identity.audit.models import AuditEvent
from identity.autocommit import in_autocommit
from identity.monitoring.counters import total
from tests import flows
from tests.faults.conftest import DATABASE_URL, ON_POSTGRES
from tests.faults.helpers import assert_unavailable, issued_credential

VERIFY = "/api/v1/credentials/verify"


def _request_id(prefix: str) -> str:
    """A caller's request id that the service keeps as given. A random tail may read as a
    number of someone's (``t0-5-47343065``): the service would replace such an id with one
    of its own, and the answer's row would go unmatched."""
    while True:
        candidate = f"{prefix}-{uuid.uuid4().hex[:8]}"
        if acceptable_request_id(candidate):
            return candidate


class _Scene:
    """A holder's credential and an officer who verifies it, on the faulty app."""

    def __init__(self, faulty: Any) -> None:
        self.faulty = faulty
        client = faulty.app.test_client()
        self.qr = issued_credential(faulty.app, client)[1]["qr"]
        with faulty.app.app_context():
            officer = flows.create_officer(db.session(), get_protector(), username="officer.aw")
        self.officer_token = officer.log_in(client)

    def verify(self, request_id: str) -> Any:
        client = self.faulty.app.test_client()
        return client.post(VERIFY, json={"qr": self.qr},
                           headers={**flows.bearer(self.officer_token),
                                    "X-Request-Id": request_id})

    def logged(self) -> dict[str, int]:
        """Request id -> number of ``credential.verified`` rows committed for it."""
        with self.faulty.app.app_context():
            rows = db.session.execute(
                sa.select(AuditEvent.request_id, sa.func.count())
                .where(AuditEvent.action == "credential.verified")
                .group_by(AuditEvent.request_id)).all()
        return {request_id: count for request_id, count in rows}

    def counted(self) -> int:
        with self.faulty.app.app_context():
            return total(db.session(), metric="credentials.verified")


@contextlib.contextmanager
def _killing_commits(faulty: Any, kill: Callable[[Any], None],
                     every: int = 1) -> Iterator[list[int]]:
    """Kill the connection of every ``every``-th commit that carries audit rows, just before
    it is sent (the ``COMMIT``, or the autocommitted statement that writes the rows); yields
    the list of killed commits' numbers, and sets ``faulty.killed_events`` to the number of
    events the killed commits carried (an autocommitted statement may carry the events of
    several concurrent requests: :mod:`identity.audit.group_commit`)."""
    with faulty.app.app_context():
        engine = db.engine
    killed: list[int] = []
    seen = {"n": 0}
    faulty.killed_events = 0
    lock = threading.Lock()

    def wrote(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "INSERT INTO audit_events" in statement:
            if in_autocommit(conn):  # this statement is the commit: one %s::json an event
                committing(conn, statement.count("::json"))
            else:
                conn.info["test_wrote_event"] = True

    def before_commit(conn: Any) -> None:
        if conn.info.pop("test_wrote_event", False):
            committing(conn, 1)

    def committing(conn: Any, events: int) -> None:
        with lock:
            seen["n"] += 1
            number = seen["n"]
            if number % every == 0:
                killed.append(number)
                faulty.killed_events += events
        if number % every == 0:
            kill(conn)

    def forget(conn: Any) -> None:
        if not conn.invalidated:  # a killed connection has no info left to forget
            conn.info.pop("test_wrote_event", None)

    sa.event.listen(engine, "before_cursor_execute", wrote)
    sa.event.listen(engine, "commit", before_commit)
    sa.event.listen(engine, "rollback", forget)
    try:
        yield killed
    finally:
        sa.event.remove(engine, "before_cursor_execute", wrote)
        sa.event.remove(engine, "commit", before_commit)
        sa.event.remove(engine, "rollback", forget)


def _close_under(faulty: Any) -> Callable[[Any], None]:
    """The connection dies under the transaction: the proxy resets it (PostgreSQL), or its
    DBAPI connection is closed (SQLite)."""
    def kill(conn: Any) -> None:
        if faulty.db_proxy is not None:
            faulty.db_proxy.cut()
        else:
            conn.connection.dbapi_connection.close()
    return kill


@contextlib.contextmanager
def _terminator() -> Iterator[Callable[[Any], None]]:
    """``pg_terminate_backend`` of the committing connection's server process, from outside,
    and wait until the process is gone (the commit then meets a dead backend)."""
    server = sa.engine.make_url(DATABASE_URL).set(drivername="postgresql+psycopg",
                                                  database="postgres")
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT", poolclass=NullPool)

    def kill(conn: Any) -> None:
        pid = conn.connection.dbapi_connection.info.backend_pid
        with admin.connect() as connection:
            assert connection.execute(sa.text("SELECT pg_terminate_backend(:pid)"),
                                      {"pid": pid}).scalar() is True
            deadline = time.monotonic() + 10
            while connection.execute(sa.text("SELECT count(*) FROM pg_stat_activity "
                                             "WHERE pid = :pid"), {"pid": pid}).scalar():
                assert time.monotonic() < deadline, "the backend outlived its termination"
                time.sleep(0.01)

    try:
        yield kill
    finally:
        admin.dispose()


def test_connection_lost_between_the_write_and_the_commit(faulty):
    scene = _Scene(faulty)
    before_rows, before_count = scene.logged(), scene.counted()
    with _killing_commits(faulty, _close_under(faulty)) as killed:
        assert_unavailable(scene.verify("lost-" + uuid.uuid4().hex))
    assert killed == [1]
    assert scene.logged() == before_rows  # the row went with the transaction
    assert scene.counted() == before_count
    retry = scene.verify("retry-" + uuid.uuid4().hex)
    assert retry.status_code == 200, retry.get_json()
    assert retry.get_json()["valid"] is True
    assert sum(scene.logged().values()) == sum(before_rows.values()) + 1
    assert scene.counted() == before_count + 1
    assert faulty.audit_chain_events() > 0  # every chain verifies


@pytest.mark.skipif(not ON_POSTGRES, reason="terminates a PostgreSQL backend; runs in CI")
def test_backends_terminated_under_concurrent_verifications_lose_no_answered_row(faulty):
    scene = _Scene(faulty)
    before_rows, before_count = scene.logged(), scene.counted()
    answers: dict[str, int] = {}
    errors: list[BaseException] = []
    lock = threading.Lock()

    def verifier(index: int) -> None:
        try:
            for j in range(6):
                request_id = _request_id(f"t{index}-{j}")
                answer = scene.verify(request_id)
                if answer.status_code == 503:
                    assert_unavailable(answer)
                else:
                    assert answer.status_code == 200, answer.get_json()
                    assert answer.get_json()["valid"] is True
                with lock:
                    answers[request_id] = answer.status_code
        except BaseException as error:  # reported by the main thread
            errors.append(error)

    with _terminator() as terminate, _killing_commits(faulty, terminate, every=3) as killed:
        threads = [threading.Thread(target=verifier, args=(k,)) for k in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    assert not errors, errors
    assert len(answers) == 36
    acknowledged = {rid for rid, status in answers.items() if status == 200}
    refused = {rid for rid, status in answers.items() if status == 503}
    # Every third commit died, and only its requests were refused: one each when they wrote
    # alone, all of a batch's when concurrent requests shared the statement.
    assert killed and len(refused) == faulty.killed_events >= len(killed)
    logged = scene.logged()
    new_rows = {rid: n for rid, n in logged.items() if rid not in before_rows}
    assert set(new_rows) == acknowledged  # every answer is in the access log, nothing else
    assert all(n == 1 for n in new_rows.values())
    assert scene.counted() == before_count + len(acknowledged)
    assert faulty.audit_chain_events() > 0  # every chain verifies
