"""Fixtures shared by the whole suite.

- ``app``: built once from the testing configuration; its database (a
  temporary SQLite file, or ``DATABASE_URL`` when set) is migrated to head by
  Alembic once per run, never by ``create_all``.
- ``db_session``: each test runs inside a transaction that is rolled back at
  the end; the code under test may commit, which only releases a SAVEPOINT
  (the Warehouse pattern). Requests made with ``client`` share it.
- ``redis``: the app's Redis (in-process stand-in, or ``REDIS_URL``), emptied
  before each test.
- ``issuer_key``: an active VN1 issuer key, for tests that issue credentials.
- ``tuesday``: the clock at Tuesday 2026-12-01, 10:00 in Hanoi, ticking (tokens and
  TOTP need it); a module whose every test starts then says
  ``pytestmark = pytest.mark.usefixtures("tuesday")``.

Rows come from ``tests/factories.py``, HTTP flows from ``tests/flows.py``.
"""
from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import time_machine
from flask import Flask
from flask.testing import FlaskClient
from flask_migrate import upgrade
from flask_sqlalchemy.session import _app_ctx_id
from sqlalchemy.orm import Session, scoped_session, sessionmaker

from app import create_app
from app.auth import limiter
from app.extensions import db, get_protector
from config import load_config
from identity.credentials.models import IssuerKey
from identity.protection import Protector
from tests.factories import add_issuer_key
from tests.utilities.residence.helpers import TUESDAY

pytest_plugins = ["tests.logcheck"]


@pytest.fixture(scope="session")
def app() -> Iterator[Flask]:
    """The application under test, with its database migrated to head."""
    application = create_app("testing")
    with application.app_context():
        if db.engine.dialect.name == "postgresql":
            with db.engine.begin() as connection:
                connection.execute(sa.text("DROP SCHEMA public CASCADE"))
                connection.execute(sa.text("CREATE SCHEMA public"))
        upgrade()
    yield application
    with application.app_context():
        db.engine.dispose()


@pytest.fixture()
def db_connection(app: Flask) -> Iterator[sa.Connection]:
    """A connection inside an outer transaction that is rolled back after the test."""
    with app.app_context():
        connection = db.engine.connect()
        transaction = connection.begin()
        yield connection
        transaction.rollback()
        connection.close()


@pytest.fixture()
def session_factory(db_connection: sa.Connection) -> sessionmaker[Session]:
    """Sessions joined to the test's transaction: their commits release savepoints."""
    return sessionmaker(bind=db_connection, join_transaction_mode="create_savepoint",
                        expire_on_commit=False)


@pytest.fixture()
def db_session(app: Flask, db_connection: sa.Connection) -> Iterator[Session]:
    """The app's ``db.session``, bound to the test's rolled-back transaction."""
    original = db.session
    # A plain SQLAlchemy session: Flask-SQLAlchemy's own picks the engine and ignores `bind`.
    scoped = scoped_session(sessionmaker(bind=db_connection,
                                         join_transaction_mode="create_savepoint"),
                            scopefunc=_app_ctx_id)
    db.session = scoped
    try:
        with app.app_context():
            yield scoped()
    finally:
        scoped.remove()
        db.session = original


@pytest.fixture()
def redis(app: Flask) -> Any:
    """The app's Redis, emptied before the test."""
    client = app.extensions["redis"]
    client.flushdb()
    with app.app_context():
        limiter.reset()  # the in-memory counters when REDIS_URL is not set
    return client


@pytest.fixture()
def client(app: Flask, db_session: Session, redis: Any) -> FlaskClient:
    """An HTTP client whose requests use the test's database transaction."""
    return app.test_client()


@pytest.fixture()
def protector(app: Flask) -> Protector:
    """The personal-data protector of the testing configuration."""
    with app.app_context():
        return get_protector()


@pytest.fixture()
def migrated_app(tmp_path: Path) -> Iterator[Callable[..., Flask]]:
    """Makes apps of the testing configuration (``settings`` override it), each on a SQLite
    file of its own migrated to head, disposed of after the test: for the operator commands,
    which commit for real."""
    made: list[Flask] = []

    def make(**settings: str) -> Flask:
        database = f"sqlite:///{tmp_path / f'cli-{len(made)}.db'}"
        made.append(create_app(load_config("testing", {"DATABASE_URL": database, **settings})))
        with made[-1].app_context():
            upgrade()
        return made[-1]

    yield make
    for application in made:
        with application.app_context():
            db.engine.dispose()


@pytest.fixture()
def cli_app(migrated_app: Callable[..., Flask]) -> Flask:
    """An app on a SQLite file of its own, migrated to head (:func:`migrated_app`)."""
    return migrated_app()


@pytest.fixture()
def tuesday() -> Iterator[Any]:
    """Tuesday 2026-12-01, 10:00 in Hanoi; the clock ticks. ``tuesday.move_to`` moves it."""
    with time_machine.travel(TUESDAY, tick=True) as traveller:
        yield traveller


@pytest.fixture()
def issuer_key(db_session: Session, protector: Protector) -> IssuerKey:
    """An active VN1 issuer key (credentials are signed with it)."""
    return add_issuer_key(db_session, protector)


#: The PostgreSQL database migrated to head once per run that migrated scratch databases copy.
_TEMPLATE: list[str] = []


def _server() -> sa.URL:
    return sa.engine.make_url(os.environ["DATABASE_URL"]).set(drivername="postgresql+psycopg")


def _migrated_template(admin: sa.Engine) -> str:
    """The name of a database migrated to head, made at the first call of the run: copying it
    (``CREATE DATABASE ... TEMPLATE``) takes a second, where running every migration on each
    scratch database took several (the registry's 63 partitions among them)."""
    if not _TEMPLATE:
        name = f"vnid_tpl_{uuid.uuid4().hex[:12]}"
        with admin.connect() as connection:
            connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
        _TEMPLATE.append(name)
        made = create_app(load_config("testing", {
            "DATABASE_URL": _server().set(database=name).render_as_string(hide_password=False)}))
        with made.app_context():
            upgrade()
            db.engine.dispose()  # a template is copied only while nobody is connected to it
    return _TEMPLATE[0]


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Drop the run's template database."""
    if _TEMPLATE:
        admin = sa.create_engine(_server().set(database="postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{_TEMPLATE.pop()}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def scratch_database(tmp_path: Path, *, postgres: bool, migrated: bool = False) -> Iterator[str]:
    """The URL of a new database, empty or (``migrated``, PostgreSQL) a copy of the run's
    database migrated to head, dropped afterwards.

    SQLite: a file under ``tmp_path``. PostgreSQL: a scratch database on the
    server of ``DATABASE_URL``, so what a test commits there (audit rows,
    summary counters) never reaches the suite's database.
    """
    if not postgres:
        yield f"sqlite:///{tmp_path / 'own.db'}"
        return
    server = _server()
    scratch = f"vnid_own_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(server.set(database="postgres"), isolation_level="AUTOCOMMIT")
    template = f' TEMPLATE "{_migrated_template(admin)}"' if migrated else ""
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{scratch}"{template}'))
    try:
        yield server.set(database=scratch).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture()
def own_database_app(tmp_path: Path) -> Iterator[Flask]:
    """An app on a database of its own, migrated to head, whose requests commit for real.

    For tests of real concurrency, which the shared rolled-back transaction
    cannot give: a SQLite file of its own, or with ``DATABASE_URL`` a scratch
    PostgreSQL database on the same server (:func:`scratch_database`).
    """
    postgres = (os.environ.get("DATABASE_URL") or "").startswith("postgres")
    with scratch_database(tmp_path, postgres=postgres, migrated=True) as own_url:
        own = create_app(load_config("testing", {"DATABASE_URL": own_url}))
        try:
            with own.app_context():
                upgrade()  # SQLite's file; a no-op on a copy of PostgreSQL's migrated template
            yield own
        finally:
            with own.app_context():
                db.engine.dispose()


def pytest_report_header() -> list[str]:
    """Say which backends this run uses."""
    return [f"database: {'DATABASE_URL' if os.environ.get('DATABASE_URL') else 'SQLite'}, "
            f"redis: {'REDIS_URL' if os.environ.get('REDIS_URL') else 'in-process stand-in'}"]
