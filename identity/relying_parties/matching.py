"""Identity matching without disclosure: the identity match and the telcos' SIM verification.

An identity match answers only ``match`` and which of the fields the party
sent agree with the registry. An unknown personal id answers exactly like a
citizen whose every field differs, so the answer never tells whether an id
exists; the daily quota and rate limit bound how many ids a party can try
(Aadhaar's lesson: a yes/no API is an enumeration oracle unless it is
authenticated, metered and logged). Each look is in the citizen's access log
(:mod:`.access_log`).
"""
from __future__ import annotations

import datetime as dt
import hmac
from typing import Any, Protocol, cast

import sqlalchemy as sa

from sqlalchemy.orm import Session

from identity.audit.service import Actor
from identity.audit.writer import commit_recorded
from identity.database import CallerWith, Statement
from identity.protection import Protector
from identity.registry.models import Citizen
from identity.registry.normalise import names_match
from identity.registry.partitions import ByPersonalId
from identity.registry.service import PHONE_PURPOSE
from identity.relying_parties.access_log import looked_up
from identity.relying_parties.models import RelyingParty
from identity.relying_parties.parties import PartyView


_CITIZENS = Citizen.__table__
#: The citizen's columns that a match compares.
_MATCHED_COLUMNS = (_CITIZENS.c.id, _CITIZENS.c.full_name, _CITIZENS.c.date_of_birth,
                    _CITIZENS.c.phone_hash)
#: What a match compares, by personal id: one statement on the driver's cursor, no ORM entity.
_MATCHED = ByPersonalId(_CITIZENS, lambda where: Statement(
    sa.select(*_MATCHED_COLUMNS).where(where)))


class _Compared(Protocol):
    """A citizen as a match reads them: the entity, or a row of :data:`_MATCHED`."""

    id: int
    full_name: str
    date_of_birth: dt.date
    phone_hash: bytes | None


def _compared(db_session: Session, personal_id: str) -> _Compared | None:
    return cast("_Compared | None",
                _MATCHED(personal_id).first(db_session, {"personal_id": personal_id}))


_PARTIES = cast(sa.Table, RelyingParty.__table__)
#: The party's row (as :func:`identity.relying_parties.parties.party_row_for_token` gives
#: it), then the citizen's that a match compares (None when there is none): one statement, as
#: an online verification reads the officer's row with the credential's.
_PARTY_AND_MATCHED = ByPersonalId(_CITIZENS, lambda where: CallerWith(
    _PARTIES, "party", _MATCHED_COLUMNS, _CITIZENS, where))


def party_and_citizen(db_session: Session, *, party_id: int,
                      personal_id: str) -> tuple[Any, _Compared | None]:
    """The party's row (None: no such party) and the row a match compares of the citizen of
    ``personal_id`` (None: no such citizen), read in one statement. The party's row is for
    its checks (:func:`identity.relying_parties.parties.checked_party_row`, its scope, its
    quota), which come before anything of the citizen's is used or answered."""
    party, citizen = _PARTY_AND_MATCHED(personal_id).first(
        db_session, {"party_id": party_id, "personal_id": personal_id})
    return party, cast("_Compared | None", citizen)


def _phone_matches(protector: Protector, citizen: _Compared, phone: str) -> bool:
    """The phone is the registry's subscriber record (the telecom data), and only that.

    Never the account's phone: that one was typed by whoever registered,
    proved only to be in their hands by an SMS code, and a squatter's
    registration (pending review, or rejected by the police) holds the
    squatter's own number. Facts told to third parties come from the
    registry, never from an applicant.
    """
    if citizen.phone_hash is None:
        return False
    digest = protector.lookup_hash(phone, purpose=PHONE_PURPOSE)
    return hmac.compare_digest(citizen.phone_hash, digest)


#: :func:`identity_match`'s citizen, when the caller has not read it.
_UNREAD: Any = object()


def identity_match(*, db_session: Session, protector: Protector, actor: Actor,
                   party: PartyView, personal_id: str, full_name: str,
                   date_of_birth: dt.date, phone: str | None = None,
                   citizen: Any = _UNREAD) -> dict[str, Any]:
    """``match`` and which fields matched, nothing else; in the citizen's access log.
    ``citizen``: the row of ``personal_id`` already read (:func:`party_and_citizen`)."""
    if citizen is _UNREAD:
        citizen = _compared(db_session, personal_id)
    fields: dict[str, bool] = {"full_name": False, "date_of_birth": False}
    if phone is not None:
        fields["phone"] = False
    if citizen is not None:
        fields["full_name"] = names_match(citizen.full_name, full_name)
        fields["date_of_birth"] = citizen.date_of_birth == date_of_birth
        if phone is not None:
            fields["phone"] = _phone_matches(protector, citizen, phone)
    match = all(fields.values())
    looked_up(db_session, actor, party, citizen, "rp.identity_match",
              {"result": "match" if match else "no_match", "fields": sorted(fields)})
    commit_recorded(db_session)
    return {"match": match, "fields": fields}


def sim_ownership(*, db_session: Session, protector: Protector, actor: Actor,
                  party: PartyView, personal_id: str, phone: str) -> dict[str, Any]:
    """Whether the subscriber (phone, personal id) matches the registry's subscriber record."""
    citizen = _compared(db_session, personal_id)
    match = citizen is not None and _phone_matches(protector, citizen, phone)
    looked_up(db_session, actor, party, citizen, "rp.sim_ownership",
              {"result": "match" if match else "no_match"})
    commit_recorded(db_session)
    return {"match": match}
