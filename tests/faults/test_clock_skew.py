"""The server's clock moved 90 seconds either way (an NTP step, a node out of sync).

What the documentation promises, checked at +90 s and -90 s:

- Access tokens (``app/auth.py``): 10 minutes of life, 5 s of leeway. A
  token seen by a clock 90 s ahead is still good; seen by a clock 90 s
  behind (or minted by a node 90 s ahead) it is not yet valid: refused.
- Officers' TOTP (``identity/accounts/officers.py``): 30 s steps, one step
  of drift either way. An authenticator 90 s (three steps) off is refused;
  and a clock moved back cannot reuse a step at or before the last one used.
- SMS codes (``identity/accounts/codes.py``): 5 minutes in Redis; at ±90 s a
  fresh code still works, once.
- VN1 credentials (``docs/vn1.md``): ``iat`` at most
  ``now + leeway``, ``exp`` after ``now - leeway``, leeway 30 s (the most the
  spec allows). A credential read 90 s early is ``not_yet_valid``; 90 s into
  its 120 s of life it is valid; the leeway ends 30 s after ``exp``.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pyotp
import pytest
import sqlalchemy as sa
import time_machine

from app.extensions import db, get_protector
from identity.audit.models import AuditEvent
from tests import flows
from tests.faults.helpers import issuer_key, locked_out, registered

SKEW = dt.timedelta(seconds=90)


@pytest.fixture()
def moment() -> Iterator[Any]:
    """A frozen clock, in the middle of a TOTP step; moved by the test."""
    now = int(dt.datetime.now(dt.timezone.utc).timestamp())
    base = dt.datetime.fromtimestamp(now - now % 30 + 15, dt.timezone.utc)
    with time_machine.travel(base, tick=False) as traveller:
        traveller.base = base  # type: ignore[attr-defined]
        yield traveller


def at(moment: Any, seconds: float) -> None:
    moment.move_to(moment.base + dt.timedelta(seconds=seconds))


@pytest.mark.parametrize("seconds, status", [(90, 200), (-90, 401), (-4, 200), (604, 200),
                                             (606, 401)])
def test_access_tokens_at_a_moved_clock(faulty, moment, seconds, status):
    client = faulty.app.test_client()
    citizen = registered(faulty.app, client)
    token = citizen.log_in()["access_token"]
    at(moment, seconds)
    answer = client.get("/api/v1/me", headers=flows.bearer(token))
    if status == 200:
        assert answer.status_code == 200, answer.get_json()
    else:
        code = "auth.token_expired" if seconds > 0 else "auth.invalid_token"
        flows.assert_error(answer, 401, code)
    assert faulty.audit_chain_events() > 0


def test_a_token_minted_by_a_node_90_s_ahead_is_refused_until_the_clocks_agree(faulty, moment):
    client = faulty.app.test_client()
    citizen = registered(faulty.app, client)
    at(moment, 90)
    token = citizen.log_in()["access_token"]
    at(moment, 0)
    flows.assert_error(client.get("/api/v1/me", headers=flows.bearer(token)),
                       401, "auth.invalid_token")
    at(moment, 86)  # within the 5 s of leeway of the minting node's clock
    assert client.get("/api/v1/me", headers=flows.bearer(token)).status_code == 200


def _officer(faulty: Any, username: str) -> flows.OfficerLogin:
    with faulty.app.app_context():
        return flows.create_officer(db.session(), get_protector(), username=username)


def _login_reasons(faulty: Any) -> list[str]:
    with faulty.app.app_context():
        return [event.details["reason"] for event in db.session.scalars(
            sa.select(AuditEvent).where(AuditEvent.action == "auth.officer_login_failed")
            .order_by(AuditEvent.id))]
    assert faulty.audit_chain_events() > 0


@pytest.mark.parametrize("seconds", [90, -90])
def test_totp_from_an_authenticator_90_s_off_is_refused(faulty, moment, seconds):
    officer = _officer(faulty, "officer.skew")
    client = faulty.app.test_client()
    real_code = pyotp.TOTP(officer.totp_secret).at(moment.base)  # the phone's clock is right
    at(moment, seconds)  # the server's is not
    flows.assert_error(client.post("/api/v1/auth/officer-login", json={
        "username": officer.username, "password": officer.password, "totp": real_code}),
        401, "auth.failed")
    assert _login_reasons(faulty) == ["totp_wrong"]
    # One step of drift is tolerated: the phone 30 s off the server's clock.
    drifted = pyotp.TOTP(officer.totp_secret).at(moment.base + dt.timedelta(seconds=seconds)
                                                 - dt.timedelta(seconds=30 if seconds > 0
                                                                else -30))
    answer = client.post("/api/v1/auth/officer-login", json={
        "username": officer.username, "password": officer.password, "totp": drifted})
    assert answer.status_code == 200, answer.get_json()
    assert faulty.audit_chain_events() > 0


def test_a_clock_moved_back_cannot_reuse_totp_steps(faulty, moment):
    officer = _officer(faulty, "officer.back")
    client = faulty.app.test_client()
    assert flows.officer_login(client, officer).status_code == 200
    at(moment, -90)
    # The server's own current code is three steps before the last one used: refused.
    flows.assert_error(flows.officer_login(client, officer), 401, "auth.failed")
    assert _login_reasons(faulty) == ["totp_replayed"]
    at(moment, 30)  # the next step after the one used
    assert flows.officer_login(client, officer).status_code == 200
    assert faulty.audit_chain_events() > 0


@pytest.mark.parametrize("seconds", [90, -90])
def test_sms_codes_at_a_moved_clock_work_once(faulty, moment, seconds):
    client = faulty.app.test_client()
    citizen = locked_out(faulty.app, client)
    unlock_id, code = citizen.start_unlock()
    at(moment, seconds)
    path = f"/api/v1/auth/unlock/{unlock_id}/confirm"
    assert client.post(path, json={"otp": code}).status_code == 200
    flows.assert_error(client.post(path, json={"otp": code}), 422, "otp.invalid")
    assert faulty.audit_chain_events() > 0


class _Verifier:
    """An issuer key, a holder and an officer, all made before the earliest moment tested."""

    def __init__(self, faulty: Any, moment: Any) -> None:
        at(moment, -200)
        issuer_key(faulty.app)
        self.client = faulty.app.test_client()
        citizen = registered(faulty.app, self.client)
        self.token = citizen.log_in()["access_token"]  # good from -200 to +400
        officer = _officer(faulty, "officer.vn1")
        self.officer = officer.log_in(self.client)

    def issue(self) -> str:
        answer = self.client.post("/api/v1/credentials", headers=flows.bearer(self.token),
                                  json={"type": "identity_basic", "passcode": flows.PASSCODE})
        assert answer.status_code == 201, answer.get_json()
        return str(answer.get_json()["qr"])

    def verify(self, qr: str) -> dict[str, Any]:
        answer = self.client.post("/api/v1/credentials/verify",
                                  headers=flows.bearer(self.officer), json={"qr": qr})
        assert answer.status_code == 200, answer.get_json()
        return dict(answer.get_json())


@pytest.mark.parametrize("seconds, reason", [(90, None), (-90, "not_yet_valid"),
                                             (-29, None), (149, None), (151, "expired")])
def test_vn1_credentials_at_a_moved_clock(faulty, moment, seconds, reason):
    """Issued at 0 for 120 s; read by a verifier whose clock says ``seconds``."""
    verifier = _Verifier(faulty, moment)
    at(moment, 0)
    qr = verifier.issue()
    at(moment, seconds)
    result = verifier.verify(qr)
    assert (result["valid"], result["reason"]) == (reason is None, reason)
    assert faulty.audit_chain_events() > 0


def test_vn1_credential_issued_by_a_node_90_s_behind(faulty, moment):
    verifier = _Verifier(faulty, moment)
    at(moment, -90)
    qr = verifier.issue()  # iat = -90, exp = +30
    at(moment, 0)
    assert verifier.verify(qr)["valid"] is True
    at(moment, 61)  # exp + 31: past the 30 s of leeway
    assert verifier.verify(qr)["reason"] == "expired"
    assert faulty.audit_chain_events() > 0
