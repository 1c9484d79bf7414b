"""Data sources: registering them, and their deliveries of records through the API.

A source is a relying party's feed. ``create_source`` makes a new party of
kind ``source`` (scope ``records.deliver``) for it, except for telecom:

- ``party=<client id>`` (``flask sources create --party``) names the telco's
  existing party (kind ``telco``): the source becomes that party's, and
  ``records.deliver`` is added to its scopes (audited as
  ``rp.scopes_added``), so one client id delivers the subscriber lists and
  fetches the junk-SIM report (``sim.verify``);
- without it a new party of kind ``telco`` is made with both scopes.

A party may own several sources; it delivers only to its own
(``source.forbidden``, 403, otherwise).
"""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from identity import clock
from identity.audit.service import Actor, record_event
from identity.coordination.errors import BatchTooLarge, NotYourSource, SourceNotFound
from identity.coordination.kinds import KINDS, check_record
from identity.coordination.linker import BatchWriter, Linkable, linkable, prepare
from identity.coordination.models import SOURCE_KINDS, DataSource, SourceDailyCount
from identity.errors import Conflict, DomainError, InvalidInput
from identity.protection import Protector
from identity.relying_parties import parties
from identity.relying_parties.models import RelyingParty

#: The most records one API batch may carry.
MAX_BATCH = 1_000
_NAME_RE = re.compile(r"[a-z0-9][a-z0-9._-]{1,63}")
DELIVER_SCOPE = "records.deliver"
SIM_SCOPE = "sim.verify"


@dataclass(frozen=True)
class CreatedSource:
    """A new source, its party, and the party's secret when one was made (shown once)."""

    source: DataSource
    party: RelyingParty
    client_secret: str | None


def create_source(*, db_session: Session, protector: Protector, actor: Actor, name: str,
                  kind: str, party: str | None = None) -> CreatedSource:
    """Register a source of ``kind`` named ``name`` (a code: ``csgt-gplx``, ``viettel``)."""
    name = name.strip().lower()
    if not _NAME_RE.fullmatch(name):
        raise InvalidInput("A source name is 2 to 64 lowercase letters, digits or . _ -",
                           code="source.name", field="name")
    if kind not in SOURCE_KINDS:
        raise InvalidInput(f"The kind is one of: {', '.join(SOURCE_KINDS)}.",
                           code="source.kind", field="kind")
    if db_session.scalar(sa.select(DataSource.id).where(DataSource.name == name)) is not None:
        raise Conflict("A data source of this name exists.", code="source.exists")
    secret = None
    if party is not None:
        if kind != "telecom":
            raise InvalidInput("Only a telecom source joins an existing (telco) party.",
                               code="source.party", field="party")
        owner = parties.find_party(db_session, party)
        if owner.kind != "telco":
            raise InvalidInput("A telecom source joins a party of kind telco.",
                               code="source.party", field="party")
        if DELIVER_SCOPE not in owner.scope_set():
            owner.scopes = " ".join(sorted(owner.scope_set() | {DELIVER_SCOPE}))
            record_event(db_session=db_session, actor=actor, action="rp.scopes_added",
                         subject_type="relying_party", subject_id=owner.id,
                         details={"scopes": [DELIVER_SCOPE], "for": f"source:{name}"})
    else:
        telecom = kind == "telecom"
        owner, secret, _ = parties.create_party(
            db_session=db_session, protector=protector, actor=actor,
            name=f"{name} ({'telecom operator' if telecom else 'data source'})",
            kind="telco" if telecom else "source",
            scopes=[DELIVER_SCOPE, SIM_SCOPE] if telecom else [DELIVER_SCOPE])
    source = DataSource(name=name, kind=kind, party_id=owner.id, active=True)
    db_session.add(source)
    try:
        db_session.flush()
    except IntegrityError:
        db_session.rollback()
        raise Conflict("A data source of this name exists.", code="source.exists") from None
    record_event(db_session=db_session, actor=actor, action="coordination.source_created",
                 subject_type="data_source", subject_id=source.id,
                 details={"name": name, "kind": kind, "party": owner.client_id})
    db_session.commit()
    return CreatedSource(source=source, party=owner, client_secret=secret)


