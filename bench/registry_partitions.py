"""What partitioning the registry costs the statements that read it: one table, the eight
partitions of migration 0018, and one partition per province (63).

A scratch database migrated to head gets ``--citizens`` generated citizens through the importer
(``citizens``: eight partitions); the same rows are copied into ``flat`` (one table, the same
columns and indexes, a unique key on the personal id) and ``p63`` (partitioned as ``citizens``,
one partition per province code of 2016, each with its unique index on the personal id), and
``accounts_like`` holds an id and a citizen id per citizen (an account's row as a join reads
it). Then, on one connection with psycopg's prepared statements (as the app runs them), each
statement runs ``--runs`` times per layout, the layouts alternating over ``--rounds`` rounds:

- ``lookup``: by personal id, as :class:`identity.registry.partitions.ByPersonalId` writes it
  (the partition's id range written into the statement; the province's for ``p63``);
- ``by_id``: by primary key, the id a parameter (``session.get``);
- ``by_id_bounded``: the same with the partition's id range written in, as
  :class:`identity.registry.partitions.ById` writes it;
- ``join``: an account's row with its citizen's (the ORM's joined load of ``Account.citizen``);
- ``phone``: by the phone's look-up hash, which no partition key prunes.

Prints the median microseconds of each statement and layout (a round's median, then the median
of the rounds).

    .venv/bin/python -m bench.registry_partitions [--citizens 10000] [--rounds 5]
"""
from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import sqlalchemy as sa
from sqlalchemy.orm import sessionmaker

from bench.common import alternate, new_keys, scratch_database
from identity.audit.service import Actor
from identity.protection import Protector
from identity.registry.admin_units import former_provinces
from identity.registry.generator import generate_citizens
from identity.registry.importer import import_citizens
from identity.registry.partitions import (NEW_IDS, PROVINCE_SPAN, partition_of, partition_of_id,
                                          province_range)

LAYOUTS = ("flat", "citizens", "p63")


def _copies(conn: psycopg.Connection[Any]) -> None:
    """``flat``, ``p63`` and ``accounts_like`` from the imported ``citizens``."""
    conn.execute("CREATE TABLE flat (LIKE citizens INCLUDING ALL)")
    conn.execute("CREATE UNIQUE INDEX ON flat (personal_id)")
    conn.execute("CREATE TABLE p63 (LIKE citizens INCLUDING ALL) PARTITION BY RANGE (id)")
    for code in sorted(former_provinces()):
        lower, upper = province_range(int(code))
        conn.execute(f"CREATE TABLE p63_{code} PARTITION OF p63 FOR VALUES FROM ({lower}) "
                     f"TO ({upper})")
        conn.execute(f"CREATE UNIQUE INDEX ON p63_{code} (personal_id)")
    for table in ("flat", "p63"):
        conn.execute(f"INSERT INTO {table} SELECT * FROM citizens")
    conn.execute("CREATE TABLE accounts_like (id bigserial PRIMARY KEY, citizen_id bigint)")
    conn.execute("INSERT INTO accounts_like (citizen_id) SELECT id FROM citizens ORDER BY random()")
    conn.execute("ANALYZE")


def _statements(table: str, rows: list[tuple[int, str, bytes]],
                accounts: int) -> dict[str, Callable[[], tuple[str, tuple[Any, ...]]]]:
    """Each statement's maker of (SQL, parameters) for a random citizen, on ``table``."""

    def lookup() -> tuple[str, tuple[Any, ...]]:
        _, personal_id, _ = random.choice(rows)
        bounds = (province_range(int(personal_id[:3])) if table == "p63"
                  else partition_of(personal_id))
        assert bounds is not None
        return (f"SELECT * FROM {table} WHERE personal_id = %s AND ((id >= {bounds[0]} AND "
                f"id < {bounds[1]}) OR id < {NEW_IDS})", (personal_id,))

    def by_id_bounded() -> tuple[str, tuple[Any, ...]]:
        citizen_id = random.choice(rows)[0]
        bounds = (province_range((citizen_id - NEW_IDS) // PROVINCE_SPAN) if table == "p63"
                  else partition_of_id(citizen_id))
        assert bounds is not None
        return (f"SELECT * FROM {table} WHERE id = %s AND id >= {bounds[0]} "
                f"AND id < {bounds[1]}", (citizen_id,))

    return {
        "lookup": lookup,
        "by_id": lambda: (f"SELECT * FROM {table} WHERE id = %s", (random.choice(rows)[0],)),
        "by_id_bounded": by_id_bounded,
        "join": lambda: (f"SELECT c.* FROM accounts_like AS a JOIN {table} AS c "
                         f"ON c.id = a.citizen_id WHERE a.id = %s",
                         (random.randrange(1, accounts + 1),)),
        "phone": lambda: (f"SELECT * FROM {table} WHERE phone_hash = %s",
                          (random.choice(rows)[2],)),
    }


def _timed(conn: psycopg.Connection[Any], make: Callable[[], tuple[str, tuple[Any, ...]]],
           runs: int) -> float:
    """The median microseconds of ``runs`` executions (after as many to warm up and prepare)."""
    timings = []
    for number in range(2 * runs):
        sql, params = make()
        began = time.perf_counter_ns()
        conn.execute(sql, params).fetchall()
        if number >= runs:
            timings.append((time.perf_counter_ns() - began) / 1000)
    return statistics.median(timings)


def run(*, citizens: int = 10_000, rounds: int = 5, runs: int = 1_000) -> dict[str, Any]:
    keys = new_keys()
    protector = Protector.from_settings(keys["PERSONAL_DATA_KEYS"], keys["LOOKUP_HASH_KEY"])
    with tempfile.TemporaryDirectory(prefix="vnid-bench-parts-") as tmp, \
            scratch_database("registry_partitions") as url:
        path = Path(tmp) / "registry.csv"
        generate_citizens(count=citizens, out=path, seed=11)
        engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
        try:
            import_citizens(session_factory=sessionmaker(engine), path=path, protector=protector,
                            actor=Actor(type="system", id="bench", source="cli"))
        finally:
            engine.dispose()
        with psycopg.connect(url, autocommit=True) as conn:
            _copies(conn)
            rows = conn.execute("SELECT id, personal_id, phone_hash FROM citizens").fetchall()
            makers = {layout: _statements(layout, rows, len(rows)) for layout in LAYOUTS}
            medians: dict[str, dict[str, float]] = {}
            for name in makers["flat"]:
                sides = {layout: (lambda layout=layout: _timed(conn, makers[layout][name], runs))
                         for layout in LAYOUTS}
                medians[name] = {layout: round(statistics.median(values), 1)
                                 for layout, values in alternate(rounds, sides).items()}
    return {"citizens": citizens, "rounds": rounds, "runs": runs, "median_us": medians}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--citizens", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--runs", type=int, default=1_000)
    arguments = parser.parse_args()
    started = time.monotonic()
    print(json.dumps(run(citizens=arguments.citizens, rounds=arguments.rounds,
                         runs=arguments.runs), indent=1))
    print(f"registry_partitions: {time.monotonic() - started:.1f} s")
