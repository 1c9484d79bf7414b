"""The 6-digit passcode: five wrong in a row lock the account, the counter lives in the database.

Exercised through ``POST /api/v1/me/passcode`` (changing the passcode is
confirmed with the current one, through the same helper every sensitive act
uses).
"""
from __future__ import annotations

from typing import Any

import pytest

from tests import flows
from tests.factories import add_citizen
from tests.flows import assert_error

PASSCODE_URL = "/api/v1/me/passcode"
WRONG = "135791"
NEW = "975310"


class Citizen(flows.Holder):
    """A registered, logged-in citizen who changes the passcode."""

    def change(self, passcode: str, new_passcode: str = NEW) -> Any:
        """Try to change the passcode, confirming with ``passcode``."""
        return self.client.post(PASSCODE_URL, headers=self.headers,
                                json={"passcode": passcode, "new_passcode": new_passcode})

    def wrong(self, times: int) -> list[Any]:
        """``times`` wrong passcodes in a row; their answers."""
        return [self.change(WRONG) for _ in range(times)]

    def failures(self) -> int:
        """The failure counter, read from the database."""
        return self.account_row().failed_passcodes

    def status(self) -> str:
        """The account's status, read from the database."""
        return self.account_row().status

    def unlock(self) -> Any:
        """Unlock with the password and the SMS code; the confirmation's answer."""
        unlock_id, code = self.start_unlock()
        return self.client.post(f"/api/v1/auth/unlock/{unlock_id}/confirm", json={"otp": code})


@pytest.fixture()
def citizen(client, db_session, protector) -> Citizen:
    return Citizen.make(client, db_session, protector)


def test_the_right_passcode_changes_it(citizen):
    answer = citizen.change(flows.PASSCODE)
    assert answer.status_code == 204, answer.get_json()
    assert answer.data == b""
    # The old passcode is wrong now; the new one confirms.
    assert_error(citizen.change(flows.PASSCODE), 401, "passcode.wrong")
    assert citizen.change(NEW, flows.PASSCODE).status_code == 204


def test_a_wrong_passcode_is_refused_and_counted(citizen):
    body = assert_error(citizen.change(WRONG), 401, "passcode.wrong")
    assert "4 tries left" in body["message"]
    assert citizen.failures() == 1
    assert citizen.status() == "active"


def test_five_wrong_passcodes_in_a_row_lock_the_account(client, citizen):
    *first, fifth = citizen.wrong(5)
    for answer in first:
        assert_error(answer, 401, "passcode.wrong")
    assert_error(fifth, 403, "account.locked")
    assert citizen.status() == "locked"
    # Every token stops working at once, the passcode endpoint included.
    assert_error(client.get("/api/v1/me", headers=citizen.headers), 401, "auth.invalid_token")
    assert_error(citizen.change(flows.PASSCODE), 401, "auth.invalid_token")
    assert_error(client.post("/api/v1/auth/refresh",
                             headers=flows.bearer(citizen.tokens["refresh_token"])),
                 401, "auth.invalid_token")
    # A new login is refused too: only the unlock path opens it again.
    assert_error(flows.login_answer(client, citizen.record.personal_id, citizen.phone),
                 403, "account.locked")


def test_the_counter_survives_a_redis_flush(citizen, redis):
    for answer in citizen.wrong(3):
        assert_error(answer, 401, "passcode.wrong")
    redis.flushdb()  # a Redis restart: short-lived state gone, the counter stays in the database
    assert citizen.failures() == 3
    fourth, fifth = citizen.wrong(2)
    assert_error(fourth, 401, "passcode.wrong")
    assert_error(fifth, 403, "account.locked")
    assert citizen.status() == "locked"


def test_a_right_passcode_resets_the_counter(client, citizen):
    for answer in citizen.wrong(4):
        assert_error(answer, 401, "passcode.wrong")
    assert citizen.change(flows.PASSCODE, flows.PASSCODE).status_code == 204
    assert citizen.failures() == 0
    for answer in citizen.wrong(4):
        assert_error(answer, 401, "passcode.wrong")
    assert citizen.failures() == 4
    assert citizen.status() == "active"
    me = client.get("/api/v1/me", headers=citizen.headers)
    assert me.status_code == 200 and me.get_json()["status"] == "active"


def test_unlocking_takes_the_sms_code_and_the_password_and_resets_the_counter(client, citizen):
    citizen.wrong(5)
    assert citizen.status() == "locked"

    # The password alone is not enough, and a wrong password sends no code.
    refused = client.post("/api/v1/auth/unlock", json={
        "personal_id": citizen.record.personal_id, "password": "not the password at all"})
    assert_error(refused, 401, "auth.failed")
    unlock_id, code = citizen.start_unlock()
    wrong_code = f"{(int(code) + 1) % 1_000_000:06d}"
    answer = client.post(f"/api/v1/auth/unlock/{unlock_id}/confirm", json={"otp": wrong_code})
    assert_error(answer, 422, "otp.invalid")
    assert citizen.status() == "locked"

    answer = client.post(f"/api/v1/auth/unlock/{unlock_id}/confirm", json={"otp": code})
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["status"] == "active"
    assert citizen.status() == "active" and citizen.failures() == 0

    # The old tokens stay revoked; a new login works and has five fresh tries.
    assert_error(client.get("/api/v1/me", headers=citizen.headers), 401, "auth.invalid_token")
    citizen.log_in()
    for answer in citizen.wrong(4):
        assert_error(answer, 401, "passcode.wrong")
    assert citizen.status() == "active"
    assert citizen.change(flows.PASSCODE).status_code == 204


def test_a_registration_code_does_not_unlock(client, db_session, protector, citizen,
                                             monkeypatch):
    """Codes are bound to their purpose."""
    citizen.wrong(5)
    # Two different codes, whatever the random draw: the unlock's, then the registration's.
    drawn = iter(["111111", "222222"])
    monkeypatch.setattr("identity.accounts.codes.new_code", lambda: next(drawn))
    unlock_id, code = citizen.start_unlock()
    # A code of another purpose, sent to the same phone after the unlock code.
    other = add_citizen(db_session, protector)
    flows.start_registration(client, other, flows.Phone(), citizen.record.test_phone)
    registration_code = flows.latest_code(client, citizen.record.test_phone)
    assert (code, registration_code) == ("111111", "222222")
    answer = client.post(f"/api/v1/auth/unlock/{unlock_id}/confirm",
                         json={"otp": registration_code})
    assert_error(answer, 422, "otp.invalid")
    assert citizen.status() == "locked"


@pytest.mark.parametrize("malformed", ["12345", "1234567", "12a456", "", " 24681",
                                       "２４６８１０", "٢٤٦٨١٠"])
def test_a_malformed_passcode_is_refused_and_not_counted(citizen, malformed):
    assert_error(citizen.change(malformed), 422, "passcode.invalid")
    assert citizen.failures() == 0


def test_malformed_passcodes_never_lock(client, citizen):
    for _ in range(5):
        assert_error(citizen.change("12345"), 422, "passcode.invalid")
    # A malformed new passcode is refused before the current one is checked: not counted either.
    for _ in range(5):
        assert_error(citizen.change(WRONG, "abc"), 422, "passcode.invalid")
    assert citizen.failures() == 0
    for answer in citizen.wrong(4):
        assert_error(answer, 401, "passcode.wrong")
    assert citizen.status() == "active"
    assert client.get("/api/v1/me", headers=citizen.headers).status_code == 200
