"""The protected tables are built once per content of the summary tables, and checked again
at most ``STATS_FRESH_SECONDS`` apart (0 in the tests: on every request).

Protecting every place's cells costs far more than reading them, so
:mod:`identity.monitoring.table_cache` keeps the tables built, keyed by
what they were built from, read from the database on every request. These
tests change the counts in each way the keys must notice (a move between two
cells that keeps the number of rows and the sum, a counter bumped today, a
rebuild of closed days) and read the figures straight after.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import time_machine
from sqlalchemy.orm import sessionmaker

from identity.monitoring import counters, protected, published, statistics, table_cache
from identity.monitoring.disclosure import Line, protect
from tests.factories import add_account
from tests.flows import bearer
from tests.identity.monitoring.helpers import new_operator

VN = dt.timezone(dt.timedelta(hours=7))
MIN = 10
BIG = "00070"  # Phường Hoàn Kiếm (Hà Nội)


def at(day: dt.date) -> Any:
    """Travel to noon (Vietnam) of ``day``."""
    return time_machine.travel(dt.datetime(day.year, day.month, day.day, 12, tzinfo=VN),
                               tick=False)


@pytest.fixture()
def stats(app, client, db_session, monkeypatch) -> Any:
    """``stats(path)``: the JSON of a statistics view, at the threshold of 10, from no cache."""
    monkeypatch.setitem(app.config, "STATS_MIN_COUNT", MIN)
    table_cache.clear_cache()
    token = new_operator(db_session)

    def get(path: str) -> Any:
        answer = client.get(f"/api/v1/stats{path}", headers=bearer(token))
        assert answer.status_code == 200, answer.get_json()
        return answer.get_json()
    return get


@pytest.fixture()
def builds(monkeypatch) -> dict[str, int]:
    """How many times each protected table was built (not read from the cache)."""
    made = {"accounts": 0, "activity": 0}
    account_table, activity_table = protected._account_table, protected.activity_table

    def count_accounts(*args: Any, **kwargs: Any) -> Any:
        made["accounts"] += 1
        return account_table(*args, **kwargs)

    def count_activity(*args: Any, **kwargs: Any) -> Any:
        made["activity"] += 1
        return activity_table(*args, **kwargs)
    monkeypatch.setattr(protected, "_account_table", count_accounts)
    monkeypatch.setattr(protected, "activity_table", count_activity)
    return made


def test_a_table_is_built_once_per_content_of_the_counts(stats, builds, db_session, protector):
    for _ in range(12):
        add_account(db_session, protector, commune_code=BIG)
    first = stats("/overview")
    assert stats("/overview") == first and stats("/provinces/01")["accounts"]["total"] == 12
    assert builds == {"accounts": 1, "activity": 1}
    add_account(db_session, protector, commune_code=BIG)
    assert stats("/overview")["accounts"]["total"] == 13
    assert builds["accounts"] == 2


def test_within_the_fresh_window_a_process_answers_without_reading_the_counts(
        app, stats, builds, db_session, protector, monkeypatch):
    """``STATS_FRESH_SECONDS``: served processes check the counts at most that often; a
    change shows once the window has passed, and each answer is one consistent table."""
    monkeypatch.setitem(app.config, "STATS_FRESH_SECONDS", 60)
    reads = {"accounts": 0}
    rows_columns = table_cache.rows_columns

    def count_reads(*args: Any, **kwargs: Any) -> Any:
        reads["accounts"] += 1
        return rows_columns(*args, **kwargs)
    monkeypatch.setattr(table_cache, "rows_columns", count_reads)
    for _ in range(12):
        add_account(db_session, protector, commune_code=BIG)
    assert stats("/overview")["accounts"]["total"] == 12
    read_once = reads["accounts"]
    add_account(db_session, protector, commune_code=BIG)
    assert stats("/overview")["accounts"]["total"] == 12  # within the window: not read again
    assert reads["accounts"] == read_once
    with time_machine.travel(dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=61)):
        assert stats("/overview")["accounts"]["total"] == 13
    assert builds["accounts"] == 2


def test_a_move_between_two_cells_is_seen_at_once(stats, db_session, protector):
    """Same rows, same sum, same total: only the cells changed. The next answer shows it."""
    accounts = [add_account(db_session, protector, commune_code=BIG) for _ in range(12)]
    for _ in range(11):
        add_account(db_session, protector, commune_code=BIG, status="locked")
    for path in ("/overview", "/provinces/01", f"/communes/{BIG}"):
        assert stats(path)["accounts"]["by_status"]["active"] == 12
    accounts[0].status = "locked"
    db_session.flush()
    for path in ("/overview", "/provinces/01", f"/communes/{BIG}"):
        body = stats(path)["accounts"]
        assert (body["total"], body["by_status"]["active"], body["by_status"]["locked"]) == (
            23, 11, 12), path


def test_a_counter_bumped_today_is_seen_at_once(stats, db_session):
    today = dt.date(2026, 11, 20)
    with at(today):
        counters.bump(db_session, metric="accounts.registered", province_code="01",
                      commune_code=BIG, amount=12)
        assert stats("/overview")["registrations"]["days"][-1]["registered"] == 12
        counters.bump(db_session, metric="accounts.registered", province_code="01",
                      commune_code=BIG, amount=3)
        assert stats("/overview")["registrations"]["days"][-1]["registered"] == 15
        assert stats("/provinces/01")["registrations"]["days"][-1]["registered"] == 15


def test_a_rebuild_of_closed_days_is_seen_at_once(stats, db_session):
    """Counters of a rolled-up day changed outside the service, then ``flask stats rebuild``."""
    closed, today = dt.date(2026, 11, 10), dt.date(2026, 11, 20)
    with at(closed):
        counters.bump(db_session, metric="accounts.registered", province_code="01",
                      commune_code=BIG, amount=20)
    with at(today):
        days = {row["day"]: row for row in stats("/overview")["registrations"]["days"]}
        assert days[closed.isoformat()]["registered"] == 20
    with at(closed):  # a bulk load: the same row, a bigger count
        counters.bump(db_session, metric="accounts.registered", province_code="01",
                      commune_code=BIG, amount=15)
    with at(today):
        statistics.roll_up(db_session, today=today, rebuild=True)
        days = {row["day"]: row for row in stats("/overview")["registrations"]["days"]}
        assert days[closed.isoformat()]["registered"] == 35


def test_a_table_built_while_the_counts_moved_is_not_kept(db_session):
    stamps = iter(["after", "before"])
    built: list[str] = []

    def build() -> str:
        built.append("table")
        return f"table {len(built)}"
    cached = table_cache.cached
    assert cached(db_session, ("test",), "before", build, lambda: next(stamps)) == "table 1"
    # the stamp read after the build differed: the next request builds again
    assert cached(db_session, ("test",), "before", build, lambda: next(stamps)) == "table 2"
    assert cached(db_session, ("test",), "before", build) == "table 2"
    assert len(built) == 2


def test_each_database_has_tables_of_its_own(app, db_session):
    """Tests each run in a transaction of their own (rolled back), a process may serve two
    databases: a table built from one is never served from another with the same stamp."""
    from app.extensions import db

    table_cache.cached(db_session, ("test",), "same", lambda: "from the test's transaction")
    with app.app_context():
        other = db.engine.connect()
        try:
            session = sessionmaker(bind=other)()
            assert table_cache.cached(session, ("test",), "same",
                                      lambda: "from another") == "from another"
            session.close()
        finally:
            other.close()
    assert table_cache.cached(db_session, ("test",), "same", lambda: "built again") == (
        "from the test's transaction")


def test_the_cells_hidden_do_not_depend_on_the_order_of_the_lines():
    """Processes list the lines in different orders (set iteration is randomised per process,
    row order is the database's): all must hide the same cells, or two nodes' answers together
    would give back what each hides. A table where the order used to change the complements."""
    import random

    values = {(r, c): v for (r, c), v in zip(
        [(r, c) for r in range(3) for c in range(3)], [3, 1, 12, 1, 40, 40, 40, 20, 5])}
    for r in range(3):
        values[(r, "*")] = sum(values[(r, c)] for c in range(3))
    for c in range(3):
        values[("*", c)] = sum(values[(r, c)] for r in range(3))
    values[("*", "*")] = sum(values[(r, "*")] for r in range(3))
    lines = [Line((r, "*"), tuple((r, c) for c in range(3))) for r in range(3)]
    lines += [Line(("*", c), tuple((r, c) for r in range(3))) for c in range(3)]
    lines += [Line(("*", "*"), tuple((r, "*") for r in range(3))),
              Line(("*", "*"), tuple(("*", c) for c in range(3)))]
    results = set()
    for seed in range(20):
        shuffled = lines[:]
        random.Random(seed).shuffle(shuffled)
        results.add(protect(values, shuffled, MIN))
    assert len(results) == 1, results


def test_a_field_holding_the_separator_is_read_the_slow_way(stats, db_session, protector,
                                                            monkeypatch):
    """The rows come back as one text per column, split on ";" (no code or status holds one).
    Were one to, the rows would shift: they are then read one by one, and nothing is kept."""
    monkeypatch.setattr(table_cache, "_SEP", "0")  # every code holds a 0
    for _ in range(12):
        add_account(db_session, protector, commune_code=BIG)
    body = stats("/provinces/01")
    assert body["accounts"]["total"] == 12
    assert [(c["commune_code"], c["total"]) for c in body["communes"]] == [(BIG, 12)]
    add_account(db_session, protector, commune_code=BIG)
    assert stats("/provinces/01")["accounts"]["total"] == 13


def test_a_build_leaves_the_garbage_collector_as_it_found_it():
    import gc

    assert gc.isenabled()
    assert table_cache.without_collection(gc.isenabled) is False  # paused while building
    assert gc.isenabled()
    with pytest.raises(ZeroDivisionError):
        table_cache.without_collection(lambda: 1 / 0)
    assert gc.isenabled()
    gc.disable()  # paused by someone else: left paused
    try:
        table_cache.without_collection(lambda: None)
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_a_dashboard_page_reads_each_table_once(app, client, db_session, protector, monkeypatch):
    """The page shows a place and ranks others: one reading of each table serves both, so the
    figures and the ranking come from the same counts (and the stamps are read once)."""
    monkeypatch.setitem(app.config, "STATS_MIN_COUNT", MIN)
    reads = {"accounts": 0, "counters": 0}
    account_table, counter_tables = protected.account_table, protected.counter_tables

    def count(name: str, function: Any) -> Any:
        def counted(*args: Any, **kwargs: Any) -> Any:
            reads[name] += 1
            return function(*args, **kwargs)
        return counted
    for module in (protected, published):  # published.account_table is protected's
        monkeypatch.setattr(module, "account_table", count("accounts", account_table))
    monkeypatch.setattr(protected, "counter_tables", count("counters", counter_tables))
    for _ in range(12):
        add_account(db_session, protector, commune_code=BIG)
    client.post("/dashboard/login", data={"token": new_operator(db_session)})
    for path in ("/dashboard", "/dashboard?province=01"):
        reads.update(accounts=0, counters=0)
        assert client.get(path).status_code == 200
        assert reads == {"accounts": 1, "counters": 1}, path
