"""VN1 credentials: offline verification, and the online verify and issuing endpoints.

- ``offline``: :func:`identity.credentials.vn1.verify` of an ``identity``
  credential with audience and nonce (~390 characters), in this process, as
  a ratio to bare ``cryptography`` ECDSA P-256 verifications of a 200-byte
  message, measured alternately in the same process. Goal ≥ 0.8: decoding
  (Base45, zlib, CBOR) must cost little beside the one signature check.
- ``verify``: ``POST /api/v1/credentials/verify`` by an officer (one
  ``identity_basic`` QR per client, reusable), as a ratio to the Flask
  hello-world under the same server settings. Goal ≥ 0.4. Each verification
  reads the officer, the key ring's fingerprint and the credential, and
  writes an audit event (the citizen's access log) and a usage counter in
  one transaction.
- ``issue``: ``POST /api/v1/credentials`` (``identity_basic``, confirmed with
  the passcode), ratio to the hello-world. Goal ≥ 0.4. The passcode check is
  an argon2id verification (~25 ms of CPU), so the bench also gives the
  ratio to bare argon2id verifications, as the login bench does.

The service runs as :mod:`bench.accounts` runs it (production configuration,
PostgreSQL, Redis db 14, :data:`bench.servers.SERVICE_SERVER`).
"""
from __future__ import annotations

import datetime as dt
import http.client
import json
import os
import statistics
import time
import urllib.parse
from typing import Any

import sqlalchemy as sa
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy.orm import sessionmaker

from bench.accounts import (CONNECTIONS, PASSCODE, PASSWORD, WARMUP_S, _compare, _rounds,
                            _settings, argon2_verifications, login_once,
                            officer_login, registered_service)
from bench.loadgen import ALLOWED_HOST, run_load
from bench.servers import WORKERS, serving
from identity.accounts import officers
from identity.audit.service import Actor
from identity.credentials import keys, vn1
from identity.protection import Protector

OFFLINE_GOAL = 0.8
VERIFY_GOAL = 0.4
ISSUE_GOAL = 0.4
ACTOR = Actor(type="system", id="bench", source="cli")
VERIFY_PATH = "/api/v1/credentials/verify"
ISSUE_PATH = "/api/v1/credentials"


def _interleaved(bare: Any, full: Any, seconds: float, batch: int = 100) -> tuple[float, float]:
    """Calls per second of ``bare`` and ``full``, alternating batches of ``batch`` calls.

    Short alternations put both sides under the same load from the rest of
    the machine, so the ratio holds even when the machine is busy.
    """
    spent_bare = spent_full = 0.0
    batches = 0
    while spent_bare + spent_full < 2 * seconds:
        start = time.perf_counter()
        for _ in range(batch):
            bare()
        middle = time.perf_counter()
        for _ in range(batch):
            full()
        spent_bare += middle - start
        spent_full += time.perf_counter() - middle
        batches += 1
    return batches * batch / spent_bare, batches * batch / spent_full


def run_offline(*, quick: bool = False) -> dict[str, Any]:
    """Offline verifications per second, as a ratio to bare ECDSA P-256 verifications."""
    seconds, rounds = (1.0, 3) if quick else (3.0, 5)
    key = ec.generate_private_key(ec.SECP256R1())
    now = int(time.time())
    text = vn1.encode(private_key=key, issuer="VN", issued_at=now, expires_at=now + 3600,
                      credential_id=os.urandom(16), credential_type="identity",
                      claims={"id": "079312345678", "nm": "Tôn Nữ Thị Phương Quỳnh Trần Lê",
                              "dob": "1990-12-31", "sx": "F", "lvl": 2},
                      audience="rp:Zq8-xT3_kW9pL", nonce="Hb4._r7~Kd2Q")
    trust = vn1.TrustList.from_json({"issuer": "VN", "keys": [vn1.jwk(
        key.public_key(), status="active", not_before=dt.datetime.fromtimestamp(
            now - 60, dt.timezone.utc), not_after=None)]})
    message = os.urandom(200)
    signature = key.sign(message, ec.ECDSA(hashes.SHA256()))
    public_key = key.public_key()

    def bare() -> None:
        public_key.verify(signature, message, ec.ECDSA(hashes.SHA256()))

    def full() -> None:
        vn1.verify(text, trust, audience="rp:Zq8-xT3_kW9pL", nonce="Hb4._r7~Kd2Q")

    full()
    bases, loads = [], []
    for _round in range(rounds):
        base, load = _interleaved(bare, full, seconds)
        bases.append(base)
        loads.append(load)
    ratios = [load / base for load, base in zip(loads, bases)]
    ratio = round(statistics.median(ratios), 3)
    return {"rows": [
        {"operation": f"vn1.verify, identity credential of {len(text)} characters",
         "ops_per_s": round(statistics.median(loads)), "us_per_op":
             round(1e6 / statistics.median(loads), 1)},
        {"operation": "cryptography ECDSA P-256 verify, 200-byte message (baseline)",
         "ops_per_s": round(statistics.median(bases)), "us_per_op":
             round(1e6 / statistics.median(bases), 1)}],
        "ratio": {"value": ratio, "per_round": [round(r, 3) for r in ratios],
                  "goal": OFFLINE_GOAL, "meets_goal": ratio >= OFFLINE_GOAL},
        "settings": {"rounds": rounds, "seconds_per_side": seconds,
                     "process": "one, alternating batches of 100 calls"}}


