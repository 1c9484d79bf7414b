"""The engine of the file imports: whole lines in chunks, checked, written batch by batch.

Two imports use it, each saying only how to read its header, check its rows and write
a batch: the population registry (:mod:`identity.registry.importer`) and the sources'
record files (:mod:`identity.coordination.loader`). The engine does the rest:

- **Streaming**: the file is read in chunks of ``batch_size`` whole lines (memory is a
  few chunks whatever the file's size), and every byte is hashed (SHA-256).
- **Checking** (the import's ``check(context, chunk)``, CPU work in Python) runs in the
  calling process for files under 8 MiB, else in worker processes (spawned, the
  context pickled once into each; or forked, when the import says so with
  ``start_method="fork"``: no interpreter to start and no modules to import again,
  which on a short import of two cores is a tenth of its time) while the calling
  process writes the earlier batches, so that on two cores Python and the database
  work at the same time. Batches are written in the order of the file whatever order
  the workers finish in.
- **Writing**: the import's ``write`` commits one batch in one transaction (its rows,
  the run's counters and checkpoint, its audit event); then the batch's rejected rows
  go to the report, are counted by code, and ``progress(bytes_done, rows_read)`` is
  called.
- **Resuming**: the import's ``begin`` may say that an earlier run of the same file
  committed its first ``skip`` lines; they are read past unchecked.
- **Rejected rows** go to a CSV only its owner can read (they hold personal data),
  appended to when resuming; a fresh run that rejected nothing leaves none.
- **Ending**: the import's ``finish`` records the run as ``completed``, or as
  ``failed`` with the exception's class name, and what failed is raised again.
"""
from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Generic, NamedTuple, Protocol, TypeVar

from identity import clock

#: Files smaller than this are checked in the calling process (no worker start-up cost).
WORKERS_FROM_BYTES = 8 * 1024 * 1024
#: How much of a file, beside its size, tells it again when a run is resumed.
_KEY_BYTES = 1 << 20


class Rejection(Protocol):
    """A refused row, as the report writes it."""

    code: str

    def cells(self) -> list[Any]:
        """The row of the report, in the order of the import's report columns."""


@dataclass
class Chunk:
    """Whole lines of the file and the number of the first."""

    first_line: int
    lines: list[bytes]
    #: The clock when the chunk was read: worker processes do not see a clock moved in tests.
    read_at: dt.datetime


@dataclass
class Checked:
    """A chunk after checking; each import adds what it writes."""

    #: Records the chunk held (blank lines are none).
    rows: int
    rejections: Sequence[Rejection]


@dataclass
class RunSummary:
    """The outcome of one run, as far as the engine counts it; each import adds its counts."""

    run_id: int
    status: str = "running"
    rows_read: int = 0
    batches: int = 0
    report_path: str | None = None
    file_sha256: str | None = None
    rejection_codes: dict[str, int] = field(default_factory=dict)


class Position(NamedTuple):
    """How far a run is once a batch is written: its checkpoint and its rows so far."""

    lines_done: int
    rows_read: int


SummaryT = TypeVar("SummaryT", bound=RunSummary)
CheckedT = TypeVar("CheckedT", bound=Checked)


@dataclass
class Begun(Generic[SummaryT, CheckedT]):
    """A run started (or resumed) by an import, and how to go on with it."""

    summary: SummaryT
    #: What ``check`` needs besides the chunk (picklable: it goes to the worker processes).
    context: Any
    #: Commits one checked chunk at a position; returns the rows refused while writing.
    write: Callable[[CheckedT, Position], Sequence[Rejection]]
    report_columns: Sequence[str]
    #: Lines that an earlier run of this file committed.
    skip: int = 0


def report_path_for(path: Path, report_path: Path | None = None) -> Path:
    """Where the rejected rows of ``path`` go: ``report_path``, else ``FILE.rejected.csv``."""
    return Path(report_path or path.with_name(path.name + ".rejected.csv"))


def file_key(path: Path) -> str:
    """The identity of a file for resuming: its size and its first MiB."""
    digest = hashlib.sha256(str(path.stat().st_size).encode() + b"\x00")
    with path.open("rb") as fh:
        digest.update(fh.read(_KEY_BYTES))
    return digest.hexdigest()


def csv_header(first_line: bytes, required: Sequence[str],
               error: Callable[[str], Exception]) -> list[str]:
    """The column names of a CSV file's first line; ``error(message)`` when unusable."""
    if not first_line.strip():
        raise error("the file is empty: a header row is required")
    try:
        text = first_line.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise error("the file is not UTF-8") from None
    try:
        header = [h.strip() for h in next(csv.reader([text], strict=True))]
    except csv.Error as exc:
        raise error(f"the header row is not CSV: {exc}") from None
    missing = [c for c in required if c not in header]
    if missing:
        raise error(f"the header lacks the columns: {', '.join(missing)}")
    if len(set(header)) != len(header):
        raise error("the header names a column twice")
    return header


