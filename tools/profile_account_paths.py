"""Profile the citizen's hot paths in-process: login, refresh, passcode, report filing, paying.

Usage (a database and a Redis db of your own; the schema is dropped and migrated)::

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/vnid_hN REDIS_URL=redis://127.0.0.1:6379/N \\
        .venv/bin/python -m tools.profile_account_paths [--requests 300] [--profile refresh]

Like :mod:`tools.profile_hot_paths` (whose round-trip counter it uses), for
the endpoints of a citizen's phone: ``login`` (``POST /auth/challenge`` then
``POST /auth/login``, argon2id included; ``argon2`` is the bare verification
of the same hash, so login minus argon2 is what is not argon2id), ``refresh``
(``POST /auth/refresh``, chained), ``passcode`` (``POST /me/passcode``: the
passcode confirmed, then changed back and forth), ``report`` (``POST
/reports``) and ``pay`` (``POST /payments/<order>/attempts`` against a
provider in memory). CPU µs per request is the process time of this process,
the median of ``--rounds`` rounds each interleaved with as many hello-world
requests (the ratio is hello's CPU over the endpoint's, per round, median).
"""
from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import os
import pstats
import statistics
import time
import uuid
from types import SimpleNamespace
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from flask import Flask

from app.extensions import db, get_protector
from identity.accounts.secrets import HASHER
from tools.profile_hot_paths import profiled_app

LIMITS = {"AUTH_LIMIT_PER_IP": "10000000 per minute", "AUTH_LIMIT_PER_ID": "10000000 per minute",
          "AUTH_LIMIT_PER_DEVICE": "10000000 per minute",
          "REPORT_LIMIT_PER_ACCOUNT": "10000000 per minute",
          "REPORT_DAILY_PER_ACCOUNT": "10000000"}


def _prepare(app: Flask, orders: int) -> dict[str, Any]:
    """A registered, logged-in citizen with ``orders`` open fines; a provider in memory."""
    from tests import flows
    from tests.factories import add_citizen
    from tests.utilities.payments.fakes import FakeProvider
    from utilities.payments.models import PaymentOrder

    client = app.test_client()
    with app.app_context():
        session = db.session()
        record = add_citizen(session, get_protector(), province_code="01",
                             commune_code="00070")
        session.commit()
        holder = flows.Holder.of(client, record)
        holder.record = SimpleNamespace(id=record.id, personal_id=record.personal_id)
        now = dt.datetime.now(dt.timezone.utc)
        made = session.execute(sa.insert(PaymentOrder).returning(PaymentOrder.id), [
            {"kind": "fine", "citizen_id": record.id, "description": "Profile",
             "legal_basis": "NĐ 168/2024", "amount": 800_000, "treasury": "treasury:fines",
             "province_code": "01", "commune_code": None,
             "due_date": now.date() + dt.timedelta(days=10), "created_at": now,
             "status": "open", "version": 1} for _ in range(orders)])
        order_ids = [int(i) for i in made.scalars()]
        session.commit()
        stored = session.scalar(sa.text("SELECT password_hash FROM accounts WHERE id = :i"),
                                {"i": holder.account_id})
    app.extensions["payment_providers"]["banksim"] = FakeProvider()
    return {"holder": holder, "orders": order_ids, "password_hash": stored}


