"""The order's workflow and the steps every use case of payments shares.

:data:`ORDER_FLOW` is the state machine of :class:`~utilities.payments.models.PaymentOrder`;
the functions below lock an order or an attempt, audit, notify the citizen and
make references. None of them commits: they are steps inside the transaction
of a use case (:mod:`~utilities.payments.orders`, :mod:`~utilities.payments.attempts`,
:mod:`~utilities.payments.callbacks`, :mod:`~utilities.payments.reconciliation`,
:mod:`~utilities.payments.refunds`, :mod:`~utilities.payments.receipts`), which commits once.
"""
from __future__ import annotations

import datetime as dt
import json
import secrets
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from identity.accounts.account import get_account_of
from identity.accounts.notifications import notify
from identity.audit.service import Actor, record_event
from utilities.payments.models import PaymentAttempt, PaymentOrder
from utilities.workflow import Transition, Workflow

#: The states of an order: open → pending → paid → refunded (pending → open when it fails;
#: pending → held_for_refund → open when the provider charged another amount, until that money
#: is paid back).
ORDER_FLOW = Workflow("payment_order", initial="open", transitions=[
    ("start_payment", ["open"], "pending", ["citizen"]),
    ("pay", ["pending"], "paid", ["provider"]),
    ("fail", ["pending"], "open", ["provider"]),
    ("hold", ["pending"], "held_for_refund", ["provider"]),
    ("release", ["held_for_refund"], "open", ["provider"]),
    ("refund", ["paid"], "refunded", ["supervisor", "provider"]),
])
HELD = "held_for_refund"


def new_reference(prefix: str) -> str:
    """A random reference that the provider sees: ``pa_``/``rf_`` and 24 hex digits."""
    return f"{prefix}_{secrets.token_hex(12)}"


def audit(db_session: Session, actor: Actor, action: str, citizen_id: int | None,
          **details: Any) -> None:
    """Record ``action`` in the caller's transaction, about the citizen when there is one."""
    if citizen_id is None:
        record_event(db_session=db_session, actor=actor, action=action, details=details)
    else:
        record_event(db_session=db_session, actor=actor, action=action, subject_type="citizen",
                     subject_id=citizen_id, details=details)


def notify_citizen(db_session: Session, citizen_id: int, kind: str, text: str) -> None:
    """A notification in the app of the citizen's account (none without an account)."""
    account = get_account_of(db_session=db_session, citizen_id=citizen_id)
    if account is not None:
        notify(db_session=db_session, account_id=account.id, kind=kind, text=text)


def lock_order(db_session: Session, order_id: int,
               citizen_id: int | None = None) -> PaymentOrder | None:
    """The order's row, locked until the commit, read fresh (not from the identity map).

    With ``citizen_id``, only an order of that citizen (another's is None, and
    is not locked either).
    """
    where = [PaymentOrder.id == order_id]
    if citizen_id is not None:
        where.append(PaymentOrder.citizen_id == citizen_id)
    return db_session.scalars(
        sa.select(PaymentOrder).where(*where).with_for_update(of=PaymentOrder)
        .execution_options(populate_existing=True)).first()


def lock_attempt(db_session: Session, reference: str) -> PaymentAttempt | None:
    """The attempt of our ``reference``, locked until the commit, read fresh."""
    return db_session.scalars(
        sa.select(PaymentAttempt).where(PaymentAttempt.reference == reference)
        .with_for_update().execution_options(populate_existing=True)).first()


def move_order_sql(*, also_set: str = "", condition: str = "") -> str:
    """Two CTEs of a PostgreSQL statement that moves an order and writes its history row (what
    ``ORDER_FLOW.apply`` does through the ORM): ``moved`` (the order's id, when its version was
    the one read) and ``event``. ``also_set``/``condition``: more of the ``UPDATE``'s ``SET``
    and ``WHERE``. Its parameters: :func:`move_order_params`."""
    return f"""moved AS (
    UPDATE payment_orders SET status = :to_state, version = version + 1{also_set}
    WHERE id = :order_id AND version = :version{condition}
    RETURNING id),
event AS (
    INSERT INTO workflow_events (workflow, case_id, action, from_state, to_state, role, by,
                                 note, details, occurred_at)
    SELECT :workflow, moved.id, :action, :from_state, :to_state, :role, :by, NULL,
           CAST(:details AS json), :now
    FROM moved)"""


def move_order_params(transition: Transition, *, order_id: int, version: int, from_state: str,
                      role: str, by: str, now: dt.datetime, **details: Any) -> dict[str, Any]:
    """The parameters of :func:`move_order_sql`: ``transition`` (checked by
    ``ORDER_FLOW.check``) of the order read at ``version`` in ``from_state``."""
    return {"order_id": order_id, "version": version, "workflow": ORDER_FLOW.name,
            "action": transition.action, "from_state": from_state,
            "to_state": transition.target, "role": role, "by": by, "now": now,
            "details": json.dumps(details)}
