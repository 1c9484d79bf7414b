"""Payments through the HTTP API: fines, paying once behind idempotency keys, callbacks,
receipts verified offline, refunds, and the ledger after each."""
from __future__ import annotations

import datetime as dt
import os
import uuid
from unittest.mock import patch
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from identity import clock
from identity.audit.models import AuditEvent
from identity.audit.service import Actor
from identity.credentials import verify
from identity.credentials.models import Credential
from identity.credentials.vn1 import TrustList, VerificationError
from identity.monitoring.counters import total
from tests import flows
from tests.factories import add_citizen
from tests.flows import PASSCODE, assert_error, logged_in_officer
from tests.utilities.residence.helpers import STAY_COMMUNE, hcm_commune
from tests.utilities.payments.fakes import (CALLBACKS, FakeProvider, callback_body,
                                            post_callback, signed_headers)
from utilities.payments import ledger
from utilities.payments.models import IdempotencyKey, PaymentAttempt, PaymentOrder

PAYMENTS = "/api/v1/payments"
FINES = "/api/v1/police/fines"


@pytest.fixture()
def provider(app: Any, monkeypatch: Any) -> FakeProvider:
    """The app's provider ``banksim``, replaced by one in memory."""
    fake = FakeProvider()
    monkeypatch.setitem(app.extensions["payment_providers"], "banksim", fake)
    return fake


class Citizen(flows.Holder):
    """A registered citizen logged in on their phone, who pays."""

    def pay(self, order_id: int, *, key: str | None = None, bank: str = "VCB",
            passcode: str = PASSCODE, **extra: Any) -> Any:
        headers = dict(self.headers)
        if key is not None:
            headers["Idempotency-Key"] = key
        return self.client.post(f"{PAYMENTS}/{order_id}/attempts", headers=headers,
                                json={"bank": bank, "passcode": passcode, **extra})

    def order(self, order_id: int) -> dict[str, Any]:
        answer = self.client.get(f"{PAYMENTS}/{order_id}", headers=self.headers)
        assert answer.status_code == 200, answer.get_json()
        return dict(answer.get_json())


def officer_headers(client: Any, db_session: Any, protector: Any, *, username: str = "csgt.hn",
                    role: str = "officer", **unit: Any) -> dict[str, str]:
    return logged_in_officer(client, db_session, protector, username=username, role=role,
                             **unit).headers


def fine_json(citizen: Citizen, **overrides: Any) -> dict[str, Any]:
    return {"personal_id": citizen.record.personal_id, "full_name": citizen.record.full_name,
            "date_of_birth": citizen.record.date_of_birth.isoformat(), "amount": 800_000,
            "legal_basis": "Nghị định 168/2024/NĐ-CP, Điều 7 khoản 4 điểm a",
            "due_date": (clock.today() + dt.timedelta(days=10)).isoformat(),
            "description": "Không đội mũ bảo hiểm", **overrides}


@pytest.fixture()
def citizen(client: Any, db_session: Any, protector: Any) -> Citizen:
    return Citizen.make(client, db_session, protector)


@pytest.fixture()
def officer(client: Any, db_session: Any, protector: Any) -> dict[str, str]:
    return officer_headers(client, db_session, protector)


@pytest.fixture()
def fine(client: Any, citizen: Citizen, officer: dict[str, str]) -> dict[str, Any]:
    answer = client.post(FINES, json=fine_json(citizen), headers=officer)
    assert answer.status_code == 201, answer.get_json()
    return dict(answer.get_json())


def pay_and_settle(citizen: Citizen, provider: FakeProvider, order_id: int) -> dict[str, Any]:
    """Pay with a fresh key and let the provider call back a success."""
    answer = citizen.pay(order_id, key=str(uuid.uuid4()))
    assert answer.status_code == 201, answer.get_json()
    attempt = answer.get_json()
    provider.payments[attempt["reference"]]["status"] = "succeeded"
    settled = post_callback(citizen.client, callback_body(attempt["reference"],
                                                          amount=attempt["amount"]))
    assert settled.status_code == 200, settled.get_json()
    return dict(attempt)


def assert_balanced(db_session: Any) -> ledger.LedgerReport:
    report = ledger.verify_ledger(db_session)
    assert report.balanced, report.problems
    return report


# --- Orders ------------------------------------------------------------------------------------

def test_an_officer_fines_a_citizen_who_sees_it_in_their_orders(client, citizen, fine):
    assert (fine["kind"], fine["amount"], fine["status"], fine["currency"]) == (
        "fine", 800_000, "open", "VND")
    listed = client.get(PAYMENTS, headers=citizen.headers).get_json()
    assert [o["id"] for o in listed["items"]] == [fine["id"]] and listed["total"] == 1
    assert client.get(f"{PAYMENTS}?status=paid", headers=citizen.headers).get_json()["total"] == 0
    detail = citizen.order(fine["id"])
    assert detail["attempts"] == [] and [h["action"] for h in detail["history"]] == ["create"]


def test_a_fine_amount_is_an_integer_of_dong(client, citizen, officer):
    for amount in (800000.5, "800000", 0, -5, 3_000_000_000, True):
        answer = client.post(FINES, json=fine_json(citizen, amount=amount), headers=officer)
        assert answer.status_code == 422, (amount, answer.get_json())


def test_a_fine_answers_alike_for_an_unknown_id_and_a_known_one_with_other_details(
        client, db_session, protector, citizen, officer):
    """No oracle: an unknown id, and a citizen's id with another name or birth date, get one
    answer, byte for byte, and one audit row each."""
    answers = [client.post(FINES, json=fine_json(citizen, **change), headers=officer)
               for change in ({"personal_id": "001099999999"},
                              {"full_name": "Trần Thị Khác"},
                              {"date_of_birth": "1950-05-05"})]
    assert_error(answers[0], 422, "payment.citizen_not_matched")
    assert answers[0].get_json()["errors"] == {}
    assert answers[0].data == answers[1].data == answers[2].data
    refused = db_session.scalars(sa.select(AuditEvent).where(
        AuditEvent.action == "payment.fine_refused")).all()
    assert [e.details["reason"] for e in refused] == ["citizen_not_matched"] * 3
    # Outside the officer's jurisdiction, a known and an unknown id answer alike too.
    commune_officer = officer_headers(client, db_session, protector, username="csgt.hk2",
                                      province_code="01", commune_code="00070")
    outside = [client.post(FINES, json=fine_json(citizen, commune_code=hcm_commune(),
                                                 **change), headers=commune_officer)
               for change in ({}, {"personal_id": "001099999999"})]
    assert_error(outside[0], 403, "officer.outside_jurisdiction")
    assert outside[0].data == outside[1].data
    # The name is compared as a name (case and Unicode form do not matter).
    upper = client.post(FINES, json=fine_json(citizen, full_name=citizen.record.full_name
                                              .upper()), headers=officer)
    assert upper.status_code == 201, upper.get_json()


