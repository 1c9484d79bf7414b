"""Every endpoint of the OpenAPI document, called as every kind of caller: one table.

``ENDPOINTS`` names, for each operation, who may call it (its *audience*)
and, for operations on one citizen's object, which kind of object. The
expected status of each cell follows from the audience and the caller:

- the audience itself is let through (any answer but 401, 403 or a 5xx:
  a request body of ``{}`` is then a 422, an unknown id a 404);
- anonymous callers get 401 on every protected endpoint;
- a citizen's token on police, party or operator endpoints is refused (403,
  or 401 where the token is not of the kind asked for at all), and so on;
- citizen A on citizen B's object gets 404 (its existence is not told);
- an officer of another province on a Hà Nội object gets 403 or 404;
- a relying party without the scope gets 403, a disabled party 401.

An operation of the document without a row fails the test: a new endpoint
must say who may call it.
"""
from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


from app.auth import limiter
from identity import clock
from identity.audit.service import Actor
from identity.credentials import keys
from identity.monitoring import operators
from identity.registry import admin_units
from identity.relying_parties import parties
from tests.factories import add_citizen
from identity.coordination import sources
from tests.flows import (PASSCODE, Party, Phone, bearer, create_officer, create_party, login,
                         officer_login, party_token, register)

ALLOWED = "allowed"
#: audience, and the kind of citizen-owned object in the path (if any)
ENDPOINTS: dict[str, tuple[str, str | None]] = {
    "GET /api/v1/admin-units/provinces": ("public", None),
    "GET /api/v1/admin-units/provinces/{province_code}/communes": ("public", None),
    "GET /api/v1/admin-units/former-provinces": ("public", None),
    "POST /api/v1/personal-ids/check": ("public", None),
    "POST /api/v1/accounts/registrations": ("public", None),
    "POST /api/v1/accounts/registrations/{registration_id}/confirm": ("public", None),
    "POST /api/v1/auth/challenge": ("public", None),
    "POST /api/v1/auth/login": ("public", None),
    "POST /api/v1/auth/refresh": ("refresh", None),
    "POST /api/v1/auth/logout": ("user", None),
    "POST /api/v1/auth/officer-login": ("public", None),
    "POST /api/v1/auth/device-rebind": ("public", None),
    "POST /api/v1/auth/device-rebind/{rebind_id}/confirm": ("public", None),
    "POST /api/v1/auth/unlock": ("public", None),
    "POST /api/v1/auth/password-reset": ("public", None),
    "POST /api/v1/auth/password-reset/{reset_id}/confirm": ("public", None),
    "POST /api/v1/auth/unlock/{unlock_id}/confirm": ("public", None),
    "GET /api/v1/me": ("citizen", None),
    "POST /api/v1/me/lock": ("citizen", None),
    "POST /api/v1/me/passcode": ("citizen", None),
    "POST /api/v1/me/password": ("citizen", None),
    "GET /api/v1/me/notifications": ("citizen", None),
    "GET /api/v1/me/access-log": ("citizen", None),
    "GET /api/v1/me/status": ("citizen", None),
    "POST /api/v1/me/registration/withdraw": ("pending", None),
    "GET /api/v1/police/accounts/pending": ("officer", None),
    "POST /api/v1/police/accounts/{account_id}/review": ("officer", None),
    "POST /api/v1/police/accounts/{account_id}/level2": ("officer", None),
    "POST /api/v1/police/accounts/{account_id}/device": ("officer", None),
    "POST /api/v1/police/citizens/lookup": ("officer", None),
    "POST /api/v1/police/accounts/reclaim": ("officer", None),
    "POST /api/v1/credentials": ("citizen", None),
    "GET /api/v1/credentials": ("citizen", None),
    "GET /api/v1/credentials/{credential_id}/qr.png": ("citizen", "credential"),
    "GET /api/v1/credentials/{credential_id}/qr.svg": ("citizen", "credential"),
    "POST /api/v1/credentials/{credential_id}/revoke": ("citizen", "credential"),
    "POST /api/v1/credentials/verify": ("officer", None),
    "POST /api/v1/police/credentials/{credential_id}/revoke": ("officer", "credential"),
    "GET /api/v1/stats/overview": ("operator", None),
    "GET /api/v1/stats/provinces": ("operator", None),
    "GET /api/v1/stats/provinces/{province_code}": ("operator", None),
    "GET /api/v1/stats/communes/{commune_code}": ("operator", None),
    "POST /api/v1/residence/stays": ("citizen", None),
    "GET /api/v1/residence/stays": ("citizen", None),
    "GET /api/v1/residence/stays/{stay_id}": ("citizen", "stay"),
    "POST /api/v1/residence/stays/{stay_id}/withdraw": ("citizen", "stay"),
    "POST /api/v1/residence/stays/{stay_id}/renew": ("citizen", "stay"),
    "GET /api/v1/residence/current": ("citizen", None),
    "GET /api/v1/residence/host-confirmations": ("citizen", None),
    "POST /api/v1/residence/host-confirmations/{stay_id}": ("citizen", "stay"),
    "POST /api/v1/residence/absences": ("citizen", None),
    "GET /api/v1/residence/absences": ("citizen", None),
    "GET /api/v1/residence/absences/{absence_id}": ("citizen", "absence"),
    "POST /api/v1/residence/absences/{absence_id}/withdraw": ("citizen", "absence"),
    "POST /api/v1/residence/lodging-notices": ("citizen", None),
    "GET /api/v1/police/residence/stays": ("officer", None),
    "GET /api/v1/police/residence/stays/{stay_id}": ("officer", "stay"),
    "POST /api/v1/police/residence/stays/{stay_id}/actions": ("officer", "stay"),
    "GET /api/v1/police/residence/absences": ("officer", None),
    "GET /api/v1/police/residence/absences/{absence_id}": ("officer", "absence"),
    "POST /api/v1/police/residence/absences/{absence_id}/actions": ("officer", "absence"),
    "GET /api/v1/police/residence/overdue": ("supervisor", None),
    "GET /api/v1/police/residence/lodging": ("officer", None),
    "POST /api/v1/police/residence/lodging/guests/{guest_id}/review": ("officer", None),
    "POST /api/v1/reports": ("citizen", None),
    "GET /api/v1/reports": ("citizen", None),
    "GET /api/v1/reports/{case_number}": ("citizen", "report"),
    "POST /api/v1/reports/{case_number}/messages": ("citizen", "report"),
    "POST /api/v1/reports/{case_number}/evidence": ("citizen", "report"),
    "GET /api/v1/reports/{case_number}/evidence/{evidence_id}": ("citizen", "report"),
    "GET /api/v1/police/reports": ("officer", None),
    "POST /api/v1/police/reports/indicators/lookup": ("officer", None),
    "GET /api/v1/police/reports/{case_number}": ("officer", "report"),
    "POST /api/v1/police/reports/{case_number}/assign": ("officer", "report"),
    "POST /api/v1/police/reports/{case_number}/questions": ("officer", "report"),
    "POST /api/v1/police/reports/{case_number}/status": ("officer", "report"),
    "POST /api/v1/police/reports/{case_number}/transfer": ("officer", "report"),
    "GET /api/v1/police/reports/{case_number}/reporter": ("officer", "report"),
    "GET /api/v1/police/reports/{case_number}/evidence/{evidence_id}": ("officer", "report"),
    "POST /api/v1/oauth/token": ("client", None),
    "POST /api/v1/rp/identity-match": ("rp:identity.match", None),
    "POST /api/v1/rp/sim-ownership": ("rp:sim.verify", None),
    "POST /api/v1/rp/consent-requests": ("rp:identity.consent", None),
    "GET /api/v1/rp/consent-requests/{consent_id}": ("rp:identity.consent", "consent"),
    "GET /api/v1/rp/erasure-requests": ("rp:identity.consent", None),
    "POST /api/v1/rp/erasure-requests/{share_id}/acknowledgement": (
        "rp:identity.consent", "share"),
    "POST /api/v1/rp/credentials/verify": ("rp:credentials.verify", None),
    "POST /api/v1/rp/lodging-notices": ("rp:lodging.notify", None),
    "GET /api/v1/me/consent-requests": ("citizen", None),
    "POST /api/v1/me/consent-requests/{consent_id}/decision": ("citizen", "consent"),
    "GET /api/v1/me/data-sharing": ("citizen", None),
    "POST /api/v1/me/data-sharing/{share_id}/erasure-request": ("citizen", "share"),
    "POST /api/v1/sources/{source}/records": ("rp:records.deliver", None),
    "GET /api/v1/coordination/mismatches": ("operator", None),
    "POST /api/v1/coordination/mismatches/{item_id}/resolve": ("operator", None),
    "GET /api/v1/coordination/daily": ("operator", None),
    "GET /api/v1/coordination/aggregates": ("operator", None),
    "GET /api/v1/telco/sim-report": ("rp:sim.verify", None),
    "GET /api/v1/me/documents": ("citizen", None),
    "POST /api/v1/me/documents/{document_id}/credential": ("citizen", "document"),
    "GET /api/v1/police/coordination/corrections": ("officer", None),
    "GET /api/v1/payments": ("citizen", None),
    "GET /api/v1/payments/banks": ("public", None),
    "GET /api/v1/payments/{order_id}": ("citizen", "order"),
    "POST /api/v1/payments/{order_id}/attempts": ("citizen", "order"),
    "GET /api/v1/payments/{order_id}/receipt": ("citizen", "order"),
    "POST /api/v1/payments/{order_id}/receipt/credential": ("citizen", "order"),
    "POST /api/v1/payments/callbacks/{provider_name}": ("webhook", None),
    "POST /api/v1/police/fines": ("officer", None),
    "GET /api/v1/police/payments/{order_id}": ("officer", "order"),
    "POST /api/v1/police/payments/{order_id}/refunds": ("supervisor", None),
    "GET /.well-known/vnid-keys.json": ("public", None),
    "GET /api/v1/dev/sms-outbox": ("public", None),
}
#: Operations that end the caller's session or lock it: called last, with callers of their own.
DESTRUCTIVE = {"POST /api/v1/auth/logout", "POST /api/v1/me/lock"}
_SOON = (clock.today() + dt.timedelta(days=300)).isoformat()
#: Bodies that pass validation, sent where a refusal must come from who asks, not from the body
#: (a caller on someone else's object, an officer on a supervisor's endpoint).
VALID_BODIES: dict[str, Any] = {
    "POST /api/v1/residence/stays/{stay_id}/renew": {"end_date": _SOON},
    "POST /api/v1/residence/host-confirmations/{stay_id}": {"decision": "confirm",
                                                            "passcode": PASSCODE},
    "POST /api/v1/police/residence/stays/{stay_id}/actions": {"action": "check_host"},
    "POST /api/v1/police/residence/absences/{absence_id}/actions": {"action": "acknowledge"},
    "POST /api/v1/reports/{case_number}/messages": {"text": "Xin chào"},
    "POST /api/v1/reports/{case_number}/evidence": "multipart",
    "POST /api/v1/police/reports/{case_number}/questions": {"text": "Ai gọi cho bạn?"},
    "POST /api/v1/police/reports/{case_number}/status": {"action": "verify"},
    "POST /api/v1/police/reports/{case_number}/transfer": {"province_code": "79",
                                                           "reason": "Sai địa bàn"},
    "POST /api/v1/me/consent-requests/{consent_id}/decision": {"approve": True,
                                                               "passcode": PASSCODE},
    "POST /api/v1/police/payments/{order_id}/refunds": {"reason": "Thu nhầm"},
    "POST /api/v1/payments/{order_id}/attempts": {"bank": "VCB", "passcode": PASSCODE},
    "POST /api/v1/payments/{order_id}/receipt/credential": {"passcode": PASSCODE},
    "POST /api/v1/me/documents/{document_id}/credential": {"passcode": PASSCODE},
}
#: Headers an endpoint needs beside authentication.
HEADERS = {"POST /api/v1/payments/{order_id}/attempts": {"Idempotency-Key": "matrix-key-0001"}}
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01" + b"\x00" * 64
PLACEHOLDERS = {"province_code": "01", "registration_id": "0" * 22, "rebind_id": "0" * 22,
                "unlock_id": "0" * 22, "credential_id": "0" * 32, "consent_id": "0" * 32,
                "case_number": "TG-2026-00000000", "source": "no-such-source",
                "provider_name": "banksim"}


