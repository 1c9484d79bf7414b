"""Relying parties: matching without disclosure, consent, data sharing, callbacks, quotas."""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Iterator
from typing import Any

import pytest
import time_machine

from identity import clock
from identity.credentials import vn1
from identity.credentials.keys import KeyRing
from identity.relying_parties import callbacks
from identity.relying_parties.models import ConsentRequest
from tests.api.helpers import Bank, Citizen, Receiver
from tests.factories import add_citizen
from tests.flows import PASSCODE, assert_error, bearer, party_token, run_jobs


@pytest.fixture()
def citizen(client, db_session, protector) -> Citizen:
    return Citizen.make(client, db_session, protector)


def _match_body(citizen: Citizen, **overrides: Any) -> dict[str, Any]:
    return {"personal_id": citizen.record.personal_id, "full_name": citizen.record.full_name,
            "date_of_birth": citizen.record.date_of_birth.isoformat(), **overrides}


# --- Identity match --------------------------------------------------------------------------

def test_identity_match_says_which_fields_agree_and_nothing_else(bank, citizen):
    answer = bank.post("identity-match", _match_body(citizen, phone=citizen.record.test_phone))
    assert answer.status_code == 200
    assert answer.get_json() == {"match": True, "fields": {
        "full_name": True, "date_of_birth": True, "phone": True}}
    upper = bank.post("identity-match", _match_body(
        citizen, full_name=citizen.record.full_name.upper(), date_of_birth="1900-01-01"))
    assert upper.get_json() == {"match": False, "fields": {"full_name": True,
                                                           "date_of_birth": False}}


def test_an_unknown_id_answers_like_a_mismatch_and_every_look_is_in_the_access_log(
        bank, citizen):
    unknown = bank.post("identity-match", _match_body(citizen, personal_id="001099000999"))
    wrong = bank.post("identity-match", _match_body(citizen, full_name="Trần Thị Khác",
                                                    date_of_birth="1950-05-05"))
    assert unknown.get_json() == wrong.get_json() == {
        "match": False, "fields": {"full_name": False, "date_of_birth": False}}
    looks = [e for e in citizen.access_log() if e["action"] == "rp.identity_match"]
    assert len(looks) == 1 and looks[0]["by"] == bank.party.name
    assert looks[0]["actor_type"] == "relying_party"


def test_a_party_without_the_scope_is_refused(client, db_session, protector, citizen):
    hotel = Bank(client, db_session, protector, name="Khách sạn Hồ Gươm", kind="hotel",
                 scopes=("lodging.notify",))
    answer = hotel.post("identity-match", _match_body(citizen))
    body = assert_error(answer, 403, "rp.scope_missing")
    assert body["errors"]["scope"] == ["identity.match"]
    assert_error(hotel.post("consent-requests", {}), 403, "rp.scope_missing")
    assert not [e for e in citizen.access_log() if e["action"].startswith("rp.")]


def test_citizen_and_officer_tokens_are_not_party_tokens(client, citizen):
    answer = client.post("/api/v1/rp/identity-match", json=_match_body(citizen),
                         headers=bearer(citizen.token))
    assert_error(answer, 403, "auth.rp_only")
    assert_error(client.post("/api/v1/rp/identity-match", json=_match_body(citizen)), 401,
                 "auth.required")


def test_enumeration_stops_at_the_daily_quota(client, db_session, protector, citizen):
    bank = Bank(client, db_session, protector, quotas={"identity.match": 5})
    statuses = []
    for n in range(8):
        answer = bank.post("identity-match", _match_body(citizen,
                                                         personal_id=f"0010990{n:05d}"))
        statuses.append(answer.status_code)
    assert statuses == [200] * 5 + [429] * 3
    refused = bank.post("identity-match", _match_body(citizen))
    assert_error(refused, 429, "rp.quota_exhausted")
    assert 0 < int(refused.headers["Retry-After"]) <= 86_400
    # The other scopes have their own quota.
    assert bank.post("sim-ownership", {"personal_id": citizen.record.personal_id,
                                       "phone": citizen.record.test_phone}).status_code == 200
    with time_machine.travel(dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1)):
        fresh = party_token(client, bank.party)
        again = client.post("/api/v1/rp/identity-match", json=_match_body(citizen),
                            headers=bearer(fresh))
        assert again.status_code == 200


def test_the_per_party_rate_limit_refuses_bursts(app, bank, citizen):
    app.config["RP_LIMIT_PER_PARTY"] = "3 per minute"
    try:
        statuses = [bank.post("identity-match", _match_body(citizen)).status_code
                    for _ in range(5)]
    finally:
        app.config["RP_LIMIT_PER_PARTY"] = "600 per minute"
    assert statuses == [200, 200, 200, 429, 429]


