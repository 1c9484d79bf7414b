"""Where the machine's CPU goes under a hot endpoint's load, process by process.

Usage (PostgreSQL and Redis on this machine, as ``make bench`` uses them)::

    .venv/bin/python -m tools.cpu_split verify|match|issue|refresh|pay|file [--seconds 4] \
        [--max-in-flight N --wait-ms M]

Serves the service as the benches do (:func:`bench.accounts.registered_service`,
granian with :data:`bench.servers.WORKERS` workers, production configuration),
puts the bench's load on ``verify`` (online verification by an officer),
``match`` (a bank's identity matches, as ``bench.relying_parties`` makes them),
``issue`` (a citizen's ``identity_basic`` QR), ``file`` (a citizen's report, as
``bench.reports`` files it), ``refresh`` (each client
rotating its own chain of refresh tokens, as ``bench.accounts.run_refresh``
does) or ``pay`` (payment attempts as ``bench.payments`` makes them, the gateway
simulator in this process, counted as such, calling the service back), and
reads ``/proc`` before and after a window in the middle of the load: the CPU each group of processes
spent (granian's workers, PostgreSQL's backends and its other processes, the
load generator, the rest), per answer and how much of it in the kernel. When
PostgreSQL loads ``pg_stat_statements`` (``shared_preload_libraries``), the
statements' own execution time per answer is printed too (the extension
created in the ``postgres`` database), which sets what a
backend spends on its statements apart from what it spends on round trips
and commits.

``--max-in-flight`` and ``--wait-ms`` serve with other load-shedding settings
(``MAX_IN_FLIGHT``, ``IN_FLIGHT_WAIT_MS``) than the defaults, to compare.
"""
from __future__ import annotations

import argparse
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from bench import payments, relying_parties, reports
from bench.accounts import (BENCH_LIMIT, CONNECTIONS, PASSWORD, bearer_load, login_once,
                            officer_login, registered_service)
from bench.credentials import ISSUE_PATH, PASSCODE, VERIFY_PATH, _issue, _prepare
from bench.loadgen import ALLOWED_HOST, run_load
from bench.servers import serving

#: What a ``/proc`` process is counted as, by the first word of its command line that says.
GROUPS = (("granian", "granian"), ("postgres:", "postgres"), ("bench.loadgen", "load generator"))


def _group(command: str) -> str:
    for word, name in GROUPS:
        if word in command:
            if name == "postgres":
                return "postgres backends" if " postgres " in f" {command} " else \
                    "postgres other processes"
            return name
    return "other"


def _ticks() -> dict[str, tuple[str, int, int]]:
    """pid -> (group, user ticks, system ticks) of every process now."""
    found: dict[str, tuple[str, int, int]] = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as stat, open(f"/proc/{pid}/cmdline", "rb") as cmd:
                fields = stat.read().rsplit(")", 1)[1].split()
                command = cmd.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        found[pid] = (_group(command), int(fields[11]), int(fields[12]))
    return found


def _statements(connection: psycopg.Connection[Any]) -> list[tuple[Any, ...]]:
    return connection.execute(
        "SELECT calls, total_exec_time, left(regexp_replace(query, '\\s+', ' ', 'g'), 90) "
        "FROM pg_stat_statements WHERE query NOT ILIKE '%pg_stat_statements%' "
        "ORDER BY total_exec_time DESC LIMIT 8").fetchall()


@dataclass
class _Gateway:
    simulator: Any
    env: dict[str, str]


@contextmanager
def _gateway(wanted: bool) -> Iterator[_Gateway | None]:
    """The payments bench's gateway simulator, served from this process (None if not wanted)."""
    if not wanted:
        yield None
        return
    from app.gateway_simulator import GatewaySimulator, serve
    simulator = GatewaySimulator(payments.SECRET, mode="succeed", delay=payments.CALLBACK_DELAY,
                                 callback_retries=(0.5, 1.0))
    server, url = serve(simulator)
    try:
        yield _Gateway(simulator, {"PAYMENT_GATEWAY_URL": url,
                                   "PAYMENT_GATEWAY_SECRET": payments.SECRET,
                                   "PAYMENT_GATEWAY_TIMEOUT": "10"})
    finally:
        server.shutdown()
        server.server_close()