def test_a_fine_outside_the_jurisdiction_is_refused(client, db_session, protector, citizen):
    commune_officer = officer_headers(client, db_session, protector, username="csgt.hk",
                                      province_code="01", commune_code="00070")
    body = fine_json(citizen, commune_code=hcm_commune())
    assert_error(client.post(FINES, json=body, headers=commune_officer), 403,
                 "officer.outside_jurisdiction")
    assert_error(client.post(FINES, json=fine_json(citizen, commune_code="99999"),
                             headers=commune_officer), 422, "commune.unknown")
    assert_error(client.post(FINES, json=fine_json(citizen, due_date="2020-01-01"),
                             headers=commune_officer), 422, "payment.due_date_past")


def test_a_citizen_sees_only_their_own_orders(client, db_session, protector, fine, provider):
    other = Citizen.make(client, db_session, protector, phone="0987000111")
    assert_error(client.get(f"{PAYMENTS}/{fine['id']}", headers=other.headers), 404,
                 "payment.order_not_found")
    assert_error(other.pay(fine["id"], key="k-1"), 404, "payment.order_not_found")
    assert client.get(PAYMENTS, headers=other.headers).get_json()["total"] == 0


# --- Paying, with idempotency keys ------------------------------------------------------------

def test_the_whole_way_fine_paid_callback_receipt_verified_offline(client, db_session, citizen,
                                                                   fine, provider, issuer_key):
    answer = citizen.pay(fine["id"], key="pay-fine-1")
    assert answer.status_code == 201, answer.get_json()
    attempt = answer.get_json()
    assert (attempt["status"], attempt["amount"], attempt["bank"]) == ("pending", 800_000, "VCB")
    assert attempt["redirect_url"].startswith("https://bank.test/pay/")
    assert citizen.order(fine["id"])["status"] == "pending"
    assert provider.payments[attempt["reference"]]["callback_url"].endswith(CALLBACKS)

    settled = post_callback(client, callback_body(attempt["reference"], amount=800_000))
    assert settled.get_json()["outcome"] == "applied"
    order = citizen.order(fine["id"])
    assert order["status"] == "paid" and order["paid_at"]
    assert [h["action"] for h in order["history"]] == ["create", "start_payment", "pay"]
    assert total(db_session, metric="payments.paid") == 1

    receipt = client.get(f"{PAYMENTS}/{fine['id']}/receipt", headers=citizen.headers).get_json()
    pid = citizen.record.personal_id
    assert receipt["payer"] == pid[:4] + "******" + pid[-2:]
    assert (receipt["amount"], receipt["treasury"]) == (800_000, "treasury:fines")

    issued = client.post(f"{PAYMENTS}/{fine['id']}/receipt/credential", headers=citizen.headers,
                         json={"passcode": PASSCODE})
    assert issued.status_code == 201, issued.get_json()
    trust = TrustList.from_json(client.get("/.well-known/vnid-keys.json").get_json())
    verified = verify(issued.get_json()["qr"], trust)  # offline: the text and the keys only
    assert verified.credential_type == "receipt"
    assert verified.claims == {"oid": fine["id"], "k": "fine", "amt": 800_000, "cur": "VND",
                               "pat": verified.claims["pat"], "idm": receipt["payer"]}
    assert pid not in issued.get_json()["qr"]
    report = assert_balanced(db_session)
    assert (report.postings, report.paid_total) == (1, 800_000)


def test_no_idempotency_key_is_a_400(citizen, fine, provider):
    assert_error(citizen.pay(fine["id"]), 400, "idempotency.key_missing")
    assert_error(citizen.pay(fine["id"], key="x" * 256), 400, "idempotency.key_missing")
    assert provider.creates == 0


def test_the_same_key_and_body_give_back_the_first_answer(client, db_session, citizen, fine,
                                                          provider):
    first = citizen.pay(fine["id"], key="same-key")
    again = citizen.pay(fine["id"], key="same-key")
    assert first.status_code == again.status_code == 201
    assert again.get_json() == first.get_json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert provider.creates == 1
    assert db_session.scalar(sa.select(sa.func.count()).select_from(PaymentAttempt)) == 1


def test_the_same_key_with_another_body_is_a_422(citizen, fine, provider):
    assert citizen.pay(fine["id"], key="k").status_code == 201
    assert_error(citizen.pay(fine["id"], key="k", bank="BIDV"), 422, "idempotency.key_reused")
    assert provider.creates == 1


def test_errors_are_stored_with_the_key(client, db_session, citizen, fine, provider):
    wrong = citizen.pay(fine["id"], key="wrong-pass", passcode="135790")
    assert_error(wrong, 401, "passcode.wrong")
    again = citizen.pay(fine["id"], key="wrong-pass", passcode="135790")
    assert again.get_json() == wrong.get_json() and again.headers["Idempotent-Replayed"] == "true"
    # The second try was not counted: one failure only.
    assert citizen.record.id and db_session.scalar(
        sa.select(sa.func.count()).select_from(AuditEvent).where(
            AuditEvent.action == "passcode.wrong")) == 1
    assert citizen.pay(fine["id"], key="right-pass").status_code == 201


def test_a_refusal_before_anything_was_committed_is_stored_with_the_key(
        client, db_session, citizen, fine, provider):
    """The claim is rolled back with the refused work (nothing was committed); the key's row
    is then written with the answer, so the same key gives it back and another body is
    refused as a reuse."""
    missing = citizen.pay(fine["id"] + 1000, key="no-such-order")
    assert_error(missing, 404, "payment.order_not_found")
    again = citizen.pay(fine["id"] + 1000, key="no-such-order")
    assert again.get_json() == missing.get_json() and again.headers["Idempotent-Replayed"] == "true"
    row = db_session.execute(sa.select(IdempotencyKey.state, IdempotencyKey.response_status)
                             .where(IdempotencyKey.key == "no-such-order")).one()
    assert tuple(row) == ("done", 404)
    assert_error(citizen.pay(fine["id"] + 1000, key="no-such-order", bank="BIDV"), 422,
                 "idempotency.key_reused")
    assert provider.creates == 0


def test_a_request_while_the_first_with_its_key_runs_is_a_409(db_session, citizen, fine,
                                                              provider):
    db_session.add(IdempotencyKey(account_id=_account_id(db_session, citizen), key="busy",
                                  fingerprint=_fingerprint(citizen, fine), state="in_progress"))
    db_session.commit()
    assert_error(citizen.pay(fine["id"], key="busy"), 409, "idempotency.in_progress")
    assert provider.creates == 0


