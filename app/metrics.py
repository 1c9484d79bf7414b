"""Service metrics at ``/metrics`` (Prometheus text format) and the request log.

Every request is counted and timed by endpoint (the Flask URL rule, never the
raw path, so ids do not become labels), method and status; 401 answers count
as authentication failures and 429 answers as rate-limit refusals. Queue
sizes are read at scrape time by :class:`QueueCollector` (one short database
session of its own). The credentials' verify route increments
:data:`CREDENTIAL_VERIFICATIONS`.

Each request also writes one JSON log line (request id, method, route,
status, duration, actor type) and nothing else: no body, no query string,
no header, so no personal data. No line holds the client's address, and the
route is the URL rule (``/api/v1/reports/<case_number>``), never the path,
so no line holds a case number. A citizen's report route
(:data:`UNLINKED_ROUTES`) writes no request id either: the id is echoed to
the client and a proxy in front may log it beside the address and the path,
so the line of an anonymous reporter's request must not share it.

Access: a bearer ``METRICS_TOKEN`` and/or a source address inside
``METRICS_ALLOWED_NETWORKS``; either one is enough.

Several worker processes: when ``PROMETHEUS_MULTIPROC_DIR`` is set (an
empty directory, wiped before the server starts), each worker writes its
samples there and any worker's ``/metrics`` answers the sum of all of them
(prometheus_client's multiprocess mode); without it each worker answers its
own counters only.
"""
from __future__ import annotations

import hmac
import ipaddress
import logging
import os
import time
from collections.abc import Iterator
from typing import Any

from flask import Blueprint, Flask, Response, current_app, g, request
from prometheus_client import (CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter,
                               Histogram, generate_latest, multiprocess)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.orm import sessionmaker

from app.context import request_id
from app.errors import error_response
from app.logging_setup import CHECKED
from app.extensions import db
from config import ConfigError
from identity.monitoring import queues

log = logging.getLogger("vnid.request")
blueprint = Blueprint("metrics", __name__)

REQUESTS = Counter("vnid_http_requests_total", "HTTP requests answered",
                   ["endpoint", "method", "status"])
