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

The blueprint's ``arguments``, ``response`` and ``doc`` decorators document
the operation exactly as flask-smorest's do (they call them), but wrap the
view in leaner functions for the requests themselves: the arguments schema is
made once per route, not once per request (webargs instantiates a schema
class on every parse: most of the parsing's cost), and no layer asks
``ensure_sync`` again of a view that is not a coroutine. Parsing itself is
still webargs' ``parse`` and serialization flask-smorest's own steps, so the
bodies, statuses, headers and errors are theirs.
"""
from __future__ import annotations

import functools
import inspect
import json
import re
from collections.abc import Callable
from typing import Any

import flask
import flask_smorest
from flask_smorest import Api
from flask_smorest.utils import (get_appcontext, resolve_schema_instance,
                                 set_status_and_headers_in_response, unpack_tuple_response)
from marshmallow import RAISE
from werkzeug import Response
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


View = Callable[..., Any]

#: Arguments of flask-smorest's ``arguments`` that only document (the rest go to webargs).
_DOC_ONLY = frozenset({"content_type", "required", "description", "example", "examples"})


def _in_place_of(documented: View, func: View, wrapper: View) -> View:
    """``wrapper`` of ``func`` in place of flask-smorest's ``documented`` one (same doc info)."""
    functools.update_wrapper(wrapper, func)
    wrapper.__dict__.update(documented.__dict__)  # _apidoc: what the OpenAPI document reads
    wrapper.__wrapped__ = func  # type: ignore[attr-defined]
    return wrapper


class Blueprint(flask_smorest.Blueprint):
    """flask-smorest's blueprint that reads its arguments with :class:`StrictParser`.

    Its decorators document like flask-smorest's and run leaner (see the module's docstring).
    A coroutine view, or webargs options beyond the location, keep flask-smorest's wrappers.
    """

    ARGUMENTS_PARSER = StrictParser()

    def arguments(self, schema: Any, *, location: str = "json", **kwargs: Any) -> Any:
        """flask-smorest's ``arguments``, parsing with one schema instance for every request."""
        documenting = super().arguments(schema, location=location, **kwargs)
        options = {name: value for name, value in kwargs.items() if name not in _DOC_ONLY}
        parser = self.ARGUMENTS_PARSER
        argmap = resolve_schema_instance(schema)  # webargs would make one per request

        def decorator(func: View) -> View:
            documented = documenting(func)
            if options or not parser.USE_ARGS_POSITIONAL or inspect.iscoroutinefunction(func):
                return documented

            def parsed(*args: Any, **kwargs: Any) -> Any:
                return func(*args, parser.parse(argmap, location=location), **kwargs)

            return _in_place_of(documented, func, parsed)

        return decorator

    def response(self, status_code: Any, schema: Any = None, **kwargs: Any) -> Any:
        """flask-smorest's ``response``: the same steps, without asking ``ensure_sync`` again."""
        documenting = super().response(status_code, schema, **kwargs)
        dumper = resolve_schema_instance(schema)
        prepare = self._prepare_response_content

        def decorator(func: View) -> View:
            documented = documenting(func)
            if inspect.iscoroutinefunction(func):
                return documented

            def answered(*args: Any, **kwargs: Any) -> Any:
                result, status, headers = unpack_tuple_response(func(*args, **kwargs))
                if isinstance(result, Response):
                    set_status_and_headers_in_response(result, status, headers)
                    return result
                dumped = result if dumper is None else dumper.dump(result)
                get_appcontext()["result_dump"] = dumped  # what flask-smorest's ETag hashes
                response = flask.current_app.json.response(prepare(dumped))
                set_status_and_headers_in_response(response, status, headers)
                if status is None:
                    response.status_code = status_code
                return response

            return _in_place_of(documented, func, answered)

        return decorator

    @staticmethod
    def doc(**kwargs: Any) -> Any:
        """flask-smorest's ``doc``, its wrapper a plain call."""
        documenting = flask_smorest.Blueprint.doc(**kwargs)

        def decorator(func: View) -> View:
            documented = documenting(func)
            if inspect.iscoroutinefunction(func):
                return documented

            def call(*args: Any, **kwargs: Any) -> Any:
                return func(*args, **kwargs)

            return _in_place_of(documented, func, call)

        return decorator


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
    if not flask.request.query_string:  # no parameter at all (most requests): nothing to look up
        return
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
    app.extensions[_QUERY_TABLE] = declared_query_parameters(app, app.extensions["service_api"])
    app.before_request(refuse_unknown_query_parameters)
