"""Redis unreachable during logins, one-time codes and rate-limited calls: fail closed.

Every refusal is ``503 service.unavailable`` with ``Retry-After``; nothing
is let through (no token, no session, no code accepted, no limit skipped),
nothing is half-written, and once Redis is back the same requests work
exactly once. On ``REDIS_URL`` runs the link is cut by a TCP proxy; on the
in-process stand-in its server is switched off (``tests/faults/conftest.py``).
"""
from __future__ import annotations

import time
from typing import Any


import pytest
import sqlalchemy as sa

from identity.accounts import sessions as login_sessions
from identity.accounts.models import Account, SessionFamily
from tests.redis_kinds import one_redis_server
from tests import flows
from tests.faults.helpers import (assert_unavailable, events, locked_out, registered,
                                  signed_login_body)

LIMIT = "3 per minute"
FIELDS = {"/api/v1/auth/challenge": ("personal_id", "device_id"),
          "/api/v1/auth/unlock": ("personal_id", "password"),
          "/api/v1/auth/device-rebind": ("personal_id", "password", "device_id",
                                         "device_public_key")}


def sessions(faulty: Any, account_id: int) -> int:
    return faulty.count(sa.select(SessionFamily.id).where(SessionFamily.account_id == account_id))


def test_login_while_redis_is_down_issues_nothing(faulty):
    client = faulty.app.test_client()
    citizen = registered(faulty.app, client)
    held = flows.challenge(client, citizen.record.personal_id, citizen.phone)
    faulty.redis_down()
    answer = client.post("/api/v1/auth/login", json=signed_login_body(citizen, held))
    assert_unavailable(answer)
    assert_unavailable(client.post("/api/v1/auth/challenge", json={
        "personal_id": citizen.record.personal_id, "device_id": citizen.phone.device_id}))
    assert sessions(faulty, citizen.account_id) == 0
    assert events(faulty.app, "auth.login") == 0
    if faulty.redis_proxy is not None:  # the refusals came from the cut link, not elsewhere
        assert faulty.redis_proxy.refused > 0
    faulty.redis_up()
    # The refused request never reached the challenge: it still works, once.
    answer = client.post("/api/v1/auth/login", json=signed_login_body(citizen, held))
    assert answer.status_code == 200, answer.get_json()
    flows.assert_error(client.post("/api/v1/auth/login", json=signed_login_body(citizen, held)),
                       401, "auth.failed")
    assert sessions(faulty, citizen.account_id) == 1
    assert events(faulty.app, "auth.login") == 1
    assert faulty.audit_chain_events() > 0


def test_redis_dying_inside_the_login_issues_nothing(faulty, monkeypatch):
    """The rate limits passed, then Redis went away before the challenge was read."""
    client = faulty.app.test_client()
    citizen = registered(faulty.app, client)
    held = flows.challenge(client, citizen.record.personal_id, citizen.phone)
    consume = login_sessions.consume_challenge

    def redis_dies_first(*args: Any) -> Any:
        faulty.redis_down()
        return consume(*args)

    monkeypatch.setattr(login_sessions, "consume_challenge", redis_dies_first)
    assert_unavailable(client.post("/api/v1/auth/login", json=signed_login_body(citizen, held)))
    monkeypatch.setattr(login_sessions, "consume_challenge", consume)
    assert sessions(faulty, citizen.account_id) == 0
    assert events(faulty.app, "auth.login") + events(faulty.app, "auth.login_failed") == 0
    faulty.redis_up()
    assert client.post("/api/v1/auth/login",
                       json=signed_login_body(citizen, held)).status_code == 200
    assert sessions(faulty, citizen.account_id) == 1
    assert faulty.audit_chain_events() > 0


def test_no_one_time_code_is_accepted_while_redis_is_down(faulty):
    client = faulty.app.test_client()
    citizen = locked_out(faulty.app, client)
    unlock_id, code = citizen.start_unlock()
    confirm = f"/api/v1/auth/unlock/{unlock_id}/confirm"
    faulty.redis_down()
    assert_unavailable(client.post(confirm, json={"otp": code}))
    faulty.redis_up()
    assert faulty.count(sa.select(Account.id).where(Account.id == citizen.account_id,
                                                    Account.status == "locked")) == 1
    assert events(faulty.app, "account.unlocked") == 0
    # The code was neither used nor burnt while Redis was away: it works now, once.
    assert client.post(confirm, json={"otp": code}).status_code == 200
    flows.assert_error(client.post(confirm, json={"otp": code}), 422, "otp.invalid")
    assert events(faulty.app, "account.unlocked") == 1
    assert faulty.audit_chain_events() > 0