def test_sim_ownership_matches_the_registry_phone(bank, citizen):
    body = {"personal_id": citizen.record.personal_id, "phone": citizen.record.test_phone}
    assert bank.post("sim-ownership", body).get_json() == {"match": True}
    assert bank.post("sim-ownership", {**body, "phone": "0987000111"}).get_json() == {
        "match": False}
    assert bank.post("sim-ownership", {**body, "personal_id": "001099000999"}).get_json() == {
        "match": False}
    assert_error(bank.post("sim-ownership", {**body, "phone": "12"}), 422, "phone.invalid")


# --- Consent ---------------------------------------------------------------------------------

def _trust_list(db_session) -> vn1.TrustList:
    return KeyRing("VN").trust_list(db_session, reload=True)


def test_a_consented_share_end_to_end(bank, citizen, db_session, issuer_key):
    asked = bank.ask(citizen, ["date_of_birth", "full_name"])
    assert asked["status"] == "pending" and asked["credential"] is None
    assert asked["attributes"] == ["full_name", "date_of_birth"]
    pending = bank.get(f"consent-requests/{asked['id']}").get_json()
    assert pending["status"] == "pending" and pending["credential"] is None

    listed = citizen.get("/api/v1/me/consent-requests").get_json()["items"]
    assert [(i["id"], i["party"], i["purpose"]) for i in listed] == [
        (asked["id"], bank.party.name, "Mở tài khoản thanh toán")]
    decided = citizen.decide(asked["id"], approve=True)
    assert decided.status_code == 200 and decided.get_json()["status"] == "approved"

    fetched = bank.get(f"consent-requests/{asked['id']}")
    assert fetched.status_code == 200
    body = fetched.get_json()
    verified = vn1.verify(body["credential"], _trust_list(db_session),
                          audience=f"rp:{bank.party.client_id}")
    assert verified.credential_type == "consent"
    assert verified.claims == {"id": citizen.record.personal_id, "cr": asked["id"],
                               "nm": citizen.record.full_name,
                               "dob": citizen.record.date_of_birth.isoformat()}
    with pytest.raises(vn1.VerificationError) as refused:
        vn1.verify(body["credential"], _trust_list(db_session), audience="rp:someoneelse")
    assert refused.value.reason == "wrong_audience"

    # Once only.
    assert_error(bank.get(f"consent-requests/{asked['id']}"), 409, "consent.already_fetched")
    shares = citizen.get("/api/v1/me/data-sharing").get_json()["items"]
    assert [(s["party"], s["attributes"], s["purpose"]) for s in shares] == [
        (bank.party.name, ["full_name", "date_of_birth"], "Mở tài khoản thanh toán")]
    actions = [e["action"] for e in citizen.access_log() if e.get("by") == bank.party.name]
    assert {"rp.consent_requested", "consent.approved", "rp.data_shared"} <= set(actions)


def test_attributes_not_asked_are_never_returned(bank, citizen, db_session, issuer_key):
    asked = bank.ask(citizen, ["sex"])
    citizen.decide(asked["id"], approve=True)
    claims = vn1.verify(bank.get(f"consent-requests/{asked['id']}").get_json()["credential"],
                        _trust_list(db_session)).claims
    assert set(claims) == {"id", "cr", "sx"}
    unknown = bank.post("consent-requests", {"personal_id": citizen.record.personal_id,
                                             "attributes": ["full_name", "password"],
                                             "purpose": "Kiểm tra"})
    assert_error(unknown, 422, "request.invalid")


def test_a_refused_or_expired_request_gives_only_its_status(app, bank, citizen, issuer_key):
    refused = bank.ask(citizen, ["full_name"])
    assert citizen.decide(refused["id"], approve=False).get_json()["status"] == "refused"
    body = bank.get(f"consent-requests/{refused['id']}").get_json()
    assert body["status"] == "refused" and body["credential"] is None
    assert_error(citizen.decide(refused["id"], approve=True), 409, "consent.closed")

    late = bank.ask(citizen, ["full_name"])
    with time_machine.travel(dt.datetime.now(dt.timezone.utc) + dt.timedelta(
            seconds=app.config["CONSENT_REQUEST_SECONDS"] + 1)):
        assert_error(citizen.decide(late["id"], approve=True), 409, "consent.closed")
        fresh = party_token(bank.client, bank.party)
        body = bank.client.get(f"/api/v1/rp/consent-requests/{late['id']}",
                               headers=bearer(fresh)).get_json()
        assert body["status"] == "expired" and body["credential"] is None


