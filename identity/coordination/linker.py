"""Linking a batch of records to the registry and writing it: set-based, one batch at a time.

A batch (up to 1,000 records from the API, 10,000 lines of a file) is:

1. protected record by record (:func:`prepare`): personal id as a keyed hash,
   the personal fields sealed in one AES-GCM blob, a keyed hash of the whole
   content so that an identical re-delivery can be told from a change;
2. linked with **one** query: the citizens whose personal ids the batch holds
   (``= ANY(array)`` on PostgreSQL), then compared in memory: name (case- and
   Unicode-insensitive, :func:`identity.registry.normalise.name_key`), date of
   birth, and sex when the source gives it. Found and agreeing: ``linked``;
   found and disagreeing: ``mismatch`` (the operators' review queue); not
   found: ``unknown_id`` (also in the queue). Nothing is silently linked or
   dropped;
3. written with one upsert keyed by (source, source's record id): on
   PostgreSQL a ``COPY`` straight into ``source_records`` while no record
   exists yet (a first load), else through a temporary staging table and
   ``INSERT ... ON CONFLICT DO UPDATE ... WHERE content_hash differs``, so
   a resent batch writes nothing, counts nothing and keeps earlier
   resolutions. A changed record is linked afresh (its old resolution goes);
4. counted (per source and day) and audited in the same transaction. A
   document now revoked, suspended, expired or unlinked revokes the VN1
   credentials issued for it, at once.
"""
from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import psycopg
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from identity import clock
from identity.audit.service import Actor, record_event
from identity.coordination.kinds import CheckedRecord
from identity.coordination.models import (DocumentCredential, SourceDailyCount,
                                          SourceRecord)
from identity.credentials.models import Credential
from identity.database import staging_table
from identity.protection import Protector
from identity.registry.models import Citizen

PERSONAL_ID_PURPOSE = b"coordination.personal_id"
_CONTENT_PURPOSE = b"coordination.record"
#: SQLite's limit of bound parameters is 32,766: look ids up in slices below it.
_SQLITE_SLICE = 5_000

#: Columns a batch writes, in COPY and staging-table order: first what linking decides,
#: then what :func:`prepare` knows (pre-formatted there as COPY text, in the workers).
LINKED = ("citizen_id", "link_state", "mismatch_fields")
PREPARED = ("source_id", "record_key", "personal_id_hash", "status", "valid_from", "valid_until",
            "data_encrypted", "content_hash")
WRITTEN = (*LINKED, *PREPARED, "received_at", "updated_at")

_STAGE = staging_table("source_record_stage", SourceRecord.__table__, WRITTEN)


def record_context(source_id: int, record_key: str) -> bytes:
    """Associated data binding a record's blob to its source and id."""
    return f"coordination.record:{source_id}:{record_key}".encode()


def personal_id_hash(protector: Protector, personal_id: str) -> bytes:
    """The look-up hash under which records of a personal id are found."""
    return protector.lookup_hash(personal_id, purpose=PERSONAL_ID_PURPOSE)


class Prepared(NamedTuple):
    """A checked record with its protected forms, ready to be linked and written."""

    record: CheckedRecord
    source_id: int
    personal_id_hash: bytes
    data_encrypted: bytes
    content_hash: bytes
    #: The :data:`PREPARED` columns as COPY text (checked values hold no tab or backslash).
    copy_text: str

    def values(self) -> tuple[Any, ...]:
        """The :data:`PREPARED` columns' values."""
        record = self.record
        return (self.source_id, record.record_key, self.personal_id_hash, record.status,
                record.valid_from, record.valid_until, self.data_encrypted, self.content_hash)


class Linkable(NamedTuple):
    """What linking and writing need of a prepared record: small and cheap to pickle.

    Worker processes send these back to the writing process (not the whole
    :class:`Prepared`): the date of birth as an ordinal, the written columns
    as COPY text (PostgreSQL) or as values (SQLite).
    """

    personal_id: str
    name_key: str
    birth: int
    gender: str | None
    copy_text: str
    values: tuple[Any, ...] | None


def linkable(prepared: Prepared, *, with_values: bool = True) -> Linkable:
    """The lean form of a prepared record."""
    record = prepared.record
    return Linkable(record.personal_id, record.name_key, record.date_of_birth.toordinal(),
                    record.gender, prepared.copy_text,
                    prepared.values() if with_values else None)


