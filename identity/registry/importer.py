"""Streaming import of the population registry from CSV files.

The file is read row by row (a 10-million-row file needs the memory of one
batch, not of the file), every row goes through the registry's rules
(:func:`identity.registry.service.check_citizen`), and valid rows are written
in batches, one transaction each:

1. the batch is loaded into a temporary staging table, with PostgreSQL
   ``COPY`` (SQLite: one ``executemany``);
2. one ``INSERT ... SELECT ... ON CONFLICT (personal_id) DO UPDATE`` upserts
   it into ``citizens``, so a re-import updates instead of failing;
3. the batch's audit event and the run's counters are written in the same
   transaction.

A batch is therefore written whole or not at all, whatever happens to the
file or the database. Rejected rows go to a report CSV with their line
number, reason code, field and message. A personal id that appears twice in
one file is imported once: the later row is rejected as ``row.duplicate``.

Validation runs in the calling thread while the previous batch is written
by a writer thread, so on two cores Python and the database work at once.
"""
from __future__ import annotations

import csv
import hashlib
import io
import os
import re
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from identity import clock
from identity.audit.service import Actor, record_event
from identity.database import UTCDateTime
from identity.errors import DomainError
from identity.protection import Protector
from identity.registry.errors import ImportFileError
from identity.registry.models import Citizen, ImportRun
from identity.registry.service import check_citizen, protect_phone

REQUIRED_COLUMNS = ("personal_id", "full_name", "date_of_birth", "gender", "phone",
                    "province_code", "commune_code", "address", "household_id",
                    "relation_to_head")
OPTIONAL_COLUMNS = ("nationality", "ethnicity", "place_of_origin")
#: The longest a row may be; anything longer is rejected as malformed, not read into memory.
MAX_FIELD_CHARS = 4096
_SURROGATES = re.compile("[\udc80-\udcff]")

#: Columns of ``citizens`` that an import writes, in staging-table order.
WRITTEN = ("personal_id", "full_name", "name_key", "date_of_birth", "gender", "nationality",
           "ethnicity", "place_of_origin", "province_code", "commune_code", "address",
           "phone_encrypted", "phone_hash", "household_id", "relation_to_head",
           "import_run_id", "created_at", "updated_at")

