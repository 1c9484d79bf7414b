"""Fixtures of the relying parties' unit tests: a party, a citizen's account, the signing keys.

The use cases are called as functions (no HTTP); their commits release the
test's savepoints (``tests/conftest.py``).
"""
from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from identity.audit.models import AuditEvent
from identity.audit.service import Actor
from identity.credentials.keys import KeyRing
from identity.relying_parties import consents
from identity.relying_parties.models import ConsentRequest, RelyingParty
from tests.factories import RelyingPartyFactory, add_active_account
from tests.flows import PASSCODE

OPERATOR = Actor(type="operator", id="test")
#: The request's actor as a route passes it; the use cases rename it after the party.
REQUEST = Actor(type="anonymous", id=None, source="203.0.113.7", request_id="req-1")
ALL_SCOPES = ("identity.match", "identity.consent", "credentials.verify", "sim.verify")


def new_party(db_session: Any, protector: Any, name: str = "Ngân hàng Đơn vị",
              **options: Any) -> tuple[RelyingParty, str]:
    """A registered party (with every scope of the unit tests unless told) and its secret."""
    options.setdefault("scopes", ALL_SCOPES)
    party = RelyingPartyFactory(db_session=db_session, protector=protector, name=name, **options)
    return party, party.test_secret


def events(db_session: Any, action: str) -> list[AuditEvent]:
    """The audit events of one action, oldest first."""
    return list(db_session.scalars(sa.select(AuditEvent).where(AuditEvent.action == action)
                                   .order_by(AuditEvent.id)))


def ask(db_session: Any, party: RelyingParty, personal_id: str,
        attributes: tuple[str, ...] = ("full_name",), lifetime: int = 600) -> ConsentRequest:
    """A consent request of the party, without callback."""
    return consents.create_consent_request(
        db_session=db_session, actor=REQUEST, party=party, personal_id=personal_id,
        attributes=list(attributes), purpose="Mở tài khoản thanh toán", callback=False,
        lifetime=lifetime)


def decide(db_session: Any, account: Any, request: ConsentRequest, approve: bool,
           passcode: str = PASSCODE) -> ConsentRequest:
    """The citizen's decision on a request."""
    return consents.decide(db_session=db_session, actor=Actor(type="citizen", id="c"),
                           account=account, consent_id=request.id, approve=approve,
                           passcode=passcode)


@pytest.fixture()
def party(db_session, protector) -> RelyingParty:
    """A bank with every scope of the unit tests."""
    return new_party(db_session, protector)[0]


@pytest.fixture()
def account(db_session, protector) -> Any:
    """A registry citizen's active account (passcode ``flows.PASSCODE``)."""
    return add_active_account(db_session, protector)


@pytest.fixture()
def key_ring(issuer_key) -> KeyRing:
    """The signing keys of consent credentials, and the ring that loads them."""
    return KeyRing("VN")
