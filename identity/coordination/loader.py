"""``flask sources load``: a source's file of records, streamed, linked batch by batch, resumable.

The design of the registry import (:mod:`identity.registry.importer`),
applied to a source's records:

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
import hashlib
import json
import multiprocessing
import os
from collections import Counter, deque
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from identity import clock
from identity.audit.service import Actor, record_event
from identity.coordination.errors import LoadFileError
from identity.coordination.kinds import KINDS
from identity.coordination.linker import BatchWriter, Linkable
from identity.coordination.models import DataSource, LoadRun
from identity.coordination.sources import check_batch
from identity.protection import Protector

#: Files smaller than this are checked in the calling process (no worker start-up cost).
WORKERS_FROM_BYTES = 8 * 1024 * 1024
MAX_LINE_BYTES = 16 * 1024
_KEY_BYTES = 1 << 20


@dataclass
class LoadSummary:
    """The outcome of one load run."""

    run_id: int
    status: str = "running"
    resumed_from_line: int = 0
    rows_read: int = 0
    written: int = 0
    unchanged: int = 0
    linked: int = 0
    mismatched: int = 0
    unknown_id: int = 0
    rejected: int = 0
    batches: int = 0
    credentials_revoked: int = 0
    report_path: str | None = None
    rejection_codes: dict[str, int] = field(default_factory=dict)


@dataclass
class _Chunk:
    first_line: int
    lines: list[bytes]


@dataclass
class _Rejection:
    line: int
    record_id: str | None
    code: str
    field: str | None
    message: str
    raw: str


@dataclass
class _Checked:
    size: int
    lines: int
    rows: int
    prepared: list[Linkable]
    rejections: list[_Rejection]


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


def file_key(path: Path) -> str:
    """The identity of a file for resuming: its size and its first MiB."""
    digest = hashlib.sha256(str(path.stat().st_size).encode() + b"\x00")
    with path.open("rb") as fh:
        digest.update(fh.read(_KEY_BYTES))
    return digest.hexdigest()


def _parse_line(context: _Context, text: str) -> dict[str, Any]:
    if context.header is None:
        value = json.loads(text)
        if not isinstance(value, dict):
            raise ValueError("a JSON line must be an object")
        return value
    row = next(csv.reader((text,), strict=True))
    if len(row) != len(context.header):
        raise IndexError(f"{len(row)} fields where the header has {len(context.header)}")
    return dict(zip(context.header, row))


def _check_chunk(context: _Context, chunk: _Chunk) -> _Checked:
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
    return _Checked(sum(len(line) for line in chunk.lines), len(chunk.lines), rows, prepared,
                    rejections)


_WORKER_CONTEXT: _Context | None = None


def _init_worker(context: _Context) -> None:
    global _WORKER_CONTEXT
    _WORKER_CONTEXT = context


def _check_in_worker(chunk: _Chunk) -> _Checked:
    assert _WORKER_CONTEXT is not None
    return _check_chunk(_WORKER_CONTEXT, chunk)


class _Report:
    """Rejected rows, in a CSV only its owner can read (it holds personal data)."""

    def __init__(self, path: Path, append: bool) -> None:
        self.path, self._append = path, append
        self._fh: IO[str] | None = None
        self._writer: Any = None

    def write(self, rejection: _Rejection) -> None:
        if self._fh is None:
            existing = self._append and self.path.exists()
            flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if existing else os.O_TRUNC)
            self._fh = open(os.open(self.path, flags, 0o600), "a" if existing else "w",
                            encoding="utf-8", newline="")
            self._writer = csv.writer(self._fh)
            if not existing:
                self._writer.writerow(["line", "record_id", "code", "field", "message", "raw"])
        self._writer.writerow([rejection.line, rejection.record_id or "", rejection.code,
                               rejection.field or "", rejection.message, rejection.raw])

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()


def _header(path: Path, kind: str, first: bytes) -> list[str] | None:
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        return None
    if not first.strip():
        raise LoadFileError("the file is empty: a header row is required")
    try:
        header = [h.strip() for h in next(csv.reader([first.decode("utf-8-sig")], strict=True))]
    except (UnicodeDecodeError, csv.Error):
        raise LoadFileError("the header row is not UTF-8 CSV") from None
    missing = [c for c in KINDS[kind].required if c not in header]
    if missing:
        raise LoadFileError(f"the header lacks the columns: {', '.join(missing)}")
    if len(set(header)) != len(header):
        raise LoadFileError("the header names a column twice")
    return header


def _chunks(fh: IO[bytes], first_line: int, batch_size: int) -> Iterator[_Chunk]:
    lines: list[bytes] = []
    number = first_line
    for line in fh:
        lines.append(line)
        if len(lines) >= batch_size:
            yield _Chunk(number, lines)
            number += len(lines)
            lines = []
    if lines:
        yield _Chunk(number, lines)


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
    report_path = Path(report_path or path.with_name(path.name + ".rejected.csv"))
    if workers is None:
        workers = (os.cpu_count() or 1) if path.stat().st_size >= WORKERS_FROM_BYTES else 0
    key = file_key(path)
    with path.open("rb") as fh:
        header_line = b"" if path.suffix.lower() in (".jsonl", ".ndjson") else fh.readline()
        header = _header(path, source.kind, header_line)
        run_id, skip, dialect = _start(session_factory, source, path, key, report_path, actor,
                                       restart)
        bytes_done = len(header_line)
        for _ in range(skip):
            bytes_done += len(fh.readline())
        first_line = (2 if header is not None else 1) + skip
        context = _Context(keys=protector.keys, lookup_key=protector.lookup_key,
                           kind=source.kind, header=header, source_id=source.id,
                           with_values=dialect != "postgresql")
        summary = LoadSummary(run_id=run_id, resumed_from_line=skip,
                              report_path=str(report_path))
        report = _Report(report_path, append=skip > 0)
        writer = BatchWriter()
        done = skip

        def consume(checked: _Checked) -> None:
            nonlocal bytes_done, done
            done += checked.lines
            _write(session_factory, writer, actor, source.id, run_id, checked, done, summary)
            for rejection in checked.rejections:
                report.write(rejection)
                summary.rejection_codes[rejection.code] = (
                    summary.rejection_codes.get(rejection.code, 0) + 1)
            bytes_done += checked.size
            if progress is not None:
                progress(bytes_done, summary.rows_read)

        try:
            _run(_chunks(fh, first_line, batch_size), context, consume, workers)
            summary.status = "completed"
        except BaseException as exc:
            summary.status = "failed"
            _finish(session_factory, summary, actor, error=type(exc).__name__)
            raise
        finally:
            report.close()
    _finish(session_factory, summary, actor, error=None)
    if not report_path.exists():
        summary.report_path = None
    return summary


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
           source_id: int, run_id: int, checked: _Checked, done: int,
           summary: LoadSummary) -> None:
    """One batch, its counters and the run's progress, in one transaction."""
    with session_factory() as session, session.begin():
        outcome = writer.write(session, actor=actor, source_id=source_id,
                               prepared=checked.prepared, rejected=len(checked.rejections),
                               channel=f"file:{run_id}")
        run = session.get(LoadRun, run_id, with_for_update=True)
        assert run is not None
        run.lines_done = done
        run.rows_written += outcome.written
        run.rows_unchanged += outcome.unchanged
        run.rows_rejected += len(checked.rejections)
        run.batches_committed += 1
    states: Counter[str] = outcome.states
    summary.rows_read += checked.rows
    summary.written += outcome.written
    summary.unchanged += outcome.unchanged
    summary.linked += states["linked"]
    summary.mismatched += states["mismatch"]
    summary.unknown_id += states["unknown_id"]
    summary.rejected += len(checked.rejections)
    summary.credentials_revoked += outcome.credentials_revoked
    summary.batches += 1


def _run(chunks: Iterator[_Chunk], context: _Context, consume: Callable[[_Checked], None],
         workers: int) -> None:
    if workers <= 0:
        for chunk in chunks:
            consume(_check_chunk(context, chunk))
        return
    executor: Executor = ProcessPoolExecutor(
        max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
        initializer=_init_worker, initargs=(context,))
    in_flight: deque[Future[_Checked]] = deque()
    try:
        for chunk in chunks:
            in_flight.append(executor.submit(_check_in_worker, chunk))
            if len(in_flight) >= workers * 2:
                consume(in_flight.popleft().result())
        while in_flight:
            consume(in_flight.popleft().result())
    finally:
        for future in in_flight:
            future.cancel()
        executor.shutdown(wait=True, cancel_futures=True)


def _finish(session_factory: Callable[[], Session], summary: LoadSummary, actor: Actor, *,
            error: str | None) -> None:
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
