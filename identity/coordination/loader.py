"""``flask sources load``: a source's file of records, streamed, linked batch by batch, resumable.

The file goes through the batch-import engine (:mod:`identity.batch_import`),
as the registry import does; this module says how a source's line is read
and checked, and how a batch is linked and written:

- **Streaming**: the file (CSV with a header row, or JSON lines: one object
  per line, chosen by the ``.jsonl``/``.ndjson`` suffix) is read in chunks
  of whole lines; memory is a few chunks whatever the file's size. One
  record per line: a CSV record spread over several lines is refused.
- **Checking** (CPU: parsing, the rules of the kind, the keyed hashes and the
  encryption) runs in worker processes for files over 8 MiB, while the main
  process links and writes the previous batches
  (:class:`identity.coordination.linker.BatchWriter`: one look-up query and
  one upsert per batch).
- **Atomic batches**: a batch's records, its counters, its audit event and
  the run's progress (``lines_done``) commit in one transaction.
- **Resumable**: a run that did not complete (killed, crashed, database gone)
  is resumed by loading the same file again: it is recognised by its size
  and first MiB, and its committed lines are skipped unread. Whatever is
  read twice anyway is harmless: records are idempotent by the source's id.
  A run still marked ``running`` is taken for an interrupted one: do not
  load the same file into the same source twice at the same time.
- **Rejected rows** go to ``FILE.rejected.csv`` (mode 0600: personal data)
  with line, record id, code, field, message and the raw line; a resumed run
  appends to it.
"""
from __future__ import annotations

import csv
import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from identity import batch_import, clock
from identity.audit.service import Actor, record_event
from identity.batch_import import Begun, Checked, Chunk, Position, RunSummary
from identity.coordination.errors import LoadFileError
from identity.coordination.kinds import KINDS
from identity.coordination.linker import BatchWriter, Linkable
from identity.coordination.models import DataSource, LoadRun
from identity.coordination.sources import check_batch
from identity.protection import Protector

MAX_LINE_BYTES = 16 * 1024
#: The rejected rows' report.
REPORT_COLUMNS = ("line", "record_id", "code", "field", "message", "raw")


@dataclass
class LoadSummary(RunSummary):
    """The outcome of one load run."""

    resumed_from_line: int = 0
    written: int = 0
    unchanged: int = 0
    linked: int = 0
    mismatched: int = 0
    unknown_id: int = 0
    rejected: int = 0
    credentials_revoked: int = 0


@dataclass
class _Rejection:
    line: int
    record_id: str | None
    code: str
    field: str | None
    message: str
    raw: str

    def cells(self) -> list[Any]:
        """The report's row, in the order of :data:`REPORT_COLUMNS`."""
        return [self.line, self.record_id or "", self.code, self.field or "", self.message,
                self.raw]


@dataclass
class _Checked(Checked):
    prepared: list[Linkable]


@dataclass
class _Context:
    """What a worker needs to check chunks (picklable)."""

    keys: dict[int, bytes]
    lookup_key: bytes
    kind: str
    header: list[str] | None  # None: JSON lines
    source_id: int
    #: PostgreSQL writes COPY text only; SQLite needs the values too.
    with_values: bool


def _json_lines(path: Path) -> bool:
    """Whether the file holds JSON lines (no header row), by its suffix."""
    return path.suffix.lower() in (".jsonl", ".ndjson")


def _parse_line(context: _Context, text: str) -> dict[str, Any]:
    """One line as a raw record: a JSON object, or the CSV fields by the header's names."""
    if context.header is None:
        value = json.loads(text)
        if not isinstance(value, dict):
            raise ValueError("a JSON line must be an object")
        return value
    row = next(csv.reader((text,), strict=True))
    if len(row) != len(context.header):
        raise IndexError(f"{len(row)} fields where the header has {len(context.header)}")
    return dict(zip(context.header, row))


def _check_chunk(context: _Context, chunk: Chunk) -> _Checked:
    """Parse, check and protect every line of a chunk."""
    protector = Protector(keys=context.keys, lookup_key=context.lookup_key)
    raws: list[dict[str, Any]] = []
    positions: list[int] = []
    texts: dict[int, str] = {}
    rejections: list[_Rejection] = []
    rows = 0
    for offset, line in enumerate(chunk.lines):
        number = chunk.first_line + offset
        if not line.strip():
            continue
        rows += 1
        try:
            text = line.decode("utf-8").rstrip("\r\n")
        except UnicodeDecodeError:
            rejections.append(_Rejection(number, None, "row.encoding", None, "Not UTF-8.", ""))
            continue
        texts[number] = text
        if len(line) > MAX_LINE_BYTES:
            rejections.append(_Rejection(number, None, "row.too_large", None,
                                         f"A line is at most {MAX_LINE_BYTES} bytes.", ""))
            continue
        try:
            raws.append(_parse_line(context, text))
        except IndexError as error:
            rejections.append(_Rejection(number, None, "row.columns", None, str(error), text))
            continue
        except (ValueError, csv.Error) as error:
            rejections.append(_Rejection(number, None, "row.malformed", None,
                                         f"Not a record: {error}", text))
            continue
        positions.append(number)
    prepared, refused = check_batch(context.kind, raws, positions, protector, context.source_id,
                                    context.with_values)
    rejections += [_Rejection(r.position, r.record_id, r.code, r.field, r.message,
                              texts.get(r.position, "")) for r in refused]
    rejections.sort(key=lambda r: r.line)
    return _Checked(rows, rejections, prepared)


