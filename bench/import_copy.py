"""Registry import throughput against plain PostgreSQL ``COPY`` of the same rows, same run.

A generated registry file is imported into a scratch database by
:func:`identity.registry.importer.import_citizens` (validation, phone
encryption, batches of 10,000 with their audit events, worker processes).
Baselines, on the same server in the same run:

- ``copy_same_rows``: the very rows the import wrote (taken back out of
  ``citizens`` with ``COPY TO`` after the first import, untimed) copied with
  ``COPY FROM STDIN`` into an identical empty table (same columns, indexes,
  constraints and partitions). This is the database's own cost of writing those rows:
  the ratio shows what the importer adds on top of it. Goal: ``import`` in
  :data:`bench.table.ROWS`.
- ``copy_raw_csv`` (once, for scale): the CSV file itself copied into a table
  of its ten-odd text columns with only a primary key: the cheapest load
  PostgreSQL can do, with no validation, no encryption and no secondary index.

The import and the ``COPY`` of the same rows alternate in
:data:`bench.common.ROUNDS` rounds (the first round imports first, as it
must, then the order turns); before each, the target table is emptied
(``TRUNCATE``) and a ``CHECKPOINT`` is taken, untimed, so that neither pays
for the other's write-ahead log. The ratio is taken per round. A re-import
of the same file (every row an update) is timed once at the end (not with
``--quick``).
"""
from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg
import sqlalchemy as sa
from sqlalchemy.orm import sessionmaker

from bench.common import ROUNDS, new_keys, scratch_database, spread, table_entry
from bench.table import GOALS
from identity.audit.service import Actor
from identity.protection import Protector
from identity.registry.generator import generate_citizens
from identity.registry.import_writes import WRITTEN
from identity.registry.importer import import_citizens

ROWS = 1_000_000
QUICK_ROWS = 200_000
RAW_TABLE = """
CREATE TABLE raw_registry (
    personal_id varchar(12) PRIMARY KEY, full_name varchar(100), date_of_birth date,
    gender varchar(1), phone varchar(10), province_code varchar(2), commune_code varchar(5),
    address varchar(255), household_id varchar(32), relation_to_head varchar(16),
    nationality varchar(2), ethnicity varchar(50), place_of_origin varchar(255))
"""


def _copy_in(url: str, statement: str, source: Path) -> float:
    """Stream a file into ``COPY ... FROM STDIN``; returns the seconds taken."""
    with psycopg.connect(url) as conn, conn.cursor() as cursor, source.open("rb") as handle:
        started = time.perf_counter()
        with cursor.copy(statement) as copy:
            while block := handle.read(1 << 20):
                copy.write(block)
        conn.commit()
        return time.perf_counter() - started


def _import(url: str, path: Path, protector: Protector) -> tuple[float, Any]:
    # A pool, as ``flask registry import`` has (the app's engine): a batch does not pay for
    # a new connection.
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"),
                              pool_size=2, max_overflow=0)
    try:
        factory = sessionmaker(bind=engine, expire_on_commit=False)
        started = time.perf_counter()
        summary = import_citizens(session_factory=factory, path=path, protector=protector,
                                  actor=Actor(type="operator", id="bench", source="cli"))
        return time.perf_counter() - started, summary
    finally:
        engine.dispose()


