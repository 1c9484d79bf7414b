"""The deployment's shape in one test: two app nodes, two job workers, one scheduler, a replica.

Every component is a process of its own on one scratch PostgreSQL database and the suite's
Redis (``deploy/compose.yaml`` runs the same ones): ``flask run`` twice, ``flask jobs worker``
twice, ``flask jobs cron`` once; with ``VNID_TEST_REPLICA_URL`` (CI) the nodes read the trust
list and the police queues from the streaming replica. A citizen registers on one node, a bank
asks for consent on the other, the citizen approves on the first; the callback job starts on a
worker that is killed while the bank's endpoint holds the request, and the other worker
delivers it: the decision is recorded as delivered once. The scheduler is the only one
registered, with every periodic job.

Needs ``REDIS_URL`` and a PostgreSQL ``DATABASE_URL`` (CI's PostgreSQL pass).
"""
from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import rq
import sqlalchemy as sa
from rq.cron import CronScheduler

from app.jobs import periodic_jobs
from tests import replica
from tests.api.helpers import Receiver
from tests.conftest import scratch_database
from tests.e2e.live import ROOT, LiveServer, emptied_redis, kill_the_busy_worker, stop_group
from tests.e2e.test_multinode import CITIZEN, PASSCODE, call, login, register

REPLICA = os.environ.get("VNID_TEST_REPLICA_URL", "")
pytestmark = pytest.mark.skipif(
    not (os.environ.get("REDIS_URL")
         and (os.environ.get("DATABASE_URL") or "").startswith("postgres")),
    reason="needs REDIS_URL and a PostgreSQL DATABASE_URL")

WORKER_TTL = 16


@dataclass
class Topology:
    one: LiveServer
    two: LiveServer
    workers: list[subprocess.Popen[bytes]]
    cron: subprocess.Popen[bytes]
    database: sa.Engine
    queue: rq.Queue
    logs: Path

    def log(self) -> str:
        return self.logs.read_text(errors="replace") + self.one.log() + self.two.log()