def load_file(*, session_factory: Callable[[], Session], source: DataSource, path: Path,
              protector: Protector, actor: Actor, batch_size: int = 10_000,
              report_path: Path | None = None, workers: int | None = None, restart: bool = False,
              progress: Callable[[int, int], None] | None = None) -> LoadSummary:
    """Load a source's file; see the module docstring for the guarantees.

    ``progress(bytes_done, rows_done)`` is called after each batch. Raises
    :class:`LoadFileError` before writing anything when the file cannot be
    read as a file of the source's kind. ``restart`` ignores an unfinished
    earlier run of the same file and reads it from its first line.
    """
    path = Path(path)
    if not path.is_file():
        raise LoadFileError(f"{path} is not a file")
    report_path = batch_import.report_path_for(path, report_path)
    key = batch_import.file_key(path)

    def begin(header_line: bytes) -> Begun[LoadSummary, _Checked]:
        header = None if _json_lines(path) else batch_import.csv_header(
            header_line, KINDS[source.kind].required, LoadFileError)
        run_id, skip, dialect = _start(session_factory, source, path, key, report_path, actor,
                                       restart)
        summary = LoadSummary(run_id=run_id, resumed_from_line=skip)
        context = _Context(keys=protector.keys, lookup_key=protector.lookup_key,
                           kind=source.kind, header=header, source_id=source.id,
                           with_values=dialect != "postgresql")
        write = partial(_write, session_factory, BatchWriter(), actor, source.id, summary)
        return Begun(summary, context, write, REPORT_COLUMNS, skip=skip)

    return batch_import.run_file(path=path, header=not _json_lines(path), begin=begin,
                                 check=_check_chunk, finish=partial(_finish, session_factory,
                                                                    actor),
                                 report_path=report_path, batch_size=batch_size,
                                 workers=workers, progress=progress)


def _start(session_factory: Callable[[], Session], source: DataSource, path: Path, key: str,
           report_path: Path, actor: Actor, restart: bool) -> tuple[int, int, str]:
    """The run to continue (and its committed lines) or a new one; the database's dialect."""
    with session_factory() as session, session.begin():
        dialect = session.connection().dialect.name
        earlier = None if restart else session.scalar(
            sa.select(LoadRun).where(LoadRun.source_id == source.id, LoadRun.file_key == key,
                                     LoadRun.status.in_(("running", "failed")))
            .order_by(LoadRun.id.desc()).limit(1).with_for_update())
        if earlier is not None:
            earlier.status = "running"
            earlier.error = None
            record_event(db_session=session, actor=actor, action="coordination.load_resumed",
                         subject_type="data_source", subject_id=source.id,
                         details={"run": earlier.id, "from_line": earlier.lines_done})
            return earlier.id, int(earlier.lines_done), dialect
        run = LoadRun(source_id=source.id, file_name=path.name[:255], file_key=key,
                      report_path=str(report_path), status="running", lines_done=0,
                      rows_written=0, rows_unchanged=0, rows_rejected=0, batches_committed=0)
        session.add(run)
        session.flush()
        record_event(db_session=session, actor=actor, action="coordination.load_started",
                     subject_type="data_source", subject_id=source.id,
                     details={"run": run.id, "file_name": path.name[:255]})
        return run.id, 0, dialect


def _write(session_factory: Callable[[], Session], writer: BatchWriter, actor: Actor,
           source_id: int, summary: LoadSummary, checked: _Checked,
           position: Position) -> list[_Rejection]:
    """One batch, its counters and the run's progress, in one transaction."""
    with session_factory() as session, session.begin():
        outcome = writer.write(session, actor=actor, source_id=source_id,
                               prepared=checked.prepared, rejected=len(checked.rejections),
                               channel=f"file:{summary.run_id}")
        run = session.get(LoadRun, summary.run_id, with_for_update=True)
        assert run is not None
        run.lines_done = position.lines_done
        run.rows_written += outcome.written
        run.rows_unchanged += outcome.unchanged
        run.rows_rejected += len(checked.rejections)
        run.batches_committed += 1
    states: Counter[str] = outcome.states
    summary.written += outcome.written
    summary.unchanged += outcome.unchanged
    summary.linked += states["linked"]
    summary.mismatched += states["mismatch"]
    summary.unknown_id += states["unknown_id"]
    summary.rejected += len(checked.rejections)
    summary.credentials_revoked += outcome.credentials_revoked
    return []


def _finish(session_factory: Callable[[], Session], actor: Actor, summary: LoadSummary,
            error: str | None) -> None:
    """Record the run's end: status, time, and its audit event."""
    with session_factory() as session, session.begin():
        run = session.get(LoadRun, summary.run_id, with_for_update=True)
        assert run is not None
        run.status = summary.status
        run.finished_at = clock.now()
        run.error = error
        record_event(db_session=session, actor=actor,
                     action=f"coordination.load_{summary.status}",
                     subject_type="data_source", subject_id=run.source_id,
                     details={"run": run.id, "rows_read": summary.rows_read,
                              "written": summary.written, "unchanged": summary.unchanged,
                              "rejected": summary.rejected, "error": error})
