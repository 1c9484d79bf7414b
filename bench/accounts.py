"""Logins and token refreshes per second, on the server settings the service is measured with.

Both benches serve ``wsgi:app`` (production configuration) exactly as
:mod:`bench.servers` does for the chosen server (:data:`bench.servers.SERVICE_SERVER`,
:data:`bench.servers.WORKERS` workers, started by :func:`bench.servers.serving`),
on a scratch PostgreSQL database and a private Redis (:func:`bench.common.private_redis`).
Citizens are generated and imported into the registry, then registered
in-process through :func:`identity.accounts.registration.start_registration` and
:func:`~identity.accounts.registration.confirm_registration` (the SMS code read back
from an in-memory gateway), each with a P-256 device key of its own. Every
account is ``active`` and logs in with the same password.

The rate limits of the authentication endpoints are raised for the bench
(``AUTH_LIMIT_PER_IP``, ``AUTH_LIMIT_PER_ID``, ``AUTH_LIMIT_PER_DEVICE``: see
:data:`RATE_LIMITS`): the limiter still counts every request in Redis, it just
never refuses one. The load generator (:mod:`bench.loadgen`, a process of its
own, 16 keep-alive clients) shares the machine's cores with the server,
PostgreSQL and Redis.

- ``login``: one login is the pair a phone must send, ``POST /auth/challenge``
  then ``POST /auth/login`` with the device's ES256 signature over the nonce
  (:func:`bench.auth_flows.login_flow`); its latency covers both. Baseline:
  bare argon2id verifications per second with
  :data:`identity.accounts.secrets.HASHER` (the login's own parameters), in as
  many processes as the server has workers, each with as many threads as
  clients it serves (16 / 2), with no server running. Goal: the ratio is at
  least 0.8 (a login costs little beyond its one verification).
- ``refresh``: ``POST /auth/refresh`` with the refresh token as bearer; each
  client chains the tokens its answers give (:func:`bench.auth_flows.refresh_flow`),
  from a login made before the window. Baseline: the Flask hello-world
  (``bench.hello:app``) under the same server and settings. Goal: at least 0.5.

Each ratio is taken in :data:`bench.common.ROUNDS` rounds (``--quick`` too,
with shorter windows): the servers (the service, and the hello-world where it
is the baseline) are started once and stay up, and each round measures the
baseline and the service one after the other, in an order that turns from
round to round (:func:`bench.common.alternate`). The figure is the median of
the per-round ratios, given with their min and max.
"""
from __future__ import annotations

import csv
import http.client
import json
import os
import re
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyotp
import redis
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from bench.auth_flows import CHALLENGE_PATH, LOGIN_PATH, Holder
from bench.common import (ROUNDS, KeptSmsGateway, alternate, app_environment, new_keys,
                          percentile, private_redis, ratios, scratch_database, table_entry)
from bench.loadgen import ALLOWED_HOST, run_load
from bench.servers import SERVICE_SERVER, WORKERS, serving, summarise
from bench.table import GOALS
from identity.accounts import registration
from identity.accounts.models import ACTIVE
from identity.accounts.schemas import RegistrationCreate
from identity.accounts.secrets import HASHER, PasscodeKeys, use_passcode_keys
from identity.audit.service import Actor
from identity.protection import Protector
from identity.registry.generator import generate_citizens
from identity.registry.importer import import_citizens

BENCH_LIMIT = "1000000 per minute"
#: Authentication rate limits of the bench's server: counted as usual, never reached.
RATE_LIMITS = {name: BENCH_LIMIT for name in
               ("AUTH_LIMIT_PER_IP", "AUTH_LIMIT_PER_ID", "AUTH_LIMIT_PER_DEVICE")}
#: A bench account files thousands of reports: the per-account limits, also never reached.
RATE_LIMITS |= {"REPORT_LIMIT_PER_ACCOUNT": BENCH_LIMIT, "REPORT_DAILY_PER_ACCOUNT": "1000000000"}
PASSWORD = "correct horse battery staple"
PASSCODE = "246810"
CONNECTIONS = 16
WARMUP_S = 2.0
LOGIN_GOAL = GOALS["login"]
REFRESH_GOAL = GOALS["refresh"]
ACTOR = Actor(type="system", id="bench", source="cli")
_CODE = re.compile(r"\b\d{6}\b")


