"""The statistics overview at 10,000 and at 1,000,000 accounts (``make bench``, ``stats``).

Two scratch SQLite databases (the embedded default; PostgreSQL reads the same
summary tables) are filled: one with 10,000 citizens with an account each,
the other with 1,000,000. Rows are bulk-inserted by INSERT ...
SELECT over a recursive counter (a constant password hash, accounts spread
over the 3,321 communes and the last 365 days, 88 % active, a third of
those at level 2). As after any bulk load, the summaries are then brought
up to date the documented way: the daily counters of the new rows are
summed in by one INSERT ... SELECT ... GROUP BY, and ``account_counts`` and
the roll-ups are recomputed (what ``flask stats rebuild`` does).

At each size ``GET /api/v1/stats/overview`` is called in-process through
the Flask test client with an operator's token: a few warm-up calls (the
first rolls up the closed days; its time is reported as ``rollup_ms``),
then :data:`CALLS` timed calls, in :data:`bench.common.ROUNDS` rounds that
alternate between the two sizes (the order turning from round to round).
Figure: the median latency at 1,000,000 divided by the median at 10,000,
per round. Goal: at most 2 (the overview reads summary rows, whose number
grows with communes and days, not accounts).
"""
from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa

SMALL, LARGE = 10_000, 1_000_000
QUICK_LARGE = 100_000
CALLS = 60
WARMUP = 5
GOAL = 2.0


def _app(db_path: Path) -> Any:
    from app import create_app
    from config import load_config

    env = {**os.environ, "DATABASE_URL": f"sqlite:///{db_path}", "LOG_LEVEL": "WARNING"}
    env.pop("REDIS_URL", None)
    from config import STATS_FRESH_SECONDS_SERVED

    # STATS_FRESH_SECONDS as served (the testing configuration checks on every request).
    return create_app({**load_config("testing", env), "LOG_LEVEL": "WARNING",
                       "STATS_FRESH_SECONDS": STATS_FRESH_SECONDS_SERVED})


def _fill(connection: sa.Connection, first: int, last: int) -> None:
    """Citizens and accounts ``first``..``last`` (ids), and their daily counters."""
    params = {"first": first, "last": last}
    connection.execute(sa.text("""
        WITH RECURSIVE n(i) AS (SELECT :first UNION ALL SELECT i + 1 FROM n WHERE i < :last)
        INSERT INTO citizens (id, personal_id, full_name, name_key, date_of_birth, gender,
                              nationality, ethnicity, place_of_origin, province_code,
                              commune_code, address, created_at, updated_at)
        SELECT i, printf('0010%08d', i), 'Bench Citizen', 'bench citizen', '1990-01-01', 'M',
               'VN', 'Kinh', '', b.province_code, b.commune_code, 'Bench street',
               '2025-01-01 00:00:00.000000', '2025-01-01 00:00:00.000000'
        FROM n JOIN bench_communes AS b ON b.n = i % (SELECT count(*) FROM bench_communes)
    """), params)
    connection.execute(sa.text("""
        WITH RECURSIVE n(i) AS (SELECT :first UNION ALL SELECT i + 1 FROM n WHERE i < :last)
        INSERT INTO accounts (id, citizen_id, level, status, phone_encrypted, phone_hash,
                              password_hash, passcode_hash, failed_passcodes, token_version,
                              created_at, updated_at)
        SELECT i, i,
               CASE WHEN i % 100 < 88 AND i % 3 = 0 THEN 2 ELSE 1 END,
               CASE WHEN i % 100 < 88 THEN 'active' WHEN i % 100 < 95 THEN 'pending_review'
                    WHEN i % 100 < 98 THEN 'locked' ELSE 'rejected' END,
               x'00', x'00', '$argon2id$bench', '$argon2id$bench', 0, 1,
               strftime('%Y-%m-%d 09:00:00.000000', 'now', '-' || ((i * 7919) % 365) || ' days'),
               strftime('%Y-%m-%d 09:00:00.000000', 'now', '-' || ((i * 7919) % 365) || ' days')
        FROM n
    """), params)
    for metric, where in (("accounts.registered", "1 = 1"),
                          ("accounts.activated", "a.status IN ('active', 'locked')"),
                          ("accounts.level2", "a.level = 2")):
        connection.execute(sa.text(f"""
            INSERT INTO usage_counters (day, metric, province_code, commune_code, count)
            SELECT date(a.created_at), :metric, c.province_code, c.commune_code, count(*)
            FROM accounts AS a JOIN citizens AS c ON c.id = a.citizen_id
            WHERE a.id BETWEEN :first AND :last AND {where}
            GROUP BY date(a.created_at), c.province_code, c.commune_code
            ON CONFLICT (day, metric, province_code, commune_code, slot)
            DO UPDATE SET count = usage_counters.count + excluded.count
        """), {**params, "metric": metric})


