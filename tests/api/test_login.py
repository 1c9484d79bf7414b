"""Device-bound login, the citizen's own pages, a new device, lock and unlock, through HTTP.

Every failed login answers the same ``401 auth.failed``; the exact cause is in
the audit log only (``auth.login_failed`` with ``details["reason"]``).
"""
from __future__ import annotations

import datetime as dt
import json
import time
from typing import Any

import jwt as pyjwt
import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher

from identity.accounts import codes, sessions
from identity.accounts.models import Account
from identity.accounts.secrets import needs_rehash, verify_secret
from identity.audit.models import AuditEvent
from tests.factories import add_citizen, personal_id_for
from tests.flows import (assert_error, PASSWORD, Holder, Phone, b64, bearer, challenge,
                         latest_code, login, login_answer, register, unb64)

LOGIN, CHALLENGE = "/api/v1/auth/login", "/api/v1/auth/challenge"
REBIND, UNLOCK = "/api/v1/auth/device-rebind", "/api/v1/auth/unlock"


@pytest.fixture()
def holder(client, db_session, protector) -> Holder:
    """A registered citizen and the phone bound to their account (not logged in)."""
    return Holder.make(client, db_session, protector, log_in=False)


def last_failure_reason(db_session, action: str = "auth.login_failed") -> str:
    """The cause recorded by the newest failed login (or other failed act)."""
    event = db_session.scalars(sa.select(AuditEvent).where(AuditEvent.action == action)
                               .order_by(AuditEvent.id.desc())).first()
    assert event is not None, f"no {action} event"
    return str(event.details["reason"])


def signed_login(client, personal_id: str, device_id: str, held: dict[str, Any], signer: Phone,
                 password: str = PASSWORD):
    return client.post(LOGIN, json={
        "personal_id": personal_id, "password": password, "device_id": device_id,
        "challenge_id": held["challenge_id"], "signature": signer.sign(held["nonce"])})


def unknown_personal_id() -> str:
    return personal_id_for(dt.date(1991, 7, 2), "M", 999_997)


def me(client, token: str):
    return client.get("/api/v1/me", headers=bearer(token))


def refresh(client, refresh_token: str):
    return client.post("/api/v1/auth/refresh", headers=bearer(refresh_token))


# --- Challenges -----------------------------------------------------------------------------

def test_a_challenge_has_the_same_shape_for_known_and_unknown_ids(client, holder):
    known = client.post(CHALLENGE, json={"personal_id": holder.personal_id,
                                         "device_id": holder.phone.device_id})
    unknown = client.post(CHALLENGE, json={"personal_id": unknown_personal_id(),
                                           "device_id": holder.phone.device_id})
    unbound = client.post(CHALLENGE, json={"personal_id": holder.personal_id,
                                           "device_id": Phone().device_id})
    shapes = set()
    for answer in (known, unknown, unbound):
        body = answer.get_json()
        assert answer.status_code == 200
        assert len(unb64(body["nonce"])) == 32
        shapes.add((tuple(sorted(body)), body["expires_in"], len(body["challenge_id"]),
                    len(body["nonce"])))
    assert len(shapes) == 1
    assert len({a.get_json()["nonce"] for a in (known, unknown, unbound)}) == 3


def test_a_challenge_lives_two_minutes(client, holder, redis):
    held = challenge(client, holder.personal_id, holder.phone)
    assert held["expires_in"] == sessions.CHALLENGE_TTL_SECONDS == 120
    assert 0 < redis.ttl(f"challenge:{held['challenge_id']}") <= 120


def test_a_challenge_holds_no_personal_id(client, holder, redis):
    held = challenge(client, holder.personal_id, holder.phone)
    raw = redis.get(f"challenge:{held['challenge_id']}").decode()
    assert holder.personal_id not in raw


# --- Success ----------------------------------------------------------------------------------

