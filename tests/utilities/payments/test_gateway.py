"""The provider interface: HMAC signing both ways, the HTTP client, and the real simulator."""
from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from app.gateway_simulator import GatewaySimulator, Scheduler, serve
from utilities.payments import gateway
from utilities.payments.errors import BadSignature, StaleCallback
from utilities.payments.gateway import HttpProvider, ProviderDeclined, ProviderUnavailable

SECRET = "s3cret"


def test_a_signature_verifies_only_with_its_secret_body_and_time():
    body, now = b'{"a":1}', time.time()
    stamp = str(int(now))
    signature = gateway.sign(SECRET, stamp, body)
    gateway.verify_signature(SECRET, timestamp=stamp, signature=signature, text=body, now=now)
    gateway.verify_signature(SECRET, timestamp=stamp, signature=signature.upper(), text=body,
                             now=now)
    for secret, text, sig in (("other", body, signature), (SECRET, b'{"a":2}', signature),
                              (SECRET, body, signature[:-1]), (SECRET, body, "")):
        with pytest.raises(BadSignature):
            gateway.verify_signature(secret, timestamp=stamp, signature=sig, text=text, now=now)
    for bad_stamp in (None, "", "12a", "-5", "9" * 13):
        with pytest.raises(BadSignature):
            gateway.verify_signature(SECRET, timestamp=bad_stamp, signature=signature,
                                     text=body, now=now)
    old = str(int(now) - 301)
    with pytest.raises(StaleCallback):
        gateway.verify_signature(SECRET, timestamp=old, signature=gateway.sign(SECRET, old, body),
                                 text=body, now=now)


class Recorder:
    """A transport that answers from a script and records the requests."""

    def __init__(self, *answers: tuple[int, Any]) -> None:
        self.answers = list(answers)
        self.requests: list[tuple[str, str, dict[str, str], bytes | None]] = []

    def __call__(self, method: str, url: str, headers: Any, body: bytes | None,
                 timeout: float) -> tuple[int, bytes]:
        self.requests.append((method, url, dict(headers), body))
        status, data = self.answers.pop(0)
        if isinstance(data, Exception):
            raise data
        return status, data if isinstance(data, bytes) else json.dumps(data).encode()


def _provider(transport: Recorder) -> HttpProvider:
    return HttpProvider("banksim", base_url="http://gw.test/", secret=SECRET,
                        transport=transport)


def _create(provider: HttpProvider) -> Any:
    return provider.create_payment(reference="pa_1", amount=7000, bank="VCB", description="x",
                                   return_url="vnid://p/1", callback_url="http://us/cb")


def test_the_client_signs_its_requests_and_reads_the_answer():
    transport = Recorder((201, {"provider_reference": "SIM1", "redirect_url": "http://gw/p"}))
    answer = _create(_provider(transport))
    assert (answer.provider_reference, answer.redirect_url) == ("SIM1", "http://gw/p")
    method, url, headers, body = transport.requests[0]
    assert (method, url) == ("POST", "http://gw.test/api/payments")
    assert json.loads(body or b"")["amount"] == 7000
    gateway.verify_signature(SECRET, timestamp=headers["X-Timestamp"],
                             signature=headers["X-Signature"],
                             text=b"POST /api/payments\n" + (body or b""), now=time.time())


def test_the_client_tells_a_refusal_from_an_unknown_outcome():
    with pytest.raises(ProviderDeclined) as declined:
        _create(_provider(Recorder((422, {"error": "bank_unknown"}))))
    assert declined.value.code == "bank_unknown"
    for answer in ((500, {}), (503, b"oops"), (401, {"error": "sig"}), (201, {"no": "ref"}),
                   (200, b"not json"), (0, ProviderUnavailable("refused"))):
        with pytest.raises(ProviderUnavailable):
            _create(_provider(Recorder(answer)))


def test_the_client_reads_states_and_refunds():
    provider = _provider(Recorder((404, {"error": "not_found"}),
                                  (200, {"status": "succeeded", "amount": 7000,
                                         "provider_reference": "SIM1"}),
                                  (200, {"provider_reference": "RF1", "status": "succeeded"})))
    assert provider.get_status("pa_1").status == gateway.NOT_FOUND
    state = provider.get_status("pa_1")
    assert (state.status, state.amount, state.provider_reference) == ("succeeded", 7000, "SIM1")
    refund = provider.refund(payment_reference="pa_1", refund_reference="rf_1", amount=7000)
    assert (refund.provider_reference, refund.status) == ("RF1", "succeeded")


