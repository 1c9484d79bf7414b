"""Tests of personal-data protection (``identity/protection.py``).

AES-256-GCM with versioned keys (``version || nonce || ciphertext+tag``), the
associated data binding each value to its row, rotation by adding a higher
key version, and keyed look-up hashes.
"""
from __future__ import annotations

import base64
from collections.abc import Callable

import pytest

from identity.protection import NONCE_BYTES, KeyMaterialError, Protector, parse_keys

KEY_1 = bytes(range(32))
KEY_2 = bytes(range(100, 132))
LOOKUP_KEY = bytes(range(200, 232))
OTHER_LOOKUP_KEY = bytes(range(32, 64))
CONTEXT = b"001085123456"
OTHER_CONTEXT = b"079190000001"
TAG_BYTES = 16


def b64(key: bytes, *, padded: bool = False) -> str:
    text = base64.urlsafe_b64encode(key).decode()
    return text if padded else text.rstrip("=")


@pytest.fixture()
def protector() -> Protector:
    return Protector(keys={1: KEY_1}, lookup_key=LOOKUP_KEY)


def _key_error(function: Callable[..., object], *args: object,
               **kwargs: object) -> KeyMaterialError:
    with pytest.raises(KeyMaterialError) as excinfo:
        function(*args, **kwargs)
    assert excinfo.value.code == "keys.invalid"
    return excinfo.value


# --- encryption -----------------------------------------------------------------------------

@pytest.mark.parametrize("plaintext", ["0912345678", "Số 1 Tràng Tiền, Hoàn Kiếm", "", "x" * 1000])
def test_round_trip(protector: Protector, plaintext: str) -> None:
    blob = protector.encrypt(plaintext, context=CONTEXT)
    assert isinstance(blob, bytes)
    assert protector.decrypt(blob, context=CONTEXT) == plaintext


def test_layout_is_version_nonce_ciphertext_tag(protector: Protector) -> None:
    plaintext = "0912345678"
    blob = protector.encrypt(plaintext, context=CONTEXT)
    assert blob[0] == 1
    assert len(blob) == 1 + NONCE_BYTES + len(plaintext.encode()) + TAG_BYTES
    assert plaintext.encode() not in blob


def test_same_plaintext_encrypts_differently(protector: Protector) -> None:
    blobs = {protector.encrypt("0912345678", context=CONTEXT) for _ in range(20)}
    assert len(blobs) == 20
    assert len({blob[1:1 + NONCE_BYTES] for blob in blobs}) == 20


def test_ciphertext_is_bound_to_its_context(protector: Protector) -> None:
    blob = protector.encrypt("0912345678", context=CONTEXT)
    _key_error(protector.decrypt, blob, context=OTHER_CONTEXT)
    _key_error(protector.decrypt, blob, context=b"")


def test_tampering_any_byte_is_detected(protector: Protector) -> None:
    blob = protector.encrypt("0912345678", context=CONTEXT)
    for position in range(len(blob)):
        tampered = bytearray(blob)
        tampered[position] ^= 0x01
        _key_error(protector.decrypt, bytes(tampered), context=CONTEXT)
    assert protector.decrypt(blob, context=CONTEXT) == "0912345678"


@pytest.mark.parametrize("length", [0, 1, 1 + NONCE_BYTES, 1 + NONCE_BYTES + TAG_BYTES - 1])
def test_truncated_value_is_refused(protector: Protector, length: int) -> None:
    blob = protector.encrypt("0912345678", context=CONTEXT)
    error = _key_error(protector.decrypt, blob[:length], context=CONTEXT)
    assert "truncated" in error.message


def test_value_missing_its_last_byte_is_refused(protector: Protector) -> None:
    blob = protector.encrypt("0912345678", context=CONTEXT)
    _key_error(protector.decrypt, blob[:-1], context=CONTEXT)


def test_value_under_another_key_of_the_same_version_is_refused(protector: Protector) -> None:
    blob = protector.encrypt("0912345678", context=CONTEXT)
    impostor = Protector(keys={1: KEY_2}, lookup_key=LOOKUP_KEY)
    _key_error(impostor.decrypt, blob, context=CONTEXT)


def test_unknown_key_version_is_refused(protector: Protector) -> None:
    blob = protector.encrypt("0912345678", context=CONTEXT)
    error = _key_error(protector.decrypt, bytes((7,)) + blob[1:], context=CONTEXT)
    assert "7" in error.message


# --- rotation -------------------------------------------------------------------------------

def test_rotation_keeps_old_values_readable_and_writes_with_the_new_version() -> None:
    before = Protector(keys={1: KEY_1}, lookup_key=LOOKUP_KEY)
    old_blob = before.encrypt("0912345678", context=CONTEXT)
    assert before.active_version == 1

    after = Protector(keys={1: KEY_1, 2: KEY_2}, lookup_key=LOOKUP_KEY)
    assert after.active_version == 2
    assert after.decrypt(old_blob, context=CONTEXT) == "0912345678"

    new_blob = after.encrypt("0912345678", context=CONTEXT)
    assert new_blob[0] == 2
    assert after.decrypt(new_blob, context=CONTEXT) == "0912345678"
    # The old deployment has no version 2; once version 1 is retired, old values are gone.
    _key_error(before.decrypt, new_blob, context=CONTEXT)
    retired = Protector(keys={2: KEY_2}, lookup_key=LOOKUP_KEY)
    _key_error(retired.decrypt, old_blob, context=CONTEXT)
    assert retired.decrypt(new_blob, context=CONTEXT) == "0912345678"


