"""A national morning under rising load: where the service stops keeping up, and how it says so.

The service runs as every service bench runs it (``wsgi:app``, production
configuration, :data:`bench.servers.SERVICE_SERVER` with
:data:`bench.servers.WORKERS` workers, a scratch PostgreSQL database and a
private Redis prepared by :func:`bench.accounts.registered_service`), with
its load shedding as configured by default (``MAX_IN_FLIGHT`` requests in
flight per worker, ``app/load_shedding.py``).

The workload is a mix, run by one :mod:`bench.loadgen` process per kind of
request, all at once, so each kind has its own figures:

=============  =====  ====================================================
kind           share  request (flow)
=============  =====  ====================================================
``login``      15 %   challenge + signed login (``auth_flows.login_flow``)
``me``         45 %   ``GET /api/v1/me`` with a citizen's token
``issue``      10 %   ``POST /api/v1/credentials`` (``identity_basic``)
``verify``     15 %   ``POST /api/v1/credentials/verify`` by an officer
``report``     15 %   ``POST /api/v1/reports`` (an anonymous scam report)
=============  =====  ====================================================

Concurrency (keep-alive clients in all) rises step by step
(:data:`LEVELS`); the ramp stops after the first step where requests fail
without an answer (connection errors, timeouts) or the p99 of a kind passes
:data:`P99_LIMIT_MS`. Each step gives, per kind, answers per second (2xx
and 503 apart), p50 and p99 in ms, and their ratios to the Flask
hello-world measured in the same run (16 clients, before and after the ramp,
the mean of the two; both are given); the first step where
the service sheds (503) and the first where it breaks a limit are named.
Last, a burst of :data:`PROBE` simultaneous requests checks that shed
answers carry ``Retry-After`` and the uniform error body.

The load generators share the two cores with the server, PostgreSQL and
Redis: figures are lower bounds, comparable within one run.
"""
from __future__ import annotations

import concurrent.futures
import http.client
import json
import threading
from contextlib import ExitStack
from typing import Any

from bench.loadgen import ALLOWED_HOST, run_load

#: Kinds of request and their share of the clients.
SHARES = {"login": 0.15, "me": 0.45, "issue": 0.10, "verify": 0.15, "report": 0.15}
#: Total clients per step (full run, quick run).
LEVELS = (8, 16, 32, 64, 128, 256)
QUICK_LEVELS = (8, 64, 256)
#: A kind whose p99 passes this (ms) ends the ramp after the step.
P99_LIMIT_MS = 2000.0
#: Share of requests failing without an answer that ends the ramp after the step.
ERROR_LIMIT = 0.01
#: Simultaneous requests of the final burst.
PROBE = 200
HELLO_CONNECTIONS = 16
#: Registered citizens: at least the login clients of the top level (each logs in as its own).
ACCOUNTS = 40
PROBE_TIMEOUT_S = 30


def _clients(total: int) -> dict[str, int]:
    """At least one client per kind; the rest by share."""
    return {kind: max(1, round(total * share)) for kind, share in SHARES.items()}


def _post(port: int, path: str, body: Any, token: str | None = None) -> tuple[int, Any]:
    connection = http.client.HTTPConnection(ALLOWED_HOST, port, timeout=30)
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        connection.request("POST", path, body=json.dumps(body), headers=headers)
        answer = connection.getresponse()
        return answer.status, json.loads(answer.read() or b"null")
    finally:
        connection.close()


def _prepare_load(port: int, svc: Any, officer: tuple[str, str]) -> dict[str, Any]:
    """Tokens, credentials and bodies for every kind's flow, made through the server."""
    from bench.accounts import PASSCODE, PASSWORD, login_once, officer_login
    from bench.credentials import ISSUE_PATH
    from bench.reports import _filing_body

    tokens = [login_once(port, holder)["access_token"] for holder in svc.holders]
    officer_token = officer_login(port, officer[0], PASSWORD, officer[1])
    texts = []
    for token in tokens[:16]:
        status, body = _post(port, ISSUE_PATH, {"type": "identity_basic",
                                                "passcode": PASSCODE}, token)
        if status != 201:
            raise RuntimeError(f"issuing answered {status}: {body}")
        texts.append(body["qr"])
    return {
        "login": ("bench.auth_flows:login_flow",
                  {"holders": [holder.to_json() for holder in svc.holders]}),
        "me": ("bench.auth_flows:bearer_flow",
               {"method": "GET", "path": "/api/v1/me", "tokens": tokens, "bodies": [None]}),
        "issue": ("bench.auth_flows:bearer_flow",
                  {"method": "POST", "path": ISSUE_PATH, "tokens": tokens,
                   "bodies": [{"type": "identity_basic", "passcode": PASSCODE}]}),
        "verify": ("bench.auth_flows:bearer_flow",
                   {"method": "POST", "path": "/api/v1/credentials/verify",
                    "tokens": [officer_token], "bodies": [{"qr": text} for text in texts]}),
        "report": ("bench.auth_flows:bearer_flow",
                   {"method": "POST", "path": "/api/v1/reports", "tokens": tokens,
                    "bodies": [_filing_body()]}),
    }


def _step(port: int, flows: dict[str, Any], total: int, duration: float,
          warmup: float) -> dict[str, dict[str, Any]]:
    """Every kind's load generator at once; each one's result."""
    clients = _clients(total)
    with concurrent.futures.ThreadPoolExecutor(len(flows)) as pool:
        futures = {kind: pool.submit(run_load, f"http://{ALLOWED_HOST}:{port}/",
                                     connections=clients[kind], duration=duration,
                                     warmup=warmup, flow=flow, flow_data=data)
                   for kind, (flow, data) in flows.items()}
        return {kind: future.result() for kind, future in futures.items()}