def prepare(protector: Protector, source_id: int, record: CheckedRecord) -> Prepared:
    """Seal a checked record's personal fields and hash its content."""
    data = json.dumps({"pid": record.personal_id, "nm": record.full_name,
                       "dob": record.date_of_birth.isoformat(), "sx": record.gender,
                       "f": record.fields}, ensure_ascii=False, separators=(",", ":"),
                      sort_keys=True)
    content = "\x1f".join((record.record_key, record.status, str(record.valid_from),
                           str(record.valid_until), data))
    digest = personal_id_hash(protector, record.personal_id)
    sealed = protector.encrypt(data, context=record_context(source_id, record.record_key))
    content_hash = protector.lookup_hash(content, purpose=_CONTENT_PURPOSE)
    copy_text = "\t".join((
        str(source_id), record.record_key, "\\\\x" + digest.hex(), record.status,
        "\\N" if record.valid_from is None else record.valid_from.isoformat(),
        "\\N" if record.valid_until is None else record.valid_until.isoformat(),
        "\\\\x" + sealed.hex(), "\\\\x" + content_hash.hex()))
    return Prepared(record, source_id, digest, sealed, content_hash, copy_text)


def open_record(protector: Protector, record: SourceRecord) -> dict[str, Any]:
    """The personal fields of a stored record: ``pid``, ``nm``, ``dob``, ``sx``, ``f``."""
    opened: dict[str, Any] = json.loads(protector.decrypt(
        record.data_encrypted, context=record_context(record.source_id, record.record_key)))
    return opened


@dataclass
class BatchOutcome:
    """What one batch did."""

    written: int = 0
    unchanged: int = 0
    states: Counter[str] = field(default_factory=Counter)
    credentials_revoked: int = 0


class _Registry(NamedTuple):
    id: int
    name_key: str
    birth: int
    gender: str


def _lookup(session: Session, personal_ids: Sequence[str]) -> dict[str, _Registry]:
    """The registry's citizens of these ids, in one query (a few slices on SQLite)."""
    columns = (Citizen.personal_id, Citizen.id, Citizen.name_key, Citizen.date_of_birth,
               Citizen.gender)
    found: dict[str, _Registry] = {}
    postgres = session.get_bind().dialect.name == "postgresql"
    if postgres:
        ids = sa.bindparam("ids", list(personal_ids), type_=postgresql.ARRAY(sa.String))
        slices: Iterable[Any] = [Citizen.personal_id == sa.any_(ids)]
        # 10,000 ids against a registry of a few million rows look, to the planner, as
        # cheap by a sequential scan as by index probes; the scan grows with the registry
        # (160 ms a batch at 1 million citizens, minutes at 100 million) and the probes
        # do not. For this one statement, then back to the default.
        session.execute(sa.text("SET LOCAL enable_seqscan = off"))
    else:
        slices = (Citizen.personal_id.in_(personal_ids[i:i + _SQLITE_SLICE])
                  for i in range(0, len(personal_ids), _SQLITE_SLICE))
    try:
        for condition in slices:
            for row in session.execute(sa.select(*columns).where(condition)):
                found[row[0]] = _Registry(row[1], row[2], row[3].toordinal(), row[4])
    finally:
        if postgres:
            session.execute(sa.text("SET LOCAL enable_seqscan TO DEFAULT"))
    return found


def compare(record: Linkable, citizen: _Registry) -> list[str]:
    """The fields of a record that disagree with the registry's citizen."""
    fields = []
    if record.name_key != citizen.name_key:
        fields.append("full_name")
    if record.birth != citizen.birth:
        fields.append("date_of_birth")
    if record.gender is not None and record.gender != citizen.gender:
        fields.append("gender")
    return fields


def _link(prepared: Sequence[Linkable],
          registry: dict[str, _Registry]) -> list[tuple[int | None, str, str | None]]:
    """(citizen id, link state, disagreeing fields) of each record, in order."""
    links: list[tuple[int | None, str, str | None]] = []
    for record in prepared:
        citizen = registry.get(record.personal_id)
        if citizen is None:
            links.append((None, "unknown_id", None))
        elif (record.name_key == citizen.name_key and record.birth == citizen.birth
              and (record.gender is None or record.gender == citizen.gender)):
            links.append((citizen.id, "linked", None))
        else:
            links.append((citizen.id, "mismatch", " ".join(compare(record, citizen))))
    return links


def _copy_payload(prepared: Sequence[Linkable], links: Sequence[tuple[int | None, str, str | None]],
                  now: dt.datetime) -> bytes:
    """COPY text of a batch, in :data:`WRITTEN` order."""
    null = "\\N"
    stamp = now.isoformat(sep=" ")
    tail = f"\t{stamp}\t{stamp}\n"
    return "".join(
        f"{null if citizen_id is None else citizen_id}\t{state}\t{mismatched or null}\t"
        f"{item.copy_text}{tail}"
        for item, (citizen_id, state, mismatched) in zip(prepared, links)).encode()


