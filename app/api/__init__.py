"""The HTTP API under ``/api/v1``: thin routes, one blueprint per domain."""
from __future__ import annotations

from flask import Flask

from app.api import admin_units, personal_ids
from app.extensions import api

BLUEPRINTS = (admin_units.blp, personal_ids.blp)


def register_api(app: Flask) -> None:
    """Initialise flask-smorest and register every API blueprint."""
    api.init_app(app)
    for blp in BLUEPRINTS:
        api.register_blueprint(blp, url_prefix=f"/api/v1{blp.url_prefix or ''}")
