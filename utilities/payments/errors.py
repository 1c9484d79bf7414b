"""Errors of payments, each with a dotted code clients rely on."""
from __future__ import annotations

from identity.errors import (Conflict, DomainError, Forbidden, InvalidInput, NotFound,
                             Unauthenticated)


class OrderNotFound(NotFound):
    """No order with this id that the caller may see."""

    code = "payment.order_not_found"
    message = "No payment order has this id."


class OrderPaid(Conflict):
    """The order is paid already: nothing more to pay."""

    code = "payment.order_paid"
    message = "This order is already paid."


class OrderRefunded(Conflict):
    """The order was paid and refunded; it is closed."""

    code = "payment.order_refunded"
    message = "This order was refunded; it is closed."


class AttemptPending(Conflict):
    """Another attempt to pay the order is still waiting for the bank."""

    code = "payment.attempt_pending"
    message = ("Another payment of this order is waiting for the bank's answer. Check the order "
               "again in a moment.")


class CitizenNotMatched(InvalidInput):
    """No registry citizen has this personal id with this name and date of birth (the same
    answer for an unknown id and a known one with other details: no oracle)."""

    code = "payment.citizen_not_matched"
    message = ("No citizen of the registry has this personal id, full name and date of birth "
               "together; check them against the ID card.")


class ChargeHeld(Conflict):
    """The bank charged another amount than the order's: that money is being paid back."""

    code = "payment.held_for_refund"
    message = ("Your bank charged another amount than the order's. That money is held and "
               "being paid back; pay again once it is back.")


class AttemptNotFound(NotFound):
    """No attempt with this reference (callbacks of unknown attempts end here)."""

    code = "payment.attempt_not_found"
    message = "No payment attempt has this reference."


class NotPaid(Conflict):
    """A receipt or a refund of an order that is not paid."""

    code = "payment.not_paid"
    message = "This order is not paid."


class RefundExists(Conflict):
    """The order has a refund already (one full refund per order)."""

    code = "payment.refund_exists"
    message = "This order has a refund already (done, or in progress at the bank)."


class SupervisorOnly(Forbidden):
    """Refunds are for supervisors."""

    code = "payment.supervisor_only"
    message = "Only a supervisor may refund a payment."


class UnknownProvider(NotFound):
    """No payment provider with this name."""

    code = "payment.provider_unknown"
    message = "No payment provider has this name."


class BadSignature(Unauthenticated):
    """A callback whose HMAC signature does not verify."""

    code = "payment.callback_signature"
    message = "The callback's signature does not verify."


class StaleCallback(Unauthenticated):
    """A callback whose timestamp is too far from now (a replay, or a wrong clock)."""

    code = "payment.callback_stale"
    message = "The callback's timestamp is too old or in the future."


class InvalidPaymentInput(InvalidInput):
    """A field of a payment request that breaks a rule."""

    code = "payment.invalid"


class IdempotencyKeyMissing(DomainError):
    """A paying request without a well-formed ``Idempotency-Key``: 400 (a malformed request,
    not a broken rule: a plain :class:`DomainError` maps to 400 in ``app/errors.py``)."""

    code = "idempotency.key_missing"
    message = "This request needs an Idempotency-Key header (1 to 255 printable characters)."


class IdempotencyKeyReused(InvalidInput):
    """The key was used with another request (another body, path or method)."""

    code = "idempotency.key_reused"
    message = "This Idempotency-Key was used with a different request."


class IdempotencyInProgress(Conflict):
    """The first request with this key is still running."""

    code = "idempotency.in_progress"
    message = "A request with this Idempotency-Key is still running. Retry in a moment."
