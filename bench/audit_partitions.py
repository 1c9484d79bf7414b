"""What the audit log's monthly partitions cost an insert: PostgreSQL's own figure.

Two tables shaped as ``audit_events`` (its keys and its subject index) in a scratch database:
one table, and one partitioned by month as migration 0017 leaves it (a legacy partition, three
months, a default). pgbench inserts single rows into each, autocommitted, prepared, one client,
``synchronous_commit`` off so the WAL flush does not hide the routing; the two alternate for
``--rounds`` rounds. Prints each round's average latency and the medians.

    .venv/bin/python -m bench.audit_partitions [--rounds 3] [--inserts 30000]

Needs PostgreSQL on ``PGHOST``/``PGPORT`` (127.0.0.1:5432, user postgres) and its pgbench.
"""
from __future__ import annotations

import argparse
import glob
import os
import re
import statistics
import subprocess
import tempfile
import uuid
from pathlib import Path

_COLUMNS = ("id bigserial, shard int NOT NULL, seq bigint NOT NULL, occurred_at timestamptz "
            "NOT NULL, subject_type varchar(32), subject_id varchar(64), details json NOT NULL")
_TABLES = f"""
CREATE TABLE flat ({_COLUMNS}, PRIMARY KEY (id), UNIQUE (shard, seq));
CREATE INDEX ON flat (subject_type, subject_id, occurred_at);
CREATE TABLE part ({_COLUMNS}, PRIMARY KEY (id, occurred_at), UNIQUE (shard, seq, occurred_at))
    PARTITION BY RANGE (occurred_at);
CREATE INDEX ON part (subject_type, subject_id, occurred_at);
CREATE TABLE part_legacy PARTITION OF part FOR VALUES FROM (MINVALUE)
    TO (date_trunc('month', now()) + interval '1 month');
CREATE TABLE part_m1 PARTITION OF part FOR VALUES FROM (date_trunc('month', now())
    + interval '1 month') TO (date_trunc('month', now()) + interval '2 month');
CREATE TABLE part_m2 PARTITION OF part FOR VALUES FROM (date_trunc('month', now())
    + interval '2 month') TO (date_trunc('month', now()) + interval '3 month');
CREATE TABLE part_default PARTITION OF part DEFAULT;
"""
_INSERT = """\\set s random(1, 9000000000000000)
\\set shard :s % 32
INSERT INTO {table} (shard, seq, occurred_at, subject_type, subject_id, details)
VALUES (:shard, :s, now(), 'citizen', '12345', '{{"n": 1}}');
"""


def _pgbench() -> str:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pgbench"))
    if not found:
        raise SystemExit("pgbench not found (Debian's postgresql package has it)")
    return found[-1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--inserts", type=int, default=30_000)
    args = parser.parse_args(argv)
    env = {**os.environ, "PGHOST": os.environ.get("PGHOST", "127.0.0.1"),
           "PGPORT": os.environ.get("PGPORT", "5432"), "PGUSER": os.environ.get("PGUSER",
                                                                                "postgres")}
    database = f"vnid_partitions_{uuid.uuid4().hex[:8]}"
    subprocess.run(["psql", "-q", "-d", "postgres", "-c", f"CREATE DATABASE {database}"],
                   check=True, env=env)
    try:
        subprocess.run(["psql", "-q", "-d", database, "-c", _TABLES], check=True, env=env)
        latencies: dict[str, list[float]] = {"one table": [], "by month": []}
        with tempfile.TemporaryDirectory() as folder:
            for _round in range(args.rounds):
                for label, table in (("one table", "flat"), ("by month", "part")):
                    script = Path(folder) / f"{table}.sql"
                    script.write_text(_INSERT.format(table=table))
                    done = subprocess.run(
                        [_pgbench(), "-n", "-M", "prepared", "-c", "1", "-t", str(args.inserts),
                         "-f", str(script), database], check=True, capture_output=True,
                        text=True, env={**env, "PGOPTIONS": "-c synchronous_commit=off"})
                    found = re.search(r"latency average = ([\d.]+) ms", done.stdout)
                    assert found is not None, done.stdout
                    latencies[label].append(float(found[1]) * 1000)
                    print(f"{label:>10}: {latencies[label][-1]:.0f} µs an insert")
        one, by_month = (statistics.median(latencies[k]) for k in ("one table", "by month"))
        print(f"median: one table {one:.0f} µs, by month {by_month:.0f} µs "
              f"({by_month / one:.3f}×), {args.rounds} rounds of {args.inserts:,} inserts")
    finally:
        subprocess.run(["psql", "-q", "-d", "postgres", "-c",
                        f"DROP DATABASE IF EXISTS {database}"], check=True, env=env)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