class BatchWriter:
    """Writes linked batches of one source; remembers whether COPY straight in still works."""

    def __init__(self, *, direct: bool = True) -> None:
        #: COPY straight into ``source_records`` (PostgreSQL) until a record already exists.
        self.direct = direct

    def write(self, session: Session, *, actor: Actor, source_id: int,
              prepared: Sequence[Linkable], rejected: int, channel: str,
              now: dt.datetime | None = None) -> BatchOutcome:
        """Link and write one batch in the caller's transaction; count and audit it."""
        now = now or clock.now()
        outcome = BatchOutcome()
        if prepared:
            registry = _lookup(session, sorted({p.personal_id for p in prepared}))
            self._upsert(session, prepared, _link(prepared, registry), now, outcome)
        _count(session, source_id=source_id, outcome=outcome, rejected=rejected)
        record_event(db_session=session, actor=actor, action="coordination.batch",
                     subject_type="data_source", subject_id=source_id,
                     details={"channel": channel, "written": outcome.written,
                              "unchanged": outcome.unchanged, "rejected": rejected,
                              **{state: n for state, n in sorted(outcome.states.items())},
                              "credentials_revoked": outcome.credentials_revoked})
        return outcome

    def _copy(self, session: Session, table: str, payload: bytes) -> None:
        cursor = session.connection().connection.driver_connection.cursor()  # type: ignore
        with cursor.copy(f"COPY {table} ({', '.join(WRITTEN)}) FROM STDIN") as copy:
            copy.write(payload)

    def _upsert(self, session: Session, prepared: Sequence[Linkable],
                links: list[tuple[int | None, str, str | None]], now: dt.datetime,
                outcome: BatchOutcome) -> None:
        connection = session.connection()
        postgres = connection.dialect.name == "postgresql"
        payload = _copy_payload(prepared, links, now) if postgres else b""
        if postgres and self.direct:
            savepoint = connection.begin_nested()
            try:
                self._copy(session, "source_records", payload)
            except psycopg.errors.UniqueViolation:
                savepoint.rollback()
                self.direct = False
            else:
                savepoint.commit()
                outcome.written = len(prepared)
                outcome.states.update(state for _, state, _ in links)
                return
        _STAGE.create(connection, checkfirst=True)
        connection.execute(_STAGE.delete())  # see identity.registry.importer: savepoints
        if postgres:
            self._copy(session, "source_record_stage", payload)
        else:
            connection.execute(_STAGE.insert(), [
                dict(zip(WRITTEN, (*link, *(item.values or ()), now, now)))
                for item, link in zip(prepared, links)])
        returned = connection.execute(_upsert_statement(connection.dialect.name)).all()
        outcome.written = len(returned)
        outcome.unchanged = len(prepared) - len(returned)
        outcome.states.update(state for _, state, _ in returned)
        ended = [record_id for record_id, state, status in returned
                 if state != "linked" or status != "valid"]
        if ended:
            outcome.credentials_revoked = revoke_document_credentials(
                session, record_ids=ended, now=clock.now())


def _upsert_statement(dialect: str) -> Any:
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    target: sa.Table = SourceRecord.__table__  # type: ignore[assignment]
    statement = insert(target).from_select(
        list(WRITTEN), sa.select(*(_STAGE.c[name] for name in WRITTEN)).where(sa.true()))
    updated: dict[str, Any] = {name: statement.excluded[name] for name in WRITTEN
                               if name not in ("source_id", "record_key", "received_at")}
    updated.update(resolution=None, resolved_at=None, resolved_by=None)
    return statement.on_conflict_do_update(
        index_elements=["source_id", "record_key"], set_=updated,
        where=target.c.content_hash != statement.excluded.content_hash,
    ).returning(target.c.id, target.c.link_state, target.c.status)


def revoke_document_credentials(session: Session, *, record_ids: Sequence[int],
                                now: dt.datetime) -> int:
    """Revoke the live credentials issued for these records; how many were revoked."""
    issued = sa.select(DocumentCredential.credential_id).where(
        DocumentCredential.record_id.in_(record_ids))
    result = session.execute(
        sa.update(Credential).where(Credential.id.in_(issued), Credential.revoked_at.is_(None))
        .values(revoked_at=now, revoked_by="source").execution_options(synchronize_session=False))
    return int(result.rowcount)  # type: ignore[attr-defined]


def _count(session: Session, *, source_id: int, outcome: BatchOutcome, rejected: int) -> None:
    """Add the batch to the source's counts of the day (Vietnam's date), one upsert."""
    if not outcome.written and not rejected:
        return
    values = {"source_id": source_id, "day": clock.today(),
              "received": outcome.written + rejected, "linked": outcome.states["linked"],
              "mismatched": outcome.states["mismatch"],
              "unknown_id": outcome.states["unknown_id"], "rejected": rejected}
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    table: sa.Table = SourceDailyCount.__table__  # type: ignore[assignment]
    statement = insert(table).values(**values)
    session.execute(statement.on_conflict_do_update(
        index_elements=["source_id", "day"],
        set_={name: table.c[name] + statement.excluded[name]
              for name in ("received", "linked", "mismatched", "unknown_id", "rejected")}))
