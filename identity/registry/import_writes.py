"""How the registry import writes a checked batch (:mod:`identity.registry.importer` checks
the rows and runs the import): the columns it writes, one transaction a batch with its audit
event and the run's counters, ``COPY`` straight into ``citizens`` until a personal id already
exists, then a temporary staging table and one upsert on ``id``; rows of legacy ids (written
before migration 0018) updated in place.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from identity.audit.service import Actor, record_event
from identity.batch_import import Checked, Position, RunSummary
from identity.database import staging_table
from identity.registry.models import Citizen, ImportRun
from identity.registry.partitions import NEW_IDS

#: Lone surrogates: the bytes of a row that were not UTF-8, read with ``surrogateescape``.
SURROGATES = re.compile("[\udc80-\udcff]")

#: Columns of ``citizens`` that an import writes, in COPY and staging-table order.
WRITTEN = ("id", "personal_id", "full_name", "name_key", "date_of_birth", "gender", "nationality",
           "ethnicity", "place_of_origin", "province_code", "commune_code", "address",
           "phone_encrypted", "phone_hash", "household_id", "relation_to_head",
           "import_run_id", "created_at", "updated_at")

_STAGE = staging_table("citizen_import_stage", Citizen.__table__, WRITTEN)


@dataclass
class Rejection:
    """A row that was not imported, and why."""

    line: int
    code: str
    field: str | None
    message: str
    values: list[str]

    def cells(self) -> list[Any]:
        """The report's row: line, code, field, message and the row's fields as read."""
        return [self.line, self.code, self.field or "", self.message,
                *(SURROGATES.sub("\ufffd", v) for v in self.values)]


@dataclass
class ImportSummary(RunSummary):
    """The outcome of one import run."""

    rows_imported: int = 0
    rows_rejected: int = 0


@dataclass
class CheckedChunk(Checked):
    """A chunk after checking: what to write and what was refused."""

    ids: list[str]
    lines: list[int]
    payload: bytes | None
    values: list[tuple[Any, ...]] | None


class BatchWriter:
    """Writes checked chunks, one transaction each."""

    def __init__(self, session_factory: Callable[[], Session], summary: ImportSummary,
                 actor: Actor) -> None:
        self._session_factory = session_factory
        self._summary = summary
        self._run_id = summary.run_id
        self._actor = actor
        self._direct = True  # COPY straight into citizens until a personal id already exists
        self._legacy: bool | None = None  # whether citizens holds rows of legacy ids

    def write(self, checked: CheckedChunk, position: Position) -> list[Rejection]:
        """Write one batch with its counters and audit event; returns the in-file duplicates."""
        rows_read = position.rows_read
        with self._session_factory() as session, session.begin():
            duplicates = self._upsert(session, checked) if checked.ids else []
            imported = len(checked.ids) - len(duplicates)
            rejected = len(checked.rejections) + len(duplicates)
            run = session.get(ImportRun, self._run_id, with_for_update=True)
            assert run is not None
            run.rows_read = rows_read
            run.rows_imported += imported
            run.rows_rejected += rejected
            run.batches_committed += 1
            record_event(db_session=session, actor=self._actor, action="registry.import_batch",
                         subject_type="registry_import_run", subject_id=self._run_id,
                         details={"batch": run.batches_committed, "imported": imported,
                                  "rejected": rejected, "rows_read": rows_read})
        self._summary.rows_imported += imported
        self._summary.rows_rejected += rejected
        return duplicates

    def _copy(self, session: Session, table: str, payload: bytes) -> None:
        cursor = session.connection().connection.driver_connection.cursor()  # type: ignore
        with cursor.copy(f"COPY {table} ({', '.join(WRITTEN)}) FROM STDIN") as copy:
            copy.write(payload)

    def _upsert(self, session: Session, checked: CheckedChunk) -> list[Rejection]:
        connection = session.connection()
        postgres = connection.dialect.name == "postgresql"
        if postgres and self._direct:
            savepoint = connection.begin_nested()
            try:
                self._copy(session, "citizens", checked.payload or b"")
            except psycopg.errors.UniqueViolation:
                savepoint.rollback()
                self._direct = False
            else:
                savepoint.commit()
                return []
        _STAGE.create(connection, checkfirst=True)
        # Empty it even on PostgreSQL (ON COMMIT DELETE ROWS): inside an enclosing transaction
        # a "commit" only releases a savepoint and would leave the last batch behind.
        connection.execute(_STAGE.delete())
        if postgres:
            self._copy(session, "citizen_import_stage", checked.payload or b"")
        else:
            connection.execute(_STAGE.insert(), [dict(zip(WRITTEN, row))
                                                 for row in checked.values or []])
        savepoint = connection.begin_nested()
        if self._write_stage(connection) == len(checked.ids):
            savepoint.commit()
            return []
        # Rare: some ids were already written by an earlier batch of this same file.
        savepoint.rollback()
        seen = set(session.scalars(
            sa.select(Citizen.personal_id)
            .join(_STAGE, _STAGE.c.personal_id == Citizen.personal_id)
            .where(Citizen.import_run_id == self._run_id)))
        connection.execute(_STAGE.delete().where(_STAGE.c.personal_id.in_(seen)))
        self._write_stage(connection)
        return [Rejection(line, "row.duplicate", "personal_id",
                          "This personal id appears earlier in the same file.", [])
                for line, personal_id in zip(checked.lines, checked.ids) if personal_id in seen]

    def _write_stage(self, connection: sa.Connection) -> int:
        """Write the staged rows; returns how many were written (a row this run wrote already
        is left alone, and not counted)."""
        written = 0
        if self._legacy is None:
            self._legacy = bool(connection.scalar(sa.select(sa.exists().where(
                _CITIZENS.c.id < NEW_IDS))))
        if self._legacy:
            written += connection.execute(_LEGACY_UPDATE).rowcount
            connection.execute(_STAGE.delete().where(sa.exists().where(
                _CITIZENS.c.personal_id == _STAGE.c.personal_id, _CITIZENS.c.id < NEW_IDS)))
        return written + connection.execute(_upsert_statement(connection.dialect.name)).rowcount


def _upsert_statement(dialect: str) -> Any:
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(_CITIZENS).from_select(
        list(WRITTEN), sa.select(*(_STAGE.c[name] for name in WRITTEN)).where(sa.true()))
    # A row this same run already wrote is a duplicate inside the file: leave it alone, so the
    # affected-row count shows there was one.
    return statement.on_conflict_do_update(
        index_elements=["id"], set_={name: statement.excluded[name] for name in _UPDATED},
        where=_not_this_run(statement.excluded.import_run_id))


_CITIZENS: sa.Table = Citizen.__table__  # type: ignore[assignment]
#: What a re-import changes of a citizen: all it writes but who they are and since when.
_UPDATED = tuple(name for name in WRITTEN if name not in ("id", "personal_id", "created_at"))


def _not_this_run(run_id: Any) -> sa.ColumnElement[bool]:
    return sa.or_(_CITIZENS.c.import_run_id.is_(None), _CITIZENS.c.import_run_id != run_id)


#: The staged rows of citizens written before migration 0018, which keep their (legacy) ids.
_LEGACY_UPDATE = (sa.update(_CITIZENS)
                  .where(_CITIZENS.c.personal_id == _STAGE.c.personal_id,
                         _CITIZENS.c.id < NEW_IDS, _not_this_run(_STAGE.c.import_run_id))
                  .values({name: _STAGE.c[name] for name in _UPDATED}))
