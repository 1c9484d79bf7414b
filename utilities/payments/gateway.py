"""Payment providers: the interface, HMAC signing, and the HTTP client of a bank gateway.

A provider is anything that satisfies :class:`PaymentProvider`. The one real
shaped provider here is :class:`HttpProvider`, which speaks JSON over HTTP to
a bank gateway (in development and tests, the simulator of
``flask payments gateway-sim``, :mod:`app.gateway_simulator`):

- ``POST /api/payments``: create a payment for our attempt reference; the
  answer is the provider's reference and the URL the app opens at the bank.
  Idempotent on our reference, so a retry never makes a second payment.
- ``GET /api/payments/<our reference>``: the state of a payment (``pending``,
  ``succeeded``, ``failed``), or 404 when the gateway never received it.
- ``POST /api/payments/<our reference>/refunds``: refund, idempotent on our
  refund reference.

Both directions are signed with HMAC-SHA256 and a shared secret:
``X-Signature`` is the hex HMAC over ``<X-Timestamp>.<signed text>``, where
the signed text is the body for callbacks and ``METHOD path\\nbody`` for our
requests (a signature cannot be moved to another endpoint). A timestamp more
than :data:`MAX_SKEW_SECONDS` from now is refused, which bounds replays; the
callback table's unique event id makes a replay inside that window harmless.

The client keeps its connections to a gateway open between calls (HTTP/1.1 keep-alive, one
per thread, :class:`PooledTransport`): a payment does not pay for a new TCP (and, in
production, TLS) handshake with the bank each time. Failures are typed:
:class:`ProviderDeclined` when the gateway refused for good (the attempt failed),
:class:`ProviderUnavailable` when the outcome is unknown (timeout, connection refused, 5xx,
a connection lost before the answer): the attempt stays ``pending`` and reconciliation asks
again later.
"""
from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import os
import select
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

from identity.slots import waiting_elsewhere
from utilities.payments.errors import BadSignature, StaleCallback

SIGNATURE_HEADER = "X-Signature"
TIMESTAMP_HEADER = "X-Timestamp"
#: How far a signed timestamp may be from now, either way.
MAX_SKEW_SECONDS = 300

#: Banks a citizen can choose (code → name). The gateway refuses any other code.
BANKS: dict[str, str] = {
    "VCB": "Vietcombank", "BIDV": "BIDV", "CTG": "VietinBank", "AGR": "Agribank",
    "TCB": "Techcombank", "MBB": "MB Bank", "ACB": "ACB", "VPB": "VPBank",
    "TPB": "TPBank", "STB": "Sacombank",
}

#: Provider answers about a payment.
PENDING, SUCCEEDED, FAILED, NOT_FOUND = "pending", "succeeded", "failed", "not_found"


def sign(secret: str | bytes, timestamp: str, text: bytes) -> str:
    """The hex HMAC-SHA256 over ``<timestamp>.<text>``."""
    key = secret.encode() if isinstance(secret, str) else secret
    return hmac.new(key, timestamp.encode() + b"." + text, hashlib.sha256).hexdigest()


def verify_signature(secret: str | bytes, *, timestamp: str | None, signature: str | None,
                     text: bytes, now: float,
                     max_skew: int = MAX_SKEW_SECONDS) -> None:
    """Raise :class:`BadSignature` or :class:`StaleCallback`; return quietly when it verifies.

    The signature is checked first (in constant time), so an unsigned caller
    learns nothing about our clock.
    """
    if not timestamp or not signature or not timestamp.isdigit() or len(timestamp) > 12:
        raise BadSignature()
    expected = sign(secret, timestamp, text)
    if not hmac.compare_digest(expected, signature.strip().lower()):
        raise BadSignature()
    if abs(now - int(timestamp)) > max_skew:
        raise StaleCallback()


@dataclass(frozen=True)
class ProviderPayment:
    """The provider's answer to a new payment."""

    provider_reference: str
    redirect_url: str
    status: str = PENDING


@dataclass(frozen=True)
class ProviderStatus:
    """What the provider says of a payment now."""

    status: str  # pending, succeeded, failed, not_found
    amount: int | None = None
    provider_reference: str | None = None
    failure_code: str | None = None


@dataclass(frozen=True)
class ProviderRefund:
    """The provider's answer to a refund."""

    provider_reference: str
    status: str


class ProviderError(Exception):
    """A provider call that did not give the answer asked for."""


