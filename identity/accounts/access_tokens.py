"""Access tokens: ES256 JWTs (RFC 7519, RFC 7515), signed here in one step.

An access token is read by every node and by PyJWT through flask-jwt-extended
(``app.auth.verify_bearer``), so it stays exactly what those expect: the header
``{"alg": "ES256", "kid": ..., "typ": "JWT"}``, the claims flask-jwt-extended's own
``create_access_token`` writes (``fresh``, ``iat``, ``jti``, ``type``, ``sub``, ``nbf``,
``aud``, ``iss``, ``exp``, then the caller's), and the signature as JWS wants it: ``r || s``,
32 bytes each (RFC 7518 section 3.4), not DER.

Why not flask-jwt-extended's ``create_access_token``: it costs about 127 µs a token here
against 42 µs for the ECDSA signature inside it (``timeit``, 2026-12-06): datetimes turned
into numbers again, a second random id (a CSRF value for cookies, which this API does not
read tokens from), the header and claims checked and serialised by PyJWT's generic code.
Here the header's encoding is made once per key id, the claims are plain numbers and
strings, and the one costly step left is the signature. Tokens of either kind verify the
same way (``tests/identity/accounts/test_access_tokens.py`` compares the two).
"""
from __future__ import annotations

import base64
import functools
import json
import time
import uuid
from collections.abc import Mapping
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

_ECDSA = ec.ECDSA(hashes.SHA256())


def _b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


@functools.lru_cache(maxsize=64)
def _header(kid: str) -> bytes:
    """The encoded header of ``kid``'s tokens (PyJWT's order: keys sorted)."""
    return _b64(json.dumps({"alg": "ES256", "kid": kid, "typ": "JWT"},
                           separators=(",", ":"), sort_keys=True).encode())


def sign(key: ec.EllipticCurvePrivateKey, kid: str, claims: Mapping[str, Any]) -> str:
    """The compact JWS of ``claims`` signed with ``key`` (P-256) under ``kid``."""
    payload = json.dumps(claims, separators=(",", ":")).encode()
    signing_input = _header(kid) + b"." + _b64(payload)
    r, s = decode_dss_signature(key.sign(signing_input, _ECDSA))
    return (signing_input + b"." + _b64(r.to_bytes(32, "big") + s.to_bytes(32, "big"))).decode()


def access_claims(subject: str, *, lifetime: int, issuer: str, audience: str,
                  extra: Mapping[str, Any]) -> dict[str, Any]:
    """The claims of an access token for ``subject`` valid ``lifetime`` seconds from now (the
    claims flask-jwt-extended writes, without its cookie-only ``csrf``), then ``extra``."""
    now = int(time.time())
    return {"fresh": False, "iat": now, "jti": str(uuid.uuid4()), "type": "access",
            "sub": subject, "nbf": now, "aud": audience, "iss": issuer,
            "exp": now + lifetime, **extra}
