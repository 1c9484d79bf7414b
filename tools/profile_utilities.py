"""Profile what the reports and payments benches load, in-process: CPU, SQL and Redis per operation.

Usage (a database and a Redis db of your own; the schema is dropped and migrated)::

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/vnid_hN REDIS_URL=redis://127.0.0.1:6379/N \\
        .venv/bin/python -m tools.profile_utilities [--requests 300] [--only file] [--sql]

The operations are the requests of ``bench/reports.py`` and ``bench/payments.py``:

- ``file``: ``POST /api/v1/reports`` with the bench's body (an anonymous scam
  report naming a phone number and a link, in Đà Nẵng); ``file_named``: the same,
  named (a seal, a notification);
- ``pay``: ``POST /api/v1/payments/<order>/attempts`` with a fresh
  ``Idempotency-Key``, against a provider in memory (the bench's signed HTTP
  call to the gateway is not in it: ``gateway`` times that call alone, against
  a simulator in a child process, so only the client's side is counted);
- ``callback``: the gateway's signed callback that settles one of those attempts
  (order paid, ledger posting, counter, audit, notification), which loads the
  same server in the bench.

Each line: CPU µs per operation (process time, median of ``--rounds`` rounds each
interleaved with as many requests of the service's hello route, whose CPU and
ratio are shown beside), SQL statements and round trips (with ``BEGIN``/``COMMIT``)
and Redis round trips per operation. ``--sql`` prints the statements of one
operation of each; ``--profile NAME`` a cProfile of that operation.
"""
from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from typing import Any

import redis.connection
import sqlalchemy as sa
from flask import Flask

from app.extensions import db
from tools.profile_account_paths import LIMITS, _prepare
from tools.profile_hot_paths import profiled_app

GATEWAY_SECRET = "profile-gateway-secret-of-at-least-32-characters"


class RedisTrips:
    """Counts the commands (and pipelines) sent to Redis: one round trip each."""

    def __init__(self) -> None:
        self.count = 0
        original = redis.connection.AbstractConnection.send_packed_command

        def counted(connection: Any, *args: Any, **kwargs: Any) -> Any:
            self.count += 1
            return original(connection, *args, **kwargs)
        redis.connection.AbstractConnection.send_packed_command = counted  # type: ignore

    def reset(self) -> int:
        """Round trips since the last reset."""
        counted, self.count = self.count, 0
        return counted


def _bench_filing_body(anonymous: bool) -> dict[str, Any]:
    from bench.reports import _filing_body
    return {**_filing_body(), "anonymous": anonymous}


def _requests(app: Flask, facts: dict[str, Any]) -> dict[str, Callable[[], Any]]:
    from tests.flows import PASSCODE
    from tests.utilities.payments.fakes import callback_body, post_callback

    client = app.test_client()
    holder = facts["holder"]
    orders = list(facts["orders"])
    pending: list[tuple[str, str, int]] = []
    anonymous, named = _bench_filing_body(True), _bench_filing_body(False)

    def hello() -> Any:
        answer = client.get("/profile-hello")
        assert answer.status_code == 200, answer.status_code

    def file() -> Any:
        answer = client.post("/api/v1/reports", json=anonymous, headers=holder.headers)
        assert answer.status_code == 201, answer.get_json()

    def file_named() -> Any:
        answer = client.post("/api/v1/reports", json=named, headers=holder.headers)
        assert answer.status_code == 201, answer.get_json()

    def pay() -> Any:
        answer = client.post(f"/api/v1/payments/{orders.pop()}/attempts",
                             headers={**holder.headers, "Idempotency-Key": str(uuid.uuid4())},
                             json={"bank": "VCB", "passcode": PASSCODE})
        assert answer.status_code == 201, answer.get_json()
        body = answer.get_json()
        pending.append((body["reference"], body["redirect_url"].rsplit("/", 1)[-1],
                        body["amount"]))

    def callback() -> Any:
        reference, provider_reference, amount = pending.pop()
        answer = post_callback(client, callback_body(reference, amount=amount,
                                                     provider_reference=provider_reference))
        assert answer.status_code == 200 and answer.get_json()["outcome"] == "applied", \
            answer.get_json()

    return {"hello": hello, "file": file, "file_named": file_named, "pay": pay,
            "callback": callback}


