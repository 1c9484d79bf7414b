"""An application of its own for each fault test, with switches to break its backends.

:func:`faulty` builds the service on a database of its own (a SQLite file,
or a scratch PostgreSQL database when ``DATABASE_URL`` is set) whose requests
commit for real, and gives a :class:`Backends` to break it:

- Redis. On a real Redis (``REDIS_URL``) the app reaches it through a
  :class:`~tests.faults.proxy.TcpProxy`, which the test cuts; the app's own
  database number is the only one ever flushed. On the in-process stand-in,
  the fakeredis server is switched off (``connected = False``: every command
  raises ``redis.ConnectionError``) and so are the rate-limit counters (the
  in-memory store of flask-limiter, wrapped to raise the same error).
- The database. On PostgreSQL the app reaches it through a proxy too, and a
  "kill" resets the connection under the transaction; on SQLite the session's
  DBAPI connection is closed under it (SQLAlchemy sees a disconnect either way).

Shared servers are never stopped, restarted or flushed.
"""
from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import sqlalchemy as sa
from flask import Flask
from flask_migrate import upgrade
from sqlalchemy.orm import Session

from app import create_app
from app.extensions import db
from config import load_config
from identity.audit.service import verify_chain
from tests.faults.proxy import TcpProxy
from tests.redis_kinds import ONE_SERVER

DATABASE_URL = os.environ.get("DATABASE_URL") or ""
#: One Redis server, whose link a TCP proxy cuts. On a Redis Cluster (CI's PostgreSQL pass) the
#: service's Redis here is the in-process stand-in, switched off and on in the process; the
#: Redis-server pass (``make test-redis-server``) runs these tests on one real server.
REDIS_URL = (os.environ.get("REDIS_URL") or "") if ONE_SERVER else ""
ON_POSTGRES = DATABASE_URL.startswith("postgres")


class _SwitchableLimiter:
    """flask-limiter's strategy object, raising ``redis.ConnectionError`` while switched off."""

    def __init__(self, inner: Any, is_down: Callable[[], bool]) -> None:
        self._inner, self._is_down = inner, is_down

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._inner, name)
        if not callable(attribute):
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            if self._is_down():
                raise redis.ConnectionError("the rate-limit store is unreachable (fault test)")
            return attribute(*args, **kwargs)
        return call


class Backends:
    """The app under test and the switches of its Redis and database."""

    def __init__(self, app: Flask, redis_proxy: TcpProxy | None,
                 db_proxy: TcpProxy | None) -> None:
        self.app = app
        self.redis_proxy = redis_proxy
        self.db_proxy = db_proxy
        self._fake_down = False
        if redis_proxy is None:  # the in-process stand-in: switch its store and the limiter's
            storage, strategy = app.extensions["ratelimit_backend"]
            app.extensions["ratelimit_backend"] = (
                storage, _SwitchableLimiter(strategy, lambda: self._fake_down))

    @property
    def redis(self) -> redis.Redis:
        """The app's own Redis client (its own database number only)."""
        return self.app.extensions["redis"]

    # --- Redis --------------------------------------------------------------------------------

    def redis_down(self) -> None:
        """Redis unreachable: open connections reset, new ones refused."""
        if self.redis_proxy is not None:
            self.redis_proxy.refuse()
        else:
            self._fake_down = True
            self.redis.connection_pool.connection_kwargs["server"].connected = False

    def redis_up(self) -> None:
        """Redis reachable again (with what it held: nothing was lost)."""
        if self.redis_proxy is not None:
            self.redis_proxy.resume()
        else:
            self._fake_down = False
            self.redis.connection_pool.connection_kwargs["server"].connected = True

    def redis_flushed(self) -> None:
        """Redis lost everything (a restart without persistence): the app's own db only."""
        self.redis.flushdb()
        if self.redis_proxy is None:
            from app.auth import limiter
            with self.app.app_context():
                limiter.reset()  # the in-process counters live beside the stand-in

    # --- the database -------------------------------------------------------------------------

    def kill_db(self, session: Session) -> None:
        """Kill ``session``'s database connection under its open transaction."""
        if self.db_proxy is not None:
            self.db_proxy.cut()
        else:
            raw = session.connection().connection.dbapi_connection
            assert raw is not None
            raw.close()

    def db_down(self) -> None:
        """The database unreachable (PostgreSQL only: through the proxy)."""
        assert self.db_proxy is not None, "db_down needs PostgreSQL"
        self.db_proxy.refuse()

    def db_up(self) -> None:
        """The database reachable again."""
        assert self.db_proxy is not None
        self.db_proxy.resume()

    # --- checks -------------------------------------------------------------------------------

    def count(self, statement: Any) -> int:
        """``SELECT count(*)`` of a select, read in a fresh session."""
        with self.app.app_context():
            return int(db.session.scalar(sa.select(sa.func.count()).select_from(
                statement.subquery())) or 0)

    def audit_chain_events(self) -> int:
        """Verify every audit chain (as ``flask audit verify``); the number of events."""
        with self.app.app_context():
            return verify_chain(db_session=db.session()).events


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every fault test is one of the Redis-server pass's (tests/redis_kinds.py)."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.redis_server)


def _upstream(url: str, default_port: int) -> tuple[str, int]:
    parsed = sa.engine.make_url(url) if "://" in url else None
    assert parsed is not None
    return parsed.host or "127.0.0.1", parsed.port or default_port


@pytest.fixture()
def faulty(tmp_path: Path) -> Iterator[Backends]:
    """The service on a database of its own, behind switchable Redis and database links."""
    env: dict[str, str] = {k: v for k, v in os.environ.items()
                           if k not in ("DATABASE_URL", "REDIS_URL", "JOB_REDIS_URL")}
    redis_proxy = db_proxy = None
    scratch = admin = None
    if REDIS_URL:
        redis_proxy = TcpProxy(*_upstream(REDIS_URL, 6379))
        number = redis.connection.parse_url(REDIS_URL).get("db", 0)
        env["REDIS_URL"] = f"redis://127.0.0.1:{redis_proxy.port}/{number}"
    if ON_POSTGRES:
        server = sa.engine.make_url(DATABASE_URL).set(drivername="postgresql+psycopg")
        scratch = f"vnid_faults_{uuid.uuid4().hex[:12]}"
        admin = sa.create_engine(server.set(database="postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(sa.text(f'CREATE DATABASE "{scratch}"'))
        db_proxy = TcpProxy(server.host or "127.0.0.1", server.port or 5432)
        env["DATABASE_URL"] = server.set(host="127.0.0.1", port=db_proxy.port,
                                         database=scratch).render_as_string(hide_password=False)
    else:
        env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'faults.sqlite3'}"
    env["EVIDENCE_DIR"] = str(tmp_path / "evidence")
    app = create_app(load_config("testing", env))
    with app.app_context():
        upgrade()
    backends = Backends(app, redis_proxy, db_proxy)
    backends.redis.flushdb()
    try:
        yield backends
    finally:
        backends.redis_up()
        if db_proxy is not None:
            db_proxy.resume()
        backends.redis.flushdb()
        backends.redis.close()
        with app.app_context():
            db.engine.dispose()
        for proxy in (redis_proxy, db_proxy):
            if proxy is not None:
                proxy.close()
        if admin is not None:
            with admin.connect() as connection:
                connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)'))
            admin.dispose()
