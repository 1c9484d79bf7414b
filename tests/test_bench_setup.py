"""``make bench`` starts: its settings, its private stores, its rounds and its summary table.

Nothing here is timed: the benches' figures are checked by running them
(``make bench``), never by a test.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis

from bench import common, floor, run, table
from config import load_config

BENCH = Path(__file__).resolve().parent.parent / "bench"


def test_the_benches_production_settings_load():
    """A setting production comes to require is given by the benches too (else none runs)."""
    settings = load_config("production", common.app_environment(
        "postgresql://postgres@127.0.0.1:5432/vnid_bench", redis_url="redis://127.0.0.1:1/0"))
    assert settings["ENV_NAME"] == "production"
    assert settings["OAUTH_TOKEN_URL"].startswith("https://")
    assert settings["REDIS_URL"] == "redis://127.0.0.1:1/0"


def test_no_bench_names_a_shared_redis_or_database():
    """The benches use a private redis-server and scratch databases: no fixed db number, no
    FLUSHDB, no port 6379, no database they did not create."""
    modules = {target.partition(":")[0] for target in run.BENCHES.values()}
    modules |= {"bench.common", "bench.servers", "bench.loadgen", "bench.auth_flows"}
    for module in modules:
        path = BENCH.parent / (module.replace(".", "/") + ".py")
        text = path.read_text()
        assert not re.search(r"6379|flushdb|flushall", text, re.IGNORECASE), path.name
        assert "vnid_h" not in text, path.name


def test_alternate_turns_the_order_every_round():
    """Baseline and load share every round, and neither always goes first."""
    calls: list[str] = []
    out = common.alternate(3, {"baseline": lambda: calls.append("b") or 1.0,
                               "load": lambda: calls.append("l") or 2.0})
    assert calls == ["b", "l", "l", "b", "b", "l"]
    assert out == {"baseline": [1.0, 1.0, 1.0], "load": [2.0, 2.0, 2.0]}


def test_a_table_entry_gives_the_spread_and_judges_the_median():
    entry = common.table_entry([0.1, 0.3, 0.2], 0.15)
    assert (entry["min"], entry["median"], entry["max"], entry["rounds"]) == (0.1, 0.2, 0.3, 3)
    assert entry["meets_goal"] is True
    assert common.table_entry([0.1, 0.3, 0.2], 0.15, valid=False)["meets_goal"] is False
    assert common.table_entry([3.0, 1.0, 1.2], 1.5, at_most=True)["meets_goal"] is True
    assert common.table_entry([0.1, 0.3, 0.2], 0.25)["meets_goal"] is False


def test_the_summary_has_exactly_the_rows_of_the_issue():
    """Eleven rows with their goals, each produced by a bench that run.py runs."""
    goals = {row.key: row.goal for row in table.ROWS}
    assert goals == {"online_verify": 0.12, "identity_match": 0.12, "refresh": 0.15,
                     "issue": 0.08, "report_filing": 0.06, "payment_attempt": 0.04,
                     "login": 0.8, "import": 0.6, "provinces": 0.8, "offline_vs_ecdsa": 0.8,
                     "offline_vs_pycose": 1.5}
    assert {row.bench for row in table.ROWS} <= set(run.BENCHES)
    assert "floor" in run.BENCHES and list(run.BENCHES)[0] == "floor"


def test_every_row_of_the_table_is_returned_by_its_bench():
    """The key of each row appears in its bench's module (as ``"table": {key: ...}``)."""
    for row in table.ROWS:
        module = run.BENCHES[row.bench].partition(":")[0]
        source = (BENCH.parent / (module.replace(".", "/") + ".py")).read_text()
        assert f'"{row.key}"' in source, (row.key, module)


def test_the_summary_takes_figures_and_floors_and_says_what_did_not_run():
    entry = common.table_entry([0.2, 0.25, 0.3], 0.12)
    rows = table.summary({"floor": {"floors": {"online_verify": 0.5}},
                          "credentials_verify": {"table": {"online_verify": entry}},
                          "rp_match": {"error": "RuntimeError: boom"}})
    by_key = {row["key"]: row for row in rows}
    assert len(rows) == len(table.ROWS)
    assert by_key["online_verify"]["status"] == "pass"
    assert by_key["online_verify"]["floor"] == 0.5
    assert by_key["online_verify"]["figure_over_floor"] == 0.5
    assert by_key["identity_match"]["status"] == "failed"
    assert by_key["refresh"]["status"] == "not run"


