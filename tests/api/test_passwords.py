"""Changing a password (current password + passcode) and resetting a forgotten one
(the bound device's signature + an SMS code), through the API."""
from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from app.auth import limiter
from identity.accounts import devices
from identity.audit.models import AuditEvent
from tests import flows
from tests.factories import add_citizen
from tests.flows import PASSCODE, PASSWORD, Phone, assert_error, bearer, latest_code, login

NEW_PASSWORD = "a quite different passphrase"
CHANGE = "/api/v1/me/password"
RESET = "/api/v1/auth/password-reset"


class Holder(flows.Holder):
    """A registered citizen with two logged-in sessions on their bound phone."""

    #: The token pair of the second session.
    other: dict[str, Any]

    @classmethod
    def with_two_sessions(cls, client: Any, db_session: Any, protector: Any) -> Holder:
        """A new citizen, registered and logged in twice."""
        held = cls.make(client, db_session, protector)
        held.other = login(client, held.personal_id, held.phone)
        return held

    def change(self, password: str = PASSWORD, new_password: str = NEW_PASSWORD,
               passcode: str = PASSCODE) -> Any:
        return self.client.post(CHANGE, headers=bearer(self.tokens["access_token"]), json={
            "password": password, "new_password": new_password, "passcode": passcode})

    def reset_body(self, phone: Phone | None = None, personal_id: str | None = None,
                   signer: Phone | None = None) -> dict[str, Any]:
        """A signed reset request (a fresh challenge for the id and the phone's device)."""
        phone = phone or self.phone
        personal_id = personal_id or self.record.personal_id
        held = flows.challenge(self.client, personal_id, phone)
        return {"personal_id": personal_id, "device_id": phone.device_id,
                "challenge_id": held["challenge_id"],
                "signature": (signer or phone).sign(held["nonce"])}

    def events(self, action: str) -> list[AuditEvent]:
        return list(self.db_session.scalars(sa.select(AuditEvent)
                                            .where(AuditEvent.action == action)))

    def sms_count(self) -> int:
        messages = self.client.get("/api/v1/dev/sms-outbox").get_json()["messages"]
        return sum(message["phone"] == self.record.test_phone for message in messages)


@pytest.fixture()
def holder(client, db_session, protector) -> Holder:
    return Holder.with_two_sessions(client, db_session, protector)


def _me(client: Any, tokens: dict[str, Any]) -> int:
    return int(client.get("/api/v1/me", headers=bearer(tokens["access_token"])).status_code)


def _refresh(client: Any, tokens: dict[str, Any]) -> int:
    return int(client.post("/api/v1/auth/refresh",
                           headers=bearer(tokens["refresh_token"])).status_code)


# --- Change ------------------------------------------------------------------------------------

def test_a_password_change_signs_out_every_other_session(client, holder):
    answer = holder.change()
    assert answer.status_code == 200, answer.get_json()
    fresh = answer.get_json()
    # This session goes on with the new tokens; the token sent, and the other session, end.
    assert _me(client, fresh) == 200
    assert _me(client, holder.tokens) == 401
    assert _me(client, holder.other) == 401 and _refresh(client, holder.other) == 401
    # The new password logs in, the old one no longer.
    assert_error(flows.login_answer(client, holder.record.personal_id, holder.phone), 401,
                 "auth.failed")
    assert login(client, holder.record.personal_id, holder.phone, NEW_PASSWORD)["access_token"]
    assert len(holder.events("password.changed")) == 1
    notes = client.get("/api/v1/me/notifications",
                       headers=bearer(fresh["access_token"])).get_json()["items"]
    assert any(note["kind"] == "password.changed" for note in notes)
    assert _refresh(client, fresh) == 200
    # The refresh token held before the change is an old generation now: a reuse, refused.
    assert _refresh(client, holder.tokens) == 401


def test_a_wrong_current_password_changes_nothing_and_spends_no_passcode_try(client, holder):
    assert_error(holder.change(password="not the password at all"), 401, "password.wrong")
    assert holder.account_row().failed_passcodes == 0
    assert _me(client, holder.tokens) == 200 and _me(client, holder.other) == 200
    [failed] = holder.events("password.change_failed")
    assert failed.details == {"reason": "password_wrong"}
    assert login(client, holder.record.personal_id, holder.phone)["access_token"]


def test_a_wrong_passcode_is_counted_as_for_any_act(client, holder):
    body = assert_error(holder.change(passcode="135791"), 401, "passcode.wrong")
    assert "4 tries left" in body["message"]
    assert holder.account_row().failed_passcodes == 1
    assert login(client, holder.record.personal_id, holder.phone)["access_token"]


def test_a_weak_new_password_is_refused_before_anything_is_checked(client, holder):
    assert_error(holder.change(password="wrong", new_password="short"), 422,
                 "password.too_short")
    assert_error(holder.change(new_password="password123"), 422, "password.common")
    assert_error(holder.change(new_password=PASSWORD), 422, "password.unchanged")
    assert holder.events("password.change_failed") == []
    assert holder.account_row().failed_passcodes == 0


def test_current_password_tries_share_the_login_budget(app, client, holder, monkeypatch):
    """A stolen access token buys no extra guesses at the password: one budget per id."""
    monkeypatch.setitem(app.config, "AUTH_LIMIT_PER_ID", "3 per minute")
    with app.app_context():
        limiter.reset()
    assert_error(flows.login_answer(client, holder.record.personal_id, holder.phone,
                                    password="guess guess guess"), 401, "auth.failed")
    # The challenge and the login counted two: the change is the third, and the last.
    assert_error(holder.change(password="another guess here"), 401, "password.wrong")
    assert_error(holder.change(password="a third guess here"), 429, "rate_limited")
    # ...and the logins for the id are out of budget too.
    answer = client.post("/api/v1/auth/challenge", json={
        "personal_id": holder.record.personal_id, "device_id": holder.phone.device_id})
    assert_error(answer, 429, "rate_limited")
    assert len(holder.events("password.change_failed")) == 1


