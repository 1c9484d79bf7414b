"""Administrative units: public reference data for forms and addresses.

The data change only with a deploy, so each answer is built once per process
(the schema's dump, the JSON text, its ``ETag``) and served as those bytes;
``If-None-Match`` with the same ``ETag`` is ``304``. The OpenAPI document
still describes each body with its schema. :mod:`app.static_answers` replays
the same answers in front of the application.
"""
from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from typing import Any

from flask import Response, current_app, request
from marshmallow import Schema

from app.parsing import Blueprint
from identity.registry import admin_units
from identity.errors import NotFound
from identity.registry.schemas import CommuneRead, FormerProvinceRead, ProvinceRead

blp = Blueprint("admin_units", __name__, url_prefix="/admin-units",
                description="Provinces and communes of Vietnam (2025 reform), and the 63 "
                            "provinces of 2016 that begin personal ids.")

#: How long caches may keep an answer without asking again (then ``If-None-Match``).
MAX_AGE = 3600
_built: dict[str, tuple[bytes, str]] = {}
_lock = threading.Lock()


def static_answer(key: str, schema: Schema, items: Callable[[], Any]) -> Response:
    """The JSON of ``schema.dump(items())``, built once per process, with its ``ETag``."""
    built = _built.get(key)
    if built is None:
        body = current_app.json.dumps(schema.dump(items())).encode("utf-8")
        built = (body, hashlib.sha256(body).hexdigest()[:32])
        with _lock:
            _built[key] = built
    body, etag = built
    response = Response(body, mimetype="application/json")
    response.set_etag(etag)
    response.headers["Cache-Control"] = f"public, max-age={MAX_AGE}"
    response.make_conditional(request)
    return response


@blp.get("/provinces")
@blp.response(200, ProvinceRead(many=True))
def list_provinces() -> Any:
    """The 34 current provinces and centrally governed cities."""
    return static_answer("provinces", ProvinceRead(many=True),
                         lambda: list(admin_units.provinces().values()))


@blp.get("/provinces/<string:province_code>/communes")
@blp.response(200, CommuneRead(many=True))
def list_communes(province_code: str) -> Any:
    """The communes, wards and special zones of one current province."""
    communes = admin_units.communes_by_province().get(province_code)
    if communes is None:
        raise NotFound("No current province has that code.", code="province.not_found")
    return static_answer(f"communes/{province_code}", CommuneRead(many=True), lambda: communes)


@blp.get("/former-provinces")
@blp.response(200, FormerProvinceRead(many=True))
def list_former_provinces() -> Any:
    """The 63 provinces of Circular 07/2016, each with the province it was merged into."""
    return static_answer("former-provinces", FormerProvinceRead(many=True),
                         lambda: list(admin_units.former_provinces().values()))
