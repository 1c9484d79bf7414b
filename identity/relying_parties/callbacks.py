"""Consent callbacks: where they may go, posting them there without a detour, and delivery.

A callback URL is registered by an operator, but it names a host that the
party controls, and DNS answers for that host can change at any time. So the
service checks the URL twice:

- at registration (``flask rp create``, ``flask rp set-callback``): the
  scheme (``https`` only when the policy says so, as in production), no
  credentials in it, and every address its host resolves to is public;
- before each send: the host is resolved again, every address is checked
  again, and the connection is made to the address that was checked (the
  TLS certificate is still verified against the host name). A rebinding
  between the check and the connection cannot happen: there is no second
  look-up.

Refused: loopback, private (RFC 1918, ULA), shared (CGNAT), link-local (the
cloud metadata address 169.254.169.254 among them), multicast, reserved,
unspecified and every other non-global address, IPv4 or IPv6, including
IPv4 addresses hidden in IPv6 (``::ffff:127.0.0.1``, 6to4, Teredo, NAT64)
and the numeric forms ``inet_aton`` accepts (``2130706433``, ``0x7f000001``,
``0177.0.0.1``). A policy that allows private addresses (development and the
test suite's local receivers) lets loopback, private and shared addresses
through, never the others. Redirects are never followed (a 3xx is a failed
delivery): the callback goes to the registered URL only.

Each delivery (:func:`deliver_callback`, run by the job queue) is signed
with the party's own HMAC key, kept sealed with the personal-data keys
(:func:`seal_callback_key`), as Stripe signs its webhooks.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import http.client
import ipaddress
import json
import re
import socket
import ssl
import time
from dataclasses import dataclass
from typing import Union
from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlalchemy.orm import Session

from identity import clock
from identity.audit.service import Actor, record_event
from identity.protection import Protector
from identity.relying_parties.errors import CallbackFailed, CallbackRefused, NoCallback
from identity.relying_parties.models import ConsentRequest, RelyingParty

IPAddress = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]

_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_THIS_NETWORK = ipaddress.ip_network("0.0.0.0/8")
_SHARED = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT (RFC 6598)
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")
#: What a host made only of digits, dots and hex prefixes looks like (inet_aton's forms).
_NUMERIC_HOST = re.compile(r"[0-9a-fA-FxX.]+")
#: The body of a callback answer that is read at most (the status is what counts).
_ANSWER_BYTES = 4096
#: How many deliveries of a callback are tried before it is marked failed.
CALLBACK_TRIES = 6
SIGNATURE_HEADER, TIMESTAMP_HEADER = "X-VNID-Signature", "X-VNID-Timestamp"
_KEY_CONTEXT = b"relying-party/callback-key/"


@dataclass(frozen=True)
class CallbackPolicy:
    """What callback URLs the deployment accepts (from the configuration, in ``app/``)."""

    https_only: bool = True
    allow_private: bool = False


#: The default of every service function: production's rules.
STRICT = CallbackPolicy()


@dataclass(frozen=True)
class Target:
    """A checked callback: where to connect (the checked address) and what to ask for."""

    scheme: str
    host: str
    port: int
    address: str
    path: str


def resolve_host(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (the tests replace this function)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def connect(address: tuple[str, int], timeout: float | None) -> socket.socket:
    """A TCP connection to an address already checked (the tests replace this function)."""
    return socket.create_connection(address, timeout)


def _literal(host: str) -> IPAddress | None:
    """The address a host names by itself (any numeric form), or None for a name."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if _NUMERIC_HOST.fullmatch(host):
        # 2130706433, 0x7f000001, 0177.0.0.1, 127.1: the C resolver reads these as IPv4.
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries (mapped, 6to4, Teredo, NAT64), if any."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in _NAT64 or address in _NAT64_LOCAL:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def address_allowed(address: IPAddress, policy: CallbackPolicy) -> bool:
    """Whether a callback may be sent to this address under the policy."""
    if isinstance(address, ipaddress.IPv6Address):
        inner = _embedded_ipv4(address)
        if inner is not None and not address_allowed(inner, policy):
            return False
        address = address.ipv4_mapped or address
    if (address.is_link_local or address.is_multicast or address.is_unspecified
            or address in _THIS_NETWORK):
        return False  # never, whatever the policy: metadata services, broadcast, nonsense
    if address.is_loopback:  # before is_reserved, which counts ::1 (in ::/8) as reserved
        return policy.allow_private
    if address.is_reserved:
        return False
    if address.is_global:
        return True
    local = address.is_private or address in _SHARED
    return policy.allow_private and local