#: What a webhook call without a valid signature gets, whatever token comes with it.
WEBHOOK_REFUSED = {400, 401, 404, 422}


def _allowed(status: int) -> bool:
    return status not in (401, 403) and status < 500


@dataclass
class Caller:
    """One column of the matrix: a name, its headers, what it expects of each audience."""

    name: str
    headers: dict[str, str]
    expect: Callable[[str], Any]
    params: dict[str, str] = field(default_factory=dict)
    #: Send a body that passes validation (see VALID_BODIES).
    valid_body: bool = False


def _citizen_expect(audience: str) -> Any:
    if audience in ("public", "citizen", "user"):
        return ALLOWED
    if audience == "pending":  # a registration waiting for review only: an active account is not
        return {403}
    if audience in ("refresh", "client"):
        return {401, 422}
    return {401} if audience == "operator" else {403}


def _officer_expect(supervisor: bool) -> Callable[[str], Any]:
    def expect(audience: str) -> Any:
        if audience in ("public", "officer", "user"):
            return ALLOWED
        if audience == "supervisor" and supervisor:
            return ALLOWED
        if audience in ("refresh", "client"):
            return {401, 422}
        return {401} if audience == "operator" else {403}
    return expect


def _party_expect(scopes: set[str], disabled: bool) -> Callable[[str], Any]:
    def expect(audience: str) -> Any:
        if audience == "public":
            return ALLOWED
        if audience.startswith("rp:"):
            if disabled:
                return {401}
            return ALLOWED if audience[3:] in scopes else {403}
        if audience in ("refresh", "client", "operator"):
            return {401, 422} if audience != "operator" else {401}
        return {401, 403}  # a party's token where a citizen's or an officer's is asked for
    return expect


