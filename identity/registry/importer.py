"""Streaming import of the population registry from CSV files.

The file goes through the batch-import engine (:mod:`identity.batch_import`:
chunks of whole lines, checking in worker processes for big files, one
transaction a batch, progress, the report of rejected rows); this module
says how a registry row is checked and how a batch is written.

Each chunk is checked row by row against the registry's rules
(:func:`identity.registry.service.check_citizen`), phones are encrypted, and
the valid rows are written as one batch, in one transaction:

- PostgreSQL: ``COPY`` straight into ``citizens``; if a personal id already
  exists (a re-import), the batch goes instead through a temporary staging
  table and one ``INSERT ... SELECT ... ON CONFLICT (id) DO UPDATE``, and the
  rest of the run stays on that path (a citizen's id comes from their
  personal id, :func:`identity.registry.partitions.citizen_id`: a conflict
  on the id is one on the personal id);
- SQLite: the staging table and the same upsert.

Rows written before migration 0018 keep their ids (the legacy ones): when
the registry holds any, a staged batch first updates those of its personal
ids that are legacy rows, and leaves them out of the upsert.

The batch's audit event and the run's counters commit in the same
transaction, so a batch is written whole or not at all, whatever happens to
the file or the database. Rejected rows go to a report CSV with their line
number, reason code, field and message. A personal id that appears twice in
one file is imported once; the later row is rejected as ``row.duplicate``.
A run that fails is not resumed: importing the file again upserts every row.

Records are one per line: a field may be quoted, but no registry field may
hold a line break, and a record spread over several lines is rejected.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import psycopg
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from identity import batch_import, clock
from identity.audit.service import Actor, record_event
from identity.batch_import import Begun, Checked, Chunk, Position, RunSummary
from identity.database import UTCDateTime
from identity.errors import DomainError
from identity.protection import Protector
from identity.registry.errors import ImportFileError
from identity.registry.models import Citizen, ImportRun
from identity.registry.partitions import NEW_IDS, citizen_ids
from identity.registry.service import CitizenData, check_citizen, protect_phone

REQUIRED_COLUMNS = ("personal_id", "full_name", "date_of_birth", "gender", "phone",
                    "province_code", "commune_code", "address", "household_id",
                    "relation_to_head")
OPTIONAL_COLUMNS = ("nationality", "ethnicity", "place_of_origin")
#: The longest a field may be; anything longer is rejected without being parsed further.
MAX_FIELD_CHARS = 4096
_SURROGATES = re.compile("[\udc80-\udcff]")

#: Columns of ``citizens`` that an import writes, in COPY and staging-table order.
WRITTEN = ("id", "personal_id", "full_name", "name_key", "date_of_birth", "gender", "nationality",
           "ethnicity", "place_of_origin", "province_code", "commune_code", "address",
           "phone_encrypted", "phone_hash", "household_id", "relation_to_head",
           "import_run_id", "created_at", "updated_at")

_stage_metadata = sa.MetaData()
_STAGE = sa.Table(
    "citizen_import_stage", _stage_metadata,
    *(sa.Column(c.name, UTCDateTime if c.name.endswith("_at") else c.type)
      for c in Citizen.__table__.columns if c.name in WRITTEN),
    prefixes=["TEMPORARY"],
    postgresql_on_commit="DELETE ROWS",
)


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
                *(_SURROGATES.sub("\ufffd", v) for v in self.values)]


@dataclass
class ImportSummary(RunSummary):
    """The outcome of one import run."""

    rows_imported: int = 0
    rows_rejected: int = 0


@dataclass
class _Checked(Checked):
    """A chunk after checking: what to write and what was refused."""

    ids: list[str]
    lines: list[int]
    payload: bytes | None
    values: list[tuple[Any, ...]] | None


@dataclass
class _Context:
    """Everything a worker needs to check chunks (picklable)."""

    keys: dict[int, bytes]
    lookup_key: bytes
    header: list[str]
    run_id: int
    today: dt.date
    copy_text: bool


# --- checking (runs in worker processes for big files) ---------------------------------

def _copy_text(value: str) -> str:
    return value.replace("\\", "\\\\") if "\\" in value else value


def _row_values(data: CitizenData, phone: tuple[bytes | None, bytes | None], run_id: int,
                now: dt.datetime) -> tuple[Any, ...]:
    """The values written for one citizen, in the order of :data:`WRITTEN` but the id."""
    return (data.personal_id, data.full_name,
            data.name_key, data.date_of_birth, data.gender, data.nationality, data.ethnicity,
            data.place_of_origin, data.province_code, data.commune_code, data.address, *phone,
            data.household_id, data.relation_to_head, run_id, now, now)


def _copy_line(data: CitizenData, encrypted: bytes | None, digest: bytes | None,
               tail: str) -> str:
    """One row of COPY text format, in the order of :data:`WRITTEN` from the tab after the
    id; ``tail`` holds the last three (run, created, updated). Checked text holds no tab,
    newline or control character, so only backslashes need escaping.
    """
    return "\t" + "\t".join((
        data.personal_id, data.full_name,
        data.name_key, data.date_of_birth.isoformat(), data.gender, data.nationality,
        _copy_text(data.ethnicity), _copy_text(data.place_of_origin), data.province_code,
        data.commune_code, _copy_text(data.address),
        "\\N" if encrypted is None else "\\\\x" + encrypted.hex(),
        "\\N" if digest is None else "\\\\x" + digest.hex(),
        data.household_id or "\\N", data.relation_to_head or "\\N")) + tail


def _check_chunk(context: _Context, chunk: Chunk) -> _Checked:
    """Check every record of a chunk; format the valid ones for writing."""
    protector = Protector(keys=context.keys, lookup_key=context.lookup_key)
    index = {name: context.header.index(name)
             for name in (*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS) if name in context.header}
    width = len(context.header)
    names = list(index)
    fields = operator.itemgetter(*index.values())
    text = b"".join(chunk.lines).decode("utf-8", "surrogateescape")
    # Bytes that are not UTF-8 became lone surrogates: look for them row by row only if any.
    check_encoding = _SURROGATES.search(text) is not None
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    ids: list[str] = []
    lines: list[int] = []
    seen: set[str] = set()
    copy_lines: list[str] = []
    values: list[tuple[Any, ...]] = []
    rejections: list[Rejection] = []
    now = chunk.read_at
    stamp = now.isoformat(sep=" ")
    tail = f"\t{context.run_id}\t{stamp}\t{stamp}\n"
    rows = 0
    last_line = 0
    today, copy_text = context.today, context.copy_text
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            rows += 1
            line = chunk.first_line + reader.line_num - 1
            last_line = reader.line_num
            rejections.append(Rejection(line, "row.malformed", None,
                                        f"Not a CSV record: {exc}", []))
            continue
        rows += 1
        line = chunk.first_line + last_line
        spread = reader.line_num - last_line
        last_line = reader.line_num
        if spread != 1:
            rejections.append(Rejection(line, "row.multiline", None,
                                        "A record must stand on one line.", []))
            continue
        if len(row) != width:
            if row == [] or row == [""]:
                rows -= 1  # a blank line (e.g. at the end of the file) is not a record
                continue
            rejections.append(Rejection(line, "row.columns", None,
                                        f"Expected {width} fields, found {len(row)}.", row))
            continue
        if sum(map(len, row)) > MAX_FIELD_CHARS and max(map(len, row)) > MAX_FIELD_CHARS:
            rejections.append(Rejection(line, "row.too_large", None,
                                        f"A field is longer than {MAX_FIELD_CHARS} characters.",
                                        []))
            continue
        if check_encoding and _SURROGATES.search("\x1f".join(row)):
            rejections.append(Rejection(line, "row.encoding", None,
                                        "The row is not valid UTF-8.", row))
            continue
        try:
            data = check_citizen(**dict(zip(names, fields(row))), today=today)
        except DomainError as exc:
            rejections.append(Rejection(line, exc.code, exc.field, exc.message, row))
            continue
        if data.personal_id in seen:
            rejections.append(Rejection(line, "row.duplicate", "personal_id",
                                        "This personal id appears earlier in the same file.", row))
            continue
        seen.add(data.personal_id)
        encrypted, digest = protect_phone(protector=protector, personal_id=data.personal_id,
                                          phone=data.phone)
        ids.append(data.personal_id)
        lines.append(line)
        if copy_text:
            copy_lines.append(_copy_line(data, encrypted, digest, tail))
        else:
            values.append(_row_values(data, (encrypted, digest), context.run_id, now))
    citizens = citizen_ids(ids, context.lookup_key)
    return _Checked(rows=rows, ids=ids, lines=lines,
                    # In the order of their ids (13 digits each): a partition's rows together,
                    # each index's entries in the order of its keys.
                    payload="".join(sorted(f"{citizen}{line}" for citizen, line in zip(
                        citizens, copy_lines))).encode() if context.copy_text else None,
                    values=None if context.copy_text else [
                        (citizen, *row) for citizen, row in zip(citizens, values)],
                    rejections=rejections)


# --- writing (runs in the calling process) -----------------------------------------------

class _BatchWriter:
    """Writes checked chunks, one transaction each."""

    def __init__(self, session_factory: Callable[[], Session], summary: ImportSummary,
                 actor: Actor) -> None:
        self._session_factory = session_factory
        self._summary = summary
        self._run_id = summary.run_id
        self._actor = actor
        self._direct = True  # COPY straight into citizens until a personal id already exists
        self._legacy: bool | None = None  # whether citizens holds rows of legacy ids

    def write(self, checked: _Checked, position: Position) -> list[Rejection]:
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

    def _upsert(self, session: Session, checked: _Checked) -> list[Rejection]:
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


# --- the run ---

def import_citizens(*, session_factory: Callable[[], Session], path: Path, protector: Protector,
                    actor: Actor, batch_size: int = 10_000, report_path: Path | None = None,
                    workers: int | None = None,
                    progress: Callable[[int, int], None] | None = None) -> ImportSummary:
    """Import a registry CSV file; see the module docstring for the guarantees.

    ``workers`` is the number of checking processes (default: none for files
    under 8 MiB, else one per core). ``progress(bytes_done, rows_done)`` is
    called after each batch. Raises :class:`ImportFileError` before writing
    anything when the file is not a readable registry CSV (no file, empty,
    not UTF-8, missing columns).
    """
    path = Path(path)
    if not path.is_file():
        raise ImportFileError(f"{path} is not a file")
    report_path = batch_import.report_path_for(path, report_path)

    def begin(header_line: bytes) -> Begun[ImportSummary, _Checked]:
        header = batch_import.csv_header(header_line, REQUIRED_COLUMNS, ImportFileError)
        with session_factory() as session, session.begin():
            run = ImportRun(file_name=path.name[:255], report_path=str(report_path))
            session.add(run)
            session.flush()
            run_id = run.id
            dialect = session.connection().dialect.name
            record_event(db_session=session, actor=actor, action="registry.import_started",
                         subject_type="registry_import_run", subject_id=run_id,
                         details={"file_name": path.name[:255]})
        summary = ImportSummary(run_id=run_id)
        context = _Context(keys=protector.keys, lookup_key=protector.lookup_key, header=header,
                           run_id=run_id, today=clock.today(),
                           copy_text=dialect == "postgresql")
        return Begun(summary, context, _BatchWriter(session_factory, summary, actor).write,
                     report_columns=["line", "code", "field", "message", *header])

    # Forked checkers: they only parse, check and encrypt chunks (no connection, no thread,
    # no file of the parent's is used in them) and end with os._exit, so nothing the parent
    # holds is touched twice; and a spawned checker would first import the application
    # again, a tenth of a short import's time on two cores.
    return batch_import.run_file(path=path, header=True, begin=begin, check=_check_chunk,
                                 finish=partial(_finish, session_factory, actor),
                                 report_path=report_path, batch_size=batch_size,
                                 workers=workers, progress=progress, start_method="fork")


def _finish(session_factory: Callable[[], Session], actor: Actor, summary: ImportSummary,
            error: str | None) -> None:
    """Record the run's end: status, time, the file's digest, and its audit event."""
    with session_factory() as session, session.begin():
        run = session.get(ImportRun, summary.run_id, with_for_update=True)
        assert run is not None
        run.status = summary.status
        run.finished_at = clock.now()
        run.file_sha256 = summary.file_sha256
        run.rows_read = summary.rows_read
        run.error = error
        record_event(db_session=session, actor=actor, action=f"registry.import_{summary.status}",
                     subject_type="registry_import_run", subject_id=summary.run_id,
                     details={"rows_read": summary.rows_read,
                              "imported": summary.rows_imported,
                              "rejected": summary.rows_rejected,
                              "file_sha256": summary.file_sha256, "error": error})
