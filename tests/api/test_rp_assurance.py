"""Relying parties and identity assurance: registry facts only, no oracles, quotas, locks.

An attacker holding a stranger's ID-card details registers them with a phone
of their own: the registration ends pending review (and is later rejected),
but nothing the service tells a party may take that typed phone for the
citizen's. Every party endpoint that takes personal ids answers alike for
unknown and forbidden ids, and is bounded by a per-party rate limit and a
daily quota. Consented data are not delivered while the account is locked.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import sqlalchemy as sa

from identity import clock
from identity.accounts import registration
from identity.accounts.access_log import access_log
from identity.accounts.account import account_phone_context
from identity.accounts.models import Account
from identity.audit.service import Actor
from identity.coordination import sources
from identity.registry.service import PHONE_PURPOSE
from identity.relying_parties.models import ConsentRequest, DataShare, RelyingParty
from tests import flows
from tests.api.helpers import ALL_SCOPES, Bank, Citizen
from tests.factories import OfficerFactory, add_account, add_citizen
from tests.flows import PASSCODE, Party, assert_error, bearer, party_token

OPERATOR = Actor(type="operator", id="test")
SQUATTER_PHONE = "0987654321"
UNKNOWN_ID = "001099000999"


@pytest.fixture()
def citizen(client, db_session, protector) -> Citizen:
    return Citizen.make(client, db_session, protector)


class Squatted(flows.Holder):
    """A registry citizen whose id a squatter registered with the squatter's own phone."""

    @classmethod
    def squat(cls, client: Any, db_session: Any, protector: Any) -> Squatted:
        """The squatter registers a new registry citizen with their phone (not logged in)."""
        return cls.make(client, db_session, protector, phone_number=SQUATTER_PHONE,
                        log_in=False)

    @property
    def status(self) -> str:
        return str(self.account_row().status)

    def reject(self, db_session: Any, protector: Any) -> None:
        """The commune police reject the registration (the phone is not the citizen's)."""
        officer = OfficerFactory(db_session=db_session, protector=protector,
                                 username="police.review")
        registration.review_registration(db_session=db_session, actor=OPERATOR, officer=officer,
                                         account_id=self.account_id, approve=False,
                                         reason="The phone number is not the citizen's.")


@pytest.fixture()
def squatted(client, db_session, protector) -> Squatted:
    held = Squatted.squat(client, db_session, protector)
    assert held.status == "pending_review"
    return held


def _match(row: Any, **overrides: Any) -> dict[str, Any]:
    return {"personal_id": row.personal_id, "full_name": row.full_name,
            "date_of_birth": row.date_of_birth.isoformat(), **overrides}


# --- Item 2: facts come from the registry, never from the applicant ------------------------------

def _phone_answers(bank: Bank, row: Any, phone: str) -> tuple[Any, Any]:
    owned = bank.post("sim-ownership", {"personal_id": row.personal_id, "phone": phone})
    matched = bank.post("identity-match", _match(row, phone=phone))
    assert owned.status_code == matched.status_code == 200
    return owned.get_json(), matched.get_json()


def test_a_squatters_typed_phone_is_never_confirmed(bank, squatted, db_session, protector):
    refused = ({"match": False},
               {"match": False, "fields": {"full_name": True, "date_of_birth": True,
                                           "phone": False}})
    assert _phone_answers(bank, squatted.record, SQUATTER_PHONE) == refused
    squatted.reject(db_session, protector)
    assert squatted.status == "rejected"
    assert _phone_answers(bank, squatted.record, SQUATTER_PHONE) == refused
    # The registry's subscriber record is what counts, account or not.
    confirmed = ({"match": True},
                 {"match": True, "fields": {"full_name": True, "date_of_birth": True,
                                            "phone": True}})
    assert _phone_answers(bank, squatted.record, squatted.record.test_phone) == confirmed


def test_an_active_accounts_phone_counts_only_as_the_registry_has_it(
        bank, citizen, db_session, protector):
    """Even an active account's phone, if the registry's record differs, is not confirmed."""
    account = db_session.scalar(sa.select(Account).where(
        Account.citizen_id == citizen.record.id))
    account.phone_hash = protector.lookup_hash(SQUATTER_PHONE, purpose=PHONE_PURPOSE)
    db_session.commit()
    owned, matched = _phone_answers(bank, citizen.record, SQUATTER_PHONE)
    assert owned == {"match": False} and matched["fields"]["phone"] is False