def _anonymous_expect(audience: str) -> Any:
    if audience == "public":
        return ALLOWED
    return {401, 422} if audience == "client" else {401}


def _operator_expect(audience: str) -> Any:
    if audience in ("public", "operator"):
        return ALLOWED
    return {401, 422} if audience == "client" else {401}


class World:
    """The callers and citizen B's objects, made through the API."""

    def __init__(self, client: Any, db_session: Any, protector: Any) -> None:
        self.client, self.db_session, self.protector = client, db_session, protector
        keys.rotate_keys(db_session=db_session, protector=protector,
                         actor=Actor(type="operator"))
        self.citizen_a = self.citizen()
        self.citizen_b = self.citizen()
        self.officers = 0
        self.officer = self.new_officer("01")
        self.elsewhere = self.new_officer("79")
        self.supervisor = self.new_officer("01", role="supervisor")
        party = create_party(db_session, protector, name="Viettel", kind="telco", scopes=(
            "identity.match", "identity.consent", "credentials.verify", "sim.verify",
            "lodging.notify", "records.deliver"))
        self.party = bearer(party_token(client, party))
        narrow = create_party(db_session, protector, name="Khách sạn B", kind="hotel",
                              scopes=("lodging.notify",))
        self.narrow = bearer(party_token(client, narrow))
        gone = create_party(db_session, protector, name="Ngân hàng C", scopes=(
            "identity.match", "identity.consent", "credentials.verify", "sim.verify",
            "lodging.notify", "records.deliver"))
        self.gone = bearer(party_token(client, gone))
        parties.disable_party(db_session=db_session, actor=Actor(type="operator"),
                              name=gone.name)
        _operator, token = operators.create_operator(
            db_session=db_session, actor=Actor(type="operator"), name="Matrix")
        self.operator = bearer(token)
        self.objects = self.objects_of_b(party)

    def citizen(self) -> tuple[Any, dict[str, str]]:
        """A registered citizen of Hà Nội (Hoàn Kiếm's province) and their headers."""
        row = add_citizen(self.db_session, self.protector, province_code="01")
        phone = Phone()
        register(self.client, row, phone)
        return row, bearer(login(self.client, row.personal_id, phone)["access_token"])

    def new_officer(self, province: str, role: str = "officer") -> dict[str, str]:
        self.officers += 1
        made = create_officer(self.db_session, self.protector, province_code=province,
                              username=f"matrix.{self.officers}", role=role)
        answer = officer_login(self.client, made)
        assert answer.status_code == 200, answer.get_json()
        return bearer(answer.get_json()["access_token"])

    def objects_of_b(self, party: Any) -> dict[str, dict[str, str]]:
        """Citizen B's stay, absence, report, credential, consent request and data share."""
        row, headers = self.citizen_b
        post = self.client.post
        host = add_citizen(self.db_session, self.protector)
        today = clock.today()
        commune = admin_units.communes_by_province()["01"][0].code
        stay = post("/api/v1/residence/stays", headers=headers, json={
            "commune_code": commune, "address": "Số 12 phố Huế",
            "start_date": today.isoformat(), "end_date": (today + dt.timedelta(days=200))
            .isoformat(), "reason": "Đi làm", "host_personal_id": host.personal_id})
        assert stay.status_code == 201, stay.get_json()
        absence = post("/api/v1/residence/absences", headers=headers, json={
            "start_date": (today + dt.timedelta(days=300)).isoformat(),
            "end_date": (today + dt.timedelta(days=330)).isoformat(), "reason": "Đi học",
            "destination": "Thành phố Hồ Chí Minh"})
        assert absence.status_code == 201, absence.get_json()
        report = post("/api/v1/reports", headers=headers, json={
            "category": "fraud", "description": "Someone asked for my OTP by phone.",
            "commune_code": commune, "address": "Số 1 phố Tràng Tiền",
            "occurred_at": (dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=1))
            .isoformat()})
        assert report.status_code == 201, report.get_json()
        credential = post("/api/v1/credentials", headers=headers,
                          json={"type": "identity_basic", "passcode": PASSCODE})
        assert credential.status_code == 201, credential.get_json()
        party_headers = self.party
        asked = post("/api/v1/rp/consent-requests", headers=party_headers, json={
            "personal_id": row.personal_id, "attributes": ["full_name"], "purpose": "eKYC"})
        assert asked.status_code == 201, asked.get_json()
        shared = post("/api/v1/rp/consent-requests", headers=party_headers, json={
            "personal_id": row.personal_id, "attributes": ["sex"], "purpose": "eKYC"})
        post(f"/api/v1/me/consent-requests/{shared.get_json()['id']}/decision",
             headers=headers, json={"approve": True, "passcode": PASSCODE})
        self.client.get(f"/api/v1/rp/consent-requests/{shared.get_json()['id']}",
                        headers=party_headers)
        share = self.client.get("/api/v1/me/data-sharing", headers=headers).get_json()
        fine = post("/api/v1/police/fines", headers=self.officer, json={
            "personal_id": row.personal_id, "full_name": row.full_name,
            "date_of_birth": row.date_of_birth.isoformat(),
            "legal_basis": "Nghị định 168/2024/NĐ-CP",
            "amount": 400_000, "due_date": (today + dt.timedelta(days=30)).isoformat()})
        assert fine.status_code == 201, fine.get_json()
        source = sources.create_source(db_session=self.db_session, protector=self.protector,
                                       actor=Actor(type="operator"), name="csgt-gplx",
                                       kind="driving_licence")
        source_token = party_token(self.client, Party(
            name="csgt-gplx", client_id=source.party.client_id, secret=source.client_secret))
        delivered = post("/api/v1/sources/csgt-gplx/records", headers=bearer(source_token),
                         json={"records": [{
                             "record_id": "GPLX-000001", "personal_id": row.personal_id,
                             "full_name": row.full_name,
                             "date_of_birth": row.date_of_birth.isoformat(),
                             "gender": row.gender, "document_number": "790000000001",
                             "licence_class": "B2", "valid_from": "2024-01-10",
                             "valid_until": "2034-01-10"}]})
        assert delivered.status_code == 200, delivered.get_json()
        documents = self.client.get("/api/v1/me/documents", headers=headers).get_json()
        return {
            "document": {"document_id": str(documents["items"][0]["id"])},
            "order": {"order_id": str(fine.get_json()["id"])},
            "stay": {"stay_id": str(stay.get_json()["id"])},
            "absence": {"absence_id": str(absence.get_json()["id"])},
            "report": {"case_number": report.get_json()["case_number"], "evidence_id": "1"},
            "credential": {"credential_id": credential.get_json()["credential_id"]},
            "consent": {"consent_id": asked.get_json()["id"]},
            "share": {"share_id": str(share["items"][0]["id"])},
        }

    def callers(self) -> list[Caller]:
        """Every column but the object ones."""
        rp_all = {"identity.match", "identity.consent", "credentials.verify", "sim.verify",
                  "lodging.notify", "records.deliver"}
        return [
            Caller("anonymous", {}, _anonymous_expect),
            Caller("citizen", self.citizen_a[1], _citizen_expect),
            Caller("officer", self.officer, _officer_expect(False)),
            Caller("supervisor", self.supervisor, _officer_expect(True)),
            Caller("party with every scope", self.party, _party_expect(rp_all, False)),
            Caller("party with lodging.notify only", self.narrow,
                   _party_expect({"lodging.notify"}, False)),
            Caller("disabled party", self.gone, _party_expect(rp_all, True)),
            Caller("operator", self.operator, _operator_expect),
        ]


