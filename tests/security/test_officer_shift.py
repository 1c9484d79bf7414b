"""An officer's session lasts one shift (12 hours at most); a citizen's keeps its lifetime.

After the shift the officer's refresh token is refused and only a new login,
with password and a new TOTP code, gives tokens again.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

import time_machine

from config import load_config
from tests.factories import add_citizen
from tests.flows import (Phone, assert_error, bearer, create_officer, login, officer_login,
                         register)

REFRESH = "/api/v1/auth/refresh"
START = dt.datetime(2026, 12, 1, 6, 0, 10, tzinfo=dt.timezone.utc)  # 10 s into a TOTP step


def _refresh(client: Any, tokens: dict[str, Any]) -> Any:
    return client.post(REFRESH, headers=bearer(tokens["refresh_token"]))


def test_an_officer_session_ends_after_twelve_hours(client, db_session, protector):
    officer = create_officer(db_session, protector, username="shift.officer")
    with time_machine.travel(START, tick=False) as traveller:
        tokens = officer_login(client, officer).get_json()
        traveller.move_to(START + dt.timedelta(hours=11, minutes=59))
        rotated = _refresh(client, tokens)
        assert rotated.status_code == 200, rotated.get_json()
        tokens = rotated.get_json()
        traveller.move_to(START + dt.timedelta(hours=12, minutes=1))
        # Rotation does not stretch the shift: the newest refresh token is refused too.
        assert_error(_refresh(client, tokens), 401, "auth.invalid_token")
        again = officer_login(client, officer)  # a new password + TOTP login
        assert again.status_code == 200, again.get_json()
        assert client.get("/api/v1/police/accounts/pending",
                          headers=bearer(again.get_json()["access_token"])).status_code == 200


def test_a_shorter_shift_is_configurable(app, client, db_session, protector, monkeypatch):
    monkeypatch.setitem(app.config, "OFFICER_SESSION_HOURS", 8)
    officer = create_officer(db_session, protector, username="short.shift")
    with time_machine.travel(START, tick=False) as traveller:
        tokens = officer_login(client, officer).get_json()
        traveller.move_to(START + dt.timedelta(hours=8, minutes=1))
        assert_error(_refresh(client, tokens), 401, "auth.invalid_token")


def test_the_shift_is_capped_at_twelve_hours_whatever_the_environment_says():
    assert load_config("testing", {"OFFICER_SESSION_HOURS": "720"})["OFFICER_SESSION_HOURS"] \
        == 12
    assert load_config("testing", {})["OFFICER_SESSION_HOURS"] == 12


def test_a_citizen_session_keeps_its_lifetime(client, db_session, protector):
    row, phone = add_citizen(db_session, protector), Phone()
    register(client, row, phone)
    with time_machine.travel(START, tick=False) as traveller:
        tokens = login(client, row.personal_id, phone)
        traveller.move_to(START + dt.timedelta(hours=13))
        rotated = _refresh(client, tokens)
        assert rotated.status_code == 200, rotated.get_json()
        traveller.move_to(START + dt.timedelta(days=29))
        assert _refresh(client, rotated.get_json()).status_code == 200
