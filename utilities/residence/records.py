"""The temporary residence on the citizen's record, and the ``residence`` credential that shows it.

An approved temporary stay (:mod:`utilities.residence.stays`) adds a
:class:`~identity.registry.models.TemporaryResidence` to the record; the one in
force today is what the citizen sees and what the credential carries. Reads only:
nothing here commits.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from identity import clock
from identity.accounts.models import Account
from identity.credentials.types import CredentialType, register_type
from identity.registry.models import TemporaryResidence
from utilities.residence.errors import NoCurrentResidence


def current_residence(*, db_session: Session, citizen_id: int,
                      on: dt.date | None = None) -> TemporaryResidence | None:
    """The citizen's temporary residence in force on ``on`` (today), the latest to start."""
    day = on or clock.today()
    return db_session.scalars(sa.select(TemporaryResidence).where(
        TemporaryResidence.citizen_id == citizen_id, TemporaryResidence.start_date <= day,
        TemporaryResidence.end_date >= day)
        .order_by(TemporaryResidence.start_date.desc(), TemporaryResidence.id.desc())
        .limit(1)).first()


def own_current_residence(*, db_session: Session, account: Account) -> TemporaryResidence:
    """The citizen's temporary residence in force today, or :class:`NoCurrentResidence`."""
    residence = current_residence(db_session=db_session, citizen_id=account.citizen_id)
    if residence is None:
        raise NoCurrentResidence()
    return residence


def residence_claims(db_session: Session, account: Account) -> dict[str, Any]:
    """The claims of a ``residence`` credential: the stay approved and in force today."""
    residence = own_current_residence(db_session=db_session, account=account)
    citizen = account.citizen
    return {"id": citizen.personal_id, "nm": citizen.full_name, "addr": residence.address,
            "cm": residence.commune_code, "fr": residence.start_date.isoformat(),
            "to": residence.end_date.isoformat()}


register_type(CredentialType(
    name="residence", claims=residence_claims, min_level=1, lifetime=120,
    description="Temporary residence (tạm trú) approved by the commune police, in force today"))