def _empty(url: str, table: str) -> None:
    """Empty ``table`` and checkpoint, so the next timed load starts from a clean log."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"TRUNCATE {table} CASCADE")
        conn.execute("CHECKPOINT")


def run(*, quick: bool = False) -> dict[str, Any]:
    """Import ``ROWS`` generated citizens (200,000 with ``quick``) against ``COPY``, in rounds."""
    rows = QUICK_ROWS if quick else ROWS
    keys = new_keys()
    protector = Protector.from_settings(keys["PERSONAL_DATA_KEYS"], keys["LOOKUP_HASH_KEY"])
    columns = ", ".join(WRITTEN)
    with tempfile.TemporaryDirectory(prefix="vnid-bench-") as tmp, \
            scratch_database("import") as url:
        path = Path(tmp) / "registry.csv"
        written = Path(tmp) / "written.copy"
        generate_citizens(count=rows, out=path, seed=2022)
        file_mib = round(path.stat().st_size / 2**20, 1)
        _execute(url, RAW_TABLE)
        _clone_table(url, "citizens", "citizens_copy")
        _empty(url, "raw_registry")
        raw_seconds = _copy_in(url, "COPY raw_registry FROM STDIN (FORMAT csv, HEADER true)", path)
        imports: list[float] = []
        copies: list[float] = []

        def import_side() -> None:
            _empty(url, "citizens")
            seconds, summary = _import(url, path, protector)
            if summary.rows_imported != rows:
                raise RuntimeError(f"imported {summary.rows_imported} of {rows} rows")
            imports.append(seconds)
            if not written.exists():  # the rows the import wrote, once, untimed
                with psycopg.connect(url) as conn, conn.cursor() as cursor, \
                        written.open("wb") as out, \
                        cursor.copy(f"COPY (SELECT {columns} FROM citizens) TO STDOUT") as copy:
                    for block in copy:
                        out.write(block)

        def copy_side() -> None:
            _empty(url, "citizens_copy")
            copies.append(_copy_in(url, f"COPY citizens_copy ({columns}) FROM STDIN", written))

        for number in range(ROUNDS):
            sides = (import_side, copy_side) if number % 2 == 0 else (copy_side, import_side)
            for side in sides:
                side()
        reimport = None
        if not quick:  # citizens holds the last import's rows: every row an update
            seconds, again = _import(url, path, protector)
            reimport = round(again.rows_read / seconds)
    per_round = [copy / imported for imported, copy in zip(imports, copies)]
    entry = table_entry(per_round, GOALS["import"])
    import_s, copy_s = statistics.median(imports), statistics.median(copies)
    return {
        "rows": rows,
        "file_mib": file_mib,
        "import_rows_per_s": round(rows / import_s),
        "copy_same_rows_per_s": round(rows / copy_s),
        "import_rows_per_s_spread": spread([rows / s for s in imports], 0),
        "copy_same_rows_per_s_spread": spread([rows / s for s in copies], 0),
        "copy_raw_csv_rows_per_s": round(rows / raw_seconds),
        "ratio_vs_copy_same_rows": entry,
        "ratio_vs_copy_raw_csv": round(raw_seconds / import_s, 2),
        "reimport_rows_per_s": reimport,
        "table": {"import": entry},
        "rounds": ROUNDS,
    }


def _execute(url: str, statement: str) -> None:
    with psycopg.connect(url) as conn:
        conn.execute(statement)


def _clone_table(url: str, source: str, target: str) -> None:
    """An empty ``target`` like ``source``: its columns, checks and indexes, and on a
    partitioned ``source`` the same partitions with theirs (the registry's unique key on the
    personal id is one index per partition, :mod:`identity.registry.partitions`)."""
    with psycopg.connect(url) as conn:
        parts = conn.execute(
            "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits AS i "
            "JOIN pg_class AS c ON c.oid = i.inhrelid WHERE i.inhparent = %s::regclass",
            (source,)).fetchall()
        key = conn.execute("SELECT pg_get_partkeydef(%s::regclass)", (source,)).fetchone()
        partitioning = f" PARTITION BY {key[0]}" if key and key[0] else ""
        conn.execute(f"CREATE TABLE {target} (LIKE {source} INCLUDING ALL){partitioning}")
        for name, bound in parts:
            part = name.replace(source, target, 1)
            conn.execute(f"CREATE TABLE {part} (LIKE {name} INCLUDING ALL)")
            conn.execute(f"ALTER TABLE {target} ATTACH PARTITION {part} {bound}")


if __name__ == "__main__":
    import json
    import sys

    print(json.dumps(run(quick="--quick" in sys.argv), indent=2))
