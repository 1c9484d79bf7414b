"""The HTTP API under ``/api/v1``: thin routes, one blueprint per domain."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask
from swagger_ui_bundle import swagger_ui_path
from werkzeug.routing import IntegerConverter, Map

from app.api import accounts, admin_units, auth, dev, me, personal_ids, police
from app.api import credentials, stats
from app.api import reports
from app.api import residence
from app.api import oauth, relying_parties
from app.api import coordination
from app.api import payments
from app.errors import ServiceApi

BLUEPRINTS = (admin_units.blp, personal_ids.blp, accounts.blp, auth.blp, me.blp, police.blp,
              credentials.blp, credentials.police_blp, stats.blp,
              residence.blp, residence.police_blp,
              reports.blp, reports.police_blp,
              oauth.blp, relying_parties.blp, relying_parties.me_blp,
              coordination.blp,
              payments.blp, payments.police_blp)

#: The routes :mod:`app.hot_lane` serves in front of Flask.
HOT_ROUTES = (credentials.HOT_VERIFY, relying_parties.HOT_MATCH, auth.HOT_REFRESH,
              credentials.HOT_ISSUE, reports.HOT_FILE, payments.HOT_PAY, payments.HOT_CALLBACK)

#: The Swagger UI files of ``/docs``, served from the swagger-ui-bundle package (no CDN).
docs_static = Blueprint("docs_static", __name__, static_folder=str(swagger_ui_path),
                        static_url_path="/docs/static")


class Int64Converter(IntegerConverter):
    """``<int:...>`` of the API: a database key, 1 to 2**63 - 1; anything larger is a 404.

    Werkzeug's converter takes any length of digits, which the database then
    cannot bind (a 500); this one never lets such a number reach a query.
    """

    def __init__(self, url_map: Map, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("min", 1)
        kwargs.setdefault("max", 2**63 - 1)
        super().__init__(url_map, *args, **kwargs)


def register_api(app: Flask) -> None:
    """Initialise flask-smorest, register every API blueprint and the docs' static files."""
    app.url_map.converters["int"] = Int64Converter
    # One per app: flask-smorest's Api keeps the spec of the app it was last given, and the
    # OpenAPI document of every app is that spec (an app made without the dev routes dropped
    # them from the document of another made before it).
    api = app.extensions["service_api"] = ServiceApi()
    api.init_app(app)
    api.spec.components.security_scheme(
        "bearerAuth", {"type": "http", "scheme": "bearer", "bearerFormat": "JWT (ES256)"})
    api.spec.components.security_scheme(  # operators: `flask admins create`
        "operatorToken", {"type": "http", "scheme": "bearer", "bearerFormat": "admin token"})
    api.spec.components.security_scheme(  # relying parties: POST /api/v1/oauth/token
        "rpToken", {"type": "http", "scheme": "bearer", "bearerFormat": "JWT (ES256)"})
    api.spec.components.security_scheme(  # the token endpoint's client authentication
        "rpBasic", {"type": "http", "scheme": "basic"})
    app.register_blueprint(docs_static)
    blueprints = list(BLUEPRINTS)
    if app.config["SMS_BACKEND"] == "outbox" and app.config["ENV_NAME"] != "production":
        blueprints.append(dev.blp)
    for blp in blueprints:
        api.register_blueprint(blp, url_prefix=f"/api/v1{blp.url_prefix or ''}")
    api.register_blueprint(credentials.wellknown)  # /.well-known/vnid-keys.json
