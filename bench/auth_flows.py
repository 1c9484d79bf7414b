"""The citizens' authentication flows of :mod:`bench.accounts`, as load generator flows.

Run inside :mod:`bench.loadgen`'s process (``--flow bench.auth_flows:login_flow``),
so this module imports nothing of the application: a citizen's phone is the
:class:`~examples.mobile_client.Device` of the reference mobile client, which
signs nonces as the app does.

- :func:`login_flow`: one operation is a whole login, ``POST /auth/challenge``
  then ``POST /auth/login`` with the device's signature over the nonce: what a
  phone must do to log in. Client ``i`` of ``n`` logs in as holders ``i``,
  ``i + n``, ``i + 2n``, ... in turn.
- :func:`refresh_flow`: one operation is ``POST /auth/refresh`` with the
  client's refresh token as bearer; each answer's refresh token is the one
  sent next (rotation on every use: a client that sent an old one would
  revoke its session).
"""
from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from bench.loadgen import Fixed, RequestBuilder
from examples.mobile_client import Device, b64url_decode, b64url_encode, sign_nonce

CHALLENGE_PATH = "/api/v1/auth/challenge"
LOGIN_PATH = "/api/v1/auth/login"
REFRESH_PATH = "/api/v1/auth/refresh"


def _new_device() -> Device:
    return Device(device_id=str(uuid.uuid4()), key=ec.generate_private_key(ec.SECP256R1()))


@dataclass
class Holder:
    """A citizen with an account, and the phone whose key is bound to it."""

    personal_id: str
    password: str
    device: Device = field(default_factory=_new_device)

    def to_json(self) -> dict[str, str]:
        """What a load generator process needs to log in as this holder."""
        der = self.device.key.private_bytes(serialization.Encoding.DER,
                                            serialization.PrivateFormat.PKCS8,
                                            serialization.NoEncryption())
        return {"personal_id": self.personal_id, "password": self.password,
                "device_id": self.device.device_id, "key": b64url_encode(der)}

    @classmethod
    def from_json(cls, data: dict[str, str]) -> Holder:
        """Inverse of :meth:`to_json`."""
        key = serialization.load_der_private_key(b64url_decode(data["key"]), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError("a holder's key must be an EC private key")
        return cls(personal_id=data["personal_id"], password=data["password"],
                   device=Device(device_id=data["device_id"], key=key))

    def challenge_body(self) -> bytes:
        """The body of ``POST /auth/challenge``."""
        return json.dumps({"personal_id": self.personal_id,
                           "device_id": self.device.device_id}).encode()

    def login_body(self, challenge_answer: bytes) -> bytes:
        """The body of ``POST /auth/login``, signing the nonce of the challenge's answer."""
        held = json.loads(challenge_answer)
        return json.dumps({"personal_id": self.personal_id, "password": self.password,
                           "device_id": self.device.device_id,
                           "challenge_id": held["challenge_id"],
                           "signature": sign_nonce(self.device.key, held["nonce"])}).encode()


class LoginFlow:
    """Challenge, then signed login, as each holder in turn: one operation per login."""

    def __init__(self, holders: list[Holder], build: RequestBuilder) -> None:
        if not holders:
            raise ValueError("a login flow needs at least one holder")
        self.holders, self.build = holders, build
        self.turn = 0
        self.challenge: bytes | None = None  # the challenge's answer, between the two requests

    def next_request(self) -> bytes:
        """The challenge request, or the login request once the challenge is answered."""
        holder = self.holders[self.turn % len(self.holders)]
        if self.challenge is None:
            return self.build("POST", CHALLENGE_PATH, holder.challenge_body(), None)
        return self.build("POST", LOGIN_PATH, holder.login_body(self.challenge), None)

    def answered(self, status: int, body: bytes) -> bool:
        """A refused challenge ends the login too (the status is counted as non-2xx)."""
        if self.challenge is None and 200 <= status < 300:
            self.challenge = body
            return False
        self.abort()
        return True

    def abort(self) -> None:
        """Next time, the next holder asks for a new challenge."""
        self.challenge = None
        self.turn += 1


class RefreshFlow:
    """Refresh after refresh, each with the token the previous answer gave."""

    def __init__(self, refresh_token: str, build: RequestBuilder) -> None:
        self.token, self.build = refresh_token, build

    def next_request(self) -> bytes:
        """``POST /auth/refresh`` with the current refresh token as bearer, and no body."""
        return self.build("POST", REFRESH_PATH, None, {"Authorization": f"Bearer {self.token}"})

    def answered(self, status: int, body: bytes) -> bool:
        """Keep the next refresh token; a refused refresh leaves the token (and counts non-2xx)."""
        if 200 <= status < 300:
            self.token = json.loads(body)["refresh_token"]
        return True

    def abort(self) -> None:
        """Nothing to reset: the token stays (if the server had rotated it, the next is refused)."""


def login_flow(index: int, connections: int, data: Any, build: RequestBuilder) -> LoginFlow:
    """Client ``index`` logs in as every ``connections``-th of ``data["holders"]``."""
    holders = [Holder.from_json(h) for h in data["holders"][index::connections]]
    return LoginFlow(holders, build)


def refresh_flow(index: int, connections: int, data: Any, build: RequestBuilder) -> RefreshFlow:
    """Client ``index`` chains from ``data["refresh_tokens"][index]`` (one per client)."""
    tokens = data["refresh_tokens"]
    if len(tokens) != connections:
        raise ValueError(f"refresh_flow needs one token per client: {len(tokens)} for "
                         f"{connections}")
    return RefreshFlow(tokens[index], build)


def bearer_flow(index: int, connections: int, data: Any, build: RequestBuilder) -> Fixed:
    """Client ``index`` sends ``data["method"] data["path"]`` again and again, with body
    ``data["bodies"][index]`` (JSON, or none for null) as ``data["tokens"][index]``; both
    lists cycle when shorter than the clients."""
    tokens, bodies = data["tokens"], data["bodies"]
    body = bodies[index % len(bodies)]
    return Fixed(build(data["method"], data["path"],
                       None if body is None else json.dumps(body).encode(),
                       {"Authorization": f"Bearer {tokens[index % len(tokens)]}"}))
