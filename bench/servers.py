"""Which production WSGI server: granian or gunicorn, on the real app and on a hello-world.

Each server runs with two worker processes (the machine's two cores) on a
127.0.0.1 port of its own, is started as a subprocess, polled until it
answers, loaded by :mod:`bench.loadgen` (a process of its own) and stopped
(SIGTERM, then SIGKILL) whatever happens. The real app is ``wsgi:app`` under
the production configuration on a migrated scratch database and a private
Redis (:func:`bench.common.private_redis`).

Endpoints: ``GET /healthz`` (one PostgreSQL query and one Redis PING),
``GET /api/v1/admin-units/provinces`` (in-memory data, JSON serialisation)
and the hello-world's ``GET /hello``, the ceiling of each server: the rate
at which it serves a Flask app that does nothing. The load generator shares
the two cores with the server, so every figure is a lower bound of the
server's own capacity, the same for all servers.

Each round starts every server afresh and loads each in turn; every ratio
(granian over each gunicorn) is taken per round and given as min/median/max.
"""
from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

from bench.common import (ROOT, ROUNDS, VENV_BIN, app_environment, private_redis,
                          scratch_database, spread)
from bench.loadgen import ALLOWED_HOST, run_load

WORKERS = 2
#: The server ``make serve`` runs, chosen by this bench; other benches measure the service on it.
SERVICE_SERVER = "granian"
#: Command line of each server, given the WSGI app and the port.
SERVERS: dict[str, list[str]] = {
    "granian": [str(VENV_BIN / "granian"), "--interface", "wsgi", "--workers", str(WORKERS),
                "--backlog", "2048", "--host", ALLOWED_HOST, "--port", "{port}", "{app}"],
    "gunicorn-sync": [str(VENV_BIN / "gunicorn"), "-w", str(WORKERS), "--backlog", "2048",
                      "-b", f"{ALLOWED_HOST}:{{port}}", "{app}"],
    "gunicorn-gthread": [str(VENV_BIN / "gunicorn"), "-k", "gthread", "--threads", "4",
                         "-w", str(WORKERS), "--backlog", "2048",
                         "-b", f"{ALLOWED_HOST}:{{port}}", "{app}"],
}
#: The WSGI apps measured, the path polled for readiness, and the endpoints loaded.
APPS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "vnid": ("wsgi:app", "/healthz", ("/healthz", "/api/v1/admin-units/provinces")),
    "hello": ("bench.hello:app", "/hello", ("/hello",)),
}
READY_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind((ALLOWED_HOST, 0))
        return int(sock.getsockname()[1])


def _answers(port: int, path: str) -> bool:
    connection = http.client.HTTPConnection(ALLOWED_HOST, port, timeout=2)
    try:
        connection.request("GET", path)
        return connection.getresponse().status == 200
    except OSError:
        return False
    finally:
        connection.close()


def _tail(log: Path, chars: int = 2000) -> str:
    return log.read_text(errors="replace")[-chars:] if log.exists() else ""


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the server, then SIGKILL its process group if it lingers."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            pass
    try:  # the group is the server's own session: its workers, nothing else
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait(timeout=STOP_TIMEOUT)


def group_cpu_seconds(pgid: int) -> float:
    """CPU seconds (user + system) used so far by the living processes of group ``pgid``.

    A server started by :func:`running_server` is its own process group: its
    master and workers. Read from ``/proc`` (Linux); 0.0 where there is none.
    """
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # a process that ended meanwhile
        # After the command's ")": state, ppid, pgrp, ... utime (12th), stime (13th).
        if int(fields[2]) == pgid:
            total += int(fields[11]) + int(fields[12])
    return total / ticks


