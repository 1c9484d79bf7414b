"""Protection of personal data at rest: AES-GCM with versioned keys, keyed look-up hashes.

A protected value is stored as ``version (1 byte) || nonce (12 bytes) ||
ciphertext+tag``. The associated data binds each ciphertext to where it
belongs (for a phone: the citizen's personal id), so a ciphertext copied to
another row does not decrypt. New values are encrypted with the highest key
version; older versions stay readable until data is re-encrypted, which is
how keys are rotated.

Beside each ciphertext the tables keep an HMAC-SHA256 of the normalised
value under a separate look-up key, so "which citizen has this phone" is one
index probe and never needs decryption.
"""
from __future__ import annotations

import base64
import binascii
import hmac
import os
import re
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from identity.errors import DomainError

NONCE_BYTES = 12


class KeyMaterialError(DomainError):
    """Key material is missing, malformed, or cannot open a stored value."""

    code = "keys.invalid"


_B64URL = re.compile(r"[A-Za-z0-9_-]*={0,2}")


def _unb64(text: str) -> bytes:
    text = text.strip()
    if not _B64URL.fullmatch(text):
        raise KeyMaterialError("key material is not base64url")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise KeyMaterialError("key material is not base64url") from exc


def parse_keys(spec: str) -> dict[int, bytes]:
    """Parse ``"2:<b64url>,1:<b64url>"`` into ``{version: 32-byte key}``."""
    keys: dict[int, bytes] = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        version_text, sep, material = part.partition(":")
        if (not sep or not version_text.isascii() or not version_text.isdigit()
                or not 1 <= int(version_text) <= 255):
            raise KeyMaterialError("each key must be written VERSION:BASE64URL, version 1-255")
        key = _unb64(material)
        if len(key) != 32:
            raise KeyMaterialError(f"key version {version_text} must be 32 bytes (AES-256)")
        keys[int(version_text)] = key
    if not keys:
        raise KeyMaterialError("no personal-data key configured")
    return keys


@dataclass(frozen=True)
class Protector:
    """Encrypts, decrypts and hashes personal data fields."""

    keys: dict[int, bytes]
    lookup_key: bytes
    #: The key version that new values are encrypted with: the highest.
    active_version: int = field(init=False)
    _aeads: dict[int, AESGCM] = field(init=False, repr=False)

    @classmethod
    def from_settings(cls, keys_spec: str, lookup_key_b64: str) -> "Protector":
        """Build from the configuration strings ``PERSONAL_DATA_KEYS`` and ``LOOKUP_HASH_KEY``."""
        lookup_key = _unb64(lookup_key_b64)
        if len(lookup_key) < 32:
            raise KeyMaterialError("LOOKUP_HASH_KEY must be at least 32 bytes")
        return cls(keys=parse_keys(keys_spec), lookup_key=lookup_key)

    def __post_init__(self) -> None:
        object.__setattr__(self, "active_version", max(self.keys))
        object.__setattr__(self, "_aeads", {v: AESGCM(k) for v, k in self.keys.items()})

    def encrypt(self, plaintext: str, *, context: bytes) -> bytes:
        """Encrypt ``plaintext`` bound to ``context`` with the active key."""
        nonce = os.urandom(NONCE_BYTES)
        version = self.active_version
        sealed = self._aeads[version].encrypt(nonce, plaintext.encode(), context)
        return bytes((version,)) + nonce + sealed

    def decrypt(self, blob: bytes, *, context: bytes) -> str:
        """Decrypt a value made by :meth:`encrypt`; raise :class:`KeyMaterialError` if it can't."""
        if len(blob) < 1 + NONCE_BYTES + 16:
            raise KeyMaterialError("protected value is truncated")
        aead = self._aeads.get(blob[0])
        if aead is None:
            raise KeyMaterialError(f"no key of version {blob[0]} is configured")
        try:
            plain = aead.decrypt(blob[1:1 + NONCE_BYTES], blob[1 + NONCE_BYTES:], context)
        except InvalidTag as exc:
            raise KeyMaterialError("protected value does not open with its key") from exc
        return plain.decode()

    def lookup_hash(self, value: str, *, purpose: bytes) -> bytes:
        """Keyed hash of a normalised value, separated by ``purpose`` (e.g. ``b"phone"``)."""
        return hmac.digest(self.lookup_key, purpose + b"\x00" + value.encode(), "sha256")
