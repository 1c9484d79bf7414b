"""The account-state axis of the authorisation matrix: every operation x every account state.

A citizen's token is made while the account is active; the account is then
put into each state straight in the database WITHOUT raising its token
version, so the token stays current and what refuses is the capability table
(``identity/accounts/capabilities.py``, enforced by ``citizen_required``),
not token revocation. Every citizen operation must answer 401/403 unless the
table lets its act through in that state, and must not answer 401/403 (or a
5xx) when it does.

``OPERATION_ACTS`` names the act of every citizen operation of the OpenAPI
document, and ``None`` for every other operation: an operation without a
row fails the test, and a row that disagrees with the act the route declares
fails too.
"""
from __future__ import annotations

import re
from typing import Any

import pytest
import sqlalchemy as sa

from app.auth import citizen_required, limiter
from identity.accounts.capabilities import STATE_ACTS, Act, allows
from identity.accounts.models import ACCOUNT_STATUSES, Account
from tests import flows
from tests.flows import PASSCODE, Phone, assert_error, citizen_phone_number, register
from tests.security.test_authorisation_matrix import (ENDPOINTS, HEADERS, _call, _document,
                                                      _url)

#: The act of every operation a citizen's token is for; None: not a citizen operation.
OPERATION_ACTS: dict[str, Act | None] = {
    "GET /api/v1/me": Act.IDENTITY_READ,
    "POST /api/v1/me/lock": Act.ACCOUNT_LOCK,
    "POST /api/v1/me/passcode": Act.PASSCODE_CHANGE,
    "POST /api/v1/me/password": Act.PASSWORD_CHANGE,
    "GET /api/v1/me/notifications": Act.NOTIFICATIONS_READ,
    "GET /api/v1/me/access-log": Act.ACCESS_LOG_READ,
    "GET /api/v1/me/status": Act.STATUS_READ,
    "POST /api/v1/me/registration/withdraw": Act.REGISTRATION_WITHDRAW,
    "POST /api/v1/credentials": Act.CREDENTIAL_ISSUE,
    "GET /api/v1/credentials": Act.CREDENTIAL_READ,
    "GET /api/v1/credentials/{credential_id}/qr.png": Act.CREDENTIAL_READ,
    "GET /api/v1/credentials/{credential_id}/qr.svg": Act.CREDENTIAL_READ,
    "POST /api/v1/credentials/{credential_id}/revoke": Act.CREDENTIAL_REVOKE,
    "POST /api/v1/residence/stays": Act.RESIDENCE_DECLARE,
    "GET /api/v1/residence/stays": Act.RESIDENCE_READ,
    "GET /api/v1/residence/stays/{stay_id}": Act.RESIDENCE_READ,
    "POST /api/v1/residence/stays/{stay_id}/withdraw": Act.RESIDENCE_DECLARE,
    "POST /api/v1/residence/stays/{stay_id}/renew": Act.RESIDENCE_DECLARE,
    "GET /api/v1/residence/current": Act.RESIDENCE_READ,
    "GET /api/v1/residence/host-confirmations": Act.RESIDENCE_READ,
    "POST /api/v1/residence/host-confirmations/{stay_id}": Act.RESIDENCE_DECLARE,
    "POST /api/v1/residence/absences": Act.RESIDENCE_DECLARE,
    "GET /api/v1/residence/absences": Act.RESIDENCE_READ,
    "GET /api/v1/residence/absences/{absence_id}": Act.RESIDENCE_READ,
    "POST /api/v1/residence/absences/{absence_id}/withdraw": Act.RESIDENCE_DECLARE,
    "POST /api/v1/residence/lodging-notices": Act.RESIDENCE_DECLARE,
    "POST /api/v1/reports": Act.REPORT_FILE,
    "GET /api/v1/reports": Act.REPORT_READ,
    "GET /api/v1/reports/{case_number}": Act.REPORT_READ,
    "POST /api/v1/reports/{case_number}/messages": Act.REPORT_ANSWER,
    "POST /api/v1/reports/{case_number}/evidence": Act.REPORT_ANSWER,
    "GET /api/v1/reports/{case_number}/evidence/{evidence_id}": Act.REPORT_READ,
    "GET /api/v1/me/consent-requests": Act.CONSENT_READ,
    "POST /api/v1/me/consent-requests/{consent_id}/decision": Act.CONSENT_DECIDE,
    "GET /api/v1/me/data-sharing": Act.DATA_SHARING_READ,
    "POST /api/v1/me/data-sharing/{share_id}/erasure-request": Act.DATA_ERASURE_REQUEST,
    "GET /api/v1/me/documents": Act.DOCUMENTS_READ,
    "POST /api/v1/me/documents/{document_id}/credential": Act.DOCUMENT_PRESENT,
    "GET /api/v1/payments": Act.PAYMENT_READ,
    "GET /api/v1/payments/{order_id}": Act.PAYMENT_READ,
    "POST /api/v1/payments/{order_id}/attempts": Act.PAYMENT_PAY,
    "GET /api/v1/payments/{order_id}/receipt": Act.PAYMENT_READ,
    "POST /api/v1/payments/{order_id}/receipt/credential": Act.PAYMENT_PAY,
}
#: Operations a citizen's token is not for: the matrix's audience decides (public, officer...).
NOT_CITIZEN = {key for key, (audience, _kind) in ENDPOINTS.items()
               if audience not in ("citizen", "pending")}
