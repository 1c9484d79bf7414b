"""Helpers shared by the benches: scratch databases, the app's environment, results.

A scratch database is named ``vnid_bench_<pid>_<purpose>`` on the server of
``$BENCH_PG_URL`` (default ``postgresql://postgres@127.0.0.1:5432/postgres``)
and dropped when its ``with`` block ends, even on failure.
"""
from __future__ import annotations

import datetime as dt
import json
import math
import os
import platform
import re
from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
from psycopg import sql

from config import generate_keys

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = ROOT / ".venv" / "bin"
RESULTS_PATH = Path(__file__).resolve().parent / "results" / "latest.json"
DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
BENCH_REDIS_URL = "redis://127.0.0.1:6379/15"
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
    name = f"vnid_bench_{os.getpid()}_{purpose}"
    _admin_execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
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


def app_environment(db_url: str, keys: dict[str, str] | None = None) -> dict[str, str]:
    """The production settings of the app on ``db_url`` (merge into ``os.environ`` to run it)."""
    return {
        "VNID_CONFIG": "production",
        "DATABASE_URL": db_url,
        "REDIS_URL": BENCH_REDIS_URL,
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

    settings = load_config("production", app_environment(db_url))
    # No pool: the scratch database can then be dropped without waiting for idle connections.
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
