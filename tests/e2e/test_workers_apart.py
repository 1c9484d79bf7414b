"""Job workers as processes of their own: one killed in the middle of a job, the job done once.

Two ``flask jobs worker`` processes serve one RQ queue on the suite's Redis, over a scratch
PostgreSQL database. A job starts on one worker, which is killed (``SIGKILL``) while the remote
side (a party's callback endpoint, the bank gateway) holds its request. RQ finds the job
abandoned once its timeout (``JOB_TIMEOUT_SECONDS``) and the worker's TTL have passed, and the
other worker runs it again:

- a consent callback: the decision is delivered and recorded once (the killed send's attempt
  was never committed), with one audit event;
- a payment reconciliation: the attempt the gateway says succeeded is settled once: the order
  paid, one posting in the journal, one ``payment.paid`` audit event.

Needs ``REDIS_URL`` and a PostgreSQL ``DATABASE_URL`` (CI's PostgreSQL pass).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import rq
import sqlalchemy as sa
from flask_migrate import upgrade
from sqlalchemy.orm import Session

from app import create_app
from app.extensions import db, get_protector
from app.gateway_simulator import GatewaySimulator, SimPayment, serve
from app.jobs import enqueue
from config import load_config
from identity.audit.models import AuditEvent
from identity.audit.service import Actor
from identity.relying_parties import consents
from identity.relying_parties.callbacks import CallbackPolicy
from identity.relying_parties.models import ConsentRequest
from tests.api.helpers import Receiver
from tests.conftest import scratch_database
from tests.e2e.live import ROOT, emptied_redis, kill_the_busy_worker, stop_group
from tests.factories import OrderFactory, RelyingPartyFactory, add_active_account
from tests.flows import PASSCODE
from utilities.payments import ledger
from utilities.payments.flow import ORDER_FLOW
from utilities.payments.gateway import SUCCEEDED
from utilities.payments.models import PaymentAttempt, PaymentOrder

pytestmark = pytest.mark.skipif(
    not (os.environ.get("REDIS_URL")
         and (os.environ.get("DATABASE_URL") or "").startswith("postgres")),
    reason="needs REDIS_URL and a PostgreSQL DATABASE_URL")

ACTOR = Actor(type="test", id="workers")
SIM_SECRET = "sim-secret-of-the-workers-test"
JOB_TIMEOUT = 5
WORKER_TTL = 16  # RQ's least: a worker blocks 1 s for a job, then looks after its registries


class Workers:
    """The app (this process's node) and the worker processes of its queue."""

    def __init__(self, app: Any, processes: list[subprocess.Popen[bytes]], logs: Path) -> None:
        self.app, self.processes, self.logs = app, processes, logs
        self.queue = rq.Queue(app.config["JOB_QUEUE_NAME"],
                              connection=redis.Redis.from_url(app.config["JOB_REDIS_URL"]))

    def log(self) -> str:
        return self.logs.read_text(errors="replace")

    def kill_the_busy_one(self) -> subprocess.Popen[bytes]:
        """SIGKILL the worker running a job (there must be exactly one); the process."""
        return kill_the_busy_worker(self.queue, self.processes, self.log)

    def wait_for(self, done: Callable[[], bool]) -> None:
        """Until ``done()``: at most the time RQ takes to retry a dead worker's job, and more."""
        deadline = time.monotonic() + JOB_TIMEOUT + WORKER_TTL + 30
        while not done():
            assert time.monotonic() < deadline, self.log()
            time.sleep(0.5)

    def survivors(self) -> int:
        return sum(process.poll() is None for process in self.processes)


class HoldingSimulator(GatewaySimulator):
    """The bank gateway simulator, holding its first answer about a payment until released."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.arrived, self.release = threading.Event(), threading.Event()
        self.status_calls = 0

    def _status(self, reference: str) -> Any:
        self.status_calls += 1
        if self.status_calls == 1:
            self.arrived.set()
            self.release.wait(60)
        return super()._status(reference)


@pytest.fixture()
def workers(tmp_path: Path) -> Iterator[Workers]:
    """An app on a scratch database with the gateway simulator, and two worker processes."""
    redis_url = os.environ["REDIS_URL"]
    shared, jobs = emptied_redis()
    started: list[subprocess.Popen[bytes]] = []
    simulator = HoldingSimulator(SIM_SECRET, mode="never")
    sim_server, sim_url = serve(simulator)
    with scratch_database(tmp_path, postgres=True) as url:
        settings = {"DATABASE_URL": url, "REDIS_URL": redis_url,
                    "JOB_REDIS_URL": os.environ.get("JOB_REDIS_URL", ""),
                    "RP_CALLBACKS_ALLOW_PRIVATE": "1", "JOB_TIMEOUT_SECONDS": str(JOB_TIMEOUT),
                    "PAYMENT_GATEWAY_URL": sim_url, "PAYMENT_GATEWAY_SECRET": SIM_SECRET,
                    "PAYMENT_RECONCILE_AFTER_SECONDS": "0"}
        app = create_app(load_config("testing", settings))
        app.extensions["simulator"] = simulator
        with app.app_context():
            upgrade()
        env = {**os.environ, **settings, "VNID_CONFIG": "testing", "FLASK_APP": "wsgi"}
        logs = tmp_path / "workers.log"
        try:
            with logs.open("ab") as log:
                for _ in range(2):
                    started.append(subprocess.Popen(
                        [sys.executable, "-m", "flask", "jobs", "worker", "--worker-ttl",
                         str(WORKER_TTL), "--maintenance-interval", "1"],
                        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                        start_new_session=True))
            made = Workers(app, started, logs)
            deadline = time.monotonic() + 60
            while len(rq.Worker.all(queue=made.queue)) < 2:
                assert time.monotonic() < deadline, made.log()
                time.sleep(0.2)
            yield made
        finally:
            simulator.release.set()
            for process in started:
                stop_group(process)
            with app.app_context():
                db.engine.dispose()
            sim_server.shutdown()
            sim_server.server_close()
            for client in (shared, jobs):
                client.flushdb()
                client.close()


def test_a_worker_killed_during_a_callback_leaves_it_delivered_once(workers: Workers) -> None:
    app, receiver = workers.app, Receiver(failures=0, hold_first=True)
    try:
        with app.app_context(), Session(db.engine, expire_on_commit=False) as session:
            protector = get_protector()
            account = add_active_account(session, protector)
            party = RelyingPartyFactory(
                db_session=session, protector=protector, name="Ngân hàng Hai Tiến Trình",
                scopes=["identity.consent"], callback_url=receiver.url,
                callback_policy=CallbackPolicy(https_only=False, allow_private=True))
            request = consents.create_consent_request(
                db_session=session, actor=ACTOR, party=party,
                personal_id=account.citizen.personal_id, attributes=["full_name"],
                purpose="eKYC", callback=True, lifetime=600)
            consents.decide(db_session=session, actor=ACTOR, account=account,
                            consent_id=request.id, approve=True, passcode=PASSCODE)
            consent_id = request.id
            enqueue("rp.consent_callback", consent_id=consent_id)  # as the decision's route does

        assert receiver.arrived.wait(30), workers.log()
        workers.kill_the_busy_one()
        receiver.release.set()

        def state() -> tuple[str, int]:
            with Session(db.engine) as session:
                row = session.get(ConsentRequest, consent_id)
                return row.callback_state, row.callback_attempts

        with app.app_context():
            workers.wait_for(lambda: state()[0] == "delivered")
            assert state() == ("delivered", 1)  # the killed send's attempt never committed
            assert [event["consent_id"] for event in audited("rp.callback_delivered")] == [
                consent_id]
        assert workers.survivors() == 1
        assert [json.loads(body)["consent_request_id"] for _headers, body in receiver.calls] == [
            consent_id] * 2
    finally:
        receiver.close()


def test_a_worker_killed_during_a_reconciliation_leaves_the_payment_settled_once(
        workers: Workers) -> None:
    """The gateway took the money and never called back; the reconciliation asking it dies
    with its worker while the gateway holds the answer; the other worker's run settles it."""
    app, simulator = workers.app, workers.app.extensions["simulator"]
    with app.app_context(), Session(db.engine, expire_on_commit=False) as session:
        protector = get_protector()
        account = add_active_account(session, protector)
        order = OrderFactory(db_session=session, protector=protector, citizen=account.citizen)
        session.add(PaymentAttempt(reference="pa_killed", order_id=order.id,
                                   account_id=account.id, provider="banksim", bank="VCB",
                                   amount=order.amount, status="pending"))
        ORDER_FLOW.apply(session, order, "start_payment", role="citizen", by="test")
        session.commit()
        simulator.payments["pa_killed"] = SimPayment(
            merchant_reference="pa_killed", provider_reference="SIMKILLED", amount=order.amount,
            bank="VCB", callback_url="http://127.0.0.1:9/never", mode="never",
            status=SUCCEEDED, charged=order.amount)
        enqueue("payments.reconcile")  # as the scheduler does every 5 minutes

    assert simulator.arrived.wait(30), workers.log()
    workers.kill_the_busy_one()
    simulator.release.set()

    def status() -> str:
        with Session(db.engine) as session:
            return str(session.get(PaymentOrder, order.id).status)

    with app.app_context():
        workers.wait_for(lambda: status() == "paid")
        with Session(db.engine) as session:
            report = ledger.verify_ledger(session)
            assert (report.balanced, report.postings) == (True, 1)
            assert session.scalar(sa.select(PaymentAttempt.status).where(
                PaymentAttempt.reference == "pa_killed")) == SUCCEEDED
        assert len(audited("payment.paid")) == 1
    assert simulator.status_calls == 2  # the killed run's question, the other's
    assert workers.survivors() == 1


def audited(action: str) -> list[dict[str, Any]]:
    """The details of the audit events of ``action`` (in an app context)."""
    with Session(db.engine) as session:
        return list(session.scalars(sa.select(AuditEvent.details).where(
            AuditEvent.action == action)).all())
