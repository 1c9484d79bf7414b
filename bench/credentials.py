"""VN1 credentials: offline verification, and the online verify and issuing endpoints.

- ``offline``: :func:`identity.credentials.vn1.verify` of an ``identity``
  credential with audience and nonce (~390 characters), in this process,
  against two baselines measured alternately with it, batch by batch, in the
  same process:

  - bare ``cryptography`` ECDSA P-256 verifications of a 200-byte message
    (the floor: the one signature check a verifier cannot skip). Goal ≥ 0.8;
  - the same credential verified with pycose 1.x as the COSE decoder
    (``Sign1Message.decode``, its ``Sig_structure``) but the same C ECDSA
    check (``cryptography``, as :mod:`vn1` uses; pycose's own ECDSA is pure
    Python and no fair peer), with the same Base45, zlib, payload CBOR and
    claim checks. Goal ≥ 1.5 (vn1 at least 1.5 times as fast).

- ``verify``: ``POST /api/v1/credentials/verify`` by an officer (one
  ``identity_basic`` QR per client, reusable), as a ratio to the Flask
  hello-world under the same server settings. Each verification reads the
  officer, the key ring's fingerprint and the credential, and writes an audit
  event (the citizen's access log) and a usage counter.
- ``issue``: ``POST /api/v1/credentials`` (``identity_basic``, confirmed with
  the passcode), as a ratio to the hello-world.

The service runs as :mod:`bench.accounts` runs it (production configuration,
PostgreSQL, a private Redis, :data:`bench.servers.SERVICE_SERVER`); the
service and the hello-world are started once and measured alternately, round
by round (:func:`bench.common.alternate`).
"""
from __future__ import annotations

import datetime as dt
import http.client
import json
import os
import statistics
import time
import urllib.parse
import zlib
from collections.abc import Callable
from typing import Any

import cbor2
import sqlalchemy as sa
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from sqlalchemy.orm import sessionmaker

from bench.accounts import (CONNECTIONS, PASSCODE, PASSWORD, bearer_load, login_once,
                            officer_login, registered_service, versus_hello, windows)
from bench.common import ROUNDS, spread, table_entry
from bench.loadgen import ALLOWED_HOST
from bench.servers import serving
from bench.table import GOALS
from identity.accounts import officers
from identity.audit.service import Actor
from identity.credentials import keys, vn1, vn1_signing
from identity.protection import Protector

OFFLINE_GOAL = GOALS["offline_vs_ecdsa"]
PYCOSE_GOAL = GOALS["offline_vs_pycose"]
ACTOR = Actor(type="system", id="bench", source="cli")
VERIFY_PATH = "/api/v1/credentials/verify"
ISSUE_PATH = "/api/v1/credentials"
_ECDSA = ec.ECDSA(hashes.SHA256())


def _interleaved(sides: dict[str, Callable[[], Any]], seconds: float,
                 batch: int = 100) -> dict[str, float]:
    """Calls per second of each side, alternating batches of ``batch`` calls.

    Short alternations put every side under the same load from the rest of
    the machine, so the ratios hold even when the machine is busy.
    """
    spent = dict.fromkeys(sides, 0.0)
    batches = 0
    while sum(spent.values()) < len(sides) * seconds:
        for name, call in sides.items():
            start = time.perf_counter()
            for _ in range(batch):
                call()
            spent[name] += time.perf_counter() - start
        batches += 1
    return {name: batches * batch / seconds_spent for name, seconds_spent in spent.items()}


def pycose_verify(text: str, trust: vn1.TrustList, *, audience: str,
                  nonce: str) -> vn1.Verified:
    """``vn1.verify``'s work with pycose 1.x decoding the COSE_Sign1 and building the
    Sig_structure, and the same C ECDSA check (``cryptography``) and claim checks."""
    from pycose.headers import KID, Algorithm
    from pycose.messages import Sign1Message

    raw = zlib.decompress(vn1.b45decode(text[len(vn1.PREFIX):]))
    # Sign1Message.decode(raw) as pycose 1.1 ships it expects cbor2 5's mutable items; cbor2
    # 6 gives a tagged array as a tuple (and its map as an immutable mapping), so the one outer
    # cbor2.loads is done here, the rest of the decoding by pycose.
    tagged = cbor2.loads(raw)
    if getattr(tagged, "tag", None) != vn1.COSE_SIGN1_TAG or len(tagged.value) != 4:
        raise vn1.VerificationError("malformed", "not a COSE_Sign1")
    protected, unprotected, payload, signature = tagged.value
    message = Sign1Message.from_cose_obj([protected, dict(unprotected), payload, signature],
                                         True)
    alg = message.get_attr(Algorithm)
    kid = message.get_attr(KID)
    trusted = trust.keys.get(kid) if isinstance(kid, bytes) else None
    if getattr(alg, "identifier", alg) != vn1.ES256 or trusted is None or not isinstance(
            kid, bytes) or not isinstance(message.payload, bytes):
        raise vn1.VerificationError("unknown_key")
    signature = message.signature
    der = encode_dss_signature(int.from_bytes(signature[:32]), int.from_bytes(signature[32:]))
    trusted.public_key.verify(der, message._create_sig_structure(), _ECDSA)
    claims = cbor2.loads(message.payload)
    return vn1._check_claims(claims, trusted, kid, now=None, audience=audience, nonce=nonce,
                             leeway=vn1.MAX_LEEWAY)


