"""Squatting and reclaiming an identity, through the HTTP API.

The attacker holds a stranger's ID-card details (personal id, name, date of
birth) and a phone of their own. Their registration waits for review; the
real citizen's registration with the registry's phone supersedes it; while an
account is open, a registration sends no code (and answers as before); a
rejected registration blocks nobody; and an officer of the citizen's
jurisdiction reclaims the identity at the desk over any open account.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.extensions import db
from identity.accounts.models import Account, Device, Notification
from identity.audit.models import AuditEvent
from identity.audit.service import Actor
from identity.credentials import keys
from identity.credentials.models import Credential
from tests.api.test_officers import add_hcm_citizen, review
from tests.factories import add_citizen
from tests.flows import (PASSCODE, PASSWORD, Phone, assert_error, bearer, committed_citizen,
                         confirm_at_once, create_officer, latest_code, login, login_answer, outbox,
                         register, registration_body, sent_codes)

REGISTRATIONS = "/api/v1/accounts/registrations"
RECLAIM = "/api/v1/police/accounts/reclaim"
ATTACKER_NUMBER = "0987000333"


@pytest.fixture()
def citizen(db_session, protector):
    """The real citizen, of Hà Nội, whose registry record holds their phone (``test_phone``)."""
    return add_citizen(db_session, protector, province_code="01")


@pytest.fixture()
def officer(db_session, protector):
    """An officer of Hà Nội, the citizen's jurisdiction."""
    return create_officer(db_session, protector, username="desk.hn")


def squat(client: Any, citizen: Any, phone: Phone) -> tuple[dict[str, Any], dict[str, str]]:
    """The attacker registers the citizen's id with their own phone and logs in."""
    account = register(client, citizen, phone, phone_number=ATTACKER_NUMBER)
    assert account["status"] == "pending_review"
    return account, bearer(login(client, citizen.personal_id, phone)["access_token"])


def start(client: Any, citizen: Any, phone: Phone, number: str) -> Any:
    """The raw answer of a registration request."""
    return client.post(REGISTRATIONS, json=registration_body(citizen, phone, phone_number=number))


def reclaim_body(citizen: Any, phone: Phone, number: str, **overrides: Any) -> dict[str, Any]:
    """What the officer types at the desk."""
    return {"personal_id": citizen.personal_id, "card_number": citizen.personal_id,
            "check": "face", "device_id": phone.device_id,
            "device_public_key": phone.public_key, "phone": number,
            "reason": "The citizen's id was registered by someone else.", **overrides}


def closed_notifications(db_session: Any, account_id: int) -> list[Notification]:
    """The notifications telling an account it was closed."""
    return list(db_session.scalars(sa.select(Notification).where(
        Notification.account_id == account_id, Notification.kind == "account.closed")))


def citizen_events(db_session: Any, citizen: Any, action: str) -> list[AuditEvent]:
    """The audit events of ``action`` about the citizen (as the access log reads them)."""
    return list(db_session.scalars(sa.select(AuditEvent).where(
        AuditEvent.action == action, AuditEvent.subject_type == "citizen",
        AuditEvent.subject_id == str(citizen.id))))


# --- The registry's phone supersedes a pending squatter ----------------------------------------

def test_the_registry_phone_supersedes_a_pending_squatter(client, db_session, citizen):
    squatter, squatter_headers = squat(client, citizen, Phone())
    real = register(client, citizen, Phone())  # the registry's phone
    assert real["status"] == "active" and real["account_id"] != squatter["account_id"]
    assert_error(client.get("/api/v1/me/status", headers=squatter_headers), 401,
                 "auth.invalid_token")
    closed = db_session.get(Account, squatter["account_id"])
    db_session.refresh(closed)
    assert closed.status == "closed"
    assert len(closed_notifications(db_session, closed.id)) == 1
    assert [e.details["reason"] for e in citizen_events(db_session, citizen, "account.closed")] \
        == ["superseded"]


def test_a_pending_squatter_cannot_shield_itself_with_a_lock(client, db_session, citizen):
    squatter, headers = squat(client, citizen, Phone())
    assert client.post("/api/v1/me/lock", headers=headers).status_code == 200
    real = register(client, citizen, Phone())
    assert real["status"] == "active"
    assert db_session.get(Account, squatter["account_id"]).status == "closed"


# --- While an account is open: no code, the same answer ----------------------------------------