def test_floors_follow_the_recipes():
    """More work than a hello-world lowers the floor; a static answer's floor is 1."""
    figures = floor.floors(hello_rps=10_000, signatures_us={
        "ecdsa_verify": 60.0, "ecdsa_sign": 30.0, "jwt_verify": 70.0, "jwt_sign": 40.0,
        "argon2": 20_000.0}, write_rows_per_s=20_000, write_cpu_us_per_row=40.0)
    assert figures["provinces"]["ratio"] == 1.0
    # 100 µs of hello, (70 + 60) / 2 of signatures, 40 / 2 of the row: 100 / 185.
    assert figures["online_verify"]["ratio"] == round(100 / 185, 3)
    assert figures["online_verify"]["bound"] == "cpu"
    assert figures["identity_match"]["ratio"] > figures["online_verify"]["ratio"]
    assert figures["payment_attempt"]["ratio"] < figures["report_filing"]["ratio"]
    assert 0.9 < figures["login"]["ratio"] < 1.0
    slow_disk = floor.floors(hello_rps=10_000, signatures_us={
        "ecdsa_verify": 60.0, "ecdsa_sign": 30.0, "jwt_verify": 70.0, "jwt_sign": 40.0,
        "argon2": 20_000.0}, write_rows_per_s=1_000, write_cpu_us_per_row=40.0)
    assert slow_disk["online_verify"] == {**slow_disk["online_verify"], "ratio": 0.1,
                                          "bound": "commits"}


def test_the_run_records_its_duration():
    """run.py records the run's start, end and seconds (checked in its source: no bench runs)."""
    tree = ast.parse((BENCH / "run.py").read_text())
    strings = {node.value for node in ast.walk(tree) if isinstance(node, ast.Constant)}
    assert {"started_at", "ended_at", "seconds", "run", "summary"} <= strings


@pytest.mark.slow
def test_a_private_redis_is_its_own_and_goes_away():
    """A private redis-server answers on its own port and is gone after its block."""
    with common.private_redis() as url:
        client = redis.Redis.from_url(url)
        assert client.ping()
        assert client.config_get("save")["save"] == ""
        assert client.config_get("appendonly")["appendonly"] == "no"
        assert ":6379/" not in url
        client.close()
    with pytest.raises(redis.exceptions.ConnectionError):
        redis.Redis.from_url(url, socket_connect_timeout=0.5).ping()


def _postgres_answers() -> bool:
    """Whether the benches' PostgreSQL server answers (CI's always does; a laptop may have none)."""
    try:
        psycopg.connect(common.server_url(), connect_timeout=2).close()
    except psycopg.OperationalError:
        return False
    return True


@pytest.mark.slow
@pytest.mark.skipif(not _postgres_answers(), reason="no PostgreSQL server for the benches")
def test_scratch_databases_have_unique_names_and_are_dropped():
    with common.scratch_database("settest", migrated=False) as one, \
            common.scratch_database("settest", migrated=False) as two:
        assert one != two
        name = str(psycopg.conninfo.conninfo_to_dict(one)["dbname"])
        assert name.startswith("vnid_bench_")
    with psycopg.connect(common.server_url(), autocommit=True) as conn:
        left = conn.execute("SELECT count(*) FROM pg_database WHERE datname = %s",
                            (name,)).fetchone()
    assert left == (0,)
    with pytest.raises(ValueError):
        common.drop_database(common.database_url("vnid_h5"))


@pytest.mark.slow
@pytest.mark.skipif(not _postgres_answers(), reason="no PostgreSQL server for the benches")
def test_the_import_benchs_copy_goes_into_a_table_partitioned_like_the_registry():
    """The baseline of the import's ratio pays what the import pays: the same partitions, each
    with its unique index on the personal id."""
    from bench.import_copy import _clone_table

    def layout(conn: Any, table: str) -> list[tuple[str, str, int]]:
        return [(name.replace(table, "T", 1), bound, indexes) for name, bound, indexes in
                conn.execute(
                    "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid), "
                    "(SELECT count(*) FROM pg_index WHERE indrelid = c.oid AND indisunique) "
                    "FROM pg_inherits AS i JOIN pg_class AS c ON c.oid = i.inhrelid "
                    "WHERE i.inhparent = %s::regclass ORDER BY 1", (table,)).fetchall()]

    with common.scratch_database("clonetest") as url:
        _clone_table(url, "citizens", "citizens_copy")
        with psycopg.connect(url) as conn:
            original = layout(conn, "citizens")
            assert len(original) == 8 and all(unique == 2 for *_, unique in original)
            assert layout(conn, "citizens_copy") == original