def test_login_gives_tokens(client, holder, db_session):
    answer = login_answer(client, holder.personal_id, holder.phone)
    assert answer.status_code == 200
    body = answer.get_json()
    assert body["access_token"] and body["refresh_token"]
    assert body["access_token"] != body["refresh_token"]
    assert 0 < body["expires_in"] <= 600
    header = pyjwt.get_unverified_header(body["access_token"])
    assert header["alg"] == "ES256" and header["kid"]
    claims = pyjwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] <= 600
    assert (claims["role"], claims["lvl"], claims["dev"]) == ("citizen", 1,
                                                              holder.phone.device_id)
    assert me(client, body["access_token"]).status_code == 200
    event = db_session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "auth.login")
                               ).one()
    assert (event.subject_type, event.subject_id) == ("citizen", str(holder.record.id))


def test_a_login_hashes_a_password_of_older_parameters_again(client, holder, db_session):
    account = db_session.get(Account, holder.account_id)
    account.password_hash = PasswordHasher(time_cost=1, memory_cost=8 * 1024,
                                           parallelism=1).hash(PASSWORD)
    db_session.flush()
    before = account.updated_at
    assert login(client, holder.personal_id, holder.phone)["access_token"]
    db_session.refresh(account)
    assert not needs_rehash(account.password_hash) and account.updated_at >= before
    assert verify_secret(account.password_hash, PASSWORD)
    assert login(client, holder.personal_id, holder.phone)["access_token"]


# --- Failures: one answer, the cause in the audit log ----------------------------------------

def test_wrong_password(client, holder, db_session):
    answer = login_answer(client, holder.personal_id, holder.phone, password="not my password")
    assert_error(answer, 401, "auth.failed")
    assert last_failure_reason(db_session) == "password_wrong"


def test_signature_by_another_key(client, holder, db_session):
    answer = login_answer(client, holder.personal_id, holder.phone, signer=Phone())
    assert_error(answer, 401, "auth.failed")
    assert last_failure_reason(db_session) == "signature_invalid"


def test_signature_over_another_nonce(client, holder, db_session):
    held = challenge(client, holder.personal_id, holder.phone)
    other = challenge(client, holder.personal_id, holder.phone)
    answer = client.post(LOGIN, json={
        "personal_id": holder.personal_id, "password": PASSWORD,
        "device_id": holder.phone.device_id, "challenge_id": held["challenge_id"],
        "signature": holder.phone.sign(other["nonce"])})
    assert_error(answer, 401, "auth.failed")
    assert last_failure_reason(db_session) == "signature_invalid"


def test_signature_that_is_not_der(client, holder, db_session):
    held = challenge(client, holder.personal_id, holder.phone)
    answer = client.post(LOGIN, json={
        "personal_id": holder.personal_id, "password": PASSWORD,
        "device_id": holder.phone.device_id, "challenge_id": held["challenge_id"],
        "signature": b64(b"\x30\x06garbage")})
    assert_error(answer, 401, "auth.failed")
    assert last_failure_reason(db_session) == "signature_invalid"


def test_reused_challenge(client, holder, db_session):
    held = challenge(client, holder.personal_id, holder.phone)
    first = signed_login(client, holder.personal_id, holder.phone.device_id, held, holder.phone)
    assert first.status_code == 200
    again = signed_login(client, holder.personal_id, holder.phone.device_id, held, holder.phone)
    assert_error(again, 401, "auth.failed")
    assert last_failure_reason(db_session) == "challenge_unknown_or_used"


def test_a_failed_login_spends_its_challenge(client, holder, db_session):
    held = challenge(client, holder.personal_id, holder.phone)
    wrong = signed_login(client, holder.personal_id, holder.phone.device_id, held, holder.phone,
                         password="not my password")
    assert_error(wrong, 401, "auth.failed")
    right = signed_login(client, holder.personal_id, holder.phone.device_id, held, holder.phone)
    assert_error(right, 401, "auth.failed")
    assert last_failure_reason(db_session) == "challenge_unknown_or_used"


def test_challenge_issued_for_another_device(client, holder, db_session):
    held = challenge(client, holder.personal_id, Phone())
    answer = signed_login(client, holder.personal_id, holder.phone.device_id, held,
                          holder.phone)
    assert_error(answer, 401, "auth.failed")
    assert last_failure_reason(db_session) == "challenge_mismatch"


