"""Streaming import of the population registry from CSV files.

Over 400 lines until issue 17 ("A house to live in") splits it into use-case modules along
its sections; it was kept whole here so that the identity-assurance changes stayed
reviewable in place.

The file is read in chunks of whole lines (a 10-million-row file needs the
memory of a few chunks, not of the file). Each chunk is checked row by row
against the registry's rules (:func:`identity.registry.service.check_citizen`),
phones are encrypted, and the valid rows are written as one batch, in one
transaction:

- PostgreSQL: ``COPY`` straight into ``citizens``; if a personal id already
  exists (a re-import), the batch goes instead through a temporary staging
  table and one ``INSERT ... SELECT ... ON CONFLICT (personal_id) DO UPDATE``,
  and the rest of the run stays on that path;
- SQLite: the staging table and the same upsert.

The batch's audit event and the run's counters commit in the same
transaction, so a batch is written whole or not at all, whatever happens to
the file or the database. Rejected rows go to a report CSV with their line
number, reason code, field and message. A personal id that appears twice in
one file is imported once; the later row is rejected as ``row.duplicate``.

Records are one per line: a field may be quoted, but no registry field may
hold a line break, and a record spread over several lines is rejected.

Checking is CPU work in Python; with ``workers`` > 0 it runs in that many
worker processes while the main process writes the previous batches, so on
two cores Python and PostgreSQL work at the same time.
"""
from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import multiprocessing
import operator
import os
import re
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import psycopg
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
from identity.registry.service import CitizenData, check_citizen, protect_phone

REQUIRED_COLUMNS = ("personal_id", "full_name", "date_of_birth", "gender", "phone",
                    "province_code", "commune_code", "address", "household_id",
                    "relation_to_head")
OPTIONAL_COLUMNS = ("nationality", "ethnicity", "place_of_origin")
#: The longest a field may be; anything longer is rejected without being parsed further.
MAX_FIELD_CHARS = 4096
#: Files smaller than this are checked in the calling process (no worker start-up cost).
WORKERS_FROM_BYTES = 8 * 1024 * 1024
_SURROGATES = re.compile("[\udc80-\udcff]")

