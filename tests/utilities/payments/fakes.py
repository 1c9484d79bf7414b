"""Test doubles and helpers of payments: a provider in memory, signed callbacks, a citizen."""
from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from flask.testing import FlaskClient

from utilities.payments import gateway
from utilities.payments.gateway import (ProviderDeclined, ProviderPayment, ProviderRefund,
                                        ProviderStatus, ProviderUnavailable)

SECRET = "test-gateway-secret"
CALLBACKS = "/api/v1/payments/callbacks/banksim"


@dataclass
class FakeProvider:
    """A provider in memory: records every call; switches make it decline or be unreachable."""

    name: str = "banksim"
    secret: str = SECRET
    payments: dict[str, dict[str, Any]] = field(default_factory=dict)
    refunds: dict[str, int] = field(default_factory=dict)
    creates: int = 0
    decline_create: str | None = None
    unavailable: bool = False
    status_override: dict[str, ProviderStatus] = field(default_factory=dict)

    def create_payment(self, *, reference: str, amount: int, bank: str, description: str,
                       return_url: str, callback_url: str) -> ProviderPayment:
        self.creates += 1
        if self.unavailable:
            raise ProviderUnavailable("switched off")
        if self.decline_create:
            raise ProviderDeclined(self.decline_create)
        payment = self.payments.setdefault(reference, {
            "amount": amount, "bank": bank, "status": gateway.PENDING,
            "provider_reference": f"FAKE{len(self.payments) + 1:04d}",
            "callback_url": callback_url})
        reference_there = payment["provider_reference"]
        return ProviderPayment(provider_reference=reference_there,
                               redirect_url=f"https://bank.test/pay/{reference_there}")

    def get_status(self, reference: str) -> ProviderStatus:
        if self.unavailable:
            raise ProviderUnavailable("switched off")
        if reference in self.status_override:
            return self.status_override[reference]
        payment = self.payments.get(reference)
        if payment is None:
            return ProviderStatus(status=gateway.NOT_FOUND)
        return ProviderStatus(status=payment["status"], amount=payment["amount"],
                              provider_reference=payment["provider_reference"])

    def refund(self, *, payment_reference: str, refund_reference: str,
               amount: int) -> ProviderRefund:
        if self.unavailable:
            raise ProviderUnavailable("switched off")
        self.refunds.setdefault(refund_reference, amount)
        return ProviderRefund(provider_reference="RF" + refund_reference[-6:], status="succeeded")

    def verify_callback(self, *, timestamp: str | None, signature: str | None, body: bytes,
                        now: float) -> None:
        gateway.verify_signature(self.secret, timestamp=timestamp, signature=signature,
                                 text=body, now=now)

    def charges(self) -> int:
        """Payments that took money (settled as succeeded by the test)."""
        return sum(1 for p in self.payments.values() if p["status"] == gateway.SUCCEEDED)


def callback_body(reference: str, *, status: str = "succeeded", amount: int | None = None,
                  event_id: str | None = None, provider_reference: str = "FAKE0001") -> bytes:
    """A provider's callback body."""
    return json.dumps({"event_id": event_id or f"evt_{uuid.uuid4().hex[:12]}",
                       "merchant_reference": reference, "provider_reference": provider_reference,
                       "status": status, "amount": amount, "currency": "VND",
                       "occurred_at": dt.datetime.now(dt.timezone.utc).isoformat()}).encode()


def signed_headers(body: bytes, *, secret: str = SECRET,
                   timestamp: int | None = None) -> dict[str, str]:
    """``X-Timestamp`` and ``X-Signature`` of a callback body."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    return {"Content-Type": "application/json", gateway.TIMESTAMP_HEADER: stamp,
            gateway.SIGNATURE_HEADER: gateway.sign(secret, stamp, body)}


def post_callback(client: FlaskClient, body: bytes, **signing: Any) -> Any:
    """POST a signed callback to the service."""
    return client.post(CALLBACKS, data=body, headers=signed_headers(body, **signing))