def _answers_alike(first: Any, second: Any) -> None:
    assert first.status_code == second.status_code == 202
    one, two = first.get_json(), second.get_json()
    assert set(one) == set(two) == {"registration_id", "phone_masked", "expires_in"}
    assert one["expires_in"] == two["expires_in"]
    assert len(one["registration_id"]) == len(two["registration_id"])


def test_while_an_account_is_open_registration_sends_no_code_and_answers_alike(
        client, db_session, protector, citizen):
    register(client, citizen, Phone())  # the real citizen's active account
    fresh = add_citizen(db_session, protector, province_code="01")  # no account yet
    blocked = start(client, citizen, Phone(), ATTACKER_NUMBER)
    control_number = "0987000444"
    control = start(client, fresh, Phone(), control_number)
    _answers_alike(blocked, control)
    assert blocked.get_json()["phone_masked"] == "098*****33"  # the number typed, masked
    assert outbox(client, ATTACKER_NUMBER) == []
    assert len(outbox(client, control_number)) == 1
    # The send counter moves alike: the sixth request in the hour is refused for both.
    for _ in range(4):
        assert start(client, citizen, Phone(), ATTACKER_NUMBER).status_code == 202
        assert start(client, fresh, Phone(), control_number).status_code == 202
    assert_error(start(client, citizen, Phone(), ATTACKER_NUMBER), 429, "sms.too_many")
    assert_error(start(client, fresh, Phone(), control_number), 429, "sms.too_many")
    assert outbox(client, ATTACKER_NUMBER) == []
    # The real citizen's access log tells of the attempts.
    assert len(citizen_events(db_session, citizen, "account.registration_blocked")) == 5


def test_a_pending_account_blocks_another_typed_in_phone(client, db_session, citizen):
    squat(client, citizen, Phone())
    other = "0987000555"
    assert start(client, citizen, Phone(), other).status_code == 202
    assert outbox(client, other) == []


def test_the_attacker_gets_nothing_while_the_real_account_is_active(client, db_session,
                                                                    citizen):
    squat(client, citizen, Phone())
    real = register(client, citizen, Phone())
    before = len(outbox(client, ATTACKER_NUMBER))
    answer = start(client, citizen, Phone(), ATTACKER_NUMBER)
    assert answer.status_code == 202
    assert len(outbox(client, ATTACKER_NUMBER)) == before
    assert db_session.scalar(sa.select(sa.func.count()).select_from(Account).where(
        Account.citizen_id == citizen.id, Account.status != "closed")) == 1
    assert db_session.get(Account, real["account_id"]).status == "active"


# --- A rejected registration blocks nobody -----------------------------------------------------

def test_after_an_officer_rejects_the_squatter_the_citizen_registers(client, db_session,
                                                                     citizen, officer):
    squatter, _headers = squat(client, citizen, Phone())
    token = officer.log_in(client)
    assert review(client, token, squatter["account_id"], "reject",
                  "Not the citizen.").status_code == 200
    # Even with a phone of their own (not the registry's): a new registration waits for review.
    mine = register(client, citizen, Phone(), phone_number="0987000666")
    assert mine["status"] == "pending_review"
    assert db_session.get(Account, squatter["account_id"]).status == "closed"
    assert [e.details["reason"] for e in citizen_events(db_session, citizen, "account.closed")] \
        == ["replaced"]


# --- Reclaim at the desk -----------------------------------------------------------------------