def test_an_approved_consent_not_fetched_in_time_expires(app, bank, citizen, issuer_key):
    asked = bank.ask(citizen, ["full_name"])
    citizen.decide(asked["id"], approve=True)
    with time_machine.travel(dt.datetime.now(dt.timezone.utc) + dt.timedelta(
            seconds=app.config["CONSENT_REQUEST_SECONDS"] + 1)):
        fresh = party_token(bank.client, bank.party)
        body = bank.client.get(f"/api/v1/rp/consent-requests/{asked['id']}",
                               headers=bearer(fresh)).get_json()
    assert body["status"] == "expired" and body["credential"] is None


def test_a_party_cannot_read_another_partys_consent(client, db_session, protector, bank,
                                                    citizen, issuer_key):
    asked = bank.ask(citizen, ["full_name"])
    citizen.decide(asked["id"], approve=True)
    other = Bank(client, db_session, protector, name="Ngân hàng Khác")
    assert_error(other.get(f"consent-requests/{asked['id']}"), 404, "consent.not_found")
    assert bank.get(f"consent-requests/{asked['id']}").get_json()["credential"]


def test_a_citizen_cannot_decide_another_citizens_request(client, db_session, protector, bank,
                                                          citizen):
    asked = bank.ask(citizen, ["full_name"])
    other = Citizen.make(client, db_session, protector)
    assert_error(other.decide(asked["id"], approve=True), 404, "consent.not_found")
    assert other.get("/api/v1/me/consent-requests").get_json()["items"] == []
    assert bank.get(f"consent-requests/{asked['id']}").get_json()["status"] == "pending"


def test_a_wrong_passcode_decides_nothing(bank, citizen):
    asked = bank.ask(citizen, ["full_name"])
    assert_error(citizen.decide(asked["id"], approve=True, passcode="000000"), 401,
                 "passcode.wrong")
    assert bank.get(f"consent-requests/{asked['id']}").get_json()["status"] == "pending"


def test_a_citizen_without_an_account_is_asked_in_vain(app, bank, db_session, protector):
    stranger = add_citizen(db_session, protector)
    answer = bank.post("consent-requests", {"personal_id": stranger.personal_id,
                                            "attributes": ["full_name"], "purpose": "eKYC"})
    assert answer.status_code == 201 and answer.get_json()["status"] == "pending"
    with time_machine.travel(dt.datetime.now(dt.timezone.utc) + dt.timedelta(
            seconds=app.config["CONSENT_REQUEST_SECONDS"] + 1)):
        fresh = party_token(bank.client, bank.party)
        later = bank.client.get(f"/api/v1/rp/consent-requests/{answer.get_json()['id']}",
                                headers=bearer(fresh)).get_json()
    assert later["status"] == "expired" and later["credential"] is None


def test_a_callback_needs_a_registered_url(bank, citizen):
    answer = bank.post("consent-requests", {"personal_id": citizen.record.personal_id,
                                            "attributes": ["full_name"], "purpose": "eKYC",
                                            "callback": True})
    assert_error(answer, 409, "consent.no_callback")


# --- Callbacks -------------------------------------------------------------------------------

@pytest.fixture()
def local_callbacks(app, monkeypatch):
    """This test's receiver listens on 127.0.0.1: let the jobs send there (off by default)."""
    monkeypatch.setitem(app.config, "RP_CALLBACKS_ALLOW_PRIVATE", True)


@pytest.fixture()
def receiver(local_callbacks) -> Iterator[Receiver]:
    held = Receiver(failures=1)
    yield held
    held.close()


def test_the_callback_is_signed_and_retried(app, client, db_session, protector, citizen,
                                            receiver):
    bank = Bank(client, db_session, protector, callback_url=receiver.url)
    asked = bank.ask(citizen, ["full_name"], callback=True)
    citizen.decide(asked["id"], approve=True)
    run_jobs(app)
    assert len(receiver.calls) == 2  # one failure, one retry that succeeded
    for headers, body in receiver.calls:
        timestamp = headers[callbacks.TIMESTAMP_HEADER.lower()]
        expected = "sha256=" + hmac.new(bank.party.callback_key.encode(),
                                        timestamp.encode() + b"." + body,
                                        hashlib.sha256).hexdigest()
        assert hmac.compare_digest(headers[callbacks.SIGNATURE_HEADER.lower()], expected)
        assert json.loads(body) == {"event": "consent.decided",
                                    "consent_request_id": asked["id"], "status": "approved"}
    db_session.expire_all()  # the job wrote through a session of its own
    request = db_session.get(ConsentRequest, asked["id"])
    assert (request.callback_state, request.callback_attempts) == ("delivered", 2)
    # Delivered: a duplicate job changes nothing.
    assert callbacks.deliver_callback(db_session=db_session, protector=protector,
                                      consent_id=asked["id"]) == "delivered"
    assert len(receiver.calls) == 2


