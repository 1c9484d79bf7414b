"""The operators' review queue: records that disagree with the registry or name no citizen.

A record in ``mismatch`` (the citizen found, some field disagreeing) or
``unknown_id`` (no citizen holds the id) waits here until an operator
resolves it; nothing is linked or dropped without a decision:

- ``registry_right``: the source is wrong (a typo at the ministry). The record
  is linked to the citizen; the registry is untouched. Not for an unknown id.
- ``source_right``: the registry may be wrong. The record is linked, and the
  case is *forwarded* to the registry's officers: it appears in their list of
  corrections to check (``GET /api/v1/police/coordination/corrections``,
  officers of the citizen's jurisdiction only). Not for an unknown id.
- ``not_this_citizen``: the record is someone else's. It is unlinked and
  never shown in the citizen's wallet; telecom records so resolved stay in
  the junk-SIM report.

Every resolution is audited with the operator as actor. Operators see the
disagreeing values of both sides, never the personal id; each page they read
is audited.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from identity import clock
from identity.accounts.models import Officer
from identity.accounts.officers import officer_actor, unit_name
from identity.audit.service import Actor, record_event
from identity.coordination.errors import (MismatchClosed, MismatchNotFound,
                                          ResolutionNotAllowed)
from identity.coordination.linker import open_record, revoke_document_credentials
from identity.coordination.models import RESOLUTIONS, DataSource, SourceRecord
from identity.errors import InvalidInput
from identity.protection import Protector
from identity.registry.models import Citizen
from identity.registry.service import citizen_by_id

REVIEW_STATES = ("mismatch", "unknown_id")
COMPARED = ("full_name", "date_of_birth", "gender")


def _page(db_session: Session, query: Any, page: int,
          per_page: int) -> tuple[list[Any], int]:
    """One page of (record, citizen) rows and the total (``paginate`` keeps the first column)."""
    total = db_session.scalar(
        sa.select(sa.func.count()).select_from(query.order_by(None).subquery())) or 0
    rows = db_session.execute(query.offset((page - 1) * per_page).limit(per_page))
    return list(rows), int(total)


@dataclass
class ReviewItem:
    """A record under review: what the source says, what the registry says."""

    id: int
    source: str
    kind: str
    record_id: str
    reason: str
    fields: list[str]
    source_values: dict[str, Any]
    registry_values: dict[str, Any] | None
    received_at: Any
    resolution: str | None = None
    resolved_at: Any = None


def _item(protector: Protector, record: SourceRecord, citizen: Citizen | None) -> ReviewItem:
    opened = open_record(protector, record)
    source_values = {"full_name": opened["nm"], "date_of_birth": opened["dob"],
                     "gender": opened.get("sx")}
    registry = None if citizen is None else {
        "full_name": citizen.full_name, "date_of_birth": citizen.date_of_birth.isoformat(),
        "gender": citizen.gender}
    return ReviewItem(id=record.id, source=record.source.name, kind=record.source.kind,
                      record_id=record.record_key,
                      reason="data_mismatch" if record.mismatch_fields else "unknown_id",
                      fields=(record.mismatch_fields or "").split(),
                      source_values=source_values, registry_values=registry,
                      received_at=record.received_at, resolution=record.resolution,
                      resolved_at=record.resolved_at)


def list_mismatches(*, db_session: Session, protector: Protector, actor: Actor,
                    source: str | None = None, reason: str | None = None, page: int,
                    per_page: int) -> tuple[list[ReviewItem], int]:
    """Open review items, oldest first; the read is audited (it shows personal data)."""
    states = {"data_mismatch": ("mismatch",), "unknown_id": ("unknown_id",),
              None: REVIEW_STATES}.get(reason)
    if states is None:
        raise InvalidInput("reason is data_mismatch or unknown_id.", code="mismatch.reason",
                           field="reason")
    query = (sa.select(SourceRecord, Citizen)
             .outerjoin(Citizen, Citizen.id == SourceRecord.citizen_id)
             .where(SourceRecord.link_state.in_(states), SourceRecord.resolution.is_(None))
             .order_by(SourceRecord.received_at, SourceRecord.id))
    if source is not None:
        query = query.join(DataSource, DataSource.id == SourceRecord.source_id).where(
            DataSource.name == source)
    rows, total = _page(db_session, query, page, per_page)
    items = [_item(protector, record, citizen) for record, citizen in rows]
    record_event(db_session=db_session, actor=actor, action="coordination.mismatches_viewed",
                 details={"ids": [item.id for item in items]})
    db_session.commit()
    return items, total


def resolve(*, db_session: Session, protector: Protector, actor: Actor, item_id: int,
            resolution: str, note: str | None = None) -> ReviewItem:
    """Close a review item with one of :data:`RESOLUTIONS`; audited with the operator."""
    if resolution not in RESOLUTIONS:
        raise InvalidInput(f"resolution is one of {', '.join(RESOLUTIONS)}.",
                           code="mismatch.resolution", field="resolution")
    record = db_session.get(SourceRecord, item_id, with_for_update={"of": SourceRecord})
    if record is None or (record.link_state not in REVIEW_STATES and record.resolution is None):
        raise MismatchNotFound()
    if record.resolution is not None:
        raise MismatchClosed()
    if record.citizen_id is None and resolution != "not_this_citizen":
        raise ResolutionNotAllowed("No citizen holds this id: the record can only be set "
                                   "aside as not this citizen's.")
    citizen_id = record.citizen_id
    if resolution == "not_this_citizen":
        record.link_state, record.citizen_id = "unlinked", None
        revoke_document_credentials(db_session, record_ids=[record.id], now=clock.now())
    else:
        record.link_state = "linked"
    record.resolution, record.resolved_at = resolution, clock.now()
    record.resolved_by = (actor.id or actor.type)[:64]
    record_event(db_session=db_session, actor=actor, action="coordination.mismatch_resolved",
                 subject_type="citizen" if citizen_id else "source_record",
                 subject_id=citizen_id or record.id,
                 details={"record": record.id, "source": record.source.name,
                          "resolution": resolution, "fields": record.mismatch_fields,
                          "note": (note or "")[:500] or None,
                          "forwarded": resolution == "source_right"})
    db_session.commit()
    citizen = citizen_by_id(db_session, citizen_id) if citizen_id else None
    return _item(protector, record, citizen)


@dataclass
class Correction:
    """A registry correction forwarded to the officers: the citizen and both versions."""

    id: int
    personal_id: str
    source: str
    kind: str
    fields: list[str]
    source_values: dict[str, Any]
    registry_values: dict[str, Any]
    forwarded_at: Any


def forwarded_corrections(*, db_session: Session, protector: Protector, actor: Actor,
                          officer: Officer, page: int,
                          per_page: int) -> tuple[list[Correction], int]:
    """Records resolved "source right" for citizens of the officer's jurisdiction, newest first.

    Each read is in the citizen's access log, like every officer's read of a record.
    """
    query = (sa.select(SourceRecord, Citizen)
             .join(Citizen, Citizen.id == SourceRecord.citizen_id)
             .where(SourceRecord.resolution == "source_right",
                    Citizen.province_code == officer.province_code)
             .order_by(SourceRecord.resolved_at.desc(), SourceRecord.id))
    if officer.commune_code is not None:
        query = query.where(Citizen.commune_code == officer.commune_code)
    rows, total = _page(db_session, query, page, per_page)
    acting = officer_actor(officer, actor)
    items = []
    for record, citizen in rows:
        item = _item(protector, record, citizen)
        assert item.registry_values is not None
        items.append(Correction(id=record.id, personal_id=citizen.personal_id,
                                source=item.source, kind=item.kind, fields=item.fields,
                                source_values=item.source_values,
                                registry_values=item.registry_values,
                                forwarded_at=record.resolved_at))
        record_event(db_session=db_session, actor=acting, action="coordination.correction_read",
                     subject_type="citizen", subject_id=citizen.id,
                     details={"record": record.id, "by": unit_name(officer)})
    db_session.commit()
    return items, total