def test_challenge_issued_for_another_personal_id(client, holder, db_session, protector):
    other = add_citizen(db_session, protector)
    held = challenge(client, other.personal_id, holder.phone)
    answer = signed_login(client, holder.personal_id, holder.phone.device_id, held,
                          holder.phone)
    assert_error(answer, 401, "auth.failed")
    assert last_failure_reason(db_session) == "challenge_mismatch"


def test_unknown_challenge(client, holder, db_session):
    held = {"challenge_id": "no-such-challenge", "nonce": b64(b"\x00" * 32)}
    answer = signed_login(client, holder.personal_id, holder.phone.device_id, held,
                          holder.phone)
    assert_error(answer, 401, "auth.failed")
    assert last_failure_reason(db_session) == "challenge_unknown_or_used"


def test_expired_challenge_by_its_ttl(client, holder, db_session, monkeypatch):
    # Challenges expire by their Redis TTL, which time-machine cannot move on a real Redis:
    # shorten it to one second and wait it out on the real clock.
    monkeypatch.setattr(sessions, "CHALLENGE_TTL_SECONDS", 1)
    held = challenge(client, holder.personal_id, holder.phone)
    time.sleep(1.2)
    answer = signed_login(client, holder.personal_id, holder.phone.device_id, held,
                          holder.phone)
    assert_error(answer, 401, "auth.failed")
    assert last_failure_reason(db_session) == "challenge_unknown_or_used"


def test_unknown_personal_id(client, holder, db_session):
    answer = login_answer(client, unknown_personal_id(), holder.phone)
    assert_error(answer, 401, "auth.failed")
    assert last_failure_reason(db_session) == "no_account"


def test_registry_citizen_without_an_account(client, db_session, protector):
    citizen = add_citizen(db_session, protector)
    answer = login_answer(client, citizen.personal_id, Phone())
    assert_error(answer, 401, "auth.failed")
    assert last_failure_reason(db_session) == "no_account"


def test_unbound_device(client, holder, db_session):
    answer = login_answer(client, holder.personal_id, Phone())
    assert_error(answer, 401, "auth.failed")
    assert last_failure_reason(db_session) == "device_not_bound"


def test_the_bound_device_of_another_account(client, holder, db_session, protector):
    other_citizen = add_citizen(db_session, protector)
    other_phone = Phone()
    register(client, other_citizen, other_phone)
    answer = login_answer(client, holder.personal_id, other_phone)
    assert_error(answer, 401, "auth.failed")
    assert last_failure_reason(db_session) == "device_not_bound"


def test_every_failure_answers_the_same_body(client, holder, monkeypatch):
    answers = [
        login_answer(client, holder.personal_id, holder.phone, password="not my password"),
        login_answer(client, holder.personal_id, holder.phone, signer=Phone()),
        login_answer(client, holder.personal_id, Phone()),
        login_answer(client, unknown_personal_id(), holder.phone),
        signed_login(client, holder.personal_id, holder.phone.device_id,
                     challenge(client, holder.personal_id, Phone()), holder.phone),
    ]
    bodies = {json.dumps(answer.get_json(), sort_keys=True) for answer in answers}
    assert {answer.status_code for answer in answers} == {401}
    assert len(bodies) == 1
    assert json.loads(bodies.pop())["code"] == "auth.failed"


def test_the_failure_cause_is_told_to_the_audit_log_only(client, holder, db_session):
    answer = login_answer(client, holder.personal_id, Phone())
    text = answer.get_data(as_text=True)
    assert "device_not_bound" not in text and "device" not in answer.get_json()["errors"]
    event = db_session.scalars(sa.select(AuditEvent)
                               .where(AuditEvent.action == "auth.login_failed")).one()
    assert (event.subject_type, event.subject_id) == ("citizen", str(holder.record.id))
    assert holder.personal_id not in json.dumps(event.details)


def test_a_locked_account_with_the_right_credentials_is_refused(client, holder, db_session):
    tokens = login(client, holder.personal_id, holder.phone)
    assert client.post("/api/v1/me/lock", headers=bearer(tokens["access_token"])
                       ).status_code == 200
    answer = login_answer(client, holder.personal_id, holder.phone)
    assert_error(answer, 403, "account.locked")
    # The wrong password on a locked account still answers the generic 401.
    wrong = login_answer(client, holder.personal_id, holder.phone, password="not my password")
    assert_error(wrong, 401, "auth.failed")


