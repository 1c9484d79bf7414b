"""The hot lane: the routes a country calls at once, answered in front of Flask's request pipeline.

An online verification at a checkpoint, a bank's identity match or a token refresh spends
about as much of its CPU in Flask's and flask-smorest's layers (the request context and its objects,
routing, webargs, the answer's ``Response`` and its hooks) as in its own work
(``docs/benchmarks.md``, run U); a citizen's QR or report a fifth of it (run Z). This WSGI
middleware serves such a route's requests itself, when and only when it can answer exactly as
the route would, and hands every other request to the application untouched:

- **Taken**: a ``POST`` of the route's path with no query string and an ``Authorization:
  Bearer <token>`` header in its plain form, the token read by the route's own step
  (:attr:`HotRoute.authenticate`: an access token verified by the same function as every
  route's, :func:`app.auth.verify_bearer`; a refresh token by :func:`app.auth.refresh_claims`);
  for a route that reads a JSON body, a body of ``application/json`` whose ``Content-Length``
  is within ``MAX_CONTENT_LENGTH``, read by the same strict parser
  (:func:`app.parsing.parse_strict_json`) and loaded by the route's own arguments schema.
  Anything unusual up to there (a missing or malformed token, a field out of place, a query
  parameter, another content type, a chunked body) goes to the application, which answers
  it with its own error: nothing has been done yet but reading.
- **Served**: :attr:`HotRoute.serve` runs the route's use case as the route runs it (the same
  function, its connection and its checks), and the answer is dumped by the route's
  response schema and the app's JSON provider, with the headers the app's hooks put on such
  an answer: the security headers (:func:`app.security_headers.api_headers`), the request id
  (:func:`app.context.request_id_of`), counted, timed and logged by
  :func:`app.metrics.observe`. An error raised by the use case is answered by the
  application's own error handlers and answer hooks, in a request context made for it (the
  uniform error body, its status, its headers).
- **Paths with arguments**: a rule's ``<int:...>`` argument is taken as ``[1-9][0-9]{0,17}``
  and a ``<string:...>`` one as ``[A-Za-z0-9_.~-]{1,64}``, each a part of what werkzeug's
  converter takes, and given to :attr:`HotRoute.serve` by name; any other path of the rule
  (a leading zero, a long number, another character) goes to the application. A rule with
  another converter is not installed.
- **Not a bearer token**: a route whose authentication is its body's (a bank gateway's
  signed callback: :attr:`HotRoute.bearer` false) is taken with or without an
  ``Authorization`` header, which it does not read; with :attr:`HotRoute.raw_body`, its body
  is given to :attr:`HotRoute.serve` as the bytes received (still ``application/json`` of a
  given length within the bound).
- **An answer of its own**: a route whose answer is not its schema's dump (a payment's, given
  once per ``Idempotency-Key`` and given back on a replay) returns an :class:`Answer`: its
  status, its body (dumped as ``jsonify`` dumps it) and its headers.
- **Not installed** (the route goes through Flask as any other) when ``HOT_LANE`` is off, when
  the app runs in debug mode, or when the app has a request hook this module does not know
  (:data:`KNOWN_HOOKS`) or a rate limit that could apply to the route: the lane would skip
  what they do. A test checks that the service's own configuration installs it.

It sits inside the load-shedding bound (:mod:`app.load_shedding` wraps it) and outside the
proxy fix of ``TRUSTED_PROXY_COUNT``, whose client address it reads the same way for the
audit rows. ``tests/api/test_hot_lane.py`` compares its answers with Flask's for the same
requests, successes and refusals alike.
"""
from __future__ import annotations

import io
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from flask import Flask
from flask.globals import _cv_app
from werkzeug.http import HTTP_STATUS_CODES
from werkzeug.middleware.proxy_fix import ProxyFix

from app import metrics
from app.auth import verify_bearer
from app.context import request_id_of
from app.extensions import db
from app.load_shedding import StartResponse, WsgiApp
from app.parsing import Blueprint, parse_strict_json
from app.security_headers import api_headers
from identity.autocommit import handed_write

log = logging.getLogger(__name__)

#: The request hooks whose work the lane does for its answers, or that have none to do there:
#: the rate limiter's (refused below when a limit could apply), the start of the timer, the
#: query check (a query string is never taken), the request id, the security headers, the
#: log line, and the officers' writes remembered for the read replicas (:mod:`app.replica_reads`:
#: no lane route changes what a replica serves, a police queue). An app with another hook
#: serves every request through Flask.
KNOWN_HOOKS = frozenset({
    "app.auth.AppLimiter._check_request_limit", "app.metrics._start_timer",
    "app.parsing.refuse_unknown_query_parameters",
    "app.context.register_context.<locals>.echo_request_id",
    "app.security_headers.set_security_headers",
    "functools._when_limited.<locals>.after",  # app.auth's wrapper of flask-limiter's hook
    "app.metrics._observe", "app.auth.AppLimiter._Limiter__release_context",
    "app.replica_reads._remember_officer_write"})