def _spawn(node: LiveServer, logs: Path, *args: str) -> subprocess.Popen[bytes]:
    with logs.open("ab") as log:
        return subprocess.Popen([sys.executable, "-m", "flask", *args], cwd=ROOT, env=node.env,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def _wait_replayed(url: str, replica_url: str) -> None:
    """Until the replica has the scratch database as the primary has it now."""
    primary, follower = replica.engine(url), replica.engine(replica_url)
    try:
        replica.wait_replayed(primary, follower)
    finally:
        primary.dispose()
        follower.dispose()


@pytest.fixture()
def topology(tmp_path: Path) -> Iterator[Topology]:
    redis_url = os.environ["REDIS_URL"]
    shared, jobs = emptied_redis()
    one, two = LiveServer(tmp_path), LiveServer(tmp_path)
    two.log_path = tmp_path / "server2.log"
    logs = tmp_path / "jobs.log"
    processes: list[subprocess.Popen[bytes]] = []
    with scratch_database(tmp_path, postgres=True) as url:
        settings = {"DATABASE_URL": url, "REDIS_URL": redis_url,
                    "JOB_REDIS_URL": os.environ.get("JOB_REDIS_URL", ""),
                    "JOB_QUEUE_NAME": f"vnid-topology-{uuid.uuid4().hex[:8]}",
                    "JOB_RETRY_SCALE": "0", "JOB_TIMEOUT_SECONDS": "5",
                    "RP_CALLBACKS_ALLOW_PRIVATE": "1"}
        if REPLICA:
            settings["DATABASE_REPLICA_URLS"] = sa.engine.make_url(REPLICA).set(
                database=sa.engine.make_url(url).database).render_as_string(hide_password=False)
        for node in (one, two):
            node.env.update(settings)
        database = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
        try:
            one.flask("db", "upgrade")
            one.flask("demo", "seed", "--count", "5")
            if REPLICA:
                _wait_replayed(url, settings["DATABASE_REPLICA_URLS"])
            one.start()
            two.start()
            workers = [_spawn(one, logs, "jobs", "worker", "--worker-ttl", str(WORKER_TTL),
                              "--maintenance-interval", "1") for _ in range(2)]
            cron = _spawn(two, logs, "jobs", "cron")
            processes += [*workers, cron]
            queue = rq.Queue(settings["JOB_QUEUE_NAME"], connection=jobs)
            deadline = time.monotonic() + 60
            while len(rq.Worker.all(queue=queue)) < 2 or not CronScheduler.all(jobs):
                assert time.monotonic() < deadline, logs.read_text(errors="replace")
                time.sleep(0.2)
            yield Topology(one, two, workers, cron, database, queue, logs)
        finally:
            for process in processes:
                stop_group(process)
            one.stop()
            two.stop()
            database.dispose()
            for client in (shared, jobs):
                client.flushdb()
                client.close()


def _party_token(node: LiveServer, party: dict[str, Any]) -> str:
    basic = base64.b64encode(f"{party['client_id']}:{party['client_secret']}".encode()).decode()
    request = urllib.request.Request(
        node.url + "/api/v1/oauth/token", method="POST",
        data=urllib.parse.urlencode({"grant_type": "client_credentials"}).encode(),
        headers={"Authorization": f"Basic {basic}",
                 "Content-Type": "application/x-www-form-urlencoded"})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(request, timeout=30) as answer:
        return str(json.loads(answer.read())["access_token"])


def test_a_consent_decided_across_the_nodes_is_called_back_once_though_a_worker_dies(
        topology: Topology) -> None:
    one, two = topology.one, topology.two
    receiver = Receiver(failures=0, hold_first=True)
    try:
        phone = register(one, two)
        party = json.loads(one.flask(
            "rp", "create", "--name", "Ngân hàng Cả Hệ Thống", "--kind", "bank",
            "--scopes", "identity.consent", "--callback-url", receiver.url).splitlines()[-1])
        status, asked = call(two, "POST", "/api/v1/rp/consent-requests", {
            "personal_id": CITIZEN["personal_id"], "attributes": ["full_name"],
            "purpose": "Mở tài khoản", "callback": True}, token=_party_token(two, party))
        assert status == 201, asked
        status, tokens = login(one, phone)
        assert status == 200, tokens
        status, decided = call(one, "POST", f"/api/v1/me/consent-requests/{asked['id']}/decision",
                               {"approve": True, "passcode": PASSCODE},
                               token=tokens["access_token"])
        assert status == 200, decided

        assert receiver.arrived.wait(30), topology.log()
        kill_the_busy_worker(topology.queue, topology.workers, topology.log)
        receiver.release.set()

        def state() -> tuple[str, int]:
            with topology.database.connect() as connection:
                row = connection.execute(sa.text(
                    "SELECT callback_state, callback_attempts FROM consent_requests "
                    "WHERE id = :id"), {"id": asked["id"]}).one()
                return str(row[0]), int(row[1])

        deadline = time.monotonic() + 5 + WORKER_TTL + 30
        while state()[0] != "delivered":
            assert time.monotonic() < deadline, topology.log()
            time.sleep(0.5)
        assert state() == ("delivered", 1)
        assert [json.loads(body)["consent_request_id"] for _headers, body in receiver.calls] == [
            asked["id"]] * 2
        assert [p.poll() is None for p in topology.workers].count(True) == 1

        shared = topology.queue.connection
        schedulers = CronScheduler.all(shared)
        assert len(schedulers) == 1 and schedulers[0].pid == topology.cron.pid
        scheduled = json.loads(shared.hget(schedulers[0].key, "cron_jobs"))
        assert sorted(job["name"] for job in scheduled) == periodic_jobs()

        if REPLICA:  # the nodes read the trust list from the replica
            assert call(two, "GET", "/.well-known/vnid-keys.json")[0] == 200
            metrics = urllib.request.build_opener(urllib.request.ProxyHandler({})).open(
                two.url + "/metrics", timeout=30).read().decode()
            assert 'vnid_db_reads_total{reason="replica",target="replica"} 1.0' in metrics
    finally:
        receiver.close()