def test_a_consent_phone_claim_is_the_registry_phone(bank, citizen, db_session, protector,
                                                     issuer_key):
    from identity.credentials import vn1
    from identity.credentials.keys import KeyRing
    account = db_session.scalar(sa.select(Account).where(
        Account.citizen_id == citizen.record.id))
    account.phone_encrypted = protector.encrypt(
        SQUATTER_PHONE, context=account_phone_context(citizen.record.id))
    account.phone_hash = protector.lookup_hash(SQUATTER_PHONE, purpose=PHONE_PURPOSE)
    db_session.commit()
    asked = bank.ask(citizen, ["phone"])
    citizen.decide(asked["id"], approve=True)
    qr = bank.get(f"consent-requests/{asked['id']}").get_json()["credential"]
    claims = vn1.verify(qr, KeyRing("VN").trust_list(db_session, reload=True)).claims
    assert claims["ph"] == citizen.record.test_phone


# --- Item 5: one answer for unknown and forbidden ids ---------------------------------------------

def _consent_body(personal_id: str) -> dict[str, Any]:
    return {"personal_id": personal_id, "attributes": ["full_name"], "purpose": "eKYC"}


def _shape(answer: Any) -> dict[str, Any]:
    """A consent request's answer without what differs from one request to the next."""
    assert answer.status_code == 201, answer.get_json()
    body = dict(answer.get_json())
    for varying in ("id", "created_at", "expires_at"):
        assert body.pop(varying)
    return body


def test_consent_requests_answer_alike_for_every_id(client, bank, db_session, protector,
                                                    squatted, citizen):
    no_account = add_citizen(db_session, protector)
    locked = Citizen.make(client, db_session, protector)
    locked.lock()
    rejected = Squatted.squat(client, db_session, protector)
    rejected.reject(db_session, protector)
    ids = {"unknown": UNKNOWN_ID, "no account": no_account.personal_id,
           "pending review": squatted.record.personal_id, "rejected": rejected.record.personal_id,
           "locked": locked.record.personal_id, "active": citizen.record.personal_id}
    shapes = {name: _shape(bank.post("consent-requests", _consent_body(personal_id)))
              for name, personal_id in ids.items()}
    assert all(shape == shapes["active"] for shape in shapes.values()), shapes
    # Only the citizen with an active account was asked; the other requests reach no one.
    notified = db_session.scalars(sa.select(ConsentRequest.account_id).where(
        ConsentRequest.account_id.is_not(None))).all()
    active = db_session.scalar(sa.select(Account.id).where(Account.citizen_id == citizen.record.id,
                                                           Account.status == "active"))
    assert notified == [active]
    assert [i["party"] for i in citizen.get("/api/v1/me/consent-requests").get_json()[
        "items"]] == [bank.party.name]


def test_a_party_without_a_callback_hears_so_whatever_the_id(bank, citizen):
    """Its own setting is checked before the id: the answer says nothing of the citizen."""
    for personal_id in (UNKNOWN_ID, citizen.record.personal_id):
        assert_error(bank.post("consent-requests", {**_consent_body(personal_id),
                                                    "callback": True}),
                     409, "consent.no_callback")


def test_identity_match_and_sim_ownership_answer_alike_for_unknown_and_squatted_ids(
        bank, squatted, citizen):
    unknown = _match(squatted.record, personal_id=UNKNOWN_ID, full_name="Trần Thị Khác",
                     date_of_birth="1950-05-05", phone=SQUATTER_PHONE)
    wrong = _match(citizen.record, full_name="Trần Thị Khác", date_of_birth="1950-05-05",
                   phone=SQUATTER_PHONE)
    squat = _match(squatted.record, full_name="Trần Thị Khác", date_of_birth="1950-05-05",
                   phone=SQUATTER_PHONE)
    answers = [bank.post("identity-match", body).get_json() for body in (unknown, wrong, squat)]
    assert answers[0] == answers[1] == answers[2] == {
        "match": False, "fields": {"full_name": False, "date_of_birth": False, "phone": False}}
    sims = [bank.post("sim-ownership", {"personal_id": pid, "phone": SQUATTER_PHONE}).get_json()
            for pid in (UNKNOWN_ID, citizen.record.personal_id, squatted.record.personal_id)]
    assert sims == [{"match": False}] * 3


