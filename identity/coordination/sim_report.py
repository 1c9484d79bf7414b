"""The junk-SIM report (SIM rác) of a telecom operator, from its subscriber records.

An active subscription (status ``valid``) is reported when:

- ``unknown_id``: no citizen holds its owner's personal id (or an operator
  resolved it as "not this citizen");
- ``data_mismatch``: the owner's name, date of birth or sex disagree with the
  registry (open in the review queue, or resolved "registry right": the
  operator's data are the wrong ones). Resolved "source right" (the registry
  is being corrected) it is not reported;
- ``over_limit``: the owner's personal id holds more active subscriptions at
  this operator than ``SIM_MAX_PER_ID`` (default 3: Decree 163/2024/NĐ-CP
  lets an individual hold more only after in-person checks at the operator,
  so the 4th and later subscriptions are what the operator must check). All
  of that id's subscriptions are listed, with their number.

Counted per operator (source): a citizen's SIMs at another operator do not
count. The report carries the operator's own data (record ids, phone
numbers), never the registry's.
"""
from __future__ import annotations

import csv
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from identity.coordination.errors import SourceNotFound
from identity.coordination.linker import open_record
from identity.coordination.models import DataSource, SourceRecord
from identity.coordination.sources import find_source
from identity.errors import InvalidInput
from identity.protection import Protector
from identity.relying_parties.models import RelyingParty

#: Decree 163/2024/NĐ-CP: from the 4th subscription of one individual at one operator on,
#: the operator must check in person.
DEFAULT_MAX_PER_ID = 3


@dataclass
class JunkSim:
    """One reported subscription."""

    record_id: str
    phone: str
    reasons: list[str]
    subscriptions_of_id: int
    mismatch_fields: list[str] = field(default_factory=list)


def _telecom(db_session: Session, operator: str) -> DataSource:
    source = find_source(db_session, operator)
    if source.kind != "telecom":
        raise InvalidInput("This source is not a telecom operator.", code="source.not_telecom",
                           field="operator")
    return source


def _query(source: DataSource, max_per_id: int) -> tuple[Any, sa.ColumnElement[bool]]:
    active = sa.and_(SourceRecord.source_id == source.id, SourceRecord.status == "valid")
    per_id = (sa.select(SourceRecord.personal_id_hash.label("digest"),
                        sa.func.count().label("held"))
              .where(active).group_by(SourceRecord.personal_id_hash).subquery())
    flagged = sa.or_(SourceRecord.link_state.in_(("unknown_id", "unlinked", "mismatch")),
                     SourceRecord.resolution == "registry_right",
                     per_id.c.held > max_per_id)
    query = (sa.select(SourceRecord, per_id.c.held)
             .join(per_id, per_id.c.digest == SourceRecord.personal_id_hash)
             .where(active, flagged).order_by(SourceRecord.id))
    return query, flagged


def _item(protector: Protector, record: SourceRecord, held: int, max_per_id: int) -> JunkSim:
    reasons = []
    if record.link_state in ("unknown_id", "unlinked"):
        reasons.append("unknown_id")
    if record.link_state == "mismatch" or record.resolution == "registry_right":
        reasons.append("data_mismatch")
    if held > max_per_id:
        reasons.append("over_limit")
    return JunkSim(record_id=record.record_key, phone=open_record(protector, record)["f"]["phone"],
                   reasons=reasons, subscriptions_of_id=held,
                   mismatch_fields=(record.mismatch_fields or "").split()
                   if "data_mismatch" in reasons else [])


def sim_report_page(*, db_session: Session, protector: Protector, party: RelyingParty,
                    operator: str | None, max_per_id: int, page: int,
                    per_page: int) -> tuple[str, list[JunkSim], int]:
    """A page of the report of the calling telco's own operator (source).

    ``404 source.not_found`` when the party owns no telecom source of that
    name (or none at all): another party's operator is not told apart.
    """
    owned = list(db_session.scalars(sa.select(DataSource).where(
        DataSource.party_id == party.id, DataSource.kind == "telecom").order_by(DataSource.name)))
    if operator is not None:
        owned = [source for source in owned if source.name == operator]
    if not owned:  # another party's operator is not told apart from none at all
        raise SourceNotFound("No telecom source of this party has this name."
                             if operator else "This party owns no telecom source.")
    source = owned[0]
    query, _ = _query(source, max_per_id)
    total = int(db_session.scalar(sa.select(sa.func.count()).select_from(query.subquery())) or 0)
    rows = db_session.execute(query.limit(per_page).offset((page - 1) * per_page))
    return source.name, [_item(protector, r, held, max_per_id) for r, held in rows], total


def write_sim_report(*, db_session: Session, protector: Protector, operator: str,
                     max_per_id: int, out: Path) -> dict[str, int]:
    """Write the operator's whole report as CSV (mode 0600); counts per reason."""
    source = _telecom(db_session, operator)
    query, _ = _query(source, max_per_id)
    counts = {"subscriptions": 0, "unknown_id": 0, "data_mismatch": 0, "over_limit": 0}
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with open(fd, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["record_id", "phone", "reasons", "subscriptions_of_id",
                         "mismatch_fields"])
        for record, held in db_session.execute(query.execution_options(yield_per=5000)):
            item = _item(protector, record, held, max_per_id)
            writer.writerow([item.record_id, item.phone, " ".join(item.reasons),
                             item.subscriptions_of_id, " ".join(item.mismatch_fields)])
            counts["subscriptions"] += 1
            for reason in item.reasons:
                counts[reason] += 1
    return counts
