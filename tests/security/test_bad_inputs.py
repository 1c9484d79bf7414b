"""A corpus of named hostile inputs across the API.

Each one gets a 4xx with the uniform error body (``status``, ``code``,
``message``, ``errors``; ``status`` equal to the HTTP status), and writes
nothing: every table but the audit log (which records refusals on purpose)
has the same number of rows afterwards. That no log line carries personal
data is checked for the whole suite by ``tests/logcheck.py``.

Two inputs are answered differently by design and are pinned here too: a
plain NFD name is the same name as its NFC form (normalised, accepted), and
a VN1 text the verifier cannot read is a verdict (``200``, ``valid: false``,
``malformed``), not an error, since verification always answers with one.
"""
from __future__ import annotations

import base64
import datetime as dt
import json
import unicodedata
import zlib
from dataclasses import dataclass
from typing import Any

import jwt as pyjwt
import pytest
import sqlalchemy as sa

from app.auth import limiter
from identity import clock
from identity.audit.service import Actor
from identity.credentials import base45, keys
from identity.database import Base
from tests.factories import add_citizen
from tests.flows import (Phone, bearer, create_officer, create_party, login, officer_login,
                         party_token, register)

ID = "001090012345"
REGISTRATION = "/api/v1/accounts/registrations"
CHECK = "/api/v1/personal-ids/check"
MATCH = "/api/v1/rp/identity-match"
FINES = "/api/v1/police/fines"
REPORTS = "/api/v1/reports"
AUDIT_TABLES = {"audit_events", "audit_chain_heads"}


def _registration(**overrides: Any) -> dict[str, Any]:
    key = base64.urlsafe_b64encode(b"\x30" * 91).decode().rstrip("=")
    return {"personal_id": ID, "full_name": "Nguyễn Văn An", "date_of_birth": "1990-05-12",
            "phone": "0912345678", "device_id": "device-0001-aaaa", "device_public_key": key,
            **overrides}


def _match(**overrides: Any) -> dict[str, Any]:
    return {"personal_id": ID, "full_name": "Nguyễn Văn An", "date_of_birth": "1990-05-12",
            **overrides}


def _fine(**overrides: Any) -> dict[str, Any]:
    return {"personal_id": ID, "legal_basis": "Nghị định 168/2024/NĐ-CP", "amount": 400_000,
            "due_date": (clock.today() + dt.timedelta(days=30)).isoformat(), **overrides}


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def _forged(alg: str, **claims: Any) -> str:
    payload = {"sub": "citizen:1", "iss": "vnid", "aud": "vnid-api", "role": "citizen",
               "tv": 1, "exp": 4102444800, **claims}
    if alg == "none":
        return pyjwt.encode(payload, None, algorithm="none")
    return pyjwt.encode(payload, "not-our-key-" * 4, algorithm=alg)


@dataclass(frozen=True)
class Hostile:
    """One named hostile input: who sends what where, and the status it must get."""

    name: str
    method: str
    path: str
    role: str = "anonymous"
    json_body: Any = None
    raw: bytes | str | None = None
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()
    status: int | tuple[int, ...] = 422


