"""Redis loses everything (a restart without persistence, a failover to an empty replica).

What must survive lives in the database: token versions (logout, lock),
refresh-token families, the passcode failure counter and account locks, the
last TOTP step of each officer, revoked credentials. What lives in Redis
(challenges, pending SMS codes) is lost, and its loss refuses rather than
lets through: a code or challenge that is gone is no longer accepted.
Only the app's own Redis database number is flushed.
"""
from __future__ import annotations

import sqlalchemy as sa

from app.extensions import db, get_protector
from identity.accounts.models import Account, SessionFamily
from tests import flows
from tests.faults.helpers import (events, issued_credential, locked_out, registered,
                                  signed_login_body)


def test_logged_out_and_revoked_tokens_stay_refused(faulty):
    client = faulty.app.test_client()
    citizen = registered(faulty.app, client)
    first, second = citizen.log_in(), citizen.log_in()
    assert client.post("/api/v1/auth/logout",
                       headers=flows.bearer(first["access_token"])).status_code == 204
    faulty.redis_flushed()
    for tokens in (first, second):  # a logout raises the account's token version
        flows.assert_error(client.get("/api/v1/me", headers=flows.bearer(tokens["access_token"])),
                           401, "auth.invalid_token")
    flows.assert_error(client.post("/api/v1/auth/refresh",
                                   headers=flows.bearer(first["refresh_token"])),
                       401, "auth.invalid_token")
    # The other session's refresh token still rotates once; its old generation never again.
    rotated = client.post("/api/v1/auth/refresh", headers=flows.bearer(second["refresh_token"]))
    assert rotated.status_code == 200
    faulty.redis_flushed()
    flows.assert_error(client.post("/api/v1/auth/refresh",
                                   headers=flows.bearer(second["refresh_token"])),
                       401, "auth.invalid_token")
    assert faulty.count(sa.select(SessionFamily.id).where(
        SessionFamily.account_id == citizen.account_id,
        SessionFamily.revoked_at.is_(None))) == 0  # the reuse revoked the family
    assert faulty.audit_chain_events() > 0


def test_passcode_lockout_survives_a_flush(faulty):
    client = faulty.app.test_client()
    citizen = registered(faulty.app, client)
    token = citizen.log_in()["access_token"]
    wrong = {"passcode": "135799", "new_passcode": "975313"}
    for _ in range(4):
        flows.assert_error(client.post("/api/v1/me/passcode", headers=flows.bearer(token),
                                       json=wrong), 401, "passcode.wrong")
    faulty.redis_flushed()
    flows.assert_error(client.post("/api/v1/me/passcode", headers=flows.bearer(token),
                                   json=wrong), 403, "account.locked")
    faulty.redis_flushed()
    flows.assert_error(client.get("/api/v1/me", headers=flows.bearer(token)),
                       401, "auth.invalid_token")
    answer = flows.login_answer(client, citizen.record.personal_id, citizen.phone)
    flows.assert_error(answer, 403, "account.locked")
    assert faulty.count(sa.select(Account.id).where(Account.status == "locked")) == 1
    assert events(faulty.app, "account.locked") == 1
    assert faulty.audit_chain_events() > 0


def test_one_time_codes_are_not_reusable_after_a_flush(faulty):
    client = faulty.app.test_client()
    citizen = locked_out(faulty.app, client)
    # A code pending when Redis is flushed is gone: refused, the account stays locked.
    pending, pending_code = citizen.start_unlock()
    faulty.redis_flushed()
    flows.assert_error(client.post(f"/api/v1/auth/unlock/{pending}/confirm",
                                   json={"otp": pending_code}), 422, "otp.invalid")
    assert faulty.count(sa.select(Account.id).where(Account.status == "locked")) == 1
    # A code used before the flush stays used after it.
    used, used_code = citizen.start_unlock()
    assert client.post(f"/api/v1/auth/unlock/{used}/confirm",
                       json={"otp": used_code}).status_code == 200
    faulty.redis_flushed()
    flows.assert_error(client.post(f"/api/v1/auth/unlock/{used}/confirm",
                                   json={"otp": used_code}), 422, "otp.invalid")
    assert events(faulty.app, "account.unlocked") == 1
    assert faulty.audit_chain_events() > 0


def test_challenges_and_totp_steps_are_not_reusable_after_a_flush(faulty):
    client = faulty.app.test_client()
    citizen = registered(faulty.app, client)
    held = flows.challenge(client, citizen.record.personal_id, citizen.phone)
    assert client.post("/api/v1/auth/login",
                       json=signed_login_body(citizen, held)).status_code == 200
    with faulty.app.app_context():
        officer = flows.create_officer(db.session(), get_protector(), username="officer.flush")
    login = {"username": officer.username, "password": officer.password,
             "totp": officer.code(0)}  # one code, sent twice (a new step must not make a new one)
    assert client.post("/api/v1/auth/officer-login", json=login).status_code == 200
    faulty.redis_flushed()
    flows.assert_error(client.post("/api/v1/auth/login", json=signed_login_body(citizen, held)),
                       401, "auth.failed")
    # The last TOTP step is a column of the officer: the same code is refused after a flush.
    flows.assert_error(client.post("/api/v1/auth/officer-login", json=login), 401, "auth.failed")
    assert events(faulty.app, "auth.login") == 1
    assert events(faulty.app, "auth.officer_login") == 1
    assert faulty.audit_chain_events() > 0


def test_revoked_credentials_stay_revoked_after_a_flush(faulty):
    client = faulty.app.test_client()
    token, credential = issued_credential(faulty.app, client)
    with faulty.app.app_context():
        officer = flows.create_officer(db.session(), get_protector(), username="officer.rev")
    officer_token = officer.log_in(client)
    assert client.post(f"/api/v1/credentials/{credential['credential_id']}/revoke",
                       headers=flows.bearer(token)).status_code == 200
    faulty.redis_flushed()
    answer = client.post("/api/v1/credentials/verify", headers=flows.bearer(officer_token),
                         json={"qr": credential["qr"]})
    assert answer.status_code == 200
    assert answer.get_json()["valid"] is False and answer.get_json()["reason"] == "revoked"
    assert faulty.audit_chain_events() > 0