_stage_metadata = sa.MetaData()
_STAGE = sa.Table(
    "citizen_import_stage", _stage_metadata,
    *(sa.Column(c.name, c.type) if c.name not in ("created_at", "updated_at")
      else sa.Column(c.name, UTCDateTime) for c in Citizen.__table__.columns if c.name in WRITTEN),
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


@dataclass
class ImportSummary:
    """The outcome of one import run."""

    run_id: int
    status: str = "running"
    rows_read: int = 0
    rows_imported: int = 0
    rows_rejected: int = 0
    batches: int = 0
    report_path: str | None = None
    file_sha256: str | None = None
    rejection_codes: dict[str, int] = field(default_factory=dict)


class _HashingReader(io.RawIOBase):
    """A raw binary reader that counts and hashes the bytes it passes on."""

    def __init__(self, raw: IO[bytes]) -> None:
        self._raw = raw
        self.bytes_read = 0
        self.sha256 = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = self._raw.readinto(buffer)  # type: ignore[attr-defined]
        if n:
            self.bytes_read += n
            self.sha256.update(memoryview(buffer)[:n])
        return n or 0


class _ReportWriter:
    """Writes rejected rows to a CSV only readable by its owner (it holds personal data)."""

    def __init__(self, path: Path, header: list[str]) -> None:
        self.path = path
        self._header = header
        self._fh: IO[str] | None = None
        self._writer: Any = None

    def write(self, rejection: Rejection) -> None:
        if self._fh is None:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            self._fh = open(fd, "w", encoding="utf-8", newline="")
            self._writer = csv.writer(self._fh)
            self._writer.writerow(["line", "code", "field", "message", *self._header])
        values = [_SURROGATES.sub("\ufffd", v) for v in rejection.values]
        self._writer.writerow([rejection.line, rejection.code, rejection.field or "",
                               rejection.message, *values])

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()


def _rows(text: IO[str]) -> Iterator[tuple[int, list[str] | None, str | None]]:
    """(line, row, error) for every record; a malformed record gives its error and no row."""
    reader = csv.reader(text, strict=True)
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield reader.line_num, None, str(exc)
            continue
        yield reader.line_num, row, None


class _BatchWriter:
    """Writes batches of checked rows, one transaction each, in a writer thread."""

    def __init__(self, session_factory: Callable[[], Session], run_id: int, actor: Actor) -> None:
        self._session_factory = session_factory
        self._run_id = run_id
        self._actor = actor

    def write(self, batch: list[tuple[Any, ...]], lines: list[int],
              rejections: list[Rejection], rows_read: int) -> list[Rejection]:
        """Write one batch and its rejections' count; returns rows refused as duplicates."""
        with self._session_factory() as session, session.begin():
            connection = session.connection()
            _STAGE.create(connection, checkfirst=True)
            if connection.dialect.name == "sqlite":
                connection.execute(_STAGE.delete())
            duplicates = self._upsert(session, batch, lines)
            rejected = rejections + duplicates
            imported = len(batch) - len(duplicates)
            run = session.get(ImportRun, self._run_id, with_for_update=True)
            assert run is not None
            run.rows_read = rows_read
            run.rows_imported += imported
            run.rows_rejected += len(rejected)
            run.batches_committed += 1
            record_event(db_session=session, actor=self._actor, action="registry.import_batch",
                         subject_type="registry_import_run", subject_id=self._run_id,
                         details={"batch": run.batches_committed, "imported": imported,
                                  "rejected": len(rejected), "rows_read": rows_read})
        return duplicates

    def _load(self, session: Session, batch: list[tuple[Any, ...]]) -> None:
        connection = session.connection()
        if connection.dialect.name == "postgresql":
            cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
            with cursor.copy(f"COPY citizen_import_stage ({', '.join(WRITTEN)}) FROM STDIN") as cp:
                for row in batch:
                    cp.write_row(row)
        else:
            connection.execute(_STAGE.insert(), [dict(zip(WRITTEN, row)) for row in batch])

    def _upsert_statement(self, dialect: str) -> Any:
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        target = Citizen.__table__
        statement = insert(target).from_select(
            list(WRITTEN), sa.select(*(_STAGE.c[name] for name in WRITTEN)).where(sa.true()))
        updated = {name: statement.excluded[name] for name in WRITTEN
                   if name not in ("personal_id", "created_at")}
        # A row this same run already wrote is a duplicate inside the file: leave it alone,
        # so the affected-row count tells there was one.
        return statement.on_conflict_do_update(
            index_elements=["personal_id"], set_=updated,
            where=sa.or_(target.c.import_run_id.is_(None),
                         target.c.import_run_id != statement.excluded.import_run_id))

    def _upsert(self, session: Session, batch: list[tuple[Any, ...]],
                lines: list[int]) -> list[Rejection]:
        if not batch:
            return []
        connection = session.connection()
        self._load(session, batch)
        savepoint = connection.begin_nested()
        written = connection.execute(self._upsert_statement(connection.dialect.name)).rowcount
        if written == len(batch):
            savepoint.commit()
            return []
        # Rare path: some ids were already written by an earlier batch of this same file.
        savepoint.rollback()
        seen = set(session.scalars(
            sa.select(Citizen.personal_id).join(_STAGE, _STAGE.c.personal_id == Citizen.personal_id)
            .where(Citizen.import_run_id == self._run_id)))
        connection.execute(_STAGE.delete().where(_STAGE.c.personal_id.in_(seen)))
        connection.execute(self._upsert_statement(connection.dialect.name))
        return [Rejection(line, "row.duplicate", "personal_id",
                          "This personal id appears earlier in the same file.", [])
                for line, row in zip(lines, batch) if row[0] in seen]


def import_citizens(*, session_factory: Callable[[], Session], path: Path, protector: Protector,
                    actor: Actor, batch_size: int = 10_000, report_path: Path | None = None,
                    progress: Callable[[int, int], None] | None = None) -> ImportSummary:
    """Import a registry CSV file; see the module docstring for the guarantees.

    ``progress(bytes_read, rows_read)`` is called as the file is read. Raises
    :class:`ImportFileError` before writing anything when the file is not a
    readable registry CSV (no file, not UTF-8, missing columns).
    """
    path = Path(path)
    if not path.is_file():
        raise ImportFileError(f"{path} is not a file")
    report_path = Path(report_path or path.with_name(path.name + ".rejected.csv"))
    with path.open("rb") as raw:
        hashing = _HashingReader(raw)
        text = io.TextIOWrapper(io.BufferedReader(hashing, 1 << 20), encoding="utf-8-sig",
                                errors="surrogateescape", newline="")
        rows = _rows(text)
        header = _read_header(rows)
        with session_factory() as session, session.begin():
            run = ImportRun(file_name=path.name[:255], report_path=str(report_path))
            session.add(run)
            session.flush()
            run_id = run.id
            record_event(db_session=session, actor=actor, action="registry.import_started",
                         subject_type="registry_import_run", subject_id=run_id,
                         details={"file_name": path.name[:255]})
        summary = ImportSummary(run_id=run_id, report_path=str(report_path))
        report = _ReportWriter(report_path, header)
        try:
            _run(rows, header, summary, report, protector=protector,
                 writer=_BatchWriter(session_factory, run_id, actor), batch_size=batch_size,
                 progress=(lambda n: progress(hashing.bytes_read, n)) if progress else None)
            summary.status = "completed"
            summary.file_sha256 = hashing.sha256.hexdigest()
        except BaseException as exc:
            summary.status = "failed"
            _finish(session_factory, summary, actor, error=f"{type(exc).__name__}")
            raise
        finally:
            report.close()
    _finish(session_factory, summary, actor, error=None)
    if summary.rows_rejected == 0:
        report_path.unlink(missing_ok=True)
        summary.report_path = None
    return summary


def _read_header(rows: Iterator[tuple[int, list[str] | None, str | None]]) -> list[str]:
    try:
        _line, header, error = next(rows)
    except StopIteration:
        raise ImportFileError("the file is empty: a header row is required") from None
    if header is None:
        raise ImportFileError(f"the header row is not CSV: {error}")
    header = [h.strip() for h in header]
    if any(_SURROGATES.search(h) for h in header):
        raise ImportFileError("the file is not UTF-8")
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise ImportFileError(f"the header lacks the columns: {', '.join(missing)}")
    if len(set(header)) != len(header):
        raise ImportFileError("the header names a column twice")
    return header


def _run(rows: Iterator[tuple[int, list[str] | None, str | None]], header: list[str],
         summary: ImportSummary, report: _ReportWriter, *, protector: Protector,
         writer: _BatchWriter, batch_size: int, progress: Callable[[int], None] | None) -> None:
    index = {name: header.index(name) for name in (*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS)
             if name in header}
    optional = {name: index[name] for name in OPTIONAL_COLUMNS if name in index}
    width = len(header)
    today = clock.today()
    batch: list[tuple[Any, ...]] = []
    lines: list[int] = []
    in_batch: set[str] = set()
    rejections: list[Rejection] = []
    pending: Future[list[Rejection]] | None = None

    def reject(rejection: Rejection) -> None:
        rejections.append(rejection)
        report.write(rejection)
        summary.rejection_codes[rejection.code] = summary.rejection_codes.get(rejection.code, 0) + 1

    def collect(future: Future[list[Rejection]] | None, size: int, refused: int) -> None:
        if future is None:
            return
        duplicates = future.result()
        for duplicate in duplicates:
            report.write(duplicate)
        if duplicates:
            summary.rejection_codes["row.duplicate"] = (
                summary.rejection_codes.get("row.duplicate", 0) + len(duplicates))
        summary.rows_imported += size - len(duplicates)
        summary.rows_rejected += refused + len(duplicates)
        summary.batches += 1

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="registry-import") as executor:
        pending_size = pending_refused = 0
        for line, row, error in rows:
            summary.rows_read += 1
            if row is None:
                reject(Rejection(line, "row.malformed", None, f"Not a CSV record: {error}", []))
            elif len(row) != width:
                reject(Rejection(line, "row.columns", None,
                                 f"Expected {width} fields, found {len(row)}.", row))
            elif any(len(value) > MAX_FIELD_CHARS for value in row):
                reject(Rejection(line, "row.too_large", None,
                                 f"A field is longer than {MAX_FIELD_CHARS} characters.", []))
            elif _SURROGATES.search("\x1f".join(row)):
                reject(Rejection(line, "row.encoding", None, "The row is not valid UTF-8.", row))
            else:
                try:
                    data = check_citizen(
                        personal_id=row[index["personal_id"]], full_name=row[index["full_name"]],
                        date_of_birth=row[index["date_of_birth"]], gender=row[index["gender"]],
                        province_code=row[index["province_code"]],
                        commune_code=row[index["commune_code"]], address=row[index["address"]],
                        phone=row[index["phone"]], household_id=row[index["household_id"]],
                        relation_to_head=row[index["relation_to_head"]],
                        today=today, **{name: row[i] for name, i in optional.items()})
                except DomainError as exc:
                    reject(Rejection(line, exc.code, exc.field, exc.message, row))
                else:
                    if data.personal_id in in_batch:
                        reject(Rejection(line, "row.duplicate", "personal_id",
                                         "This personal id appears earlier in the same file.", row))
                    else:
                        in_batch.add(data.personal_id)
                        batch.append(_values(data, protector, summary.run_id))
                        lines.append(line)
            if progress is not None and summary.rows_read % 1000 == 0:
                progress(summary.rows_read)
            if len(batch) >= batch_size:
                collect(pending, pending_size, pending_refused)
                pending_size, pending_refused = len(batch), len(rejections)
                pending = executor.submit(writer.write, batch, lines, rejections, summary.rows_read)
                batch, lines, in_batch, rejections = [], [], set(), []
        collect(pending, pending_size, pending_refused)
        if batch or rejections:
            last = executor.submit(writer.write, batch, lines, rejections, summary.rows_read)
            collect(last, len(batch), len(rejections))
    if progress is not None:
        progress(summary.rows_read)


def _values(data: Any, protector: Protector, run_id: int) -> tuple[Any, ...]:
    phone_encrypted, phone_hash = protect_phone(protector=protector,
                                                personal_id=data.personal_id, phone=data.phone)
    now = clock.now()
    return (data.personal_id, data.full_name, data.name_key, data.date_of_birth, data.gender,
            data.nationality, data.ethnicity, data.place_of_origin, data.province_code,
            data.commune_code, data.address, phone_encrypted, phone_hash, data.household_id,
            data.relation_to_head, run_id, now, now)


def _finish(session_factory: Callable[[], Session], summary: ImportSummary, actor: Actor,
            *, error: str | None) -> None:
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