def test_a_key_held_by_a_crashed_request_is_taken_over(db_session, citizen, fine, provider):
    long_ago = clock.now() - dt.timedelta(minutes=10)
    db_session.add(IdempotencyKey(account_id=_account_id(db_session, citizen), key="crashed",
                                  fingerprint=_fingerprint(citizen, fine), state="in_progress",
                                  created_at=long_ago, locked_at=long_ago))
    db_session.commit()
    assert citizen.pay(fine["id"], key="crashed").status_code == 201


def _account_id(db_session: Any, citizen: Citizen) -> int:
    from identity.accounts.models import Account
    return int(db_session.scalar(sa.select(Account.id).where(
        Account.citizen_id == citizen.record.id)))


def _fingerprint(citizen: Citizen, fine: dict[str, Any]) -> str:
    from flask import current_app
    from utilities.payments import idempotency
    return idempotency.fingerprint(current_app.extensions["protector"], method="POST",
                                   path=f"{PAYMENTS}/{fine['id']}/attempts",
                                   body={"bank": "VCB", "passcode": PASSCODE})


def test_an_order_is_paid_once_whatever_the_keys(client, db_session, citizen, fine, provider):
    first = citizen.pay(fine["id"], key="device-a")
    assert first.status_code == 201
    assert_error(citizen.pay(fine["id"], key="device-b"), 409, "payment.attempt_pending")
    provider.payments[first.get_json()["reference"]]["status"] = "succeeded"
    post_callback(client, callback_body(first.get_json()["reference"], amount=800_000))
    assert_error(citizen.pay(fine["id"], key="device-c"), 409, "payment.order_paid")
    assert provider.creates == 1
    assert_balanced(db_session)


def test_a_failed_payment_opens_the_order_again(client, db_session, citizen, fine, provider):
    first = citizen.pay(fine["id"], key="try-1").get_json()
    answer = post_callback(client, callback_body(first["reference"], status="failed"))
    assert answer.get_json()["outcome"] == "applied"
    assert citizen.order(fine["id"])["status"] == "open"
    assert pay_and_settle(citizen, provider, fine["id"])["reference"] != first["reference"]
    assert citizen.order(fine["id"])["status"] == "paid"
    assert_balanced(db_session)


def test_a_bank_declining_at_once_fails_the_attempt(citizen, fine, provider):
    provider.decline_create = "bank_unknown"
    answer = citizen.pay(fine["id"], key="declined")
    assert answer.status_code == 201
    assert (answer.get_json()["status"], answer.get_json()["failure_code"]) == (
        "failed", "bank_unknown")
    assert citizen.order(fine["id"])["status"] == "open"


def test_a_provider_out_of_reach_leaves_the_attempt_pending_for_reconciliation(
        client, db_session, citizen, fine, provider):
    from utilities.payments import reconciliation
    provider.unavailable = True
    answer = citizen.pay(fine["id"], key="unreachable")
    assert (answer.status_code, answer.get_json()["status"]) == (201, "pending")
    assert answer.get_json()["redirect_url"] is None
    provider.unavailable = False
    report = reconciliation.reconcile(db_session=db_session, actor=Actor(type="system"),
                                      providers={"banksim": provider},
                                      older_than=dt.timedelta(0))
    assert report.still_pending == 1  # the provider never heard of it, but only just now
    with _later(minutes=5):
        reconciliation.reconcile(db_session=db_session, actor=Actor(type="system"),
                                 providers={"banksim": provider}, older_than=dt.timedelta(0))
    assert citizen.order(fine["id"])["attempts"][0]["failure_code"] == "provider.not_found"
    assert citizen.order(fine["id"])["status"] == "open"


def _later(**delta: Any) -> Any:
    import time_machine
    return time_machine.travel(clock.now() + dt.timedelta(**delta), tick=True)


def test_an_unknown_bank_is_a_422(citizen, fine, provider):
    answer = citizen.pay(fine["id"], key="bank", bank="XYZ")
    assert answer.status_code == 422 and provider.creates == 0


# --- Callbacks ---------------------------------------------------------------------------------

@pytest.fixture()
def attempt(citizen: Citizen, fine: dict[str, Any], provider: FakeProvider) -> dict[str, Any]:
    answer = citizen.pay(fine["id"], key=str(uuid.uuid4()))
    assert answer.status_code == 201
    return dict(answer.get_json())


def test_a_forged_callback_is_a_401_and_changes_nothing(client, db_session, citizen, fine,
                                                        attempt):
    body = callback_body(attempt["reference"], amount=800_000)
    assert_error(post_callback(client, body, secret="not-the-secret"), 401,
                 "payment.callback_signature")
    assert_error(client.post(CALLBACKS, data=body), 401, "payment.callback_signature")
    tampered = signed_headers(body)
    assert_error(client.post(CALLBACKS, data=body.replace(b"800000", b"800001"),
                             headers=tampered), 401, "payment.callback_signature")
    assert citizen.order(fine["id"])["status"] == "pending"
    assert db_session.scalar(sa.select(sa.func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "payment.callback_refused")) == 3


def test_a_stale_callback_is_refused(client, citizen, fine, attempt):
    body = callback_body(attempt["reference"], amount=800_000)
    old = int(clock.now().timestamp()) - 600
    assert_error(post_callback(client, body, timestamp=old), 401, "payment.callback_stale")
    future = int(clock.now().timestamp()) + 600
    assert_error(post_callback(client, body, timestamp=future), 401, "payment.callback_stale")
    assert citizen.order(fine["id"])["status"] == "pending"


def test_the_same_callback_twice_changes_nothing(client, db_session, citizen, fine, attempt):
    body = callback_body(attempt["reference"], amount=800_000, event_id="evt_1")
    assert post_callback(client, body).get_json()["outcome"] == "applied"
    assert post_callback(client, body).get_json()["outcome"] == "duplicate"
    # The same news under another event id: known already.
    other = callback_body(attempt["reference"], amount=800_000, event_id="evt_2")
    assert post_callback(client, other).get_json()["outcome"] == "unchanged"
    assert total(db_session, metric="payments.paid") == 1
    assert assert_balanced(db_session).postings == 1


