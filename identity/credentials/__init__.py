"""Signed QR credentials in the VN1 format (``docs/vn1.md``).

The offline verifier is importable from here with nothing but ``cbor2`` and
``cryptography`` behind it (no Flask, no database, no network)::

    from identity.credentials import TrustList, VerificationError, verify

    trust = TrustList.from_json(json.load(open("vnid-keys.json")))
    try:
        claims = verify(text, trust, audience="rp:vcb01", nonce=my_nonce).claims
    except VerificationError as error:
        refuse(error.reason)   # one of the spec's reason codes
"""
from identity.credentials.vn1 import REASONS, TrustList, VerificationError, Verified, verify

__all__ = ["REASONS", "TrustList", "VerificationError", "Verified", "verify"]
