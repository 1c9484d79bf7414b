"""Operator commands, run on their own SQLite database (they commit for real)."""
from __future__ import annotations

import csv

import pytest
import sqlalchemy as sa
from flask_migrate import upgrade

from app import create_app
from app.extensions import db
from config import load_config
from identity.audit.models import AuditEvent
from identity.registry.models import Citizen
from identity.registry.service import get_citizen


@pytest.fixture()
def cli_app(tmp_path):
    app = create_app(load_config("testing", {"DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}"}))
    with app.app_context():
        upgrade()
    yield app
    with app.app_context():
        db.engine.dispose()


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
