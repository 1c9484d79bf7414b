"""The VN1 format: ``VN1:`` + Base45(zlib(CBOR(COSE_Sign1(CWT)))), signed with ES256.

This module is the whole offline verifier: no Flask, no database, no network (the
issuer's side, signing, is :mod:`identity.credentials.vn1_signing`).
It follows ``docs/vn1.md`` to the byte, so a bank can
check a citizen's QR with nothing but the published trust list.

Speed matters: a verification is one ECDSA P-256 check (~60 µs here) plus
decoding, and the decoding is kept to a few µs (Base45 without a Python loop:
:mod:`identity.credentials.base45`).
"""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import time
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import cbor2
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from identity.credentials.base45 import b45decode

PREFIX = "VN1:"
MAX_TEXT = 2000
MAX_CBOR = 4096
MAX_LEEWAY = 30
ES256 = -7
COSE_SIGN1_TAG = 18
BODY_VERSION = 1

# CWT claim keys (RFC 8392) and the private body claim.
ISS, SUB, AUD, EXP, NBF, IAT, CTI = 1, 2, 3, 4, 5, 6, 7
VNID_BODY = -65537
# COSE header keys (RFC 9052).
ALG, KID = 1, 4

#: Every reason code of the spec, in the order of the checks.
REASONS = ("malformed", "unsupported_algorithm", "unknown_key", "key_revoked", "bad_signature",
           "not_yet_valid", "expired", "wrong_audience", "nonce_mismatch", "revoked",
           "already_used")

#: ES256 over a SHA-256 digest computed by :mod:`hashlib`: the same check, without the
#: per-call digest set-up of ``cryptography``'s own hashing (about 0.4 µs).
_ECDSA_DIGEST = ec.ECDSA(Prehashed(hashes.SHA256()))


class VerificationError(Exception):
    """A credential that did not verify; ``reason`` is one of :data:`REASONS`."""

    def __init__(self, reason: str, message: str = "", *,
                 credential_id: bytes | None = None) -> None:
        self.reason = reason
        #: Set when the signature verified and a later check failed: the id can be trusted.
        self.credential_id = credential_id
        super().__init__(f"{reason}: {message}" if message else reason)


# --- Keys and the trust list -------------------------------------------------------------------

def b64url(raw: bytes) -> str:
    """Unpadded base64url, as JWK uses."""
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    """Decode unpadded base64url."""
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def key_id(public_key: ec.EllipticCurvePublicKey) -> bytes:
    """The ``kid``: the first 8 bytes of SHA-256 over the DER SubjectPublicKeyInfo."""
    der = public_key.public_bytes(serialization.Encoding.DER,
                                  serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).digest()[:8]


def rfc3339(moment: dt.datetime | None) -> str | None:
    """A UTC timestamp as RFC 3339 with a ``Z`` (seconds precision), or None."""
    if moment is None:
        return None
    return moment.astimezone(dt.timezone.utc).replace(microsecond=0).isoformat().replace(
        "+00:00", "Z")


def _parse_time(text: Any) -> int | None:
    if text is None:
        return None
    moment = dt.datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError("a trust-list time needs a zone")
    return int(moment.timestamp())


@dataclass(frozen=True)
class TrustedKey:
    """One key of the trust list, parsed."""

    kid: bytes
    public_key: ec.EllipticCurvePublicKey
    status: str
    not_before: int | None
    not_after: int | None


