"""The Flask shell of the service: factory, configuration, extensions, API, CLI."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask

from config import load_config


def create_app(config: str | Mapping[str, Any] | None = None) -> Flask:
    """Build the application from a configuration name or mapping (default: ``$VNID_CONFIG``).

    Fails fast with :class:`config.ConfigError` when the configuration may not start.
    """
    settings = load_config(config) if config is None or isinstance(config, str) else dict(config)
    app = Flask(__name__, instance_relative_config=True)
    app.config.from_mapping(settings)
    register_logging(app)
    register_extensions(app)
    register_error_handlers(app)
    register_context(app)
    register_security_headers(app)
    init_auth(app)
    register_health(app)
    register_metrics(app)
    register_payment_providers(app)
    register_api(app)
    register_query_check(app)
    register_dashboard(app)
    register_clients(app)
    register_cli(app)
    register_static_answers(app)
    register_hot_lane(app, HOT_ROUTES)
    register_load_shedding(app)
    return app


def register_extensions(app: Flask) -> None:
    """Database and its read replicas, migrations, Redis, the personal-data protector and the
    cookie sessions."""
    app.session_interface = CookieSessions()
    db.init_app(app)
    migrate.init_app(app, db)
    with app.app_context():
        configure_engine(db.engine)
    init_replicas(app)
    init_redis(app)
    init_protector(app)
    init_key_ring(app)
    init_jobs(app)


# Imported after create_app's definition reads well; no import cycles either way.
from app import parsing as _parsing  # noqa: E402,F401  (before any route: strict parsing)
from app.parsing import register_query_check  # noqa: E402
from app.api import HOT_ROUTES, register_api  # noqa: E402
from app.auth import init_auth  # noqa: E402
from app.cli import register_cli  # noqa: E402
from app.clients import register_clients  # noqa: E402
from app.context import register_context  # noqa: E402
from app.dashboard import register_dashboard  # noqa: E402
from app.errors import register_error_handlers  # noqa: E402
from app.extensions import (CookieSessions, db, init_key_ring, init_protector,  # noqa: E402
                            init_redis, migrate)
from app.jobs import init_jobs  # noqa: E402
from app.health import register_health  # noqa: E402
from app.hot_lane import register_hot_lane  # noqa: E402
from app.load_shedding import register_load_shedding  # noqa: E402
from app.logging_setup import register_logging  # noqa: E402
from app.metrics import register_metrics  # noqa: E402
from app.payment_providers import register_payment_providers  # noqa: E402
from app.replica_reads import init_replicas  # noqa: E402
from app.security_headers import register_security_headers  # noqa: E402
from app.static_answers import register_static_answers  # noqa: E402
from identity.database import configure_engine  # noqa: E402