def _prepare(env: dict[str, str], officer_count: int) -> list[tuple[str, str]]:
    """An issuer key and ``officer_count`` officers of Hanoi in the service's database.

    Returns each officer's username and TOTP secret: an officer logs in once
    per TOTP step, so each round logs in as another officer.
    """
    protector = Protector.from_settings(env["PERSONAL_DATA_KEYS"], env["LOOKUP_HASH_KEY"])
    engine = sa.create_engine(env["DATABASE_URL"].replace("postgresql://",
                                                          "postgresql+psycopg://", 1))
    logins = []
    try:
        with sessionmaker(engine)() as session:
            keys.rotate_keys(db_session=session, protector=protector, actor=ACTOR)
            for number in range(officer_count):
                username = f"bench.officer{number}"
                _officer, uri = officers.create_officer(
                    db_session=session, protector=protector, actor=ACTOR, username=username,
                    full_name="Trần Thị Bình", password=PASSWORD, province_code="01",
                    commune_code=None, role="officer")
                query = urllib.parse.parse_qs(urllib.parse.urlparse(uri).query)
                logins.append((username, query["secret"][0]))
    finally:
        engine.dispose()
    return logins


def _issue(port: int, token: str) -> str:
    """One ``identity_basic`` credential's text, issued through the server."""
    connection = http.client.HTTPConnection(ALLOWED_HOST, port, timeout=30)
    try:
        connection.request("POST", ISSUE_PATH, body=json.dumps(
            {"type": "identity_basic", "passcode": PASSCODE}),
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"})
        answer = connection.getresponse()
        data = answer.read()
    finally:
        connection.close()
    if answer.status != 201:
        raise RuntimeError(f"issuing answered {answer.status}: {data[:300]!r}")
    return str(json.loads(data)["qr"])


def _hello(env: dict[str, str], duration: float) -> dict[str, Any]:
    with serving("hello", env) as port:
        return run_load(f"http://{ALLOWED_HOST}:{port}/hello", connections=CONNECTIONS,
                        duration=duration, warmup=WARMUP_S)


def run_verify(*, quick: bool = False) -> dict[str, Any]:
    """Online verifications per second, as a ratio to the Flask hello-world."""
    duration, rounds = (3.0, 1) if quick else (5.0, 3)
    with registered_service("cred_verify", accounts=CONNECTIONS) as svc:
        logins = iter(_prepare(svc.env, rounds))

        def verifications() -> dict[str, Any]:
            with serving("vnid", svc.env) as port:
                username, secret = next(logins)
                officer = officer_login(port, username, PASSWORD, secret)
                texts = [_issue(port, login_once(port, holder)["access_token"])
                         for holder in svc.holders]
                return run_load(f"http://{ALLOWED_HOST}:{port}/", connections=CONNECTIONS,
                                duration=duration, warmup=WARMUP_S,
                                flow="bench.auth_flows:bearer_flow", flow_data={
                                    "method": "POST", "path": VERIFY_PATH, "tokens": [officer],
                                    "bodies": [{"qr": text} for text in texts]})

        loads, bases = _rounds(rounds, lambda: _hello(svc.env, duration), verifications)
    return {**_compare("POST /credentials/verify (verifications/s)", loads,
                       "GET /hello, Flask hello-world (baseline)", bases, VERIFY_GOAL),
            "settings": _settings(rounds=rounds, duration=duration, accounts=CONNECTIONS)}


def run_issue(*, quick: bool = False) -> dict[str, Any]:
    """Credentials issued per second, as a ratio to the hello-world and to bare argon2id."""
    duration, rounds = (3.0, 1) if quick else (5.0, 3)
    with registered_service("cred_issue", accounts=CONNECTIONS) as svc:
        _prepare(svc.env, 0)

        def issues() -> dict[str, Any]:
            with serving("vnid", svc.env) as port:
                tokens = [login_once(port, holder)["access_token"] for holder in svc.holders]
                return run_load(f"http://{ALLOWED_HOST}:{port}/", connections=CONNECTIONS,
                                duration=duration, warmup=WARMUP_S,
                                flow="bench.auth_flows:bearer_flow", flow_data={
                                    "method": "POST", "path": ISSUE_PATH, "tokens": tokens,
                                    "bodies": [{"type": "identity_basic",
                                                "passcode": PASSCODE}]})

        hellos, argon2 = [], []

        def baselines() -> dict[str, Any]:
            argon2.append(argon2_verifications(processes=WORKERS, threads=CONNECTIONS // WORKERS,
                                               seconds=duration))
            hellos.append(_hello(svc.env, duration))
            return hellos[-1]

        loads, bases = _rounds(rounds, baselines, issues)
    result = _compare("POST /credentials (issued/s)", loads,
                      "GET /hello, Flask hello-world (baseline)", bases, ISSUE_GOAL)
    versus_argon2 = _compare("POST /credentials (issued/s)", loads,
                             "argon2id HASHER.verify (the passcode check alone)", argon2, 0.8)
    result["rows"].append(versus_argon2["rows"][1])
    result["ratio_to_argon2"] = versus_argon2["ratio"]
    return {**result, "settings": _settings(rounds=rounds, duration=duration,
                                            accounts=CONNECTIONS)}
