"""Profile the hot paths in-process: CPU per request, SQL statements and round trips per request.

Usage (a database and a Redis db of your own; the schema is dropped and migrated)::

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/vnid_hN REDIS_URL=redis://127.0.0.1:6379/N \\
        .venv/bin/python -m tools.profile_hot_paths [--requests 500] [--profile verify]

For each hot endpoint (online verification, identity match, issuing, the
provinces list) it prints the CPU µs per request (process time of this
process, which serves the requests through the Flask test client), the SQL
statements per request and the round trips per request (statements, plus
``BEGIN``/``COMMIT``/``ROLLBACK`` and pool pre-pings). ``--profile NAME``
prints a cProfile of that endpoint's requests in CPU time (``time.process_time``: a
wait on the database costs nothing in it), sorted by own time; ``--dump PREFIX`` also
writes it to ``PREFIX<name>.pstats``.
"""
from __future__ import annotations

import argparse
import cProfile
import logging
import os
import pstats
import time
import urllib.parse
from collections.abc import Callable
from typing import Any

import pyotp
import sqlalchemy as sa
from flask import Flask
from flask_migrate import upgrade

from app import create_app
from app.auth import issue_tokens
from app.extensions import db, get_protector
from config import load_config
from identity import clock
from identity.accounts import officers
from identity.accounts.sessions import Grant
from identity.audit.service import Actor
from identity.credentials import keys, service
from identity.autocommit import in_autocommit
from identity.relying_parties import parties

OPERATOR = Actor(type="system", id="profile", source="cli")
PASSWORD = "correct horse battery staple 42"
PASSCODE = "246810"  # tests.factories.PASSCODE: the passcode of add_active_account


class RoundTrips:
    """Counts statements and other round trips on an engine."""

    def __init__(self, engine: sa.Engine) -> None:
        self.statements = self.other = 0
        sa.event.listen(engine, "before_cursor_execute", self._statement)
        for name in ("begin", "commit", "rollback"):
            sa.event.listen(engine, name, self._other)
        sa.event.listen(engine.pool, "checkout", self._checkout)
        self.pre_ping = bool(getattr(engine.pool, "_pre_ping", False))

    def _statement(self, *args: Any) -> None:
        self.statements += 1

    def _other(self, conn: sa.Connection, *args: Any) -> None:
        if not in_autocommit(conn):  # in autocommit, psycopg sends no BEGIN, COMMIT, ROLLBACK
            self.other += 1

    def _checkout(self, *args: Any) -> None:
        if self.pre_ping:
            self.other += 1

    def reset(self) -> tuple[int, int]:
        """(statements, round trips) since the last reset."""
        counted = self.statements, self.statements + self.other
        self.statements = self.other = 0
        return counted


def _prepare(app: Flask) -> Any:
    """An issuer key, a citizen's account, an officer, a party; their tokens and a QR."""
    from tests.factories import add_active_account
    with app.app_context():
        session = db.session()
        protector = get_protector()
        keys.rotate_keys(db_session=session, protector=protector, actor=OPERATOR)
        account = add_active_account(session, protector)
        officer, uri = officers.create_officer(
            db_session=session, protector=protector, actor=OPERATOR, username="profile.officer",
            full_name="Trần Thị Bình", password=PASSWORD, province_code="01",
            commune_code=None, role="officer")
        party, secret, _key = parties.create_party(
            db_session=session, protector=protector, actor=OPERATOR, name="Ngân hàng Hồ sơ",
            kind="bank", scopes=["identity.match"], quotas={"identity.match": 10_000_000})
        citizen = account.citizen
        issued = service.sign_credential(
            db_session=session, redis_client=app.extensions["redis"], protector=protector,
            key_ring=app.extensions["key_ring"], actor=OPERATOR, account=account,
            credential_type="identity_basic", claims={"id": citizen.personal_id,
                                                      "nm": citizen.full_name},
            lifetime=86_400)
        session.commit()
        facts: dict[str, Any] = {
            "qr": issued.qr, "personal_id": citizen.personal_id, "full_name": citizen.full_name,
            "date_of_birth": citizen.date_of_birth.isoformat(), "client_id": party.client_id,
            "secret": secret, "account": (account.id, account.level, account.token_version),
            "totp": urllib.parse.parse_qs(urllib.parse.urlparse(uri).query)["secret"][0]}
    client = app.test_client()
    answer = client.post("/api/v1/auth/officer-login", json={
        "username": "profile.officer", "password": PASSWORD,
        "totp": pyotp.TOTP(facts["totp"]).at(int(clock.now().timestamp()))})
    assert answer.status_code == 200, answer.get_json()
    facts["officer_token"] = answer.get_json()["access_token"]
    answer = client.post("/api/v1/oauth/token", data={"grant_type": "client_credentials"},
                         auth=(facts["client_id"], facts["secret"]))
    assert answer.status_code == 200, answer.get_json()
    facts["party_token"] = answer.get_json()["access_token"]
    account_id, level, version = facts["account"]
    with app.test_request_context():
        facts["citizen_token"] = issue_tokens(Grant(
            subject=f"citizen:{account_id}", role="citizen", level=level,
            token_version=version, session_id="profile", generation=1))["access_token"]
    return facts


