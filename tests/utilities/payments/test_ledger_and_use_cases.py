"""The ledger's proof, the fee schedule, and the use cases' rules below the HTTP API."""
from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import sqlalchemy as sa

from identity.audit.service import Actor
from tests.factories import OrderFactory, add_account
from tests.utilities.residence.helpers import officer
from tests.utilities.payments.fakes import FakeProvider
from utilities.payments import ledger, orders, receipts, reconciliation, refunds, settlement
from utilities.payments.errors import AttemptNotFound, OrderNotFound
from utilities.payments.flow import ORDER_FLOW
from utilities.payments.gateway import ProviderStatus
from utilities.payments.models import LedgerEntry, PaymentAttempt, PaymentOrder

ACTOR = Actor(type="system", id="test")


def test_the_fee_schedule_holds_integer_amounts_of_dong():
    fees = orders.fee_schedule()
    assert {"temporary_stay", "temporary_stay_renewal", "id_card_renewal"} <= set(fees)
    assert all(isinstance(f.amount, int) and f.amount > 0 and f.legal_basis
               for f in fees.values())


def test_a_personal_id_is_masked_on_receipts():
    assert receipts.mask_personal_id("001234567889") == "0012******89"


def test_an_unbalanced_posting_is_refused():
    with pytest.raises(ValueError):
        ledger.post(None, posting="x", order_id=1,  # type: ignore[arg-type]
                    lines=[("citizen:1", -5), ("treasury:fees", 4)])


@pytest.fixture()
def account(db_session: Any, protector: Any) -> Any:
    return add_account(db_session, protector)


@pytest.fixture()
def order(db_session: Any, protector: Any, account: Any) -> PaymentOrder:
    made = OrderFactory(db_session=db_session, protector=protector, citizen=account.citizen,
                        fee_code="id_card_renewal", source_type="test", source_id=1)
    db_session.commit()
    return made


def test_a_fee_order_is_made_once_per_source(db_session, order):
    again = orders.create_fee_order(db_session=db_session, actor=ACTOR,
                                    citizen_id=order.citizen_id, fee_code="id_card_renewal",
                                    province_code="01", commune_code="00070",
                                    source_type="test", source_id=1)
    assert again.id == order.id and (order.amount, order.kind) == (50_000, "fee")
    with pytest.raises(ValueError):
        orders.create_fee_order(db_session=db_session, actor=ACTOR, citizen_id=order.citizen_id,
                                fee_code="no_such_fee", province_code="01", commune_code=None,
                                source_type="test", source_id=2)


def test_the_ledger_proof_finds_what_was_tampered_with(db_session, order):
    assert ledger.verify_ledger(db_session).balanced
    # A paid order without its posting, then a posting that does not balance.
    db_session.execute(sa.update(PaymentOrder).where(PaymentOrder.id == order.id)
                       .values(status="paid"))
    report = ledger.verify_ledger(db_session)
    assert not report.balanced and f"order {order.id} (paid)" in report.problems[0]
    db_session.add(LedgerEntry(posting="payment:forged", order_id=order.id, account="citizen:1",
                               amount=-50_000))
    db_session.flush()
    problems = " ".join(ledger.verify_ledger(db_session).problems)
    assert "the journal sums to -50000" in problems and "payment:forged sums to" in problems


def test_settling_an_unknown_attempt_raises(db_session):
    with pytest.raises(AttemptNotFound):
        settlement.settle_attempt(db_session=db_session, actor=ACTOR, reference="pa_nope",
                                  status="succeeded", amount=1, source="test")


def _pending(db_session: Any, account: Any, order: PaymentOrder, reference: str) -> None:
    db_session.add(PaymentAttempt(reference=reference, order_id=order.id, account_id=account.id,
                                  provider="banksim", bank="VCB", amount=order.amount,
                                  status="pending"))
    ORDER_FLOW.apply(db_session, order, "start_payment", role="citizen", by="test")
    db_session.commit()


def test_reconciliation_settles_from_the_provider_and_is_idempotent(db_session, account, order):
    _pending(db_session, account, order, "pa_rec")
    provider = FakeProvider()
    provider.status_override["pa_rec"] = ProviderStatus(status="succeeded", amount=order.amount,
                                                        provider_reference="SIM9")
    report = reconciliation.reconcile(db_session=db_session, actor=ACTOR,
                                      providers={"banksim": provider},
                                      older_than=dt.timedelta(0))
    assert (report.checked, report.settled, report.outcomes) == (1, 1, {"applied": 1})
    db_session.refresh(order)
    assert order.status == "paid" and ledger.verify_ledger(db_session).balanced
    again = reconciliation.reconcile(db_session=db_session, actor=ACTOR,
                                     providers={"banksim": provider}, older_than=dt.timedelta(0))
    assert again.checked == 0
    assert ledger.verify_ledger(db_session).postings == 1


def test_an_order_of_someone_else_is_not_found(db_session, protector, order):
    other = add_account(db_session, protector)
    with pytest.raises(OrderNotFound):
        orders.get_own_order(db_session=db_session, account=other, order_id=order.id)


def test_a_refund_the_provider_could_not_take_is_completed_by_reconciliation(
        db_session, protector, account, order):
    _pending(db_session, account, order, "pa_ref")
    provider = FakeProvider()
    provider.status_override["pa_ref"] = ProviderStatus(status="succeeded", amount=order.amount)
    reconciliation.reconcile(db_session=db_session, actor=ACTOR, providers={"banksim": provider},
                             older_than=dt.timedelta(0))
    chief = officer(db_session, protector, username="chief.ref", commune_code=None,
                    role="supervisor")
    provider.unavailable = True
    refund = refunds.refund_order(db_session=db_session, actor=ACTOR, officer=chief,
                                  providers={"banksim": provider}, order_id=order.id,
                                  reason="Thu nhầm")
    assert refund.status == "pending" and ledger.verify_ledger(db_session).balanced
    provider.unavailable = False
    report = reconciliation.reconcile(db_session=db_session, actor=ACTOR,
                                      providers={"banksim": provider},
                                      older_than=dt.timedelta(0))
    assert report.refunds_completed == 1
    db_session.refresh(order)
    assert order.status == "refunded" and provider.refunds == {refund.reference: order.amount}
    proof = ledger.verify_ledger(db_session)
    assert proof.balanced and (proof.postings, proof.paid_total) == (2, 0)