@dataclass
class Service:
    """The environment that serves the registered accounts, and their holders."""

    env: dict[str, str]
    holders: list[Holder]


def _citizens_with_phone(path: Path, count: int) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        rows = [row for row in csv.DictReader(fh) if row["phone"]][:count]
    if len(rows) < count:
        raise RuntimeError(f"only {len(rows)} generated citizens have a phone, {count} wanted")
    return rows


def _register(factory: sessionmaker[Session], redis_client: redis.Redis, protector: Protector,
              row: dict[str, str]) -> Holder:
    """Register the citizen of ``row`` as the app would, from a new phone; its holder."""
    holder = Holder(personal_id=row["personal_id"], password=PASSWORD)
    payload = RegistrationCreate().load({
        "personal_id": row["personal_id"], "full_name": row["full_name"],
        "date_of_birth": row["date_of_birth"], "phone": row["phone"],
        "device_id": holder.device.device_id,
        "device_public_key": holder.device.public_key_b64})
    sms = KeptSmsGateway()
    with factory() as session:
        ref, _masked = registration.start_registration(
            db_session=session, redis_client=redis_client, protector=protector, sms=sms,
            actor=ACTOR, **payload)
        code = _CODE.findall(sms.messages[-1][1])[0]
        account = registration.confirm_registration(
            db_session=session, redis_client=redis_client, protector=protector, actor=ACTOR,
            registration_id=ref, otp=code, password=PASSWORD, passcode=PASSCODE)
        if account.status != ACTIVE:
            raise RuntimeError(f"a bench account is {account.status}, not {ACTIVE}")
    return holder


@contextmanager
def registered_service(purpose: str, *, accounts: int) -> Iterator[Service]:
    """A scratch database with ``accounts`` active citizens' accounts, and a private Redis."""
    keys = new_keys()
    protector = Protector.from_settings(keys["PERSONAL_DATA_KEYS"], keys["LOOKUP_HASH_KEY"])
    passcodes = PasscodeKeys.from_setting(keys["PASSCODE_HMAC_KEYS"])
    with private_redis() as redis_url, scratch_database(purpose) as url, \
            tempfile.TemporaryDirectory() as tmp:
        # Registering in-process sets each passcode under the service's key, as the app
        # would; said after the migration, whose application said its own.
        use_passcode_keys(lambda: passcodes)
        redis_client = redis.Redis.from_url(redis_url)
        try:
            engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1),
                                      pool_size=WORKERS, max_overflow=0)
            try:
                factory = sessionmaker(engine)
                registry = Path(tmp) / "registry.csv"
                generate_citizens(count=accounts * 2 + 20, out=registry)
                import_citizens(session_factory=factory, path=registry, protector=protector,
                                actor=ACTOR)
                rows = _citizens_with_phone(registry, accounts)
                # argon2 releases the GIL: one thread per core hashes in parallel.
                with ThreadPoolExecutor(WORKERS) as pool:
                    holders = list(pool.map(
                        lambda row: _register(factory, redis_client, protector, row), rows))
            finally:
                engine.dispose()
            env = {**os.environ, **app_environment(url, keys, redis_url=redis_url),
                   **RATE_LIMITS}
            yield Service(env=env, holders=holders)
        finally:
            redis_client.close()


# --- Baselines and helpers ---------------------------------------------------------------------

