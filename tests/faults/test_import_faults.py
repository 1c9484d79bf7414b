"""The database connection killed in the middle of an import batch, on real PostgreSQL.

Nothing half-written: the killed batch vanishes whole, earlier batches stay,
and running the same import again gives every row exactly once.
"""
from __future__ import annotations

import os

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import sessionmaker
from sqlalchemy.pool import NullPool

from identity.audit.service import Actor, verify_chain
from identity.registry import import_writes, importer
from identity.registry.models import Citizen, ImportRun
from tests.factories import CitizenRowFactory, write_registry_csv

pytestmark = pytest.mark.skipif(
    not (os.environ.get("DATABASE_URL") or "").startswith("postgres"),
    reason="kills a PostgreSQL backend; runs in CI on PostgreSQL")


def test_connection_killed_mid_batch(app, tmp_path, protector, monkeypatch):
    engine = sa.create_engine(app.config["SQLALCHEMY_DATABASE_URI"], poolclass=NullPool)
    factory = sessionmaker(bind=engine, expire_on_commit=False)
    rows = CitizenRowFactory.build_batch(25)
    ids = [row["personal_id"] for row in rows]
    path = write_registry_csv(tmp_path / "killed.csv", rows)
    original = import_writes.record_event
    batches = {"n": 0}

    def kill_own_connection_on_second_batch(**kwargs):
        if kwargs["action"] == "registry.import_batch":
            batches["n"] += 1
            if batches["n"] == 2:
                session = kwargs["db_session"]
                pid = session.execute(sa.text("SELECT pg_backend_pid()")).scalar()
                with engine.connect() as other:
                    other.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        return original(**kwargs)

    def imported() -> int:
        with factory() as session:
            return session.scalar(sa.select(sa.func.count()).select_from(Citizen)
                                  .where(Citizen.personal_id.in_(ids)))

    monkeypatch.setattr(import_writes, "record_event", kill_own_connection_on_second_batch)
    try:
        with pytest.raises(sa.exc.DBAPIError):
            importer.import_citizens(session_factory=factory, path=path, protector=protector,
                                     actor=Actor(type="operator", id="cli:fault"), batch_size=10)
        assert imported() == 10
        with factory() as session:
            run = session.scalars(sa.select(ImportRun).order_by(ImportRun.id.desc())).first()
            assert (run.status, run.batches_committed, run.rows_imported) == ("failed", 1, 10)
        monkeypatch.setattr(import_writes, "record_event", original)
        retry = importer.import_citizens(session_factory=factory, path=path, protector=protector,
                                         actor=Actor(type="operator", id="cli:fault"),
                                         batch_size=10)
        assert (retry.rows_imported, imported()) == (25, 25)
        with factory() as session:
            assert verify_chain(db_session=session).events > 0
    finally:
        with factory() as session, session.begin():
            run_ids = set(session.scalars(
                sa.select(ImportRun.id).where(ImportRun.file_name == "killed.csv")))
            session.execute(sa.delete(Citizen).where(Citizen.personal_id.in_(ids)))
            session.execute(sa.delete(ImportRun).where(ImportRun.id.in_(run_ids)))
        engine.dispose()
