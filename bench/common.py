"""Helpers shared by the benches: scratch databases, a private Redis, rounds, results.

A bench writes only to stores it made itself:

- a scratch database is named ``vnid_bench_<pid>_<purpose>_<random>`` on the
  server of ``$BENCH_PG_URL`` (default
  ``postgresql://postgres@127.0.0.1:5432/postgres``), created empty and
  dropped when its ``with`` block ends, even on failure;
- Redis is a ``redis-server`` of the bench's own (:func:`private_redis`) on a
  free port of 127.0.0.1, with no persistence (``--save "" --appendonly no``),
  killed when its ``with`` block ends; no bench touches a shared Redis.

Every ratio is taken round by round, its baseline and its load measured
alternately in the same round (:func:`alternate`), and reported as the
min/median/max over the rounds (:func:`spread`, :func:`table_entry`).
"""
from __future__ import annotations

import datetime as dt
import json
import math
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import psycopg
from psycopg import sql

from config import generate_keys

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = ROOT / ".venv" / "bin"
RESULTS_PATH = Path(__file__).resolve().parent / "results" / "latest.json"
DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
#: Rounds of every ratio, ``--quick`` or not: the median of three is the figure.
ROUNDS = 3
REDIS_READY_TIMEOUT = 10.0
#: The production configuration refuses the development outbox: the benches plug in this one.
BENCH_SMS_BACKEND = "bench.common:KeptSmsGateway"
_PURPOSE = re.compile(r"^[a-z0-9_]{1,30}$")


def server_url() -> str:
    """The maintenance database URL of the PostgreSQL server the benches use."""
    return os.environ.get("BENCH_PG_URL", DEFAULT_PG_URL)


def database_url(name: str) -> str:
    """The URL of database ``name`` on the benches' PostgreSQL server."""
    info = psycopg.conninfo.conninfo_to_dict(server_url())
    info["dbname"] = name
    user = quote(str(info.get("user", "postgres")), safe="")
    password = f":{quote(str(info['password']), safe='')}" if info.get("password") else ""
    host = info.get("host", "127.0.0.1")
    port = info.get("port", 5432)
    return f"postgresql://{user}{password}@{host}:{port}/{name}"


def _admin_execute(statement: sql.Composed) -> None:
    with psycopg.connect(server_url(), autocommit=True, connect_timeout=5) as conn:
        conn.execute(statement)


def create_database(purpose: str) -> str:
    """Create an empty scratch database ``vnid_bench_<pid>_<purpose>``; returns its URL."""
    if not _PURPOSE.match(purpose):
        raise ValueError("purpose must be 1-30 lowercase letters, digits or underscores")
    name = f"vnid_bench_{os.getpid()}_{purpose}_{secrets.token_hex(3)}"
    _admin_execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return database_url(name)


def drop_database(url: str) -> None:
    """Drop a scratch database made by :func:`create_database`, closing its connections."""
    name = str(psycopg.conninfo.conninfo_to_dict(url)["dbname"])
    if not name.startswith("vnid_bench_"):
        raise ValueError(f"refusing to drop {name!r}: not a bench scratch database")
    _admin_execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@contextmanager
def scratch_database(purpose: str, *, migrated: bool = True) -> Iterator[str]:
    """A scratch database (migrated to head unless ``migrated=False``), dropped on exit."""
    url = create_database(purpose)
    try:
        if migrated:
            migrate(url)
        yield url
    finally:
        drop_database(url)


class KeptSmsGateway:
    """An SMS gateway that keeps the latest messages in memory and sends nothing.

    ``SMS_BACKEND`` of the benches' production-configured app (which takes the
    configuration as argument); the accounts bench also reads its codes back
    from :attr:`messages` when it registers citizens in-process.
    """

    def __init__(self, config: Any = None) -> None:
        self.messages: deque[tuple[str, str]] = deque(maxlen=1000)

    def send(self, *, db_session: Any, phone: str, text: str) -> None:
        """Keep ``(phone, text)``; the caller's transaction is not touched."""
        self.messages.append((phone, text))


def new_keys() -> dict[str, str]:
    """Fresh key material in the formats of ``config.py``."""
    return generate_keys()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _redis_answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@contextmanager
def private_redis() -> Iterator[str]:
    """A ``redis-server`` of this bench alone on a free port; yields its URL, kills it on exit.

    No persistence (``--save "" --appendonly no``), its working directory a
    temporary one: nothing outlives the ``with`` block.
    """
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("the benches need redis-server on PATH (a private one is started)")
    port = _free_port()
    with tempfile.TemporaryDirectory(prefix="vnid-bench-redis-") as tmp:
        process = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", tmp, "--daemonize", "no", "--loglevel", "warning"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            deadline = time.monotonic() + REDIS_READY_TIMEOUT
            while not _redis_answers(port):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the private redis-server on port {port} did not start")
                time.sleep(0.02)
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    process.kill()
            process.wait(timeout=5)