OPERATION_ACTS.update(dict.fromkeys(NOT_CITIZEN, None))


def _refused(status: int) -> bool:
    return status in (401, 403)


def _openapi_path(rule: str) -> str:
    """``/api/v1/stays/<int:stay_id>`` -> ``/api/v1/stays/{stay_id}``."""
    return re.sub(r"<(?:[^<>]*:)?([^<>:]+)>", r"{\1}", rule)


def _declared_acts(app: Any) -> dict[str, Act]:
    """The act each route declares with ``citizen_required``, by operation key."""
    acts = {}
    for rule in app.url_map.iter_rules():
        act = getattr(app.view_functions[rule.endpoint], "citizen_act", None)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            if act is not None:
                acts[f"{method} {_openapi_path(rule.rule)}"] = act
    return acts


def test_every_operation_has_an_act_row(client, app):
    document = {key for _m, _p, key in _document(client)}
    missing = sorted(document - set(OPERATION_ACTS))
    assert not missing, f"operations without a row in OPERATION_ACTS: {missing}"
    assert not sorted(set(OPERATION_ACTS) - document), "rows of operations that do not exist"
    declared = _declared_acts(app)
    citizen_rows = {key: act for key, act in OPERATION_ACTS.items() if act is not None}
    assert declared == citizen_rows, "the acts the routes declare differ from the rows"


def test_every_state_has_a_row_and_only_active_acts_as_the_citizen():
    assert set(STATE_ACTS) == set(ACCOUNT_STATUSES)
    assert STATE_ACTS["pending_review"] == {Act.STATUS_READ, Act.REGISTRATION_WITHDRAW,
                                            Act.ACCOUNT_LOCK}
    for state in ("locked", "rejected", "closed"):
        assert STATE_ACTS[state] == set(), state
    assert not allows("active", Act.REGISTRATION_WITHDRAW)
    assert not allows("no-such-state", Act.STATUS_READ)


def test_a_route_without_an_act_is_refused_at_import():
    with pytest.raises(TypeError):
        citizen_required(lambda: None)  # type: ignore[arg-type]


class Holder(flows.Holder):
    """One citizen's account and a token issued while it was active."""

    token_version: int

    @classmethod
    def active(cls, client: Any, db_session: Any, protector: Any) -> Holder:
        """A new citizen of Hà Nội, registered and logged in, with the account's token version."""
        held = cls.make(client, db_session, protector, province_code="01")
        held.token_version = held.account_row().token_version
        return held

    def put_in(self, state: str) -> None:
        """Set the account's state straight in the database, keeping its token current."""
        self.db_session.expire_all()
        account = self.db_session.get(Account, self.account_id)
        account.status, account.token_version = state, self.token_version
        account.lock_reason = "officer" if state == "locked" else None
        account.status_before_lock = "active" if state == "locked" else None
        self.db_session.commit()