_BEARER = "Bearer "
_JSON = frozenset({"application/json", "application/json; charset=utf-8",
                   "application/json;charset=utf-8"})
#: Where the lane leaves a JSON body as parsed, before its schema loads it (the request's
#: ``get_json()``), for a route that reads it as sent (an idempotency key's fingerprint).
JSON_BODY = "vnid.hot_lane.json"
#: What the lane takes of a rule's arguments, by converter (see the module's text).
_ARGUMENTS = {"int": ("[1-9][0-9]{0,17}", int), "string": ("[A-Za-z0-9_.~-]{1,64}", str)}
_ARGUMENT = re.compile(r"<(?:([^:<>]+):)?(\w+)>")  # a converter with its arguments


@dataclass(frozen=True)
class HotRoute:
    """A route the lane may serve, declared next to it.

    ``endpoint``: the Flask endpoint it serves (its rule gives the path); ``view``: the route's
    view (a rate limit of flask-limiter declared on it keeps the lane off); ``arguments``: the
    route's JSON body schema (None: the route reads no body, and the lane none either, unless
    ``raw_body``: the body's bytes are the payload); ``response``: its answer's schema, given
    with ``status`` (the route's ``@blp.response``); ``authenticate(token)``: the route's
    reading of the bearer token, its principal, raising for any token the route refuses (e.g.
    :func:`after_access_token`); with ``bearer`` false, no token is read and the principal is
    None; ``serve(payload, principal, environ, **arguments)``: the route's work (``environ``:
    the request's, as the proxy fix leaves it; ``arguments``: the path's), its result for
    ``response``, or an :class:`Answer` of its own.
    """

    endpoint: str
    view: Callable[..., Any]
    arguments: type | None
    response: type
    authenticate: Callable[[str], Any]
    serve: Callable[..., Any]
    status: int = 200
    bearer: bool = True
    raw_body: bool = False


@dataclass(frozen=True)
class Answer:
    """An answer a route makes itself rather than its response schema: its status, its JSON
    body (dumped as the app's ``jsonify`` dumps it) and its headers beyond those every API
    answer carries."""

    status: int
    body: Any
    headers: tuple[tuple[str, str], ...] = ()


def _status_line(status: int) -> str:
    return f"{status} {HTTP_STATUS_CODES[status].upper()}"  # werkzeug's


def after_access_token(step: Callable[[], Any]) -> Callable[[str], Any]:
    """A :attr:`HotRoute.authenticate` of an access token: verified as every route verifies
    it (:func:`app.auth.verify_bearer`), then the route's ``step()`` (e.g.
    :func:`app.auth.officer_token`)."""
    def authenticate(token: str) -> Any:
        verify_bearer(token)
        return step()
    return authenticate


class _Installed:
    """A route as the lane serves it: its schemas made once, its rule the metrics' label, the
    pattern of its path when the rule has arguments (:func:`_pattern`)."""

    def __init__(self, route: HotRoute, rule: str,
                 pattern: tuple[re.Pattern[str], dict[str, Callable[[str], Any]]] | None = None
                 ) -> None:
        self.route, self.rule, self.pattern = route, rule, pattern
        self.status = _status_line(route.status)
        self.arguments = None if route.arguments is None else route.arguments()
        self.response = route.response()
        self.reads_body = route.arguments is not None or route.raw_body

    def arguments_of(self, path: str) -> dict[str, Any] | None:
        """The path's arguments, converted, when the lane takes ``path`` for this route (one
        whose rule has arguments; the others are found by their rule: :meth:`HotLane._route`)."""
        assert self.pattern is not None
        regex, converters = self.pattern
        found = regex.fullmatch(path)
        return None if found is None else {
            name: converters[name](value) for name, value in found.groupdict().items()}


def _pattern(rule: str) -> tuple[re.Pattern[str], dict[str, Callable[[str], Any]]] | None:
    """The regular expression of the paths the lane takes for ``rule`` and each argument's
    conversion; None when the rule has a converter the lane does not take (see the module's
    text)."""
    parts: list[str] = []
    converters: dict[str, Callable[[str], Any]] = {}
    end = 0
    for found in _ARGUMENT.finditer(rule):
        taken = _ARGUMENTS.get(found.group(1) or "string")
        if taken is None:
            return None
        parts += [re.escape(rule[end:found.start()]), f"(?P<{found.group(2)}>{taken[0]})"]
        converters[found.group(2)] = taken[1]
        end = found.end()
    return re.compile("".join(parts) + re.escape(rule[end:])), converters


