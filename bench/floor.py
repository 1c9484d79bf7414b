"""The floor: what each hot endpoint cannot avoid doing, measured on this machine, in this run.

An endpoint that authenticates a token, checks or makes a signature and
writes one durable row of the access log cannot cost less than that work
plus what a hello-world request costs the server. This bench measures each
part on the machine the other benches run on, in the same run:

- **hello**: ``GET /hello`` of the Flask hello-world under
  :data:`bench.servers.SERVICE_SERVER` (2 workers), 16 keep-alive clients:
  requests per second, and the server's own CPU per request (user + system
  time of its process group, from ``/proc``);
- **signatures**, one thread, in alternating batches: ``cryptography`` ECDSA
  P-256 verify and sign, PyJWT ES256 decode (verify) and encode (sign) of an
  access-token-sized JWT, and one argon2id verification with the login's
  parameters (:data:`identity.accounts.secrets.HASHER`);
- **a durable row**: an ``INSERT`` of an access-log-like row (actor, action,
  subject, JSON details; a primary key and one secondary index) and its
  ``COMMIT`` into a scratch database, by 16 concurrent clients (the
  benches' clients), each row committed alone (*not grouped*), and by 2
  writers (one per server worker) each committing the rows of its 8 clients
  in one multi-row ``INSERT`` and one ``COMMIT`` (*grouped*). Rows per second.

Each part is measured in :data:`bench.common.ROUNDS` rounds; the medians
are used. The write test also reads the CPU its rows cost: the PostgreSQL
backends' (``/proc/<backend pid>``, the commit's flush included) and the
client threads'. Then, per endpoint of :data:`RECIPES` (its requests,
signature operations and durable rows), two bounds; the lower one holds:

- the machine's time per operation, additive (each part takes the machine
  in turn)::

      requests / hello_rps + (signature CPU + rows × CPU per row) / cores

  and the best ratio is hello's time over it (for login, bare argon2id's
  time per verification on the same cores, as its figure is logins per
  argon2id verification);
- the commits: at most ``write_rows_per_s / rows`` operations a second,
  however little CPU the rest takes (the clients wait for their commit).

``make bench``'s summary puts the better of the two floors (grouped or not)
beside each figure, as the best ratio the endpoint could reach here; the
bench's own table gives both, with the parts and which bound holds.
"""
from __future__ import annotations

import datetime as dt
import os
import statistics
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jwt
import psycopg
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from bench.accounts import CONNECTIONS, PASSWORD, WARMUP_S
from bench.common import (ROUNDS, alternate, app_environment, new_keys, private_redis,
                          scratch_database, spread)
from bench.loadgen import ALLOWED_HOST, run_load
from bench.servers import SERVICE_SERVER, WORKERS, group_cpu_seconds, serving
from identity.accounts.secrets import HASHER

#: What each hot endpoint must do at least: HTTP requests (each a hello's server cost),
#: signature operations and durable rows (an INSERT + its share of a COMMIT).
RECIPES: dict[str, dict[str, int]] = {
    # The officer's ES256 token, the credential's VN1 (COSE ES256) signature, the access log.
    "online_verify": {"requests": 1, "jwt_verify": 1, "ecdsa_verify": 1, "rows": 1},
    # The party's token, the citizen's access log.
    "identity_match": {"requests": 1, "jwt_verify": 1, "rows": 1},
    # A new access token; the session's rotation. (The refresh tokens' HMAC tags, one read
    # and one made, are a few microseconds: identity.accounts.refresh_tokens.)
    "refresh": {"requests": 1, "jwt_sign": 1, "rows": 1},
    # The citizen's token; the credential's signature; its row (and access log).
    "issue": {"requests": 1, "jwt_verify": 1, "ecdsa_sign": 1, "rows": 1},
    # The citizen's token; the report (one transaction).
    "report_filing": {"requests": 1, "jwt_verify": 1, "rows": 1},
    # The citizen's token; the attempt; the gateway's callback (a request and a transaction).
    "payment_attempt": {"requests": 2, "jwt_verify": 1, "rows": 2},
    # Challenge + login: argon2id, the device's signature, the access token signed (the
    # refresh token is tagged: microseconds), the session.
    "login": {"requests": 2, "argon2": 1, "ecdsa_verify": 1, "jwt_sign": 1, "rows": 1},
    # A static answer: a hello-world's work.
    "provinces": {"requests": 1},
}
EVENTS_TABLE = """
CREATE TABLE floor_events (
    id bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT now(),
    actor text NOT NULL, action text NOT NULL, subject text NOT NULL, details jsonb NOT NULL)
"""
EVENTS_INDEX = "CREATE INDEX floor_events_subject ON floor_events (subject, id)"
DETAILS = '{"result": "valid", "credential_type": "identity_basic", "unit": "01"}'


def _per_call(call: Callable[[], Any], seconds: float) -> float:
    """Microseconds per call of ``call``, over about ``seconds``."""
    call()
    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        call()
        done += 1
    return (time.perf_counter() - started) / done * 1e6