CORPUS = [
    Hostile("truncated JSON", "POST", REGISTRATION, raw='{"personal_id": "0010', status=400),
    Hostile("JSON array instead of an object", "POST", REGISTRATION, raw="[]"),
    Hostile("JSON string instead of an object", "POST", REGISTRATION, raw='"x"'),
    Hostile("empty body declared as JSON", "POST", REGISTRATION, raw=""),
    Hostile("body over the size limit (2 MB)", "POST", REGISTRATION,
            raw='{"full_name": "' + "A" * 2_000_000 + '"}', status=413),
    Hostile("JSON nested 100,000 deep", "POST", REGISTRATION, raw=_nested(100_000), status=400),
    Hostile("JSON nested 500 deep in a field", "POST", CHECK,
            raw='{"personal_id": ' + _nested(500) + "}"),
    Hostile("duplicate keys smuggling a second id", "POST", CHECK,
            raw=f'{{"personal_id": "{ID}", "personal_id": "079190012345"}}', status=400),
    Hostile("NaN in JSON", "POST", CHECK, raw='{"personal_id": NaN}', status=400),
    Hostile("bytes that are not UTF-8", "POST", CHECK, raw=b'{"personal_id": "\xff\xfe"}',
            status=400),
    Hostile("JSON sent as text/plain", "POST", REGISTRATION, raw=json.dumps(_registration()),
            content_type="text/plain"),
    Hostile("form-encoded body to a JSON endpoint", "POST", REGISTRATION,
            raw="personal_id=001090012345", content_type="application/x-www-form-urlencoded"),
    Hostile("unknown field in the body", "POST", REGISTRATION,
            json_body=_registration(is_admin=True)),
    Hostile("full-width digits in a personal id", "POST", CHECK,
            json_body={"personal_id": "００１０９００１２３４５"}),
    Hostile("Arabic-Indic digits in a personal id", "POST", CHECK,
            json_body={"personal_id": "٠٠١٠٩٠٠١٢٣٤٥"}),
    Hostile("zero-width space in a personal id", "POST", CHECK,
            json_body={"personal_id": "0010900\u200b12345"}),
    Hostile("personal id of 13 digits", "POST", CHECK, json_body={"personal_id": ID + "6"}),
    Hostile("personal id as a JSON number", "POST", CHECK, json_body={"personal_id": 1090012345}),
    Hostile("personal id with letters", "POST", CHECK, json_body={"personal_id": "00109001234A"}),
    Hostile("bidi override in a name", "POST", REGISTRATION,
            json_body=_registration(full_name="\u202eNguyễn Văn An")),
    Hostile("zero-width joiner in a name", "POST", REGISTRATION,
            json_body=_registration(full_name="Nguyễn\u200d Văn An")),
    Hostile("NUL byte in a name", "POST", REGISTRATION,
            json_body=_registration(full_name="Nguyễn\x00Văn An")),
    Hostile("NFD name under 40 stacked combining marks", "POST", REGISTRATION,
            json_body=_registration(full_name="Nguye" + "\u0302\u0301" * 20 + "n Văn An")),
    Hostile("name of 10,000 letters", "POST", REGISTRATION,
            json_body=_registration(full_name="A" * 10_000)),
    Hostile("SQL in a name", "POST", REGISTRATION,
            json_body=_registration(full_name="Robert'); DROP TABLE citizens;--")),
    Hostile("emoji in a name", "POST", REGISTRATION,
            json_body=_registration(full_name="Nguyễn Văn 😀")),
    Hostile("phone number with letters", "POST", REGISTRATION,
            json_body=_registration(phone="09123abcde")),
    Hostile("date of birth in year 0", "POST", REGISTRATION,
            json_body=_registration(date_of_birth="0000-01-01")),
    Hostile("date of birth 30 February", "POST", REGISTRATION,
            json_body=_registration(date_of_birth="1990-02-30")),
    Hostile("date of birth in the future", "POST", REGISTRATION,
            json_body=_registration(date_of_birth="2999-01-01")),
    Hostile("page number of 10^30", "GET", "/api/v1/me/access-log?page=" + "1" + "0" * 30,
            role="citizen"),
    Hostile("negative page size", "GET", "/api/v1/me/access-log?per_page=-5", role="citizen"),
    Hostile("NUL byte in a query parameter", "GET", "/api/v1/reports?status=%00",
            role="citizen"),
    Hostile("case number with a path traversal", "GET", "/api/v1/reports/..%2F..%2Fetc%2Fpasswd",
            role="citizen", status=404),
    Hostile("id beyond 64 bits in a path", "GET", "/api/v1/residence/stays/" + "9" * 40,
            role="citizen", status=404),
    Hostile("negative fine", "POST", FINES, role="officer", json_body=_fine(amount=-400_000)),
    Hostile("fine in fractional đồng", "POST", FINES, role="officer",
            json_body=_fine(amount=400_000.5)),
    Hostile("fine of 10^20 đồng", "POST", FINES, role="officer", json_body=_fine(amount=10**20)),
    Hostile("fine amount as a string", "POST", FINES, role="officer",
            json_body=_fine(amount="400000")),
    Hostile("report that happened in year 9999", "POST", REPORTS, role="citizen", json_body={
        "category": "fraud", "description": "Lừa đảo qua điện thoại.", "commune_code": "00004",
        "address": "Số 1 phố Tràng Tiền", "occurred_at": "9999-12-31T00:00:00+07:00"}),
    Hostile("control characters in a report", "POST", REPORTS, role="citizen", json_body={
        "category": "fraud", "description": "Lừa\x1b[2J đảo", "commune_code": "00004",
        "address": "Số 1 phố Tràng Tiền", "occurred_at": "2026-11-30T08:00:00+07:00"}),
    Hostile("token with alg none", "GET", "/api/v1/me", headers=(
        ("Authorization", "Bearer " + _forged("none")),), status=401),
    Hostile("token signed with HMAC", "GET", "/api/v1/me", headers=(
        ("Authorization", "Bearer " + _forged("HS256")),), status=401),
    Hostile("token that is not a JWT", "GET", "/api/v1/me",
            headers=(("Authorization", "Bearer not.a.token"),), status=401),
    Hostile("citizen token replayed after logout", "GET", "/api/v1/me", role="logged-out",
            status=401),
    Hostile("party secret that is garbage bytes", "POST", "/api/v1/oauth/token",
            raw="grant_type=client_credentials", content_type="application/x-www-form-urlencoded",
            headers=(("Authorization", "Basic " + base64.b64encode(b"\xff\xfe:\x00\x01")
                      .decode()),), status=401),
    Hostile("identity match with a birth month of 13", "POST", MATCH, role="party",
            json_body=_match(date_of_birth="1990-13-01")),
]