def _refuse(reason: str) -> CallbackRefused:
    return CallbackRefused(f"The callback URL is refused: {reason}.", field="callback_url")


def _parts(url: str, policy: CallbackPolicy) -> tuple[str, str, int, str]:
    """Scheme, host, port and request path of an acceptable URL's text."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise _refuse("it is not a URL") from None
    schemes = ("https",) if policy.https_only else ("https", "http")
    if parts.scheme not in schemes:
        raise _refuse(f"the scheme must be {' or '.join(schemes)}")
    if not parts.hostname or parts.username is not None or parts.password is not None:
        raise _refuse("it needs a host and no credentials")
    if parts.fragment:
        raise _refuse("it may not have a fragment")
    host = parts.hostname.rstrip(".")
    if not host.isascii() or any(c in host for c in " /\\%@"):
        raise _refuse("the host must be written in ASCII (IDNA)")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return parts.scheme, host, port or (443 if parts.scheme == "https" else 80), path


def check(url: str, policy: CallbackPolicy) -> Target:
    """Resolve the URL's host now and check every address; the target to connect to.

    :class:`CallbackRefused` (422 ``rp.callback_url``) when the URL or any
    address is not allowed, or when the host does not resolve.
    """
    scheme, host, port, path = _parts(url, policy)
    literal = _literal(host)
    if literal is not None:
        addresses: list[IPAddress] = [literal]
    else:
        try:
            addresses = [ipaddress.ip_address(text.split("%", 1)[0])
                         for text in resolve_host(host, port)]
        except (OSError, UnicodeError, ValueError):
            raise _refuse("its host does not resolve") from None
    if not addresses:
        raise _refuse("its host does not resolve")
    if not all(address_allowed(address, policy) for address in addresses):
        raise _refuse("its host has a loopback, private, link-local, multicast or "
                      "reserved address")
    return Target(scheme=scheme, host=host, port=port, address=str(addresses[0]), path=path)


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """HTTP to an address that was checked, with the URL's host in the Host header."""

    def __init__(self, target: Target, timeout: float) -> None:
        super().__init__(target.host, target.port, timeout=timeout)
        self._address = target.address

    def connect(self) -> None:
        """Connect to the checked address, never to a fresh look-up of the host."""
        self.sock = connect((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to an address that was checked; the certificate is verified for the host."""

    def __init__(self, target: Target, timeout: float) -> None:
        self._tls = ssl.create_default_context()
        super().__init__(target.host, target.port, timeout=timeout, context=self._tls)
        self._address = target.address

    def connect(self) -> None:
        """Connect to the checked address; TLS with SNI and verification for the host name."""
        sock = connect((self._address, self.port), self.timeout)
        self.sock = self._tls.wrap_socket(sock, server_hostname=self.host)


def post(url: str, *, body: bytes, headers: dict[str, str], policy: CallbackPolicy,
         timeout: float) -> int:
    """POST ``body`` to the callback URL after checking it again; the answer's status.

    Raises :class:`CallbackRefused` when the URL or an address of its host is
    not allowed now, :class:`OSError` or :class:`http.client.HTTPException`
    when the exchange fails. A redirect is returned as its status, never
    followed.
    """
    target = check(url, policy)
    connection: http.client.HTTPConnection = (
        _PinnedHTTPSConnection(target, timeout) if target.scheme == "https"
        else _PinnedHTTPConnection(target, timeout))
    try:
        connection.request("POST", target.path, body=body, headers=headers)
        answer = connection.getresponse()
        answer.read(_ANSWER_BYTES)
        return answer.status
    finally:
        connection.close()


# --- Signing and delivery ------------------------------------------------------------------------

def seal_callback_key(protector: Protector, party: RelyingParty, key: str) -> None:
    """Keep the callback HMAC key sealed with the personal-data keys, bound to the party."""
    party.callback_key = protector.encrypt(key, context=_KEY_CONTEXT + party.client_id.encode())


def callback_key(protector: Protector, party: RelyingParty) -> bytes:
    """The party's callback HMAC key."""
    if party.callback_key is None:
        raise NoCallback()
    return protector.decrypt(party.callback_key,
                             context=_KEY_CONTEXT + party.client_id.encode()).encode()


def callback_signature(key: bytes, timestamp: str, body: bytes) -> str:
    """``sha256=<hex>`` of HMAC-SHA256 over ``timestamp.body`` (Stripe's scheme)."""
    return "sha256=" + hmac.new(key, timestamp.encode() + b"." + body,
                                hashlib.sha256).hexdigest()


#: The lock of one consent request's delivery, held until the transaction ends: the first
#: key names the kind of lock (callbacks), the second the request.
_DELIVERY_LOCK = sa.text("SELECT pg_advisory_xact_lock(7311, hashtext(:consent_id))")


def deliver_callback(*, db_session: Session, protector: Protector, consent_id: str,
                     timeout: float = 5.0, policy: CallbackPolicy = STRICT) -> str:
    """POST the decision to the party's registered callback, signed; the state afterwards.

    Idempotent: a request whose callback is not owed any more is left alone. One send at a
    time per request: a lock of its delivery is held from before the read to the commit of the
    outcome (a transaction-level advisory lock on PostgreSQL, :data:`_DELIVERY_LOCK`; SQLite's
    transaction holds its write lock), so a retry, the sweep or another worker that takes it
    meanwhile waits, then finds it delivered. The row itself is not locked: a party that
    fetches the consent from inside its callback handler is not kept waiting on the send it is
    answering. A worker that dies during the send releases the lock with its connection, and
    the job's retry sends again: the party may receive a decision twice, never two at once,
    and tells them apart by ``consent_request_id``. The URL is checked again under
    ``policy`` just before the send (its host resolved, every address checked, the connection
    made to the checked address, no redirect followed: :func:`post`). A failure (refused
    address, network, non-2xx) is counted and raised (:class:`CallbackFailed`),
    so the job queue retries it; after :data:`CALLBACK_TRIES` the callback is
    marked failed and the party learns the decision by polling.
    """
    if db_session.get_bind().dialect.name == "postgresql":
        db_session.execute(_DELIVERY_LOCK, {"consent_id": consent_id})
    request = db_session.get(ConsentRequest, consent_id, populate_existing=True)
    if request is None or request.callback_state != "pending":
        return "none" if request is None else request.callback_state
    party = request.party
    body = json.dumps({"event": "consent.decided", "consent_request_id": request.id,
                       "status": request.status}, separators=(",", ":")).encode()
    timestamp = str(int(time.time()))
    headers = {"Content-Type": "application/json", TIMESTAMP_HEADER: timestamp,
               SIGNATURE_HEADER: callback_signature(callback_key(protector, party),
                                                    timestamp, body)}
    request.callback_attempts += 1
    refused = False
    try:
        if party.callback_url is None:  # removed by the operator since the request
            raise CallbackRefused()
        status = post(party.callback_url, body=body, headers=headers, policy=policy,
                      timeout=timeout)
        ok = 200 <= status < 300  # a 3xx is a failure: never followed
    except CallbackRefused:
        ok, refused = False, True
    except (OSError, http.client.HTTPException, ValueError):
        ok = False
    if ok:
        request.callback_state = "delivered"
    elif request.callback_attempts >= CALLBACK_TRIES:
        request.callback_state = "failed"
    record_event(db_session=db_session, actor=Actor(type="system", id="callbacks"),
                 action="rp.callback_" + ("delivered" if ok else "failed"),
                 subject_type="relying_party", subject_id=party.id,
                 details={"consent_id": request.id, "attempt": request.callback_attempts,
                          **({"refused_address": True} if refused else {})})
    db_session.commit()
    if not ok and request.callback_state == "pending":
        raise CallbackFailed(consent_id)
    return request.callback_state


def owed_callbacks(*, db_session: Session, older_than: dt.timedelta) -> list[str]:
    """Callbacks still owed a while after the decision (the sweep enqueues them again)."""
    cutoff = clock.now() - older_than
    return list(db_session.scalars(
        sa.select(ConsentRequest.id).where(ConsentRequest.callback_state == "pending",
                                           ConsentRequest.decided_at < cutoff).limit(1000)))