def test_an_officer_reclaims_an_identity_over_an_active_squatter(
        client, db_session, protector, citizen, officer):
    keys.rotate_keys(db_session=db_session, protector=protector, actor=Actor(type="operator"))
    squatter_phone = Phone()
    squatter, squatter_headers = squat(client, citizen, squatter_phone)
    token = officer.log_in(client)
    assert review(client, token, squatter["account_id"], "approve").status_code == 200
    squatter_headers = bearer(login(client, citizen.personal_id, squatter_phone)["access_token"])
    issued = client.post("/api/v1/credentials", headers=squatter_headers,
                         json={"type": "identity_basic", "passcode": PASSCODE})
    assert issued.status_code == 201, issued.get_json()

    desk_phone, desk_number = Phone(), "0987000777"
    answer = client.post(RECLAIM, headers=bearer(token),
                         json=reclaim_body(citizen, desk_phone, desk_number))
    assert answer.status_code == 202, answer.get_json()
    started = answer.get_json()
    assert started["superseded_status"] == "active"
    assert started["phone_masked"] == "098*****77"
    # The squatter is cut off at once: tokens, login, credential.
    assert_error(client.get("/api/v1/me", headers=squatter_headers), 401, "auth.invalid_token")
    assert login_answer(client, citizen.personal_id, squatter_phone).status_code == 401
    credential = db_session.get(Credential, issued.get_json()["credential_id"])
    db_session.refresh(credential)
    assert credential.revoked_at is not None
    assert db_session.scalar(sa.select(sa.func.count()).select_from(Device).where(
        Device.account_id == squatter["account_id"], Device.revoked_at.is_(None))) == 0
    assert len(closed_notifications(db_session, squatter["account_id"])) == 1

    # The citizen confirms on the phone registered at the desk: an active level-2 account.
    confirmed = client.post(f"{REGISTRATIONS}/{started['registration_id']}/confirm",
                            json={"otp": latest_code(client, desk_number), "password": PASSWORD,
                                  "passcode": PASSCODE})
    assert confirmed.status_code == 201, confirmed.get_json()
    assert (confirmed.get_json()["status"], confirmed.get_json()["level"]) == ("active", 2)
    account = db_session.get(Account, confirmed.get_json()["account_id"])
    assert (account.level2_check, account.level2_card_last4, account.level2_officer_id) == (
        "face", citizen.personal_id[-4:], officer.officer_id)
    headers = bearer(login(client, citizen.personal_id, desk_phone)["access_token"])
    me = client.get("/api/v1/me", headers=headers).get_json()
    assert me["level"] == 2 and me["device_id"] == desk_phone.device_id
    log = client.get("/api/v1/me/access-log", headers=headers,
                     query_string={"per_page": 100}).get_json()["items"]
    actions = {item["action"] for item in log}
    assert {"account.reclaim_started", "account.closed", "account.registered"} <= actions
    kinds = [n["kind"] for n in client.get("/api/v1/me/notifications",
                                           headers=headers).get_json()["items"]]
    assert kinds == ["account.registered"]


@pytest.mark.parametrize("state", ["pending_review", "rejected", "locked"])
def test_a_reclaim_supersedes_an_account_in_any_open_state(client, db_session, citizen,
                                                           officer, state):
    squatter, _headers = squat(client, citizen, Phone())
    row = db_session.get(Account, squatter["account_id"])
    row.status = state
    db_session.commit()
    answer = client.post(RECLAIM, headers=bearer(officer.log_in(client)),
                         json=reclaim_body(citizen, Phone(), "0987000888"))
    assert answer.status_code == 202, answer.get_json()
    assert answer.get_json()["superseded_status"] == state
    db_session.refresh(row)
    assert row.status == "closed"


def test_a_reclaim_for_a_citizen_without_an_account_starts_one(client, citizen, officer):
    phone = Phone()
    answer = client.post(RECLAIM, headers=bearer(officer.log_in(client)),
                         json=reclaim_body(citizen, phone, "0987000999"))
    assert answer.status_code == 202 and answer.get_json()["superseded_status"] is None
    confirmed = client.post(f"{REGISTRATIONS}/{answer.get_json()['registration_id']}/confirm",
                            json={"otp": latest_code(client, "0987000999"),
                                  "password": PASSWORD, "passcode": PASSCODE})
    assert confirmed.status_code == 201 and confirmed.get_json()["level"] == 2


def test_a_squatter_registering_between_reclaim_and_confirmation_is_closed_too(
        client, db_session, citizen, officer):
    answer = client.post(RECLAIM, headers=bearer(officer.log_in(client)),
                         json=reclaim_body(citizen, Phone(), "0987001000"))
    assert answer.status_code == 202
    late, _headers = squat(client, citizen, Phone())
    confirmed = client.post(f"{REGISTRATIONS}/{answer.get_json()['registration_id']}/confirm",
                            json={"otp": latest_code(client, "0987001000"),
                                  "password": PASSWORD, "passcode": PASSCODE})
    assert confirmed.status_code == 201, confirmed.get_json()
    assert db_session.get(Account, late["account_id"]).status == "closed"


