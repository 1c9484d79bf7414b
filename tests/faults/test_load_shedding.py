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


class _WaitingOnABank:
    """A WSGI app whose requests wait for ``answer`` as a gateway call does (slot given back)."""

    def __init__(self) -> None:
        self.answer = threading.Event()
        self.waiting = threading.Semaphore(0)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        from identity.slots import waiting_elsewhere
        if environ["PATH_INFO"] == "/pay":
            with waiting_elsewhere():
                self.waiting.release()
                self.answer.wait(10)
        start_response("200 OK", [("Content-Length", "2")])
        return [b"ok"]


def test_a_request_waiting_on_a_bank_gives_its_slot_to_another_meanwhile():
    inner = _WaitingOnABank()
    app = InFlightLimit(inner, limit=1, wait_seconds=0, retry_after=1)
    paid: list[str] = []
    payer = threading.Thread(target=lambda: paid.append(_call(app, "/pay")[0]))
    payer.start()
    assert inner.waiting.acquire(timeout=5)
    # The only slot is free while the bank has not answered: another request runs at once.
    assert _call(app)[0] == "200 OK" and app.shed == 0
    inner.answer.set()
    payer.join(5)
    assert paid == ["200 OK"]
    # The payer took a slot again to finish, and gave it back: the bound is whole.
    assert _call(app)[0] == "200 OK" and app.shed == 0
    blocking = _Blocking()
    bounded = InFlightLimit(blocking, limit=1, wait_seconds=0, retry_after=1)
    holder = threading.Thread(target=lambda: _call(bounded))
    holder.start()
    assert blocking.entered.acquire(timeout=5)
    assert _call(bounded)[0].startswith("503")  # without a wait elsewhere, the slot stays held
    blocking.release.set()
    holder.join(5)


def test_waiting_elsewhere_without_a_slot_changes_nothing():
    from identity.slots import Slots, waiting_elsewhere
    slots = Slots(1)
    with waiting_elsewhere():  # a CLI or a job: no slot held, nothing to give back
        assert slots.take(0)
    slots.give_back()
    assert slots.take(0)  # one slot, free again
    slots.give_back()


def test_the_gateway_client_waits_for_the_bank_outside_its_slot(monkeypatch):
    from identity import slots
    from utilities.payments import gateway

    held_during_call: list[object] = []
    transport = gateway.PooledTransport()

    def exchange(*args: Any, **kwargs: Any) -> Any:
        held_during_call.append(getattr(slots._held, "slots", None))
        return 200, b"{}"

    monkeypatch.setattr(transport, "_exchange", exchange)
    work = slots.Slots(1)
    assert work.take(0)
    try:
        assert transport("GET", "http://bank.test/api", {}, None, 1.0) == (200, b"{}")
        assert held_during_call == [None]  # given back while the bank answered
        assert getattr(slots._held, "slots", None) is work  # and held again after
    finally:
        work.give_back()