# --- Reset -------------------------------------------------------------------------------------

def _start_reset(client: Any, body: dict[str, Any]) -> Any:
    return client.post(RESET, json=body)


def test_a_reset_with_the_device_and_the_code_sets_the_password(client, holder):
    answer = _start_reset(client, holder.reset_body())
    assert answer.status_code == 202, answer.get_json()
    started = answer.get_json()
    assert set(started) == {"reset_id", "expires_in"}
    code = latest_code(client, holder.record.test_phone)
    done = client.post(f"{RESET}/{started['reset_id']}/confirm",
                       json={"otp": code, "new_password": NEW_PASSWORD})
    assert done.status_code == 200, done.get_json()
    assert done.get_json()["status"] == "active"
    # Every session ends; the new password logs in from the bound phone.
    for tokens in (holder.tokens, holder.other):
        assert _me(client, tokens) == 401 and _refresh(client, tokens) == 401
    assert_error(flows.login_answer(client, holder.record.personal_id, holder.phone), 401,
                 "auth.failed")
    assert login(client, holder.record.personal_id, holder.phone, NEW_PASSWORD)["access_token"]
    assert len(holder.events("password.reset")) == 1
    # The code is single use.
    again = client.post(f"{RESET}/{started['reset_id']}/confirm",
                        json={"otp": code, "new_password": "yet another passphrase"})
    assert_error(again, 422, "otp.invalid")


def test_a_weak_new_password_costs_no_code(client, holder):
    started = _start_reset(client, holder.reset_body()).get_json()
    code = latest_code(client, holder.record.test_phone)
    url = f"{RESET}/{started['reset_id']}/confirm"
    assert_error(client.post(url, json={"otp": code, "new_password": "short"}), 422,
                 "password.too_short")
    assert client.post(url, json={"otp": code, "new_password": NEW_PASSWORD}).status_code == 200


def _uniform(answers: list[Any]) -> None:
    """Every answer is a 202 of the same shape."""
    for answer in answers:
        assert answer.status_code == 202, answer.get_json()
        assert set(answer.get_json()) == {"reset_id", "expires_in"}
        assert answer.get_json()["expires_in"] == 300
    assert len({len(answer.get_json()["reset_id"]) for answer in answers}) == 1


def test_no_oracle_and_no_code_without_the_bound_device(client, db_session, protector, holder):
    stranger_phone, nobody = Phone(), add_citizen(db_session, protector)  # no account
    answers = [
        _start_reset(client, holder.reset_body()),                             # the real one
        _start_reset(client, holder.reset_body(phone=stranger_phone)),         # another device
        _start_reset(client, holder.reset_body(signer=stranger_phone)),        # forged signature
        _start_reset(client, holder.reset_body(phone=stranger_phone,
                                               personal_id=nobody.personal_id)),  # no account
        _start_reset(client, holder.reset_body(personal_id="001099000001")),   # unknown id
    ]
    _uniform(answers)
    assert holder.sms_count() == 2  # the registration's code and the real reset's
    reasons = sorted(event.details["reason"] for event in holder.events("password.reset_refused"))
    assert reasons == ["device_not_bound", "no_account", "no_account", "signature_invalid"]
    # A reference that led nowhere confirms nothing, whatever code is tried.
    for answer in answers[1:]:
        confirm = client.post(f"{RESET}/{answer.get_json()['reset_id']}/confirm",
                              json={"otp": "000000", "new_password": NEW_PASSWORD})
        assert_error(confirm, 422, "otp.invalid")


def test_a_challenge_is_used_once(client, holder):
    body = holder.reset_body()
    assert _start_reset(client, body).status_code == 202
    assert _start_reset(client, body).status_code == 202
    assert holder.sms_count() == 2  # the registration's code and one reset code
    refused = holder.events("password.reset_refused")
    assert [event.details["reason"] for event in refused] == ["challenge_unknown_or_used"]


def test_a_locked_account_cannot_reset_its_password(client, holder):
    assert client.post("/api/v1/me/lock",
                       headers=bearer(holder.tokens["access_token"])).status_code == 200
    _uniform([_start_reset(client, holder.reset_body())])
    assert holder.sms_count() == 1
    [refused] = holder.events("password.reset_refused")
    assert refused.details["reason"] == "account_locked"


def test_a_spent_sms_budget_answers_as_usual(client, holder):
    for _ in range(5):
        assert _start_reset(client, holder.reset_body()).status_code == 202
    # The registration's code and four resets made five sends this hour: the next is held back,
    # with the same answer (a 429 here would tell that the id has an account).
    _uniform([_start_reset(client, holder.reset_body())])
    assert holder.sms_count() == 5
    assert holder.events("password.reset_refused")[-1].details["reason"] == "sms_budget_spent"


def test_a_device_rebound_since_the_request_voids_the_code(client, db_session, holder):
    started = _start_reset(client, holder.reset_body()).get_json()
    code = latest_code(client, holder.record.test_phone)
    devices.bind_device(db_session=db_session, account=holder.account_row(),
                        device_id="other-phone", public_key=Phone().public_der,
                        bound_by="sms_rebind")
    db_session.flush()
    confirm = client.post(f"{RESET}/{started['reset_id']}/confirm",
                          json={"otp": code, "new_password": NEW_PASSWORD})
    assert_error(confirm, 422, "otp.invalid")
