"""Marshmallow schemas of payments.

Amounts are integers in đồng (``strict``: ``1.5`` or ``"7000"`` is refused,
never rounded). Personal ids travel in bodies only; a receipt shows the
payer's id masked.
"""
from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate

from identity.registry.schemas import PersonalIdField
from identity.schema_fields import BoundedDate, Page
from utilities.payments import gateway
from utilities.payments.orders import MAX_AMOUNT

_AMOUNT = fields.Integer(required=True, strict=True,
                         validate=validate.Range(min=1, max=MAX_AMOUNT),
                         metadata={"example": 800000, "description": "đồng (VND), an integer"})
_TEXT = validate.Length(max=2000)
STATUSES = ("open", "pending", "paid", "refunded", "held_for_refund")


class PaymentHistoryEntry(Schema):
    """One step of an order's history."""

    action = fields.String(metadata={"example": "pay"})
    from_state = fields.String(allow_none=True)
    to_state = fields.String()
    role = fields.String(metadata={"example": "provider"})
    by = fields.String(allow_none=True)
    occurred_at = fields.DateTime()


class AttemptRead(Schema):
    """One attempt to pay an order. Open ``redirect_url`` to confirm at the bank."""

    reference = fields.String(metadata={"example": "pa_4f1c2a9e0b7d36c5a8e1f2d3"})
    order_id = fields.Integer()
    status = fields.String(metadata={"description": "pending, succeeded, failed, flagged"})
    amount = fields.Integer()
    bank = fields.String(metadata={"example": "VCB"})
    provider = fields.String(metadata={"example": "banksim"})
    redirect_url = fields.String(allow_none=True)
    failure_code = fields.String(allow_none=True)
    created_at = fields.DateTime()
    completed_at = fields.DateTime(allow_none=True)


class OrderRead(Schema):
    """A payment order: a fee or a fine, in đồng."""

    id = fields.Integer()
    kind = fields.String(metadata={"description": "fee or fine"})
    fee_code = fields.String(allow_none=True, metadata={"example": "temporary_stay"})
    description = fields.String()
    legal_basis = fields.String()
    amount = fields.Integer(metadata={"description": "đồng (VND)"})
    currency = fields.Constant("VND")
    status = fields.String(metadata={
        "description": "open, pending, paid, refunded; held_for_refund: the bank charged another "
                       "amount, that money is being paid back (see `held_refunds`), then the "
                       "order is open again"})
    due_date = fields.Date(allow_none=True)
    province_code = fields.String()
    commune_code = fields.String(allow_none=True)
    created_at = fields.DateTime()
    paid_at = fields.DateTime(allow_none=True)
    refunded_at = fields.DateTime(allow_none=True)
    version = fields.Integer()


class HeldRefundRead(Schema):
    """Money a bank charged with another amount than the order's, owed back to the payer."""

    reference = fields.String(metadata={"example": "rf_4f1c2a9e0b7d36c5a8e1f2d3"})
    amount = fields.Integer(metadata={"description": "đồng charged, held and owed back"})
    status = fields.String(metadata={"description": "pending (being paid back), succeeded "
                                                    "(back with the payer), failed (settled "
                                                    "by the treasury by hand)"})
    created_at = fields.DateTime()
    completed_at = fields.DateTime(allow_none=True)


class OrderDetail(OrderRead):
    """An order with its attempts (newest first) and history."""

    attempts = fields.List(fields.Nested(AttemptRead))
    history = fields.List(fields.Nested(PaymentHistoryEntry))
    held_refunds = fields.List(fields.Nested(HeldRefundRead))


class OrderPage(Page):
    """A page of the citizen's orders."""

    items = fields.List(fields.Nested(OrderRead))


class OrderArgs(Schema):
    """Filter and page of the citizen's orders."""

    status = fields.String(load_default=None, validate=validate.OneOf(STATUSES))
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100_000))
    per_page = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))


