"""How the API reads requests: strict JSON, unknown query parameters refused.

Installed on flask-smorest's shared arguments parser before any route is
declared (``app/__init__.py`` imports this module before ``app.api``):

- a JSON body with a duplicate key is malformed (400): which of the two
  values counts would otherwise depend on the parser, the classic way to
  slip a second ``personal_id`` past a proxy that reads the first;
- ``NaN`` and ``Infinity`` are not JSON (400);
- a body nested deeper than Python's recursion limit is malformed (400),
  not a ``RecursionError`` (500);
- an unknown query parameter is refused (422) like an unknown JSON field: a
  misspelt filter must not silently widen a query (webargs excludes them by
  default).
"""
from __future__ import annotations

import json
from typing import Any

import flask
from flask_smorest import Blueprint
from marshmallow import RAISE
from webargs import core
from webargs.flaskparser import FlaskParser, is_json_request


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


Blueprint.ARGUMENTS_PARSER = StrictParser()