# --- The citizen's own pages ------------------------------------------------------------------

def test_me_returns_the_contract_fields(client, holder):
    tokens = login(client, holder.personal_id, holder.phone)
    answer = me(client, tokens["access_token"])
    assert answer.status_code == 200
    body = answer.get_json()
    citizen = holder.record
    assert {k: body[k] for k in ("personal_id", "full_name", "date_of_birth", "gender", "level",
                                 "status", "device_id")} == {
        "personal_id": citizen.personal_id, "full_name": citizen.full_name,
        "date_of_birth": citizen.date_of_birth.isoformat(), "gender": citizen.gender,
        "level": 1, "status": "active", "device_id": holder.phone.device_id}
    assert holder.phone_number not in answer.get_data(as_text=True)


def test_me_needs_a_bearer_token(client):
    assert_error(client.get("/api/v1/me"), 401, "auth.required")
    assert_error(client.get("/api/v1/me", headers=bearer("not.a.token")), 401,
                 "auth.invalid_token")


def test_the_access_log_lists_logins_newest_first_paginated(client, holder):
    first = login(client, holder.personal_id, holder.phone)
    assert_error(login_answer(client, holder.personal_id, holder.phone,
                              password="not my password"), 401, "auth.failed")
    second = login(client, holder.personal_id, holder.phone)
    log = client.get("/api/v1/me/access-log", headers=bearer(second["access_token"]))
    assert log.status_code == 200
    body = log.get_json()
    actions = [item["action"] for item in body["items"]]
    assert actions == ["auth.login", "auth.login_failed", "auth.login", "account.registered",
                       "account.registration_started"]
    assert body["total"] == 5
    times = [item["occurred_at"] for item in body["items"]]
    assert times == sorted(times, reverse=True)
    assert body["items"][0]["details"]["device_id"] == holder.phone.device_id
    page = client.get("/api/v1/me/access-log?per_page=1&page=2",
                      headers=bearer(first["access_token"]))
    # The first session's access token is still good: a new login does not end it.
    assert page.status_code == 200
    paged = page.get_json()
    assert (paged["page"], paged["per_page"], paged["total"]) == (2, 1, 5)
    assert [item["action"] for item in paged["items"]] == ["auth.login_failed"]
    last = client.get("/api/v1/me/access-log?per_page=2&page=3",
                      headers=bearer(second["access_token"])).get_json()
    assert [item["action"] for item in last["items"]] == ["account.registration_started"]


@pytest.mark.parametrize("query", ["per_page=0", "per_page=101", "page=0", "page=x"])
def test_bad_pagination_is_refused(client, holder, query):
    tokens = login(client, holder.personal_id, holder.phone)
    answer = client.get(f"/api/v1/me/access-log?{query}", headers=bearer(tokens["access_token"]))
    assert answer.status_code == 422
    assert answer.get_json()["code"] == "request.invalid"


def test_the_access_log_is_the_citizens_own(client, holder, db_session, protector):
    other = add_citizen(db_session, protector)
    other_phone = Phone()
    register(client, other, other_phone)
    login(client, other.personal_id, other_phone)
    tokens = login(client, holder.personal_id, holder.phone)
    items = client.get("/api/v1/me/access-log", headers=bearer(tokens["access_token"])
                       ).get_json()["items"]
    assert len(items) == 3  # registration started, registered, one login: none of the other's


def test_notifications_show_the_registration(client, holder):
    tokens = login(client, holder.personal_id, holder.phone)
    answer = client.get("/api/v1/me/notifications", headers=bearer(tokens["access_token"]))
    assert answer.status_code == 200
    body = answer.get_json()
    assert [item["kind"] for item in body["items"]] == ["account.registered"]
    assert body["total"] == 1 and body["items"][0]["text"]


# --- A new device -------------------------------------------------------------------------------

def rebind_request(client, holder: Holder, new: Phone, password: str = PASSWORD, **overrides):
    return client.post(REBIND, json={
        "personal_id": holder.personal_id, "password": password, "device_id": new.device_id,
        "device_public_key": new.public_key, **overrides})


