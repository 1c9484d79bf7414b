"""Lag-tolerant reads on a real streaming replica (``.ci/replica start``), PostgreSQL only.

The replica is a hot standby of the suite's PostgreSQL server (CI starts it and sets
``VNID_TEST_REPLICA_URL``, the replica server's URL without a database). Each test runs an
app on a scratch database of the primary (:func:`tests.conftest.scratch_database`), whose
copy the replica streams, with ``DATABASE_REPLICA_URLS`` naming that copy (through a
:class:`tests.faults.proxy.TcpProxy`, which the tests cut to stop the replica as the app
sees it). To tell where a read went, a test pauses the replica's replay
(``pg_wal_replay_pause()``) and writes on the primary: a read from the replica does not see
that write, a read from the primary does.

Without ``VNID_TEST_REPLICA_URL`` the module is skipped on a developer's machine, and fails
when ``VNID_REQUIRE_REPLICA=1`` (CI sets it).
"""
from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from psycopg.errors import SerializationFailure
from flask import Flask
from flask_migrate import upgrade
from sqlalchemy.orm import Session

from app import create_app, replica_reads
from app.extensions import db, get_protector
from config import load_config
from identity.replicas import Replicas
from tests.conftest import scratch_database
from identity.accounts import registration
from identity.audit.models import AuditEvent
from tests.factories import add_account, add_issuer_key
from tests.faults.proxy import TcpProxy
from tests import replica
from tests.flows import bearer, create_officer

REPLICA = os.environ.get("VNID_TEST_REPLICA_URL", "")
POSTGRES = (os.environ.get("DATABASE_URL") or "").startswith("postgres")

if POSTGRES and not REPLICA and os.environ.get("VNID_REQUIRE_REPLICA") == "1":
    raise RuntimeError("VNID_REQUIRE_REPLICA=1 but VNID_TEST_REPLICA_URL is not set "
                       "(.ci/replica start prints it)")
pytestmark = pytest.mark.skipif(not (POSTGRES and REPLICA),
                                reason="needs PostgreSQL and a replica (VNID_TEST_REPLICA_URL)")

PENDING = "/api/v1/police/accounts/pending"


def reads(target: str, reason: str) -> float:
    """``vnid_db_reads_total{target, reason}`` as it stands."""
    return replica_reads.READS.labels(target=target, reason=reason)._value.get()


def _replica_admin() -> sa.Engine:
    server = sa.engine.make_url(REPLICA).set(database="postgres")
    return replica.engine(server.render_as_string(hide_password=False),
                          isolation_level="AUTOCOMMIT")


def wait_replayed(primary: sa.Engine) -> None:
    """Until the replica has replayed everything the primary has written so far."""
    admin = _replica_admin()
    try:
        replica.wait_replayed(primary, admin)
    finally:
        admin.dispose()


@contextmanager
def replay_paused() -> Iterator[None]:
    """The replica replays nothing in the block (what the primary writes waits)."""
    admin = _replica_admin()
    try:
        with admin.connect() as connection:
            connection.execute(sa.text("SELECT pg_wal_replay_pause()"))
        yield
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text("SELECT pg_wal_replay_resume()"))
        admin.dispose()


class Replicated:
    """An app on a scratch database with its replica behind a proxy, and its officers."""

    def __init__(self, app: Flask, proxy: TcpProxy) -> None:
        self.app, self.proxy = app, proxy
        self.client = app.test_client()
        with app.app_context():
            self.primary = db.engine

    def session(self) -> Session:
        return Session(self.primary)

    def officer(self, username: str) -> Any:
        with self.app.app_context(), self.session() as session:
            made = create_officer(session, get_protector(), username=username)
        made.log_in(self.client)
        return made

    def pending_account(self) -> int:
        """A registration waiting for review in province 01, committed on the primary."""
        with self.app.app_context(), self.session() as session:
            account = add_account(session, get_protector(), pending_review=True, commit=True,
                                  province_code="01")
            return int(account.id)

    def pending_ids(self, officer: Any) -> list[int]:
        answer = self.client.get(PENDING, headers=bearer(officer.token))
        assert answer.status_code == 200, answer.get_json()
        return [item["account_id"] for item in answer.get_json()["items"]]

    @property
    def replicas(self) -> Replicas:
        return self.app.extensions["replicas"]  # type: ignore[no-any-return]