def _gateway_call() -> tuple[Callable[[], Any], Callable[[], None]]:
    """``create_payment`` of the HTTP provider against a simulator in a child process."""
    from utilities.payments.gateway import HttpProvider
    child = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from app.gateway_simulator import GatewaySimulator, serve; "
         f"server, url = serve(GatewaySimulator({GATEWAY_SECRET!r}, mode='never', delay=3600)); "
         "print(url, flush=True); sys.stdin.read()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=os.environ)
    assert child.stdout is not None
    provider = HttpProvider("banksim", base_url=child.stdout.readline().strip(),
                            secret=GATEWAY_SECRET)

    def gateway() -> Any:
        provider.create_payment(reference=f"pa_{uuid.uuid4().hex[:24]}", amount=800_000,
                                bank="VCB", description="VNID order 1",
                                return_url="vnid://payments/1",
                                callback_url="http://127.0.0.1:1/api/v1/payments/callbacks/x")

    def stop() -> None:
        child.kill()
        child.wait()
    return gateway, stop


def _print_sql(app: Flask, calls: dict[str, Callable[[], Any]], names: list[str]) -> None:
    seen: list[str] = []
    with app.app_context():
        engine = db.engine
    sa.event.listen(engine, "before_cursor_execute",
                    lambda _c, _cur, statement, *_: seen.append(statement))
    for name in names:
        seen.clear()
        calls[name]()
        print(f"-- {name}: {len(seen)} statements")
        for statement in seen:
            print("  ", " ".join(statement.split())[:300])


def _show(stats: pstats.Stats, dump: str | None, lines: int) -> None:
    """A profile by own time then by cumulative time (and to the file ``dump``)."""
    if dump:
        stats.dump_stats(dump)
    for order in ("tottime", "cumulative"):
        stats.sort_stats(order).print_stats(lines)


def main(argv: list[str] | None = None) -> int:
    """Migrate, prepare, then time and count each operation."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--only", action="append", default=[])
    parser.add_argument("--profile", action="append", default=[])
    parser.add_argument("--lines", type=int, default=40)
    parser.add_argument("--sql", action="store_true")
    parser.add_argument("--dump", help="also write each profile to DUMP.<name> (pstats)")
    args = parser.parse_args(argv)
    if not os.environ.get("DATABASE_URL", "").startswith("postgresql"):
        parser.error("DATABASE_URL must name a PostgreSQL database of your own")
    app, counter = profiled_app({**LIMITS, "PAYMENT_PROVIDER": "banksim"})
    redis_trips = RedisTrips()
    facts = _prepare(app, orders=3 * args.requests + 100)
    calls = _requests(app, facts)
    names = [n for n in ("file", "file_named", "pay", "callback", "gateway")
             if not args.only or n in args.only]
    if "callback" in names and "pay" not in names:
        names.insert(names.index("callback"), "pay")  # the callbacks settle its attempts
    stop = None
    if "gateway" in names:
        calls["gateway"], stop = _gateway_call()
    try:
        for name in names:  # warm up
            for _ in range(10):
                calls[name]()
        if args.sql:
            _print_sql(app, calls, [n for n in names if n != "gateway"])
        per_round = max(args.requests // args.rounds, 1)
        for name in names:
            counter.reset()
            redis_trips.reset()
            profile = cProfile.Profile(time.process_time) if name in args.profile else None
            mine, hellos = [], []
            statements = trips = redis_count = 0
            for _ in range(args.rounds):  # interleaved with hello: the machine is shared
                started = time.process_time()
                for _ in range(per_round):
                    calls["hello"]()
                hellos.append((time.process_time() - started) / per_round)
                counter.reset()
                redis_trips.reset()
                if profile is not None:
                    profile.enable()
                started = time.process_time()
                for _ in range(per_round):
                    calls[name]()
                mine.append((time.process_time() - started) / per_round)
                if profile is not None:
                    profile.disable()
                done_statements, done_trips = counter.reset()
                statements, trips = statements + done_statements, trips + done_trips
                redis_count += redis_trips.reset()
            done = per_round * args.rounds
            print(f"{name:10s} {1e6 * statistics.median(mine):7.0f} µs CPU "
                  f"({1e6 * min(mine):.0f}-{1e6 * max(mine):.0f})  hello "
                  f"{1e6 * statistics.median(hellos):4.0f} µs  ratio "
                  f"{statistics.median(h / m for h, m in zip(hellos, mine)):.4f}  "
                  f"{statements / done:5.2f} statements  {trips / done:5.2f} SQL round trips  "
                  f"{redis_count / done:4.2f} Redis", flush=True)
            if profile is not None:
                _show(pstats.Stats(profile), f"{args.dump}.{name}" if args.dump else None,
                      args.lines)
    finally:
        if stop is not None:
            stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