def _requests(app: Flask, facts: dict[str, Any]) -> dict[str, Callable[[], Any]]:
    from tests import flows
    from tests.flows import PASSCODE, PASSWORD
    from tests.utilities.reports.helpers import report_body

    client = app.test_client()
    holder = facts["holder"]
    refresh_token = [holder.tokens["refresh_token"]]
    orders = list(facts["orders"])
    passcodes = [PASSCODE, "975310"]

    def hello() -> Any:
        answer = client.get("/profile-hello")
        assert answer.status_code == 200, answer.status_code

    def login() -> Any:
        tokens = flows.login(client, holder.personal_id, holder.phone)
        assert tokens["access_token"], tokens

    def argon2() -> Any:  # the login's own verification, bare: its share of a login
        HASHER.verify(facts["password_hash"], PASSWORD)

    def refresh() -> Any:
        answer = client.post("/api/v1/auth/refresh", headers=flows.bearer(refresh_token[0]))
        assert answer.status_code == 200, answer.get_json()
        refresh_token[0] = answer.get_json()["refresh_token"]

    def passcode() -> Any:
        answer = client.post("/api/v1/me/passcode", headers=holder.headers,
                             json={"passcode": passcodes[0], "new_passcode": passcodes[1]})
        assert answer.status_code == 204, answer.get_json()
        passcodes.reverse()

    def report() -> Any:
        answer = client.post("/api/v1/reports", json=report_body(), headers=holder.headers)
        assert answer.status_code == 201, answer.get_json()

    def pay() -> Any:
        answer = client.post(f"/api/v1/payments/{orders.pop()}/attempts",
                             headers={**holder.headers, "Idempotency-Key": str(uuid.uuid4())},
                             json={"bank": "VCB", "passcode": passcodes[0]})
        assert answer.status_code in (201, 202), answer.get_json()

    return {"hello": hello, "login": login, "argon2": argon2, "refresh": refresh,
            "passcode": passcode, "report": report, "pay": pay}


def main(argv: list[str] | None = None) -> int:
    """Migrate, prepare, then time and count each endpoint."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--profile", action="append", default=[])
    parser.add_argument("--only", action="append", default=[])
    parser.add_argument("--lines", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--dump", help="also write each profile to DUMP.<name> (pstats)")
    args = parser.parse_args(argv)
    if not os.environ.get("DATABASE_URL", "").startswith("postgresql"):
        parser.error("DATABASE_URL must name a PostgreSQL database of your own")
    app, counter = profiled_app(LIMITS)
    facts = _prepare(app, orders=args.requests + 20)
    calls = _requests(app, facts)
    for name, call in calls.items():
        if name == "hello" or (args.only and name not in args.only):
            continue
        count = max(args.requests // 10 if name in ("login", "argon2") else args.requests, 5)
        for _ in range(min(20, count)):  # warm up
            call()
        counter.reset()
        # Timed by CPU, not wall: what the process spends, not what it waits for.
        profile = cProfile.Profile(time.process_time) if name in args.profile else None
        per_round = max(count // args.rounds, 1)
        mine, hellos, walls = [], [], []
        for _ in range(args.rounds):  # interleaved with hello: the machine is shared
            started = time.process_time()
            for _ in range(per_round):
                calls["hello"]()
            hellos.append((time.process_time() - started) / per_round)
            if profile is not None:
                profile.enable()
            started, wall = time.process_time(), time.perf_counter()
            for _ in range(per_round):
                call()
            mine.append((time.process_time() - started) / per_round)
            walls.append((time.perf_counter() - wall) / per_round)
            if profile is not None:
                profile.disable()
        statements, trips = counter.reset()
        done = per_round * args.rounds
        print(f"{name:10s} {1e6 * statistics.median(mine):8.0f} µs CPU "
              f"({1e6 * min(mine):.0f}-{1e6 * max(mine):.0f})  "
              f"{1e6 * statistics.median(walls):8.0f} µs wall  hello "
              f"{1e6 * statistics.median(hellos):5.0f} µs CPU  ratio "
              f"{statistics.median(h / m for h, m in zip(hellos, mine)):.4f}  "
              f"{statements / done:5.2f} statements  {trips / done:5.2f} round trips "
              f"per request", flush=True)
        if profile is not None:
            stats = pstats.Stats(profile)
            if args.dump:
                stats.dump_stats(f"{args.dump}.{name}")
            stats.sort_stats("tottime").print_stats(args.lines)
            stats.sort_stats("cumulative").print_stats(args.lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
