"""Linking throughput of a source's file against the registry import of as many rows, same run.

A generated registry of ``ROWS`` citizens is imported into a fresh scratch
database (:func:`identity.registry.importer.import_citizens`, timed); then a
generated driving-licence file of as many records for those citizens (about
1 % unknown ids and 2 % mismatches) is loaded by
:func:`identity.coordination.loader.load_file` (checking, encryption and
hashing in worker processes; one look-up query and one ``COPY``/upsert per
batch of 10,000; timed). Between the two, untimed: ``VACUUM ANALYZE
citizens`` and a ``CHECKPOINT``, so the load starts, like the import, with
no write-ahead log of the other phase to flush and with the registry
analysed as a running service has it. ``ratio`` is linking rows/s over
import rows/s.
Goal: >= 0.5. The import and the linking are made in :data:`bench.common.ROUNDS`
rounds, each on a scratch database of its own (the linking needs the round's
import before it, so the order cannot turn); the ratio is taken per round.
A second load of the same file (every record unchanged, so nothing is
written) is timed as well, in the last round.
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg
import sqlalchemy as sa
from sqlalchemy.orm import sessionmaker
from sqlalchemy.pool import NullPool

from bench.common import ROUNDS, new_keys, scratch_database, spread, table_entry
from identity.audit.service import Actor
from identity.coordination import sources
from identity.coordination.generator import generate_records, holders_from_registry_csv
from identity.coordination.loader import load_file
from identity.protection import Protector
from identity.registry.generator import generate_citizens
from identity.registry.importer import import_citizens

ROWS = 1_000_000
QUICK_ROWS = 200_000
ACTOR = Actor(type="operator", id="bench", source="cli")


def _round(url: str, registry: Path, licences: Path, protector: Protector, *,
           reload: bool) -> dict[str, Any]:
    """Import the registry, then link the licences, into the scratch database ``url``."""
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"),
                              poolclass=NullPool)
    try:
        factory = sessionmaker(bind=engine, expire_on_commit=False)
        started = time.perf_counter()
        imported = import_citizens(session_factory=factory, path=registry,
                                   protector=protector, actor=ACTOR)
        import_seconds = time.perf_counter() - started
        # Untimed, between the phases: the registry as a service holds it (analysed), and
        # the import's write-ahead log checkpointed, so the load does not pay for it.
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE citizens")
            conn.execute("CHECKPOINT")
        with factory() as session:
            source = sources.create_source(db_session=session, protector=protector,
                                           actor=ACTOR, name="bench-gplx",
                                           kind="driving_licence").source
        started = time.perf_counter()
        linked = load_file(session_factory=factory, source=source, path=licences,
                           protector=protector, actor=ACTOR)
        link_seconds = time.perf_counter() - started
        out: dict[str, Any] = {"imported": imported, "linked": linked,
                               "import_seconds": import_seconds, "link_seconds": link_seconds}
        if reload:
            started = time.perf_counter()
            out["again"] = load_file(session_factory=factory, source=source, path=licences,
                                     protector=protector, actor=ACTOR, restart=True)
            out["reload_seconds"] = time.perf_counter() - started
        return out
    finally:
        engine.dispose()


def run(*, quick: bool = False) -> dict[str, Any]:
    """Import ``ROWS`` citizens (200,000 with ``quick``), then link as many licence records."""
    rows = QUICK_ROWS if quick else ROWS
    keys = new_keys()
    protector = Protector.from_settings(keys["PERSONAL_DATA_KEYS"], keys["LOOKUP_HASH_KEY"])
    rounds = []
    with tempfile.TemporaryDirectory(prefix="vnid-bench-") as tmp:
        registry = Path(tmp) / "registry.csv"
        licences = Path(tmp) / "gplx.csv"
        generate_citizens(count=rows, out=registry, seed=2022)
        generate_records(kind="driving_licence", holders=holders_from_registry_csv(registry),
                         rows=rows, out=licences, seed=2026)
        file_mib = round(licences.stat().st_size / 2**20, 1)
        for number in range(ROUNDS):
            with scratch_database(f"coordination_{number}") as url:
                rounds.append(_round(url, registry, licences, protector,
                                     reload=number == ROUNDS - 1))
    for measured in rounds:
        imported, linked = measured["imported"], measured["linked"]
        if imported.rows_imported != rows or linked.written + linked.rejected != rows:
            raise RuntimeError(f"imported {imported.rows_imported}, linked {linked.written} "
                               f"of {rows} rows")
    per_round = [m["import_seconds"] / m["link_seconds"] for m in rounds]
    last = rounds[-1]
    return {
        "rows": rows,
        "file_mib": file_mib,
        "import_rows_per_s": spread([rows / m["import_seconds"] for m in rounds], 0),
        "link_rows_per_s": spread([rows / m["link_seconds"] for m in rounds], 0),
        "ratio": table_entry(per_round, 0.5),
        "linked": last["linked"].linked,
        "mismatched": last["linked"].mismatched,
        "unknown_id": last["linked"].unknown_id,
        "reload_unchanged_rows_per_s": round(last["again"].rows_read / last["reload_seconds"]),
        "reload_unchanged": last["again"].unchanged,
        "goal": "ratio >= 0.5",
    }


if __name__ == "__main__":
    import json
    import sys

    print(json.dumps(run(quick="--quick" in sys.argv), indent=2))
