"""Citizen look-up by personal id: does it stay as fast at a million citizens (or ten: ``--large``)
as at 10,000?

For each size, a scratch database gets a generated registry, imported with
:func:`identity.registry.importer.import_citizens` and then ``ANALYZE``d (as
an operator would after a bulk load). Random look-ups through
:func:`identity.registry.service.get_citizen` on a plain SQLAlchemy session
are then timed one by one: ids sampled from the generated file plus about 1%
ids that no citizen holds, in rounds that alternate between the two sizes.
Goal: the median at the large size is at most 1.2 times the median at 10,000
(one B-tree probe, one level deeper at most).
"""
from __future__ import annotations

import csv
import random
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import sessionmaker

from bench.common import new_keys, percentile, scratch_database, table_entry
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
#: The measured look-ups are split into rounds, alternating between the two registries.
ROUNDS = 10
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
    """Replace about 1% of ids by ids that no citizen holds (no province has code 099)."""
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


@dataclass
class _Registry:
    """A populated scratch registry, ready to be queried."""

    size: int
    factory: sessionmaker[Any]
    ids: list[str]
    facts: dict[str, Any]
    timings: list[float] = field(default_factory=list)
    found: int = 0
    #: The median of each round's look-ups.
    round_medians: list[float] = field(default_factory=list)


@contextmanager
def _registry(rows: int, *, lookups: int, workdir: Path, rng: random.Random) -> Iterator[_Registry]:
    """Generate and import ``rows`` citizens into a scratch database, dropped on exit."""
    csv_path = workdir / f"registry-{rows}.csv"
    started = time.perf_counter()
    generate_citizens(count=rows, out=csv_path)
    generate_s = time.perf_counter() - started
    ids = _with_misses(sample_ids(csv_path, rows=rows, count=lookups, rng=rng), rng)
    keys = new_keys()
    protector = Protector.from_settings(keys["PERSONAL_DATA_KEYS"], keys["LOOKUP_HASH_KEY"])
    with scratch_database(f"lookup_{rows}") as url:
        engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1),
                                  pool_size=1, max_overflow=0)
        try:
            factory = sessionmaker(engine)
            started = time.perf_counter()
            summary = import_citizens(session_factory=factory, path=csv_path,
                                      protector=protector, actor=ACTOR)
            import_s = time.perf_counter() - started
            csv_path.unlink()
            with engine.connect() as connection:
                connection.execute(sa.text("ANALYZE citizens"))
                connection.commit()
            yield _Registry(rows, factory, ids, {
                "citizens": summary.rows_imported, "rejected": summary.rows_rejected,
                "generate_s": round(generate_s, 1), "import_s": round(import_s, 1),
                "import_rows_per_s": round(summary.rows_imported / import_s)})
        finally:
            engine.dispose()


def run(*, quick: bool = False, lookups: int = LOOKUPS, seed: int = 7,
        large: int | None = None) -> dict[str, Any]:
    """Measure look-ups at 10,000 citizens and at 1,000,000 (100,000 with ``quick``; ``large``
    citizens when given: ``python -m bench.lookup --large 10000000``).

    Both registries exist at once and are queried in alternating rounds, so a
    drift of the machine (another process, the CPU's clock) weighs on both alike.
    """
    large = large or (QUICK_LARGE if quick else LARGE)
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory(prefix="vnid-bench-lookup-") as tmp, ExitStack() as stack:
        registries = [stack.enter_context(_registry(size, lookups=WARMUP_LOOKUPS + lookups,
                                                    workdir=Path(tmp), rng=rng))
                      for size in (SMALL, large)]
        for registry in registries:
            _time_lookups(registry.factory, registry.ids[:WARMUP_LOOKUPS])
        step = lookups // ROUNDS
        for start in range(WARMUP_LOOKUPS, WARMUP_LOOKUPS + lookups, step):
            for registry in registries:
                timings, found = _time_lookups(registry.factory, registry.ids[start:start + step])
                registry.timings += timings
                registry.found += found
                registry.round_medians.append(percentile(timings, 50))
    rows = [{"size": r.size, **r.facts, "lookups": len(r.timings), "found": r.found,
             "median_us": round(percentile(r.timings, 50), 1),
             "p99_us": round(percentile(r.timings, 99), 1)} for r in registries]
    small, big = rows
    median_ratio = round(big["median_us"] / small["median_us"], 2)
    per_round = [b / a for a, b in zip(registries[0].round_medians, registries[1].round_medians)]
    return {"rows": rows,
            "ratio_per_round": table_entry(per_round, GOAL_RATIO, at_most=True),
            "summary": {"median_ratio": median_ratio,
                        "p99_ratio": round(big["p99_us"] / small["p99_us"], 2),
                        "goal_median_ratio": GOAL_RATIO, "meets_goal": median_ratio <= GOAL_RATIO,
                        "sizes": f"{large:,} vs {SMALL:,}"}}


if __name__ == "__main__":
    import argparse
    import json

    parser = argparse.ArgumentParser(description="The look-up bench at one large size.")
    parser.add_argument("--large", type=int, default=LARGE, help="citizens of the large registry")
    parser.add_argument("--lookups", type=int, default=LOOKUPS)
    arguments = parser.parse_args()
    started = time.monotonic()
    print(json.dumps(run(large=arguments.large, lookups=arguments.lookups), indent=1))
    print(f"lookup: {time.monotonic() - started:.1f} s")
