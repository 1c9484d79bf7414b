"""The life of a consent request, called directly: asked, decided, expired, delivered once.

The use cases of :mod:`identity.relying_parties.consents`.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import sqlalchemy as sa
import time_machine

from identity.accounts.models import Notification
from identity.credentials import vn1
from identity.credentials.keys import KeyRing
from identity.errors import DomainError
from identity.monitoring.counters import total
from identity.relying_parties import consents
from identity.relying_parties.errors import (ConsentAlreadyFetched, ConsentClosed,
                                             ConsentNoCallback, ConsentNotFound,
                                             ConsentUnavailable)
from identity.relying_parties.models import ConsentRequest, DataShare
from tests.factories import add_active_account
from tests.identity.relying_parties.conftest import REQUEST, ask, decide, events, new_party


def _fetch(db_session: Any, redis: Any, protector: Any, key_ring: KeyRing, party: Any,
           request: ConsentRequest) -> consents.ConsentState:
    return consents.fetch(db_session=db_session, redis_client=redis, protector=protector,
                          key_ring=key_ring, actor=REQUEST, party=party, consent_id=request.id)


def _later(seconds: int) -> Any:
    """Travel ``seconds`` ahead of now."""
    return time_machine.travel(dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=seconds))


def _shares(db_session: Any) -> int:
    return int(db_session.scalar(sa.select(sa.func.count()).select_from(DataShare)))


# --- Asked ----------------------------------------------------------------------------------------

def test_a_request_is_pending_and_the_citizen_is_told_who_asks_and_why(
        db_session, party, account):
    request = ask(db_session, party, account.citizen.personal_id,
                  attributes=("household", "full_name", "full_name"))
    assert (request.status, request.citizen_id, request.account_id) == (
        "pending", account.citizen_id, account.id)
    assert request.attribute_list() == ["full_name", "household"]  # catalogue order, once
    assert request.expires_at - request.created_at == dt.timedelta(seconds=600)
    texts = list(db_session.scalars(sa.select(Notification.text)
                                    .where(Notification.account_id == account.id)))
    assert texts == [f"{party.name} asks for your data: Mở tài khoản thanh toán"]
    listed, count = consents.list_for_citizen(db_session=db_session, account=account, page=1,
                                              per_page=10)
    assert count == 1 and consents.consent_fields(listed[0])["party"] == party.name
    (event,) = events(db_session, "rp.consent_requested")
    assert event.subject_id == str(account.citizen_id) and event.details["notified"] is True


def test_a_request_for_an_unknown_id_is_made_all_the_same_and_reaches_no_one(
        db_session, party, account):
    request = ask(db_session, party, "001099000999")
    assert request.status == "pending" and request.citizen_id is None
    assert request.account_id is None
    assert db_session.scalar(sa.select(sa.func.count()).select_from(Notification)) == 0
    (event,) = events(db_session, "rp.consent_requested")
    assert event.subject_type == "relying_party" and event.details["notified"] is False


def test_a_callback_needs_a_registered_url_and_nothing_is_stored_without_one(
        db_session, party, account):
    with pytest.raises(ConsentNoCallback) as refused:
        consents.create_consent_request(
            db_session=db_session, actor=REQUEST, party=party,
            personal_id=account.citizen.personal_id, attributes=["full_name"],
            purpose="eKYC", callback=True, lifetime=600)
    assert (refused.value.code, refused.value.field) == ("consent.no_callback", "callback")
    assert db_session.scalar(sa.select(sa.func.count()).select_from(ConsentRequest)) == 0


# --- Decided --------------------------------------------------------------------------------------

def test_an_approval_is_recorded_counted_and_final(db_session, party, account):
    request = ask(db_session, party, account.citizen.personal_id)
    before = total(db_session, metric="consents.given")
    decided = decide(db_session, account, request, approve=True)
    assert decided.status == "approved" and decided.decided_at is not None
    assert total(db_session, metric="consents.given") == before + 1
    (event,) = events(db_session, "consent.approved")
    assert event.details["consent_id"] == request.id and event.details["by"] == party.name
    with pytest.raises(ConsentClosed) as closed:
        decide(db_session, account, request, approve=False)
    assert closed.value.errors == {"status": ["approved"]}


def test_a_refusal_is_final_and_the_party_gets_only_its_status(db_session, redis, protector,
                                                               key_ring, party, account):
    request = ask(db_session, party, account.citizen.personal_id)
    before = total(db_session, metric="consents.given")
    assert decide(db_session, account, request, approve=False).status == "refused"
    assert total(db_session, metric="consents.given") == before
    with pytest.raises(ConsentClosed):
        decide(db_session, account, request, approve=True)
    state = _fetch(db_session, redis, protector, key_ring, party, request)
    assert (state.status, state.credential) == ("refused", None)
    assert _shares(db_session) == 0


def test_a_wrong_passcode_decides_nothing(db_session, party, account):
    request = ask(db_session, party, account.citizen.personal_id)
    with pytest.raises(DomainError) as refused:
        decide(db_session, account, request, approve=True, passcode="000000")
    assert refused.value.code == "passcode.wrong"
    assert db_session.get(ConsentRequest, request.id).status == "pending"
    assert events(db_session, "consent.approved") == []


def test_a_citizen_decides_only_their_own_requests(db_session, protector, party, account):
    request = ask(db_session, party, account.citizen.personal_id)
    other = add_active_account(db_session, protector)
    with pytest.raises(ConsentNotFound):
        decide(db_session, other, request, approve=True)
    assert consents.list_for_citizen(db_session=db_session, account=other, page=1,
                                     per_page=10) == ([], 0)
    assert db_session.get(ConsentRequest, request.id).status == "pending"


# --- Expired --------------------------------------------------------------------------------------

def test_an_unanswered_request_expires_and_can_no_longer_be_decided(
        db_session, redis, protector, key_ring, party, account):
    request = ask(db_session, party, account.citizen.personal_id, lifetime=60)
    with _later(61):
        with pytest.raises(ConsentClosed) as closed:
            decide(db_session, account, request, approve=True)
        assert closed.value.errors == {"status": ["expired"]}
        state = _fetch(db_session, redis, protector, key_ring, party, request)
    assert (state.status, state.credential) == ("expired", None)


def test_an_approval_not_fetched_in_time_expires_undelivered(db_session, redis, protector,
                                                             key_ring, party, account):
    request = ask(db_session, party, account.citizen.personal_id, lifetime=60)
    decide(db_session, account, request, approve=True)
    with _later(61):
        state = _fetch(db_session, redis, protector, key_ring, party, request)
    assert (state.status, state.credential) == ("expired", None)
    assert _shares(db_session) == 0 and events(db_session, "rp.data_shared") == []


# --- Delivered, once ------------------------------------------------------------------------------

def test_an_approved_consent_is_delivered_once_as_a_credential_for_the_party(
        db_session, redis, protector, key_ring, party, account):
    citizen = account.citizen
    request = ask(db_session, party, citizen.personal_id,
                  attributes=("date_of_birth", "full_name"))
    assert _fetch(db_session, redis, protector, key_ring, party, request).credential is None
    decide(db_session, account, request, approve=True)
    state = _fetch(db_session, redis, protector, key_ring, party, request)
    assert state.status == "approved" and state.credential_expires_at is not None
    trust = KeyRing("VN").trust_list(db_session, reload=True)
    verified = vn1.verify(state.credential, trust, audience=f"rp:{party.client_id}")
    assert verified.credential_type == "consent"
    assert verified.claims == {"id": citizen.personal_id, "cr": request.id,
                               "nm": citizen.full_name,
                               "dob": citizen.date_of_birth.isoformat()}
    with pytest.raises(ConsentAlreadyFetched):
        _fetch(db_session, redis, protector, key_ring, party, request)
    share = db_session.scalar(sa.select(DataShare))
    assert (share.citizen_id, share.party_id, share.consent_id, share.attributes) == (
        citizen.id, party.id, request.id, "full_name date_of_birth")
    assert _shares(db_session) == 1 and len(events(db_session, "rp.data_shared")) == 1


def test_another_party_cannot_fetch_the_consent(db_session, redis, protector, key_ring, party,
                                                account):
    request = ask(db_session, party, account.citizen.personal_id)
    decide(db_session, account, request, approve=True)
    other, _secret = new_party(db_session, protector, name="Ngân hàng Khác")
    with pytest.raises(ConsentNotFound):
        _fetch(db_session, redis, protector, key_ring, other, request)
    assert _fetch(db_session, redis, protector, key_ring, party, request).credential


def test_nothing_is_delivered_while_the_account_is_locked(db_session, redis, protector,
                                                          key_ring, party, account):
    request = ask(db_session, party, account.citizen.personal_id)
    decide(db_session, account, request, approve=True)
    account.status = "locked"
    db_session.commit()
    with pytest.raises(ConsentUnavailable) as refused:
        _fetch(db_session, redis, protector, key_ring, party, request)
    assert refused.value.errors == {} and "lock" not in refused.value.message.lower()
    (withheld,) = events(db_session, "rp.data_withheld")  # committed with the refusal
    assert withheld.subject_id == str(account.citizen_id)
    assert _shares(db_session) == 0
    assert db_session.get(ConsentRequest, request.id).fetched_at is None
