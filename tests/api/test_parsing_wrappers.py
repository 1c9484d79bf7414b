"""The blueprint's lean decorators answer and document exactly as flask-smorest's.

:class:`app.parsing.Blueprint` documents each route by flask-smorest's own
``arguments``, ``response`` and ``doc`` and wraps the view in leaner
functions. Twin applications declare the same routes, one on our blueprint
and one on flask-smorest's (with the same strict parser), and must agree on
the OpenAPI document and on every answer: bodies, statuses, headers, ETags,
pagination, errors.
"""
from __future__ import annotations

import inspect
from typing import Any

import flask_smorest
import pytest
from flask import Flask, Response
from flask_smorest import Api
from marshmallow import EXCLUDE, Schema, fields, validate

from app.parsing import Blueprint, StrictParser


class Item(Schema):
    name = fields.String(required=True, validate=validate.Length(max=8))
    count = fields.Integer()


class Listing(Schema):
    kind = fields.String(load_default="all")


class Counted(Item):
    """Counts its instances: a schema made per request would show here."""

    made = 0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        type(self).made += 1


class SmorestBlueprint(flask_smorest.Blueprint):
    """flask-smorest's own wrappers, with the same parser as ours."""

    ARGUMENTS_PARSER = StrictParser()


def _twin(blueprint_class: type[flask_smorest.Blueprint]) -> tuple[Flask, Api]:
    app = Flask("twin")
    app.config.update(API_TITLE="twin", API_VERSION="1", OPENAPI_VERSION="3.0.3",
                      ETAG_DISABLED=False, TESTING=True)
    api = Api(app)
    blp = blueprint_class("things", __name__, url_prefix="/things", description="Things.")

    @blp.route("", methods=["POST"])
    @blp.arguments(Item, description="The thing.", example={"name": "a"})
    @blp.response(201, Item)
    @blp.doc(summary="Create", security=[{"bearer": []}])
    def create(item: dict[str, Any]) -> Any:
        return item

    @blp.route("", methods=["GET"])
    @blp.etag
    @blp.arguments(Listing, location="query")
    @blp.response(200, Item(many=True))
    def listing(query: dict[str, Any]) -> Any:
        return [{"name": query["kind"], "count": 1}]

    @blp.route("/pages", methods=["GET"])
    @blp.etag
    @blp.response(200, Item(many=True))
    @blp.paginate()
    def pages(pagination_parameters: Any) -> Any:
        pagination_parameters.item_count = 45
        return [{"name": "p", "count": pagination_parameters.page}]

    @blp.route("/<int:number>", methods=["PUT"])
    @blp.arguments(Item, unknown=EXCLUDE)  # a webargs option: flask-smorest's own wrapper
    @blp.response(200, Item)
    @blp.alt_response(404, description="No such thing.")
    def replace(item: dict[str, Any], number: int) -> Any:
        return item, 200, {"X-Number": str(number)}

    @blp.route("/tuple", methods=["POST"])
    @blp.arguments(Item)
    @blp.response(201, Item)
    def accepted(item: dict[str, Any]) -> Any:
        return item, 202

    @blp.route("/raw")
    @blp.response(200, {"type": "string"}, content_type="text/plain")
    def raw() -> Response:
        return Response("raw", mimetype="text/plain"), 203, {"X-Raw": "1"}

    @blp.route("/form", methods=["POST"])
    @blp.arguments(Item, location="form")
    @blp.response(200)
    def form(item: dict[str, Any]) -> Any:
        return {"echo": item}

    api.register_blueprint(blp)
    return app, api