def app_environment(db_url: str, keys: dict[str, str] | None = None, *,
                    redis_url: str) -> dict[str, str]:
    """The production settings of the app on ``db_url`` and ``redis_url`` (a private Redis).

    Merge into ``os.environ`` to run the app.
    """
    return {
        "VNID_CONFIG": "production",
        "DATABASE_URL": db_url,
        "REDIS_URL": redis_url,
        "SMS_BACKEND": BENCH_SMS_BACKEND,
        "LOG_LEVEL": "WARNING",
        "METRICS_ALLOWED_NETWORKS": "127.0.0.1/32",
        # Production requires the token endpoint's public https URL (the audience of client
        # assertions); the benches authenticate parties by secret, so any https URL serves.
        "OAUTH_TOKEN_URL": "https://vnid.bench.invalid/api/v1/oauth/token",
        **(keys or new_keys()),
    }


def migrate(db_url: str) -> None:
    """Run the Alembic migrations to head on ``db_url`` through the application factory."""
    # Imported here: the load generator uses this module too and must start fast.
    import flask_migrate
    from sqlalchemy.pool import NullPool

    from app import create_app
    from app.extensions import db
    from config import load_config

    with private_redis() as redis_url:
        settings = load_config("production", app_environment(db_url, redis_url=redis_url))
        # No pool: the scratch database can then be dropped without waiting for idle
        # connections.
        settings["SQLALCHEMY_ENGINE_OPTIONS"] = {"poolclass": NullPool}
        app = create_app(settings)
        with app.app_context():
            flask_migrate.upgrade(directory=str(ROOT / "migrations"))
            db.engine.dispose()


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) of ``values``, interpolated linearly; NaN if empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


T = TypeVar("T")


def alternate(rounds: int, sides: dict[str, Callable[[], T]]) -> dict[str, list[T]]:
    """Measure every side once per round, in an order that turns each round; their results.

    Round 0 runs the sides in the given order, round 1 starts with the second,
    and so on, so that a drift of the machine (another process, the CPU's
    clock, a checkpoint) weighs on baseline and load alike. Use it for every
    ratio: ``ratios(out["load"], out["baseline"])``.
    """
    names = list(sides)
    out: dict[str, list[T]] = {name: [] for name in names}
    for number in range(rounds):
        turn = number % len(names)
        for name in names[turn:] + names[:turn]:
            out[name].append(sides[name]())
    return out


def ratios(loads: Sequence[dict[str, Any]], bases: Sequence[dict[str, Any]],
           rate: str = "ops_per_s", base_rate: str | None = None) -> list[float]:
    """The per-round ratios ``load[rate] / base[base_rate]`` (0 where the baseline is 0)."""
    key = base_rate or rate
    return [load[rate] / base[key] if base[key] else 0.0 for load, base in zip(loads, bases)]


def spread(values: Sequence[float], digits: int = 3) -> dict[str, float]:
    """``{"min", "median", "max"}`` of ``values`` (NaN when there are none)."""
    if not values:
        return {"min": math.nan, "median": math.nan, "max": math.nan}
    return {"min": round(min(values), digits), "median": round(statistics.median(values), digits),
            "max": round(max(values), digits)}


def table_entry(per_round: Sequence[float], goal: float, *, at_most: bool = False,
                valid: bool = True, floor: float | None = None,
                note: str = "") -> dict[str, Any]:
    """One row of ``make bench``'s summary table: the rounds' ratios against the goal.

    A bench returns these under ``"table"``, keyed by the row's name in
    :data:`bench.run.TABLE`. The goal is met when every answer was valid and
    the median passes it (``at_most``: the median is at most the goal).
    ``floor`` is the best ratio the row could reach here, when the bench
    measures it itself (else the floor bench gives it).
    """
    figures = spread(per_round)
    median = figures["median"]
    met = valid and (median <= goal if at_most else median >= goal)
    entry: dict[str, Any] = {**figures, "per_round": [round(r, 3) for r in per_round],
                             "rounds": len(per_round), "goal": goal, "at_most": at_most,
                             "valid": valid, "meets_goal": met}
    if floor is not None:
        entry["floor"] = round(floor, 3)
    if note:
        entry["note"] = note
    return entry


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    return {"cpus": os.cpu_count(), "python": platform.python_version(),
            "platform": platform.platform()}


def reset_results(path: Path = RESULTS_PATH) -> None:
    """Start a new results file (an empty JSON list)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("[]\n")


def record_result(name: str, result: dict[str, Any], *, path: Path = RESULTS_PATH) -> None:
    """Append ``{"bench", "at", "machine", "result"}`` to the JSON list in ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    records = json.loads(path.read_text()) if path.exists() else []
    records.append({"bench": name, "at": dt.datetime.now(dt.timezone.utc).isoformat(),
                    "machine": machine(), "result": result})
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(records, indent=2, ensure_ascii=False, default=str) + "\n")
    tmp.replace(path)
