"""A Redis Cluster losing a master: what needs it fails closed (503), then works again.

A cluster of its own (``.ci/redis-cluster``, three masters on ports of this test), not the
suite's: one of its masters is shut down while challenges are asked, each with its own personal
id and device, so their rate-limit counters and challenges fall in every node's slots. Each
answer is 200 (its keys' nodes alive) or 503 with ``Retry-After`` (a slot of the dead master,
or the cluster marked failed), never a 500 (a challenge is only handed out once its counters
were counted); once the master is back, every challenge is 200 again. A request on a lost
master's slot waits some 3 to 6 s for its 503 (redis-py's retries, which ride out a failover).

Runs in the pass whose ``REDIS_URL`` is a cluster (CI's PostgreSQL pass), where
``redis-server`` and ``redis-cli`` are this machine's.
"""
from __future__ import annotations

import datetime as dt
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask_migrate import upgrade

from app import create_app
from app.extensions import db
from config import load_config
from tests.factories import personal_id_for
from tests.redis_kinds import redis_cluster

REPOSITORY = Path(__file__).resolve().parents[2]
FIRST_PORT = 7041
CHALLENGE = "/api/v1/auth/challenge"


def _cluster(action: str) -> str:
    done = subprocess.run([str(REPOSITORY / ".ci" / "redis-cluster"), action, str(FIRST_PORT)],
                          capture_output=True, text=True, timeout=60, check=True)
    return done.stdout.strip()


def _state(port: int) -> str:
    done = subprocess.run(["redis-cli", "-p", str(port), "cluster", "info"],
                          capture_output=True, text=True, timeout=10, check=False)
    return next((line.split(":", 1)[1].strip() for line in done.stdout.splitlines()
                 if line.startswith("cluster_state:")), "down")


@pytest.fixture()
def app_on_own_cluster(tmp_path: Path) -> Iterator[Flask]:
    url = _cluster("start")
    try:
        app = create_app(load_config("testing", {
            "DATABASE_URL": f"sqlite:///{tmp_path / 'cluster.db'}", "REDIS_URL": url,
            "JOB_REDIS_URL": "redis://127.0.0.1:1/0", "JOB_QUEUE": "inline"}))
        with app.app_context():
            upgrade()
        yield app
        with app.app_context():
            db.engine.dispose()
    finally:
        _cluster("stop")


def _ask(client: Any, serial: int) -> Any:
    return client.post(CHALLENGE, json={
        "personal_id": personal_id_for(dt.date(1991, 3, 9), "F", serial),
        "device_id": str(uuid.uuid4())}, environ_base={"REMOTE_ADDR": f"198.51.100.{serial % 250}"})


@redis_cluster
def test_a_master_lost_answers_503_never_500_and_the_cluster_back_counts_again(
        app_on_own_cluster: Flask, tmp_path: Path) -> None:
    client = app_on_own_cluster.test_client()
    assert [_ask(client, serial).status_code for serial in range(1, 31)] == [200] * 30
    lost = FIRST_PORT + 1
    node_dir = Path(f"/tmp/vnid-redis-cluster-{FIRST_PORT}/{lost}")
    subprocess.run(["redis-cli", "-p", str(lost), "shutdown", "nosave"], capture_output=True,
                   timeout=10, check=False)
    # Each request touches some four keys (an address's, an id's and a device's counters, the
    # challenge): six of them all missing the lost master's slots is a 1-in-15,000 chance.
    answers = [_ask(client, serial) for serial in range(100, 106)]
    statuses = {answer.status_code for answer in answers}
    assert statuses <= {200, 503} and 503 in statuses, statuses
    for answer in answers:
        if answer.status_code == 503:
            assert answer.get_json()["code"] == "service.unavailable"
            assert int(answer.headers["Retry-After"]) > 0
    subprocess.run(["redis-server", "--port", str(lost), "--bind", "127.0.0.1", "--daemonize",
                    "yes", "--dir", str(node_dir), "--cluster-enabled", "yes",
                    "--cluster-config-file", "nodes.conf", "--save", "", "--appendonly", "no",
                    "--logfile", str(node_dir / "redis.log")], check=True, timeout=10)
    deadline = time.monotonic() + 60
    while not all(_state(port) == "ok" for port in range(FIRST_PORT, FIRST_PORT + 3)):
        assert time.monotonic() < deadline, "the cluster did not come back"
        time.sleep(0.2)
    deadline = time.monotonic() + 30
    while _ask(client, 500).status_code != 200:  # the client finds the slot map again
        assert time.monotonic() < deadline, "the service did not use the cluster again"
        time.sleep(0.5)
    assert [_ask(client, serial).status_code for serial in range(600, 630)] == [200] * 30
