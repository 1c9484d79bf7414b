"""Relying parties: identity matches per second, as a ratio to the Flask hello-world.

``POST /api/v1/rp/identity-match`` by one bank (a client-credentials token
from ``POST /api/v1/oauth/token``), each client matching another citizen of
a scratch registry. Each call authenticates the party's token and re-reads
the party (a disabled party is refused on its next call), counts its rate
limit and daily quota in Redis, reads the citizen, compares name, date of
birth and phone (keyed hash), and writes the audit event of the citizen's
access log. Goal: ``identity_match`` of :data:`bench.table.ROWS`, as a ratio to
the hello-world under the same server settings, measured alternately with
it, round by round.

The service runs as :mod:`bench.accounts` runs it (production configuration,
PostgreSQL, a private Redis, :data:`bench.servers.SERVICE_SERVER`); the party's
rate limit is raised out of reach (still counted) and its quota set to 10⁹.
"""
from __future__ import annotations

import base64
import http.client
import json
import urllib.parse
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import sessionmaker

from bench.accounts import (BENCH_LIMIT, CONNECTIONS, bearer_load, registered_service,
                            versus_hello, windows)
from bench.loadgen import ALLOWED_HOST
from bench.servers import serving
from identity.audit.service import Actor
from identity.protection import Protector
from identity.registry.models import Citizen
from identity.relying_parties import parties

MATCH_PATH = "/api/v1/rp/identity-match"
ACTOR = Actor(type="system", id="bench", source="cli")


def _prepare(env: dict[str, str]) -> tuple[str, str, list[dict[str, Any]]]:
    """A bank in the service's database; its client id and secret, and one body per citizen."""
    protector = Protector.from_settings(env["PERSONAL_DATA_KEYS"], env["LOOKUP_HASH_KEY"])
    engine = sa.create_engine(env["DATABASE_URL"].replace("postgresql://",
                                                          "postgresql+psycopg://", 1))
    try:
        with sessionmaker(engine)() as session:
            party, secret, _key = parties.create_party(
                db_session=session, protector=protector, actor=ACTOR, name="Bench Bank",
                kind="bank", scopes=["identity.match"], quotas={"identity.match": 10**9})
            bodies = [{"personal_id": pid, "full_name": name,
                       "date_of_birth": born.isoformat()}
                      for pid, name, born in session.execute(sa.select(
                          Citizen.personal_id, Citizen.full_name, Citizen.date_of_birth)
                          .limit(CONNECTIONS))]
            return party.client_id, secret, bodies
    finally:
        engine.dispose()


def _token(port: int, client_id: str, secret: str) -> str:
    """The party's access token (client credentials, HTTP Basic)."""
    connection = http.client.HTTPConnection(ALLOWED_HOST, port, timeout=30)
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    try:
        connection.request("POST", "/api/v1/oauth/token",
                           body=urllib.parse.urlencode({"grant_type": "client_credentials"}),
                           headers={"Authorization": f"Basic {basic}",
                                    "Content-Type": "application/x-www-form-urlencoded"})
        answer = connection.getresponse()
        data = answer.read()
    finally:
        connection.close()
    if answer.status != 200:
        raise RuntimeError(f"the token endpoint answered {answer.status}: {data[:300]!r}")
    return str(json.loads(data)["access_token"])


def run_match(*, quick: bool = False) -> dict[str, Any]:
    """Identity matches per second, as a ratio to the hello-world."""
    duration = windows(quick)
    with registered_service("rp_match", accounts=0) as svc:
        env = {**svc.env, "RP_LIMIT_PER_PARTY": BENCH_LIMIT}
        client_id, secret, bodies = _prepare(env)
        with serving("hello", env) as hello_port, serving("vnid", env) as port:
            token = _token(port, client_id, secret)
            return versus_hello(
                "POST /rp/identity-match (matches/s)", "identity_match", hello_port, duration,
                lambda: bearer_load(port, duration, "POST", MATCH_PATH, [token], bodies),
                accounts=0, citizens_matched=len(bodies),
                party_rate_limit=f"RP_LIMIT_PER_PARTY raised to '{BENCH_LIMIT}'")