def _verify_for(stored_hash: str, start_at: float, seconds: float,
                threads: int) -> tuple[list[float], float]:
    """Verify ``PASSWORD`` against ``stored_hash`` in ``threads`` threads, from ``start_at``.

    Returns the time of each verification and the time they took together.
    """
    HASHER.verify(stored_hash, PASSWORD)  # warm: the first call pays for loading
    time.sleep(max(0.0, start_at - time.monotonic()))
    began = time.monotonic()

    def verify_until_deadline() -> list[float]:
        timings: list[float] = []
        while time.monotonic() < began + seconds:
            started = time.monotonic()
            HASHER.verify(stored_hash, PASSWORD)  # argon2 releases the GIL: threads overlap
            timings.append(time.monotonic() - started)
        return timings

    with ThreadPoolExecutor(threads) as pool:
        timings = [t for part in pool.map(lambda _i: verify_until_deadline(), range(threads))
                   for t in part]
    return timings, time.monotonic() - began


def argon2_verifications(*, processes: int, threads: int, seconds: float) -> dict[str, Any]:
    """Bare ``HASHER.verify`` calls per second in ``processes`` processes of ``threads`` threads.

    The server's shape: its workers, each with as many requests in flight as
    the load generator's clients give it. On an idle machine the threads add
    nothing (argon2 is CPU-bound); on a shared one they take the same share
    of the cores as the server's threads would.
    """
    stored_hash = HASHER.hash(PASSWORD)
    start_at = time.monotonic() + 1.0  # every process warm and waiting before the clock runs
    with ProcessPoolExecutor(processes) as pool:
        results = list(pool.map(_verify_for, [stored_hash] * processes,
                                [start_at] * processes, [seconds] * processes,
                                [threads] * processes))
    timings_ms = [t * 1000 for timings, _elapsed in results for t in timings]
    return {"ops_per_s": round(sum(len(timings) / elapsed for timings, elapsed in results), 1),
            "p50_ms": round(percentile(timings_ms, 50), 3),
            "p99_ms": round(percentile(timings_ms, 99), 3),
            "non_2xx": 0, "errors": 0, "connects": 0}


def _post(port: int, path: str, body: bytes) -> bytes:
    connection = http.client.HTTPConnection(ALLOWED_HOST, port, timeout=30)
    try:
        connection.request("POST", path, body=body, headers={"Content-Type": "application/json"})
        answer = connection.getresponse()
        data = answer.read()
    finally:
        connection.close()
    if answer.status != 200:
        raise RuntimeError(f"POST {path} answered {answer.status}: {data[:300]!r}")
    return data


def login_once(port: int, holder: Holder) -> dict[str, Any]:
    """Log ``holder`` in through the server on ``port``; the token pair."""
    challenge = _post(port, CHALLENGE_PATH, holder.challenge_body())
    return dict(json.loads(_post(port, LOGIN_PATH, holder.login_body(challenge))))


def officer_login(port: int, username: str, password: str, totp_secret: str) -> str:
    """An officer's access token through the server on ``port`` (TOTP of the current step)."""
    body = json.dumps({"username": username, "password": password,
                       "totp": pyotp.TOTP(totp_secret).now()}).encode()
    return str(json.loads(_post(port, "/api/v1/auth/officer-login", body))["access_token"])


def hello_load(port: int, duration: float) -> dict[str, Any]:
    """The Flask hello-world on ``port`` under the benches' clients: the baseline of most ratios."""
    return run_load(f"http://{ALLOWED_HOST}:{port}/hello", connections=CONNECTIONS,
                    duration=duration, warmup=WARMUP_S)


def bearer_load(port: int, duration: float, method: str, path: str, tokens: list[str],
                bodies: list[Any]) -> dict[str, Any]:
    """``method path`` again and again by every client, as ``tokens`` with ``bodies`` (cycled)."""
    return run_load(f"http://{ALLOWED_HOST}:{port}/", connections=CONNECTIONS,
                    duration=duration, warmup=WARMUP_S, flow="bench.auth_flows:bearer_flow",
                    flow_data={"method": method, "path": path, "tokens": tokens,
                               "bodies": bodies})