def _rebuild(app: Any) -> None:
    from app.extensions import db
    from identity.monitoring.accounts import rebuild_account_counts

    with app.app_context():
        session = db.session()
        rebuild_account_counts(session)
        # The roll-ups start over: the first overview call rolls up, timed apart (rollup_ms).
        session.execute(sa.text("DELETE FROM rollup_state"))
        session.execute(sa.text("DELETE FROM usage_rollups"))
        session.commit()
        session.close()


def _warm(app: Any, token: str, accounts: int) -> float:
    """The first call (it rolls up the closed days; its ms) and the warm-up calls."""
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    started = time.perf_counter()
    first = client.get("/api/v1/stats/overview", headers=headers)
    rollup_ms = (time.perf_counter() - started) * 1000
    assert first.status_code == 200, first.get_json()
    assert first.get_json()["accounts"]["total"] == accounts, first.get_json()["accounts"]
    for _ in range(WARMUP):
        client.get("/api/v1/stats/overview", headers=headers)
    return rollup_ms


def _time_calls(app: Any, token: str, calls: int) -> list[float]:
    """Milliseconds of each of ``calls`` overview calls."""
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    times = []
    for _ in range(calls):
        started = time.perf_counter()
        answer = client.get("/api/v1/stats/overview", headers=headers)
        times.append((time.perf_counter() - started) * 1000)
        assert answer.status_code == 200
    return times


def _prepared(path: Path, size: int) -> tuple[Any, str, float]:
    """An app on a new SQLite database of ``size`` accounts; its operator token, load seconds."""
    from flask_migrate import upgrade

    from app.extensions import db
    from identity.audit.service import Actor
    from identity.monitoring import operators
    from identity.registry import admin_units

    app = _app(path)
    with app.app_context():
        upgrade()
        _, token = operators.create_operator(db_session=db.session(),
                                             actor=Actor(type="operator", id="bench"),
                                             name="bench")
        with db.engine.begin() as connection:
            connection.execute(sa.text(
                "CREATE TABLE bench_communes (n INTEGER PRIMARY KEY, province_code TEXT, "
                "commune_code TEXT)"))
            connection.execute(sa.text("INSERT INTO bench_communes VALUES (:n, :p, :c)"), [
                {"n": n, "p": commune.province_code, "c": commune.code}
                for n, commune in enumerate(admin_units.communes().values())])
    started = time.perf_counter()
    with app.app_context(), db.engine.begin() as connection:
        _fill(connection, 1, size)
    _rebuild(app)
    return app, token, time.perf_counter() - started


def run(quick: bool = False) -> dict[str, Any]:
    """Fill 10,000 and 1,000,000 (100,000 with ``--quick``), measure both in rounds."""
    from app.extensions import db
    from bench.common import ROUNDS, percentile, table_entry

    large = QUICK_LARGE if quick else LARGE
    sizes = (SMALL, large)
    with tempfile.TemporaryDirectory(prefix="vnid-bench-stats-") as tmp:
        prepared = {size: _prepared(Path(tmp) / f"stats-{size}.sqlite3", size) for size in sizes}
        rollup = {size: _warm(app, token, size) for size, (app, token, _s) in prepared.items()}
        times: dict[int, list[list[float]]] = {size: [] for size in sizes}
        for number in range(ROUNDS):
            for size in (sizes if number % 2 == 0 else sizes[::-1]):
                app, token, _seconds = prepared[size]
                times[size].append(_time_calls(app, token, CALLS // ROUNDS))
        for app, _token, _seconds in prepared.values():
            with app.app_context():
                db.engine.dispose()
    rows = []
    for size in sizes:
        every = [t for part in times[size] for t in part]
        rows.append({"accounts": size, "median_ms": round(statistics.median(every), 2),
                     "p90_ms": round(percentile(every, 90), 2),
                     "rollup_ms": round(rollup[size], 1),
                     "load_s": round(prepared[size][2], 1)})
    per_round = [statistics.median(b) / statistics.median(a)
                 for a, b in zip(times[SMALL], times[large])]
    entry = table_entry(per_round, GOAL, at_most=True)
    return {"sizes": rows, "ratio_large_to_small": entry, "goal_max_ratio": GOAL,
            "met": entry["meets_goal"], "database": "sqlite"}


if __name__ == "__main__":
    import json
    import sys

    print(json.dumps(run(quick="--quick" in sys.argv), indent=2))
