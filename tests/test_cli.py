"""Operator commands, run on their own SQLite database (they commit for real)."""
from __future__ import annotations

import csv
import importlib
import os
import pkgutil
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
import sqlalchemy as sa
from flask import Flask

import app.cli
from app import create_app
from app.cli.common import OperatorGroup
from app.extensions import db
from config import load_config
from identity.audit.models import AuditEvent
from identity.registry.models import Citizen
from identity.registry.service import get_citizen
from tests.conftest import scratch_database


def test_generate_then_import_then_verify(cli_app, tmp_path):
    runner = cli_app.test_cli_runner()
    out = tmp_path / "people.csv"
    result = runner.invoke(args=["registry", "generate", "--count", "120", "--out", str(out)])
    assert result.exit_code == 0, result.output
    with out.open(encoding="utf-8") as fh:
        assert len(list(csv.DictReader(fh))) == 120
    result = runner.invoke(args=["registry", "import", str(out)])
    assert result.exit_code == 0, result.output
    assert "completed" in result.output and "120" in result.output
    with cli_app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Citizen)) == 120
        actors = set(db.session.scalars(sa.select(AuditEvent.actor_type)))
        assert actors == {"operator"}
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 0 and "OK" in result.output


def test_import_of_an_unreadable_file_fails_cleanly(cli_app, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("name,age\nx,1\n")
    result = cli_app.test_cli_runner().invoke(args=["registry", "import", str(bad)])
    assert result.exit_code == 1
    assert "lacks the columns" in result.output and "import.file_invalid" in result.output


def test_audit_verify_exits_1_on_a_broken_chain(cli_app):
    runner = cli_app.test_cli_runner()
    assert runner.invoke(args=["demo", "seed", "--count", "30"]).exit_code == 0
    with cli_app.app_context():
        db.session.execute(sa.text("DROP TRIGGER audit_events_no_update"))
        db.session.execute(sa.text("UPDATE audit_events SET actor_id = 'someone-else' "
                                   "WHERE id = (SELECT min(id) FROM audit_events)"))
        db.session.commit()
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 1
    assert "BROKEN" in result.output and "row id 1" in result.output


def test_audit_add_shards(cli_app):
    runner = cli_app.test_cli_runner()
    result = runner.invoke(args=["audit", "add-shards", "--count", "40"])
    assert result.exit_code == 0 and "Added 8 shard(s)." in result.output
    again = runner.invoke(args=["audit", "add-shards", "--count", "40"])
    assert "Added 0 shard(s)." in again.output
    assert runner.invoke(args=["audit", "add-shards", "--count", "0"]).exit_code == 2


def test_demo_seed_runs_once(cli_app):
    runner = cli_app.test_cli_runner()
    # 40 generated citizens and the README walkthrough's citizen.
    assert "Seeded 41" in runner.invoke(args=["demo", "seed", "--count", "40"]).output
    assert "already holds 41" in runner.invoke(args=["demo", "seed", "--count", "40"]).output
    with cli_app.app_context():
        citizen = get_citizen(db_session=db.session(), personal_id="001090012345")
        assert citizen is not None and citizen.full_name == "Nguyễn Văn An"


def test_demo_seed_adds_the_walkthrough_citizen_to_an_older_registry(cli_app, tmp_path):
    """A registry seeded before the walkthrough's citizen existed gets them, and only them."""
    runner = cli_app.test_cli_runner()
    path = tmp_path / "older.csv"
    assert runner.invoke(args=["registry", "generate", "--count", "25", "--out",
                               str(path)]).exit_code == 0
    assert runner.invoke(args=["registry", "import", str(path)]).exit_code == 0
    result = runner.invoke(args=["demo", "seed", "--count", "40"])
    assert "Added the walkthrough's Nguyễn Văn An" in result.output
    assert "already holds 26" in runner.invoke(args=["demo", "seed"]).output


def test_generated_phones_depend_on_the_seed(cli_app, tmp_path):
    runner = cli_app.test_cli_runner()
    phones = []
    for seed in ("1", "2"):
        out = tmp_path / f"seed-{seed}.csv"
        result = runner.invoke(args=["registry", "generate", "--count", "400", "--out", str(out),
                                     "--seed", seed])
        assert result.exit_code == 0, result.output
        with out.open(encoding="utf-8") as fh:
            phones.append({row["phone"] for row in csv.DictReader(fh) if row["phone"]})
    assert phones[0] and phones[1] and not phones[0] & phones[1]


def test_every_command_group_fails_through_the_one_handler():
    for module in pkgutil.iter_modules(app.cli.__path__, "app.cli."):
        for value in vars(importlib.import_module(module.name)).values():
            if isinstance(value, click.Group):
                assert isinstance(value, OperatorGroup), (module.name, value.name)


def _empty_databases() -> list[str]:
    url = os.environ.get("DATABASE_URL") or ""
    return ["sqlite", "postgresql"] if url.startswith("postgres") else ["sqlite"]


@pytest.fixture(params=_empty_databases())
def unmigrated_app(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Flask]:
    """An app on a database that was never migrated: a new SQLite file, or PostgreSQL database."""
    with scratch_database(tmp_path, postgres=request.param == "postgresql") as url:
        empty = create_app(load_config("testing", {"DATABASE_URL": url}))
        try:
            yield empty
            with empty.app_context():
                assert sa.inspect(db.engine).get_table_names() == []  # nothing half-created
        finally:
            with empty.app_context():
                db.engine.dispose()


@pytest.mark.parametrize("args", [
    ["registry", "import", "{citizens}"],
    ["officers", "create", "--username", "an.nguyen", "--full-name", "Nguyễn Văn An",
     "--province", "01", "--password-stdin"],
    ["rp", "create", "--name", "Vietcombank", "--kind", "bank", "--scopes", "identity.match"],
    ["admins", "create", "--name", "Vụ Thống kê"],
    ["demo", "seed", "--count", "5"],
    ["keys", "rotate"],
    ["sources", "load", "csgt-gplx", "{citizens}"],
    ["audit", "verify"],
], ids=lambda args: " ".join(args[:2]))
def test_an_unmigrated_database_is_named_in_one_line_with_the_fix(unmigrated_app, tmp_path, args):
    citizens = tmp_path / "citizens.csv"
    assert unmigrated_app.test_cli_runner().invoke(
        args=["registry", "generate", "--count", "5", "--out", str(citizens)]).exit_code == 0
    result = unmigrated_app.test_cli_runner().invoke(
        args=[arg.format(citizens=citizens) for arg in args],
        input="correct horse battery staple\n")
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    said = [line for line in result.output.splitlines() if "not migrated" in line]
    assert len(said) == 1, result.output
    assert said[0].startswith("database.not_migrated: ")
    assert ".venv/bin/flask db upgrade" in said[0] and "make migrate" in said[0]


def test_audit_partitions_and_detach_on_sqlite_say_the_log_is_one_table(cli_app):
    runner = cli_app.test_cli_runner()
    listed = runner.invoke(args=["audit", "partitions"])
    assert listed.exit_code == 0 and "one table here" in listed.output
    refused = runner.invoke(args=["audit", "detach", "--before", "2020-01"])
    assert refused.exit_code == 2 and "PostgreSQL only" in refused.output
    assert runner.invoke(args=["audit", "detach", "--before", "January"]).exit_code == 2


@pytest.mark.skipif(not (os.environ.get("DATABASE_URL") or "").startswith("postgres"),
                    reason="the audit log is partitioned on PostgreSQL only")
def test_audit_detach_takes_old_months_out_and_the_rest_still_verifies(tmp_path):
    import datetime as dt

    import time_machine
    from flask_migrate import upgrade

    with scratch_database(tmp_path, postgres=True) as url:
        application = create_app(load_config("testing", {"DATABASE_URL": url}))
        try:
            with application.app_context():
                upgrade()
            runner = application.test_cli_runner()
            assert runner.invoke(args=["demo", "seed", "--count", "30"]).exit_code == 0
            later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=190)
            with time_machine.travel(later, tick=False):
                listed = runner.invoke(args=["audit", "partitions"])
                assert listed.exit_code == 0, listed.output
                assert "Made audit_events_y" in listed.output and "(default)" in listed.output
                assert "audit_events_legacy" in listed.output
                before = (later - dt.timedelta(days=62)).strftime("%Y-%m")
                detached = runner.invoke(args=["audit", "detach", "--before", before])
                assert detached.exit_code == 0, detached.output
                assert "Detached audit_events_legacy" in detached.output
                assert "DROP TABLE audit_events_legacy" in detached.output
                again = runner.invoke(args=["audit", "detach", "--before", before])
                assert "No month to detach" in again.output
                this_month = later.strftime("%Y-%m")
                stays = runner.invoke(args=["audit", "detach", "--before", this_month])
                assert stays.exit_code == 2 and "stay in the log" in stays.output
            verified = runner.invoke(args=["audit", "verify"])
            assert verified.exit_code == 0 and "detached with old months" in verified.output
        finally:
            with application.app_context():
                db.engine.dispose()