def test_binding_a_new_device(client, holder, db_session):
    old_tokens = login(client, holder.personal_id, holder.phone)
    new = Phone()
    started = rebind_request(client, holder, new)
    assert started.status_code == 202
    body = started.get_json()
    number = holder.phone_number
    assert body["rebind_id"] and body["phone_masked"] == number[:3] + "*****" + number[-2:]
    code = latest_code(client, number)
    # The new device is not bound until the code is confirmed.
    assert login_answer(client, holder.personal_id, new).status_code == 401
    confirmed = client.post(f"{REBIND}/{body['rebind_id']}/confirm", json={"otp": code})
    assert confirmed.status_code == 200, confirmed.get_json()
    assert confirmed.get_json()["status"] == "active"

    assert_error(me(client, old_tokens["access_token"]), 401, "auth.invalid_token")
    assert_error(refresh(client, old_tokens["refresh_token"]), 401, "auth.invalid_token")
    assert_error(login_answer(client, holder.personal_id, holder.phone), 401, "auth.failed")
    assert last_failure_reason(db_session) == "device_not_bound"

    new_tokens = login(client, holder.personal_id, new)
    mine = me(client, new_tokens["access_token"]).get_json()
    assert mine["device_id"] == new.device_id
    kinds = [item["kind"] for item in client.get(
        "/api/v1/me/notifications", headers=bearer(new_tokens["access_token"])
    ).get_json()["items"]]
    assert kinds[0] == "device.rebound"
    actions = [item["action"] for item in client.get(
        "/api/v1/me/access-log", headers=bearer(new_tokens["access_token"])
    ).get_json()["items"]]
    assert "device.rebound" in actions and "device.rebind_requested" in actions


def test_the_rebind_code_goes_to_the_phone_verified_at_registration(client, db_session,
                                                                    protector):
    citizen = add_citizen(db_session, protector)
    holder = Holder.of(client, citizen, phone_number="0987654321", log_in=False)  # pending review
    before = len([m for m in client.get("/api/v1/dev/sms-outbox").get_json()["messages"]
                  if m["phone"] == citizen.test_phone])
    started = rebind_request(client, holder, Phone())
    assert started.status_code == 202
    assert started.get_json()["phone_masked"] == "098*****21"
    latest_code(client, "0987654321")
    after = len([m for m in client.get("/api/v1/dev/sms-outbox").get_json()["messages"]
                 if m["phone"] == citizen.test_phone])
    assert after == before == 0


def test_a_rebind_needs_the_password(client, holder, db_session):
    before = client.get("/api/v1/dev/sms-outbox").get_json()["messages"]
    assert_error(rebind_request(client, holder, Phone(), password="not my password"), 401,
                 "auth.failed")
    assert last_failure_reason(db_session, "device.rebind_failed") == "password_wrong"
    assert client.get("/api/v1/dev/sms-outbox").get_json()["messages"] == before


def test_a_rebind_for_an_unknown_id_is_the_same_failure(client, holder, db_session):
    answer = rebind_request(client, holder, Phone(), personal_id=unknown_personal_id())
    assert_error(answer, 401, "auth.failed")
    assert last_failure_reason(db_session, "device.rebind_failed") == "no_account"


def test_a_rebind_refuses_a_device_key_that_is_not_p256(client, holder):
    answer = rebind_request(client, holder, Phone(), device_public_key=b64(b"garbage key"))
    assert_error(answer, 422, "device.key_invalid")


def test_a_wrong_rebind_code_binds_nothing(client, holder):
    new = Phone()
    rebind_id = rebind_request(client, holder, new).get_json()["rebind_id"]
    code = latest_code(client, holder.phone_number)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    assert_error(client.post(f"{REBIND}/{rebind_id}/confirm", json={"otp": wrong}), 422,
                 "otp.invalid")
    assert login_answer(client, holder.personal_id, holder.phone).status_code == 200
    assert login_answer(client, holder.personal_id, new).status_code == 401