def _signatures(seconds: float) -> dict[str, list[float]]:
    """µs per signature operation, each measured in every round, alternately."""
    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key()
    message = os.urandom(200)
    signature = key.sign(message, ec.ECDSA(hashes.SHA256()))
    now = dt.datetime.now(dt.timezone.utc)
    claims = {"sub": "12345", "iat": now, "nbf": now, "exp": now + dt.timedelta(minutes=15),
              "jti": "8d0f5c1e-8a0e-4a57-9f0b-2b3c9d1e7a10", "type": "access",
              "fresh": False, "tv": 3, "lvl": 2}
    token = jwt.encode(claims, key, algorithm="ES256", headers={"kid": "k1"})
    stored = HASHER.hash(PASSWORD)
    calls: dict[str, Callable[[], Any]] = {
        "ecdsa_verify": lambda: public.verify(signature, message, ec.ECDSA(hashes.SHA256())),
        "ecdsa_sign": lambda: key.sign(message, ec.ECDSA(hashes.SHA256())),
        "jwt_verify": lambda: jwt.decode(token, public, algorithms=["ES256"]),
        "jwt_sign": lambda: jwt.encode(claims, key, algorithm="ES256", headers={"kid": "k1"}),
        "argon2": lambda: HASHER.verify(stored, PASSWORD),
    }

    def timing(call: Callable[[], Any]) -> Callable[[], float]:
        return lambda: _per_call(call, seconds)

    return alternate(ROUNDS, {name: timing(call) for name, call in calls.items()})


