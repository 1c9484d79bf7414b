"""``GET /healthz``: is this instance able to serve? Checks the database and Redis."""
from __future__ import annotations

import logging

import sqlalchemy as sa
from flask import Blueprint, Flask, Response, jsonify

from app.errors import error_response
from app.extensions import db, get_redis

log = logging.getLogger(__name__)
blueprint = Blueprint("health", __name__)


def _check_database() -> None:
    db.session.execute(sa.text("SELECT 1"))
    db.session.rollback()


def _check_redis() -> None:
    get_redis().ping()


CHECKS = {"database": _check_database, "redis": _check_redis}


@blueprint.get("/healthz")
def healthz() -> Response:
    """200 when every dependency answers; 503 naming each part that does not."""
    failures: dict[str, list[str]] = {}
    for name, check in CHECKS.items():
        try:
            check()
        except Exception as exc:  # any failure of a dependency means "not healthy"
            log.warning("health check %s failed: %s", name, type(exc).__name__)
            failures[name] = [f"{name} is unreachable ({type(exc).__name__})"]
            if name == "database":
                db.session.rollback()
    if failures:
        return error_response(503, "health.unavailable",
                              f"Unavailable: {', '.join(failures)}.", failures,
                              {"Retry-After": "5", "Cache-Control": "no-store"})
    response = jsonify({"status": "ok", "checks": {name: "ok" for name in CHECKS}})
    response.headers["Cache-Control"] = "no-store"
    return response


def register_health(app: Flask) -> None:
    """The health check."""
    app.register_blueprint(blueprint)
