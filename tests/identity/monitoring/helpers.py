"""Helpers of the monitoring tests: accounts straight through the ORM, operators, queues."""
from __future__ import annotations

import itertools
from collections.abc import Iterable
from typing import Any

from identity.accounts.models import Account
from identity.audit.service import Actor
from identity.monitoring import operators
from identity.monitoring.queues import UnitBacklog
from tests.factories import add_citizen

_serial = itertools.count(500_000)
ACTOR = Actor(type="operator", id="test")


def add_account(db_session: Any, protector: Any, *, province_code: str = "01",
                commune_code: str = "00070", status: str = "active", level: int = 1) -> Account:
    """A citizen of the commune and their account, added through the ORM (flushed)."""
    citizen = add_citizen(db_session, protector, serial=next(_serial),
                          province_code=province_code, commune_code=commune_code)
    account = Account(citizen_id=citizen.id, level=level, status=status,
                      phone_encrypted=b"x", phone_hash=next(_serial).to_bytes(32, "big"),
                      password_hash="x", passcode_hash="x", failed_passcodes=0,
                      token_version=1)
    db_session.add(account)
    db_session.flush()
    return account


def new_operator(db_session: Any, name: str = "Bộ Công an A06") -> str:
    """An operator's admin token."""
    return operators.create_operator(db_session=db_session, actor=ACTOR, name=name)[1]


def fixed_queue(rows: Iterable[tuple[str, str | None, int, int]], name: str = "test.queue") -> Any:
    """A backlog query returning fixed (province, commune, open, overdue) rows."""
    def query(db_session: Any, now: Any) -> list[UnitBacklog]:
        return [UnitBacklog(queue=name, province_code=province, commune_code=commune,
                            open=count, overdue=late) for province, commune, count, late in rows]
    return query