def _row(total: int, kind: str, load: dict[str, Any], hello: dict[str, Any]) -> dict[str, Any]:
    statuses = {int(k): v for k, v in load["statuses"].items()}
    duration = load["duration_s"]
    ok = sum(v for k, v in statuses.items() if 200 <= k < 300)
    shed = statuses.get(503, 0)
    other = sum(statuses.values()) - ok - shed
    return {"clients": total, "endpoint": kind, "connections": load["connections"],
            "ok_per_s": round(ok / duration, 1), "503_per_s": round(shed / duration, 1),
            "other_non_2xx": other, "errors": load["errors"],
            "p50_ms": load["p50_ms"], "p99_ms": load["p99_ms"],
            "rps_vs_hello": round(ok / duration / hello["rps"], 4) if hello["rps"] else None,
            "p50_vs_hello": round(load["p50_ms"] / hello["p50_ms"], 1)
            if hello["p50_ms"] else None}


def _probe(port: int, token: str) -> dict[str, Any]:
    """:data:`PROBE` simultaneous ``GET /api/v1/me``: how many were shed, and how."""
    start = threading.Barrier(PROBE)

    def one(_index: int) -> tuple[int, str | None, Any]:
        connection = http.client.HTTPConnection(ALLOWED_HOST, port, timeout=PROBE_TIMEOUT_S)
        try:
            connection.connect()
            start.wait(timeout=PROBE_TIMEOUT_S)
            connection.request("GET", "/api/v1/me", headers={"Authorization": f"Bearer {token}"})
            answer = connection.getresponse()
            body = answer.read()
            return answer.status, answer.getheader("Retry-After"), json.loads(body or b"null")
        except (OSError, ValueError, threading.BrokenBarrierError) as error:
            return 0, None, type(error).__name__
        finally:
            connection.close()

    with concurrent.futures.ThreadPoolExecutor(PROBE) as pool:
        answers = list(pool.map(one, range(PROBE)))
    shed = [a for a in answers if a[0] == 503]
    uniform = all(isinstance(body, dict) and set(body) == {"status", "code", "message", "errors"}
                  and body["code"] == "service.overloaded" for _s, _r, body in shed)
    return {"requests": PROBE, "ok": sum(1 for a in answers if a[0] == 200),
            "shed_503": len(shed), "no_answer": sum(1 for a in answers if a[0] == 0),
            "shed_with_retry_after": sum(1 for _s, retry, _b in shed if retry),
            "shed_bodies_uniform": uniform}


def run(*, quick: bool = False) -> dict[str, Any]:
    """Ramp the mixed workload; the table per step and kind, the shedding and breaking points."""
    from bench.accounts import WARMUP_S, registered_service
    from bench.credentials import _prepare
    from bench.servers import SERVICE_SERVER, WORKERS, serving
    from config import load_config

    levels, duration, warmup = (QUICK_LEVELS, 3.0, 1.0) if quick else (LEVELS, 6.0, WARMUP_S)
    accounts = ACCOUNTS
    rows: list[dict[str, Any]] = []
    shedding_from = breaking_at = None
    with registered_service("load", accounts=accounts) as svc, ExitStack() as stack:
        env = {**svc.env, "CREDENTIAL_LIFETIMES": "identity_basic=3600"}
        settings = load_config("production", env)
        officer = _prepare(env, 1)[0]
        hello_port = stack.enter_context(serving("hello", env))

        def hello_load() -> dict[str, Any]:
            return run_load(f"http://{ALLOWED_HOST}:{hello_port}/hello",
                            connections=HELLO_CONNECTIONS, duration=duration, warmup=warmup)

        hellos = [hello_load()]
        hello = hellos[0]
        with serving("vnid", env) as port:
            flows = _prepare_load(port, svc, officer)
            for total in levels:
                step = _step(port, flows, total, duration, warmup)
                step_rows = [_row(total, kind, load, hello) for kind, load in step.items()]
                rows += step_rows
                answered = sum(load["requests"] for load in step.values())
                errors = sum(load["errors"] for load in step.values())
                worst_p99 = max(row["p99_ms"] for row in step_rows)
                if shedding_from is None and any(row["503_per_s"] for row in step_rows):
                    shedding_from = total
                if errors > ERROR_LIMIT * max(answered, 1) or worst_p99 > P99_LIMIT_MS:
                    breaking_at = total
                    break
            probe = _probe(port, flows["me"][1]["tokens"][0])
        hellos.append(hello_load())
    # The ratios above used the first hello-world; give them against the mean of both.
    mean_rps = sum(h["rps"] for h in hellos) / len(hellos)
    for row in rows:
        row["rps_vs_hello"] = round(row["ok_per_s"] / mean_rps, 4) if mean_rps else None
    return {
        "rows": rows,
        "hello_ceiling": {"rps_before_after": [h["rps"] for h in hellos], "rps_mean": mean_rps,
                          "p50_ms": hello["p50_ms"], "p99_ms": hello["p99_ms"],
                          "connections": HELLO_CONNECTIONS},
        "shedding_from_clients": shedding_from,
        "limit_broken_at_clients": breaking_at,
        "burst_probe": probe,
        "settings": {"server": f"{SERVICE_SERVER}, {WORKERS} workers",
                     "max_in_flight_per_worker": settings["MAX_IN_FLIGHT"],
                     "in_flight_wait_ms": settings["IN_FLIGHT_WAIT_MS"],
                     "levels": list(levels), "duration_s": duration, "warmup_s": warmup,
                     "accounts": accounts, "shares": SHARES, "p99_limit_ms": P99_LIMIT_MS,
                     "error_limit": ERROR_LIMIT},
    }