def run_offline(*, quick: bool = False) -> dict[str, Any]:
    """Offline verifications per second, as ratios to bare ECDSA and to pycose's decoding."""
    seconds, rounds = (0.5, ROUNDS) if quick else (2.0, 5)
    key = ec.generate_private_key(ec.SECP256R1())
    now = int(time.time())
    text = vn1_signing.encode(private_key=key, issuer="VN", issued_at=now, expires_at=now + 3600,
                              credential_id=os.urandom(16), credential_type="identity",
                              claims={"id": "079312345678", "nm": "Tôn Nữ Thị Phương Quỳnh Trần Lê",
                                      "dob": "1990-12-31", "sx": "F", "lvl": 2},
                              audience="rp:Zq8-xT3_kW9pL", nonce="Hb4._r7~Kd2Q")
    trust = vn1.TrustList.from_json({"issuer": "VN", "keys": [vn1.jwk(
        key.public_key(), status="active", not_before=dt.datetime.fromtimestamp(
            now - 60, dt.timezone.utc), not_after=None)]})
    message = os.urandom(200)
    signature = key.sign(message, _ECDSA)
    public_key = key.public_key()

    def bare() -> None:
        public_key.verify(signature, message, _ECDSA)

    def full() -> None:
        vn1.verify(text, trust, audience="rp:Zq8-xT3_kW9pL", nonce="Hb4._r7~Kd2Q")

    def with_pycose() -> None:
        pycose_verify(text, trust, audience="rp:Zq8-xT3_kW9pL", nonce="Hb4._r7~Kd2Q")

    expected = vn1.verify(text, trust, audience="rp:Zq8-xT3_kW9pL", nonce="Hb4._r7~Kd2Q")
    if pycose_verify(text, trust, audience="rp:Zq8-xT3_kW9pL",
                     nonce="Hb4._r7~Kd2Q").claims != expected.claims:
        raise RuntimeError("pycose's decoding does not give vn1.verify's claims")
    sides = {"bare": bare, "vn1": full, "pycose": with_pycose}
    measured = [_interleaved(sides, seconds) for _round in range(rounds)]
    rate = {name: [m[name] for m in measured] for name in sides}
    to_bare = [m["vn1"] / m["bare"] for m in measured]
    to_pycose = [m["vn1"] / m["pycose"] for m in measured]
    # The best vn1 could do against pycose: a decoder that costs nothing beside the check.
    pycose_floor = [m["bare"] / m["pycose"] for m in measured]
    operations = {
        "vn1": f"vn1.verify, identity credential of {len(text)} characters",
        "bare": "cryptography ECDSA P-256 verify, 200-byte message (baseline)",
        "pycose": "pycose 1.x decode + the same cryptography ECDSA check (baseline)"}
    return {"rows": [{"operation": operations[name], "ops_per_s": round(
        statistics.median(rate[name])), "us_per_op": round(1e6 / statistics.median(rate[name]), 1),
        "ops_per_s_spread": spread(rate[name], 0)} for name in ("vn1", "bare", "pycose")],
        "table": {"offline_vs_ecdsa": table_entry(to_bare, OFFLINE_GOAL, floor=1.0),
                  "offline_vs_pycose": table_entry(to_pycose, PYCOSE_GOAL,
                                                   floor=statistics.median(pycose_floor))},
        "settings": {"rounds": rounds, "seconds_per_side": seconds,
                     "process": "one, alternating batches of 100 calls of each side"}}


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


def run_verify(*, quick: bool = False) -> dict[str, Any]:
    """Online verifications per second, as a ratio to the Flask hello-world."""
    duration = windows(quick)
    with registered_service("cred_verify", accounts=CONNECTIONS) as svc:
        ((username, secret),) = _prepare(svc.env, 1)
        with serving("hello", svc.env) as hello_port, serving("vnid", svc.env) as port:
            officer = officer_login(port, username, PASSWORD, secret)
            texts = [_issue(port, login_once(port, holder)["access_token"])
                     for holder in svc.holders]

            return versus_hello(
                "POST /credentials/verify (verifications/s)", "online_verify", hello_port,
                duration, lambda: bearer_load(port, duration, "POST", VERIFY_PATH, [officer],
                                              [{"qr": text} for text in texts]))


def run_issue(*, quick: bool = False) -> dict[str, Any]:
    """Credentials issued per second, as a ratio to the hello-world."""
    duration = windows(quick)
    with registered_service("cred_issue", accounts=CONNECTIONS) as svc:
        _prepare(svc.env, 0)
        with serving("hello", svc.env) as hello_port, serving("vnid", svc.env) as port:
            tokens = [login_once(port, holder)["access_token"] for holder in svc.holders]

            return versus_hello(
                "POST /credentials (issued/s)", "issue", hello_port, duration,
                lambda: bearer_load(port, duration, "POST", ISSUE_PATH, tokens,
                                    [{"type": "identity_basic", "passcode": PASSCODE}]))
