"""Refresh tokens: a session family and its generation, with an HMAC-SHA-256 tag.

A refresh token is read by nobody but this service: the client keeps it
and hands it back, and only the service that issued it checks it. It needs
no public-key signature (an access token does: its ES256 signature is
checked by every node, with keys anyone may verify with). What it needs:

- **Unforgeable.** ``vnidrt_<kid>.<session id>.<generation>.<tag>``, the tag
  HMAC-SHA-256 over everything before it, under a key that only the service
  holds (:func:`derive_keys`). Without the key, changing the session or the
  generation, or inventing either, makes a token whose tag does not match.
- **Rotated with the signing keys.** Each ``TOKEN_SIGNING_KEYS`` entry gives
  its own refresh key, derived with HKDF-SHA-256 from its private scalar and
  its kid (a label of its own, so no key serves two uses); the first entry
  makes tokens, every entry checks the tokens of its kid. Rotating the
  signing keys rotates these with them, on the same schedule.
- **Checked in microseconds.** One HMAC and a constant-time comparison,
  instead of an ECDSA verification and PyJWT's decoding of a JWT, and one
  HMAC instead of an ECDSA signature to make one (``docs/benchmarks.md``).
- **Expiring in the database.** A token carries no expiry: its family's
  ``expires_at`` (30 days for a citizen, one shift for an officer),
  ``revoked_at`` and generation decide, in the statement that rotates it
  (:func:`identity.accounts.sessions.refresh_session`), as they did when the
  token was a JWT (whose own expiry was never the earlier one).

What is in a token is not secret (a random session id and a counter);
holding it is what counts, so the logs never show one
(``app.logging_setup``'s ``vnidrt_`` pattern).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Mapping

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

PREFIX = "vnidrt_"
#: What a kid may be made of (it is written in every token): checked when the keys are read.
KID = re.compile(r"[A-Za-z0-9_-]{1,64}")
#: The whole token: kid, session id (``secrets.token_urlsafe``), generation, 43-char tag.
_TOKEN = re.compile(r"vnidrt_([A-Za-z0-9_-]{1,64})\.([A-Za-z0-9_-]{1,64})\.([1-9][0-9]{0,17})"
                    r"\.([A-Za-z0-9_-]{43})")
_LABEL = b"vnid refresh token v1\x00"


def derive_keys(signing_keys: Mapping[str, ec.EllipticCurvePrivateKey]) -> dict[str, bytes]:
    """The refresh key of each signing key, by kid, in the same order (the first makes tokens).

    Raises ``ValueError`` for a kid that could not be written in a token.
    """
    keys: dict[str, bytes] = {}
    for kid, private in signing_keys.items():
        if KID.fullmatch(kid) is None:
            raise ValueError(f"TOKEN_SIGNING_KEYS kid {kid!r} must be 1-64 of A-Z a-z 0-9 _ -")
        scalar = private.private_numbers().private_value.to_bytes(32, "big")
        keys[kid] = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                         info=_LABEL + kid.encode()).derive(scalar)
    return keys


def _tag(key: bytes, body: str) -> str:
    digest = hmac.digest(key, body.encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(digest).decode()[:43]  # 32 bytes, without the padding


def make(keys: Mapping[str, bytes], session_id: str, generation: int) -> str:
    """The refresh token of ``session_id`` at ``generation``, tagged with the first key."""
    kid, key = next(iter(keys.items()))
    body = f"{PREFIX}{kid}.{session_id}.{generation}"
    token = f"{body}.{_tag(key, body)}"
    if _TOKEN.fullmatch(token) is None:  # a session id or generation no token could carry
        raise ValueError("session id or generation out of a refresh token's shape")
    return token


def read(keys: Mapping[str, bytes], token: str) -> tuple[str, int] | None:
    """The session id and generation of a token made by :func:`make` with one of ``keys``;
    None for anything else (another shape, an unknown kid, a tag that does not match)."""
    found = _TOKEN.fullmatch(token)
    if found is None:
        return None
    kid, session_id, generation, tag = found.groups()
    key = keys.get(kid)
    if key is None:
        return None
    body = token[:-len(tag) - 1]
    if not hmac.compare_digest(_tag(key, body), tag):
        return None
    return session_id, int(generation)
