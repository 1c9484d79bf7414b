"""Data sharing: every delivery of a citizen's data, and the citizen's erasure requests.

Each delivery of a consent (:mod:`.consents`) is a :class:`DataShare` row the
citizen lists, and on which they can ask the party to erase the data (the EU
wallet's erasure request); the party lists such requests and acknowledges
them, and the citizen sees when.
"""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from identity import clock
from identity.accounts.models import Account
from identity.audit.service import Actor, record_event
from identity.database import paginate
from identity.relying_parties.access_log import party_actor
from identity.relying_parties.errors import (DataShareNotFound, ErasureAlreadyRequested,
                                             ErasureNotFound)
from identity.relying_parties.models import DataShare, RelyingParty


def data_shares(*, db_session: Session, account: Account, page: int,
                per_page: int) -> tuple[list[DataShare], int]:
    """Every delivery of the citizen's data: to whom, what, when, why; newest first."""
    return paginate(db_session, sa.select(DataShare)
                    .where(DataShare.citizen_id == account.citizen_id)
                    .order_by(DataShare.shared_at.desc(), DataShare.id.desc()),
                    page=page, per_page=per_page)


def request_erasure(*, db_session: Session, actor: Actor, account: Account,
                    share_id: int) -> DataShare:
    """Ask the party that received this data to delete it (once)."""
    share = db_session.scalar(sa.select(DataShare).where(
        DataShare.id == share_id, DataShare.citizen_id == account.citizen_id))
    if share is None:
        raise DataShareNotFound()
    if share.erasure_requested_at is not None:
        raise ErasureAlreadyRequested()
    share.erasure_requested_at = clock.now()
    record_event(db_session=db_session, actor=actor, action="rp.erasure_requested",
                 subject_type="citizen", subject_id=account.citizen_id,
                 details={"by": share.party.name, "share_id": share.id})
    db_session.commit()
    return share


def erasure_requests(*, db_session: Session, party: RelyingParty, pending_only: bool,
                     page: int, per_page: int) -> tuple[list[DataShare], int]:
    """The party's erasure requests, oldest first (the pending ones by default)."""
    query = sa.select(DataShare).where(DataShare.party_id == party.id,
                                       DataShare.erasure_requested_at.is_not(None))
    if pending_only:
        query = query.where(DataShare.erasure_acknowledged_at.is_(None))
    return paginate(db_session, query.order_by(DataShare.erasure_requested_at, DataShare.id),
                    page=page, per_page=per_page)


def acknowledge_erasure(*, db_session: Session, actor: Actor, party: RelyingParty,
                        share_id: int) -> DataShare:
    """The party says it deleted the data; the citizen sees it (idempotent)."""
    share = db_session.scalar(sa.select(DataShare).where(
        DataShare.id == share_id, DataShare.party_id == party.id,
        DataShare.erasure_requested_at.is_not(None)))
    if share is None:
        raise ErasureNotFound()
    if share.erasure_acknowledged_at is None:
        share.erasure_acknowledged_at = clock.now()
        record_event(db_session=db_session, actor=party_actor(party, actor),
                     action="rp.erasure_acknowledged", subject_type="citizen",
                     subject_id=share.citizen_id,
                     details={"by": party.name, "share_id": share.id})
    db_session.commit()
    return share
