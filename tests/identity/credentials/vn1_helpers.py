"""Making VN1 texts for tests, including ones the issuer would never make."""
from __future__ import annotations

import datetime as dt
import os
import zlib
from typing import Any

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from identity.credentials import base45, vn1, vn1_signing

NOW = 1_800_000_000
EPOCH = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)


def new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def trust(*entries: tuple[ec.EllipticCurvePrivateKey, str], not_after: dt.datetime | None = None,
          not_before: dt.datetime = EPOCH) -> vn1.TrustList:
    return vn1.TrustList.from_json({"issuer": "VN", "keys": [
        vn1.jwk(key.public_key(), status=status, not_before=not_before, not_after=not_after)
        for key, status in entries]})


def make(key: ec.EllipticCurvePrivateKey, *, claims: dict[str, Any] | None = None,
         credential_type: str = "identity", issued_at: int = NOW, lifetime: int = 120,
         audience: str | None = None, nonce: str | None = None) -> str:
    return vn1_signing.encode(private_key=key, issuer="VN", issued_at=issued_at,
                              expires_at=issued_at + lifetime, credential_id=os.urandom(16),
                              credential_type=credential_type,
                              claims=claims or {"id": "001090012345", "nm": "Nguyễn Văn An",
                                                "dob": "1990-05-12", "sx": "M", "lvl": 2},
                              audience=audience, nonce=nonce)


def sign1_parts(text: str) -> list[Any]:
    """[protected, unprotected, payload, signature] of a VN1 text."""
    sign1 = cbor2.loads(zlib.decompress(base45.b45decode(text[len(vn1.PREFIX):])))
    return list(sign1.value)


def pack(parts: list[Any], *, tag: int = 18) -> str:
    """A VN1 text from COSE_Sign1 parts, as given (no re-signing)."""
    return vn1.PREFIX + base45.b45encode(zlib.compress(cbor2.dumps(cbor2.CBORTag(tag, parts)), 9))


def forge(key: ec.EllipticCurvePrivateKey, *, header: dict[int, Any] | None = None,
          payload: Any) -> str:
    """A properly signed COSE_Sign1 with any header and payload (the issuer's key, bad data)."""
    protected = cbor2.dumps(header if header is not None
                            else {1: -7, 4: vn1.key_id(key.public_key())})
    body = payload if isinstance(payload, bytes) else cbor2.dumps(payload)
    der = key.sign(vn1.signed_bytes(protected, body), ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(der)
    return pack([protected, {}, body, r.to_bytes(32) + s.to_bytes(32)])


def claims_map(overrides: dict[int, Any] | None = None) -> dict[int, Any]:
    cwt: dict[int, Any] = {1: "VN", 6: NOW, 4: NOW + 120, 7: os.urandom(16),
                           -65537: {"t": "identity", "v": 1, "c": {"nm": "A"}}}
    cwt.update(overrides or {})
    return cwt