#: Columns of ``citizens`` that an import writes, in COPY and staging-table order.
WRITTEN = ("personal_id", "full_name", "name_key", "date_of_birth", "gender", "nationality",
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


@dataclass
class _Chunk:
    first_line: int
    data: bytes


@dataclass
class _Checked:
    """A chunk after checking: what to write and what was refused."""

    size: int
    rows: int
    ids: list[str]
    lines: list[int]
    payload: bytes | None
    values: list[tuple[Any, ...]] | None
    rejections: list[Rejection]


@dataclass
class _Context:
    """Everything a worker needs to check chunks (picklable)."""

    keys: dict[int, bytes]
    lookup_key: bytes
    header: list[str]
    run_id: int
    today: dt.date
    copy_text: bool


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


# --- checking (runs in worker processes) -------------------------------------------------

_WORKER_CONTEXT: _Context | None = None


def _init_worker(context: _Context) -> None:
    global _WORKER_CONTEXT
    _WORKER_CONTEXT = context


def _check_in_worker(chunk: _Chunk, now: dt.datetime) -> _Checked:
    assert _WORKER_CONTEXT is not None
    return _check_chunk(_WORKER_CONTEXT, chunk, now)


def _copy_text(value: str) -> str:
    return value.replace("\\", "\\\\") if "\\" in value else value


def _row_values(data: CitizenData, phone: tuple[bytes | None, bytes | None], run_id: int,
                now: dt.datetime) -> tuple[Any, ...]:
    """The values written for one citizen, in the order of :data:`WRITTEN`."""
    return (data.personal_id, data.full_name, data.name_key, data.date_of_birth, data.gender,
            data.nationality, data.ethnicity, data.place_of_origin, data.province_code,
            data.commune_code, data.address, *phone, data.household_id, data.relation_to_head,
            run_id, now, now)


def _copy_line(values: tuple[Any, ...], tail: str) -> str:
    """One row of COPY text format from :func:`_row_values`; ``tail`` holds the last three.

    Positional on purpose: an import formats millions of rows. Checked text holds no tab,
    newline or control character, so only backslashes need escaping.
    """
    (personal_id, full_name, key, birth, gender, nationality, ethnicity, origin, province,
     commune, address, encrypted, digest, household, relation) = values[:15]
    return "\t".join((
        personal_id, full_name, key, birth.isoformat(), gender, nationality,
        _copy_text(ethnicity), _copy_text(origin), province, commune, _copy_text(address),
        "\\N" if encrypted is None else "\\\\x" + encrypted.hex(),
        "\\N" if digest is None else "\\\\x" + digest.hex(),
        household or "\\N", relation or "\\N")) + tail


def _check_chunk(context: _Context, chunk: _Chunk, now: dt.datetime) -> _Checked:
    """Check every record of a chunk; format the valid ones for writing."""
    protector = Protector(keys=context.keys, lookup_key=context.lookup_key)
    index = {name: context.header.index(name)
             for name in (*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS) if name in context.header}
    width = len(context.header)
    names = list(index)
    fields = operator.itemgetter(*index.values())
    text = chunk.data.decode("utf-8", "surrogateescape")
    # Bytes that are not UTF-8 became lone surrogates: look for them row by row only if any.
    check_encoding = _SURROGATES.search(text) is not None
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    ids: list[str] = []
    lines: list[int] = []
    seen: set[str] = set()
    copy_lines: list[str] = []
    values: list[tuple[Any, ...]] = []
    rejections: list[Rejection] = []
    stamp = now.isoformat(sep=" ")
    tail = f"\t{context.run_id}\t{stamp}\t{stamp}\n"
    rows = 0
    last_line = 0
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
            data = check_citizen(**dict(zip(names, fields(row))), today=context.today)
        except DomainError as exc:
            rejections.append(Rejection(line, exc.code, exc.field, exc.message, row))
            continue
        if data.personal_id in seen:
            rejections.append(Rejection(line, "row.duplicate", "personal_id",
                                        "This personal id appears earlier in the same file.", row))
            continue
        seen.add(data.personal_id)
        phone = protect_phone(protector=protector, personal_id=data.personal_id, phone=data.phone)
        ids.append(data.personal_id)
        lines.append(line)
        row_values = _row_values(data, phone, context.run_id, now)
        if context.copy_text:
            copy_lines.append(_copy_line(row_values, tail))
        else:
            values.append(row_values)
    return _Checked(size=len(chunk.data), rows=rows, ids=ids, lines=lines,
                    payload="".join(copy_lines).encode() if context.copy_text else None,
                    values=None if context.copy_text else values, rejections=rejections)


# --- writing (runs in the calling process) -----------------------------------------------

class _BatchWriter:
    """Writes checked chunks, one transaction each."""

    def __init__(self, session_factory: Callable[[], Session], run_id: int, actor: Actor) -> None:
        self._session_factory = session_factory
        self._run_id = run_id
        self._actor = actor
        self._direct = True  # COPY straight into citizens until a personal id already exists

    def write(self, checked: _Checked, rows_read: int) -> list[Rejection]:
        """Write one batch with its counters and audit event; returns the in-file duplicates."""
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
        written = connection.execute(self._upsert_statement(connection.dialect.name)).rowcount
        if written == len(checked.ids):
            savepoint.commit()
            return []
        # Rare: some ids were already written by an earlier batch of this same file.
        savepoint.rollback()
        seen = set(session.scalars(
            sa.select(Citizen.personal_id)
            .join(_STAGE, _STAGE.c.personal_id == Citizen.personal_id)
            .where(Citizen.import_run_id == self._run_id)))
        connection.execute(_STAGE.delete().where(_STAGE.c.personal_id.in_(seen)))
        connection.execute(self._upsert_statement(connection.dialect.name))
        return [Rejection(line, "row.duplicate", "personal_id",
                          "This personal id appears earlier in the same file.", [])
                for line, personal_id in zip(checked.lines, checked.ids) if personal_id in seen]

    def _upsert_statement(self, dialect: str) -> Any:
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        target: sa.Table = Citizen.__table__  # type: ignore[assignment]
        statement = insert(target).from_select(
            list(WRITTEN), sa.select(*(_STAGE.c[name] for name in WRITTEN)).where(sa.true()))
        updated = {name: statement.excluded[name] for name in WRITTEN
                   if name not in ("personal_id", "created_at")}
        # A row this same run already wrote is a duplicate inside the file: leave it alone,
        # so the affected-row count shows there was one.
        return statement.on_conflict_do_update(
            index_elements=["personal_id"], set_=updated,
            where=sa.or_(target.c.import_run_id.is_(None),
                         target.c.import_run_id != statement.excluded.import_run_id))


# --- the run -------------------------------------------------------------------------------

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
    report_path = Path(report_path or path.with_name(path.name + ".rejected.csv"))
    if workers is None:
        workers = (os.cpu_count() or 1) if path.stat().st_size >= WORKERS_FROM_BYTES else 0
    with path.open("rb") as raw:
        hashing = _HashingReader(raw)
        buffered = io.BufferedReader(hashing, 1 << 20)
        header_line = buffered.readline()
        header = _read_header(header_line)
        with session_factory() as session, session.begin():
            run = ImportRun(file_name=path.name[:255], report_path=str(report_path))
            session.add(run)
            session.flush()
            run_id = run.id
            dialect = session.connection().dialect.name
            record_event(db_session=session, actor=actor, action="registry.import_started",
                         subject_type="registry_import_run", subject_id=run_id,
                         details={"file_name": path.name[:255]})
        context = _Context(keys=protector.keys, lookup_key=protector.lookup_key, header=header,
                           run_id=run_id, today=clock.today(),
                           copy_text=dialect == "postgresql")
        summary = ImportSummary(run_id=run_id, report_path=str(report_path))
        report = _ReportWriter(report_path, header)
        writer = _BatchWriter(session_factory, run_id, actor)
        try:
            _run(_chunks(buffered, batch_size), context, summary, report, writer,
                 workers=workers, progress=progress, header_bytes=len(header_line))
            buffered.read()  # hash whatever follows the last line
            summary.status = "completed"
            summary.file_sha256 = hashing.sha256.hexdigest()
        except BaseException as exc:
            summary.status = "failed"
            _finish(session_factory, summary, actor, error=type(exc).__name__)
            raise
        finally:
            report.close()
    _finish(session_factory, summary, actor, error=None)
    if summary.rows_rejected == 0:
        report_path.unlink(missing_ok=True)
        summary.report_path = None
    return summary


def _read_header(first_line: bytes) -> list[str]:
    if not first_line.strip():
        raise ImportFileError("the file is empty: a header row is required")
    try:
        text = first_line.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ImportFileError("the file is not UTF-8") from None
    try:
        header = [h.strip() for h in next(csv.reader([text], strict=True))]
    except csv.Error as exc:
        raise ImportFileError(f"the header row is not CSV: {exc}") from None
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise ImportFileError(f"the header lacks the columns: {', '.join(missing)}")
    if len(set(header)) != len(header):
        raise ImportFileError("the header names a column twice")
    return header


def _chunks(buffered: IO[bytes], batch_size: int) -> Iterator[_Chunk]:
    """Whole lines, ``batch_size`` at a time, with the line number of the first."""
    line_number = 2  # line 1 is the header
    lines: list[bytes] = []
    for line in buffered:
        lines.append(line)
        if len(lines) >= batch_size:
            yield _Chunk(line_number, b"".join(lines))
            line_number += len(lines)
            lines = []
    if lines:
        yield _Chunk(line_number, b"".join(lines))


def _run(chunks: Iterator[_Chunk], context: _Context, summary: ImportSummary,
         report: _ReportWriter, writer: _BatchWriter, *, workers: int,
         progress: Callable[[int, int], None] | None, header_bytes: int) -> None:
    bytes_done = header_bytes

    def consume(checked: _Checked) -> None:
        nonlocal bytes_done
        summary.rows_read += checked.rows
        duplicates = writer.write(checked, summary.rows_read)
        for rejection in (*checked.rejections, *duplicates):
            report.write(rejection)
            summary.rejection_codes[rejection.code] = (
                summary.rejection_codes.get(rejection.code, 0) + 1)
        summary.rows_imported += len(checked.ids) - len(duplicates)
        summary.rows_rejected += len(checked.rejections) + len(duplicates)
        summary.batches += 1
        bytes_done += checked.size
        if progress is not None:
            progress(bytes_done, summary.rows_read)

    if workers <= 0:
        for chunk in chunks:
            consume(_check_chunk(context, chunk, clock.now()))
        return
    executor: Executor = ProcessPoolExecutor(
        max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
        initializer=_init_worker, initargs=(context,))
    in_flight: deque[Future[_Checked]] = deque()
    try:
        for chunk in chunks:
            in_flight.append(executor.submit(_check_in_worker, chunk, clock.now()))
            if len(in_flight) >= workers * 2:
                consume(in_flight.popleft().result())
        while in_flight:
            consume(in_flight.popleft().result())
    finally:
        for future in in_flight:
            future.cancel()
        executor.shutdown(wait=True, cancel_futures=True)


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