class ProviderUnavailable(ProviderError):
    """No usable answer (network, timeout, 5xx): the outcome is unknown, ask again later."""


class ProviderDeclined(ProviderError):
    """The provider refused for good (unknown bank, bad amount, refused refund)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


class PaymentProvider(Protocol):
    """What the payment service needs of a payment provider."""

    name: str

    def create_payment(self, *, reference: str, amount: int, bank: str, description: str,
                       return_url: str, callback_url: str) -> ProviderPayment:
        """Start a payment for our ``reference`` (idempotent on it)."""

    def get_status(self, reference: str) -> ProviderStatus:
        """The state of the payment of our ``reference``."""

    def refund(self, *, payment_reference: str, refund_reference: str,
               amount: int) -> ProviderRefund:
        """Refund ``amount`` of a succeeded payment (idempotent on ``refund_reference``)."""

    def verify_callback(self, *, timestamp: str | None, signature: str | None, body: bytes,
                        now: float) -> None:
        """Raise unless a callback's body is signed by this provider, recently."""


#: ``(method, url, headers, body, timeout)`` → ``(status, body)``; raises ``ProviderUnavailable``.
Transport = Callable[[str, str, Mapping[str, str], bytes | None, float], tuple[int, bytes]]


class PooledTransport:
    """HTTP/1.1 exchanges over connections kept open between calls: one per thread and gateway
    (the standard library's ``http.client``), which a request's thread reuses for its next call.

    A connection the gateway closed while idle is found before it is reused (a poll of its
    socket: readable means closed, or bytes nobody asked for) and opened again; one that breaks
    during an exchange is an unknown outcome like a timeout: the exchange is not sent again,
    the caller hears :class:`ProviderUnavailable` and the attempt is left to reconciliation,
    which asks the gateway by our reference. Redirects are not followed. Connections are
    opened in the process and thread that use them (never one inherited across a fork), as
    many as threads call a gateway, and closed when their thread's next call finds them
    dropped, or by :meth:`close`.

    urllib3's pool did the same at about twice the CPU of an exchange (its pool, its retry and
    timeout objects, its response wrapper around ``http.client``'s): 14.8 % of a granian
    worker's samples under the payments bench against 6.2 % for ``http.client``'s own request
    and response (``py-spy record --gil``, ``docs/benchmarks.md``, run AC).
    """

    def __init__(self) -> None:
        self._local = threading.local()
        self._opened: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()

    def _connection(self, scheme: str, netloc: str, timeout: float) -> http.client.HTTPConnection:
        kept: tuple[int, dict[tuple[str, str], http.client.HTTPConnection]] | None = getattr(
            self._local, "kept", None)
        if kept is None or kept[0] != os.getpid():
            kept = self._local.kept = (os.getpid(), {})
        connection = kept[1].get((scheme, netloc))
        if connection is not None and connection.sock is not None and _dropped(connection.sock):
            connection.close()  # opened again by its next request
        if connection is None:
            kind = http.client.HTTPSConnection if scheme == "https" else http.client.HTTPConnection
            connection = kept[1][(scheme, netloc)] = kind(netloc, timeout=timeout)
            with self._lock:
                self._opened.append(connection)
        connection.timeout = timeout
        if connection.sock is not None:
            connection.sock.settimeout(timeout)
        return connection

    def __call__(self, method: str, url: str, headers: Mapping[str, str], body: bytes | None,
                 timeout: float) -> tuple[int, bytes]:
        """One exchange; any failure to get a whole answer is :class:`ProviderUnavailable`."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ProviderUnavailable("ValueError")
        connection = self._connection(parts.scheme, parts.netloc, timeout)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        try:
            # The request's work slot is another request's while the bank answers.
            with waiting_elsewhere():
                return self._exchange(connection, method, target, headers, body)
        except (http.client.HTTPException, OSError, ValueError) as error:
            connection.close()
            raise ProviderUnavailable(type(error).__name__) from None

    @staticmethod
    def _exchange(connection: http.client.HTTPConnection, method: str, target: str,
                  headers: Mapping[str, str], body: bytes | None) -> tuple[int, bytes]:
        """The request sent and its whole answer read, on ``connection``."""
        connection.request(method, target, body=body, headers=dict(headers))
        answer = connection.getresponse()
        return int(answer.status), answer.read()

    def close(self) -> None:
        """Close every connection opened (tests; a process that ends closes them anyway)."""
        with self._lock:
            opened, self._opened = self._opened, []
        for connection in opened:
            connection.close()


def _dropped(sock: socket.socket) -> bool:
    """Whether an idle kept connection's socket is readable: the gateway closed it (or sent
    what nobody asked for), so it must not carry the next exchange."""
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    return bool(poller.poll(0))


#: The transport of every :class:`HttpProvider` made without one: one pool per process.
http_transport = PooledTransport()


class HttpProvider:
    """A bank gateway over signed JSON/HTTP (the simulator's protocol, described above)."""

    def __init__(self, name: str, *, base_url: str, secret: str, merchant_id: str = "vnid",
                 timeout: float = 5.0, transport: Transport | None = None) -> None:
        self.name = name
        self.base_url = base_url.rstrip("/")
        self._secret = secret
        self.merchant_id = merchant_id
        self.timeout = timeout
        self.transport = transport or http_transport

    def _call(self, method: str, path: str,
              payload: Mapping[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
        body = b"" if payload is None else json.dumps(payload, separators=(",", ":")).encode()
        timestamp = str(int(time.time()))
        headers = {"Content-Type": "application/json", "Accept": "application/json",
                   "X-Merchant": self.merchant_id, TIMESTAMP_HEADER: timestamp,
                   SIGNATURE_HEADER: sign(self._secret, timestamp,
                                          f"{method} {path}\n".encode() + body)}
        status, raw = self.transport(method, self.base_url + path, headers,
                                     body if payload is not None else None, self.timeout)
        if status >= 500:
            raise ProviderUnavailable(f"http {status}")
        try:
            data = json.loads(raw or b"{}")
        except ValueError:
            raise ProviderUnavailable("unreadable answer") from None
        if not isinstance(data, dict):
            raise ProviderUnavailable("unreadable answer")
        return status, data

    @staticmethod
    def _declined(status: int, data: Mapping[str, Any]) -> ProviderDeclined:
        return ProviderDeclined(str(data.get("error") or f"http_{status}")[:64])

    def create_payment(self, *, reference: str, amount: int, bank: str, description: str,
                       return_url: str, callback_url: str) -> ProviderPayment:
        """``POST /api/payments`` (see the module's doc)."""
        status, data = self._call("POST", "/api/payments", {
            "merchant_reference": reference, "amount": amount, "currency": "VND", "bank": bank,
            "description": description, "return_url": return_url,
            "callback_url": callback_url})
        if status in (401, 403):  # our own signature refused: a configuration fault, not final
            raise ProviderUnavailable(f"http {status}")
        if status >= 400:
            raise self._declined(status, data)
        try:
            return ProviderPayment(provider_reference=str(data["provider_reference"]),
                                   redirect_url=str(data["redirect_url"]),
                                   status=str(data.get("status", PENDING)))
        except KeyError:
            raise ProviderUnavailable("incomplete answer") from None

    def get_status(self, reference: str) -> ProviderStatus:
        """``GET /api/payments/<reference>``."""
        status, data = self._call("GET", f"/api/payments/{reference}")
        if status == 404:
            return ProviderStatus(status=NOT_FOUND)
        if status >= 400:
            raise ProviderUnavailable(f"http {status}")
        amount = data.get("amount")
        return ProviderStatus(status=str(data.get("status", PENDING)),
                              amount=amount if isinstance(amount, int) else None,
                              provider_reference=data.get("provider_reference"),
                              failure_code=data.get("failure_code"))

    def refund(self, *, payment_reference: str, refund_reference: str,
               amount: int) -> ProviderRefund:
        """``POST /api/payments/<reference>/refunds``."""
        status, data = self._call("POST", f"/api/payments/{payment_reference}/refunds",
                                  {"refund_reference": refund_reference, "amount": amount})
        if status in (401, 403):
            raise ProviderUnavailable(f"http {status}")
        if status >= 400:
            raise self._declined(status, data)
        return ProviderRefund(provider_reference=str(data.get("provider_reference", "")),
                              status=str(data.get("status", SUCCEEDED)))

    def verify_callback(self, *, timestamp: str | None, signature: str | None, body: bytes,
                        now: float) -> None:
        """HMAC over ``<timestamp>.<body>`` with the shared secret, timestamp within 5 minutes."""
        verify_signature(self._secret, timestamp=timestamp, signature=signature, text=body,
                         now=now)
