"""A bank gateway simulator: the provider side of :class:`~utilities.payments.gateway.HttpProvider`.

Run it as its own process with ``flask payments gateway-sim`` (its own port),
or in a thread with :func:`serve` (tests, benches). It keeps its payments in
memory, like a sandbox of a real gateway, and behaves like one:

- ``POST /api/payments`` (signed by the merchant): answers a provider
  reference and the URL of the bank's page; the same merchant reference
  gives back the same payment (idempotent); an unknown bank or a bad amount
  is a 422 with ``error``.
- A moment later (``delay``), the payment completes as the *mode* says and
  the gateway calls the merchant's ``callback_url`` with a signed JSON body
  (``X-Timestamp``, ``X-Signature``), retrying a few times on failure.
- ``GET /api/payments/<merchant reference>``: the state, or 404.
- ``POST /api/payments/<merchant reference>/refunds``: a refund, idempotent
  on ``refund_reference``.
- ``GET /pay/<provider reference>``: the "bank page" the app opens.

Modes, for tests and demos (``--mode``, or ``POST /_sim/mode``, or the
``mode`` attribute): ``succeed``; ``fail``; ``never`` (succeeds, never calls
back: only reconciliation finds out); ``twice`` (the same callback twice);
``late`` (completes after ``delay``, calls back only after ``late_delay``);
``mismatch`` (charges and reports another amount); ``hold`` (stays pending).
``GET /_sim/stats`` counts payments, charges (payments that took money), refunds
and callbacks sent. The ``/_sim`` endpoints are the simulator's own: no real gateway has them.

A development tool, on the standard library's threaded HTTP server (HTTP/1.1, connections kept
alive), so it lives in the Flask shell, not in ``utilities/``.
"""
from __future__ import annotations

import datetime as dt
import heapq
import html
import io
import itertools
import json
import logging
import queue
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from collections.abc import Callable, Iterable

from werkzeug.wrappers import Request, Response

from utilities.payments.gateway import (BANKS, FAILED, PENDING, SIGNATURE_HEADER, SUCCEEDED,
                                        TIMESTAMP_HEADER, PooledTransport, ProviderUnavailable,
                                        sign, verify_signature)
from utilities.payments.errors import BadSignature, StaleCallback

log = logging.getLogger("vnid.payments.simulator")

MODES = ("succeed", "fail", "never", "twice", "late", "mismatch", "hold")
#: What ``mismatch`` adds to the amount it charges.
MISMATCH_EXTRA = 1000


class Scheduler:
    """Runs jobs a given time from now on a few threads kept for it, as a gateway's job queue
    would (the simulator used to start a thread per payment: 14 % of its CPU in the payments
    bench, ``py-spy`` under ``tools.cpu_split pay``).

    One thread waits for the earliest job's time and hands due jobs to ``workers`` threads; a
    job that blocks (a callback's HTTP exchange and its retries) holds one worker, not the
    clock. All are daemon threads, started on the first job: nothing keeps a process alive.
    """

    def __init__(self, workers: int = 8) -> None:
        self.workers = workers
        self._due: list[tuple[float, int, Callable[[], None]]] = []
        self._order = itertools.count()  # equal times run in the order they were asked for
        self._changed = threading.Condition()
        self._ready: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._started = False

    def after(self, delay: float, job: Callable[[], None]) -> None:
        """Run ``job()`` ``delay`` seconds from now (an exception is logged, not raised)."""
        with self._changed:
            heapq.heappush(self._due, (time.monotonic() + delay, next(self._order), job))
            if not self._started:
                self._started = True
                threading.Thread(target=self._clock, name="gateway-sim-clock",
                                 daemon=True).start()
                for number in range(self.workers):
                    threading.Thread(target=self._work, name=f"gateway-sim-{number}",
                                     daemon=True).start()
            self._changed.notify()

    def _clock(self) -> None:
        while True:
            with self._changed:
                while not self._due or self._due[0][0] > time.monotonic():
                    self._changed.wait(self._due[0][0] - time.monotonic() if self._due else None)
                _, _, job = heapq.heappop(self._due)
            self._ready.put(job)

    def _work(self) -> None:
        while True:
            job = self._ready.get()
            try:
                job()
            except Exception:  # noqa: BLE001 - a simulator's job fails alone
                log.exception("simulator job failed")


