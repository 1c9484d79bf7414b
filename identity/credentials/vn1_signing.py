"""Signing VN1 credentials: the issuer's side of :mod:`identity.credentials.vn1` (the format,
its constants and the verifier), as ``docs/vn1.md`` lays it out."""
from __future__ import annotations

import zlib
from collections.abc import Mapping
from typing import Any

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from identity.credentials.base45 import b45encode
from identity.credentials.vn1 import (ALG, AUD, BODY_VERSION, COSE_SIGN1_TAG, CTI, ES256, EXP, IAT,
                                      ISS, KID, PREFIX, VNID_BODY, key_id, signed_bytes)

_ECDSA = ec.ECDSA(hashes.SHA256())

#: The protected header of each signing key (``alg`` and ``kid``), by the key object: the
#: ``kid`` hashes the key's DER, 8 µs a credential when made each time.
_PROTECTED: dict[ec.EllipticCurvePrivateKey, bytes] = {}


def _protected(private_key: ec.EllipticCurvePrivateKey) -> bytes:
    protected = _PROTECTED.get(private_key)
    if protected is None:
        if len(_PROTECTED) >= 64:
            _PROTECTED.clear()
        protected = _PROTECTED[private_key] = cbor2.dumps(
            {ALG: ES256, KID: key_id(private_key.public_key())})
    return protected


def _zlib(data: bytes) -> bytes:
    """zlib at level 9 (the spec's), with the smallest window that still reaches back over the
    whole of ``data`` (deflate keeps 262 bytes of look-ahead out of it): the same deflate
    stream as with the default 32 KB window, but zlib sets up and clears a 512-byte one for a
    credential, 11 µs against 23 (``timeit``). Any zlib reader takes any window."""
    wbits = min(15, max(9, (len(data) + 261).bit_length()))
    deflater = zlib.compressobj(9, zlib.DEFLATED, wbits)
    return deflater.compress(data) + deflater.flush()


def encode(*, private_key: ec.EllipticCurvePrivateKey, issuer: str, issued_at: int,
           expires_at: int, credential_id: bytes, credential_type: str,
           claims: Mapping[str, Any], audience: str | None = None,
           nonce: str | None = None) -> str:
    """Sign a credential and return its ``VN1:`` text."""
    protected = _protected(private_key)
    body: dict[str, Any] = {"t": credential_type, "v": BODY_VERSION}
    if nonce is not None:
        body["n"] = nonce
    body["c"] = dict(claims)
    cwt: dict[int, Any] = {ISS: issuer, IAT: issued_at, EXP: expires_at, CTI: credential_id}
    if audience is not None:
        cwt[AUD] = audience
    cwt[VNID_BODY] = body
    payload = cbor2.dumps(cwt)
    der = private_key.sign(signed_bytes(protected, payload), _ECDSA)
    r, s = decode_dss_signature(der)
    signature = r.to_bytes(32) + s.to_bytes(32)
    sign1 = cbor2.dumps(cbor2.CBORTag(COSE_SIGN1_TAG, [protected, {}, payload, signature]))
    return PREFIX + b45encode(_zlib(sign1))