def test_every_operation_in_every_account_state(app, client, db_session, protector):
    with app.app_context():
        limiter.reset()
    holder = Holder.active(client, db_session, protector)
    wrong: list[str] = []
    cells = 0
    for state in ACCOUNT_STATUSES:
        for method, path, key in _document(client):
            act = OPERATION_ACTS.get(key)
            if act is None:
                continue
            holder.put_in(state)  # again: an act (lock, withdraw) may have moved it
            status = _call(client, method, _url(path, {}),
                           {**holder.headers, **HEADERS.get(key, {})}, {})
            cells += 1
            if allows(state, act):
                if _refused(status) or status >= 500:
                    wrong.append(f"{key} as {state}: {status}, the table allows {act.value}")
            elif not _refused(status):
                wrong.append(f"{key} as {state}: {status}, the table refuses {act.value}")
    print(f"account-state matrix: {cells} cells")
    assert not wrong, f"{len(wrong)} of {cells} cells wrong:\n" + "\n".join(wrong)
    assert cells >= 5 * 40


def test_a_refusal_says_the_state_and_what_to_do(client, db_session, protector):
    holder = Holder.active(client, db_session, protector)
    holder.put_in("pending_review")
    body = assert_error(client.get("/api/v1/me", headers=holder.headers), 403,
                        "account.not_active")
    assert "pending_review" in body["message"] and "/api/v1/me/status" in body["message"]


# --- The pending account, with valid requests: refused by its state, not by the body ----------

@pytest.fixture()
def pending(client, db_session, protector):
    """A registration with a typed-in phone (not the registry's): pending_review, logged in."""
    held = flows.Holder.make(client, db_session, protector, phone_number="0987000222",
                             province_code="01")
    assert held.account["status"] == "pending_review"
    return held.record, held.headers


def test_a_pending_account_gets_nothing_that_speaks_for_the_citizen(client, pending):
    citizen, headers = pending
    post = client.post
    refused = {
        "registry data": client.get("/api/v1/me", headers=headers),
        "a credential": post("/api/v1/credentials", headers=headers,
                             json={"type": "identity_basic", "passcode": PASSCODE}),
        "a report in the citizen's name": post("/api/v1/reports", headers=headers, json={
            "category": "fraud", "description": "Someone asked for my OTP by phone.",
            "commune_code": "00070", "address": "Số 1 phố Tràng Tiền",
            "occurred_at": "2026-12-01T08:00:00+00:00"}),
        "the document wallet": client.get("/api/v1/me/documents", headers=headers),
        "a payment": post("/api/v1/payments/1/attempts", headers={
            **headers, "Idempotency-Key": "pending-pay-0001"},
            json={"bank": "VCB", "passcode": PASSCODE}),
        "the payments": client.get("/api/v1/payments", headers=headers),
        "a consent decision": post(f"/api/v1/me/consent-requests/{'0' * 32}/decision",
                                   headers=headers, json={"approve": True,
                                                          "passcode": PASSCODE}),
        "the consent requests": client.get("/api/v1/me/consent-requests", headers=headers),
        "a residence declaration": client.get("/api/v1/residence/current", headers=headers),
        "the access log": client.get("/api/v1/me/access-log", headers=headers),
        "the notifications": client.get("/api/v1/me/notifications", headers=headers),
    }
    for what, answer in refused.items():
        assert answer.status_code == 403, (what, answer.get_json())
        assert answer.get_json()["code"] == "account.not_active", what
    status = client.get("/api/v1/me/status", headers=headers)
    assert status.status_code == 200, status.get_json()
    body = status.get_json()
    assert body["status"] == "pending_review" and body["level"] == 1
    assert body["review_note"] is None
    assert citizen.personal_id not in str(body) and citizen.full_name not in str(body)


def test_a_pending_account_withdraws_its_registration(client, db_session, pending):
    citizen, headers = pending
    wrong = client.post("/api/v1/me/registration/withdraw", headers=headers,
                        json={"passcode": "135790"})
    assert_error(wrong, 401, "passcode.wrong")
    answer = client.post("/api/v1/me/registration/withdraw", headers=headers,
                         json={"passcode": PASSCODE})
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["status"] == "closed"
    assert_error(client.get("/api/v1/me/status", headers=headers), 401, "auth.invalid_token")
    account = db_session.scalars(sa.select(Account).where(Account.citizen_id == citizen.id)).one()
    assert account.status == "closed"
    # Nothing is left open: the citizen registers again with the registry's phone.
    again = register(client, citizen, Phone(), phone_number=citizen_phone_number(citizen))
    assert again["status"] == "active" and again["account_id"] != account.id


def test_an_active_account_cannot_withdraw(client, db_session, protector):
    holder = Holder.active(client, db_session, protector)
    assert_error(client.post("/api/v1/me/registration/withdraw", headers=holder.headers,
                             json={"passcode": PASSCODE}), 403, "account.not_active")
