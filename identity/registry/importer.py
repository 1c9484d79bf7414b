"""Streaming import of the population registry from CSV files.

The file goes through the batch-import engine (:mod:`identity.batch_import`:
chunks of whole lines, checking in worker processes for big files, one
transaction a batch, progress, the report of rejected rows); this module
says how a registry row is checked, :mod:`identity.registry.import_writes`
how a batch is written.

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
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from identity import batch_import, clock
from identity.audit.service import Actor, record_event
from identity.batch_import import Begun, Chunk
from identity.errors import DomainError
from identity.protection import Protector
from identity.registry.errors import ImportFileError
from identity.registry.import_writes import (SURROGATES, BatchWriter, CheckedChunk, ImportSummary,
                                             Rejection)
from identity.registry.models import ImportRun
from identity.registry.partitions import citizen_ids
from identity.registry.service import CitizenData, check_citizen, protect_phone

REQUIRED_COLUMNS = ("personal_id", "full_name", "date_of_birth", "gender", "phone",
                    "province_code", "commune_code", "address", "household_id",
                    "relation_to_head")
OPTIONAL_COLUMNS = ("nationality", "ethnicity", "place_of_origin")
#: The longest a field may be; anything longer is rejected without being parsed further.
MAX_FIELD_CHARS = 4096


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


def _check_chunk(context: _Context, chunk: Chunk) -> CheckedChunk:
    """Check every record of a chunk; format the valid ones for writing."""
    protector = Protector(keys=context.keys, lookup_key=context.lookup_key)
    index = {name: context.header.index(name)
             for name in (*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS) if name in context.header}
    width = len(context.header)
    names = list(index)
    fields = operator.itemgetter(*index.values())
    text = b"".join(chunk.lines).decode("utf-8", "surrogateescape")
    # Bytes that are not UTF-8 became lone surrogates: look for them row by row only if any.
    check_encoding = SURROGATES.search(text) is not None
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
        if check_encoding and SURROGATES.search("\x1f".join(row)):
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
    return CheckedChunk(
        rows=rows, ids=ids, lines=lines,
        # In the order of their ids (13 digits each): a partition's rows together, each
        # index's entries in the order of its keys.
        payload="".join(sorted(f"{citizen}{line}" for citizen, line in zip(
            citizens, copy_lines))).encode() if context.copy_text else None,
        values=None if context.copy_text else [
            (citizen, *row) for citizen, row in zip(citizens, values)],
        rejections=rejections)


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

    def begin(header_line: bytes) -> Begun[ImportSummary, CheckedChunk]:
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
        return Begun(summary, context, BatchWriter(session_factory, summary, actor).write,
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
