"""The browser's VN1 verifier (``app/clients/shared/vn1.js``) agrees with the reference.

The conformance test of the format: credentials made by the Python side
(``identity.credentials.vn1`` and the hostile helpers of its tests), valid
ones and every kind of broken one, are verified by the reference verifier and,
in headless Chromium, by ``verifyVn1`` imported from the page the service
serves (under its Content-Security-Policy). Both must give the expected
answer: valid with the same type, claims, expiry and key id, or the same
reason code. The worked example of ``docs/vn1.md`` is checked to the byte.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import re
import zlib
from collections.abc import Iterator
from typing import Any

import cbor2
import pytest
from flask import Flask

from identity.credentials import base45, vn1
from tests.e2e.browser import browser_tests, chromium, console_errors
from tests.e2e.inprocess import serving
from tests.e2e.live import ROOT
from tests.identity.credentials.vn1_helpers import (EPOCH, NOW, claims_map, forge, make, new_key,
                                                    pack, sign1_parts)

pytestmark = browser_tests

ACTIVE, RETIRED, REVOKED, STRANGER = new_key(), new_key(), new_key(), new_key()
RETIRED_AT = dt.datetime.fromtimestamp(NOW - 3600, dt.timezone.utc)
TRUST: dict[str, Any] = {"issuer": "VN", "keys": [
    vn1.jwk(ACTIVE.public_key(), status="active", not_before=EPOCH, not_after=None),
    {"kty": "OKP", "crv": "Ed25519", "x": "AAAA", "kid": "AAAAAAAAAAA", "alg": "EdDSA"},
    vn1.jwk(RETIRED.public_key(), status="retired", not_before=EPOCH, not_after=RETIRED_AT),
    vn1.jwk(REVOKED.public_key(), status="revoked", not_before=EPOCH, not_after=RETIRED_AT)]}
BROKEN_TRUST = {"issuer": "VN", "keys": [dict(TRUST["keys"][0], kid=TRUST["keys"][2]["kid"])]}
KID = vn1.key_id(ACTIVE.public_key())


def recode(raw: bytes, *, tail: bytes = b"") -> str:
    return vn1.PREFIX + base45.b45encode(zlib.compress(raw, 9) + tail)


def flip(text: str, part: int, byte: int) -> str:
    parts = sign1_parts(text)
    changed = bytearray(parts[part])
    changed[byte] ^= 0x01
    parts[part] = bytes(changed)
    return pack(parts)


def body(**changes: Any) -> dict[str, Any]:
    content: dict[str, Any] = {"t": "identity", "v": 1, "c": {"nm": "A"}}
    content.update(changes)
    return content


def nested(depth: int) -> Any:
    value: Any = 0
    for _ in range(depth):
        value = [value]
    return value


def duplicated(encoded: bytes) -> bytes:
    """A CBOR map (of fewer than 23 entries) with its ``1: "VN"`` entry written twice."""
    return bytes([encoded[0] + 1]) + encoded[1:] + b"\x01\x62VN"


def cases() -> list[dict[str, Any]]:
    """(name, text, options, expected): the answer both verifiers must give."""
    valid = make(ACTIVE, audience="rp:vcb01", nonce="Qx7-kP2mZ9aa")
    raw = zlib.decompress(vn1.b45decode(valid[4:]))
    protected, _, payload, signature = sign1_parts(valid)
    at = {"now": NOW + 10}

    bstr = vn1._bstr

    def padded(raw_item: bytes) -> bytes:
        """Padded with zero bytes to the canonical item's length."""
        return raw_item + bytes(3 + 2 * len(bstr(protected)) + len(bstr(payload)) - len(raw_item))

    def extra_header(extra: bytes) -> str:
        """The credential with one more protected header entry (the signature kept)."""
        return pack([b"\xa3\x01\x26\x04\x48" + KID + extra, {}, payload, signature])

    rows: list[tuple[str, Any, dict[str, Any], str]] = [
        ("valid, audience and nonce expected", valid,
         {**at, "audience": "rp:vcb01", "nonce": "Qx7-kP2mZ9aa"}, "valid"),
        ("valid, an audience not asked for", valid, at, "valid"),
        ("valid at the leeway's edge", valid, {"now": NOW + 120 + 29}, "valid"),
        ("valid with Unicode and every claim type", make(ACTIVE, claims={
            "nm": "Nguyễn Thị Ánh Tuyết", "lvl": 2, "o18": True, "vu": None, "amt": 150000,
            "deep": nested(12)}), at, "valid"),
        ("valid, signed by a retired key before it retired",
         make(RETIRED, issued_at=NOW - 7200, lifetime=8000), at, "valid"),
        # 1: the text
        ("not text", 42, at, "malformed"),
        ("empty", "", at, "malformed"),
        ("not VN1", "HC1:6BFOXN*TS0BI$ZD4N9:9S6RCVN5+O30K3/XIV0W23NTDE", at, "malformed"),
        ("lower-case prefix", "vn1:" + valid[4:], at, "malformed"),
        ("over 2,000 characters", "VN1:" + "0" * 1997, at, "malformed"),
        ("garbage Base45 (lower case)", "VN1:" + valid[4:].lower(), at, "malformed"),
        ("a character outside Latin-1", valid[:-3] + "ễ" + valid[-2:], at, "malformed"),
        ("a Base45 group above 65,535", "VN1:" + ":::" + valid[7:], at, "malformed"),
        ("a Base45 length of 1 mod 3", valid + "0", at, "malformed"),
        # 2: zlib and the COSE envelope
        ("not zlib", "VN1:" + base45.b45encode(b"not a zlib stream at all"), at, "malformed"),
        ("truncated zlib", "VN1:" + base45.b45encode(zlib.compress(raw, 9)[:-6]), at, "malformed"),
        ("a bad Adler-32", "VN1:" + base45.b45encode(
            zlib.compress(raw, 9)[:-1] + bytes([zlib.compress(raw, 9)[-1] ^ 1])), at, "malformed"),
        ("bytes after the zlib stream", recode(raw, tail=b"\0\0"), at, "malformed"),
        ("a zlib bomb", recode(bytes(4097)), at, "malformed"),
        ("not CBOR", recode(b"\xff\xfe\xfd"), at, "malformed"),
        ("not tag 18", pack(sign1_parts(valid), tag=98), at, "malformed"),
        ("three elements", pack(sign1_parts(valid)[:3]), at, "malformed"),
        ("a non-empty unprotected header", pack([protected, {4: KID}, payload, signature]), at,
         "malformed"),
        ("a byte after the item", recode(raw + b"\0"), at, "malformed"),
        ("a non-shortest length", recode(raw[:2] + bytes([0x58, raw[2] - 0x40]) + raw[3:]), at,
         "malformed"),
        ("a payload of the wrong type", pack([protected, {}, "text", signature]), at, "malformed"),
        # cbor2 resolves these references into the bytes they stand for; padded to the length
        # of the canonical item, a length check alone would let them through
        ("a shared reference for the signature (tags 28, 29)", recode(padded(
            b"\xd2\x84\xd8\x1c" + bstr(protected) + b"\xa0" + bstr(payload) + b"\xd8\x1d\x00")),
         at, "malformed"),
        ("a string reference for the signature (tags 256, 25)", recode(padded(
            b"\xd2\xd9\x01\x00\x84" + bstr(protected) + b"\xa0" + bstr(payload)
            + b"\xd8\x19\x00")), at, "malformed"),
        # 3 to 6: header, key, signature
        ("a header that is not a map", pack([b"\x82\x01\x26", {}, payload, signature]), at,
         "malformed"),
        ("a duplicate header key", extra_header(b"\x01\x26"), at, "malformed"),
        ("a header key true beside alg (1 == True)", extra_header(b"\xf5\x00"),
         at, "malformed"),
        # the reference reads maps as Python dicts, where the key 1.0 is the key 1
        ("alg keyed by the float 1.0", forge(ACTIVE, header={1.0: -7, 4: KID},  # type: ignore
                                             payload=claims_map()), at, "valid"),
        ("a simple value in the header", extra_header(b"\x05\xf0"), at, "bad_signature"),
        ("the simple value 1 as the alg key (== 1 in cbor2)",
         pack([b"\xa2\xe1\x26\x04\x48" + KID, {}, payload, signature]), at, "bad_signature"),
        ("a break as a header value", extra_header(b"\x05\xff"), at, "malformed"),
        ("a break after a key of a chunked map", pack([b"\xbf\x01\x26\x04\x48" + KID
                                                       + b"\x05\xff", {}, payload, signature]),
         at, "malformed"),
        ("a header map in chunks", pack([b"\xbf\x01\x26\x04\x48" + KID + b"\xff", {}, payload,
                                         signature]), at, "bad_signature"),
        ("a bad two-byte simple value", extra_header(b"\x05\xf8\x10"), at, "malformed"),
        ("bytes in chunks in the header", extra_header(b"\x05\x5f\x41\x01\x42\x02\x03\xff"),
         at, "bad_signature"),
        ("text chunks of another kind", extra_header(b"\x05\x5f\x61a\xff"),
         at, "malformed"),
        ("a character split over two chunks", extra_header(b"\x05\x7f\x61\xc3\x61\xa9\xff"),
         at, "malformed"),
        ("a chunked name, signed", forge(ACTIVE, payload=cbor2.dumps(claims_map()).replace(
            b"\x61c\xa1\x62nm\x61A", b"\x61c\xa1\x62nm\x7f\x61A\x62\xc3\xa9\xff")), at,
         "valid"),
        ("a datetime tag on a number", extra_header(b"\x05\xc0\x01"), at, "malformed"),
        ("a datetime tag on a date", extra_header(b"\x05\xc0\x742026-12-05T03:00:00Z"), at,
         "bad_signature"),
        ("a rational over zero", extra_header(b"\x05\xd8\x1e\x82\x01\x00"), at, "malformed"),
        ("a UUID of 4 bytes", extra_header(b"\x05\xd8\x25\x44\x01\x02\x03\x04"), at,
         "malformed"),
        ("a tag 999 on anything", extra_header(b"\x05\xd9\x03\xe7\x01"), at, "bad_signature"),
        ("invalid UTF-8 in the header", extra_header(b"\x05\x61\xff"), at, "malformed"),
        ("alg -35", forge(ACTIVE, header={1: -35, 4: KID}, payload=claims_map()), at,
         "unsupported_algorithm"),
        ("alg as text", forge(ACTIVE, header={1: "ES256", 4: KID}, payload=claims_map()), at,
         "unsupported_algorithm"),
        ("alg missing", forge(ACTIVE, header={4: KID}, payload=claims_map()), at,
         "unsupported_algorithm"),
        ("kid missing", forge(ACTIVE, header={1: -7}, payload=claims_map()), at, "unknown_key"),
        ("kid as text", forge(ACTIVE, header={1: -7, 4: "kid"}, payload=claims_map()), at,
         "unknown_key"),
        ("an unknown key", make(STRANGER), at, "unknown_key"),
        ("a trust list that cannot be parsed", valid, {**at, "trust": BROKEN_TRUST},
         "unknown_key"),
        ("not VN1 with a broken trust list", "hello", {**at, "trust": BROKEN_TRUST},
         "unknown_key"),
        ("an empty trust list", valid, {**at, "trust": {"issuer": "VN", "keys": []}},
         "unknown_key"),
        ("a revoked key", make(REVOKED, issued_at=NOW - 7200, lifetime=8000), at, "key_revoked"),
        ("a flipped signature bit", flip(valid, 3, 5), at, "bad_signature"),
        ("a flipped payload bit", flip(valid, 2, 30), at, "bad_signature"),
        ("an extra header entry (kid kept)", extra_header(b"\x05\x00"), at, "bad_signature"),
        ("a DER signature", pack([protected, {}, payload, b"\x30\x44" + signature[:66]]), at,
         "bad_signature"),
        ("a 63-byte signature", pack([protected, {}, payload, signature[:63]]), at,
         "bad_signature"),
        ("another credential's signature", pack([protected, {}, payload, sign1_parts(
            make(ACTIVE))[3]]), at, "bad_signature"),
        # 7: the claims (signed, so checked after the signature)
        ("a payload that is not a map", forge(ACTIVE, payload=[1, 2]), at, "malformed"),
        ("body version 2", forge(ACTIVE, payload=claims_map({-65537: body(v=2)})), at,
         "malformed"),
        ("body version 1.0 (a float)", forge(ACTIVE, payload=claims_map({-65537: body(v=1.0)})),
         at, "malformed"),
        ("body version true", forge(ACTIVE, payload=claims_map({-65537: body(v=True)})), at,
         "malformed"),
        ("a cti of 8 bytes", forge(ACTIVE, payload=claims_map({7: os.urandom(8)})), at,
         "malformed"),
        ("iat as a float", forge(ACTIVE, payload=claims_map({6: float(NOW)})), at, "malformed"),
        ("exp as text", forge(ACTIVE, payload=claims_map({4: str(NOW + 120)})), at, "malformed"),
        ("exp missing", forge(ACTIVE, payload={k: v for k, v in claims_map().items() if k != 4}),
         at, "malformed"),
        ("aud not text", forge(ACTIVE, payload=claims_map({3: 7})), at, "malformed"),
        ("a nonce not text", forge(ACTIVE, payload=claims_map({-65537: body(n=5)})), at,
         "malformed"),
        ("claims not a map", forge(ACTIVE, payload=claims_map({-65537: body(c=[1])})), at,
         "malformed"),
        ("claims nested 17 deep", forge(ACTIVE, payload=claims_map(
            {-65537: body(c={"x": nested(14)})})), at, "malformed"),
        ("a duplicate claim key", forge(ACTIVE, payload=duplicated(cbor2.dumps(claims_map()))),
         at, "malformed"),
        ("two byte-string keys alike", forge(ACTIVE, payload=bytes([0xa5 + 2]) + cbor2.dumps(
            claims_map())[1:] + b"\x41\x01\x00\x41\x01\x00"), at, "malformed"),
        ("the body under the key -65537.0", forge(ACTIVE, payload={
            (float(k) if k == -65537 else k): v for k, v in claims_map().items()}), at, "valid"),
        # 8 to 11
        ("issued in the future", valid, {"now": NOW - 31}, "not_yet_valid"),
        ("issued after its key retired", make(RETIRED, issued_at=NOW), at, "not_yet_valid"),
        ("issued before its key existed", make(ACTIVE, issued_at=int(EPOCH.timestamp()) - 60),
         at, "not_yet_valid"),
        ("expired", valid, {"now": NOW + 120 + 30}, "expired"),
        ("expired long ago", valid, {"now": NOW + 86400}, "expired"),
        ("leeway capped at 30 s", valid, {"now": NOW + 120 + 31, "leeway": 600}, "expired"),
        ("a wrong audience", valid, {**at, "audience": "rp:other"}, "wrong_audience"),
        ("an audience expected, none carried", make(ACTIVE), {**at, "audience": "rp:vcb01"},
         "wrong_audience"),
        ("a nonce mismatch", valid, {**at, "audience": "rp:vcb01", "nonce": "other-nonce"},
         "nonce_mismatch"),
        ("a nonce expected, none carried", make(ACTIVE), {**at, "nonce": "Qx7-kP2mZ9aa"},
         "nonce_mismatch"),
    ]
    return [{"name": name, "text": text, "trust": options.pop("trust", TRUST),
             "options": options, "expected": expected}
            for name, text, options, expected in rows]