def measure(endpoint: str, seconds: float, settings: dict[str, str]) -> dict[str, Any]:
    """Answers/s, and per answer the CPU µs of each group (total, system) under the load."""
    with registered_service(f"cpu_split_{endpoint}", accounts=CONNECTIONS) as svc, \
            _gateway(endpoint == "pay") as gateway:
        ((username, secret),) = _prepare(svc.env, 1)
        own = {**(gateway.env if gateway else {}),
               **({"RP_LIMIT_PER_PARTY": BENCH_LIMIT} if endpoint == "match" else {})}
        with serving("vnid", {**svc.env, **own, **settings}) as port:
            tokens = [login_once(port, holder)["access_token"] for holder in svc.holders]
            load: Callable[[float], dict[str, Any]]
            if gateway is not None:
                gateway.simulator.callback_override = (
                    f"http://{ALLOWED_HOST}:{port}/api/v1/payments/callbacks/banksim")

                def load(d: float) -> dict[str, Any]:  # open fines enough for the window
                    orders = payments._load_orders(svc.env["DATABASE_URL"],
                                                   [h.personal_id for h in svc.holders],
                                                   payments.ORDERS_PER_CITIZEN)
                    return run_load(f"http://{ALLOWED_HOST}:{port}/", connections=CONNECTIONS,
                                    duration=d, warmup=0.5, flow="bench.payments:pay_flow",
                                    flow_data={"tokens": tokens, "orders": orders})
            elif endpoint == "match":
                client_id, party_secret, matches = relying_parties._prepare(svc.env)
                party = relying_parties._token(port, client_id, party_secret)
                load = lambda d: bearer_load(port, d, "POST",  # noqa: E731
                                             relying_parties.MATCH_PATH, [party], matches)
            elif endpoint == "refresh":
                def load(d: float) -> dict[str, Any]:  # new chains: a token is used once
                    chains = [login_once(port, holder)["refresh_token"]
                              for holder in svc.holders]
                    return run_load(f"http://{ALLOWED_HOST}:{port}/", connections=CONNECTIONS,
                                    duration=d, warmup=0.5, flow="bench.auth_flows:refresh_flow",
                                    flow_data={"refresh_tokens": chains})
            elif endpoint == "verify":
                officer = officer_login(port, username, PASSWORD, secret)
                bodies = [{"qr": _issue(port, token)} for token in tokens]
                load = lambda d: bearer_load(port, d, "POST", VERIFY_PATH,  # noqa: E731
                                             [officer], bodies)
            elif endpoint == "file":
                load = lambda d: bearer_load(port, d, "POST", reports.FILE_PATH,  # noqa: E731
                                             tokens, [reports._filing_body()])
            else:
                load = lambda d: bearer_load(port, d, "POST", ISSUE_PATH, tokens,  # noqa: E731
                                             [{"type": "identity_basic",
                                               "passcode": PASSCODE}])
            load(2.0)  # warm up
            done: dict[str, Any] = {}
            runner = threading.Thread(target=lambda: done.update(load(seconds + 4.0)))
            runner.start()
            time.sleep(2.0)
            stats: psycopg.Connection[Any] | None = None
            server = conninfo_to_dict(svc.env["DATABASE_URL"].replace("+psycopg", ""))
            try:  # the view of every database, where the extension was created
                stats = psycopg.connect(make_conninfo("", **{**server, "dbname": "postgres"}),
                                        autocommit=True)
                stats.execute("SELECT pg_stat_statements_reset()")
            except psycopg.Error:
                stats = None  # pg_stat_statements is not loaded: the processes only
            before = _ticks()
            time.sleep(seconds)
            after = _ticks()
            statements = _statements(stats) if stats is not None else []
            runner.join()
    answers = done["rps"] * seconds
    hz = os.sysconf("SC_CLK_TCK")
    groups: dict[str, list[int]] = {}
    me = str(os.getpid())
    for pid, (group, user, system) in after.items():
        if pid == me:
            group = "gateway simulator" if endpoint == "pay" else group
        _, user0, system0 = before.get(pid, (group, 0, 0))
        spent = groups.setdefault(group, [0, 0])
        spent[0] += user + system - user0 - system0
        spent[1] += system - system0
    return {"rps": done["rps"], "p50_ms": done["p50_ms"], "non_2xx": done["non_2xx"],
            "cpu_us": {group: (1e6 * total / hz / answers, 1e6 * system / hz / answers)
                       for group, (total, system) in groups.items() if total > 0},
            "statements_us": [(calls / answers, 1000 * total_ms / answers, text)
                              for calls, total_ms, text in statements]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("endpoint", choices=("verify", "match", "issue", "refresh", "pay", "file"))
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--max-in-flight", type=int)
    parser.add_argument("--wait-ms", type=int)
    args = parser.parse_args(argv)
    settings = {name: str(value) for name, value in (("MAX_IN_FLIGHT", args.max_in_flight),
                                                     ("IN_FLIGHT_WAIT_MS", args.wait_ms))
                if value is not None}
    found = measure(args.endpoint, args.seconds, settings)
    print(f"{args.endpoint}: {found['rps']:.0f} answers/s, p50 {found['p50_ms']:.1f} ms, "
          f"{found['non_2xx']} not 2xx")
    for group, (total, system) in sorted(found["cpu_us"].items(), key=lambda item: -item[1][0]):
        print(f"  {group:26s} {total:7.0f} µs of CPU per answer ({system:.0f} in the kernel)")
    for calls, spent, text in found["statements_us"]:
        print(f"  {calls:4.2f}/answer {spent:6.1f} µs executing  {text}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
