"""Registry import throughput against plain PostgreSQL ``COPY`` of the same rows, same run.

A generated registry file is imported into a fresh scratch database by
:func:`identity.registry.importer.import_citizens` (validation, phone
encryption, batches of 10,000 with their audit events, worker processes).
Two baselines are measured on the same server in the same run:

- ``copy_same_rows``: the very rows the import wrote (taken back out of
  ``citizens`` with ``COPY TO``, untimed) copied with ``COPY FROM STDIN`` into
  an identical empty table (same columns, indexes and constraints). This is
  the database's own cost of writing those rows: the ratio shows what the
  importer adds on top of it. Goal: >= 0.6.
- ``copy_raw_csv``: the CSV file itself copied into a table of its ten-odd
  text columns with only a primary key: the cheapest load PostgreSQL can do,
  with no validation, no encryption and no secondary index.

A re-import of the same file (every row an update) is timed as well.
"""
from __future__ import annotations

import io
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg
import sqlalchemy as sa
from sqlalchemy.orm import sessionmaker
from sqlalchemy.pool import NullPool

from bench.common import new_keys, scratch_database
from identity.audit.service import Actor
from identity.protection import Protector
from identity.registry.generator import generate_citizens
from identity.registry.importer import WRITTEN, import_citizens

ROWS = 1_000_000
QUICK_ROWS = 200_000
RAW_TABLE = """
CREATE TABLE raw_registry (
    personal_id varchar(12) PRIMARY KEY, full_name varchar(100), date_of_birth date,
    gender varchar(1), phone varchar(10), province_code varchar(2), commune_code varchar(5),
    address varchar(255), household_id varchar(32), relation_to_head varchar(16),
    nationality varchar(2), ethnicity varchar(50), place_of_origin varchar(255))
"""


def _copy_in(url: str, statement: str, source: io.BufferedIOBase | Path) -> float:
    """Stream a file or buffer into ``COPY ... FROM STDIN``; returns the seconds taken."""
    with psycopg.connect(url) as conn, conn.cursor() as cursor:
        handle = source.open("rb") if isinstance(source, Path) else source
        started = time.perf_counter()
        with cursor.copy(statement) as copy:
            while block := handle.read(1 << 20):
                copy.write(block)
        conn.commit()
        return time.perf_counter() - started


def _import(url: str, path: Path, protector: Protector) -> tuple[float, Any]:
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"),
                              poolclass=NullPool)
    try:
        factory = sessionmaker(bind=engine, expire_on_commit=False)
        started = time.perf_counter()
        summary = import_citizens(session_factory=factory, path=path, protector=protector,
                                  actor=Actor(type="operator", id="bench", source="cli"))
        return time.perf_counter() - started, summary
    finally:
        engine.dispose()


def run(*, quick: bool = False) -> dict[str, Any]:
    """Import ``ROWS`` generated citizens (200,000 with ``quick``) and the two COPY baselines."""
    rows = QUICK_ROWS if quick else ROWS
    keys = new_keys()
    protector = Protector.from_settings(keys["PERSONAL_DATA_KEYS"], keys["LOOKUP_HASH_KEY"])
    with tempfile.TemporaryDirectory(prefix="vnid-bench-") as tmp, \
            scratch_database("import") as url:
        path = Path(tmp) / "registry.csv"
        generate_citizens(count=rows, out=path, seed=2022)
        file_mib = round(path.stat().st_size / 2**20, 1)
        _execute(url, RAW_TABLE)
        raw_seconds = _copy_in(url, "COPY raw_registry FROM STDIN (FORMAT csv, HEADER true)", path)
        import_seconds, summary = _import(url, path, protector)
        if summary.rows_imported != rows:
            raise RuntimeError(f"imported {summary.rows_imported} of {rows} rows")
        columns = ", ".join(WRITTEN)
        written = io.BytesIO()
        with psycopg.connect(url) as conn, conn.cursor() as cursor:
            with cursor.copy(f"COPY (SELECT {columns} FROM citizens) TO STDOUT") as copy:
                for block in copy:
                    written.write(block)
        written.seek(0)
        _execute(url, "CREATE TABLE citizens_copy (LIKE citizens INCLUDING ALL)")
        same_seconds = _copy_in(url, f"COPY citizens_copy ({columns}) FROM STDIN", written)
        reimport_seconds, again = _import(url, path, protector)
    return {
        "rows": rows,
        "file_mib": file_mib,
        "import_rows_per_s": round(rows / import_seconds),
        "copy_same_rows_per_s": round(rows / same_seconds),
        "copy_raw_csv_rows_per_s": round(rows / raw_seconds),
        "ratio_vs_copy_same_rows": round(same_seconds / import_seconds, 2),
        "ratio_vs_copy_raw_csv": round(raw_seconds / import_seconds, 2),
        "reimport_rows_per_s": round(again.rows_read / reimport_seconds),
        "goal": "ratio_vs_copy_same_rows >= 0.6",
    }


def _execute(url: str, statement: str) -> None:
    with psycopg.connect(url) as conn:
        conn.execute(statement)


if __name__ == "__main__":
    import json
    import sys

    print(json.dumps(run(quick="--quick" in sys.argv), indent=2))