class AttemptCreate(Schema):
    """Pay an order with the chosen bank, confirmed with the passcode."""

    bank = fields.String(required=True, validate=validate.OneOf(sorted(gateway.BANKS)),
                         metadata={"example": "VCB"})
    passcode = fields.String(required=True, validate=validate.Length(max=64))
    return_url = fields.String(load_default=None, validate=[
        validate.Length(max=500), validate.URL(schemes={"https", "http", "vnid"},
                                               require_tld=False)],
        metadata={"description": "Where the bank sends the app back (default: the app's "
                                 "deep link of the order)"})


class BankRead(Schema):
    """A bank the citizen can pay with."""

    code = fields.String(metadata={"example": "VCB"})
    name = fields.String(metadata={"example": "Vietcombank"})


class BankList(Schema):
    """The banks of the payment provider."""

    items = fields.List(fields.Nested(BankRead))


class ReceiptRead(Schema):
    """The receipt (biên lai) of a paid order."""

    order_id = fields.Integer()
    kind = fields.String()
    description = fields.String()
    legal_basis = fields.String()
    amount = fields.Integer()
    currency = fields.String()
    paid_at = fields.DateTime()
    payer = fields.String(metadata={"example": "0012******89",
                                    "description": "The payer's personal id, masked"})
    bank = fields.String()
    attempt_reference = fields.String()
    provider_reference = fields.String(allow_none=True)
    treasury = fields.String(metadata={"example": "treasury:fines"})


class ReceiptCredentialCreate(Schema):
    """Issue the receipt's signed QR credential, confirmed with the passcode."""

    passcode = fields.String(required=True, validate=validate.Length(max=64))


class CallbackAnswer(Schema):
    """What a provider's callback did: ``applied``, ``unchanged``, ``duplicate``, ``conflict``
    or ``flagged``."""

    outcome = fields.String()
    attempt_reference = fields.String(allow_none=True)


class FineCreate(Schema):
    """A fine issued by an officer to a citizen: personal id, full name and date of birth as on
    the ID card the officer holds (an id the registry does not know and one whose name or
    birth date differ get the same answer: 422 ``payment.citizen_not_matched``)."""

    personal_id = PersonalIdField(required=True, metadata={"example": "001090012345"})
    full_name = fields.String(required=True, validate=validate.Length(min=1, max=100),
                              metadata={"example": "Nguyễn Văn An"})
    date_of_birth = BoundedDate(required=True)
    legal_basis = fields.String(required=True, validate=_TEXT, metadata={
        "example": "Nghị định 168/2024/NĐ-CP, Điều 7 khoản 4 điểm a"})
    amount = _AMOUNT
    due_date = BoundedDate(required=True)
    description = fields.String(load_default=None, validate=_TEXT,
                                metadata={"example": "Không đội mũ bảo hiểm"})
    commune_code = fields.String(load_default=None, validate=validate.Length(max=5),
                                 metadata={"description": "Where the violation happened (a "
                                                          "commune of the jurisdiction)"})


class OfficerOrderRead(OrderDetail):
    """An order as an officer sees it."""

    issued_by_officer_id = fields.Integer(allow_none=True)


class RefundCreate(Schema):
    """A supervisor's refund of a paid order."""

    reason = fields.String(required=True, validate=_TEXT)


class RefundRead(Schema):
    """A refund."""

    reference = fields.String()
    order_id = fields.Integer()
    amount = fields.Integer()
    reason = fields.String()
    status = fields.String(metadata={"description": "pending, succeeded, failed"})
    provider_reference = fields.String(allow_none=True)
    created_at = fields.DateTime()
    completed_at = fields.DateTime(allow_none=True)


_ATTEMPT_READ = AttemptRead()  # built once: a schema's construction copies its fields


def dump_attempt(attempt: Any) -> dict[str, Any]:
    """An attempt as the API answers it (also what the idempotency key stores)."""
    return dict(_ATTEMPT_READ.dump(attempt))


def attempt_answer_fields(attempt: Any) -> list[Any]:
    """What :func:`dump_attempt` reads of an attempt: two attempts alike in these answer alike
    (compared without dumping either)."""
    return [getattr(attempt, name) for name in _ATTEMPT_READ.fields]