def test_a_rebind_code_cannot_unlock(client, holder):
    login(client, holder.personal_id, holder.phone)
    rebind_id = rebind_request(client, holder, Phone()).get_json()["rebind_id"]
    code = latest_code(client, holder.phone_number)
    assert_error(client.post(f"{UNLOCK}/{rebind_id}/confirm", json={"otp": code}), 422,
                 "otp.invalid")
    assert client.post(f"{REBIND}/{rebind_id}/confirm", json={"otp": code}).status_code == 200


# --- Lock and unlock ----------------------------------------------------------------------------

def test_lock_then_unlock_with_an_sms_code_and_the_password(client, holder):
    tokens = login(client, holder.personal_id, holder.phone)
    locked = client.post("/api/v1/me/lock", headers=bearer(tokens["access_token"]))
    assert locked.status_code == 200 and locked.get_json()["status"] == "locked"
    assert_error(me(client, tokens["access_token"]), 401, "auth.invalid_token")
    assert_error(refresh(client, tokens["refresh_token"]), 401, "auth.invalid_token")
    assert_error(login_answer(client, holder.personal_id, holder.phone), 403, "account.locked")

    started = client.post(UNLOCK, json={"personal_id": holder.personal_id,
                                        "password": PASSWORD})
    assert started.status_code == 202
    unlock_id = started.get_json()["unlock_id"]
    code = latest_code(client, holder.phone_number)
    # An unlock code confirms no device change.
    assert_error(client.post(f"{REBIND}/{unlock_id}/confirm", json={"otp": code}), 422,
                 "otp.invalid")
    confirmed = client.post(f"{UNLOCK}/{unlock_id}/confirm", json={"otp": code})
    assert confirmed.status_code == 200
    assert confirmed.get_json()["status"] == "active"

    # Tokens from before the lock stay dead; a new login works.
    assert_error(me(client, tokens["access_token"]), 401, "auth.invalid_token")
    fresh = login(client, holder.personal_id, holder.phone)
    assert me(client, fresh["access_token"]).get_json()["status"] == "active"
    kinds = [item["kind"] for item in client.get(
        "/api/v1/me/notifications", headers=bearer(fresh["access_token"])).get_json()["items"]]
    assert kinds[:2] == ["account.unlocked", "account.locked"]


def test_locking_twice_is_harmless(client, holder):
    tokens = login(client, holder.personal_id, holder.phone)
    assert client.post("/api/v1/me/lock", headers=bearer(tokens["access_token"])
                       ).status_code == 200
    assert_error(client.post("/api/v1/me/lock", headers=bearer(tokens["access_token"])),
                 401, "auth.invalid_token")


def test_unlock_needs_the_password(client, holder, db_session):
    tokens = login(client, holder.personal_id, holder.phone)
    client.post("/api/v1/me/lock", headers=bearer(tokens["access_token"]))
    answer = client.post(UNLOCK, json={"personal_id": holder.personal_id,
                                       "password": "not my password"})
    assert_error(answer, 401, "auth.failed")
    assert last_failure_reason(db_session, "account.unlock_failed") == "password_wrong"


def test_unlocking_an_account_that_is_not_locked(client, holder):
    answer = client.post(UNLOCK, json={"personal_id": holder.personal_id,
                                       "password": PASSWORD})
    assert_error(answer, 403, "account.not_locked")


def test_a_wrong_unlock_code_leaves_the_account_locked(client, holder):
    tokens = login(client, holder.personal_id, holder.phone)
    client.post("/api/v1/me/lock", headers=bearer(tokens["access_token"]))
    unlock_id = client.post(UNLOCK, json={"personal_id": holder.personal_id,
                                          "password": PASSWORD}).get_json()["unlock_id"]
    code = latest_code(client, holder.phone_number)
    for _ in range(codes.MAX_TRIES):
        wrong = f"{(int(code) + 1) % 1_000_000:06d}"
        assert_error(client.post(f"{UNLOCK}/{unlock_id}/confirm", json={"otp": wrong}), 422,
                     "otp.invalid")
    assert_error(client.post(f"{UNLOCK}/{unlock_id}/confirm", json={"otp": code}), 422,
                 "otp.invalid")
    assert_error(login_answer(client, holder.personal_id, holder.phone), 403, "account.locked")
