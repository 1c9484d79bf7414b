"""Device keys: checking a phone's P-256 public key and its signatures."""
from __future__ import annotations

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_der_public_key

from identity.accounts.errors import InvalidDeviceKey


def load_device_key(der: bytes) -> ec.EllipticCurvePublicKey:
    """The P-256 public key in a DER SubjectPublicKeyInfo, or :class:`InvalidDeviceKey`."""
    try:
        key = load_der_public_key(der)
    except (ValueError, TypeError) as exc:
        raise InvalidDeviceKey("The device public key is not a DER SubjectPublicKeyInfo.",
                               field="device_public_key") from exc
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        raise InvalidDeviceKey("The device public key must be an EC key on P-256.",
                               field="device_public_key")
    return key


def signature_valid(der_key: bytes, signature: bytes, message: bytes) -> bool:
    """Whether ``signature`` (DER ECDSA, SHA-256) over ``message`` verifies with the device key."""
    try:
        load_device_key(der_key).verify(signature, message, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, InvalidDeviceKey, ValueError):
        return False
    return True
