"""No personal data in clear in Redis, in any key family (item 7 of issue 16).

A citizen registers, logs in, gets a credential and has its QR rendered as PNG
and SVG (twice: the second answer comes from the cache), is looked up by a
bank, is listed as a guest in a lodging notice, and starts a registration that
waits for its code. Then every Redis key and every value (strings, hashes,
lists, sets, sorted sets; RQ's zlib-compressed job payloads and base64 text
opened too; PNG images decoded as QR codes) is searched for the citizen's
personal id, name, phone and date of birth, in every written form.
"""
from __future__ import annotations

import base64
import binascii
import io
import re
import unicodedata
import zlib
from collections.abc import Iterator
from typing import Any

import zxingcpp
from PIL import Image

from identity.credentials import keys
from identity.audit.service import Actor
from tests.factories import add_citizen
from tests.flows import (PASSCODE, Phone, bearer, create_party, login, party_token, register,
                         registration_body)
from tests.utilities.residence.helpers import STAY_COMMUNE

PNG = b"\x89PNG\r\n\x1a\n"


def _ascii(text: str) -> str:
    """The text without its diacritics (Nguyễn -> Nguyen, đ -> d)."""
    folded = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    return "".join(ch for ch in folded if not unicodedata.combining(ch))


def _forms(citizen: Any) -> set[str]:
    """Every written form of the citizen's personal data, lower case."""
    phone = citizen.test_phone
    national = phone[1:]
    name = citizen.full_name
    born = citizen.date_of_birth
    forms = {citizen.personal_id, phone, "+84" + national, "84" + national, national,
             f"{phone[:4]} {phone[4:7]} {phone[7:]}", f"{phone[:4]}.{phone[4:7]}.{phone[7:]}",
             born.isoformat(), born.strftime("%d/%m/%Y"), born.strftime("%Y%m%d"),
             born.strftime("%d%m%Y"), born.strftime("%d-%m-%Y")}
    for variant in (name, unicodedata.normalize("NFD", name), _ascii(name)):
        forms |= {variant, variant.replace(" ", ""), variant.replace(" ", "+"),
                  variant.replace(" ", "%20")}
    return {form.lower() for form in forms}


def _blobs(client: Any) -> Iterator[tuple[str, bytes]]:
    """(key, bytes) for every key name and every value held under it."""
    for raw_key in client.scan_iter(count=1000):
        key = raw_key.decode("utf-8", "replace") if isinstance(raw_key, bytes) else raw_key
        yield key, key.encode()
        kind = client.type(raw_key)
        kind = kind.decode() if isinstance(kind, bytes) else kind
        if kind == "string":
            values = [client.get(raw_key)]
        elif kind == "hash":
            values = [part for pair in client.hgetall(raw_key).items() for part in pair]
        elif kind == "list":
            values = client.lrange(raw_key, 0, -1)
        elif kind == "set":
            values = list(client.smembers(raw_key))
        elif kind == "zset":
            values = list(client.zrange(raw_key, 0, -1))
        else:
            values = []
        for value in values:
            if value is not None:
                yield key, value if isinstance(value, bytes) else str(value).encode()


def _opened(blob: bytes) -> Iterator[bytes]:
    """The blob and what it may hide: zlib (RQ's job data), base64 text, a QR in a PNG."""
    yield blob
    try:
        yield zlib.decompress(blob)
    except zlib.error:
        pass
    for token in re.findall(rb"[A-Za-z0-9+/_=-]{16,}", blob):
        for decode in (base64.b64decode, base64.urlsafe_b64decode):
            try:
                yield decode(token + b"=" * (-len(token) % 4))
            except (binascii.Error, ValueError):
                pass
    if blob.startswith(PNG):
        image = Image.open(io.BytesIO(blob)).convert("L")
        yield from (code.text.encode() for code in zxingcpp.read_barcodes(
            image, formats=zxingcpp.BarcodeFormat.QRCode))


def test_no_personal_data_in_clear_in_any_redis_key_or_value(app: Any, client: Any,
                                                             db_session: Any, protector: Any,
                                                             redis: Any) -> None:
    app.config["LODGING_LIMIT_PER_ACCOUNT"] = "1000 per minute"
    keys.rotate_keys(db_session=db_session, protector=protector,
                     actor=Actor(type="operator", id="test"))
    citizen = add_citizen(db_session, protector, full_name="Nguyễn Thị Phương Thảo")
    phone = Phone()
    register(client, citizen, phone)
    headers = bearer(login(client, citizen.personal_id, phone)["access_token"])
    issued = client.post("/api/v1/credentials", headers=headers,
                         json={"type": "identity_basic", "passcode": PASSCODE})
    assert issued.status_code == 201, issued.get_json()
    credential_id = issued.get_json()["credential_id"]
    images = {}
    for kind in ("png", "svg", "png", "svg"):  # the second of each comes from the cache
        answer = client.get(f"/api/v1/credentials/{credential_id}/qr.{kind}", headers=headers)
        assert answer.status_code == 200
        assert images.setdefault(kind, answer.data) == answer.data
    decoded = zxingcpp.read_barcodes(Image.open(io.BytesIO(images["png"])).convert("L"),
                                     formats=zxingcpp.BarcodeFormat.QRCode)
    assert [code.text for code in decoded] == [issued.get_json()["qr"]]
    # A host lists the citizen as a guest; a bank matches the citizen's identity.
    host = add_citizen(db_session, protector)
    host_phone = Phone()
    register(client, host, host_phone)
    host_headers = bearer(login(client, host.personal_id, host_phone)["access_token"])
    assert client.post("/api/v1/residence/lodging-notices", headers=host_headers, json={
        "commune_code": STAY_COMMUNE, "address": "Số 3, phố Huế", "guests": [{
            "personal_id": citizen.personal_id, "full_name": citizen.full_name,
            "date_of_birth": citizen.date_of_birth.isoformat(), "arrival": "2026-12-05",
            "departure": "2026-12-07"}]}).status_code in (201, 422)
    bank = create_party(db_session, protector, scopes=("identity.match",))
    matched = client.post("/api/v1/rp/identity-match",
                          headers=bearer(party_token(client, bank)), json={
                              "personal_id": citizen.personal_id,
                              "full_name": citizen.full_name,
                              "date_of_birth": citizen.date_of_birth.isoformat(),
                              "phone": citizen.test_phone})
    assert matched.status_code == 200, matched.get_json()
    # A registration of someone else waits for its code (its payload is in Redis meanwhile).
    waiting = add_citizen(db_session, protector, full_name="Trần Văn Bảo")
    started = client.post("/api/v1/accounts/registrations",
                          json=registration_body(waiting, Phone(),
                                                 phone_number=waiting.test_phone))
    assert started.status_code == 202, started.get_json()

    forms = {"citizen": _forms(citizen), "registrant": _forms(waiting)}
    found, scanned = [], 0
    for key, blob in _blobs(redis):
        scanned += 1
        for opened in _opened(blob):
            text = opened.decode("utf-8", "replace").lower()
            if "vn1:" in text:
                found.append(f"{key}: a VN1 credential in clear")
            if opened.startswith(PNG) or text.lstrip().startswith("<svg"):
                found.append(f"{key}: a QR image in clear")
            found += [f"{key}: {who}'s {form!r}" for who, values in forms.items()
                      for form in values if form in text]
    assert scanned > 10, "the flows above should have left keys in Redis"
    assert any(key == f"credential:{credential_id}:png" for key, _ in _blobs(redis))
    assert not found, "\n".join(sorted(set(found)))