def test_callbacks_out_of_order_keep_the_first_settlement(client, db_session, citizen, fine,
                                                          attempt):
    reference = attempt["reference"]
    assert post_callback(client, callback_body(reference, status="pending")).get_json()[
        "outcome"] == "unchanged"
    assert post_callback(client, callback_body(reference, amount=800_000)).get_json()[
        "outcome"] == "applied"
    late_failure = post_callback(client, callback_body(reference, status="failed"))
    assert late_failure.get_json()["outcome"] == "conflict"
    late_pending = post_callback(client, callback_body(reference, status="pending"))
    assert late_pending.get_json()["outcome"] == "unchanged"
    assert citizen.order(fine["id"])["status"] == "paid"
    assert db_session.scalar(sa.select(sa.func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "payment.report_conflict")) == 1
    assert_balanced(db_session)


def test_a_callback_for_an_unknown_attempt_is_a_404(client, db_session, attempt):
    assert_error(post_callback(client, callback_body("pa_" + "0" * 24, amount=800_000)), 404,
                 "payment.attempt_not_found")
    assert_error(client.post("/api/v1/payments/callbacks/otherbank", data=b"{}"), 404,
                 "payment.provider_unknown")
    malformed = b'{"event_id": 5}'
    assert_error(post_callback(client, malformed), 422, "payment.callback_invalid")


def test_a_callback_with_another_amount_holds_the_money_for_refund_until_paid_back(
        app, client, db_session, citizen, fine, attempt, provider):
    """The bank took 801,000 for an 800,000 order: the order is not paid, the money is held
    (suspense account) and owed back; reconciliation pays it back, then the order reopens."""
    provider.payments[attempt["reference"]].update(status="succeeded", amount=801_000)
    answer = post_callback(client, callback_body(attempt["reference"], amount=801_000))
    assert answer.get_json()["outcome"] == "flagged"
    order = citizen.order(fine["id"])
    assert order["status"] == "held_for_refund" and order["paid_at"] is None
    assert order["attempts"][0]["status"] == "flagged"
    [held] = order["held_refunds"]
    assert (held["amount"], held["status"]) == (801_000, "pending")
    flagged = db_session.scalars(sa.select(AuditEvent).where(
        AuditEvent.action == "payment.amount_mismatch")).one()
    assert (flagged.details["expected"], flagged.details["reported"],
            flagged.details["held"]) == (800_000, 801_000, 801_000)
    assert total(db_session, metric="payments.paid") == 0
    report = assert_balanced(db_session)
    assert (report.held_total, report.held_refunds_pending, report.paid_total) == (
        801_000, 1, 0)
    rows = dict(db_session.execute(sa.select(ledger.LedgerEntry.account,
                                             ledger.LedgerEntry.amount)).all())
    assert rows == {f"citizen:{citizen.record.id}": -801_000, "suspense:refunds": 801_000}
    # Paying again before the money is back would charge twice: refused.
    assert_error(citizen.pay(fine["id"], key=str(uuid.uuid4())), 409, "payment.held_for_refund")

    reconciled = _reconcile_report(app)
    assert provider.refunds == {held["reference"]: 801_000}
    assert (reconciled.refunds_completed, reconciled.held_orders, reconciled.held_owed) == (
        1, 0, 0)
    order = citizen.order(fine["id"])
    assert order["status"] == "open" and order["held_refunds"][0]["status"] == "succeeded"
    assert [h["action"] for h in order["history"]][-2:] == ["hold", "release"]
    db_session.expire_all()
    report = assert_balanced(db_session)
    assert (report.held_total, report.held_refunds_pending) == (0, 0)
    # Now the order is paid with the right amount, and the ledger still balances.
    pay_and_settle(citizen, provider, fine["id"])
    assert citizen.order(fine["id"])["status"] == "paid"
    db_session.expire_all()
    assert assert_balanced(db_session).paid_total == 800_000


def test_held_money_the_provider_will_not_pay_back_stays_in_reconciliation(
        app, client, db_session, citizen, fine, attempt, provider, monkeypatch):
    from utilities.payments.gateway import ProviderDeclined

    def decline(**_kwargs):
        raise ProviderDeclined("refund_refused")
    monkeypatch.setattr(provider, "refund", decline)
    post_callback(client, callback_body(attempt["reference"], amount=799_000))
    reconciled = _reconcile_report(app)
    assert (reconciled.held_orders, reconciled.held_owed, reconciled.held_refunds_failed) == (
        1, 799_000, 1)
    assert citizen.order(fine["id"])["status"] == "held_for_refund"
    db_session.expire_all()
    report = assert_balanced(db_session)
    assert (report.held_total, report.held_refunds_failed) == (799_000, 1)


def _reconcile_report(app: Any) -> Any:
    from app.extensions import db
    from utilities.payments import reconciliation
    with app.app_context():
        report = reconciliation.reconcile(db_session=db.session(),
                                          actor=Actor(type="system"),
                                          providers=app.extensions["payment_providers"],
                                          older_than=dt.timedelta(0))
        db.session.remove()
    return report


# --- Receipts and refunds ----------------------------------------------------------------------

def test_no_receipt_before_the_order_is_paid(client, citizen, fine):
    assert_error(client.get(f"{PAYMENTS}/{fine['id']}/receipt", headers=citizen.headers), 409,
                 "payment.not_paid")


def test_only_a_supervisor_refunds(client, db_session, protector, citizen, fine, provider,
                                   officer):
    pay_and_settle(citizen, provider, fine["id"])
    url = f"/api/v1/police/payments/{fine['id']}/refunds"
    assert_error(client.post(url, json={"reason": "Nhầm"}, headers=officer), 403,
                 "payment.supervisor_only")
    assert provider.refunds == {}


def test_a_supervisor_refunds_through_the_provider_and_the_ledger(
        client, db_session, protector, citizen, fine, provider, issuer_key):
    pay_and_settle(citizen, provider, fine["id"])
    credential = client.post(f"{PAYMENTS}/{fine['id']}/receipt/credential",
                             headers=citizen.headers, json={"passcode": PASSCODE}).get_json()
    chief = officer_headers(client, db_session, protector, username="chief.hn",
                            role="supervisor")
    url = f"/api/v1/police/payments/{fine['id']}/refunds"
    answer = client.post(url, json={"reason": "Quyết định xử phạt bị hủy"}, headers=chief)
    assert answer.status_code == 201, answer.get_json()
    assert (answer.get_json()["status"], answer.get_json()["amount"]) == ("succeeded", 800_000)
    assert list(provider.refunds.values()) == [800_000]
    order = citizen.order(fine["id"])
    assert order["status"] == "refunded" and order["refunded_at"]
    assert_error(client.post(url, json={"reason": "again"}, headers=chief), 409,
                 "payment.refund_exists")
    assert_error(client.get(f"{PAYMENTS}/{fine['id']}/receipt", headers=citizen.headers), 409,
                 "payment.order_refunded")
    assert db_session.get(Credential, credential["credential_id"]).revoked_by == "refund"
    report = assert_balanced(db_session)
    assert (report.postings, report.paid_total) == (2, 0)