def test_the_transport_says_unavailable_when_nobody_listens():
    with pytest.raises(ProviderUnavailable):
        gateway.PooledTransport()("GET", "http://127.0.0.1:9/x", {}, None, 2)


def _client_ports(sim: Any, monkeypatch: Any) -> list[int]:
    """The client port of each request the simulator serves from now on."""
    seen: list[int] = []
    route = sim._route

    def remembering(request: Any) -> Any:
        seen.append(request.environ["REMOTE_PORT"])
        return route(request)

    monkeypatch.setattr(sim, "_route", remembering)
    return seen


def test_the_transport_keeps_its_connection_to_the_gateway_between_calls(
        simulator, monkeypatch):
    """One TCP connection for many calls (HTTP/1.1 keep-alive), on both sides: the simulator
    sees every request on the connection the first one opened."""
    sim, provider = simulator
    transport = gateway.PooledTransport()
    seen = _client_ports(sim, monkeypatch)
    try:
        client = HttpProvider("banksim", base_url=provider.base_url, secret=SECRET,
                              transport=transport)
        for n in range(5):
            client.create_payment(reference=f"pa_keep_{n}", amount=7000, bank="VCB",
                                  description="x", return_url="vnid://p",
                                  callback_url="http://us/cb")
    finally:
        transport.close()
    assert len(seen) == 5 and len(set(seen)) == 1  # one client port: one connection