def run_file(*, path: Path, header: bool, begin: Callable[[bytes], Begun[SummaryT, CheckedT]],
             check: Callable[[Any, Chunk], CheckedT],
             finish: Callable[[SummaryT, str | None], None], report_path: Path,
             batch_size: int, workers: int | None,
             progress: Callable[[int, int], None] | None,
             start_method: str = "spawn") -> SummaryT:
    """Run one import of ``path``; see the module docstring for the guarantees.

    ``begin(first_line)`` reads the header (``b""`` when the file has none) and
    raises before anything is written when the file is unusable; it then starts
    or resumes the run. ``check`` must be a module-level function (worker
    processes import it by name). ``workers``: checking processes (default:
    none for files under 8 MiB, else one per core), started by ``start_method``
    (``"spawn"`` or ``"fork"``: see the module docstring).
    """
    if workers is None:
        workers = (os.cpu_count() or 1) if path.stat().st_size >= WORKERS_FROM_BYTES else 0
    with path.open("rb") as raw:
        hashing = _HashingReader(raw)
        buffered = io.BufferedReader(hashing, 1 << 20)
        first_line = buffered.readline() if header else b""
        begun = begin(first_line)
        summary = begun.summary
        summary.report_path = str(report_path)
        bytes_done = len(first_line)
        for _ in range(begun.skip):
            bytes_done += len(buffered.readline())
        lines_done = begun.skip
        report = _Report(report_path, begun.report_columns, append=begun.skip > 0)

        def consume(size: int, lines: int, checked: CheckedT) -> None:
            nonlocal bytes_done, lines_done
            lines_done += lines
            summary.rows_read += checked.rows
            refused = begun.write(checked, Position(lines_done, summary.rows_read))
            for rejection in (*checked.rejections, *refused):
                report.write(rejection)
                summary.rejection_codes[rejection.code] = (
                    summary.rejection_codes.get(rejection.code, 0) + 1)
            summary.batches += 1
            bytes_done += size
            if progress is not None:
                progress(bytes_done, summary.rows_read)

        first = (2 if header else 1) + begun.skip
        try:
            _check_and_consume(_chunks(buffered, first, batch_size), check, begun.context,
                               consume, workers, start_method)
            buffered.read()  # hash whatever follows the last line
            summary.status = "completed"
            summary.file_sha256 = hashing.sha256.hexdigest()
        except BaseException as exc:
            summary.status = "failed"
            finish(summary, type(exc).__name__)
            raise
        finally:
            report.close()
    finish(summary, None)
    if not begun.skip and not summary.rejection_codes:
        report_path.unlink(missing_ok=True)  # a fresh run's report of an earlier file
    if not report_path.exists():
        summary.report_path = None
    return summary


class _HashingReader(io.RawIOBase):
    """A raw binary reader that hashes the bytes it passes on."""

    def __init__(self, raw: IO[bytes]) -> None:
        self._raw = raw
        self.sha256 = hashlib.sha256()

    def readable(self) -> bool:
        """Always: it only reads."""
        return True

    def readinto(self, buffer: Any) -> int:
        """Read into ``buffer`` and hash what was read."""
        n = self._raw.readinto(buffer)  # type: ignore[attr-defined]
        if n:
            self.sha256.update(memoryview(buffer)[:n])
        return n or 0


class _Report:
    """Rejected rows, in a CSV only its owner can read (it holds personal data)."""

    def __init__(self, path: Path, columns: Sequence[str], append: bool) -> None:
        self.path, self._columns, self._append = path, columns, append
        self._fh: IO[str] | None = None
        self._writer: Any = None

    def write(self, rejection: Rejection) -> None:
        """Add one row; the file is made (or reopened to append) at the first."""
        if self._fh is None:
            existing = self._append and self.path.exists()
            flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if existing else os.O_TRUNC)
            self._fh = open(os.open(self.path, flags, 0o600), "a" if existing else "w",
                            encoding="utf-8", newline="")
            self._writer = csv.writer(self._fh)
            if not existing:
                self._writer.writerow(self._columns)
        self._writer.writerow(rejection.cells())

    def close(self) -> None:
        """Close the file, if a row was written."""
        if self._fh is not None:
            self._fh.close()


def _chunks(fh: IO[bytes], first_line: int, batch_size: int) -> Iterator[Chunk]:
    """Whole lines, ``batch_size`` at a time, with the line number of the first."""
    lines: list[bytes] = []
    number = first_line
    for line in fh:
        lines.append(line)
        if len(lines) >= batch_size:
            yield Chunk(number, lines, clock.now())
            number += len(lines)
            lines = []
    if lines:
        yield Chunk(number, lines, clock.now())


# --- checking, in this process or in workers -------------------------------------------

_WORKER: tuple[Callable[[Any, Chunk], Checked], Any] | None = None


def _init_worker(check: Callable[[Any, Chunk], Checked], context: Any) -> None:
    """Keep the import's check and context in a worker process, once."""
    global _WORKER
    _WORKER = (check, context)


def _check_in_worker(chunk: Chunk) -> Checked:
    """Check one chunk in a worker process."""
    assert _WORKER is not None
    check, context = _WORKER
    return check(context, chunk)


def _check_and_consume(chunks: Iterator[Chunk], check: Callable[[Any, Chunk], CheckedT],
                       context: Any, consume: Callable[[int, int, CheckedT], None],
                       workers: int, start_method: str = "spawn") -> None:
    """Check every chunk and hand each, in file order, to ``consume(size, lines, checked)``."""
    if workers <= 0:
        for chunk in chunks:
            consume(sum(map(len, chunk.lines)), len(chunk.lines), check(context, chunk))
        return
    executor: Executor = ProcessPoolExecutor(
        max_workers=workers, mp_context=multiprocessing.get_context(start_method),
        initializer=_init_worker, initargs=(check, context))
    in_flight: deque[tuple[int, int, Future[CheckedT]]] = deque()
    try:
        for chunk in chunks:
            future: Future[CheckedT] = executor.submit(_check_in_worker,  # type: ignore[arg-type]
                                                       chunk)
            in_flight.append((sum(map(len, chunk.lines)), len(chunk.lines), future))
            if len(in_flight) >= workers * 2:
                size, lines, done = in_flight.popleft()
                consume(size, lines, done.result())
        while in_flight:
            size, lines, done = in_flight.popleft()
            consume(size, lines, done.result())
    finally:
        for _, _, pending in in_flight:
            pending.cancel()
        executor.shutdown(wait=True, cancel_futures=True)