def test_registration_codes_are_not_accepted_while_redis_is_down(faulty):
    from tests.faults.helpers import new_person
    client = faulty.app.test_client()
    person = new_person(faulty.app)
    registration_id = flows.start_registration(client, person, flows.Phone(), person.test_phone)
    code = flows.latest_code(client, person.test_phone)
    body = {"otp": code, "password": flows.PASSWORD, "passcode": flows.PASSCODE}
    path = f"/api/v1/accounts/registrations/{registration_id}/confirm"
    faulty.redis_down()
    assert_unavailable(client.post(path, json=body))
    faulty.redis_up()
    assert faulty.count(sa.select(Account.id)) == 0
    assert client.post(path, json=body).status_code == 201
    flows.assert_error(client.post(path, json=body), 422, "otp.invalid")
    assert faulty.count(sa.select(Account.id)) == 1
    assert events(faulty.app, "account.registered") == 1
    assert faulty.audit_chain_events() > 0


@pytest.mark.parametrize("path", sorted(FIELDS))
def test_rate_limited_calls_are_refused_not_waved_through(faulty, monkeypatch, path):
    """Two of three allowed calls used; while Redis is down none passes; then one, then 429."""
    client = faulty.app.test_client()
    citizen = registered(faulty.app, client)
    faulty.redis_flushed()  # the registration's own counts out of the way
    monkeypatch.setitem(faulty.app.config, "AUTH_LIMIT_PER_ID", LIMIT)
    body = {"personal_id": citizen.record.personal_id, "password": "not the password 1",
            "device_id": citizen.phone.device_id,
            "device_public_key": flows.Phone().public_key}
    body = {field: body[field] for field in FIELDS[path]}
    for _ in range(2):
        assert client.post(path, json=body).status_code in (200, 401)
    faulty.redis_down()
    for _ in range(5):
        assert_unavailable(client.post(path, json=body))
    faulty.redis_up()
    assert client.post(path, json=body).status_code in (200, 401)
    answer = client.post(path, json=body)
    flows.assert_error(answer, 429, "rate_limited")
    assert int(answer.headers["Retry-After"]) > 0
    assert faulty.audit_chain_events() > 0


def test_officer_login_while_redis_is_down_spends_no_totp_step(faulty):
    from app.extensions import db, get_protector
    client = faulty.app.test_client()
    with faulty.app.app_context():
        officer = flows.create_officer(db.session(), get_protector(), username="officer.faults")
    faulty.redis_down()
    assert_unavailable(flows.officer_login(client, officer))
    faulty.redis_up()
    assert events(faulty.app, "auth.officer_login") == 0
    answer = flows.officer_login(client, officer)
    assert answer.status_code == 200, answer.get_json()
    # The step is spent now, by the one login that went through.
    flows.assert_error(flows.officer_login(client, officer), 401, "auth.failed")
    assert events(faulty.app, "auth.officer_login") == 1
    assert faulty.audit_chain_events() > 0


@one_redis_server  # a hanging Redis needs a network link
def test_a_hanging_redis_answers_503_within_the_client_timeout(faulty):
    """Redis accepts connections and never answers: 503 after the 2 s socket timeout."""
    client = faulty.app.test_client()
    citizen = registered(faulty.app, client)
    held = flows.challenge(client, citizen.record.personal_id, citizen.phone)
    faulty.redis_proxy.stall()
    started = time.monotonic()
    assert_unavailable(client.post("/api/v1/auth/login", json=signed_login_body(citizen, held)))
    assert time.monotonic() - started < 10
    faulty.redis_up()
    assert sessions(faulty, citizen.account_id) == 0
    assert client.post("/api/v1/auth/login",
                       json=signed_login_body(citizen, held)).status_code == 200
    assert sessions(faulty, citizen.account_id) == 1
    assert faulty.audit_chain_events() > 0
