"""Data shares and erasure requests, called directly: the citizen asks, the party acknowledges.

The use cases of :mod:`identity.relying_parties.sharing`.
"""
from __future__ import annotations

from typing import Any

import pytest

from identity.audit.service import Actor
from identity.relying_parties import consents, sharing
from identity.relying_parties.errors import (DataShareNotFound, ErasureAlreadyRequested,
                                             ErasureNotFound)
from identity.relying_parties.models import DataShare
from tests.factories import add_active_account
from tests.identity.relying_parties.conftest import REQUEST, ask, decide, events, new_party

CITIZEN = Actor(type="citizen", id="c")


@pytest.fixture()
def share(db_session, redis, protector, key_ring, party, account) -> DataShare:
    """One delivery of the account's citizen's data to ``party``."""
    request = ask(db_session, party, account.citizen.personal_id)
    decide(db_session, account, request, approve=True)
    consents.fetch(db_session=db_session, redis_client=redis, protector=protector,
                   key_ring=key_ring, actor=REQUEST, party=party, consent_id=request.id)
    items, count = sharing.data_shares(db_session=db_session, account=account, page=1,
                                       per_page=10)
    assert count == 1
    return items[0]


def _pending(db_session: Any, party: Any, pending_only: bool = True) -> list[int]:
    items, _count = sharing.erasure_requests(db_session=db_session, party=party,
                                             pending_only=pending_only, page=1, per_page=10)
    return [item.id for item in items]


def test_an_erasure_request_reaches_the_party_which_acknowledges_it(db_session, party,
                                                                    account, share):
    assert _pending(db_session, party) == []  # nothing asked yet
    asked = sharing.request_erasure(db_session=db_session, actor=CITIZEN, account=account,
                                    share_id=share.id)
    assert asked.erasure_requested_at is not None and asked.erasure_acknowledged_at is None
    assert _pending(db_session, party) == [share.id]
    done = sharing.acknowledge_erasure(db_session=db_session, actor=REQUEST, party=party,
                                       share_id=share.id)
    assert done.erasure_acknowledged_at is not None
    assert _pending(db_session, party) == [] and _pending(db_session, party, False) == [share.id]
    (event,) = events(db_session, "rp.erasure_acknowledged")
    assert (event.actor_type, event.subject_id) == ("relying_party", str(account.citizen_id))


def test_erasure_is_asked_once_and_acknowledged_once(db_session, party, account, share):
    sharing.request_erasure(db_session=db_session, actor=CITIZEN, account=account,
                            share_id=share.id)
    with pytest.raises(ErasureAlreadyRequested) as refused:
        sharing.request_erasure(db_session=db_session, actor=CITIZEN, account=account,
                                share_id=share.id)
    assert refused.value.code == "data_share.erasure_already_requested"
    first = sharing.acknowledge_erasure(db_session=db_session, actor=REQUEST, party=party,
                                        share_id=share.id).erasure_acknowledged_at
    again = sharing.acknowledge_erasure(db_session=db_session, actor=REQUEST, party=party,
                                        share_id=share.id).erasure_acknowledged_at
    assert again == first  # idempotent: the first acknowledgement stands
    assert len(events(db_session, "rp.erasure_requested")) == 1
    assert len(events(db_session, "rp.erasure_acknowledged")) == 1


def test_only_the_citizen_asks_and_only_the_party_acknowledges(db_session, protector, party,
                                                               share):
    stranger = add_active_account(db_session, protector)
    with pytest.raises(DataShareNotFound):
        sharing.request_erasure(db_session=db_session, actor=CITIZEN, account=stranger,
                                share_id=share.id)
    assert sharing.data_shares(db_session=db_session, account=stranger, page=1,
                               per_page=10) == ([], 0)
    other, _secret = new_party(db_session, protector, name="Ngân hàng Khác")
    with pytest.raises(ErasureNotFound):  # and none is asked yet, for the party either
        sharing.acknowledge_erasure(db_session=db_session, actor=REQUEST, party=party,
                                    share_id=share.id)
    share.erasure_requested_at = share.shared_at
    db_session.commit()
    with pytest.raises(ErasureNotFound):
        sharing.acknowledge_erasure(db_session=db_session, actor=REQUEST, party=other,
                                    share_id=share.id)
    assert db_session.get(DataShare, share.id).erasure_acknowledged_at is None