@dataclass
class SimPayment:
    """One payment held by the simulated gateway."""

    merchant_reference: str
    provider_reference: str
    amount: int
    bank: str
    callback_url: str
    mode: str
    status: str = PENDING
    charged: int | None = None
    refunds: dict[str, int] = field(default_factory=dict)
    events: int = 0


class GatewaySimulator:
    """The simulated gateway: a WSGI application with its in-memory payments."""

    def __init__(self, secret: str, *, mode: str = "succeed", delay: float = 0.5,
                 late_delay: float = 5.0, public_url: str = "",
                 callback_retries: Iterable[float] = (0.5, 1.0, 2.0)) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}")
        self._secret = secret
        self.mode, self.delay, self.late_delay = mode, delay, late_delay
        self.public_url = public_url.rstrip("/")
        self.callback_retries = tuple(callback_retries)
        self.payments: dict[str, SimPayment] = {}
        self._lock = threading.Lock()
        self.callbacks_sent = 0
        self.callbacks_failed = 0
        #: Where to call back instead of each payment's ``callback_url`` (benches: the service's
        #: port is known only once it serves).
        self.callback_override: str | None = None
        #: Callbacks go out over kept-alive connections, as a gateway's would.
        self._callbacks = PooledTransport()
        #: Completions and callbacks, at their time.
        self._scheduler = Scheduler()

    # --- the merchant API ---------------------------------------------------------------------

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        request = Request(environ)
        try:
            response = self._route(request)
        except Exception:  # noqa: BLE001 - a simulator answers, it does not crash
            log.exception("simulator error")
            response = _json({"error": "internal"}, 500)
        return response(environ, start_response)

    def _route(self, request: Request) -> Response:
        path, method = request.path, request.method
        if path.startswith("/_sim/"):
            return self._control(request)
        if path.startswith("/pay/") and method == "GET":
            return self._bank_page(path[len("/pay/"):])
        if not path.startswith("/api/payments"):
            return _json({"error": "not_found"}, 404)
        body = request.get_data()
        try:
            verify_signature(self._secret, timestamp=request.headers.get(TIMESTAMP_HEADER),
                             signature=request.headers.get(SIGNATURE_HEADER),
                             text=f"{method} {path}\n".encode() + body, now=time.time())
        except (BadSignature, StaleCallback) as error:
            return _json({"error": error.code}, 401)
        parts = path.strip("/").split("/")  # api, payments, [ref], [refunds]
        if parts == ["api", "payments"] and method == "POST":
            return self._create(_body(body))
        if len(parts) == 3 and method == "GET":
            return self._status(parts[2])
        if len(parts) == 4 and parts[3] == "refunds" and method == "POST":
            return self._refund(parts[2], _body(body))
        return _json({"error": "not_found"}, 404)

    def _create(self, data: dict[str, Any]) -> Response:
        reference, amount = data.get("merchant_reference"), data.get("amount")
        if not isinstance(reference, str) or not 1 <= len(reference) <= 64:
            return _json({"error": "merchant_reference_invalid"}, 422)
        if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
            return _json({"error": "amount_invalid"}, 422)
        if data.get("currency") != "VND":
            return _json({"error": "currency_unsupported"}, 422)
        if data.get("bank") not in BANKS:
            return _json({"error": "bank_unknown"}, 422)
        callback_url = data.get("callback_url")
        if not isinstance(callback_url, str) or not callback_url.startswith(
                ("http://", "https://")):
            return _json({"error": "callback_url_invalid"}, 422)
        with self._lock:
            payment = self.payments.get(reference)
            if payment is not None:  # idempotent on the merchant's reference
                if payment.amount != amount:
                    return _json({"error": "reference_reused"}, 409)
                return _json(self._created(payment), 200)
            payment = SimPayment(merchant_reference=reference,
                                 provider_reference="SIM" + secrets.token_hex(8).upper(),
                                 amount=amount, bank=str(data["bank"]),
                                 callback_url=callback_url, mode=self.mode)
            self.payments[reference] = payment
        if payment.mode != "hold":
            self._scheduler.after(self.delay, lambda: self._complete(payment))
        return _json(self._created(payment), 201)

    def _created(self, payment: SimPayment) -> dict[str, Any]:
        return {"provider_reference": payment.provider_reference, "status": payment.status,
                "redirect_url": f"{self.public_url}/pay/{payment.provider_reference}"}

    def _status(self, reference: str) -> Response:
        payment = self.payments.get(reference)
        if payment is None:
            return _json({"error": "not_found"}, 404)
        return _json({"merchant_reference": reference, "status": payment.status,
                      "amount": payment.charged if payment.charged is not None
                      else payment.amount,
                      "provider_reference": payment.provider_reference,
                      "refunded": sum(payment.refunds.values())}, 200)

    def _refund(self, reference: str, data: dict[str, Any]) -> Response:
        refund_reference, amount = data.get("refund_reference"), data.get("amount")
        with self._lock:
            payment = self.payments.get(reference)
            if payment is None:
                return _json({"error": "not_found"}, 404)
            if payment.status != SUCCEEDED:
                return _json({"error": "not_refundable"}, 409)
            if not isinstance(refund_reference, str) or not isinstance(amount, int):
                return _json({"error": "refund_invalid"}, 422)
            if refund_reference not in payment.refunds:
                if sum(payment.refunds.values()) + amount > (payment.charged or 0):
                    return _json({"error": "refund_exceeds_payment"}, 422)
                payment.refunds[refund_reference] = amount
        return _json({"provider_reference": "RF" + refund_reference[-12:].upper(),
                      "status": SUCCEEDED}, 200)

    def _bank_page(self, provider_reference: str) -> Response:
        payment = next((p for p in list(self.payments.values())
                        if p.provider_reference == provider_reference), None)
        if payment is None:
            return Response("No such payment.", status=404, mimetype="text/plain")
        page = (f"<!doctype html><title>Bank gateway (simulator)</title>"
                f"<h1>{html.escape(BANKS.get(payment.bank, payment.bank))}</h1>"
                f"<p>Payment {html.escape(payment.provider_reference)}: "
                f"{payment.amount:,} VND, {html.escape(payment.status)}.</p>")
        return Response(page, mimetype="text/html")

    # --- completing payments and calling back --------------------------------------------------

    def _complete(self, payment: SimPayment) -> None:
        with self._lock:
            if payment.status != PENDING:
                return
            if payment.mode == "fail":
                payment.status = FAILED
            else:
                payment.status = SUCCEEDED
                payment.charged = payment.amount + (MISMATCH_EXTRA if payment.mode == "mismatch"
                                                    else 0)
        if payment.mode == "never":
            return
        if payment.mode == "late":  # the money moved now; the news comes much later
            self._scheduler.after(max(0.0, self.late_delay - self.delay),
                                  lambda: self._call_back(payment))
            return
        self._call_back(payment)

    def _call_back(self, payment: SimPayment) -> None:
        event_id = self.send_callback(payment)
        if payment.mode == "twice":
            self.send_callback(payment, event_id=event_id)

    def callback_body(self, payment: SimPayment, event_id: str) -> bytes:
        """The JSON body of a callback about ``payment``."""
        return json.dumps({
            "event_id": event_id, "merchant_reference": payment.merchant_reference,
            "provider_reference": payment.provider_reference, "status": payment.status,
            "amount": payment.charged if payment.charged is not None else payment.amount,
            "currency": "VND",
            "occurred_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        }, separators=(",", ":")).encode()

    def send_callback(self, payment: SimPayment, *, event_id: str | None = None) -> str:
        """POST a signed callback to the merchant, retrying on failure; the event id."""
        if event_id is None:
            payment.events += 1
            event_id = f"evt_{payment.provider_reference}_{payment.events}"
        body = self.callback_body(payment, event_id)
        for wait in (0.0, *self.callback_retries):
            time.sleep(wait)
            timestamp = str(int(time.time()))
            try:
                status, _answer = self._callbacks(
                    "POST", self.callback_override or payment.callback_url,
                    {"Content-Type": "application/json", TIMESTAMP_HEADER: timestamp,
                     SIGNATURE_HEADER: sign(self._secret, timestamp, body)}, body, 10.0)
            except ProviderUnavailable:
                continue
            if status < 500:  # taken (2xx), or refused for good by the merchant (4xx)
                self.callbacks_sent += 1
                return event_id
        self.callbacks_failed += 1
        return event_id

    # --- the simulator's own controls ------------------------------------------------------------

    def stats(self) -> dict[str, int]:
        """Payments, charges (payments that took money), refunds and callbacks so far."""
        with self._lock:
            payments = list(self.payments.values())
        return {"payments": len(payments),
                "charges": sum(1 for p in payments if p.charged is not None),
                "refunds": sum(len(p.refunds) for p in payments),
                "callbacks_sent": self.callbacks_sent,
                "callbacks_failed": self.callbacks_failed}

    def _control(self, request: Request) -> Response:
        if request.path == "/_sim/stats" and request.method == "GET":
            return _json(self.stats(), 200)
        if request.path == "/_sim/mode" and request.method == "POST":
            data = _body(request.get_data())
            if data.get("mode") not in MODES:
                return _json({"error": "mode_unknown", "modes": list(MODES)}, 422)
            self.mode = str(data["mode"])
            if isinstance(data.get("delay"), (int, float)):
                self.delay = float(data["delay"])
            return _json({"mode": self.mode, "delay": self.delay}, 200)
        return _json({"error": "not_found"}, 404)


def _body(raw: bytes) -> dict[str, Any]:
    try:
        data = json.loads(raw or b"{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _json(data: Any, status: int) -> Response:
    return Response(json.dumps(data), status=status, mimetype="application/json")


class _KeepAliveHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 with connections kept alive between requests, as a bank gateway keeps them
    (werkzeug's development server closes each one), for the simulator's WSGI app: every
    answer carries its ``Content-Length``, every request body is read whole. No access log
    line per request (tests and benches send thousands)."""

    protocol_version = "HTTP/1.1"
    #: An answer goes out as its header's write and then its body's: with Nagle's algorithm on,
    #: the body waited for the client's delayed ACK of the header, 40 ms on Linux (44 ms a
    #: request against 0.39 ms without, measured with urllib3 on this machine). Real gateways'
    #: servers set ``TCP_NODELAY``; so does this one.
    disable_nagle_algorithm = True
    app: Callable[..., Any]

    def _serve(self) -> None:
        declared = self.headers.get("Content-Length") or "0"
        if not declared.isdigit() or int(declared) > 1_000_000:
            self.close_connection = True  # the body's end is unknown: nothing after it is read
            self.send_error(400, "Bad Content-Length")
            return
        length = int(declared)
        body = self.rfile.read(length) if length > 0 else b""
        path, _, query = self.path.partition("?")
        host, port = self.server.server_address[:2]  # type: ignore[index,str-unpack]
        environ = {
            "REQUEST_METHOD": self.command, "PATH_INFO": path, "QUERY_STRING": query,
            "SERVER_NAME": str(host), "SERVER_PORT": str(port),
            "SERVER_PROTOCOL": self.request_version, "REMOTE_ADDR": self.client_address[0],
            "REMOTE_PORT": self.client_address[1], "CONTENT_LENGTH": str(len(body)),
            "CONTENT_TYPE": self.headers.get("Content-Type", ""), "wsgi.input": io.BytesIO(body),
            "wsgi.url_scheme": "http", "wsgi.errors": io.StringIO(), "wsgi.version": (1, 0),
            "wsgi.multithread": True, "wsgi.multiprocess": False, "wsgi.run_once": False,
            **{"HTTP_" + name.upper().replace("-", "_"): value
               for name, value in self.headers.items()
               if name.lower() not in ("content-length", "content-type")}}
        answer: list[Any] = []
        chunks = self.app(environ, lambda status, headers, exc_info=None: answer.extend(
            (status, headers)))
        data = b"".join(chunks)
        status, headers = answer
        self.send_response(int(status.split(" ", 1)[0]), status.partition(" ")[2])
        for name, value in headers:
            if name.lower() not in ("content-length", "connection"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = _serve

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the stdlib's name)
        pass


class SimulatorServer(ThreadingHTTPServer):
    """The simulator's server: a thread per connection, kept alive between requests."""

    daemon_threads = True


def make_simulator_server(simulator: GatewaySimulator, host: str,
                          port: int) -> SimulatorServer:
    """The simulator on ``host:port`` (port 0: any free one), not yet serving."""
    handler = type("SimulatorHandler", (_KeepAliveHandler,), {"app": simulator})
    return SimulatorServer((host, port), handler)


def serve(simulator: GatewaySimulator, host: str = "127.0.0.1",
          port: int = 0) -> tuple[SimulatorServer, str]:
    """Serve the simulator from a daemon thread; the server and its base URL (port 0: any)."""
    server = make_simulator_server(simulator, host, port)
    base_url = f"http://{host}:{server.server_port}"
    if not simulator.public_url:
        simulator.public_url = base_url
    thread = threading.Thread(target=server.serve_forever, name="gateway-sim", daemon=True)
    thread.start()
    return server, base_url