def _requests(app: Flask, facts: dict[str, Any]) -> dict[str, Callable[[], Any]]:
    client = app.test_client()

    def verify() -> Any:
        answer = client.post("/api/v1/credentials/verify", json={"qr": facts["qr"]},
                             headers={"Authorization": f"Bearer {facts['officer_token']}"})
        assert answer.status_code == 200 and answer.get_json()["valid"], answer.get_json()

    def match() -> Any:
        answer = client.post("/api/v1/rp/identity-match", json={
            "personal_id": facts["personal_id"], "full_name": facts["full_name"],
            "date_of_birth": facts["date_of_birth"]},
            headers={"Authorization": f"Bearer {facts['party_token']}"})
        assert answer.status_code == 200 and answer.get_json()["match"], answer.get_json()

    def issue() -> Any:
        answer = client.post("/api/v1/credentials", json={
            "type": "identity_basic", "passcode": PASSCODE},
            headers={"Authorization": f"Bearer {facts['citizen_token']}"})
        assert answer.status_code == 201, answer.get_json()

    def provinces() -> Any:
        answer = client.get("/api/v1/admin-units/provinces")
        assert answer.status_code == 200, answer.status_code

    def hello() -> Any:
        answer = client.get("/profile-hello")
        assert answer.status_code == 200, answer.status_code

    return {"hello": hello, "verify": verify, "match": match, "issue": issue,
            "provinces": provinces}


def profiled_app(settings: dict[str, str]) -> tuple[Flask, RoundTrips]:
    """The testing app on ``DATABASE_URL`` (schema dropped, migrated) and ``REDIS_URL``
    (flushed), ``settings`` over the environment, with ``/profile-hello``; its counter."""
    app = create_app(load_config("testing", {**os.environ, **settings}))
    app.add_url_rule("/profile-hello", "profile_hello", lambda: "Hello, World!")
    for handler in logging.getLogger().handlers:  # the request log is written, to nowhere
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(open(os.devnull, "w"))  # noqa: SIM115
    with app.app_context():
        with db.engine.begin() as connection:
            connection.execute(sa.text("DROP SCHEMA public CASCADE"))
            connection.execute(sa.text("CREATE SCHEMA public"))
        upgrade()
        counter = RoundTrips(db.engine)
    app.extensions["redis"].flushdb()
    return app, counter


def main(argv: list[str] | None = None) -> int:
    """Migrate, prepare, then time and count each hot endpoint."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--profile", action="append", default=[])
    parser.add_argument("--only", action="append", default=[])
    parser.add_argument("--lines", type=int, default=40)
    parser.add_argument("--dump", metavar="PREFIX",
                        help="also write each profile to PREFIX<name>.pstats (pstats, snakeviz)")
    args = parser.parse_args(argv)
    if not os.environ.get("DATABASE_URL", "").startswith("postgresql"):
        parser.error("DATABASE_URL must name a PostgreSQL database of your own")
    app, counter = profiled_app({"RP_LIMIT_PER_PARTY": "1000000 per minute"})
    app.config["RP_LIMIT_PER_PARTY"] = "1000000 per minute"
    facts = _prepare(app)
    calls = _requests(app, facts)
    for name, call in calls.items():
        if args.only and name not in args.only:
            continue
        for _ in range(20):  # warm up
            call()
        counter.reset()
        profile = cProfile.Profile(time.process_time) if name in args.profile else None
        cpu, wall = time.process_time(), time.perf_counter()
        if profile is not None:
            profile.enable()
        for _ in range(args.requests):
            call()
        if profile is not None:
            profile.disable()
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        statements, trips = counter.reset()
        print(f"{name:10s} {1e6 * cpu / args.requests:8.0f} µs CPU  "
              f"{1e6 * wall / args.requests:8.0f} µs wall  "
              f"{statements / args.requests:5.2f} statements  "
              f"{trips / args.requests:5.2f} round trips per request")
        if profile is not None:
            stats = pstats.Stats(profile)
            if args.dump:
                stats.dump_stats(f"{args.dump}{name}.pstats")
            stats.sort_stats("tottime").print_stats(args.lines)
            stats.sort_stats("cumulative").print_stats(args.lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
