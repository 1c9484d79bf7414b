"""Citizen look-up by personal id: does it stay as fast at a million citizens as at 10,000?

For each size, a scratch database gets a generated registry, imported with
:func:`identity.registry.importer.import_citizens` and then ``ANALYZE``d (as
an operator would after a bulk load). Random look-ups through
:func:`identity.registry.service.get_citizen` on a plain SQLAlchemy session
are then timed one by one: ids sampled from the generated file plus about 1%
ids that no citizen holds. Goal: the median at the large size is at most 1.2
times the median at 10,000 (one B-tree probe, one level deeper at most).
"""
from __future__ import annotations

import csv
import random
import tempfile
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import sessionmaker

from bench.common import new_keys, percentile, scratch_database
from identity.audit.service import Actor
from identity.protection import Protector
from identity.registry.generator import generate_citizens
from identity.registry.importer import import_citizens
from identity.registry.service import get_citizen

SMALL = 10_000
LARGE = 1_000_000
QUICK_LARGE = 100_000
LOOKUPS = 20_000
WARMUP_LOOKUPS = 1_000
MISS_SHARE = 0.01
#: Look-ups per session: a session per "request", closed between them.
PER_SESSION = 100
GOAL_RATIO = 1.2
ACTOR = Actor(type="system", id="bench", source="cli")


def sample_ids(path: Path, *, rows: int, count: int, rng: random.Random) -> list[str]:
    """``count`` personal ids drawn at random (with repeats) from a registry CSV of ``rows``."""
    wanted: dict[int, int] = {}
    for line in rng.choices(range(rows), k=count):
        wanted[line] = wanted.get(line, 0) + 1
    ids: list[str] = []
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh)
        column = next(reader).index("personal_id")
        for line, row in enumerate(reader):
            ids += [row[column]] * wanted.get(line, 0)
    rng.shuffle(ids)
    return ids


def _with_misses(ids: list[str], rng: random.Random) -> list[str]:
    """Replace about 1% of ids by ids that no citizen holds (province 99 does not exist)."""
    return [f"099{rng.randrange(10**9):09d}" if rng.random() < MISS_SHARE else pid for pid in ids]


def _time_lookups(factory: sessionmaker[Any], ids: list[str]) -> tuple[list[float], int]:
    """Microseconds of each look-up, and how many found a citizen."""
    timings: list[float] = []
    found = 0
    for start in range(0, len(ids), PER_SESSION):
        with factory() as session:
            for personal_id in ids[start:start + PER_SESSION]:
                began = time.perf_counter_ns()
                citizen = get_citizen(db_session=session, personal_id=personal_id)
                timings.append((time.perf_counter_ns() - began) / 1000)
                found += citizen is not None
    return timings, found


def measure_size(rows: int, *, lookups: int, workdir: Path, seed: int = 7) -> dict[str, Any]:
    """Generate, import and query a registry of ``rows`` citizens in a scratch database."""
    csv_path = workdir / f"registry-{rows}.csv"
    started = time.perf_counter()
    generate_citizens(count=rows, out=csv_path)
    generate_s = time.perf_counter() - started
    keys = new_keys()
    protector = Protector.from_settings(keys["PERSONAL_DATA_KEYS"], keys["LOOKUP_HASH_KEY"])
    rng = random.Random(seed)
    ids = _with_misses(sample_ids(csv_path, rows=rows, count=WARMUP_LOOKUPS + lookups, rng=rng),
                       rng)
    with scratch_database(f"lookup_{rows}", migrated=True) as url:
        engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1),
                                  pool_size=1, max_overflow=0)
        try:
            factory = sessionmaker(engine)
            started = time.perf_counter()
            summary = import_citizens(session_factory=factory, path=csv_path,
                                      protector=protector, actor=ACTOR)
            import_s = time.perf_counter() - started
            with engine.connect() as connection:
                connection.execute(sa.text("ANALYZE citizens"))
                connection.commit()
            _time_lookups(factory, ids[:WARMUP_LOOKUPS])
            timings, found = _time_lookups(factory, ids[WARMUP_LOOKUPS:])
        finally:
            engine.dispose()
    csv_path.unlink()
    return {"citizens": summary.rows_imported, "rejected": summary.rows_rejected,
            "generate_s": round(generate_s, 1), "import_s": round(import_s, 1),
            "import_rows_per_s": round(summary.rows_imported / import_s),
            "lookups": len(timings), "found": found,
            "median_us": round(percentile(timings, 50), 1),
            "p99_us": round(percentile(timings, 99), 1)}


def run(*, quick: bool = False, lookups: int = LOOKUPS) -> dict[str, Any]:
    """Measure look-ups at 10,000 citizens and at 1,000,000 (100,000 with ``quick``)."""
    large = QUICK_LARGE if quick else LARGE
    with tempfile.TemporaryDirectory(prefix="vnid-bench-lookup-") as tmp:
        rows = [{"size": size, **measure_size(size, lookups=lookups, workdir=Path(tmp))}
                for size in (SMALL, large)]
    small, big = rows
    median_ratio = round(big["median_us"] / small["median_us"], 2)
    return {"rows": rows,
            "summary": {"median_ratio": median_ratio,
                        "p99_ratio": round(big["p99_us"] / small["p99_us"], 2),
                        "goal_median_ratio": GOAL_RATIO, "meets_goal": median_ratio <= GOAL_RATIO,
                        "sizes": f"{large:,} vs {SMALL:,}"}}
