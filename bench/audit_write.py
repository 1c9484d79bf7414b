"""The shared write path of the hot endpoints: one audit event, one usage counter, the commit.

What every online verification, identity match or refresh pays beside its own
reads: :func:`identity.audit.service.record_event` + :func:`identity.monitoring.counters.bump`
+ ``commit``, in an application context as a request has (pool checkout and return
included). Prints the CPU and wall time per write, and the round trips to the database
counted from SQLAlchemy's events (a statement, the driver's ``BEGIN`` before the first
statement of a transaction, ``COMMIT``, a liveness ping on checkout).

Then ``--threads`` clients at once (as the threads of one granian worker), with the
number of WAL flushes PostgreSQL made (``pg_stat_wal``): fewer flushes than commits is
PostgreSQL's group commit at work.

``--verify``: whole online verifications instead (``POST /api/v1/credentials/verify`` by an
officer, through Flask's test client in this process: the route, the token check, the
credential's row, the write and the commit), with the same counts.

Run it on a database you created (it migrates it and writes audit rows into it)::

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/vnid_h6 \\
        .venv/bin/python -m bench.audit_write --iterations 2000 [--verify]
"""
from __future__ import annotations

import argparse
import os
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa


def _counting(engine: sa.Engine) -> Counter[str]:
    """Round trips of ``engine`` by kind, counted from its events."""
    trips: Counter[str] = Counter()

    @sa.event.listens_for(engine, "before_cursor_execute")
    def _statement(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        trips["statement:" + statement.split(None, 1)[0].upper()] += 1

    @sa.event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        if conn.dialect.name == "postgresql":
            trips["BEGIN"] += 1  # psycopg sends it before the transaction's first statement

    @sa.event.listens_for(engine, "commit")
    def _commit(conn: Any) -> None:
        trips["COMMIT"] += 1

    dialect = engine.dialect
    ping = dialect.do_ping

    def _ping(dbapi_connection: Any) -> bool:
        trips["ping"] += 1
        return ping(dbapi_connection)

    dialect.do_ping = _ping  # type: ignore[method-assign]
    return trips


def _write(app: Any, i: int) -> None:
    from app.extensions import db
    from identity.audit.service import Actor, record_event
    from identity.monitoring.counters import bump

    actor = Actor(type="party", id="bench-party", source="203.0.113.9", request_id=f"req-{i}")
    with app.app_context():
        session = db.session()
        record_event(db_session=session, actor=actor, action="credential.verified",
                     subject_type="citizen", subject_id=1000 + i % 5000,
                     details={"by": "Bench bank", "result": "valid", "credential_id": "ab" * 8,
                              "type": "identity_basic"})
        bump(session, metric="credentials.verified", province_code="01",
             commune_code=f"{i % 50:05d}")
        session.commit()


def _verifier(app: Any) -> Callable[[Any, int], None]:
    """A credential and an officer's token on ``app``; a function verifying it once."""
    from tests import flows
    from tests.faults.helpers import issued_credential

    from app.extensions import db, get_protector

    client = app.test_client()
    qr = issued_credential(app, client)[1]["qr"]
    with app.app_context():
        officer = flows.create_officer(db.session(), get_protector(),
                                       username=f"officer.{uuid.uuid4().hex[:8]}")
    headers = flows.bearer(officer.log_in(client))

    def verify(_app: Any, _i: int) -> None:
        answer = client.post("/api/v1/credentials/verify", json={"qr": qr}, headers=headers)
        assert answer.status_code == 200 and answer.get_json()["valid"], answer.get_json()
    return verify


def _wal_syncs(engine: sa.Engine) -> int | None:
    if engine.dialect.name != "postgresql":
        return None
    with engine.connect() as conn:
        return int(conn.execute(sa.text("SELECT wal_sync FROM pg_stat_wal")).scalar() or 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--iterations", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--profile", action="store_true", help="cProfile the serial run")
    parser.add_argument("--verify", action="store_true",
                        help="whole online verifications through the test client")
    args = parser.parse_args()

    from flask_migrate import upgrade

    from app import create_app
    from app.extensions import db
    from config import load_config

    url = os.environ.get("DATABASE_URL")
    if not url:
        raise SystemExit("set DATABASE_URL to a database you created")
    app = create_app(load_config("testing", {"DATABASE_URL": url}))
    with app.app_context():
        upgrade()
        engine = db.engine
    write = _verifier(app) if args.verify else _write
    what = "verifications" if args.verify else "writes"
    for i in range(50):  # warm the statement caches and the pool
        write(app, i)
    trips = _counting(engine)
    profiler = None
    if args.profile:
        import cProfile
        profiler = cProfile.Profile(time.process_time)  # CPU, not waits
        profiler.enable()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for i in range(args.iterations):
        write(app, i)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    if profiler is not None:
        import pstats
        profiler.disable()
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(45)
    n = args.iterations
    print(f"serial, {n} {what} on {engine.dialect.name}: "
          f"CPU {cpu / n * 1e6:.0f} µs each, wall {wall / n * 1e6:.0f} µs each, "
          f"round trips {sum(trips.values()) / n:.2f} each")
    for kind, count in sorted(trips.items()):
        print(f"  {kind:<20} {count / n:.2f} each")

    syncs0 = _wal_syncs(engine)
    per_thread = max(1, n // args.threads)
    barrier = threading.Barrier(args.threads)

    def client(index: int) -> None:
        barrier.wait()
        for j in range(per_thread):
            write(app, index * per_thread + j)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(args.threads)]
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    total = per_thread * args.threads
    syncs = _wal_syncs(engine)
    flushes = "" if syncs is None or syncs0 is None else (
        f", WAL flushes {syncs - syncs0} for {total} commits")
    print(f"{args.threads} threads, {total} {what}: {total / wall:.0f}/s, "
          f"CPU {cpu / total * 1e6:.0f} µs each{flushes}")
    with app.app_context():
        from identity.audit.service import verify_chain
        print("chains verify:", verify_chain(db_session=db.session()))
        engine.dispose()


if __name__ == "__main__":
    main()
