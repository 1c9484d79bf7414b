"""The VN1 format, byte for byte, and every reason code of the offline verifier."""
from __future__ import annotations

import datetime as dt
import hashlib
import os
import zlib

import cbor2
import pytest
from cryptography.hazmat.primitives import serialization

from identity.credentials import base45, vn1, vn1_signing
from tests.identity.credentials.vn1_helpers import (NOW, claims_map, forge, make, new_key, pack,
                                                    sign1_parts, trust)

KEY = new_key()
TRUST = trust((KEY, "active"))


def reason(text: object, trust_list: vn1.TrustList = TRUST, **kwargs: object) -> str:
    with pytest.raises(vn1.VerificationError) as caught:
        vn1.verify(text, trust_list, now=NOW, **kwargs)  # type: ignore[arg-type]
    return caught.value.reason


# --- Base45 (RFC 9285's examples) --------------------------------------------------------------

@pytest.mark.parametrize("raw, text", [(b"AB", "BB8"), (b"Hello!!", "%69 VD92EX0"),
                                       (b"base-45", "UJCLQE7W581"), (b"ietf!", "QED8WEX0"),
                                       (b"", "")])
def test_base45_matches_the_rfc(raw, text):
    assert base45.b45encode(raw) == text
    assert base45.b45decode(text) == raw


@pytest.mark.parametrize("text", ["GGW", "ZZZ", "A", "0000", "ab", "::;", "Á00", "GGW0",
                                  "000GGW", "GGW000", "000000:::", "000:::000", "00000:0"])
def test_base45_refuses_what_the_rfc_refuses(text):
    with pytest.raises(ValueError):
        base45.b45decode(text)