JSON = "application/json"
REQUESTS: list[tuple[str, str, dict[str, Any]]] = [
    ("POST", "/things", {"json": {"name": "a", "count": 2}}),
    ("POST", "/things", {"json": {"name": "a", "zzz": 1}}),
    ("POST", "/things", {"json": {"name": "much too long", "count": "x"}}),
    ("POST", "/things", {"data": b"null", "content_type": JSON}),
    ("POST", "/things", {"json": [1, 2]}),
    ("POST", "/things", {"data": b'{"name": "a", "name": "b"}', "content_type": JSON}),
    ("POST", "/things", {"data": b'{"name": NaN}', "content_type": JSON}),
    ("POST", "/things", {"data": b"[" * 5000 + b"]" * 5000, "content_type": JSON}),
    ("POST", "/things", {"data": b'{"name": "\xff"}', "content_type": JSON}),
    ("POST", "/things", {"data": b"", "content_type": JSON}),
    ("POST", "/things", {"data": b'{"name": "a"}', "content_type": "text/plain"}),
    ("GET", "/things", {}),
    ("GET", "/things?kind=x", {}),
    ("GET", "/things?kind=x&zzz=1", {}),
    ("HEAD", "/things", {}),
    ("GET", "/things/pages?page=2&page_size=10", {}),
    ("GET", "/things/pages?page=0", {}),
    ("PUT", "/things/7", {"json": {"name": "b", "zzz": 1}}),
    ("PUT", "/things/7", {"json": {"count": 1}}),
    ("POST", "/things/tuple", {"json": {"name": "c"}}),
    ("GET", "/things/raw", {}),
    ("POST", "/things/form", {"data": {"name": "d", "count": "3"}}),
    ("POST", "/things/form", {"data": {"name": "d", "zzz": "3"}}),
]


@pytest.fixture(scope="module")
def twins() -> tuple[tuple[Flask, Api], tuple[Flask, Api]]:
    return _twin(Blueprint), _twin(SmorestBlueprint)


def _answer(app: Flask, method: str, path: str, options: dict[str, Any],
            headers: dict[str, str] | None = None) -> tuple[int, list[tuple[str, str]], bytes]:
    answer = app.test_client().open(path, method=method, headers=headers, **options)
    return answer.status_code, sorted(answer.headers.items()), answer.get_data()


def test_the_openapi_document_is_flask_smorests(twins: Any) -> None:
    (ours, our_api), (theirs, their_api) = twins
    with ours.app_context(), theirs.app_context():
        assert our_api.spec.to_dict() == their_api.spec.to_dict()
    assert ours.test_client().get("/openapi.json").get_data() == \
        theirs.test_client().get("/openapi.json").get_data()


@pytest.mark.parametrize(("method", "path", "options"), REQUESTS)
def test_every_answer_is_flask_smorests(twins: Any, method: str, path: str,
                                        options: dict[str, Any]) -> None:
    (ours, _), (theirs, _) = twins
    assert _answer(ours, method, path, options) == _answer(theirs, method, path, options)


def test_etags_and_pagination_still_work(twins: Any) -> None:
    (ours, _), (theirs, _) = twins
    first = ours.test_client().get("/things/pages?page=2&page_size=10")
    assert first.status_code == 200 and first.headers["ETag"]
    assert first.headers["X-Pagination"] == theirs.test_client().get(
        "/things/pages?page=2&page_size=10").headers["X-Pagination"]
    for app in (ours, theirs):
        again = app.test_client().get("/things/pages?page=2&page_size=10",
                                      headers={"If-None-Match": first.headers["ETag"]})
        assert again.status_code == 304


def test_the_arguments_schema_is_made_once_not_per_request() -> None:
    blp = Blueprint("counted", __name__)

    @blp.route("/", methods=["POST"])
    @blp.arguments(Counted)
    @blp.response(200, Item)
    def echo(item: dict[str, Any]) -> Any:
        return item

    app = Flask("counted")
    app.register_blueprint(blp)
    made = Counted.made
    client = app.test_client()
    for _ in range(3):
        assert client.post("/", json={"name": "a"}).get_json() == {"name": "a"}
    assert client.post("/", json={"zzz": 1}).status_code == 422
    assert Counted.made == made


def test_a_coroutine_view_keeps_flask_smorests_wrappers() -> None:
    blp = Blueprint("coroutines", __name__)

    async def view(item: dict[str, Any]) -> Any:
        return item

    for decorated in (blp.arguments(Item)(view), blp.response(200, Item)(view),
                      blp.doc(summary="x")(view)):
        assert "flask_smorest" in inspect.getfile(decorated.__code__) or \
            "webargs" in inspect.getfile(decorated.__code__)
        assert decorated._apidoc