def _process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` (a PostgreSQL backend), from ``/proc``."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _write_loop(url: str, batch: int, start: threading.Barrier, until: list[float],
                out: dict[str, float], index: int) -> None:
    rows = ", ".join(["(%s, %s, %s, %s::jsonb)"] * batch)
    statement = f"INSERT INTO floor_events (actor, action, subject, details) VALUES {rows}"
    with psycopg.connect(url) as conn:
        values = []
        for n in range(batch):
            values += [f"officer:{index}", "credential.verified", f"citizen:{index}-{n}", DETAILS]
        conn.execute(statement, values)
        conn.commit()
        backend = conn.info.backend_pid
        start.wait(timeout=30)
        server_cpu, client_cpu = _process_cpu_seconds(backend), time.thread_time()
        written = 0
        while time.perf_counter() < until[0]:
            conn.execute(statement, values)
            conn.commit()
            written += batch
        out["rows"] += written
        out["server_cpu_s"] += _process_cpu_seconds(backend) - server_cpu
        out["client_cpu_s"] += time.thread_time() - client_cpu


def _writes(url: str, *, writers: int, batch: int, seconds: float) -> dict[str, Any]:
    """Rows per second committed by ``writers`` connections, ``batch`` rows per commit, and
    the CPU per row of the database's backends and of the clients."""
    start = threading.Barrier(writers + 1)
    totals = {"rows": 0.0, "server_cpu_s": 0.0, "client_cpu_s": 0.0}
    lock = threading.Lock()
    until = [float("inf")]

    def writer(index: int) -> None:
        mine = dict.fromkeys(totals, 0.0)
        _write_loop(url, batch, start, until, mine, index)
        with lock:
            for name, value in mine.items():
                totals[name] += value

    threads = [threading.Thread(target=writer, args=(i,), daemon=True) for i in range(writers)]
    for thread in threads:
        thread.start()
    start.wait(timeout=30)
    began = time.perf_counter()
    until[0] = began + seconds
    for thread in threads:
        thread.join(timeout=seconds + 30)
    elapsed = time.perf_counter() - began
    rows = totals["rows"] or 1.0
    return {"writers": writers, "rows_per_commit": batch,
            "rows_per_s": round(totals["rows"] / elapsed, 1),
            "commits_per_s": round(totals["rows"] / batch / elapsed, 1),
            "cpu_us_per_row": round((totals["server_cpu_s"] + totals["client_cpu_s"])
                                    / rows * 1e6, 1)}


def _hello(port: int, pid: int, duration: float) -> dict[str, Any]:
    before = group_cpu_seconds(pid)
    load = run_load(f"http://{ALLOWED_HOST}:{port}/hello", connections=CONNECTIONS,
                    duration=duration, warmup=WARMUP_S)
    spent = group_cpu_seconds(pid) - before
    # The CPU counts the warm-up too: divide by every request the server answered then.
    answered = load["requests"] * (duration + WARMUP_S) / duration
    return {"rps": load["rps"], "server_cpu_us": round(spent / answered * 1e6, 1)
            if answered else None, "non_2xx": load["non_2xx"], "errors": load["errors"]}


def floors(*, hello_rps: float, signatures_us: dict[str, float], write_rows_per_s: float,
           write_cpu_us_per_row: float, cores: int = WORKERS) -> dict[str, dict[str, Any]]:
    """Each endpoint's floor (µs of machine time per operation) and its best ratio.

    Two bounds, the lower one holds: the machine's time (hello's share per
    request, plus the CPU of its signatures and of its rows spread over the
    cores) and the commits (rows per second that 16 clients can get
    committed, whatever the CPU does).
    """
    hello_us = 1e6 / hello_rps
    argon2_us = signatures_us["argon2"] / cores
    out = {}
    for name, recipe in RECIPES.items():
        rows = recipe.get("rows", 0)
        crypto_us = sum(count * signatures_us[op] for op, count in recipe.items()
                        if op in signatures_us) / cores
        rows_us = rows * write_cpu_us_per_row / cores
        cost = recipe.get("requests", 0) * hello_us + crypto_us + rows_us
        baseline_us = argon2_us if name == "login" else hello_us
        cpu_ratio = baseline_us / cost
        # At most write_rows_per_s / rows operations a second, against the baseline's rate.
        commit_ratio = write_rows_per_s / rows * baseline_us / 1e6 if rows else float("inf")
        out[name] = {"floor_us": round(cost, 1), "hello_us": round(hello_us, 1),
                     "signatures_us": round(crypto_us, 1), "rows_cpu_us": round(rows_us, 1),
                     "cpu_ratio": round(cpu_ratio, 3),
                     "commit_ratio": round(commit_ratio, 3) if rows else None,
                     "ratio": round(min(cpu_ratio, commit_ratio), 3),
                     "bound": "commits" if commit_ratio < cpu_ratio else "cpu"}
    return out


def run(*, quick: bool = False) -> dict[str, Any]:
    """Measure the parts; each endpoint's floor, grouped and not grouped."""
    seconds = 0.3 if quick else 1.0
    duration = 2.0 if quick else 5.0
    signatures = _signatures(seconds)
    with scratch_database("floor", migrated=False) as url:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(EVENTS_TABLE)
            conn.execute(EVENTS_INDEX)
        writes = alternate(ROUNDS, {
            "single": lambda: _writes(url, writers=CONNECTIONS, batch=1, seconds=duration),
            "grouped": lambda: _writes(url, writers=WORKERS, batch=CONNECTIONS // WORKERS,
                                       seconds=duration)})
        with private_redis() as redis_url:
            env = {**os.environ, **app_environment(url, new_keys(), redis_url=redis_url)}
            pids: list[int] = []
            with serving("hello", env, pids=pids) as port:
                hellos = [_hello(port, pids[0], duration) for _round in range(ROUNDS)]
    signatures_us = {name: statistics.median(values) for name, values in signatures.items()}
    hello_rps = statistics.median(h["rps"] for h in hellos)

    def floor_with(kind: str) -> dict[str, dict[str, Any]]:
        return floors(hello_rps=hello_rps, signatures_us=signatures_us,
                      write_rows_per_s=statistics.median(w["rows_per_s"] for w in writes[kind]),
                      write_cpu_us_per_row=statistics.median(
                          w["cpu_us_per_row"] for w in writes[kind]))

    best, alone = floor_with("grouped"), floor_with("single")
    # Short column names (the table is printed): _g grouped, _ng not grouped.
    rows = [{"endpoint": name, "hello_us": best[name]["hello_us"],
             "sig_us": best[name]["signatures_us"],
             "rows_us_g": best[name]["rows_cpu_us"], "rows_us_ng": alone[name]["rows_cpu_us"],
             "floor_us_g": best[name]["floor_us"], "floor_us_ng": alone[name]["floor_us"],
             "ratio_g": best[name]["ratio"], "bound_g": best[name]["bound"],
             "ratio_ng": alone[name]["ratio"], "bound_ng": alone[name]["bound"]}
            for name in RECIPES]
    return {
        "rows": rows,
        # The better of the two ways to commit: the best the endpoint could reach here.
        "floors": {name: max(best[name]["ratio"], alone[name]["ratio"]) for name in RECIPES},
        "floors_grouped": {name: figures["ratio"] for name, figures in best.items()},
        "floors_not_grouped": {name: figures["ratio"] for name, figures in alone.items()},
        "parts": {
            "hello": {"rps": spread([h["rps"] for h in hellos], 0),
                      "server_cpu_us_per_request": spread(
                          [h["server_cpu_us"] or 0.0 for h in hellos], 1)},
            "signatures_us": {name: spread(values, 1) for name, values in signatures.items()},
            "writes": {kind: {"rows_per_s": spread([w["rows_per_s"] for w in writes[key]], 0),
                              "cpu_us_per_row": spread([w["cpu_us_per_row"]
                                                        for w in writes[key]], 1)}
                       for kind, key in (("not_grouped", "single"), ("grouped", "grouped"))},
        },
        "settings": {"server": f"{SERVICE_SERVER}, {WORKERS} workers", "rounds": ROUNDS,
                     "clients": CONNECTIONS, "writers_grouped": WORKERS,
                     "rows_per_commit_grouped": CONNECTIONS // WORKERS,
                     "seconds_per_signature_side": seconds, "window_s": duration,
                     "recipes": RECIPES},
    }
