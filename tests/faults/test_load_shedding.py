"""Load shedding (``app/load_shedding.py``): past the in-flight bound, 503 at once, never a hang."""
from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest

from app.load_shedding import InFlightLimit


class _Blocking:
    """A WSGI app whose requests wait for ``release``; counts those inside."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.inside = 0
        self.entered = threading.Semaphore(0)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        self.inside += 1
        self.entered.release()
        self.release.wait(10)
        start_response("200 OK", [("Content-Length", "2")])
        return [b"ok"]


def _call(app: Any, path: str = "/api/v1/me") -> tuple[str, dict[str, str], bytes]:
    seen: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]]) -> None:
        seen["status"], seen["headers"] = status, dict(headers)

    result = app({"PATH_INFO": path, "REQUEST_METHOD": "GET"}, start_response)
    body = b"".join(result)
    if hasattr(result, "close"):
        result.close()
    return seen["status"], seen["headers"], body


def test_requests_past_the_bound_are_refused_at_once_with_retry_after():
    inner = _Blocking()
    app = InFlightLimit(inner, limit=2, wait_seconds=0, retry_after=3)
    answers: list[str] = []
    threads = [threading.Thread(target=lambda: answers.append(_call(app)[0])) for _ in range(2)]
    for thread in threads:
        thread.start()
    for _ in range(2):
        assert inner.entered.acquire(timeout=5)
    started = time.perf_counter()
    status, headers, body = _call(app)
    assert time.perf_counter() - started < 0.5
    assert status.startswith("503") and headers["Retry-After"] == "3"
    assert json.loads(body) == {"status": 503, "code": "service.overloaded",
                                "message": json.loads(body)["message"], "errors": {}}
    # Health checks are never shed: a busy node is not a dead one.
    health = threading.Thread(target=lambda: answers.append(_call(app, "/healthz")[0]))
    health.start()
    assert inner.entered.acquire(timeout=5)
    inner.release.set()
    for thread in (*threads, health):
        thread.join(5)
    assert answers == ["200 OK"] * 3 and app.shed == 1
    assert _call(app)[0] == "200 OK"  # the slots came back when the answers were built


def test_a_short_wait_admits_a_request_when_a_slot_frees_in_time():
    inner = _Blocking()
    app = InFlightLimit(inner, limit=1, wait_seconds=2, retry_after=1)
    first = threading.Thread(target=lambda: _call(app))
    first.start()
    assert inner.entered.acquire(timeout=5)
    threading.Timer(0.2, inner.release.set).start()
    assert _call(app)[0] == "200 OK"
    first.join(5)
    assert app.shed == 0


@pytest.mark.parametrize("limit, installed", [(0, False), (2, True)])
def test_the_bound_comes_from_the_configuration(tmp_path, limit, installed):
    from app import create_app
    from config import load_config
    settings = load_config("testing", {"DATABASE_URL": f"sqlite:///{tmp_path / 'x.sqlite3'}",
                                       "MAX_IN_FLIGHT": str(limit)})
    application = create_app(settings)
    assert ("in_flight_limit" in application.extensions) is installed
    if installed:
        assert application.extensions["in_flight_limit"].limit == 2
        assert application.wsgi_app is application.extensions["in_flight_limit"]
    # Answers nobody reads or closes do not keep their slots (the test client's way).
    client = application.test_client()
    assert all(client.get("/api/v1/admin-units/provinces").status_code == 200
               for _ in range(10))