@dataclass(frozen=True)
class TrustList:
    """The issuer's published keys, parsed once and reused for every verification."""

    issuer: str
    keys: dict[bytes, TrustedKey]

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> TrustList:
        """Parse ``/.well-known/vnid-keys.json``; raises ``ValueError`` on a broken document."""
        try:
            keys = {}
            for entry in document["keys"]:
                kind = (entry.get("kty"), entry.get("crv"), entry.get("alg"))
                if kind != ("EC", "P-256", "ES256"):
                    continue  # a key this verifier cannot use is as good as absent
                x, y = unb64url(entry["x"]), unb64url(entry["y"])
                if len(x) != 32 or len(y) != 32:
                    raise ValueError("a P-256 coordinate is 32 bytes")
                public_key = ec.EllipticCurvePublicNumbers(
                    int.from_bytes(x), int.from_bytes(y), ec.SECP256R1()).public_key()
                kid = unb64url(entry["kid"])
                if kid != key_id(public_key):
                    raise ValueError("a kid does not match its key")
                if entry["status"] not in ("active", "retired", "revoked"):
                    raise ValueError("unknown key status")
                keys[kid] = TrustedKey(kid, public_key, entry["status"],
                                       _parse_time(entry.get("not_before")),
                                       _parse_time(entry.get("not_after")))
            return cls(issuer=str(document["issuer"]), keys=keys)
        except (KeyError, TypeError, AttributeError, ValueError) as error:
            raise ValueError(f"not a VN1 trust list: {error}") from None


def jwk(public_key: ec.EllipticCurvePublicKey, *, status: str, not_before: dt.datetime,
        not_after: dt.datetime | None) -> dict[str, Any]:
    """One entry of the trust list for a public key."""
    numbers = public_key.public_numbers()
    return {"kty": "EC", "crv": "P-256", "x": b64url(numbers.x.to_bytes(32)),
            "y": b64url(numbers.y.to_bytes(32)), "kid": b64url(key_id(public_key)),
            "alg": "ES256", "use": "sig", "status": status,
            "not_before": rfc3339(not_before), "not_after": rfc3339(not_after)}


# --- Verification ------------------------------------------------------------------------------

class Verified(NamedTuple):
    """A credential that passed every offline check (a tuple: cheap to build per verification)."""

    credential_type: str
    claims: dict[str, Any]
    issuer: str
    issued_at: int
    expires_at: int
    credential_id: bytes
    kid: bytes
    audience: str | None = None
    nonce: str | None = None


def _unpack(text: object) -> tuple[bytes, bytes, bytes, bytes]:
    """Steps 1 and 2: protected header, payload, signature, signed bytes; or ``malformed``."""
    if not isinstance(text, str) or len(text) > MAX_TEXT or not text.startswith(PREFIX):
        raise VerificationError("malformed", "not a VN1 text")
    try:
        compressed = b45decode(text[len(PREFIX):])
    except ValueError:
        raise VerificationError("malformed", "not Base45") from None
    inflater = zlib.decompressobj()
    try:
        raw = inflater.decompress(compressed, MAX_CBOR + 1)
    except zlib.error:
        raise VerificationError("malformed", "not zlib") from None
    if len(raw) > MAX_CBOR or inflater.unconsumed_tail or not inflater.eof \
            or inflater.unused_data:
        raise VerificationError("malformed", "too large, truncated or followed by bytes")
    # The one canonical encoding, read byte by byte: tag 18 (d2), an array of 4 (84), the
    # protected bstr, the empty map (a0), the payload and signature bstrs, nothing after.
    # Each bstr has its shortest length form; this also keeps out every other CBOR
    # spelling cbor2 would accept (longer forms, chunks, shared or string references).
    if raw[:2] != b"\xd2\x84":
        raise VerificationError("malformed", "not a COSE_Sign1")
    try:
        protected, middle = _read_bstr(raw, 2)
        if raw[middle] != 0xA0:
            raise VerificationError("malformed", "not the one canonical COSE_Sign1 encoding")
        payload, end = _read_bstr(raw, middle + 1)
        signature, at = _read_bstr(raw, end)
    except IndexError:
        raise VerificationError("malformed", "a truncated COSE_Sign1") from None
    if at != len(raw):
        raise VerificationError("malformed", "not the one canonical COSE_Sign1 encoding")
    # The Sig_structure holds both bstrs as spelled here (shortest forms: see signed_bytes).
    signed = b"".join((b"\x84\x6aSignature1", raw[2:middle], b"\x40", raw[middle + 1:end]))
    return protected, payload, signature, signed


#: Parsed protected headers: every credential of one key carries the same few bytes.
_HEADERS: dict[bytes, tuple[Any, Any]] = {}