def _document(client: Any) -> list[tuple[str, str, str]]:
    document = client.get("/api/v1/openapi.json").get_json()
    return [(method.upper(), path, f"{method.upper()} {path}")
            for path, operations in document["paths"].items()
            for method in operations if method != "parameters"]


def _url(path: str, params: dict[str, str]) -> str:
    values = {**PLACEHOLDERS, **params}
    for name in [part[1:-1] for part in path.split("/") if part.startswith("{")]:
        path = path.replace("{" + name + "}", values.get(name, "999999"))
    return path


def _call(client: Any, method: str, url: str, headers: dict[str, str], body: Any) -> int:
    if method == "GET":
        return int(client.get(url, headers=headers).status_code)
    if body == "multipart":
        return int(client.post(url, headers=headers, content_type="multipart/form-data",
                               data={"file": (io.BytesIO(JPEG), "photo.jpg")}).status_code)
    return int(client.open(url, method=method, headers=headers, json=body).status_code)


def _judge(expected: Any, status: int) -> bool:
    return _allowed(status) if expected == ALLOWED else status in expected


def test_every_endpoint_has_a_row(client):
    missing = [key for _m, _p, key in _document(client) if key not in ENDPOINTS]
    stale = sorted(set(ENDPOINTS) - {key for _m, _p, key in _document(client)})
    assert not missing, f"endpoints without a row in the authorisation matrix: {missing}"
    assert not stale, f"rows for endpoints that no longer exist: {stale}"


