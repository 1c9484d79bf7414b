"""Static answers replayed in front of the application: the administrative units.

The provinces, their communes and the former provinces change only with a
deploy. The first plain ``GET`` of each such path goes through the whole
application (its route, the security headers, the request id, the metrics
and the request log); its ``200`` answer is recorded, and every later plain
``GET`` of the path is answered from the record by this WSGI middleware:
the same status, headers and bytes, a request id of its own (the caller's
acceptable ``X-Request-Id``, else a fresh one, as :mod:`app.context` does),
``304`` when ``If-None-Match`` names the ``ETag``, counted and logged by
:func:`app.metrics.observe` like any answer. Nothing else is skipped than
work whose outcome is already known: routing, the rate limiter's pass
(these routes have no limit), the schema's dump.

A request with a query string, another method, or a path not in the table
goes to the application unchanged (an unknown query parameter is still
``422``, a ``HEAD`` still answered by Flask). The middleware sits inside the
load-shedding bound (:mod:`app.load_shedding` wraps it), like every answer.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from typing import Any

from flask import Flask, url_for

from app import metrics
from app.context import acceptable_request_id, fresh_request_id
from app.load_shedding import StartResponse, WsgiApp
from identity.registry import admin_units

_NOT_MODIFIED = "304 NOT MODIFIED"
#: Headers a 304 does not repeat (RFC 9110 section 15.4.5: it has no body).
_BODY_HEADERS = frozenset({"content-type", "content-length"})


class _Recorded:
    """One recorded answer: its route (for the metrics), headers, body and ETag."""

    def __init__(self, rule: str, status: str, headers: list[tuple[str, str]],
                 body: bytes) -> None:
        self.rule, self.status, self.body = rule, status, body
        self.headers = [(name, value) for name, value in headers
                        if name.lower() != "x-request-id"]
        self.not_modified = [(name, value) for name, value in self.headers
                             if name.lower() not in _BODY_HEADERS]
        self.etag = next((value for name, value in headers if name.lower() == "etag"), None)


class StaticAnswers:
    """WSGI middleware: plain ``GET`` requests of ``paths`` answered from recorded answers."""

    def __init__(self, wsgi_app: WsgiApp, paths: dict[str, str], config: dict[str, Any]) -> None:
        #: path -> URL rule (the metrics' label of the path)
        self.wsgi_app, self.paths, self.config = wsgi_app, paths, config
        # Keyed by path and ENV_NAME: the security headers read it per answer (HSTS in
        # production), so an answer is replayed only under the configuration it was made in.
        self._answers: dict[tuple[str, str], _Recorded] = {}
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if (environ.get("REQUEST_METHOD") != "GET" or environ.get("QUERY_STRING")
                or path not in self.paths):
            return self.wsgi_app(environ, start_response)
        key = (path, self.config.get("ENV_NAME", ""))
        recorded = self._answers.get(key)
        if recorded is None:
            return self._record(key, environ, start_response)
        started = time.perf_counter()
        given = environ.get("HTTP_X_REQUEST_ID", "")
        request_id = given if given and acceptable_request_id(given) else fresh_request_id()
        wanted = environ.get("HTTP_IF_NONE_MATCH", "")
        if recorded.etag is not None and (recorded.etag in wanted or wanted.strip() == "*"):
            status, headers, body = _NOT_MODIFIED, recorded.not_modified, b""
        else:
            status, headers, body = recorded.status, recorded.headers, recorded.body
        start_response(status, [*headers, ("X-Request-Id", request_id)])
        metrics.observe(endpoint=recorded.rule, method="GET", status=int(status[:3]),
                        duration=time.perf_counter() - started, request_id=request_id,
                        actor="anonymous")
        return [body]

    def _record(self, key: tuple[str, str], environ: dict[str, Any],
                start_response: StartResponse) -> Iterable[bytes]:
        """Serve through the application; keep a plain 200 answer for the next requests."""
        seen: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], *args: Any) -> Any:
            seen.update(status=status, headers=list(headers))
            return start_response(status, headers, *args)

        chunks = self.wsgi_app(environ, capture)
        try:
            body = b"".join(chunks)
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()
        if seen.get("status", "").startswith("200") and "HTTP_IF_NONE_MATCH" not in environ:
            with self._lock:
                self._answers[key] = _Recorded(self.paths[key[0]], seen["status"],
                                               seen["headers"], body)
        return [body]


def register_static_answers(app: Flask) -> None:
    """Replay the administrative units' answers in front of the application."""
    with app.test_request_context():
        urls = [url_for("admin_units.list_provinces"),
                url_for("admin_units.list_former_provinces"),
                *(url_for("admin_units.list_communes", province_code=code)
                  for code in admin_units.communes_by_province())]
    adapter = app.url_map.bind("localhost")
    paths = {url: adapter.match(url, method="GET", return_rule=True)[0].rule for url in urls}
    middleware = StaticAnswers(app.wsgi_app, paths, app.config)
    app.extensions["static_answers"] = middleware
    app.wsgi_app = middleware  # type: ignore[method-assign]