def python_answer(case: dict[str, Any]) -> dict[str, Any]:
    try:
        verified = vn1.verify(case["text"], case["trust"], **case["options"])
    except vn1.VerificationError as error:
        return {"reason": error.reason,
                "credentialId": error.credential_id and vn1.b64url(error.credential_id)}
    return {"reason": "valid", "type": verified.credential_type, "claims": verified.claims,
            "expiresAt": verified.expires_at, "issuedAt": verified.issued_at,
            "kid": vn1.b64url(verified.kid), "credentialId": vn1.b64url(verified.credential_id),
            "audience": verified.audience, "nonce": verified.nonce}


SCRIPT = """
const [cases, done] = arguments;
import('/clients/shared/vn1.js').then(async (vn1) => {
  const answers = [];
  for (const c of cases) {
    const answer = await vn1.verifyVn1(c.text, c.trust, c.options);
    answers.push(JSON.parse(JSON.stringify(answer)));
  }
  done(answers);
}, (error) => done({error: String(error)}));
"""


@pytest.fixture(scope="module")
def served(app: Flask, browser_ready: None) -> Iterator[str]:
    """The service's clients on a free port (the testing app, in a thread)."""
    with serving(app) as url:
        yield url


def run_in_browser(url: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    with chromium() as driver:
        driver.set_script_timeout(60)
        driver.get(url + "/verify/")
        answers = driver.execute_async_script(SCRIPT, [
            {"text": row["text"], "trust": row["trust"], "options": row["options"]}
            for row in rows])
        assert console_errors(driver) == []
    assert isinstance(answers, list), answers
    return answers


@pytest.mark.slow
def test_the_browser_verifier_gives_the_reference_verifiers_answer(served: str) -> None:
    rows = cases()
    answers = run_in_browser(served, rows)
    assert len(answers) == len(rows)
    disagreements = []
    for row, answer in zip(rows, answers):
        python = python_answer(row)
        browser = answer["reason"] if not answer["valid"] else "valid"
        if not (python["reason"] == browser == row["expected"]):
            disagreements.append(f"{row['name']}: expected {row['expected']}, "
                                 f"Python {python['reason']}, browser {browser} "
                                 f"({answer.get('message')})")
            continue
        assert answer.get("credentialId") == python["credentialId"], row["name"]
        if browser == "valid":
            for field in ("type", "claims", "expiresAt", "issuedAt", "kid", "audience", "nonce"):
                assert answer[field] == python[field], (row["name"], field)
    assert disagreements == []


DOC = (ROOT / "docs" / "vn1.md").read_text(encoding="utf-8")


def test_the_worked_example_of_the_spec_in_the_browser(served: str) -> None:
    """docs/vn1.md's test vector and its table of expected results, in both verifiers."""
    found_text = re.search(r"```text\n(VN1:[0-9A-Z $%*+./:-]+)\n```", DOC)
    found_trust = re.search(r"Its trust list:\n\n```json\n(.+?)```", DOC, re.S)
    assert found_text and found_trust
    text, trust = found_text.group(1), json.loads(found_trust.group(1))
    rows = [{"name": name, "text": text, "trust": trust, "options": options,
             "expected": expected} for name, options, expected in [
        ("valid", {"now": 1796439610, "audience": "rp:vcb01", "nonce": "Qx7-kP2mZ9aa"},
         "valid"),
        ("wrong audience", {"now": 1796439610, "audience": "rp:other"}, "wrong_audience"),
        ("expired", {"now": 1796439751}, "expired"),
        ("not yet valid", {"now": 1796439569}, "not_yet_valid")]]
    answers = run_in_browser(served, rows)
    for row, answer in zip(rows, answers):
        assert (answer["reason"] or "valid") == python_answer(row)["reason"] == row["expected"], \
            (row["name"], answer.get("message"))
    assert answers[0]["type"] == "identity_basic"
    assert answers[0]["claims"] == {"nm": "Nguyễn Văn An", "lvl": 1, "id4": "2345"}
    assert answers[0]["kid"] == "PjxTSZaYwFM"
    assert answers[0]["credentialId"] == vn1.b64url(bytes.fromhex(
        "00112233445566778899aabbccddeeff"))


def mutate(data: bytes, rng: Any) -> bytes:
    """One to three random byte edits: a byte replaced, inserted or deleted."""
    edited = bytearray(data)
    for _ in range(rng.randint(1, 3)):
        choice = rng.random()
        if choice < 0.5 and edited:
            edited[rng.randrange(len(edited))] = rng.randrange(256)
        elif choice < 0.75:
            edited.insert(rng.randrange(len(edited) + 1), rng.randrange(256))
        elif edited:
            del edited[rng.randrange(len(edited))]
    return bytes(edited)


def test_random_mutations_get_the_same_answer_from_both(served: str) -> None:
    """600 seeded random edits, of the whole COSE item or of the protected header alone
    (parsed before the signature is checked, so its parse decides the reason): both
    verifiers give the same answer to each. (Run with other seeds: 18,000 cases, no
    difference.)"""
    import random

    rng = random.Random(19)
    text = make(ACTIVE, audience="rp:vcb01", nonce="Qx7-kP2mZ9aa")
    raw = zlib.decompress(vn1.b45decode(text[4:]))
    protected, _, payload, signature = sign1_parts(text)
    rows = []
    for number in range(600):
        mutated = (pack([mutate(protected, rng), {}, payload, signature]) if number % 2
                   else recode(mutate(raw, rng)))
        rows.append({"name": f"mutation {number}", "text": mutated, "trust": TRUST,
                     "options": {"now": NOW + 10}})
    answers = run_in_browser(served, rows)
    python = [python_answer(row)["reason"] for row in rows]
    disagreements = [f"{row['name']}: Python {reason}, browser {answer['reason'] or 'valid'} "
                     f"({answer.get('message')}) {row['text']}"
                     for row, reason, answer in zip(rows, python, answers)
                     if reason != (answer["reason"] or "valid")]
    assert disagreements == []
    # the edits reach every stage: parsing, the header, the key, the signature
    assert {"malformed", "unsupported_algorithm", "unknown_key", "bad_signature"} <= set(python)