def list_sources(*, db_session: Session) -> list[DataSource]:
    """Every source, by name."""
    return list(db_session.scalars(sa.select(DataSource).order_by(DataSource.name)))


def find_source(db_session: Session, name: str) -> DataSource:
    """A source by its name."""
    source = db_session.scalar(sa.select(DataSource).where(DataSource.name == name))
    if source is None:
        raise SourceNotFound()
    return source


def owned_source(db_session: Session, *, party: RelyingParty, name: str) -> DataSource:
    """The source ``name`` if it belongs to ``party``, else 403 ``source.forbidden``."""
    source = find_source(db_session, name)
    if source.party_id != party.id or not source.active:
        raise NotYourSource()
    return source


@dataclass
class Rejected:
    """A record that was refused, and why (by its position in the batch or line in the file)."""

    position: int
    record_id: str | None
    code: str
    field: str | None
    message: str


@dataclass
class DeliveryOutcome:
    """The answer to a delivered batch.

    It says what was kept and what was refused for its form, never how the
    records linked to the registry: a source that learnt "linked",
    "mismatch" or "unknown id" per batch could send one-record batches and
    use delivery as an identity match (does this id exist? are this name and
    date of birth the registry's?) without the ``identity.match`` scope or its
    quota. How records linked goes to the operators' review queue and the
    daily counts only.
    """

    received: int
    written: int
    unchanged: int
    rejected: list[Rejected] = field(default_factory=list)


def check_batch(kind_name: str, raws: Sequence[Mapping[str, Any]], positions: Sequence[int],
                protector: Protector, source_id: int,
                with_values: bool = True) -> tuple[list[Linkable], list[Rejected]]:
    """Check and protect raw records; a record id seen earlier in the batch is refused.

    ``with_values``: keep the written values beside their COPY text (SQLite writes those).
    """
    kind = KINDS[kind_name]
    today = clock.today()
    seen: set[str] = set()
    prepared: list[Linkable] = []
    rejected: list[Rejected] = []
    for position, raw in zip(positions, raws):
        try:
            record = check_record(kind, raw, today=today)
        except DomainError as error:
            key = raw.get("record_id") if isinstance(raw.get("record_id"), str) else None
            rejected.append(Rejected(position, key[:64] if key else None, error.code,
                                     error.field, error.message))
            continue
        if record.record_key in seen:
            rejected.append(Rejected(position, record.record_key, "record.duplicate",
                                     "record_id", "This record id appears earlier in the "
                                                  "same batch; the first one was kept."))
            continue
        seen.add(record.record_key)
        prepared.append(linkable(prepare(protector, source_id, record),
                                 with_values=with_values))
    return prepared, rejected


def deliver_records(*, db_session: Session, protector: Protector, actor: Actor,
                    party: RelyingParty, source_name: str,
                    records: Sequence[Mapping[str, Any]]) -> DeliveryOutcome:
    """A source's batch through the API: checked, linked, written once, counted, audited."""
    source = owned_source(db_session, party=party, name=source_name)
    if len(records) > MAX_BATCH:
        raise BatchTooLarge(f"At most {MAX_BATCH:,} records in one batch.", field="records")
    prepared, rejected = check_batch(source.kind, records, range(len(records)), protector,
                                     source.id)
    outcome = BatchWriter(direct=False).write(
        db_session, actor=actor, source_id=source.id, prepared=prepared,
        rejected=len(rejected), channel="api")
    db_session.commit()
    return DeliveryOutcome(received=len(records), written=outcome.written,
                           unchanged=outcome.unchanged, rejected=rejected)


def daily_counts(*, db_session: Session, source: DataSource | None = None,
                 days: int = 30) -> list[tuple[str, SourceDailyCount]]:
    """Per source and day: received, linked, mismatched, unknown, rejected (newest first)."""
    query = (sa.select(DataSource.name, SourceDailyCount)
             .join(DataSource, DataSource.id == SourceDailyCount.source_id)
             .order_by(SourceDailyCount.day.desc(), DataSource.name))
    if source is not None:
        query = query.where(SourceDailyCount.source_id == source.id)
    cutoff = clock.today().toordinal() - days
    return [(name, count) for name, count in db_session.execute(query)
            if count.day.toordinal() > cutoff]
