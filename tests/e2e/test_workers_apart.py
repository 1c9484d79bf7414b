"""Job workers as processes of their own: one killed in the middle of a job, the job done once.

Two ``flask jobs worker`` processes serve one RQ queue on the suite's Redis, over a scratch
PostgreSQL database. A citizen approves a consent whose party has a callback; the job that
delivers it starts on one worker, which is killed (``SIGKILL``) while the party's endpoint holds
its request. RQ finds the job abandoned once its timeout (``JOB_TIMEOUT_SECONDS``) and the
worker's TTL have passed, and the other worker runs it again: the decision is delivered and
recorded once (the killed send's attempt was never committed), with one audit event.

Needs ``REDIS_URL`` and a PostgreSQL ``DATABASE_URL`` (CI's PostgreSQL pass).
"""
from __future__ import annotations

import http.server
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
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
from app.jobs import enqueue
from config import load_config
from identity.audit.models import AuditEvent
from identity.audit.service import Actor
from identity.relying_parties import consents
from identity.relying_parties.callbacks import CallbackPolicy
from identity.relying_parties.models import ConsentRequest
from tests.conftest import scratch_database
from tests.e2e.live import ROOT
from tests.factories import RelyingPartyFactory, add_active_account
from tests.flows import PASSCODE

pytestmark = pytest.mark.skipif(
    not (os.environ.get("REDIS_URL")
         and (os.environ.get("DATABASE_URL") or "").startswith("postgres")),
    reason="needs REDIS_URL and a PostgreSQL DATABASE_URL")

ACTOR = Actor(type="test", id="workers")
JOB_TIMEOUT = 5
WORKER_TTL = 16  # RQ's least: a worker blocks 1 s for a job, then looks after its registries


class HoldingReceiver:
    """A party's callback endpoint that holds its first request until released."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.arrived, self.release = threading.Event(), threading.Event()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                receiver.bodies.append(body)
                if len(receiver.bodies) == 1:
                    receiver.arrived.set()
                    receiver.release.wait(60)
                try:
                    self.send_response(204)
                    self.end_headers()
                except OSError:  # the sender is gone
                    pass

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/vnid/consents"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture()
def workers(tmp_path: Path) -> Iterator[tuple[Any, list[subprocess.Popen[bytes]], str]]:
    """An app on a scratch database, and two worker processes of its queue."""
    redis_url = os.environ["REDIS_URL"]
    shared = redis.Redis.from_url(redis_url)
    shared.flushdb()  # the suite's own Redis database number only
    started: list[subprocess.Popen[bytes]] = []
    with scratch_database(tmp_path, postgres=True) as url:
        settings = {"DATABASE_URL": url, "REDIS_URL": redis_url,
                    "RP_CALLBACKS_ALLOW_PRIVATE": "1", "JOB_TIMEOUT_SECONDS": str(JOB_TIMEOUT)}
        app = create_app(load_config("testing", settings))
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
            queue = rq.Queue(app.config["JOB_QUEUE_NAME"], connection=shared)
            deadline = time.monotonic() + 60
            while len(rq.Worker.all(queue=queue)) < 2:
                assert time.monotonic() < deadline, logs.read_text(errors="replace")
                time.sleep(0.2)
            yield app, started, logs.read_text
        finally:
            for process in started:
                if process.poll() is None:
                    os.killpg(process.pid, signal.SIGTERM)
                    process.wait(30)
            with app.app_context():
                db.engine.dispose()
            shared.flushdb()
            shared.close()


def test_a_worker_killed_during_a_callback_leaves_it_delivered_once(workers: Any) -> None:
    app, processes, log = workers
    receiver = HoldingReceiver()
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

        assert receiver.arrived.wait(30), log()
        queue = rq.Queue(app.config["JOB_QUEUE_NAME"], connection=redis.Redis.from_url(
            app.config["REDIS_URL"]))
        busy = [worker for worker in rq.Worker.all(queue=queue) if worker.get_current_job_id()]
        assert len(busy) == 1, log()
        killed = next(process for process in processes if process.pid == busy[0].pid)
        os.killpg(killed.pid, signal.SIGKILL)
        killed.wait(10)
        receiver.release.set()

        def state() -> tuple[str, int]:
            with Session(db.engine) as session:
                row = session.get(ConsentRequest, consent_id)
                return row.callback_state, row.callback_attempts

        with app.app_context():
            deadline = time.monotonic() + JOB_TIMEOUT + WORKER_TTL + 30
            while state()[0] != "delivered":
                assert time.monotonic() < deadline, log()
                time.sleep(0.5)
            assert state() == ("delivered", 1)  # the killed send's attempt never committed
            with Session(db.engine) as session:
                delivered = session.scalars(sa.select(AuditEvent.details).where(
                    AuditEvent.action == "rp.callback_delivered")).all()
            assert [event["consent_id"] for event in delivered] == [consent_id]
        survivor = next(process for process in processes if process is not killed)
        assert survivor.poll() is None
        assert [body["consent_request_id"] for body in receiver.bodies] == [consent_id] * 2
    finally:
        receiver.close()