def versus_hello(label: str, key: str, hello_port: int, duration: float,
                 load: Callable[[], dict[str, Any]], *, accounts: int = CONNECTIONS,
                 **settings: Any) -> dict[str, Any]:
    """``load`` against the hello-world on ``hello_port``, alternately, round by round.

    Returns the rows, the ratio and the summary table's entry ``key`` (goal from
    :data:`bench.table.GOALS`).
    """
    out = alternate(ROUNDS, {"baseline": lambda: hello_load(hello_port, duration),
                             "load": load})
    result = _compare(label, out["load"], "GET /hello, Flask hello-world (baseline)",
                      out["baseline"], GOALS[key])
    return {"rows": result["rows"], "table": {key: result["ratio"]},
            "settings": {**_settings(rounds=ROUNDS, duration=duration, accounts=accounts),
                         **settings}}


def windows(quick: bool) -> float:
    """Seconds of each measured window: shorter with ``--quick``, never fewer rounds."""
    return 2.0 if quick else 5.0


def _compare(label: str, loads: list[dict[str, Any]], baseline_label: str,
             baselines: list[dict[str, Any]], goal: float) -> dict[str, Any]:
    """Rows of the service and its baseline over the rounds, and the per-round ratios."""
    valid = all(load["non_2xx"] == 0 and load["errors"] == 0 for load in loads)
    return {"rows": [{"endpoint": label, **summarise(loads, "ops_per_s")},
                     {"endpoint": baseline_label, **summarise(baselines, "ops_per_s")}],
            "ratio": table_entry(ratios(loads, baselines), goal, valid=valid)}


def _settings(*, rounds: int, duration: float, accounts: int) -> dict[str, Any]:
    return {"server": f"{SERVICE_SERVER}, {WORKERS} workers (bench/servers.py)",
            "connections": CONNECTIONS, "rounds": rounds, "duration_s": duration,
            "warmup_s": WARMUP_S, "accounts": accounts, "redis": "private redis-server",
            "rate_limits": f"AUTH_LIMIT_PER_IP/_ID/_DEVICE raised to '{BENCH_LIMIT}' "
                           "(still counted in Redis on every request)"}


# --- The benches -------------------------------------------------------------------------------

def run_login(*, quick: bool = False) -> dict[str, Any]:
    """Logins per second (challenge + signed login) as a ratio to bare argon2id verifications."""
    duration, accounts = (3.0, 32) if quick else (8.0, 96)
    with registered_service("login", accounts=accounts) as svc, \
            serving("vnid", svc.env) as port:
        flow_data = {"holders": [holder.to_json() for holder in svc.holders]}

        def logins() -> dict[str, Any]:
            return run_load(f"http://{ALLOWED_HOST}:{port}/", connections=CONNECTIONS,
                            duration=duration, warmup=WARMUP_S,
                            flow="bench.auth_flows:login_flow", flow_data=flow_data)

        def verifications() -> dict[str, Any]:
            return argon2_verifications(processes=WORKERS, threads=CONNECTIONS // WORKERS,
                                        seconds=duration)

        out = alternate(ROUNDS, {"baseline": verifications, "load": logins})
    result = _compare("POST /auth/challenge + /auth/login (logins/s)", out["load"],
                      f"argon2id HASHER.verify, {WORKERS} processes x "
                      f"{CONNECTIONS // WORKERS} threads (baseline)", out["baseline"],
                      LOGIN_GOAL)
    return {"rows": result["rows"], "table": {"login": result["ratio"]},
            "settings": _settings(rounds=ROUNDS, duration=duration, accounts=accounts)}


def run_refresh(*, quick: bool = False) -> dict[str, Any]:
    """Token refreshes per second as a ratio to the Flask hello-world on the same server."""
    duration = windows(quick)
    with registered_service("refresh", accounts=CONNECTIONS) as svc, \
            serving("hello", svc.env) as hello_port, serving("vnid", svc.env) as port:
        def refreshes() -> dict[str, Any]:
            tokens = [login_once(port, holder)["refresh_token"] for holder in svc.holders]
            return run_load(f"http://{ALLOWED_HOST}:{port}/", connections=CONNECTIONS,
                            duration=duration, warmup=WARMUP_S,
                            flow="bench.auth_flows:refresh_flow",
                            flow_data={"refresh_tokens": tokens})

        return versus_hello("POST /auth/refresh (refreshes/s)", "refresh", hello_port, duration,
                            refreshes)