def test_the_authorisation_matrix(app, client, db_session, protector):
    with app.app_context():
        limiter.reset()
    app.config["RP_LIMIT_PER_PARTY"] = "1000000 per minute"
    world = World(client, db_session, protector)
    wrong: list[str] = []
    cells = 0
    operations = sorted(_document(client), key=lambda op: op[2] in DESTRUCTIVE)
    for method, path, key in operations:
        audience, kind = ENDPOINTS.get(key, ("public", None))
        callers = world.callers()
        if key in DESTRUCTIVE:  # callers of their own, so the other cells keep their sessions
            callers = [Caller("anonymous", {}, _anonymous_expect),
                       Caller("citizen", world.citizen()[1], _citizen_expect),
                       Caller("officer", world.new_officer("01"), _officer_expect(False)),
                       Caller("party with every scope", world.party,
                              _party_expect({"identity.match"}, False)),
                       Caller("operator", world.operator, _operator_expect)]
        if kind is not None:
            objects = world.objects[kind]
            if audience == "citizen":
                callers.append(Caller("citizen A on citizen B's object", world.citizen_a[1],
                                      lambda _a: {404}, objects, valid_body=True))
                callers.append(Caller("citizen B on their own object", world.citizen_b[1],
                                      lambda _a: ALLOWED, objects))
            elif audience == "officer":
                callers.append(Caller("officer of another province on a Hà Nội object",
                                      world.elsewhere, lambda _a: {403, 404}, objects,
                                      valid_body=True))
        for caller in callers:
            # A provider's webhook authenticates by its signature, whoever sends it.
            expected = WEBHOOK_REFUSED if audience == "webhook" else caller.expect(audience)
            body = VALID_BODIES.get(key, {}) if caller.valid_body or audience == "supervisor" \
                else {}
            status = _call(client, method, _url(path, caller.params),
                           {**caller.headers, **HEADERS.get(key, {})}, body)
            cells += 1
            if not _judge(expected, status):
                wrong.append(f"{key} as {caller.name}: {status}, expected "
                             f"{'any but 401/403/5xx' if expected == ALLOWED else expected}")
    print(f"authorisation matrix: {cells} cells over {len(operations)} operations")
    assert not wrong, f"{len(wrong)} of {cells} cells wrong:\n" + "\n".join(wrong)
    assert cells > 8 * len(operations) - 20
