"""``flask demo citizen``: the seeded citizens the walkthroughs take, each one once."""
from __future__ import annotations

import datetime as dt
import shlex
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from sqlalchemy.orm import Session

from app.cli.demo import CITIZEN_VARIABLES, HANDED_OUT
from identity import clock
from identity.audit.models import AuditEvent
from identity.protection import Protector
from tests.factories import add_account, add_citizen


def _citizen(app: Flask, *args: str) -> Any:
    return app.test_cli_runner().invoke(args=["demo", "citizen", *args])


def _assignments(output: str) -> dict[str, str]:
    """What ``eval "$(flask demo citizen ...)"`` sets in the shell."""
    return dict(word.split("=", 1) for word in shlex.split(output))


def test_fresh_citizens_are_adults_with_a_phone_nobody_has_used_each_handed_out_once(
        app: Flask, db_session: Session, protector: Protector) -> None:
    today = clock.today()
    minor = add_citizen(db_session, protector, birth=today.replace(year=today.year - 10, day=1))
    no_phone = add_citizen(db_session, protector, birth=dt.date(1980, 1, 1), phone=None)
    with_account = add_account(db_session, protector, birth=dt.date(1981, 1, 1)).citizen_id
    first = add_citizen(db_session, protector, birth=dt.date(1982, 1, 1), full_name="Lê Thị Lan")
    second = add_citizen(db_session, protector, birth=dt.date(1983, 1, 1))
    db_session.commit()

    handed = _citizen(app, "--fresh")
    assert handed.exit_code == 0, handed.output
    values = _assignments(handed.stdout)
    assert list(values) == list(CITIZEN_VARIABLES)
    assert values == {"PERSONAL_ID": first.personal_id, "FULL_NAME": "Lê Thị Lan",
                      "DATE_OF_BIRTH": "1982-01-01", "GENDER": first.gender,
                      "PHONE": getattr(first, "test_phone"), "PROVINCE": first.province_code,
                      "COMMUNE": first.commune_code, "ADDRESS": first.address}

    host = _assignments(_citizen(app, "--fresh", "--prefix", "HOST_").stdout)
    assert host["HOST_PERSONAL_ID"] == second.personal_id and "PERSONAL_ID" not in host

    none_left = _citizen(app, "--fresh")
    assert none_left.exit_code == 1 and "demo.no_citizen" in none_left.output
    handed_out = db_session.scalars(sa.select(AuditEvent.subject_id).where(
        AuditEvent.action == HANDED_OUT).order_by(AuditEvent.id)).all()
    assert handed_out == [str(first.id), str(second.id)]
    assert {str(minor.id), str(no_phone.id), str(with_account)}.isdisjoint(handed_out)


def test_without_fresh_the_readme_citizen_and_a_prefix_of_shell_name_characters_only(
        app: Flask, db_session: Session) -> None:
    missing = _citizen(app)
    assert missing.exit_code == 1 and "flask demo seed" in missing.output
    assert _citizen(app, "--prefix", "X;rm -rf ~;").exit_code == 2


def test_demo_commands_are_refused_in_production(app: Flask, db_session: Session,
                                                 protector: Protector,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """In production, no demo citizens are seeded and no registry citizen is handed out."""
    add_citizen(db_session, protector, birth=dt.date(1984, 1, 1))
    db_session.commit()
    before = db_session.scalar(sa.select(sa.func.count()).select_from(AuditEvent))
    monkeypatch.setitem(app.config, "ENV_NAME", "production")
    for args in (["demo", "citizen", "--fresh"], ["demo", "citizen"],
                 ["demo", "seed", "--count", "5"]):
        refused = app.test_cli_runner().invoke(args=args)
        assert refused.exit_code == 1 and "demo.production" in refused.output, args
        assert "PERSONAL_ID" not in refused.output
    assert db_session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)) == before
