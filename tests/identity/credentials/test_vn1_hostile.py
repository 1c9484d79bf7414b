"""Whatever is done to a credential, the verifier raises only its own error; and QR sizes."""
from __future__ import annotations

import zlib

import cbor2
import segno
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from identity.credentials import base45, vn1
from identity.credentials.schemas import MAX_AUDIENCE, MAX_NONCE
from tests.identity.credentials.vn1_helpers import (NOW, forge, make, new_key, pack, sign1_parts,
                                                    trust)

KEY = new_key()
TRUST = trust((KEY, "active"))
VALID = make(KEY, audience="rp:bank-a", nonce="n0nce-123")
RAW = zlib.decompress(vn1.b45decode(VALID[4:]))
PARTS = sign1_parts(VALID)


def only_own_errors(text: object) -> None:
    """The verifier refuses ``text`` with one of its own reasons, or ``text`` is the credential.

    A mutation may leave the credential intact (the same character drawn again, a
    flip in the padding bits of the deflate stream, the whole text kept by a
    "truncation"): then it must carry exactly the signed bytes of the original.
    Anything else that verifies is a forgery the test exists to catch.
    """
    try:
        vn1.verify(text, TRUST, now=NOW)
    except vn1.VerificationError as error:
        assert error.reason in vn1.REASONS
        return
    assert isinstance(text, str) and zlib.decompress(vn1.b45decode(text[4:])) == RAW, \
        f"a mutated credential verified: {text!r}"


def test_only_own_errors_fails_when_a_mutation_verifies():
    """The check above is not vacuous: an intact credential passes, a forged one fails it."""
    only_own_errors(VALID)
    other = make(KEY, audience="rp:bank-b", nonce="n0nce-456")  # validly signed, other content
    try:
        only_own_errors(other)
    except AssertionError:
        return
    raise AssertionError("only_own_errors accepted a credential that is not the original")


def recode(raw: bytes) -> str:
    return "VN1:" + base45.b45encode(zlib.compress(raw, 9))


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_bit_flips_in_the_text_and_in_the_cbor(data):
    position = data.draw(st.integers(0, len(RAW) * 8 - 1))
    flipped = bytearray(RAW)
    flipped[position // 8] ^= 1 << (position % 8)
    only_own_errors(recode(bytes(flipped)))
    index = data.draw(st.integers(4, len(VALID) - 1))
    char = data.draw(st.sampled_from(base45.ALPHABET + "a~é\x00"))
    only_own_errors(VALID[:index] + char + VALID[index + 1:])


@settings(max_examples=200)
@given(st.integers(0, len(VALID)), st.integers(0, len(RAW)))
def test_truncation(cut_text, cut_raw):
    only_own_errors(VALID[:cut_text])
    only_own_errors(recode(RAW[:cut_raw]))


@settings(max_examples=100)
@given(st.text(max_size=8))
def test_wrong_prefixes(prefix):
    only_own_errors(prefix + VALID[4:])


@settings(max_examples=30, deadline=None)
@given(st.integers(4_097, 5_000_000), st.sampled_from([b"\x00", b"\xa0", b"\x9f"]))
def test_zlib_bombs_are_refused_without_inflating_them(size, filler):
    bomb = zlib.compress(filler * size, 9)
    text = "VN1:" + base45.b45encode(bomb)
    if len(text) <= vn1.MAX_TEXT:
        only_own_errors(text)
    try:
        vn1.verify(text, TRUST, now=NOW)
    except vn1.VerificationError as error:
        assert error.reason == "malformed"


CBOR_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats() | st.binary(max_size=40)
    | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.integers(-70000, 10) | st.text(max_size=3), children, max_size=4),
    max_leaves=12)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 3), CBOR_VALUES)
def test_wrong_cbor_types_in_every_field(position, value):
    parts = list(PARTS)
    parts[position] = value
    try:
        only_own_errors(pack(parts))
    except (TypeError, ValueError, OverflowError):
        pass  # cbor2 could not even encode this value: nothing to verify


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(CBOR_VALUES)
def test_signed_payloads_of_any_shape(payload):
    try:
        text = forge(KEY, payload=payload)
    except (TypeError, ValueError, OverflowError):
        return
    only_own_errors(text)


@settings(max_examples=50)
@given(st.binary(min_size=0, max_size=80))
def test_a_second_signature_or_extra_elements(extra):
    only_own_errors(pack(PARTS + [extra]))
    only_own_errors(pack([PARTS[0], {}, PARTS[2], PARTS[3] + extra]))
    only_own_errors(pack([PARTS[0], {}, PARTS[2], [PARTS[3], extra]]))
    only_own_errors(recode(cbor2.dumps(cbor2.CBORTag(98, [PARTS[0], {}, PARTS[2],
                                                          [[b"", {}, PARTS[3]]]]))))


@settings(max_examples=100)
@given(st.text(alphabet=base45.ALPHABET, max_size=2100))
def test_random_base45(text):
    only_own_errors("VN1:" + text)


# --- Size: the QR a cheap phone camera reads from a screen -------------------------------------

#: Long Vietnamese names of 30-31 characters, heavy with diacritics (up to 43 UTF-8 bytes).
LONG_NAMES = ["Nguyễn Huỳnh Thị Phượng Quỳnh Ý", "Trịnh Lưu Thị Hoàng Nguyệt Ánh",
              "Tôn Nữ Thị Phương Quỳnh Trần Lê", "Hoàng Phủ Ngọc Tường Nguyễn Ưu"]
#: The longest audience and nonce the API takes, random so that zlib gains nothing.
AUDIENCE, NONCE = "rp:Zq8-xT3_kW9pL", "Hb4._r7~Kd2Q"


def qr_version(text: str) -> int:
    return int(segno.make(text, error="m", mode="alphanumeric", boost_error=False).version)


def test_the_longest_identity_credential_fits_version_12():
    assert (len(AUDIENCE), len(NONCE)) == (MAX_AUDIENCE, MAX_NONCE)
    for name in LONG_NAMES:
        for _ in range(5):  # the random credential id and signature vary the size
            text = make(KEY, claims={"id": "079312345678", "nm": name, "dob": "1990-12-31",
                                     "sx": "F", "lvl": 2}, audience=AUDIENCE, nonce=NONCE)
            assert qr_version(text) <= 12, (name, qr_version(text), len(text))


def test_age_over_18_fits_version_10():
    for _ in range(5):
        text = make(KEY, credential_type="age_over_18", claims={"o18": True, "lvl": 2},
                    audience=AUDIENCE, nonce=NONCE)
        assert qr_version(text) <= 10, (qr_version(text), len(text))