class HotLane:
    """WSGI middleware: the requests of ``routes`` it can answer exactly, answered in front of
    ``wsgi_app`` (see the module's text)."""

    def __init__(self, wsgi_app: WsgiApp, app: Flask, routes: dict[str, _Installed]) -> None:
        self.wsgi_app, self.app = wsgi_app, app
        self.routes = routes
        self.headers = api_headers(app.config["ENV_NAME"] == "production")
        self.max_length = app.config.get("MAX_CONTENT_LENGTH")
        self.trusted_proxies = int(app.config.get("TRUSTED_PROXY_COUNT") or 0)
        self._proxy_fix = ProxyFix(wsgi_app, x_for=self.trusted_proxies)
        # The app's JSON provider as its ``response`` dumps (compact: never in debug mode).
        self._dump_args = ({"indent": 2} if app.json.compact is False  # type: ignore[attr-defined]
                           else {"separators": (",", ":")})
        #: Requests answered here, successes and errors (the tests read it).
        self.served = 0
        self._sessions = threading.local()

    @property
    def routes(self) -> dict[str, _Installed]:
        """The routes served, by rule (the tests take them away to compare with Flask's)."""
        return self._routes

    @routes.setter
    def routes(self, routes: dict[str, _Installed]) -> None:
        self._routes = routes
        self._exact = {rule: route for rule, route in routes.items() if route.pattern is None}
        self._patterned = tuple(route for route in routes.values() if route.pattern is not None)

    def _route(self, path: str) -> tuple[_Installed, dict[str, Any]] | tuple[None, None]:
        """The route the lane takes ``path`` for, and the path's arguments."""
        route = self._exact.get(path)
        if route is not None:
            return route, {}
        for route in self._patterned:
            arguments = route.arguments_of(path)
            if arguments is not None:
                return route, arguments
        return None, None

    def _session(self) -> Any:
        """The ORM session of this thread's requests in the lane, made once: a session made
        and closed per request cost 51,000 to 55,000 instructions of a verification's, a
        match's or a refresh's (``tools.instructions``, ``docs/benchmarks.md``, run X).
        :meth:`_reset` leaves it as a new one."""
        session = getattr(self._sessions, "session", None)
        if session is None:
            session = self._sessions.session = db.session.session_factory()
        return session

    @staticmethod
    def _reset(session: Any) -> None:
        """Leave ``session`` as a new one for the thread's next request: closed (as the app
        context's teardown closes its session) unless it holds nothing (no transaction, no
        entity, nothing pending: the hot routes' usual way, Core statements on a connection
        of their own), then its ``info`` emptied."""
        if (session.in_transaction() or session.identity_map or session.new
                or session.deleted):
            session.close()
        handed_write(session)  # never counted as a request about to write (UNWRITTEN)
        session.info.clear()

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") != "POST" or environ.get("QUERY_STRING"):
            return self.wsgi_app(environ, start_response)
        route, path_arguments = self._route(environ.get("PATH_INFO", ""))
        if route is None or path_arguments is None:
            return self.wsgi_app(environ, start_response)
        token = None
        if route.route.bearer:
            authorization = environ.get("HTTP_AUTHORIZATION", "")
            token = authorization[len(_BEARER):]
            if (not authorization.startswith(_BEARER) or not token or not token.isprintable()
                    or " " in token or "," in token):
                return self.wsgi_app(environ, start_response)
        started = time.perf_counter()
        body = None
        if route.reads_body:  # a JSON body of a length given, within the bound
            try:
                length = int(environ.get("CONTENT_LENGTH") or "")
            except ValueError:
                length = -1
            if (environ.get("CONTENT_TYPE", "").lower() not in _JSON or length < 0
                    or (self.max_length is not None and length > self.max_length)):
                return self.wsgi_app(environ, start_response)
            body = environ["wsgi.input"].read(length)
        # As Flask's request context does: the app's context already pushed (a test's, a
        # CLI's) is the request's; else one of its own, popped after, its session one this
        # thread's lane requests take in turn (:meth:`_session`).
        pushed = _cv_app.get(None)
        context = None if pushed is not None and pushed.app is self.app \
            else self.app.app_context()
        session = None
        if context is not None:
            context.push()
            session = self._session()
            db.session.registry.set(session)
        try:
            try:
                payload: Any = body
                if route.arguments is not None and body is not None:
                    environ[JSON_BODY] = parse_strict_json(body)
                    payload = route.arguments.load(environ[JSON_BODY])
                principal = None if token is None else route.route.authenticate(token)
            except Exception:  # noqa: BLE001  (the application answers it: nothing done yet)
                environ.pop(JSON_BODY, None)
            else:
                return self._serve(route, payload, principal, path_arguments, environ,
                                   start_response, started)
        finally:
            if context is not None:
                db.session.registry.clear()  # so the context's teardown has none to remove
                self._reset(session)
                context.pop()
        if body is not None:
            environ["wsgi.input"] = io.BytesIO(body)
        return self.wsgi_app(environ, start_response)

    def _serve(self, route: _Installed, payload: Any, principal: Any,
               path_arguments: dict[str, Any], environ: dict[str, Any],
               start_response: StartResponse, started: float) -> Iterable[bytes]:
        request_id = request_id_of(environ)
        self.served += 1
        try:
            result = route.route.serve(payload, principal, self._client(environ),
                                       **path_arguments)
            if isinstance(result, Answer):
                status, line, extra = result.status, _status_line(result.status), result.headers
                content = result.body
            else:
                status, line, extra = route.route.status, route.status, ()
                content = Blueprint._prepare_response_content(route.response.dump(result))
            body = (self.app.json.dumps(content, **self._dump_args) + "\n").encode()
        except Exception as error:  # noqa: BLE001  (answered by the app's own handlers)
            return self._failed(environ, start_response, error, started)
        start_response(line, [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body))), *extra, *self.headers,
                              ("X-Request-Id", request_id)])
        metrics.observe(endpoint=route.rule, method="POST", status=status,
                        duration=time.perf_counter() - started, request_id=request_id,
                        actor=metrics.actor_type())
        return [body]

    def _client(self, environ: dict[str, Any]) -> dict[str, Any]:
        """The environ whose ``REMOTE_ADDR`` is the client's, as werkzeug's ``ProxyFix`` of
        ``TRUSTED_PROXY_COUNT`` sets it (by its own reading of ``X-Forwarded-For``)."""
        if not self.trusted_proxies:
            return environ
        found = self._proxy_fix._get_real_value(self.trusted_proxies,
                                                environ.get("HTTP_X_FORWARDED_FOR"))
        return {**environ, "REMOTE_ADDR": found} if found else environ

    def _failed(self, environ: dict[str, Any], start_response: StartResponse,
                error: Exception, started: float) -> Iterable[bytes]:
        """The application's answer to ``error``: its handlers and its answer hooks, in a
        request context of the request as the proxy fix leaves it."""
        environ = self._client(environ)
        environ[metrics.STARTED] = started
        with self.app.request_context(environ):  # the app context pushed already (its g)
            try:
                response = self.app.finalize_request(self.app.handle_user_exception(error))
            except Exception as unhandled:  # noqa: BLE001
                response = self.app.handle_exception(unhandled)
            return response(environ, start_response)