LATENCY = Histogram("vnid_http_request_duration_seconds", "Time to answer an HTTP request",
                    ["endpoint", "method"],
                    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
AUTH_FAILURES = Counter("vnid_auth_failures_total", "Answers 401 (authentication failed)",
                        ["endpoint"])
RATE_LIMITED = Counter("vnid_rate_limited_total", "Answers 429 (rate limit refused)",
                       ["endpoint"])
#: Incremented by the credentials' verify route, ``result``: valid, revoked, expired, ...
CREDENTIAL_VERIFICATIONS = Counter("vnid_credential_verifications_total",
                                   "Credential verifications by result", ["result"])

#: Where a request's start (``time.perf_counter()``) is kept in its WSGI environ.
STARTED = "vnid.started"
UNMATCHED = "<unmatched>"
#: Routes whose log line carries no request id (the citizen's side of incident reports).
UNLINKED_ROUTES = ("/api/v1/reports",)


class QueueCollector(Collector):
    """Open and overdue cases per queue and province, read when Prometheus scrapes."""

    def __init__(self, factory: sessionmaker[Any]) -> None:
        self.factory = factory

    def collect(self) -> Iterator[Metric]:
        open_cases = GaugeMetricFamily("vnid_queue_open", "Open cases in a police queue",
                                       labels=["queue", "province"])
        overdue = GaugeMetricFamily("vnid_queue_overdue", "Overdue cases in a police queue",
                                    labels=["queue", "province"])
        up = GaugeMetricFamily("vnid_queue_scrape_success",
                               "1 if every queue could be read at this scrape")
        totals: dict[tuple[str, str], list[int]] = {}
        try:
            with self.factory() as session:
                for row in queues.backlogs(session):
                    entry = totals.setdefault((row.queue, row.province_code), [0, 0])
                    entry[0] += row.open
                    entry[1] += row.overdue
        except Exception as exc:  # a broken queue must not take the other metrics down
            log.warning("queue metrics unavailable: %s", type(exc).__name__)
            up.add_metric([], 0)
            yield up
            return
        for (queue, province), (count, late) in sorted(totals.items()):
            open_cases.add_metric([queue, province], count)
            overdue.add_metric([queue, province], late)
        up.add_metric([], 1)
        yield from (open_cases, overdue, up)


def parse_networks(spec: str) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """``METRICS_ALLOWED_NETWORKS``: CIDR blocks, comma-separated."""
    try:
        return [ipaddress.ip_network(part.strip(), strict=False)
                for part in spec.split(",") if part.strip()]
    except ValueError as exc:
        raise ConfigError(f"METRICS_ALLOWED_NETWORKS is not a list of CIDR blocks: {exc}") \
            from None


def _scrape_allowed() -> bool:
    token = current_app.config["METRICS_TOKEN"]
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if token and scheme.lower() == "bearer" and hmac.compare_digest(
            given.strip().encode(), token.encode()):
        return True
    try:
        address = ipaddress.ip_address(request.remote_addr or "")
    except ValueError:
        return False
    return any(address in network for network in current_app.extensions["metrics_networks"])


@blueprint.get("/metrics")
def metrics() -> Response:
    """The Prometheus exposition: this process's (or every worker's) metrics and the queues."""
    if not _scrape_allowed():
        if current_app.config["METRICS_TOKEN"]:
            return error_response(401, "metrics.unauthorized",
                                  "Scraping needs the metrics token as a bearer token.")
        return error_response(403, "metrics.forbidden",
                              "This address may not scrape the metrics.")
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        body = generate_latest(registry)
    else:
        body = generate_latest(REGISTRY)
    queue_registry = CollectorRegistry()
    # Its own short session, on the bind of the app's sessions (the engine; in the tests,
    # the test's connection).
    queue_registry.register(QueueCollector(sessionmaker(bind=db.session().get_bind())))
    body += generate_latest(queue_registry)
    return Response(body, content_type=CONTENT_TYPE_LATEST,
                    headers={"Cache-Control": "no-store"})


#: The attribute of ``g`` that names each kind of authenticated actor, checked in this order.
_ACTOR_KINDS = (("account", "citizen"), ("officer_row", "officer"), ("operator", "operator"),
                ("party_row", "relying_party"))


def actor_type() -> str:
    """The kind of actor the current app context's ``g`` holds (the log line's ``actor``)."""
    found = g._get_current_object()  # one look-up of the proxy, not one per attribute
    for attribute, kind in _ACTOR_KINDS:
        if getattr(found, attribute, None) is not None:
            return kind
    return "anonymous"


def _start_timer() -> None:
    request.environ[STARTED] = time.perf_counter()


#: (endpoint, method, status) -> the labelled counters and histogram that answer counts in.
_Children = tuple[Counter, Histogram, "Counter | None"]
_children: dict[tuple[str, str, int], _Children] = {}
#: Beyond this many label sets, children are looked up each time.
_MOST_CACHED = 2000
#: The methods counted by name; any other (a client may send any token) counts as ``OTHER``,
#: so a client cannot grow the label sets, or the request log's values, without limit.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def _labelled(endpoint: str, method: str, status: int) -> _Children:
    """The metrics' children of one label set, looked up once (``.labels()`` costs a lock)."""
    key = (endpoint, method, status)
    children = _children.get(key)
    if children is None:
        children = (REQUESTS.labels(endpoint, method, str(status)),
                    LATENCY.labels(endpoint, method),
                    AUTH_FAILURES.labels(endpoint) if status == 401 else
                    RATE_LIMITED.labels(endpoint) if status == 429 else None)
        if len(_children) < _MOST_CACHED:
            _children[key] = children
    return children


def observe(*, endpoint: str, method: str, status: int, duration: float, request_id: str,
            actor: str) -> None:
    """Count and time one answer, and write its log line (every answer, however served).

    Every value of the line must be safe as it is (``logging_setup.CHECKED``): ``endpoint``
    a route's pattern, never a path; ``request_id`` fresh or passed by
    :func:`app.context.acceptable_request_id`; ``actor`` a kind of actor."""
    if method not in _METHODS:
        method = "OTHER"
    requests, latency, refusals = _labelled(endpoint, method, status)
    requests.inc()
    latency.observe(duration)
    if refusals is not None:
        refusals.inc()
    fields: dict[str, Any] = {
        "request_id": request_id, "method": method, "route": endpoint, "status": status,
        "duration_ms": round(duration * 1000, 2), "actor": actor}
    if endpoint.startswith(UNLINKED_ROUTES):
        del fields["request_id"]
    log.info("request", extra={"fields": fields, CHECKED: True})  # every value checked above


def _observe(response: Response) -> Response:
    # The request behind the proxy, looked up once rather than at each attribute.
    answered = request._get_current_object()  # type: ignore[attr-defined]
    started = answered.environ.get(STARTED)
    rule = answered.url_rule
    observe(endpoint=rule.rule if rule is not None else UNMATCHED,
            method=answered.method, status=response.status_code,
            duration=time.perf_counter() - started if started is not None else 0.0,
            request_id=request_id(), actor=actor_type())
    return response


def register_metrics(app: Flask) -> None:
    """Time and count every request, log it, and serve ``/metrics``."""
    app.extensions["metrics_networks"] = parse_networks(app.config["METRICS_ALLOWED_NETWORKS"])
    app.before_request(_start_timer)
    app.after_request(_observe)
    app.register_blueprint(blueprint)