def test_a_refund_of_an_unpaid_order_is_a_409(client, db_session, protector, fine):
    chief = officer_headers(client, db_session, protector, username="chief.hn",
                            role="supervisor")
    assert_error(client.post(f"/api/v1/police/payments/{fine['id']}/refunds",
                             json={"reason": "x"}, headers=chief), 409, "payment.not_paid")


def test_a_supervisor_of_another_province_does_not_see_the_order(client, db_session, protector,
                                                                 citizen, fine, provider):
    pay_and_settle(citizen, provider, fine["id"])
    far = officer_headers(client, db_session, protector, username="chief.hcm",
                          role="supervisor", province_code="79")
    assert_error(client.post(f"/api/v1/police/payments/{fine['id']}/refunds",
                             json={"reason": "x"}, headers=far), 404, "payment.order_not_found")
    assert_error(client.get(f"/api/v1/police/payments/{fine['id']}", headers=far), 404,
                 "payment.order_not_found")


# --- Fees of other services --------------------------------------------------------------------

def test_a_temporary_stay_declaration_owes_its_fee(client, db_session, protector, citizen):
    host = add_citizen(db_session, protector, phone="0987000222")
    answer = client.post("/api/v1/residence/stays", headers=citizen.headers, json={
        "commune_code": STAY_COMMUNE, "address": "Số 1, đường Lê Lợi",
        "start_date": (clock.today() + dt.timedelta(days=1)).isoformat(),
        "end_date": (clock.today() + dt.timedelta(days=200)).isoformat(),
        "reason": "Đi làm", "host_personal_id": host.personal_id})
    assert answer.status_code == 201, answer.get_json()
    orders = client.get(PAYMENTS, headers=citizen.headers).get_json()["items"]
    assert [(o["kind"], o["fee_code"], o["amount"]) for o in orders] == [
        ("fee", "temporary_stay", 7000)]
    stored = db_session.get(PaymentOrder, orders[0]["id"])
    assert (stored.source_type, stored.source_id) == ("temporary_stay", answer.get_json()["id"])