def _hook_names(app: Flask) -> set[str]:
    hooks: list[Iterable[Any]] = [
        *app.before_request_funcs.values(), *app.after_request_funcs.values(),
        *app.teardown_request_funcs.values(), *app.url_value_preprocessors.values()]
    return {f"{hook.__module__}.{hook.__qualname__}" for group in hooks for hook in group}


def _limited(app: Flask, route: HotRoute) -> bool:
    """Whether a rate limit of the app could apply to the route's requests."""
    limiter = app.extensions.get("limiter")
    if not limiter:
        return False
    for found in limiter if isinstance(limiter, (set, list, tuple)) else [limiter]:
        manager = found.limit_manager
        if (manager._application_limits or manager._default_limits
                or manager._blueprint_limits or found._meta_limits
                or manager.decorated_limits(f"{route.view.__module__}.{route.view.__name__}")):
            return True
    return False


def register_hot_lane(app: Flask, routes: Iterable[HotRoute]) -> HotLane | None:
    """Serve ``routes`` in front of the application, when it may (see the module's text); the
    middleware installed, if any."""
    unknown = _hook_names(app) - KNOWN_HOOKS
    refused = ("HOT_LANE is off" if not app.config.get("HOT_LANE", True)
               else "debug mode" if app.debug
               else f"request hooks it does not know: {sorted(unknown)}" if unknown else None)
    if refused is not None:
        log.warning("hot lane not installed: %s", refused)
        return None
    installed: dict[str, _Installed] = {}
    for route in routes:
        rules = [rule for rule in app.url_map.iter_rules() if rule.endpoint == route.endpoint]
        pattern = _pattern(rules[0].rule) if len(rules) == 1 and rules[0].arguments else None
        if (len(rules) != 1 or (rules[0].arguments and pattern is None)
                or "POST" not in (rules[0].methods or ()) or _limited(app, route)):
            log.warning("hot lane: %s served by Flask (a rate limit or its rule)",
                        route.endpoint)
            continue
        installed[rules[0].rule] = _Installed(route, rules[0].rule, pattern)
    if not installed:
        return None
    middleware = HotLane(app.wsgi_app, app, installed)
    app.extensions["hot_lane"] = middleware
    app.wsgi_app = middleware  # type: ignore[method-assign]
    return middleware