def test_credential_verification_names_no_citizen_for_a_text_that_does_not_verify(bank):
    answers = [bank.post("credentials/verify", {"qr": qr}).get_json()
               for qr in ("VN1:AAAA", "VN1:" + "B" * 200)]
    for answer in answers:
        assert answer["valid"] is False and answer["claims"] is None


# --- Item 5: per-party rate limit and daily quota on every endpoint that takes ids ---------------

def _lodging(row: Any, guests: int = 1) -> dict[str, Any]:
    today = clock.today()
    return {"commune_code": row.commune_code, "address": "12 Hàng Bạc",
            "guests": [{"personal_id": f"0010990{n:05d}", "full_name": "Nguyễn Văn An",
                        "date_of_birth": "1990-01-01", "arrival": today.isoformat(),
                        "departure": (today + dt.timedelta(days=1)).isoformat()}
                       for n in range(guests)]}


ENDPOINTS = {
    "identity-match": ("identity.match", lambda row: _match(row)),
    "sim-ownership": ("sim.verify",
                      lambda row: {"personal_id": row.personal_id, "phone": row.test_phone}),
    "consent-requests": ("identity.consent", lambda row: _consent_body(row.personal_id)),
    "credentials/verify": ("credentials.verify", lambda row: {"qr": "VN1:AAAA"}),
    "lodging-notices": ("lodging.notify", lambda row: _lodging(row)),
}


@pytest.mark.parametrize("path", sorted(ENDPOINTS))
def test_each_party_endpoint_has_a_daily_quota(client, db_session, protector, citizen, path):
    scope, body = ENDPOINTS[path]
    party = Bank(client, db_session, protector, name="Ngân hàng Hạn mức",
                 scopes=ALL_SCOPES, quotas={scope: 2})
    statuses = [party.post(path, body(citizen.record)).status_code for _ in range(3)]
    assert statuses[:2] != [429, 429] and statuses[2] == 429
    refused = assert_error(party.post(path, body(citizen.record)), 429, "rp.quota_exhausted")
    assert refused["errors"]["quota"] == [2]


@pytest.mark.parametrize("path", sorted(ENDPOINTS))
def test_each_party_endpoint_has_a_per_party_rate_limit(app, client, db_session, protector,
                                                        citizen, monkeypatch, path):
    _scope, body = ENDPOINTS[path]
    party = Bank(client, db_session, protector, name="Ngân hàng Nhanh", scopes=ALL_SCOPES)
    other = Bank(client, db_session, protector, name="Ngân hàng Khác", scopes=ALL_SCOPES)
    monkeypatch.setitem(app.config, "RP_LIMIT_PER_PARTY", "2 per minute")
    statuses = [party.post(path, body(citizen.record)).status_code for _ in range(3)]
    assert 429 not in statuses[:2] and statuses[2] == 429
    assert_error(party.post(path, body(citizen.record)), 429, "rate_limited")
    # Per party: another party's budget is its own.
    assert other.post(path, body(citizen.record)).status_code != 429


def test_lodging_and_source_deliveries_count_each_personal_id(client, db_session, protector,
                                                              citizen):
    hotel = Bank(client, db_session, protector, name="Khách sạn Hạn mức", kind="hotel",
                 scopes=("lodging.notify",), quotas={"lodging.notify": 5})
    assert hotel.post("lodging-notices", _lodging(citizen.record, guests=4)).status_code == 201
    assert_error(hotel.post("lodging-notices", _lodging(citizen.record, guests=2)), 429,
                 "rp.quota_exhausted")
    # A refused batch gives its units back: one more guest still fits today.
    assert hotel.post("lodging-notices", _lodging(citizen.record, guests=1)).status_code == 201

    created = sources.create_source(db_session=db_session, protector=protector, actor=OPERATOR,
                                    name="csgt-quota", kind="driving_licence")
    party = db_session.get(RelyingParty, created.party.id)
    party.quotas = {"records.deliver": 3}
    db_session.commit()
    token = party_token(client, Party(name=party.name, client_id=party.client_id,
                                      secret=created.client_secret))
    record = {"record_id": "GPLX-1", "personal_id": citizen.record.personal_id,
              "full_name": citizen.record.full_name,
              "date_of_birth": citizen.record.date_of_birth.isoformat(),
              "gender": citizen.record.gender, "document_number": "790000000001",
              "licence_class": "B2", "valid_from": "2024-01-10", "valid_until": "2034-01-10"}
    batch = [{**record, "record_id": f"GPLX-{n}"} for n in range(4)]
    answer = client.post("/api/v1/sources/csgt-quota/records", headers=bearer(token),
                         json={"records": batch})
    assert_error(answer, 429, "rp.quota_exhausted")
    answer = client.post("/api/v1/sources/csgt-quota/records", headers=bearer(token),
                         json={"records": batch[:3]})
    assert answer.status_code == 200, answer.get_json()