def test_the_openapi_document_describes_the_payment_routes(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    pay = paths["/api/v1/payments/{order_id}/attempts"]["post"]
    assert pay["security"] == [{"bearerAuth": []}]
    assert any(p["name"] == "Idempotency-Key" and p["in"] == "header"
               for p in pay["parameters"])
    for path in ("/api/v1/police/fines", "/api/v1/payments/callbacks/{provider_name}",
                 "/api/v1/police/payments/{order_id}/refunds"):
        assert "post" in paths[path]


def test_a_verifier_refuses_a_tampered_receipt(client, citizen, fine, provider, issuer_key):
    pay_and_settle(citizen, provider, fine["id"])
    qr = client.post(f"{PAYMENTS}/{fine['id']}/receipt/credential", headers=citizen.headers,
                     json={"passcode": PASSCODE}).get_json()["qr"]
    trust = TrustList.from_json(client.get("/.well-known/vnid-keys.json").get_json())
    with pytest.raises(VerificationError):
        verify(qr[:-3] + ("AAA" if not qr.endswith("AAA") else "BBB"), trust)


# --- Real commits, real threads, the real simulator over HTTP ---------------------------------

@pytest.fixture()
def wired(own_database_app: Any, monkeypatch: Any) -> Any:
    """The app wired to the simulator, without the per-process bound on requests in flight
    (app/load_shedding.py, a middleware with ``wsgi_app`` inside): these tests are about 50
    requests reaching the payment code at once, not about shedding them."""
    from tests.utilities.payments.live import live
    inner = getattr(own_database_app.wsgi_app, "wsgi_app", None)
    if inner is not None:
        monkeypatch.setattr(own_database_app, "wsgi_app", inner)
    made = live(own_database_app, mode="never", delay=0.3)
    yield made
    made.close()


def _ledger_of(app: Any) -> ledger.LedgerReport:
    from app.extensions import db
    with app.app_context():
        report = ledger.verify_ledger(db.session())
        db.session.remove()
    return report


def _attempts_of(app: Any) -> int:
    from app.extensions import db
    with app.app_context():
        count = int(db.session.scalar(sa.select(sa.func.count()).select_from(PaymentAttempt)))
        db.session.remove()
    return count


def _fifty(wired: Any, keys: list[str]) -> list[Any]:
    def one(key: str) -> Any:
        def call(go: Any) -> Any:
            client = wired.client()
            go()
            answer = client.post(f"{PAYMENTS}/{wired.order_id}/attempts",
                                 headers={**wired.headers, "Idempotency-Key": key},
                                 json={"bank": "VCB", "passcode": PASSCODE})
            answer.get_json()
            answer.close()  # hands its in-flight slot back (app/load_shedding.py)
            return answer
        return call

    answers = flows.at_once(*(one(key) for key in keys))
    served = [a for a in answers if a.status_code != 503]
    assert len(served) == len(keys), len(served)  # every one reached the payment code
    return answers


def _reconcile(app: Any) -> None:
    from app.extensions import db
    from utilities.payments import reconciliation
    with app.app_context():
        reconciliation.reconcile(db_session=db.session(), actor=Actor(type="system"),
                                 providers=app.extensions["payment_providers"],
                                 older_than=dt.timedelta(0))
        db.session.remove()


#: What a concurrent request may be refused with: the key or the order is busy.
BUSY = {"idempotency.in_progress", "payment.attempt_pending", "payment.order_paid"}


def _stored_answer(app: Any, key: str) -> tuple[str, int | None, Any]:
    from app.extensions import db
    with app.app_context():
        row = db.session.execute(sa.select(IdempotencyKey.state, IdempotencyKey.response_status,
                                           IdempotencyKey.response_body)
                                 .where(IdempotencyKey.key == key)).one()
        db.session.remove()
    return row.state, row.response_status, row.response_body


@pytest.mark.skipif(not (os.environ.get("DATABASE_URL") or "").startswith("postgres"),
                    reason="SQLite writes both in the session's transactions (BEGIN IMMEDIATE)")
def test_the_banks_answer_and_the_keys_answer_are_one_statement_on_its_own(wired):
    """After the bank answered, what an attempt writes (the provider's reference on the
    attempt and the answer kept with its key) is ONE statement, committed on its own: no
    BEGIN, no COMMIT, no session around it (identity.autocommit.statement_alone); the answer
    kept is the one given."""
    from app.extensions import db
    seen: list[tuple[str, bool]] = []

    def statement(conn: Any, _cursor: Any, text: str, *_args: Any) -> None:
        seen.append((" ".join(text.split()[:2]), bool(conn.connection.dbapi_connection.autocommit)))

    with wired.app.app_context():
        engine = db.engine

    def session_begins(*_args: Any) -> None:
        seen.append(("a session's transaction begins", False))

    sa.event.listen(engine, "before_cursor_execute", statement)
    sa.event.listen(Session, "after_begin", session_begins)
    try:
        answer = wired.client().post(f"{PAYMENTS}/{wired.order_id}/attempts",
                                     headers={**wired.headers, "Idempotency-Key": "alone"},
                                     json={"bank": "VCB", "passcode": PASSCODE})
    finally:
        sa.event.remove(engine, "before_cursor_execute", statement)
        sa.event.remove(Session, "after_begin", session_begins)
    assert answer.status_code == 201, answer.get_json()
    assert seen[-1] == ("WITH answered", True), seen
    assert ("UPDATE idempotency_keys", True) not in seen
    assert seen[-2][0] != "UPDATE payment_attempts"
    assert _stored_answer(wired.app, "alone") == ("done", 201, answer.get_json())
    again = wired.client().post(f"{PAYMENTS}/{wired.order_id}/attempts",
                                headers={**wired.headers, "Idempotency-Key": "alone"},
                                json={"bank": "VCB", "passcode": PASSCODE})
    assert (again.status_code, again.get_json()) == (201, answer.get_json())  # kept, committed
    assert again.headers["Idempotent-Replayed"] == "true"


@pytest.mark.parametrize("reported, names_its_reference", [
    ("succeeded", True), ("succeeded", False), ("pending", True)])
def test_a_callback_before_the_banks_answer_leaves_what_the_answer_and_the_key_show(
        wired, monkeypatch, caplog, reported, names_its_reference):
    """The bank's callback can come before its answer to the payment is recorded: the answer
    (given, and kept with the key) is then the attempt as the callback left it, with the bank's
    redirect URL stored all the same (the app opens it while the attempt is pending), on both
    databases. On PostgreSQL the one-statement way writes nothing once the attempt moved and
    steps aside; a callback that only named the bank's reference ("pending") leaves it be."""
    import urllib3

    from tests.utilities.payments.live import SIM_SECRET
    real = wired.app.extensions["payment_providers"]["banksim"]

    class CallsBackFirst:
        name = real.name

        def create_payment(self, **kwargs: Any) -> Any:
            made = real.create_payment(**kwargs)
            body = callback_body(kwargs["reference"], amount=kwargs["amount"], status=reported,
                                 provider_reference=made.provider_reference)
            if not names_its_reference:
                body = callback_body(kwargs["reference"], amount=kwargs["amount"])
                body = body.replace(b'"provider_reference": "FAKE0001", ', b"")
            settled = urllib3.request("POST", f"{wired.url}{CALLBACKS}", body=body,
                                      headers=signed_headers(body, secret=SIM_SECRET))
            assert settled.status == 200, settled.data  # over HTTP, before we go on
            return made

        def __getattr__(self, name: str) -> Any:
            return getattr(real, name)

    monkeypatch.setitem(wired.app.extensions["payment_providers"], "banksim", CallsBackFirst())
    answer = wired.client().post(f"{PAYMENTS}/{wired.order_id}/attempts",
                                 headers={**wired.headers, "Idempotency-Key": "settled-first"},
                                 json={"bank": "VCB", "passcode": PASSCODE})
    body = answer.get_json()
    assert answer.status_code == 201, body
    assert body["status"] == reported and bool(body["completed_at"]) is (reported != "pending")
    assert body["redirect_url"] and "/pay/SIM" in body["redirect_url"]
    assert _stored_answer(wired.app, "settled-first") == ("done", 201, body)
    assert not [r for r in caplog.records if "differs" in r.getMessage()]
    assert wired.order()["status"] == ("paid" if reported == "succeeded" else "pending")
    again = wired.client().post(f"{PAYMENTS}/{wired.order_id}/attempts",
                                headers={**wired.headers, "Idempotency-Key": "settled-first"},
                                json={"bank": "VCB", "passcode": PASSCODE})
    assert (again.status_code, again.get_json()) == (201, body)


@pytest.mark.skipif(not (os.environ.get("DATABASE_URL") or "").startswith("postgres"),
                    reason="the one-statement answer is PostgreSQL's; SQLite stores it after")
def test_an_answer_kept_other_than_the_attempt_is_corrected_and_logged(
        wired, monkeypatch, caplog):
    """Should the attempt the statement wrote differ from the one the answer was made from
    (a column the prediction did not foresee), the key ends up keeping the answer given,
    made from the attempt as written, and it is logged: a replay never gives another answer
    than the first."""
    from utilities.payments import attempts
    real = attempts._ANSWERS

    class WrittenOtherwise:
        def first(self, *args: Any, **kwargs: Any) -> Any:
            row = real.first(*args, **kwargs)
            return row._replace(bank="BIDV")  # as if the database had written another bank

    monkeypatch.setattr(attempts, "_ANSWERS", WrittenOtherwise())
    given = wired.client().post(f"{PAYMENTS}/{wired.order_id}/attempts",
                                headers={**wired.headers, "Idempotency-Key": "foreseen"},
                                json={"bank": "VCB", "passcode": PASSCODE})
    body = given.get_json()
    assert given.status_code == 201 and body["bank"] == "BIDV", body
    assert _stored_answer(wired.app, "foreseen") == ("done", 201, body)
    assert [r for r in caplog.records if "differs" in r.getMessage()]


def test_fifty_concurrent_requests_with_one_key_charge_once(wired):
    answers = _fifty(wired, ["one-key"] * 50)
    created = [a.get_json() for a in answers if a.status_code == 201]
    assert created and all(body == created[0] for body in created)
    refused = {a.get_json()["code"] for a in answers if a.status_code != 201}
    assert refused <= BUSY - {"payment.attempt_pending", "payment.order_paid"}, refused
    wired.wait_for(lambda: wired.simulator.stats()["charges"] == 1)
    _reconcile(wired.app)
    assert wired.order()["status"] == "paid"
    assert wired.simulator.stats()["payments"] == 1 and wired.simulator.stats()["charges"] == 1
    assert _attempts_of(wired.app) == 1
    report = _ledger_of(wired.app)
    assert report.balanced and (report.postings, report.paid_total) == (1, 800_000)


def test_fifty_concurrent_requests_with_fifty_keys_charge_once(wired):
    answers = _fifty(wired, [f"key-{n}" for n in range(50)])
    created = [a for a in answers if a.status_code == 201]
    assert len(created) == 1, [a.get_json() for a in answers if a.status_code != 409]
    refused = {a.get_json()["code"] for a in answers if a.status_code != 201}
    assert refused <= BUSY - {"idempotency.in_progress"}, refused
    wired.wait_for(lambda: wired.simulator.stats()["charges"] == 1)
    _reconcile(wired.app)
    assert wired.order()["status"] == "paid"
    assert wired.simulator.stats()["payments"] == 1 and wired.simulator.stats()["charges"] == 1
    assert _attempts_of(wired.app) == 1
    assert _ledger_of(wired.app).balanced


def test_callbacks_of_one_payment_at_once_pay_it_once(wired):
    """Ten deliveries of one event and ten other events saying the same, all at once: one is
    applied, the event is recorded once, one posting, one counter, one audit event."""
    from app.extensions import db
    from tests.utilities.payments.live import SIM_SECRET
    from utilities.payments.models import ProviderCallback
    started = wired.client().post(f"{PAYMENTS}/{wired.order_id}/attempts",
                                  headers={**wired.headers, "Idempotency-Key": "callbacks"},
                                  json={"bank": "VCB", "passcode": PASSCODE})
    assert started.status_code == 201, started.get_json()
    reference = started.get_json()["reference"]
    bodies = [callback_body(reference, amount=800_000, event_id="evt_same")] * 10 + [
        callback_body(reference, amount=800_000, event_id=f"evt_{n}") for n in range(10)]

    def deliver(body: bytes) -> Any:
        def call(go: Any) -> Any:
            client = wired.client()
            go()
            answer = client.post(CALLBACKS, data=body, headers=signed_headers(body,
                                                                              secret=SIM_SECRET))
            outcome = (answer.status_code, answer.get_json()["outcome"])
            answer.close()
            return outcome
        return call

    outcomes = flows.at_once(*(deliver(body) for body in bodies))
    assert [outcome for _, outcome in outcomes].count("applied") == 1, outcomes
    assert {status for status, _ in outcomes} == {200}, outcomes
    assert {outcome for _, outcome in outcomes} <= {"applied", "duplicate", "unchanged"}
    assert wired.order()["status"] == "paid"
    with wired.app.app_context():
        session = db.session()
        assert session.scalar(sa.select(sa.func.count()).select_from(ProviderCallback)) == 11
        assert session.scalar(sa.select(sa.func.count()).select_from(AuditEvent).where(
            AuditEvent.action == "payment.paid")) == 1
        assert total(session, metric="payments.paid") == 1
        db.session.remove()
    report = _ledger_of(wired.app)
    assert report.balanced and (report.postings, report.paid_total) == (1, 800_000)


def test_the_simulator_calls_back_over_http_and_the_order_is_paid(own_database_app):
    from tests.utilities.payments.live import live
    made = live(own_database_app, mode="succeed", delay=0.1)
    try:
        answer = made.client().post(f"{PAYMENTS}/{made.order_id}/attempts",
                                    headers={**made.headers, "Idempotency-Key": "http-1"},
                                    json={"bank": "TCB", "passcode": PASSCODE})
        assert answer.status_code == 201, answer.get_json()
        assert "/pay/SIM" in answer.get_json()["redirect_url"]
        made.wait_for(lambda: made.order()["status"] == "paid")
        made.wait_for(lambda: made.simulator.stats()["callbacks_sent"] == 1)
        assert _ledger_of(made.app).balanced
    finally:
        made.close()


@pytest.mark.parametrize("mode,expected", [("twice", "paid"), ("fail", "open"),
                                           ("mismatch", "held_for_refund")])
def test_the_simulator_modes_end_as_they_should(own_database_app, mode, expected):
    from tests.utilities.payments.live import live
    made = live(own_database_app, mode=mode, delay=0.1)
    try:
        answer = made.client().post(f"{PAYMENTS}/{made.order_id}/attempts",
                                    headers={**made.headers, "Idempotency-Key": "m-1"},
                                    json={"bank": "VCB", "passcode": PASSCODE})
        assert answer.status_code == 201
        sent = 2 if mode == "twice" else 1
        made.wait_for(lambda: made.simulator.stats()["callbacks_sent"] == sent)
        made.wait_for(lambda: made.order()["attempts"][0]["status"] != "pending")
        order = made.order()
        assert order["status"] == expected, order
        report = _ledger_of(made.app)
        assert report.balanced and report.postings == (0 if expected == "open" else 1)
    finally:
        made.close()


def test_the_simulator_s_wrong_amount_is_paid_back_end_to_end(own_database_app):
    """The gateway simulator charges another amount: the money is held (ledger, order state),
    reconciliation asks the simulator for the refund and shows it; the order reopens."""
    from tests.utilities.payments.live import live
    made = live(own_database_app, mode="mismatch", delay=0.1)
    try:
        answer = made.client().post(f"{PAYMENTS}/{made.order_id}/attempts",
                                    headers={**made.headers, "Idempotency-Key": "mm-1"},
                                    json={"bank": "VCB", "passcode": PASSCODE})
        assert answer.status_code == 201
        made.wait_for(lambda: made.order()["status"] == "held_for_refund")
        charged = made.order()["held_refunds"][0]["amount"]
        held = _ledger_of(made.app)
        assert held.balanced and held.held_total == charged and held.held_refunds_pending == 1
        report = _reconcile_report(made.app)
        assert (report.refunds_completed, report.held_orders, report.held_owed) == (1, 0, 0)
        assert made.simulator.stats()["refunds"] == 1
        order = made.order()
        assert order["status"] == "open" and order["held_refunds"][0]["status"] == "succeeded"
        after = _ledger_of(made.app)
        assert after.balanced and after.held_total == 0
    finally:
        made.close()


def test_production_pays_through_no_gateway_with_the_development_secret():
    from app import create_app
    from app.payment_providers import DEV_GATEWAY_SECRET, build_providers
    app = create_app("testing")
    app.config.update(ENV_NAME="production", PAYMENT_GATEWAY_SECRET=DEV_GATEWAY_SECRET)
    assert build_providers(app) == {}
    app.config["PAYMENT_GATEWAY_SECRET"] = "s" * 40
    assert list(build_providers(app)) == ["banksim"]
    for name in ("PAYMENT_GATEWAY_URL", "PAYMENT_CALLBACK_BASE_URL"):  # a placeholder left in
        with patch.dict(app.config, {name: "CHANGE_ME"}):
            assert build_providers(app) == {}


def test_without_a_gateway_paying_is_a_503_and_the_key_is_released(app, monkeypatch, citizen,
                                                                   fine):
    monkeypatch.setitem(app.extensions, "payment_providers", {})
    assert_error(citizen.pay(fine["id"], key="later"), 503, "payment.unconfigured")
    monkeypatch.setitem(app.extensions, "payment_providers", {"banksim": FakeProvider()})
    assert citizen.pay(fine["id"], key="later").status_code == 201


def test_the_reconcile_job_is_scheduled_and_settles_a_stuck_attempt(app, client, db_session,
                                                                    citizen, fine, provider):
    from app.jobs import _PERIODIC, perform
    assert _PERIODIC["payments.reconcile"].interval == 300
    attempt = citizen.pay(fine["id"], key="stuck").get_json()
    provider.payments[attempt["reference"]]["status"] = "succeeded"  # the callback never came
    app.config["PAYMENT_RECONCILE_AFTER_SECONDS"] = 0
    try:
        perform("payments.reconcile", {})
    finally:
        app.config["PAYMENT_RECONCILE_AFTER_SECONDS"] = 60
    assert citizen.order(fine["id"])["status"] == "paid"
    perform("payments.purge_idempotency_keys", {})
    assert_balanced(db_session)


def test_the_reference_mobile_client_pays_and_shows_a_receipt_that_verifies(
        own_database_app, tmp_path, capsys):
    import importlib.util
    import sys
    from pathlib import Path

    from app.extensions import db, get_protector
    from tests.flows import PASSWORD
    from tests.utilities.payments.live import live
    spec = importlib.util.spec_from_file_location(
        "mobile_client", Path(__file__).resolve().parents[2] / "examples" / "mobile_client.py")
    assert spec is not None and spec.loader is not None
    client_module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = client_module
    spec.loader.exec_module(client_module)

    made = live(own_database_app, mode="succeed", delay=0.1)
    try:
        with own_database_app.app_context():
            payer = add_citizen(db.session(), get_protector(), phone="0987000333")
            db.session.commit()
            pid, name, born = payer.personal_id, payer.full_name, payer.date_of_birth.isoformat()
        base = ["--server", made.url, "--home", str(tmp_path)]
        assert client_module.main(base + [
            "register", "--personal-id", pid, "--full-name", name, "--date-of-birth", born,
            "--phone", "0987000333", "--password", PASSWORD, "--passcode", PASSCODE]) == 0
        assert client_module.main(base + ["login", "--personal-id", pid,
                                          "--password", PASSWORD]) == 0
        fine = made.client().post(FINES, headers=made.officer_headers, json={
            "personal_id": pid, "full_name": name, "date_of_birth": born,
            "amount": 250_000, "legal_basis": "NĐ 168/2024",
            "due_date": (clock.today() + dt.timedelta(days=5)).isoformat()}).get_json()
        capsys.readouterr()
        assert client_module.main(base + ["payments", "--status", "open"]) == 0
        assert '"amount": 250000' in capsys.readouterr().out
        assert client_module.main(base + ["pay", str(fine["id"]), "--bank", "BIDV",
                                          "--passcode", PASSCODE, "--wait", "10"]) == 0
        assert f"order {fine['id']}: paid" in capsys.readouterr().err
        assert not (tmp_path / "payment-keys.json").exists() or \
            str(fine["id"]) not in (tmp_path / "payment-keys.json").read_text()
        assert client_module.main(base + ["receipt", str(fine["id"]),
                                          "--passcode", PASSCODE]) == 0
        qr = capsys.readouterr().out.strip().splitlines()[-1]
        trust = TrustList.from_json(made.client().get("/.well-known/vnid-keys.json").get_json())
        claims = verify(qr, trust).claims
        assert (claims["oid"], claims["amt"], claims["idm"]) == (
            fine["id"], 250_000, pid[:4] + "******" + pid[-2:])
    finally:
        made.close()


def test_a_late_callback_after_reconciliation_changes_nothing(own_database_app):
    from app.extensions import db
    from tests.utilities.payments.live import live
    from utilities.payments.models import ProviderCallback
    made = live(own_database_app, mode="late", late_delay=1.5)
    try:
        answer = made.client().post(f"{PAYMENTS}/{made.order_id}/attempts",
                                    headers={**made.headers, "Idempotency-Key": "late-1"},
                                    json={"bank": "ACB", "passcode": PASSCODE})
        assert answer.status_code == 201
        made.wait_for(lambda: made.simulator.stats()["charges"] == 1)
        _reconcile(made.app)  # before the callback comes
        assert made.order()["status"] == "paid"
        made.wait_for(lambda: made.simulator.stats()["callbacks_sent"] == 1)
        with own_database_app.app_context():
            outcomes = list(db.session.scalars(sa.select(ProviderCallback.outcome)))
            db.session.remove()
        assert outcomes == ["unchanged"]
        report = _ledger_of(made.app)
        assert report.balanced and report.postings == 1
    finally:
        made.close()


def test_verify_ledger_fails_on_a_tampered_journal(app, db_session, citizen, fine, provider):
    from utilities.payments.models import LedgerEntry
    pay_and_settle(citizen, provider, fine["id"])
    runner = app.test_cli_runner()
    fine_answer = runner.invoke(args=["payments", "verify-ledger"])
    assert fine_answer.exit_code == 0 and "ledger balanced" in fine_answer.output
    db_session.execute(sa.update(LedgerEntry).where(LedgerEntry.account == "treasury:fines")
                       .values(amount=700_000))
    db_session.commit()
    broken = runner.invoke(args=["payments", "verify-ledger"])
    assert broken.exit_code == 1 and "ledger.unbalanced" in broken.output


def test_reconcile_and_verify_ledger_show_the_money_held_for_refund(
        app, client, db_session, citizen, fine, attempt, provider):
    """The CLI's reconciliation and ledger proof say what is held and owed back."""
    provider.unavailable = True  # the refund cannot be paid back yet
    post_callback(client, callback_body(attempt["reference"], amount=801_000))
    runner = app.test_cli_runner()

    def run(*args: str) -> tuple[int, str]:
        result = runner.invoke(args=["payments", *args])
        return result.exit_code, " ".join(result.output.split())  # the console wraps lines
    code, proof = run("verify-ledger")
    assert code == 0, proof
    assert "held for refund (suspense:refunds): 801,000 đồng" in proof
    assert "held refunds pending 1" in proof
    _code, reconciled = run("reconcile", "--older-than", "0")
    assert "held for refund: 1 orders, 801,000 đồng owed back" in reconciled
    provider.unavailable = False
    _code, reconciled = run("reconcile", "--older-than", "0")
    assert "refunds completed 1" in reconciled
    assert "held for refund: 0 orders, 0 đồng owed back" in reconciled
    # A held posting whose refund row went missing is a problem of the proof.
    from utilities.payments.models import Refund
    db_session.execute(sa.delete(Refund))
    db_session.commit()
    code, broken = run("verify-ledger")
    assert code == 1 and "money held with no refund owed" in broken
