"""Accounts by place, level and status, kept in the same transaction as every account change.

One SQLAlchemy ``before_flush`` listener sees each new :class:`Account` and
each change of an account's ``level`` or ``status`` (registration, review,
level 2, lock, unlock: whatever function made it) and moves one unit between
rows of :class:`AccountCount`, in the flush that writes the change. It also
bumps the daily usage counters ``accounts.registered``, ``accounts.activated``
(the first time an account becomes active: created active, or approved after
review) and ``accounts.level2``.

A bulk ``UPDATE accounts SET level/status`` through the ORM would bypass the
listener: :func:`_refuse_bulk_changes` refuses it (the one bulk update of
accounts, the failed-passcode counter, touches neither column). Rows written
outside the ORM (the benches' bulk inserts) are counted again by
:func:`rebuild_account_counts` (``flask stats rebuild``).
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction, attributes

from identity.accounts.models import ACTIVE, PENDING_REVIEW, Account
from identity.monitoring import counters
from identity.monitoring.models import AccountCount
from identity.registry.models import Citizen
from identity.registry.service import citizen_by_id

_INSERTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}
_WATCHED = ("level", "status")

Key = tuple[str, str, int, str]


def _place(db_session: Session, account: Account) -> tuple[str, str]:
    """The account's province and commune (the citizen is usually in the identity map)."""
    citizen = citizen_by_id(db_session, account.citizen_id)
    if citizen is None:  # cannot happen: the foreign key holds
        return "", ""
    return citizen.province_code, citizen.commune_code


def _old_value(account: Account, name: str) -> Any:
    history = attributes.get_history(account, name)
    if history.deleted:
        return history.deleted[0]
    return getattr(account, name)


def _collect(db_session: Session) -> tuple[dict[Key, int], list[tuple[str, str, str]]]:
    """The count deltas and the counters to bump for the pending changes of accounts."""
    deltas: dict[Key, int] = {}
    bumps: list[tuple[str, str, str]] = []

    def move(key: Key, amount: int) -> None:
        deltas[key] = deltas.get(key, 0) + amount

    for account in db_session.new:
        if isinstance(account, Account):
            province, commune = _place(db_session, account)
            level, status = account.level or 1, account.status
            move((province, commune, level, status), 1)
            bumps.append(("accounts.registered", province, commune))
            if status == ACTIVE:
                bumps.append(("accounts.activated", province, commune))
            if level == 2:
                bumps.append(("accounts.level2", province, commune))
    for account in db_session.dirty:
        if not isinstance(account, Account):
            continue
        if not any(attributes.get_history(account, name).has_changes() for name in _WATCHED):
            continue
        old_level, old_status = _old_value(account, "level"), _old_value(account, "status")
        new_level, new_status = account.level, account.status
        if (old_level, old_status) == (new_level, new_status):
            continue
        province, commune = _place(db_session, account)
        move((province, commune, old_level, old_status), -1)
        move((province, commune, new_level, new_status), 1)
        if new_status == ACTIVE and old_status == PENDING_REVIEW:
            bumps.append(("accounts.activated", province, commune))
        if new_level == 2 and old_level != 2:
            bumps.append(("accounts.level2", province, commune))
    for account in db_session.deleted:
        if isinstance(account, Account):
            province, commune = _place(db_session, account)
            move((province, commune, _old_value(account, "level"),
                  _old_value(account, "status")), -1)
    return {key: amount for key, amount in deltas.items() if amount}, bumps


def apply_deltas(db_session: Session, deltas: dict[Key, int]) -> None:
    """Add each delta to its row of :class:`AccountCount` (one upsert per row, same transaction)."""
    insert = _INSERTS[db_session.get_bind().dialect.name]
    for (province, commune, level, status), amount in sorted(deltas.items()):
        statement: Any = insert(AccountCount).values(
            province_code=province, commune_code=commune, level=level, status=status,
            count=amount)
        db_session.execute(statement.on_conflict_do_update(
            index_elements=["province_code", "commune_code", "level", "status"],
            set_={"count": AccountCount.count + amount}))


def _before_flush(db_session: Session, flush_context: UOWTransaction,
                  instances: Iterable[Any] | None) -> None:
    deltas, bumps = _collect(db_session)
    if deltas:
        apply_deltas(db_session, deltas)
    for metric, province, commune in bumps:
        counters.bump(db_session, metric=metric, province_code=province, commune_code=commune)


def _refuse_bulk_changes(state: ORMExecuteState) -> None:
    """An ORM bulk UPDATE of an account's level or status would escape the counts: refuse it."""
    if not state.is_update:
        return
    statement: Any = state.statement
    if getattr(getattr(statement, "table", None), "name", None) != Account.__tablename__:
        return
    columns = {getattr(key, "key", key) for key in (statement._values or {})}
    if columns & set(_WATCHED):
        raise RuntimeError("Change an account's level or status through the ORM object, "
                           "so account_counts stays in step (identity.monitoring.accounts).")


def _load_old_values(target: Any, value: Any, oldvalue: Any, initiator: Any) -> Any:
    return value


def rebuild_account_counts(db_session: Session) -> int:
    """Recount :class:`AccountCount` from the accounts table (one GROUP BY); not committed.

    For accounts written outside the ORM (bulk loads) or to check the counts:
    returns how many rows the summary now holds.
    """
    db_session.execute(sa.delete(AccountCount))
    grouped = (sa.select(Citizen.province_code, Citizen.commune_code, Account.level,
                         Account.status, sa.func.count())
               .join(Citizen, Citizen.id == Account.citizen_id)
               .group_by(Citizen.province_code, Citizen.commune_code, Account.level,
                         Account.status))
    db_session.execute(sa.insert(AccountCount).from_select(
        ["province_code", "commune_code", "level", "status", "count"], grouped))
    return int(db_session.scalar(sa.select(sa.func.count()).select_from(AccountCount)) or 0)


sa.event.listen(Session, "before_flush", _before_flush)
sa.event.listen(Session, "do_orm_execute", _refuse_bulk_changes)
# Load the old value on assignment even when the attribute was expired, so the delta knows it.
for _name in _WATCHED:
    sa.event.listen(getattr(Account, _name), "set", _load_old_values, active_history=True,
                    retval=True)
