"""Migrations: an empty database upgrades to head, and the models match the migrations."""
from __future__ import annotations

import os

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade

from app import create_app
from app.extensions import db
from config import load_config
from identity import partitioning
from tests.conftest import scratch_database

#: The audit log's monthly partitions are made at run time, not by the models.
COMPARE = {"compare_type": True, **partitioning.COMPARE}


def test_models_and_migrations_do_not_differ(app):
    with app.app_context(), db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts=COMPARE)
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
            context = MigrationContext.configure(connection, opts=COMPARE)
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


@pytest.mark.skipif(not (os.environ.get("DATABASE_URL") or "").startswith("postgres"),
                    reason="the audit log is partitioned on PostgreSQL only")
def test_an_existing_audit_log_upgrades_into_partitions_and_back_with_every_row(tmp_path):
    """0017 keeps the rows where they are (the legacy partition), and its downgrade puts
    them back in one table: the chain verifies on each side, and new rows keep their ids."""
    from identity.audit.service import SYSTEM, record_event, verify_chain

    def write(count: int) -> None:
        for n in range(count):
            record_event(db_session=db.session(), actor=SYSTEM, action="test.migrated",
                         details={"n": n})
            db.session.commit()

    with scratch_database(tmp_path, postgres=True) as url:
        app = create_app(load_config("testing", {"DATABASE_URL": url}))
        with app.app_context():
            upgrade(revision="0016")
            write(5)
            upgrade()
            assert db.session.scalar(sa.text(
                "SELECT count(*) FROM audit_events_legacy")) == 5
            write(2)
            assert verify_chain(db_session=db.session).events == 7
            ids = db.session.scalars(sa.text("SELECT id FROM audit_events ORDER BY id")).all()
            assert ids == list(range(1, 8))
            db.session.commit()
            downgrade(revision="0016")
            assert not partitions_of(db.session)
            assert db.session.scalars(sa.text("SELECT id FROM audit_events ORDER BY id")).all() \
                == ids
            write(1)
            assert db.session.scalar(sa.text("SELECT max(id) FROM audit_events")) == 8
            db.session.commit()
            db.session.remove()
            db.engine.dispose()


def partitions_of(session) -> list[str]:
    return session.scalars(sa.text("SELECT c.relname FROM pg_inherits AS i JOIN pg_class AS c "
                                   "ON c.oid = i.inhrelid")).all()


@pytest.mark.parametrize("postgres", [
    False, pytest.param(True, marks=pytest.mark.skipif(
        not (os.environ.get("DATABASE_URL") or "").startswith("postgres"),
        reason="the registry is partitioned on PostgreSQL only"))],
    ids=["sqlite", "postgresql"])
def test_an_existing_registry_keeps_its_ids_through_the_province_partitions_and_back(
        tmp_path, postgres):
    """0018 leaves the rows of a registry where they are, with their ids (the legacy
    partition): they are found, re-imported in place and never written twice; new citizens go
    to their province; the downgrade puts every row in one table, ids unchanged."""
    from sqlalchemy.orm import sessionmaker

    from identity.audit.service import Actor
    from identity.protection import Protector
    from identity.registry.importer import import_citizens
    from identity.registry.partitions import citizen_id
    from identity.registry.service import _BY_PERSONAL_ID, get_citizen
    from tests.identity.registry.test_partitions import _partitions_read
    from tests.factories import CitizenRowFactory, write_registry_csv

    rows = [CitizenRowFactory() for _ in range(3)]
    legacy = sa.text(
        "INSERT INTO citizens (personal_id, full_name, name_key, date_of_birth, gender, "
        "nationality, ethnicity, place_of_origin, province_code, commune_code, address, "
        "household_id, relation_to_head, created_at, updated_at) VALUES (:personal_id, "
        ":full_name, :full_name, :date_of_birth, :gender, 'VN', 'Kinh', '', :province_code, "
        ":commune_code, :address, :household_id, 'head', '2026-01-01', '2026-01-01')")

    def ids_and_places() -> list[tuple[int, str]]:
        where = "tableoid::regclass::text" if postgres else "'citizens'"
        return [tuple(row) for row in db.session.execute(sa.text(
            f"SELECT id, {where} FROM citizens ORDER BY id"))]

    with scratch_database(tmp_path, postgres=postgres) as url:
        app = create_app(load_config("testing", {"DATABASE_URL": url}))
        protector = Protector.from_settings(app.config["PERSONAL_DATA_KEYS"],
                                            app.config["LOOKUP_HASH_KEY"])
        with app.app_context():
            upgrade(revision="0017")
            for row in rows:
                db.session.execute(legacy, row)
            db.session.commit()
            upgrade()
            place = "citizens_legacy" if postgres else "citizens"
            assert ids_and_places() == [(1, place), (2, place), (3, place)]
            for number, row in enumerate(rows, start=1):
                assert get_citizen(db_session=db.session,
                                   personal_id=row["personal_id"]).id == number
            if postgres:  # a look-up reads the province's partition and the legacy one
                pid = rows[0]["personal_id"]
                assert _partitions_read(db.session, _BY_PERSONAL_ID(pid), {"personal_id": pid}) \
                    == {"citizens_p001_013", "citizens_legacy"}
            db.session.commit()
            # A re-import updates the legacy row in place; a new citizen gets a new id.
            newcomer = CitizenRowFactory()
            path = write_registry_csv(tmp_path / "again.csv",
                                      [{**rows[0], "full_name": "Trần Thị Mới"}, newcomer])
            summary = import_citizens(session_factory=sessionmaker(bind=db.engine), path=path,
                                      protector=protector,
                                      actor=Actor(type="operator", id="test", source="cli"))
            assert (summary.rows_imported, summary.rows_rejected) == (2, 0)
            db.session.expire_all()
            assert get_citizen(db_session=db.session,
                               personal_id=rows[0]["personal_id"]).full_name == "Trần Thị Mới"
            new_id = citizen_id(newcomer["personal_id"], protector.lookup_key)
            assert ids_and_places()[3] == (new_id,
                                           "citizens_p001_013" if postgres else "citizens")
            # A personal id of a legacy row is never written again under a new id.
            with pytest.raises(sa.exc.IntegrityError):
                db.session.execute(sa.text(
                    "INSERT INTO citizens SELECT :id, personal_id, full_name, name_key, "
                    "date_of_birth, gender, nationality, ethnicity, place_of_origin, "
                    "province_code, commune_code, address, phone_encrypted, phone_hash, "
                    "household_id, relation_to_head, import_run_id, created_at, updated_at "
                    "FROM citizens WHERE id = 2"),
                    {"id": citizen_id(rows[1]["personal_id"], protector.lookup_key)})
            db.session.rollback()
            before = ids_and_places()
            db.session.commit()
            downgrade(revision="0017")
            assert [number for number, _ in ids_and_places()] == [n for n, _ in before]
            if postgres:  # the sequence goes on from the highest legacy id (SQLite: the rowid's)
                db.session.execute(legacy, CitizenRowFactory())
                db.session.commit()
                assert [number for number, _ in ids_and_places()] == [1, 2, 3, 4, new_id]
            old = [(number, place) for number in range(1, 4 + postgres)]
            db.session.commit()
            upgrade()
            assert ids_and_places() == [*old,
                                        (new_id, "citizens_p001_013" if postgres else place)]
            db.session.remove()
            db.engine.dispose()
