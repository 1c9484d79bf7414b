"""Two app servers sharing one database and one Redis, as behind a load balancer.

Node 1 and node 2 are separate ``flask run`` processes on their own ports
(``tests/e2e/live.py``). Whatever one node decides, the other knows at the
very next request: a logout or a lock on one refuses the token on both (the
token version lives in the database), a rate limit spent on one is spent on
both, and a one-time code or login challenge used on one is refused on the
other (both live in the shared Redis).

The database is a scratch PostgreSQL database when ``DATABASE_URL`` is set,
else a SQLite file both processes open. The in-process Redis stand-in cannot
be shared between processes, so the test needs ``REDIS_URL`` (CI sets it).
"""
from __future__ import annotations

import json
import os
import re
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from app.redis_cluster import redis_for
from tests.e2e.live import LiveServer
from tests.flows import Phone

pytestmark = pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs REDIS_URL")

# The fixed walkthrough citizen that `flask demo seed` always includes.
CITIZEN = {"personal_id": "001090012345", "full_name": "Nguyễn Văn An",
           "date_of_birth": "1990-05-12", "phone": "0912345678"}
PASSWORD = "correct horse battery staple"
PASSCODE = "246810"
PER_ID_LIMIT = 30


def call(node: LiveServer, method: str, path: str, body: Any = None,
         token: str | None = None) -> tuple[int, Any]:
    """One JSON request to ``node``; its status and decoded body (errors included)."""
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(node.url + path, method=method, headers=headers,
                                     data=None if body is None else json.dumps(body).encode())
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=30) as answer:
            raw = answer.read()
            return answer.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as error:
        with error:
            return error.code, json.loads(error.read())


def latest_code(node: LiveServer) -> str:
    status, body = call(node, "GET", "/api/v1/dev/sms-outbox")
    assert status == 200
    for message in body["messages"]:
        if message["phone"] == CITIZEN["phone"]:
            return re.findall(r"\b\d{6}\b", message["text"])[0]
    raise AssertionError("no SMS to the walkthrough citizen")


def login(node: LiveServer, phone: Phone) -> tuple[int, Any]:
    status, held = call(node, "POST", "/api/v1/auth/challenge", {
        "personal_id": CITIZEN["personal_id"], "device_id": phone.device_id})
    assert status == 200, held
    return call(node, "POST", "/api/v1/auth/login", {
        "personal_id": CITIZEN["personal_id"], "password": PASSWORD,
        "device_id": phone.device_id, "challenge_id": held["challenge_id"],
        "signature": phone.sign(held["nonce"])})


def register(one: LiveServer, two: LiveServer) -> Phone:
    """The walkthrough citizen registered: started on ``one``, its SMS read and confirmed on
    ``two``; the phone."""
    phone = Phone()
    status, started = call(one, "POST", "/api/v1/accounts/registrations", {
        **CITIZEN, "device_id": phone.device_id, "device_public_key": phone.public_key})
    assert status == 202, started
    status, body = call(two, "POST",
                        f"/api/v1/accounts/registrations/{started['registration_id']}/confirm",
                        {"otp": latest_code(two), "password": PASSWORD, "passcode": PASSCODE})
    assert status == 201, body
    return phone


def me(node: LiveServer, token: str) -> int:
    return call(node, "GET", "/api/v1/me", token=token)[0]