def test_a_callback_that_always_fails_is_marked_failed(app, client, db_session, protector,
                                                       citizen, local_callbacks):
    always = Receiver(failures=100)
    try:
        bank = Bank(client, db_session, protector, callback_url=always.url)
        asked = bank.ask(citizen, ["full_name"], callback=True)
        citizen.decide(asked["id"], approve=False)
        run_jobs(app)
    finally:
        always.close()
    db_session.expire_all()  # the job wrote through a session of its own
    request = db_session.get(ConsentRequest, asked["id"])
    assert request.callback_state == "failed"
    assert request.callback_attempts == len(always.calls) == callbacks.CALLBACK_TRIES
    # The party still learns the decision by polling.
    assert bank.get(f"consent-requests/{asked['id']}").get_json()["status"] == "refused"


# --- Data sharing, erasure ---------------------------------------------------------------------

def test_erasure_request_reaches_the_party_which_acknowledges_it(bank, citizen, issuer_key):
    asked = bank.ask(citizen, ["full_name", "phone"])
    citizen.decide(asked["id"], approve=True)
    bank.get(f"consent-requests/{asked['id']}")
    share = citizen.get("/api/v1/me/data-sharing").get_json()["items"][0]
    path = f"/api/v1/me/data-sharing/{share['id']}/erasure-request"
    requested = bank.client.post(path, headers=bearer(citizen.token))
    assert requested.status_code == 200 and requested.get_json()["erasure_requested_at"]
    assert_error(bank.client.post(path, headers=bearer(citizen.token)), 409,
                 "data_share.erasure_already_requested")

    pending = bank.get("erasure-requests").get_json()["items"]
    assert [(p["id"], p["consent_id"]) for p in pending] == [(share["id"], asked["id"])]
    assert "personal_id" not in json.dumps(pending)
    acknowledged = bank.post(f"erasure-requests/{share['id']}/acknowledgement", {})
    assert acknowledged.status_code == 200
    assert bank.get("erasure-requests").get_json()["items"] == []
    mine = citizen.get("/api/v1/me/data-sharing").get_json()["items"][0]
    assert mine["erasure_acknowledged_at"] is not None


def test_erasure_of_another_citizens_share_is_not_found(client, db_session, protector, bank,
                                                        citizen, issuer_key):
    asked = bank.ask(citizen, ["full_name"])
    citizen.decide(asked["id"], approve=True)
    bank.get(f"consent-requests/{asked['id']}")
    share = citizen.get("/api/v1/me/data-sharing").get_json()["items"][0]
    other = Citizen.make(client, db_session, protector)
    answer = client.post(f"/api/v1/me/data-sharing/{share['id']}/erasure-request",
                         headers=bearer(other.token))
    assert_error(answer, 404, "data_share.not_found")
    assert_error(Bank(client, db_session, protector, name="Ngân hàng Khác").post(
        f"erasure-requests/{share['id']}/acknowledgement", {}), 404, "erasure.not_found")


# --- Credentials verified by a party, lodging by a hotel -------------------------------------

def test_a_party_verifies_a_credential_online_and_the_citizen_sees_its_name(
        bank, citizen, issuer_key):
    issued = bank.client.post("/api/v1/credentials", headers=bearer(citizen.token),
                              json={"type": "identity_basic", "passcode": PASSCODE})
    assert issued.status_code == 201
    answer = bank.post("credentials/verify", {"qr": issued.get_json()["qr"]})
    assert answer.status_code == 200 and answer.get_json()["valid"] is True
    verifications = [e for e in citizen.access_log() if e["action"] == "credential.verified"]
    assert verifications and verifications[0]["by"] == bank.party.name


def test_a_hotel_notifies_its_guests(client, db_session, protector, citizen):
    hotel = Bank(client, db_session, protector, name="Khách sạn Hồ Gươm", kind="hotel",
                 scopes=("lodging.notify",))
    today = clock.today()
    answer = hotel.post("lodging-notices", {
        "commune_code": citizen.record.commune_code, "address": "12 Hàng Bạc",
        "guests": [{"personal_id": citizen.record.personal_id, "arrival": today.isoformat(),
                    "departure": (today + dt.timedelta(days=2)).isoformat()}]})
    assert answer.status_code == 201, answer.get_json()
    assert answer.get_json()["guest_count"] == 1


def test_the_quota_fails_closed_when_redis_is_down(app, bank, citizen, monkeypatch):
    import redis as redis_lib
    broken = redis_lib.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    monkeypatch.setitem(app.extensions, "redis", broken)
    answer = bank.post("identity-match", _match_body(citizen))
    assert_error(answer, 503, "service.unavailable")
    assert int(answer.headers["Retry-After"]) > 0
    monkeypatch.undo()
    assert not [e for e in citizen.access_log() if e["action"] == "rp.identity_match"]