def test_base45_encodes_every_pair_of_bytes_as_the_rfc_says():
    """The encoder's table (one lookup per pair) against RFC 9285's arithmetic, for all 65,536
    pairs and an odd byte after them."""
    from identity.credentials.base45 import ALPHABET as alphabet
    data = bytes(b for n in range(65536) for b in divmod(n, 256)) + b"\xfe"
    expected = "".join(alphabet[n % 45] + alphabet[n // 45 % 45] + alphabet[n // 2025]
                       for n in range(65536)) + alphabet[254 % 45] + alphabet[254 // 45]
    assert base45.b45encode(data) == expected


def test_base45_round_trips_every_length():
    for size in range(0, 600, 7):
        data = os.urandom(size)
        assert base45.b45decode(base45.b45encode(data)) == data


@pytest.mark.parametrize("size", [0, 1, 249, 250, 251, 761, 762, 763, 3000, 40_000])
def test_zlib_writes_level_9_in_the_smallest_window_that_covers_the_data(size):
    data = os.urandom(size // 2) + b"VN1" * (size // 6)
    compressed = vn1_signing._zlib(data)
    assert zlib.decompress(compressed) == data
    assert compressed[2:] == zlib.compress(data, 9)[2:]  # the stream of the default window
    window = 8 + (compressed[0] >> 4)
    assert 9 <= window <= 15 and compressed[1] >> 6 == 3
    assert window == 15 or (1 << window) - 262 >= len(data)  # reaches back over all of it
    assert window == 9 or (1 << (window - 1)) - 262 < len(data)  # and no larger than that


# --- The format --------------------------------------------------------------------------------

def test_a_credential_is_laid_out_as_the_spec_says():
    text = make(KEY, audience="rp:bank-a", nonce="n0nce-123")
    assert text.startswith("VN1:") and set(text[4:]) <= set(base45.ALPHABET)
    compressed = base45.b45decode(text[4:])
    raw = zlib.decompress(compressed)
    # Level 9 (the header's FLEVEL 3), the deflate stream zlib writes at level 9 with its default
    # window, behind the header of the smallest window that covers the data.
    assert compressed[1] >> 6 == 3 and compressed[0] == 0x08 | (9 - 8) << 4
    assert compressed[2:] == zlib.compress(raw, 9)[2:]
    sign1 = cbor2.loads(raw)
    assert sign1.tag == 18 and len(sign1.value) == 4
    protected, unprotected, payload, signature = sign1.value
    spki = KEY.public_key().public_bytes(serialization.Encoding.DER,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)
    assert cbor2.loads(protected) == {1: -7, 4: hashlib.sha256(spki).digest()[:8]}
    assert unprotected == {} and len(signature) == 64
    cwt = cbor2.loads(payload)
    assert cwt[1] == "VN" and cwt[6] == NOW and cwt[4] == NOW + 120
    assert isinstance(cwt[7], bytes) and len(cwt[7]) == 16 and cwt[3] == "rp:bank-a"
    assert cwt[-65537] == {"t": "identity", "v": 1, "n": "n0nce-123", "c": {
        "id": "001090012345", "nm": "Nguyễn Văn An", "dob": "1990-05-12", "sx": "M", "lvl": 2}}
    assert vn1.signed_bytes(protected, payload) == cbor2.dumps(
        ["Signature1", protected, b"", payload])


def test_a_valid_credential_verifies_with_its_claims():
    verified = vn1.verify(make(KEY, audience="rp:bank-a", nonce="n0nce-123"), TRUST, now=NOW,
                          audience="rp:bank-a", nonce="n0nce-123")
    assert verified.credential_type == "identity" and verified.claims["nm"] == "Nguyễn Văn An"
    assert (verified.issued_at, verified.expires_at) == (NOW, NOW + 120)
    assert verified.kid == vn1.key_id(KEY.public_key())


def test_the_trust_list_round_trips_and_refuses_a_kid_that_is_not_its_key():
    document = {"issuer": "VN", "keys": [vn1.jwk(KEY.public_key(), status="active",
                                                 not_before=dt.datetime.now(dt.timezone.utc),
                                                 not_after=None)]}
    assert list(vn1.TrustList.from_json(document).keys) == [vn1.key_id(KEY.public_key())]
    document["keys"][0]["kid"] = vn1.b64url(b"\0" * 8)
    with pytest.raises(ValueError):
        vn1.TrustList.from_json(document)


# --- Every reason code -------------------------------------------------------------------------

@pytest.mark.parametrize("text", [
    None, 42, "", "VN1:", "vn1:" + make(KEY)[4:], "VN2:" + make(KEY)[4:], make(KEY) + "~",
    "VN1:" + "0" * 2100, make(KEY)[:-3], "VN1:" + base45.b45encode(b"not zlib at all"),
    "VN1:" + base45.b45encode(zlib.compress(b"\x00" * 5000, 9)),  # a zlib bomb, bounded
    "VN1:" + base45.b45encode(zlib.compress(cbor2.dumps([1, 2, 3, 4]), 9)),  # no tag 18
    "VN1:" + base45.b45encode(zlib.compress(cbor2.dumps(cbor2.CBORTag(18, [1, 2, 3])), 9)),
])
def test_malformed(text):
    assert reason(text) == "malformed"


def test_malformed_when_anything_follows_the_cose_item():
    parts = sign1_parts(make(KEY))
    raw = cbor2.dumps(cbor2.CBORTag(18, parts)) + b"\x00"
    assert reason("VN1:" + base45.b45encode(zlib.compress(raw, 9))) == "malformed"


def recode(raw: bytes) -> str:
    return "VN1:" + base45.b45encode(zlib.compress(raw, 9))


def bstr_forms(data: bytes) -> list[bytes]:
    """``data`` as a CBOR byte string in every spelling but the shortest one."""
    size = len(data)
    return [*([bytes((0x58, size)) + data] if size < 24 else []),
            *([b"\x59" + size.to_bytes(2) + data] if size < 256 else []),
            b"\x5a" + size.to_bytes(4) + data, b"\x5f" + cbor2.dumps(data) + b"\xff",
            b"\x5f" + cbor2.dumps(data[:3]) + cbor2.dumps(data[3:]) + b"\xff"]


def test_malformed_unless_every_byte_string_has_its_shortest_form():
    valid = make(KEY, claims={"nm": "Nguyễn " * 50})  # a payload over 255 bytes: 0x59 ...
    assert vn1.verify(valid, TRUST, now=NOW).claims["nm"].startswith("Nguyễn")
    protected, _, payload, signature = sign1_parts(valid)
    assert len(payload) > 255
    bstr = vn1._bstr
    for position, data in enumerate((protected, payload, signature)):
        for form in bstr_forms(data):
            fields = [bstr(protected), bstr(payload), bstr(signature)]
            fields[position] = form
            raw = b"\xd2\x84" + fields[0] + b"\xa0" + fields[1] + fields[2]
            assert cbor2.loads(raw).value[position if position == 0 else position + 1] == data
            assert reason(recode(raw)) == "malformed", (position, form[:3])
    canonical = b"\xd2\x84" + bstr(protected) + b"\xa0" + bstr(payload) + bstr(signature)
    for other in (b"\xd8\x12\x84", b"\xd2\x98\x04"):  # tag 18, an array of 4: longer forms
        assert reason(recode(other + canonical[2:])) == "malformed"
    assert reason(recode(canonical[:2] + bstr(protected) + b"\xb8\x00" + canonical[
        3 + len(bstr(protected)):])) == "malformed"  # an empty map, in a longer form


def test_malformed_when_a_cbor_reference_stands_for_a_field():
    """cbor2 resolves a shared value (tags 28 and 29) or a string reference (tags 256 and 25)
    into the bytes it stands for; step 2 wants the one canonical encoding, and so does the
    browser's verifier (which reads these tags as tags: ``malformed``). Padded to the length
    of the canonical item, as a length check alone would let them through."""
    protected, _, payload, _ = sign1_parts(make(KEY))
    bstr = vn1._bstr
    size = 3 + 2 * len(bstr(protected)) + len(bstr(payload))
    shared = b"\xd2\x84\xd8\x1c" + bstr(protected) + b"\xa0" + bstr(payload) + b"\xd8\x1d\x00"
    strings = (b"\xd2\xd9\x01\x00\x84" + bstr(protected) + b"\xa0" + bstr(payload)
               + b"\xd8\x19\x00")
    for raw in (shared, strings):
        raw += bytes(size - len(raw))
        assert cbor2.loads(raw).value[3] == protected  # what cbor2 makes of it
        assert reason(recode(raw)) == "malformed"


def test_malformed_when_the_other_tag_or_the_unprotected_map_is_used():
    parts = sign1_parts(make(KEY))
    assert reason(pack(parts, tag=98)) == "malformed"
    assert reason(pack([parts[0], {4: b"x"}, parts[2], parts[3]])) == "malformed"


def test_malformed_payload_even_when_signed():
    assert reason(forge(KEY, payload=[1, 2])) == "malformed"
    assert reason(forge(KEY, payload=claims_map({6: "yesterday"}))) == "malformed"
    assert reason(forge(KEY, payload=claims_map({7: b"short"}))) == "malformed"
    assert reason(forge(KEY, payload=b"\xff\xff")) == "malformed"


@pytest.mark.parametrize("alg", [-35, -8, 0, "ES256", None])
def test_unsupported_algorithm(alg):
    header = {1: alg, 4: vn1.key_id(KEY.public_key())}
    assert reason(forge(KEY, header=header, payload=claims_map())) == "unsupported_algorithm"


def test_unknown_key():
    other = new_key()
    assert reason(make(other)) == "unknown_key"
    assert reason(forge(KEY, header={1: -7}, payload=claims_map())) == "unknown_key"


def test_key_revoked():
    assert reason(make(KEY), trust((KEY, "revoked"))) == "key_revoked"


def test_bad_signature():
    parts = sign1_parts(make(KEY))
    parts[3] = bytes(64)
    assert reason(pack(parts)) == "bad_signature"
    other_parts = sign1_parts(make(KEY, claims={"nm": "Someone Else"}))
    parts = sign1_parts(make(KEY))
    parts[2] = other_parts[2]  # someone else's claims under this signature
    assert reason(pack(parts)) == "bad_signature"


def test_not_yet_valid():
    assert reason(make(KEY, issued_at=NOW + 31)) == "not_yet_valid"
    assert vn1.verify(make(KEY, issued_at=NOW + 30), TRUST, now=NOW)  # inside the leeway
    later = dt.datetime.fromtimestamp(NOW + 3600, dt.timezone.utc)
    before_key = trust((KEY, "active"), not_before=later)
    assert reason(make(KEY), before_key) == "not_yet_valid"


def test_a_retired_key_verifies_what_it_signed_before_retiring_and_nothing_after():
    retired_at = dt.datetime.fromtimestamp(NOW, dt.timezone.utc)
    retired = trust((KEY, "retired"), not_after=retired_at)
    assert vn1.verify(make(KEY, issued_at=NOW - 60), retired, now=NOW).claims
    assert reason(make(KEY, issued_at=NOW + 10), retired) == "not_yet_valid"
    assert reason(make(KEY, issued_at=NOW - 200), retired) == "expired"


def test_expired():
    assert reason(make(KEY, issued_at=NOW - 151)) == "expired"
    assert vn1.verify(make(KEY, issued_at=NOW - 149), TRUST, now=NOW)  # 30 s of leeway
    assert reason(make(KEY, issued_at=NOW - 125), leeway=0) == "expired"
    assert reason(make(KEY, issued_at=NOW - 200), leeway=3600) == "expired"  # capped at 30 s


def test_wrong_audience_a_credential_for_bank_a_is_refused_by_bank_b():
    text = make(KEY, audience="rp:bank-a")
    assert vn1.verify(text, TRUST, now=NOW, audience="rp:bank-a")
    assert reason(text, audience="rp:bank-b") == "wrong_audience"
    assert reason(make(KEY), audience="rp:bank-b") == "wrong_audience"


def test_nonce_mismatch():
    text = make(KEY, nonce="first-nonce")
    assert vn1.verify(text, TRUST, now=NOW, nonce="first-nonce")
    assert reason(text, nonce="second-nonce") == "nonce_mismatch"
    assert reason(make(KEY), nonce="first-nonce") == "nonce_mismatch"


def test_errors_after_the_signature_carry_the_trusted_credential_id():
    with pytest.raises(vn1.VerificationError) as caught:
        vn1.verify(make(KEY, issued_at=NOW - 500), TRUST, now=NOW)
    assert caught.value.reason == "expired" and len(caught.value.credential_id or b"") == 16
    with pytest.raises(vn1.VerificationError) as caught:
        vn1.verify(make(new_key()), TRUST, now=NOW)
    assert caught.value.credential_id is None


def test_an_unusable_trust_list_is_unknown_key_not_a_crash():
    assert reason(make(KEY), {"issuer": "VN", "keys": "nope"}) == "unknown_key"  # type: ignore


def test_the_package_offers_the_verifier_with_the_issues_signature():
    from identity import credentials

    moment = dt.datetime.fromtimestamp(NOW, dt.timezone.utc)
    document = {"issuer": "VN", "keys": [vn1.jwk(KEY.public_key(), status="active",
                                                 not_before=moment - dt.timedelta(days=1),
                                                 not_after=None)]}
    verified = credentials.verify(make(KEY, audience="rp:a", nonce="n0nce-123"), document,
                                  now=moment, audience="rp:a", nonce="n0nce-123")
    assert verified.claims["id"] == "001090012345"
    with pytest.raises(credentials.VerificationError) as caught:
        credentials.verify("VN1:", document, now=moment)
    assert caught.value.reason in credentials.REASONS


@pytest.mark.parametrize("r, s", [
    (1, 1), (0, 2**255), (2**255, 2**256 - 1), (0x7F << 248, 0x80 << 248), (2**248 - 1, 127),
    (0, 0), (0x0080 << 240, 0x00FF), *[(int.from_bytes(hashlib.sha256(b"r%d" % n).digest()),
                                        int.from_bytes(hashlib.sha256(b"s%d" % n).digest()))
                                       for n in range(200)]])
def test_the_der_signature_is_the_one_encode_dss_signature_makes(r, s):
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
    assert vn1.der_signature(r.to_bytes(32) + s.to_bytes(32)) == encode_dss_signature(r, s)
