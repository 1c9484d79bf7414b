"""account_counts follows every change of an account's level or status, in the same flush."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from identity.accounts import levels, locks, registration
from identity.accounts.models import Account
from identity.monitoring import counters
from identity.monitoring.accounts import rebuild_account_counts
from identity.monitoring.models import AccountCount
from tests.factories import OfficerFactory, add_account
from tests.identity.monitoring.helpers import ACTOR

ROOT = Path(__file__).resolve().parents[3]


def counts(db_session: Any) -> dict[tuple[str, str, int, str], int]:
    rows = db_session.execute(sa.select(AccountCount.province_code, AccountCount.commune_code,
                                        AccountCount.level, AccountCount.status,
                                        AccountCount.count))
    return {(p, c, lv, s): n for p, c, lv, s, n in rows if n}


def test_a_new_account_is_counted_in_its_commune_with_the_daily_counters(db_session, protector):
    add_account(db_session, protector, status="active")
    add_account(db_session, protector, status="pending_review")
    add_account(db_session, protector, province_code="79", commune_code="25747", level=2)
    assert counts(db_session) == {("01", "00070", 1, "active"): 1,
                                  ("01", "00070", 1, "pending_review"): 1,
                                  ("79", "25747", 2, "active"): 1}
    assert counters.total(db_session, metric="accounts.registered") == 3
    assert counters.total(db_session, metric="accounts.activated") == 2
    assert counters.total(db_session, metric="accounts.level2", province_code="79") == 1


def test_approval_moves_one_account_and_counts_a_first_activation(db_session, protector):
    account = add_account(db_session, protector, status="pending_review")
    officer = OfficerFactory(db_session=db_session, protector=protector)
    registration.review_registration(db_session=db_session, actor=ACTOR, officer=officer,
                                     account_id=account.id, approve=True, reason=None)
    assert counts(db_session) == {("01", "00070", 1, "active"): 1}
    assert counters.total(db_session, metric="accounts.activated") == 1


def test_level2_lock_and_unlock_keep_the_counts(db_session, protector):
    account = add_account(db_session, protector)
    officer = OfficerFactory(db_session=db_session, protector=protector)
    levels.raise_to_level2(db_session=db_session, actor=ACTOR, officer=officer,
                           account_id=account.id, check="face",
                           card_number=account.citizen.personal_id)
    assert counts(db_session) == {("01", "00070", 2, "active"): 1}
    assert counters.total(db_session, metric="accounts.level2") == 1
    locks.lock_account(db_session=db_session, actor=ACTOR, account=account)
    assert counts(db_session) == {("01", "00070", 2, "locked"): 1}
    locks.unlock(db_session=db_session, account=account)
    db_session.commit()
    assert counts(db_session) == {("01", "00070", 2, "active"): 1}
    # an unlock is no first activation
    assert counters.total(db_session, metric="accounts.activated") == 1


def test_a_change_to_an_expired_account_still_knows_the_old_status(db_session, protector):
    account = add_account(db_session, protector, status="pending_review")
    db_session.commit()
    db_session.expire(account)
    account.status = "rejected"
    db_session.commit()
    assert counts(db_session) == {("01", "00070", 1, "rejected"): 1}


def test_the_rebuild_agrees_with_the_maintained_counts(db_session, protector):
    for status, level in (("active", 1), ("active", 2), ("locked", 1), ("pending_review", 1)):
        add_account(db_session, protector, status=status, level=level)
    maintained = counts(db_session)
    assert rebuild_account_counts(db_session) == 4
    assert counts(db_session) == maintained


def test_a_bulk_update_of_status_through_the_orm_is_refused(db_session, protector):
    account = add_account(db_session, protector)
    with pytest.raises(RuntimeError, match="account_counts"):
        db_session.execute(sa.update(Account).where(Account.id == account.id)
                           .values(status="locked"))
    db_session.execute(sa.update(Account).where(Account.id == account.id)
                       .values(failed_passcodes=Account.failed_passcodes + 1))


def test_no_code_updates_level_or_status_in_bulk() -> None:
    """Every bulk UPDATE of accounts in the code base leaves level and status alone."""
    offenders = []
    for path in [*ROOT.glob("identity/**/*.py"), *ROOT.glob("utilities/**/*.py"),
                 *ROOT.glob("app/**/*.py")]:
        if path.name == "accounts.py" and path.parent.name == "monitoring":
            continue  # the guard itself, whose docstring names the statement
        text = path.read_text(encoding="utf-8")
        for match in re.finditer(r"update\(Account\)(.{0,300})", text, re.S):
            if re.search(r"\.values\([^)]*\b(level|status)\s*=", match.group(1)):
                offenders.append(str(path.relative_to(ROOT)))
        if re.search(r"UPDATE\s+accounts\s+SET[^;\"']*\b(level|status)\b", text, re.I):
            offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []
