"""The Flask extensions, created unbound and initialised by the factory."""
from __future__ import annotations

import sys
from pathlib import Path

import fakeredis
import redis
from flask import Flask, Request, current_app
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy

from app.redis_cluster import redis_for
from config import MEMORY_REDIS_URL
from identity import models  # noqa: F401  (registers every table on Base.metadata)
from utilities import models as utility_models  # noqa: F401  (and the utilities' tables)
from identity.database import Base
from identity.protection import Protector


def migrations_directory() -> Path:
    """The Alembic scripts: the repository's ``migrations/``, else those a wheel installed.

    A wheel puts them under ``<prefix>/share/vnid/migrations`` (setup.cfg's
    data_files), so ``flask db upgrade`` works from any folder in both cases.
    """
    repository = Path(__file__).resolve().parent.parent / "migrations"
    if (repository / "alembic.ini").is_file():
        return repository
    return Path(sys.prefix) / "share" / "vnid" / "migrations"


db = SQLAlchemy(model_class=Base)
migrate = Migrate(directory=migrations_directory(), compare_type=True, render_as_batch=True)


class CookieSessions(SecureCookieSessionInterface):
    """Flask's signed cookie session, without building its signer for a request with no cookie.

    Only the operator dashboard keeps a session (:mod:`app.operator_auth`); every other
    request sends no session cookie and gets the new empty session Flask would give it.
    Reading a cookie and writing one (the dashboard's login) are Flask's own.
    """

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        # No Cookie header at all: no cookie to parse either.
        sent = request.environ.get("HTTP_COOKIE") and request.cookies.get(
            self.get_cookie_name(app))
        if app.secret_key and not sent:
            return self.session_class()
        return super().open_session(app, request)


def init_redis(app: Flask) -> None:
    """A real Redis client (:func:`redis_for`), or the in-process stand-in for ``memory://``
    (one process only)."""
    url = app.config["REDIS_URL"]
    app.extensions["redis"] = (fakeredis.FakeRedis(server=fakeredis.FakeServer())
                               if url == MEMORY_REDIS_URL else redis_for(url))


def get_redis() -> redis.Redis:
    """The application's Redis client."""
    return current_app.extensions["redis"]


def init_protector(app: Flask) -> None:
    """The personal-data protector, from the configured key material (fails fast if malformed)."""
    app.extensions["protector"] = Protector.from_settings(app.config["PERSONAL_DATA_KEYS"],
                                                          app.config["LOOKUP_HASH_KEY"])


def get_protector() -> Protector:
    """The application's personal-data protector."""
    return current_app.extensions["protector"]


def init_key_ring(app: Flask) -> None:
    """The process's VN1 key ring: the trust list and decrypted signing keys, cached."""
    from identity.credentials.keys import KeyRing
    app.extensions["key_ring"] = KeyRing(app.config["CREDENTIAL_ISSUER"])