@pytest.fixture()
def replicated(tmp_path: Path) -> Iterator[Callable[..., Replicated]]:
    """Makes :class:`Replicated` apps (``settings`` override the testing configuration)."""
    made: list[Replicated] = []
    with scratch_database(tmp_path, postgres=True) as own_url:
        name = sa.engine.make_url(own_url).database
        replica = sa.engine.make_url(REPLICA)
        proxy = TcpProxy(replica.host or "127.0.0.1", replica.port or 5432)

        def make(**settings: str) -> Replicated:
            through = replica.set(host="127.0.0.1", port=proxy.port, database=name)
            app = create_app(load_config("testing", {
                "DATABASE_URL": own_url,
                "DATABASE_REPLICA_URLS": through.render_as_string(hide_password=False),
                "REPLICA_CHECK_SECONDS": "0.1", "REPLICA_MAX_LAG_SECONDS": "60",
                **settings}))
            if not made:
                with app.app_context():
                    upgrade()
            made.append(Replicated(app, proxy))
            wait_replayed(made[-1].primary)
            return made[-1]

        try:
            yield make
        finally:
            for each in made:
                each.replicas.dispose()
                with each.app.app_context():
                    db.engine.dispose()
            proxy.close()


def test_a_police_queue_is_read_from_the_replica(replicated: Callable[..., Replicated]) -> None:
    """The replica answers the queue: a registration the primary has and the paused replica
    has not yet is missing, and shows once the replica caught up."""
    service = replicated()
    first = service.pending_account()
    officer = service.officer("officer.queue")
    wait_replayed(service.primary)
    before = reads("replica", "replica")
    with replay_paused():
        second = service.pending_account()
        assert service.pending_ids(officer) == [first]
    assert reads("replica", "replica") == before + 1
    wait_replayed(service.primary)
    assert service.pending_ids(officer) == [first, second]


def test_a_lagging_replica_sends_the_reads_to_the_primary(
        replicated: Callable[..., Replicated]) -> None:
    """Behind by more than REPLICA_MAX_LAG_SECONDS, the replica is passed over (``lag``)."""
    service = replicated(REPLICA_MAX_LAG_SECONDS="0.5")
    officer = service.officer("officer.lag")
    wait_replayed(service.primary)
    before = reads("primary", "lag")
    with replay_paused():
        made = service.pending_account()
        time.sleep(0.8)  # the replica's last replayed transaction is now 0.8 s old and more
        assert service.pending_ids(officer) == [made]
        assert service.replicas.health(0).reason == "lag"
    assert reads("primary", "lag") == before + 1


def test_a_stopped_replica_changes_nothing_an_officer_sees(
        replicated: Callable[..., Replicated]) -> None:
    """The replica stops while the app still counts it fit: the read fails there, the route
    runs again on the primary and answers the same; the next reads go to the primary
    (``down``) until the replica answers again."""
    service = replicated(REPLICA_CHECK_SECONDS="60")
    made = service.pending_account()
    officer = service.officer("officer.down")
    wait_replayed(service.primary)
    assert service.pending_ids(officer) == [made]
    assert service.replicas.health(0).usable
    before = reads("primary", "down")
    service.proxy.refuse()  # the replica's connections reset, new ones refused
    try:
        assert service.pending_ids(officer) == [made]
        assert reads("primary", "down") == before + 1
        assert not service.replicas.health(0).usable
        assert service.pending_ids(officer) == [made]
        assert reads("primary", "down") == before + 2
    finally:
        service.proxy.resume()


def test_a_read_the_replica_cancels_in_a_recovery_conflict_is_answered_by_the_primary(
        replicated: Callable[..., Replicated], monkeypatch: pytest.MonkeyPatch) -> None:
    """A hot standby cancels a query whose snapshot its replay must overrun (SQLSTATE 40001,
    "conflict with recovery"): the queue is answered by the primary, the replica kept."""
    service = replicated()
    officer = service.officer("officer.conflict")
    wait_replayed(service.primary)
    with replay_paused():
        made = service.pending_account()
        queue = registration.review_queue

        def cancelled_on_the_replica(*, db_session: Session, **options: Any) -> Any:
            if db_session.get_bind() is not service.primary:
                raise sa.exc.OperationalError("SELECT ...", {}, SerializationFailure(
                    "canceling statement due to conflict with recovery"))
            return queue(db_session=db_session, **options)
        monkeypatch.setattr(registration, "review_queue", cancelled_on_the_replica)
        before = reads("primary", "conflict")
        assert service.pending_ids(officer) == [made]
        assert reads("primary", "conflict") == before + 1
        assert service.replicas.health(0).usable


