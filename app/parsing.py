"""How the API reads requests: strict JSON, unknown query parameters refused.

Every route module declares its routes on :class:`Blueprint`, flask-smorest's
blueprint with :class:`StrictParser` as its arguments parser (a subclass, not a
patch of flask-smorest's class, so nothing depends on the order of imports):

- a JSON body with a duplicate key is malformed (400): which of the two
  values counts would otherwise depend on the parser, the classic way to
  slip a second ``personal_id`` past a proxy that reads the first;
- ``NaN`` and ``Infinity`` are not JSON (400);
- a body nested deeper than Python's recursion limit is malformed (400),
  not a ``RecursionError`` (500);
- an unknown query parameter is refused (422) like an unknown JSON field: a
  misspelt filter must not silently widen a query (webargs excludes them by
  default). Routes with a query schema refuse them in webargs; every other
  operation of the OpenAPI document by :func:`register_query_check`, which
  compares ``request.args`` with the query parameters the document declares
  for the matched rule and method (read once at start-up), so an operation
  declaring none refuses ``?personal_id=...`` instead of ignoring it.
"""
from __future__ import annotations

import json
import re
from typing import Any

import flask
import flask_smorest
from flask_smorest import Api
from marshmallow import RAISE
from webargs import core
from webargs.flaskparser import FlaskParser, is_json_request

from identity.errors import InvalidInput


#: The ``doc`` of our decoding errors: webargs reads an empty one as "no body at all".
_BODY = "<request body>"


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    data = dict(pairs)
    if len(data) != len(pairs):
        raise json.JSONDecodeError("duplicate key in an object", _BODY, 0)
    return data


def _no_constant(name: str) -> Any:
    raise json.JSONDecodeError(f"{name} is not JSON", _BODY, 0)


def parse_strict_json(raw: bytes) -> Any:
    """JSON with no duplicate keys, no NaN or Infinity, no stack-deep nesting."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise json.JSONDecodeError(f"not UTF-8: {exc.reason}", _BODY, 0) from exc
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except RecursionError:
        raise json.JSONDecodeError("nested too deeply", _BODY, 0) from None


class StrictParser(FlaskParser):
    """webargs' Flask parser with the rules of this module."""

    DEFAULT_UNKNOWN_BY_LOCATION = {**FlaskParser.DEFAULT_UNKNOWN_BY_LOCATION,
                                   "query": RAISE, "querystring": RAISE}

    def _raw_load_json(self, req: flask.Request) -> Any:
        if not is_json_request(req):
            return core.missing
        return parse_strict_json(req.get_data(cache=True))


class Blueprint(flask_smorest.Blueprint):
    """flask-smorest's blueprint that reads its arguments with :class:`StrictParser`."""

    ARGUMENTS_PARSER = StrictParser()


#: ``<int:account_id>`` of a Flask rule is ``{account_id}`` in the OpenAPI document.
_RULE_ARGUMENT = re.compile(r"<(?:[^<>:]+:)?([^<>]+)>")
_QUERY_TABLE = "vnid.query_parameters"


def declared_query_parameters(app: flask.Flask,
                              api: Api) -> dict[tuple[str, str], frozenset[str]]:
    """``{(endpoint, METHOD): names}``: the query parameters of each documented operation."""
    with app.app_context():
        paths = api.spec.to_dict()["paths"]
    table: dict[tuple[str, str], frozenset[str]] = {}
    for rule in app.url_map.iter_rules():
        operations = paths.get(_RULE_ARGUMENT.sub(r"{\1}", rule.rule))
        if operations is None:
            continue
        shared = operations.get("parameters", [])
        for method, operation in operations.items():
            if method == "parameters":
                continue
            names = {parameter["name"] for parameter in [*shared, *operation.get("parameters", [])]
                     if parameter.get("in") == "query"}
            table[(rule.endpoint, method.upper())] = frozenset(names)
    return table


def refuse_unknown_query_parameters() -> None:
    """422 ``request.invalid`` for a query parameter the matched operation does not declare."""
    method = "GET" if flask.request.method == "HEAD" else flask.request.method
    declared = flask.current_app.extensions[_QUERY_TABLE].get((flask.request.endpoint, method))
    if declared is None:  # not an operation of the document (a page, a static file, /healthz)
        return
    unknown = sorted(set(flask.request.args) - declared)
    if unknown:
        # The names only, never the values (they may be a personal id the caller slipped in).
        raise InvalidInput("The request has invalid fields.", code="request.invalid",
                           errors={name[:64]: ["Unknown field."] for name in unknown[:20]})


def register_query_check(app: flask.Flask) -> None:
    """Refuse undeclared query parameters on every operation (after the API is registered)."""
    from app.extensions import api  # here: this module is imported before the extensions are

    app.extensions[_QUERY_TABLE] = declared_query_parameters(app, api)
    app.before_request(refuse_unknown_query_parameters)
