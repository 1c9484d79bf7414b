"""Concurrent audit writers on PostgreSQL: are they serialised by the hash chain?

K threads (1, 2, 4, 8) each run transactions for a fixed time: one
:func:`identity.audit.service.record_event`, then ~5 ms holding the
transaction open (the act's own work, a network hop), then commit. The same
runs are made on a database with the default 32 shards and on one cut down
to a single shard (one chain, the design this replaces). With one shard each
transaction waits for the previous one's commit, so throughput stays near
1 / 5 ms whatever K; with 32 shards it should grow with K. At the end
:func:`identity.audit.service.verify_chain` must pass on both databases.

Both databases exist at once; each of :data:`bench.common.ROUNDS` rounds
measures every K on each of them, in an order that turns from round to
round, and the speed-up (8 writers over 1) is taken per round.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import sessionmaker

from contextlib import ExitStack

from bench.common import ROUNDS, percentile, scratch_database, spread
from identity.audit.errors import AuditChainBroken
from identity.audit.models import AuditChainHead
from identity.audit.service import Actor, record_event, verify_chain

THREADS = (1, 2, 4, 8)
HOLD_S = 0.005
SHARD_SETTINGS = (32, 1)
#: Bounds that hold whatever the database does.
MAX_TX_PER_THREAD = 100_000
START_TIMEOUT = 30.0


@dataclass
class _Writer:
    """One writer thread's transactions during the measured window."""

    latencies: list[float] = field(default_factory=list)
    error: BaseException | None = None


def _write(factory: sessionmaker[Any], actor: Actor) -> None:
    with factory() as session, session.begin():
        record_event(db_session=session, actor=actor, action="bench.write",
                     details={"hold_ms": HOLD_S * 1000})
        session.flush()  # written now (else at the commit): its head stays locked for the hold
        time.sleep(HOLD_S)


def _writer(factory: sessionmaker[Any], index: int, start: threading.Barrier,
            duration: float, out: _Writer) -> None:
    actor = Actor(type="system", id=f"bench-writer-{index}", source="bench")
    try:
        _write(factory, actor)  # opens this thread's connection before the clock starts
        start.wait(timeout=START_TIMEOUT)
        until = time.perf_counter() + duration
        while time.perf_counter() < until and len(out.latencies) < MAX_TX_PER_THREAD:
            began = time.perf_counter()
            _write(factory, actor)
            out.latencies.append(time.perf_counter() - began)
    except BaseException as exc:  # reported by the main thread, not lost in this one
        out.error = exc
        start.abort()


def measure(factory: sessionmaker[Any], *, threads: int, duration: float) -> dict[str, Any]:
    """Throughput and latency of ``threads`` concurrent audited transactions."""
    start = threading.Barrier(threads + 1)
    writers = [_Writer() for _ in range(threads)]
    workers = [threading.Thread(target=_writer, args=(factory, i, start, duration, writers[i]),
                                name=f"audit-writer-{i}", daemon=True) for i in range(threads)]
    for worker in workers:
        worker.start()
    try:
        start.wait(timeout=START_TIMEOUT)
    except threading.BrokenBarrierError:
        pass  # a writer failed before the start: its error is raised below
    began = time.perf_counter()
    for worker in workers:
        worker.join(timeout=duration + START_TIMEOUT)
    elapsed = time.perf_counter() - began
    for writer in writers:
        if writer.error is not None:
            raise writer.error
    latencies = [s * 1000 for w in writers for s in w.latencies]
    return {"threads": threads, "transactions": len(latencies),
            "tx_per_s": round(len(latencies) / elapsed, 1),
            "ideal_tx_per_s": round(threads / HOLD_S),
            "p50_ms": round(percentile(latencies, 50), 2),
            "p99_ms": round(percentile(latencies, 99), 2)}


def _verify(factory: sessionmaker[Any]) -> dict[str, Any]:
    with factory() as session:
        try:
            report = verify_chain(db_session=session)
        except AuditChainBroken as exc:
            return {"passes": False, "error": str(exc)}
    return {"passes": True, "shards": report.shards, "events": report.events}


def _merge(shards: int, measured: list[dict[str, Any]]) -> dict[str, Any]:
    """One row for a (shards, threads) setting: the round of median throughput, and the spread."""
    median = sorted(measured, key=lambda m: m["tx_per_s"])[len(measured) // 2]
    return {"shards": shards, **median,
            "tx_per_s_spread": spread([m["tx_per_s"] for m in measured], 1),
            "transactions": sum(m["transactions"] for m in measured)}


def run(*, quick: bool = False) -> dict[str, Any]:
    """Throughput at 1-8 writers with 32 shards and with 1, in rounds; then verify both chains."""
    duration = 0.7 if quick else 2.0
    measured: dict[tuple[int, int], list[dict[str, Any]]] = {}
    verified: dict[str, Any] = {}
    with ExitStack() as stack:
        factories = {}
        for shards in SHARD_SETTINGS:
            url = stack.enter_context(scratch_database(f"audit_{shards}"))
            engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1),
                                      pool_size=max(THREADS), max_overflow=0, pool_timeout=30)
            stack.callback(engine.dispose)
            factory = sessionmaker(engine)
            with factory() as session, session.begin():
                session.execute(sa.delete(AuditChainHead).where(AuditChainHead.shard >= shards))
            factories[shards] = factory
        settings = [(shards, k) for shards in SHARD_SETTINGS for k in THREADS]
        for number in range(ROUNDS):
            turn = number % len(SHARD_SETTINGS)
            order = SHARD_SETTINGS[turn:] + SHARD_SETTINGS[:turn]
            for shards, k in sorted(settings, key=lambda s: order.index(s[0])):
                measured.setdefault((shards, k), []).append(
                    measure(factories[shards], threads=k, duration=duration))
        for shards, factory in factories.items():
            verified[f"{shards}_shards"] = _verify(factory)
    rows = [_merge(shards, runs) for (shards, _k), runs in measured.items()]
    low, high = min(THREADS), max(THREADS)
    speedup = {f"{shards}_shards": spread(
        [top["tx_per_s"] / one["tx_per_s"] if one["tx_per_s"] else 0.0
         for one, top in zip(measured[(shards, low)], measured[(shards, high)])], 2)
        for shards in SHARD_SETTINGS}
    return {"rows": rows,
            "summary": {f"speedup_{high}_vs_{low}_threads": speedup,
                        "verify_chain": verified, "rounds": ROUNDS,
                        "hold_ms": HOLD_S * 1000, "duration_s": duration}}