@pytest.fixture()
def nodes(tmp_path: Path) -> Iterator[tuple[LiveServer, LiveServer]]:
    """Two running servers on one migrated, seeded database and one Redis database."""
    database_url = os.environ.get("DATABASE_URL") or ""
    admin = scratch = None
    if database_url.startswith("postgres"):
        server = sa.engine.make_url(database_url).set(drivername="postgresql+psycopg")
        scratch = f"vnid_nodes_{uuid.uuid4().hex[:12]}"
        admin = sa.create_engine(server.set(database="postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(sa.text(f'CREATE DATABASE "{scratch}"'))
        shared_db = server.set(database=scratch).render_as_string(hide_password=False)
    else:
        shared_db = f"sqlite:///{tmp_path / 'shared.sqlite3'}"
    redis_url = os.environ["REDIS_URL"]
    shared_redis = redis_for(redis_url)
    shared_redis.flushdb()  # the suite's own Redis database number (a cluster: its nodes)
    one, two = LiveServer(tmp_path), LiveServer(tmp_path)
    two.log_path = tmp_path / "server2.log"
    for node in (one, two):
        node.env.update(DATABASE_URL=shared_db, REDIS_URL=redis_url,
                        AUTH_LIMIT_PER_ID=f"{PER_ID_LIMIT} per minute",
                        JOB_QUEUE_NAME=f"vnid-nodes-{uuid.uuid4().hex[:8]}")
    two.env["JOB_QUEUE_NAME"] = one.env["JOB_QUEUE_NAME"]
    try:
        one.flask("db", "upgrade")
        one.flask("demo", "seed", "--count", "5")
        one.start()
        two.start()
        yield one, two
    finally:
        one.stop()
        two.stop()
        shared_redis.flushdb()
        shared_redis.close()
        if admin is not None:
            with admin.connect() as connection:
                connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)'))
            admin.dispose()


def test_two_nodes_share_sessions_limits_and_one_time_codes(nodes):
    one, two = nodes
    phone = register(one, two)

    # A challenge issued by node 1 is used once, on node 2; node 1 then refuses it.
    status, held = call(one, "POST", "/api/v1/auth/challenge", {
        "personal_id": CITIZEN["personal_id"], "device_id": phone.device_id})
    login_body = {"personal_id": CITIZEN["personal_id"], "password": PASSWORD,
                  "device_id": phone.device_id, "challenge_id": held["challenge_id"],
                  "signature": phone.sign(held["nonce"])}
    status, tokens = call(two, "POST", "/api/v1/auth/login", login_body)
    assert status == 200, tokens
    status, refused = call(one, "POST", "/api/v1/auth/login", login_body)
    assert (status, refused["code"]) == (401, "auth.failed")

    # Logged in on node 1, logged out on node 2: refused on both at once.
    status, first = login(one, phone)
    assert status == 200, first
    assert (me(one, first["access_token"]), me(two, first["access_token"])) == (200, 200)
    assert call(two, "POST", "/api/v1/auth/logout", token=first["access_token"])[0] == 204
    assert (me(one, first["access_token"]), me(two, first["access_token"])) == (401, 401)
    assert (me(one, tokens["access_token"]), me(two, tokens["access_token"])) == (401, 401)
    status, refreshed = call(one, "POST", "/api/v1/auth/refresh", token=first["refresh_token"])
    assert status == 401, refreshed

    # Logged in on node 2, locked on node 1: the token and new logins refused on both.
    status, second = login(two, phone)
    assert status == 200, second
    assert call(one, "POST", "/api/v1/me/lock", token=second["access_token"])[0] == 200
    assert (me(one, second["access_token"]), me(two, second["access_token"])) == (401, 401)
    for node in (one, two):
        status, body = login(node, phone)
        assert (status, body["code"]) == (403, "account.locked")

    # The unlock code sent by node 1 is used on node 2, then refused on node 1.
    status, unlock = call(one, "POST", "/api/v1/auth/unlock", {
        "personal_id": CITIZEN["personal_id"], "password": PASSWORD})
    assert status == 202, unlock
    code = latest_code(one)
    path = f"/api/v1/auth/unlock/{unlock['unlock_id']}/confirm"
    assert call(two, "POST", path, {"otp": code})[0] == 200
    status, body = call(one, "POST", path, {"otp": code})
    assert (status, body["code"]) == (422, "otp.invalid")
    assert login(one, phone)[0] == 200

    # A per-id rate limit spent on node 1 is spent on node 2.
    someone = {"personal_id": "001090099999", "device_id": str(uuid.uuid4())}
    for _ in range(PER_ID_LIMIT):
        assert call(one, "POST", "/api/v1/auth/challenge", someone)[0] == 200
    for node in (two, one):
        status, body = call(node, "POST", "/api/v1/auth/challenge", someone)
        assert (status, body["code"]) == (429, "rate_limited")