@contextmanager
def running_server(server: str, app: str, ready_path: str, env: dict[str, str], *,
                   pids: list[int] | None = None) -> Iterator[int]:
    """Start ``server`` serving ``app``; yields its port once ``ready_path`` answers 200.

    ``pids``, if given, receives the server's process id (also its process
    group's: see :func:`group_cpu_seconds`).
    """
    port = free_port()
    command = [part.format(port=port, app=app) for part in SERVERS[server]]
    with tempfile.TemporaryDirectory(prefix="vnid-bench-") as tmp:
        log = Path(tmp) / "server.log"
        with log.open("wb") as out:
            process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out,
                                       stderr=subprocess.STDOUT, start_new_session=True)
        if pids is not None:
            pids.append(process.pid)
        try:
            deadline = time.monotonic() + READY_TIMEOUT
            while not _answers(port, ready_path):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{server} serving {app} did not become ready:\n"
                                       f"{_tail(log)}")
                time.sleep(0.1)
            yield port
        finally:
            _stop(process)


def serving(app_name: str, env: dict[str, str], *,
            pids: list[int] | None = None) -> AbstractContextManager[int]:
    """``running_server`` of :data:`SERVICE_SERVER` on one of :data:`APPS`; yields its port."""
    app, ready_path, _paths = APPS[app_name]
    return running_server(SERVICE_SERVER, app, ready_path, env, pids=pids)


def summarise(loads: list[dict[str, Any]], rate: str = "rps") -> dict[str, Any]:
    """The round of median ``rate``, with the spread over all rounds and their error counts.

    ``statuses`` adds up the answers of every round by HTTP status, so that a
    result with ``non_2xx`` says which answers they were.
    """
    median = sorted(loads, key=lambda load: load[rate])[len(loads) // 2]
    statuses: Counter[str] = Counter()
    for load in loads:
        statuses.update(load.get("statuses", {}))
    return {**{k: median[k] for k in (rate, "p50_ms", "p99_ms")},
            f"{rate}_min": min(load[rate] for load in loads),
            f"{rate}_max": max(load[rate] for load in loads),
            **{k: sum(load[k] for load in loads) for k in ("non_2xx", "errors", "connects")},
            "statuses": dict(sorted(statuses.items()))}


def _summary(server: str, app: str, path: str, loads: list[dict[str, Any]]) -> dict[str, Any]:
    return {"server": server, "app": app, "endpoint": path, **summarise(loads)}


def run(*, quick: bool = False, connections: int = 16) -> dict[str, Any]:
    """Measure every server on every endpoint; returns rows, ratios and each server's ceiling.

    Each figure is the median of :data:`bench.common.ROUNDS` rounds; a round
    starts every server afresh (in an order that turns from round to round),
    so a slow spell of the machine touches every server a little instead of
    one a lot. The ratios are taken per round.
    """
    duration = 2.0 if quick else 5.0
    rounds = ROUNDS
    loads: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    pairs = [(server, app_name) for server in SERVERS for app_name in APPS]
    with scratch_database("servers") as db_url, private_redis() as redis_url:
        env = {**os.environ, **app_environment(db_url, redis_url=redis_url)}
        for number in range(rounds):
            turn = number % len(pairs)
            for server, app_name in pairs[turn:] + pairs[:turn]:
                app, ready_path, paths = APPS[app_name]
                with running_server(server, app, ready_path, env) as port:
                    for path in paths:
                        loads.setdefault((server, app_name, path), []).append(run_load(
                            f"http://{ALLOWED_HOST}:{port}{path}", connections=connections,
                            duration=duration, warmup=1.0))
    rows = [_summary(*key, measured) for key, measured in loads.items()]
    per_path = {(server, path): measured for (server, _app, path), measured in loads.items()}
    ratios = [{"endpoint": path,
               **{f"granian/{other}": spread([a["rps"] / b["rps"] if b["rps"] else 0.0
                                              for a, b in zip(per_path[("granian", path)],
                                                              per_path[(other, path)])], 2)
                  for other in SERVERS if other != "granian"}}
              for _app, _ready, paths in APPS.values() for path in paths]
    rps = {(r["server"], r["endpoint"]): r["rps"] for r in rows}
    ceiling = {server: rps[(server, "/hello")] for server in SERVERS}
    return {"rows": rows, "ratios": ratios, "ceiling_rps": ceiling,
            "settings": {"workers": WORKERS, "connections": connections, "rounds": rounds,
                         "duration_s": duration, "warmup_s": 1.0}}