def test_rotation_through_settings() -> None:
    old = Protector.from_settings(f"1:{b64(KEY_1)}", b64(LOOKUP_KEY))
    old_blob = old.encrypt("Hà Nội", context=CONTEXT)
    rotated = Protector.from_settings(f"2:{b64(KEY_2)},1:{b64(KEY_1)}", b64(LOOKUP_KEY))
    assert rotated.active_version == 2
    assert rotated.decrypt(old_blob, context=CONTEXT) == "Hà Nội"
    assert rotated.encrypt("Hà Nội", context=CONTEXT)[0] == 2


# --- key specs ------------------------------------------------------------------------------

def test_parse_keys() -> None:
    assert parse_keys(f"2:{b64(KEY_2)},1:{b64(KEY_1)}") == {1: KEY_1, 2: KEY_2}
    assert parse_keys(f" 1:{b64(KEY_1, padded=True)} , ") == {1: KEY_1}
    assert parse_keys(f"255:{b64(KEY_2)}") == {255: KEY_2}


@pytest.mark.parametrize("spec", [
    "",
    " , ,",
    "1:",
    "1:a",
    "1:!!!!",
    f"1:{b64(KEY_1[:31])}",
    f"1:{b64(KEY_1 + b'x')}",
    f"1:{b64(KEY_1[:16])}",
    b64(KEY_1),
    f":{b64(KEY_1)}",
    f"0:{b64(KEY_1)}",
    f"256:{b64(KEY_1)}",
    f"-1:{b64(KEY_1)}",
    f"v1:{b64(KEY_1)}",
    f"1.0:{b64(KEY_1)}",
    f"1:{b64(KEY_1)},2:",
], ids=["empty", "only-commas", "no-material", "one-char", "not-base64", "31-bytes",
        "33-bytes", "16-bytes", "missing-version", "empty-version", "version-0",
        "version-256", "negative-version", "letter-version", "decimal-version",
        "second-key-empty"])
def test_malformed_key_specs_are_refused(spec: str) -> None:
    _key_error(parse_keys, spec)


def test_key_with_characters_outside_base64url_is_refused() -> None:
    """Stray characters (a shell's '$', a '!') must not be silently dropped from a key."""
    material = b64(KEY_1)
    spec = f"1:{material[:20]}!!{material[20:]}"
    _key_error(parse_keys, spec)


def test_superscript_version_is_refused_with_key_material_error() -> None:
    """'²' passes str.isdigit() but not int(): it must still be a KeyMaterialError."""
    _key_error(parse_keys, f"²:{b64(KEY_1)}")


def test_from_settings_checks_the_lookup_key() -> None:
    _key_error(Protector.from_settings, f"1:{b64(KEY_1)}", b64(LOOKUP_KEY[:31]))
    _key_error(Protector.from_settings, f"1:{b64(KEY_1)}", "a")
    _key_error(Protector.from_settings, f"1:{b64(KEY_1)}", "")
    _key_error(Protector.from_settings, "", b64(LOOKUP_KEY))
    built = Protector.from_settings(f"1:{b64(KEY_1)}", b64(LOOKUP_KEY + b"longer"))
    assert built.lookup_key == LOOKUP_KEY + b"longer"
    assert built.keys == {1: KEY_1}


# --- look-up hashes -------------------------------------------------------------------------

def test_lookup_hash_is_deterministic(protector: Protector) -> None:
    first = protector.lookup_hash("0912345678", purpose=b"phone")
    again = Protector(keys={2: KEY_2}, lookup_key=LOOKUP_KEY).lookup_hash(
        "0912345678", purpose=b"phone")
    assert first == again  # independent of the encryption keys
    assert len(first) == 32


def test_lookup_hash_differs_by_purpose(protector: Protector) -> None:
    assert (protector.lookup_hash("0912345678", purpose=b"phone")
            != protector.lookup_hash("0912345678", purpose=b"email"))


def test_lookup_hash_differs_by_key(protector: Protector) -> None:
    other = Protector(keys={1: KEY_1}, lookup_key=OTHER_LOOKUP_KEY)
    assert (protector.lookup_hash("0912345678", purpose=b"phone")
            != other.lookup_hash("0912345678", purpose=b"phone"))


def test_lookup_hash_differs_by_value(protector: Protector) -> None:
    assert (protector.lookup_hash("0912345678", purpose=b"phone")
            != protector.lookup_hash("0912345679", purpose=b"phone"))


def test_lookup_hash_does_not_reveal_the_value(protector: Protector) -> None:
    digest = protector.lookup_hash("0912345678", purpose=b"phone")
    assert b"0912345678" not in digest
    assert digest != protector.lookup_hash("0912345678", purpose=b"phone\x00")