def test_source_deliveries_have_a_per_party_rate_limit(
        app, client, db_session, protector, monkeypatch):
    created = sources.create_source(db_session=db_session, protector=protector, actor=OPERATOR,
                                    name="csgt-burst", kind="driving_licence")
    token = party_token(client, Party(name=created.party.name,
                                      client_id=created.party.client_id,
                                      secret=created.client_secret))
    monkeypatch.setitem(app.config, "RP_LIMIT_PER_PARTY", "2 per minute")
    path = "/api/v1/sources/csgt-burst/records"
    statuses = [client.post(path, headers=bearer(token), json={"records": []}).status_code
                for _ in range(3)]
    assert 429 not in statuses[:2] and statuses[2] == 429


# --- Item 7: no consented data while the account is locked or superseded -------------------------

def _shares(db_session: Any) -> int:
    return int(db_session.scalar(sa.select(sa.func.count()).select_from(DataShare)))


def test_consent_delivery_is_refused_while_the_account_is_locked(
        client, db_session, bank, citizen, issuer_key):
    asked = bank.ask(citizen, ["full_name", "date_of_birth"])
    assert citizen.decide(asked["id"], approve=True).status_code == 200
    citizen.lock()  # the phone is lost after the approval
    refused = assert_error(bank.get(f"consent-requests/{asked['id']}"), 409,
                           "consent.unavailable")
    assert "lock" not in refused["message"].lower() and refused["errors"] == {}
    assert _shares(db_session) == 0
    request = db_session.get(ConsentRequest, asked["id"])
    assert request.fetched_at is None and request.credential_id is None
    log, _total = access_log(db_session=db_session, citizen_id=citizen.record.id, page=1,
                             per_page=100)
    withheld = [event for event in log if event.action == "rp.data_withheld"]
    assert len(withheld) == 1 and withheld[0].details["by"] == bank.party.name
    assert not [event for event in log if event.action == "rp.data_shared"]


def test_consent_given_by_an_account_since_closed_speaks_for_no_one(
        db_session, protector, bank, citizen, issuer_key):
    asked = bank.ask(citizen, ["full_name"])
    citizen.decide(asked["id"], approve=True)
    old = db_session.scalar(sa.select(Account).where(Account.citizen_id == citizen.record.id))
    old.status = "closed"  # superseded by the citizen's own account (reclaim)
    db_session.flush()
    add_account(db_session, protector, citizen=citizen.record, level=2, commit=True)
    assert_error(bank.get(f"consent-requests/{asked['id']}"), 409, "consent.unavailable")
    assert _shares(db_session) == 0


def test_a_consent_approved_before_a_lock_is_delivered_after_the_unlock(
        db_session, bank, citizen, issuer_key):
    asked = bank.ask(citizen, ["full_name"])
    citizen.decide(asked["id"], approve=True, passcode=PASSCODE)
    account = db_session.scalar(sa.select(Account).where(Account.citizen_id == citizen.record.id))
    account.status = "locked"
    db_session.commit()
    assert_error(bank.get(f"consent-requests/{asked['id']}"), 409, "consent.unavailable")
    account.status = "active"
    db_session.commit()
    delivered = bank.get(f"consent-requests/{asked['id']}")
    assert delivered.status_code == 200 and delivered.get_json()["credential"]
    assert _shares(db_session) == 1