def test_an_officer_reads_their_own_write_from_the_primary(
        replicated: Callable[..., Replicated]) -> None:
    """After approving a registration, the officer's queue no longer shows it, even while
    the replica still does; another officer, who wrote nothing, reads the replica."""
    service = replicated()
    made = service.pending_account()
    acting, other = service.officer("officer.acting"), service.officer("officer.other")
    wait_replayed(service.primary)
    before = reads("primary", replica_reads.OWN_WRITE)
    with replay_paused():
        answer = service.client.post(f"/api/v1/police/accounts/{made}/review",
                                     headers=bearer(acting.token), json={"decision": "approve"})
        assert answer.status_code == 200, answer.get_json()
        assert service.pending_ids(acting) == []
        assert reads("primary", replica_reads.OWN_WRITE) == before + 1
        assert service.pending_ids(other) == [made]


def test_an_officers_look_up_reads_the_replica_and_is_audited_on_the_primary(
        replicated: Callable[..., Replicated]) -> None:
    """The citizen and their account come from the replica (an account locked on the primary a
    moment ago still shows active); the look-up's audit event is written on the primary."""
    service = replicated()
    with service.app.app_context(), service.session() as session:
        account = add_account(session, get_protector(), commit=True, province_code="01")
        personal_id, account_id = account.citizen.personal_id, account.id
    officer = service.officer("officer.lookup")
    wait_replayed(service.primary)

    def look_up() -> str:
        answer = service.client.post("/api/v1/police/citizens/lookup",
                                     headers=bearer(officer.token),
                                     json={"personal_id": personal_id})
        assert answer.status_code == 200, answer.get_json()
        return str(answer.get_json()["account"]["status"])

    def audited() -> int:
        with service.session() as session:
            return int(session.scalar(sa.select(sa.func.count()).select_from(AuditEvent).where(
                AuditEvent.action == "citizen.read")))

    with replay_paused():
        with service.primary.begin() as connection:  # as another officer's lock would
            connection.execute(sa.text("UPDATE accounts SET status = 'locked' WHERE id = :id"),
                               {"id": account_id})
        assert look_up() == "active"
        assert audited() == 1
    wait_replayed(service.primary)
    assert look_up() == "locked"
    assert audited() == 2


def test_the_trust_list_is_read_from_the_replica(replicated: Callable[..., Replicated]) -> None:
    """A key rotated in on the primary shows in the trust list once the replica has it."""
    service = replicated()

    def kids() -> set[str]:
        answer = service.client.get("/.well-known/vnid-keys.json")
        assert answer.status_code == 200
        return {key["kid"] for key in answer.get_json()["keys"]}

    assert kids() == set()
    with replay_paused():
        with service.app.app_context(), service.session() as session:
            add_issuer_key(session, get_protector())
        assert kids() == set()
    wait_replayed(service.primary)
    assert len(kids()) == 1


def test_a_look_up_is_no_write_that_sends_the_officers_reads_to_the_primary(
        replicated: Callable[..., Replicated]) -> None:
    """A look-up is a POST (the id in the body) that writes only its audit event: the queue
    the officer reads next still comes from the replica."""
    service = replicated()
    with service.app.app_context(), service.session() as session:
        account = add_account(session, get_protector(), commit=True, province_code="01")
        personal_id = account.citizen.personal_id
    officer = service.officer("officer.reader")
    wait_replayed(service.primary)
    with replay_paused():
        made = service.pending_account()
        answer = service.client.post("/api/v1/police/citizens/lookup",
                                     headers=bearer(officer.token),
                                     json={"personal_id": personal_id})
        assert answer.status_code == 200, answer.get_json()
        assert service.pending_ids(officer) == []  # the replica's: not yet the new one
    wait_replayed(service.primary)
    assert service.pending_ids(officer) == [made]


def test_a_primary_named_as_a_replica_is_never_read_from(tmp_path: Path) -> None:
    """A server that is not in recovery (a promoted replica, or the primary by mistake) is
    passed over as ``down``: nothing reads from it as from a replica."""
    with scratch_database(tmp_path, postgres=True) as own_url:
        app = create_app(load_config("testing", {"DATABASE_URL": own_url,
                                                 "DATABASE_REPLICA_URLS": own_url}))
        try:
            replicas: Replicas = app.extensions["replicas"]
            assert replicas.choose() == (None, "down")
            assert replicas.health(0).lag_seconds is None
        finally:
            app.extensions["replicas"].dispose()
            with app.app_context():
                db.engine.dispose()