def _zlib_bomb() -> str:
    """A VN1 text whose payload inflates to 5 MB, a thousand times its own size."""
    compressed = zlib.compress(b"\x00" * 5_000_000, 9)
    return "VN1:" + base45.b45encode(compressed)


@pytest.fixture()
def tokens(app, client, db_session, protector) -> dict[str, dict[str, str]]:
    with app.app_context():
        limiter.reset()
    keys.rotate_keys(db_session=db_session, protector=protector, actor=Actor(type="operator"))
    citizen = add_citizen(db_session, protector)
    phone = Phone()
    register(client, citizen, phone)
    access = login(client, citizen.personal_id, phone)["access_token"]
    gone = add_citizen(db_session, protector)
    gone_phone = Phone()
    register(client, gone, gone_phone)
    revoked = login(client, gone.personal_id, gone_phone)["access_token"]
    assert client.post("/api/v1/auth/logout", headers=bearer(revoked)).status_code in (200, 204)
    officer = officer_login(client, create_officer(db_session, protector,
                                                   username="corpus.officer")).get_json()
    party = create_party(db_session, protector, scopes=("identity.match",))
    return {"anonymous": {}, "citizen": bearer(access), "logged-out": bearer(revoked),
            "officer": bearer(officer["access_token"]),
            "party": bearer(party_token(client, party))}


def _counts(db_session: Any) -> dict[str, int]:
    return {table.name: db_session.scalar(sa.select(sa.func.count()).select_from(table))
            for table in Base.metadata.sorted_tables if table.name not in AUDIT_TABLES}


def test_the_corpus_is_large_enough():
    assert len(CORPUS) >= 40
    assert len({hostile.name for hostile in CORPUS}) == len(CORPUS)


@pytest.mark.parametrize("hostile", CORPUS, ids=[hostile.name for hostile in CORPUS])
def test_a_hostile_input_gets_a_clear_4xx_and_writes_nothing(client, db_session, tokens,
                                                             hostile):
    before = _counts(db_session)
    headers = {**tokens[hostile.role], **dict(hostile.headers)}
    if hostile.json_body is not None:
        answer = client.open(hostile.path, method=hostile.method, json=hostile.json_body,
                             headers=headers)
    elif hostile.raw is not None:
        answer = client.open(hostile.path, method=hostile.method, data=hostile.raw,
                             content_type=hostile.content_type, headers=headers)
    else:
        answer = client.open(hostile.path, method=hostile.method, headers=headers)
    expected = hostile.status if isinstance(hostile.status, tuple) else (hostile.status,)
    body = answer.get_json(silent=True)
    assert answer.status_code in expected, (answer.status_code, body)
    assert isinstance(body, dict) and set(body) == {"status", "code", "message", "errors"}, body
    assert body["status"] == answer.status_code and body["code"] and body["message"]
    db_session.expire_all()
    assert _counts(db_session) == before


def test_a_plain_nfd_name_is_the_same_name(client, db_session, protector, tokens):
    citizen = add_citizen(db_session, protector, full_name="Nguyễn Văn Ánh")
    answer = client.post(MATCH, headers=tokens["party"], json=_match(
        personal_id=citizen.personal_id, date_of_birth=citizen.date_of_birth.isoformat(),
        full_name=unicodedata.normalize("NFD", "Nguyễn Văn Ánh")))
    assert answer.status_code == 200 and answer.get_json()["fields"]["full_name"] is True


def test_a_zlib_bomb_qr_is_a_malformed_verdict_and_inflates_nothing(client, tokens):
    bomb = _zlib_bomb()
    assert len(bomb) < 8192
    answer = client.post("/api/v1/credentials/verify", headers=tokens["officer"],
                         json={"qr": bomb})
    assert answer.status_code == 200
    assert answer.get_json()["valid"] is False and answer.get_json()["reason"] == "malformed"
    oversized = client.post("/api/v1/credentials/verify", headers=tokens["officer"],
                            json={"qr": "VN1:" + "A" * 9000})
    assert oversized.status_code == 422 and oversized.get_json()["code"]