def _header(protected: bytes) -> tuple[Any, Any]:
    """The ``alg`` and ``kid`` of a protected header not in :data:`_HEADERS` yet."""
    header = _map(protected, "protected header")
    parsed = (header.get(ALG), header.get(KID))
    if len(_HEADERS) >= 256:
        _HEADERS.clear()
    _HEADERS[protected] = parsed
    return parsed


def _bstr(data: bytes) -> bytes:
    """A CBOR byte string (shortest length form, as cbor2 writes it)."""
    size = len(data)
    if size < 24:
        return bytes((0x40 + size,)) + data
    if size < 256:
        return bytes((0x58, size)) + data
    return b"\x59" + size.to_bytes(2) + data


def _read_bstr(raw: bytes, at: int) -> tuple[bytes, int]:
    """The CBOR byte string at ``raw[at]`` in its shortest length form, and where it ends
    (``IndexError`` when ``raw`` ends in its head)."""
    size = raw[at] - 0x40
    if 0 <= size < 24:
        start = at + 1
    elif size == 24 and raw[at + 1] >= 24:
        start, size = at + 2, raw[at + 1]
    elif size == 25 and raw[at + 1]:
        start, size = at + 3, raw[at + 1] << 8 | raw[at + 2]
    else:
        raise VerificationError("malformed", "not the one canonical COSE_Sign1 encoding")
    end = start + size
    if end > len(raw):
        raise VerificationError("malformed", "a byte string runs past the end")
    return raw[start:end], end


def _der_integer(value: bytes) -> bytes:
    """A DER INTEGER of a 32-byte big-endian unsigned value (shortest form, non-negative)."""
    value = value.lstrip(b"\0") or b"\0"
    if value[0] & 0x80:
        value = b"\0" + value
    return b"\x02" + bytes((len(value),)) + value


#: The DER bytes before ``r`` and between ``r`` and ``s`` when neither starts with a zero
#: byte, by their top bits (index ``r_high + 2 * s_high``: a top bit set takes a ``00``).
_DER_HEADS = tuple((bytes((0x30, 68 + r_high + s_high, 0x02, 32 + r_high)) + b"\0" * r_high,
                    bytes((0x02, 32 + s_high)) + b"\0" * s_high)
                   for s_high in (0, 1) for r_high in (0, 1))


def der_signature(signature: bytes) -> bytes:
    """The DER ``ECDSA-Sig-Value`` of a 64-byte ``r || s`` signature (what OpenSSL checks).

    The same bytes as ``encode_dss_signature`` of the two integers, built from
    the bytes directly (at most 72 bytes, so every length is one byte): from a
    table when neither integer starts with a zero byte (all but 1 in 128).
    """
    r_first, s_first = signature[0], signature[32]
    if r_first and s_first:
        head, middle = _DER_HEADS[(r_first >> 7) + (s_first >> 7 << 1)]
        return b"".join((head, signature[:32], middle, signature[32:]))
    body = _der_integer(signature[:32]) + _der_integer(signature[32:])
    return b"\x30" + bytes((len(body),)) + body


def signed_bytes(protected: bytes, payload: bytes) -> bytes:
    """CBOR of ``["Signature1", protected, h'', payload]``: the bytes ES256 signs."""
    return b"\x84\x6aSignature1" + _bstr(protected) + b"\x40" + _bstr(payload)


def _map(data: bytes, what: str) -> dict[Any, Any]:
    """A CBOR map with no duplicate keys and shallow nesting, or ``malformed``."""
    try:
        item = cbor2.loads(data, max_depth=16, allow_duplicate_keys=False)
    except Exception:  # cbor2 raises many kinds on hostile input; all mean the same here
        raise VerificationError("malformed", f"the {what} is not CBOR") from None
    # dict, not the Mapping ABC (slower): cbor2 decodes a map into a dict except in an
    # immutable place (a map key, a set, inside a tag), which a top-level item is not.
    if not isinstance(item, dict):
        raise VerificationError("malformed", f"the {what} is not a map")
    return item


