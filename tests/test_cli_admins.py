"""``flask admins create|list|disable`` and ``flask stats rebuild``."""
from __future__ import annotations

import json

import sqlalchemy as sa

from identity.monitoring import operators
from identity.monitoring.models import AccountCount, Operator
from tests.factories import add_account


def test_create_shows_the_token_once_and_keeps_only_its_digest(app, db_session):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["admins", "create", "--name", "Vụ Thống kê"])
    assert result.exit_code == 0, result.output
    created = json.loads(result.stdout.strip().splitlines()[-1])
    token = created["token"]
    assert operators.TOKEN_RE.fullmatch(token)
    operator = db_session.scalar(sa.select(Operator).where(Operator.name == "Vụ Thống kê"))
    assert operator.token_hash == operators.token_digest(token)
    assert token.encode() not in operator.token_hash
    listed = runner.invoke(args=["admins", "list"])
    assert "Vụ Thống kê\tactive" in listed.output and token not in listed.output
    again = runner.invoke(args=["admins", "create", "--name", "Vụ Thống kê"])
    assert again.exit_code == 1 and "operator.exists" in again.output
    assert runner.invoke(args=["admins", "disable", "Vụ Thống kê"]).exit_code == 0
    assert "Vụ Thống kê\tdisabled" in runner.invoke(args=["admins", "list"]).output
    missing = runner.invoke(args=["admins", "disable", "nobody"])
    assert missing.exit_code == 1 and "operator.not_found" in missing.output


def test_stats_rebuild_recounts_accounts_written_behind_the_orm(app, db_session, protector):
    add_account(db_session, protector)
    db_session.execute(sa.delete(AccountCount))  # as after a bulk load
    result = app.test_cli_runner().invoke(args=["stats", "rebuild"])
    assert result.exit_code == 0, result.output
    assert db_session.scalar(sa.select(sa.func.sum(AccountCount.count))) == 1