@contextmanager
def _closing_gateway(answer: bytes | None) -> Iterator[tuple[str, list[int], threading.Thread]]:
    """A gateway on a socket of its own that takes up to two connections, reads a request on
    each, sends ``answer`` (None: nothing) and closes it: its URL, the connections it took
    and its thread."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    accepted: list[int] = []

    def serve() -> None:
        for _ in range(2):
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            accepted.append(1)
            connection.recv(65536)
            if answer is not None:
                connection.sendall(answer)
            connection.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/x", accepted, thread
    finally:
        listener.close()
        thread.join(timeout=2)


def test_an_answer_lost_with_its_connection_is_unavailable_and_not_sent_again():
    """A gateway that closes the connection before answering: the outcome is unknown, the
    exchange is not repeated (reconciliation asks by our reference instead)."""
    with _closing_gateway(None) as (url, accepted, _thread):
        with pytest.raises(ProviderUnavailable):
            gateway.PooledTransport()("POST", url, {}, b"{}", 2)
    assert accepted == [1]


def test_a_connection_the_gateway_closed_while_idle_is_opened_again():
    """A gateway that answers once and closes the kept connection: the next call finds it
    closed before sending, and goes out on a new one, answered."""
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\n{}"
    transport = gateway.PooledTransport()
    with _closing_gateway(answer) as (url, accepted, thread):
        try:
            assert transport("GET", url, {}, None, 2) == (200, b"{}")
            thread.join(timeout=0.5)  # the close reaches the client's socket
            assert transport("GET", url, {}, None, 2) == (200, b"{}")
        finally:
            transport.close()
    assert accepted == [1, 1]


def test_each_thread_keeps_its_own_connection(simulator, monkeypatch):
    """Two threads calling one gateway: two connections, each reused by its own thread."""
    sim, provider = simulator
    transport = gateway.PooledTransport()
    seen = _client_ports(sim, monkeypatch)
    client = HttpProvider("banksim", base_url=provider.base_url, secret=SECRET,
                          transport=transport)

    def pay(prefix: str) -> None:
        for n in range(3):
            client.get_status(f"{prefix}_{n}")

    try:
        threads = [threading.Thread(target=pay, args=(name,)) for name in ("a", "b")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        transport.close()
    assert len(seen) == 6 and len(set(seen)) == 2


@pytest.fixture()
def simulator() -> Any:
    sim = GatewaySimulator(SECRET, mode="hold")
    server, url = serve(sim)
    yield sim, HttpProvider("banksim", base_url=url, secret=SECRET)
    server.shutdown()
    server.server_close()


def test_the_simulator_over_http_is_idempotent_and_refunds_once(simulator):
    sim, provider = simulator
    first, again = _create(provider), _create(provider)
    assert first == again and sim.stats()["payments"] == 1
    assert first.redirect_url.endswith(f"/pay/{first.provider_reference}")
    assert provider.get_status("pa_1").status == "pending"
    assert provider.get_status("pa_unknown").status == "not_found"
    with pytest.raises(ProviderDeclined):  # nothing taken yet: nothing to refund
        provider.refund(payment_reference="pa_1", refund_reference="rf_1", amount=7000)
    sim.payments["pa_1"].status, sim.payments["pa_1"].charged = "succeeded", 7000
    for _ in range(2):
        provider.refund(payment_reference="pa_1", refund_reference="rf_1", amount=7000)
    assert sim.stats()["refunds"] == 1
    with pytest.raises(ProviderDeclined):
        provider.refund(payment_reference="pa_1", refund_reference="rf_2", amount=1)


def test_the_simulator_refuses_bad_requests(simulator):
    sim, provider = simulator
    with pytest.raises(ProviderDeclined) as declined:
        provider.create_payment(reference="pa_2", amount=7000, bank="XYZ", description="",
                                return_url="", callback_url="http://us/cb")
    assert declined.value.code == "bank_unknown"
    with pytest.raises(ProviderDeclined):
        provider.create_payment(reference="pa_3", amount=0, bank="VCB", description="",
                                return_url="", callback_url="http://us/cb")
    forged = HttpProvider("banksim", base_url=provider.base_url, secret="wrong")
    with pytest.raises(ProviderUnavailable):  # 401: our configuration, not the payment
        _create(forged)
    assert sim.stats()["payments"] == 0


def test_the_simulator_mode_control():
    with pytest.raises(ValueError):
        GatewaySimulator(SECRET, mode="sometimes")


def test_the_simulator_controls_and_bank_page_over_http(simulator):
    import urllib.error
    import urllib.request
    sim, provider = simulator
    request = urllib.request.Request(provider.base_url + "/_sim/mode", method="POST",
                                     data=json.dumps({"mode": "fail", "delay": 0.1}).encode())
    with urllib.request.urlopen(request) as answer:
        assert json.loads(answer.read()) == {"mode": "fail", "delay": 0.1}
    assert (sim.mode, sim.delay) == ("fail", 0.1)
    bad = urllib.request.Request(provider.base_url + "/_sim/mode", method="POST",
                                 data=b'{"mode": "sometimes"}')
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(bad)
    assert refused.value.code == 422
    refused.value.close()
    created = _create(provider)
    with urllib.request.urlopen(created.redirect_url) as page:
        assert b"7,000 VND" in page.read()
    time.sleep(0.5)  # failed after 0.1 s; its callback to an unreachable merchant is retried
    assert provider.get_status("pa_1").status == "failed"


@pytest.mark.parametrize("length", ["abc", "-5", "99999999"])
def test_the_simulator_answers_a_bad_content_length_with_400(simulator, length):
    """A development tool answers what it cannot read, and closes the connection."""
    import http.client

    _sim, provider = simulator
    host, port = provider.base_url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=5)
    try:
        connection.putrequest("POST", "/api/payments")
        connection.putheader("Content-Length", length)
        connection.endheaders()
        answer = connection.getresponse()
        assert answer.status == 400
        assert answer.getheader("Connection") == "close"
    finally:
        connection.close()


def test_the_simulator_s_scheduler_runs_jobs_in_time_order_on_its_own_threads():
    """Completions and callbacks run at their time on the scheduler's few threads, the earliest
    first whatever the order they were asked in; a job that fails leaves the others to run."""
    scheduler, ran, done = Scheduler(workers=1), [], threading.Event()

    def fails() -> None:
        raise RuntimeError("a job that fails")

    scheduler.after(0.3, lambda: (ran.append(("late", threading.current_thread().name)),
                                  done.set()))
    scheduler.after(0.1, lambda: ran.append(("soon", threading.current_thread().name)))
    scheduler.after(0.0, fails)
    scheduler.after(0.1, lambda: ran.append(("soon too", threading.current_thread().name)))
    assert done.wait(5)
    assert [what for what, _ in ran] == ["soon", "soon too", "late"]
    assert {thread for _, thread in ran} == {"gateway-sim-0"}
    before = threading.active_count()
    for _ in range(20):
        scheduler.after(0.0, lambda: None)
    assert threading.active_count() == before  # no thread per job