def verify(text: object, trust_list: TrustList | Mapping[str, Any], *,
           now: float | dt.datetime | None = None, audience: str | None = None,
           nonce: str | None = None, leeway: int = MAX_LEEWAY) -> Verified:
    """Verify a ``VN1:`` text offline, in the order of the spec.

    Returns the verified credential, or raises :class:`VerificationError` with
    the reason code of the first check that failed; nothing else escapes,
    whatever the input. ``now`` is an aware datetime or Unix seconds (default:
    the system clock); ``trust_list`` a parsed :class:`TrustList` (parse it
    once) or the trust list's JSON document.
    """
    if isinstance(now, dt.datetime):
        now = now.timestamp()
    if not isinstance(trust_list, TrustList):
        try:
            trust_list = TrustList.from_json(trust_list)
        except ValueError:
            raise VerificationError("unknown_key", "the trust list is not usable") from None
    if type(leeway) is not int or not 0 <= leeway <= MAX_LEEWAY:
        leeway = max(0, min(int(leeway), MAX_LEEWAY))
    protected, payload, signature, signed = _unpack(text)
    alg, kid = _HEADERS.get(protected) or _header(protected)
    if type(alg) is not int or alg != ES256:
        raise VerificationError("unsupported_algorithm", "only ES256 (-7)")
    trusted = trust_list.keys.get(kid) if isinstance(kid, bytes) else None
    if trusted is None:
        raise VerificationError("unknown_key")
    if trusted.status == "revoked":
        raise VerificationError("key_revoked")
    if len(signature) != 64:
        raise VerificationError("bad_signature", "a signature is 64 bytes")
    try:
        trusted.public_key.verify(der_signature(signature), hashlib.sha256(signed).digest(),
                                  _ECDSA_DIGEST)
    except InvalidSignature:
        raise VerificationError("bad_signature") from None
    return _check_claims(_map(payload, "payload"), trusted, kid, now, audience, nonce, leeway)


#: ``tuple.__new__``: builds a :class:`Verified` without the call through its ``__new__``.
_new_tuple = tuple.__new__


def _check_claims(cwt: dict[Any, Any], trusted: TrustedKey, kid: bytes, now: float | None,
                  audience: str | None, nonce: str | None, leeway: int) -> Verified:
    get = cwt.get
    body = get(VNID_BODY)
    if not isinstance(body, dict):  # a map's value is no immutable place: a dict (see _map)
        raise VerificationError("malformed", "the claims are not a VN1 body")
    issuer, cti, aud = get(ISS), get(CTI), get(AUD)
    kind, claims, body_nonce, version = body.get("t"), body.get("c"), body.get("n"), body.get("v")
    if not (isinstance(kind, str) and isinstance(claims, dict) and isinstance(issuer, str)
            and isinstance(cti, bytes) and len(cti) == 16
            and (aud is None or isinstance(aud, str))
            and (body_nonce is None or isinstance(body_nonce, str))
            and type(version) is int and version == BODY_VERSION):
        raise VerificationError("malformed", "the claims are not a VN1 body")
    issued_at, expires_at = get(IAT), get(EXP)
    if type(issued_at) is not int or type(expires_at) is not int:
        raise VerificationError("malformed", "a time claim is not an integer")
    moment = time.time() if now is None else now
    not_before, not_after = trusted.not_before, trusted.not_after
    if (issued_at > moment + leeway or (not_before is not None and issued_at < not_before)
            or (not_after is not None and issued_at > not_after)):
        raise VerificationError("not_yet_valid", credential_id=cti)
    if expires_at <= moment - leeway:
        raise VerificationError("expired", credential_id=cti)
    if audience is not None and aud != audience:
        raise VerificationError("wrong_audience", credential_id=cti)
    if nonce is not None and body_nonce != nonce:
        raise VerificationError("nonce_mismatch", credential_id=cti)
    return _new_tuple(Verified, (kind, dict(claims), issuer, issued_at, expires_at, cti, kid,
                                 aud, body_nonce))
