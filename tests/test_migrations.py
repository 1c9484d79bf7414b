"""Migrations: an empty database upgrades to head, and the models match the migrations."""
from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade

from app import create_app
from app.extensions import db
from config import load_config


def test_models_and_migrations_do_not_differ(app):
    with app.app_context(), db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, db.metadata) == []


def test_empty_sqlite_database_upgrades_downgrades_and_upgrades_again(tmp_path):
    settings = load_config("testing", {"DATABASE_URL": f"sqlite:///{tmp_path / 'fresh.db'}"})
    app = create_app(settings)
    with app.app_context():
        upgrade()
        tables = set(sa.inspect(db.engine).get_table_names())
        assert {"citizens", "audit_events", "audit_chain_heads", "registry_import_runs"} <= tables
        with db.engine.connect() as connection:
            # 32 ordinary shards, and 8 chains of unlinkable events (below 0, migration 0013).
            assert connection.scalar(sa.text("SELECT count(*) FROM audit_chain_heads "
                                             "WHERE shard >= 0")) == 32
            assert connection.execute(sa.text(
                "SELECT count(*), sum(seq) FROM audit_chain_heads WHERE shard < 0")).one() == (8, 0)
        downgrade(revision="base")
        assert set(sa.inspect(db.engine).get_table_names()) == {"alembic_version"}
        upgrade()
        with db.engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, db.metadata) == []
        db.engine.dispose()


def test_usage_counts_keep_their_sums_through_the_slots_migration_and_back(tmp_path):
    """0016 spreads a count over slots; downgrading sums each count's slots into one row."""
    settings = load_config("testing", {"DATABASE_URL": f"sqlite:///{tmp_path / 'slots.db'}"})
    app = create_app(settings)
    insert = sa.text("INSERT INTO usage_counters (day, metric, province_code, commune_code, "
                     "slot, count) VALUES ('2026-12-01', :metric, '01', '00004', :slot, :count)")
    sums = sa.text("SELECT metric, sum(count), count(*) FROM usage_counters GROUP BY metric "
                   "ORDER BY metric")
    with app.app_context():
        upgrade()
        with db.engine.begin() as connection:
            for metric, slot, count in (("a", 0, 5), ("a", 3, 7), ("b", 5, 2), ("b", 9, 1)):
                connection.execute(insert, {"metric": metric, "slot": slot, "count": count})
        downgrade(revision="0015")
        with db.engine.connect() as connection:
            assert connection.execute(sums).all() == [("a", 12, 1), ("b", 3, 1)]
        upgrade()
        with db.engine.connect() as connection:
            assert connection.execute(sa.text(
                "SELECT metric, slot, count FROM usage_counters ORDER BY metric")).all() == [
                ("a", 0, 12), ("b", 0, 3)]
        db.engine.dispose()
