"""Where a party's consent callbacks may go, and posting them there without a detour.

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
"""
from __future__ import annotations

import http.client
import ipaddress
import re
import socket
import ssl
from dataclasses import dataclass
from typing import Union
from urllib.parse import urlsplit

from identity.errors import InvalidInput

IPAddress = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]

_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_THIS_NETWORK = ipaddress.ip_network("0.0.0.0/8")
_SHARED = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT (RFC 6598)
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")
#: What a host made only of digits, dots and hex prefixes looks like (inet_aton's forms).
_NUMERIC_HOST = re.compile(r"[0-9a-fA-FxX.]+")
#: The body of a callback answer that is read at most (the status is what counts).
_ANSWER_BYTES = 4096


@dataclass(frozen=True)
class CallbackPolicy:
    """What callback URLs the deployment accepts (from the configuration, in ``app/``)."""

    https_only: bool = True
    allow_private: bool = False


#: The default of every service function: production's rules.
STRICT = CallbackPolicy()


class CallbackRefused(InvalidInput):
    """The callback URL, or an address its host resolves to, is not allowed."""

    code = "rp.callback_url"
    message = "The callback URL is not allowed."


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