def test_out_of_jurisdiction_and_unknown_ids_answer_the_same_404(
        client, db_session, protector, citizen):
    hcm = create_officer(db_session, protector, username="desk.hcm", province_code="79")
    token = hcm.log_in(client)
    squatter, _headers = squat(client, citizen, Phone())
    elsewhere = client.post(RECLAIM, headers=bearer(token),
                            json=reclaim_body(citizen, Phone(), "0987001100"))
    unknown_id = "001099000001"
    unknown = client.post(RECLAIM, headers=bearer(token), json=reclaim_body(
        citizen, Phone(), "0987001100", personal_id=unknown_id, card_number=unknown_id))
    one = assert_error(elsewhere, 404, "citizen.not_found")
    two = assert_error(unknown, 404, "citizen.not_found")
    assert one == two
    assert db_session.get(Account, squatter["account_id"]).status == "pending_review"
    assert outbox(client, "0987001100") == []
    # A citizen of Hồ Chí Minh City is in that officer's jurisdiction.
    local = add_hcm_citizen(db_session, protector)
    assert client.post(RECLAIM, headers=bearer(token), json=reclaim_body(
        local, Phone(), "0987001100")).status_code == 202


def test_the_chip_card_must_be_the_citizens(client, db_session, citizen, officer):
    squatter, _headers = squat(client, citizen, Phone())
    answer = client.post(RECLAIM, headers=bearer(officer.log_in(client)), json=reclaim_body(
        citizen, Phone(), "0987001200", card_number="001099000001"))
    assert_error(answer, 422, "level2.card_mismatch")
    bad_check = client.post(RECLAIM, headers=bearer(officer.log_in(client, 1)),
                            json=reclaim_body(citizen, Phone(), "0987001200", check="photo"))
    assert bad_check.status_code == 422
    assert db_session.get(Account, squatter["account_id"]).status == "pending_review"


def test_closed_accounts_are_not_counted_in_the_published_total():
    from identity.monitoring.statistics import _account_summary
    summary = _account_summary([(1, "active", 2), (1, "closed", 3), (1, "pending_review", 1)])
    assert summary["total"] == 3 and summary["by_status"]["closed"] == 3


def test_two_concurrent_superseding_registrations_leave_one_open_account(own_database_app,
                                                                         protector):
    # Real concurrency (run it on PostgreSQL): both confirmations find the pending squatter and
    # close it; the partial unique index lets one new open account through, the other is a 409.
    app = own_database_app
    citizen = committed_citizen(app, protector, birth=dt.date(1987, 4, 2), serial=999_997)
    client = app.test_client()
    squat(client, citizen, Phone())
    ids = [start(client, citizen, Phone(), citizen.test_phone).get_json()["registration_id"]
           for _ in range(2)]
    answers = confirm_at_once(app, ids, sent_codes(client, citizen.test_phone))
    assert sorted(answer.status_code for answer in answers) == [201, 409]
    assert_error(next(a for a in answers if a.status_code == 409), 409, "account.exists")
    with app.app_context(), Session(bind=db.engine) as session:
        statuses = sorted(session.scalars(sa.select(Account.status)
                                          .where(Account.citizen_id == citizen.id)))
    assert statuses == ["active", "closed"]


def test_a_closed_account_stays_closed(client, db_session, citizen, officer):
    squatter_phone = Phone()
    squatter, _headers = squat(client, citizen, squatter_phone)
    # The squatter asks to move the account to another phone, then the citizen reclaims it.
    rebind = client.post("/api/v1/auth/device-rebind", json={
        "personal_id": citizen.personal_id, "password": PASSWORD,
        "device_id": Phone().device_id, "device_public_key": Phone().public_key})
    assert rebind.status_code == 202, rebind.get_json()
    code = latest_code(client, ATTACKER_NUMBER)
    token = officer.log_in(client)
    assert client.post(RECLAIM, headers=bearer(token), json=reclaim_body(
        citizen, Phone(), "0987001300")).status_code == 202
    assert_error(client.post(f"/api/v1/auth/device-rebind/{rebind.get_json()['rebind_id']}"
                             "/confirm", json={"otp": code}), 422, "otp.invalid")
    in_person = client.post(f"/api/v1/police/accounts/{squatter['account_id']}/device",
                            headers=bearer(token), json={
                                "device_id": Phone().device_id,
                                "device_public_key": Phone().public_key, "check": "face"})
    assert_error(in_person, 409, "account.not_active")
    assert_error(review(client, token, squatter["account_id"], "approve"), 409,
                 "account.not_pending")
    assert db_session.get(Account, squatter["account_id"]).status == "closed"
    assert login_answer(client, citizen.personal_id, squatter_phone).status_code == 401
