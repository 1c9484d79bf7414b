"""The six-digit passcode that confirms a sensitive act, and changing it.

Other domains call :func:`confirm_passcode` first thing in a sensitive use case
(issuing a credential, paying, answering a consent request, ...): it counts
the try atomically before comparing, and five wrong in a row lock the account.
"""
from __future__ import annotations

from typing import cast

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from identity import clock
from identity.accounts.account import audit_citizen
from identity.accounts.errors import AccountLocked, PasscodeKeyUnavailable, WrongPasscode
from identity.accounts.locks import lock
from identity.accounts.models import LOCKED, Account
from identity.accounts.notifications import notify
from identity.accounts.secrets import check_passcode, passcode_keys
from identity.audit.service import Actor
from identity.database import Statement

MAX_WRONG_PASSCODES = 5

_ACCOUNTS = cast(sa.Table, Account.__table__)
#: A try cleared rather than counted: right against the hash the request read, which is still
#: the stored one, within the limit, on an account not locked (``:right_hash`` is NULL when the
#: passcode was not found right beforehand: never cleared). Column values are the row's before
#: the statement, as in every ``UPDATE``.
_CLEARED = sa.and_(_ACCOUNTS.c.passcode_hash == sa.bindparam("right_hash"),
                   _ACCOUNTS.c.status != LOCKED,
                   _ACCOUNTS.c.failed_passcodes < sa.bindparam("most"))
#: One try, in one statement that takes the account's row lock: counted
#: (``failed_passcodes + 1``), or cleared (0, the hash re-keyed) when :data:`_CLEARED`; the
#: count, the status and the hash as they are now.
_TRY = Statement(
    sa.update(_ACCOUNTS).where(_ACCOUNTS.c.id == sa.bindparam("account_id"))
    .values(failed_passcodes=sa.case((_CLEARED, 0), else_=_ACCOUNTS.c.failed_passcodes + 1),
            passcode_hash=sa.case((_CLEARED, sa.bindparam("rekeyed")),
                                  else_=_ACCOUNTS.c.passcode_hash),
            updated_at=sa.bindparam("now"))
    .returning(_ACCOUNTS.c.failed_passcodes, _ACCOUNTS.c.status, _ACCOUNTS.c.passcode_hash))
#: A right passcode found only after the count: the count cleared, the hash kept (or re-keyed).
_RIGHT_TRY = Statement(
    sa.update(_ACCOUNTS).where(_ACCOUNTS.c.id == sa.bindparam("account_id"))
    .values(failed_passcodes=0, passcode_hash=sa.bindparam("hash"),
            updated_at=sa.bindparam("now")))


def confirm_passcode(*, db_session: Session, actor: Actor, account: Account,
                     passcode: str) -> None:
    """Check the passcode that confirms a sensitive act. Call it before the act writes anything.

    The passcode is compared with the keyed hash of the account
    (:class:`~identity.accounts.secrets.PasscodeKeys`, microseconds); a hash
    made by argon2id or under an older key version is re-keyed under the
    active key when the passcode is right, in the act's transaction.

    Each try is checked and counted in ONE statement (:data:`_TRY`), which also
    takes the account's row lock until the act's transaction ends, so that
    concurrent tries of one account run one after the other, each seeing the
    count the one before left. The keyed hash the request's authentication read
    is compared first, in microseconds; the statement then clears the count
    only if that hash is still the stored one, the account is not locked and
    fewer than :data:`MAX_WRONG_PASSCODES` tries were counted before; anything
    else counts the try (``failed_passcodes + 1``) and the number it returns
    is this try's place in the row: of any number of concurrent tries, only
    the first :data:`MAX_WRONG_PASSCODES` can succeed, and a right passcode
    past them is refused as a wrong one is. An argon2id hash (from before the
    keyed scheme) costs tens of milliseconds to compare, so it is compared
    only after its try is counted, and tries past the limit are refused
    unread; so is a hash changed since the request read it.

    A right passcode leaves the count cleared in the act's transaction
    (committed with the act, under that lock). A wrong one is committed at
    once with its audit event, and :class:`WrongPasscode` says how many tries
    are left; the fifth in a row locks the account (:class:`AccountLocked`).
    """
    check_passcode(passcode)
    if account.status == LOCKED:
        raise AccountLocked()
    keys = passcode_keys()
    seen, right_hash = account.passcode_hash, None
    rekeyed = seen
    if seen and not seen.startswith("$argon2"):
        # Keyed: compared now (raises PasscodeKeyUnavailable, the operator's error, before
        # anything is counted); the statement decides whether it counts. The re-keyed hash
        # is made whether the passcode is right or not: the time taken tells nothing.
        if keys.verify(seen, passcode, citizen_id=account.citizen_id):
            right_hash = seen
        if keys.needs_rekey(seen):
            rekeyed = keys.hash(passcode, citizen_id=account.citizen_id)
    counted = _TRY.first(db_session, {"account_id": account.id, "now": clock.now(),
                                      "right_hash": right_hash, "rekeyed": rekeyed,
                                      "most": MAX_WRONG_PASSCODES})
    if counted is None:  # the account is gone
        db_session.rollback()
        raise AccountLocked()
    failed, status, stored = counted
    if failed == 0:  # cleared: right, within the limit (a counted try is never 0)
        set_committed_value(account, "failed_passcodes", 0)
        set_committed_value(account, "passcode_hash", stored)
        return
    if status == LOCKED or failed > MAX_WRONG_PASSCODES:
        _refuse_passcode(db_session, actor, account, failed)
    if not seen or seen.startswith("$argon2") or stored != seen:
        # Not compared before its count: an argon2id hash, or one changed since it was read.
        if _right_after_count(db_session, account, stored, passcode):
            return
    db_session.refresh(account)
    audit_citizen(db_session, actor, "passcode.wrong", account.citizen_id, failures=failed)
    if failed >= MAX_WRONG_PASSCODES:
        _lock_for_passcodes(db_session, actor, account)
        db_session.commit()
        raise AccountLocked()
    db_session.commit()
    raise WrongPasscode(f"The passcode is not right; {MAX_WRONG_PASSCODES - failed} tries left "
                        "before the account is locked.", field="passcode",
                        remaining=MAX_WRONG_PASSCODES - failed)


def _right_after_count(db_session: Session, account: Account, stored: str,
                       passcode: str) -> bool:
    """Compare a try already counted with the hash stored now; when right, clear the count
    (and re-key the hash) in the act's transaction."""
    keys = passcode_keys()
    try:
        right = keys.verify(stored, passcode, citizen_id=account.citizen_id)
    except PasscodeKeyUnavailable:  # the operator's error, not the citizen's: no try counted
        db_session.rollback()
        raise
    if not right:
        return False
    # A statement, not the attribute: the ORM would skip a write of 0 over a 0 it read before.
    rekeyed = (keys.hash(passcode, citizen_id=account.citizen_id)
               if keys.needs_rekey(stored) else stored)
    _RIGHT_TRY.rows(db_session, {"account_id": account.id, "hash": rekeyed, "now": clock.now()})
    set_committed_value(account, "failed_passcodes", 0)
    set_committed_value(account, "passcode_hash", rekeyed)
    return True


def _refuse_passcode(db_session: Session, actor: Actor, account: Account, failed: int) -> None:
    """A try past the limit, or on a locked account: refused without comparing. Always raises.

    The try stays counted and audited (committed); the account is locked
    unless a concurrent try locked it already (fail closed).
    """
    db_session.refresh(account)
    audit_citizen(db_session, actor, "passcode.refused", account.citizen_id, failures=failed)
    if account.status != LOCKED:
        _lock_for_passcodes(db_session, actor, account)
    db_session.commit()
    raise AccountLocked()


def _lock_for_passcodes(db_session: Session, actor: Actor, account: Account) -> None:
    """Lock the account after too many wrong passcodes (in the caller's transaction)."""
    lock(db_session, account, "passcode")
    audit_citizen(db_session, actor, "account.locked", account.citizen_id, reason="passcode")
    notify(db_session=db_session, account_id=account.id, kind="account.locked",
           text="Your account was locked after five wrong passcodes. Unlock it with an "
                "SMS code and your password.")


def change_passcode(*, db_session: Session, actor: Actor, account: Account, passcode: str,
                    new_passcode: str) -> None:
    """Replace the passcode, confirmed with the current one."""
    new_passcode = check_passcode(new_passcode)
    confirm_passcode(db_session=db_session, actor=actor, account=account, passcode=passcode)
    account.passcode_hash = passcode_keys().hash(new_passcode,
                                                 citizen_id=account.citizen_id)
    audit_citizen(db_session, actor, "passcode.changed", account.citizen_id)
    notify(db_session=db_session, account_id=account.id, kind="passcode.changed",
           text="Your passcode was changed.")
    db_session.commit()


def passcode_hashes_by_key(*, db_session: Session) -> dict[str, int]:
    """How many passcode hashes each key version made (``v2``, ``v1``, …), and ``argon2id``
    (from before the keyed hash) and ``other`` (none of those: unverifiable).

    For the operator rotating ``PASSCODE_HMAC_KEYS``: a version may leave the
    setting when no hash is left under it (each is re-keyed on its account's
    next right passcode). Closed accounts are counted too.
    """
    keys = passcode_keys()
    patterns = {f"v{version}": f"hmac-sha256$v{version}$%" for version in sorted(keys.keys,
                                                                                 reverse=True)}
    patterns["argon2id"] = "$argon2%"
    counts = db_session.execute(sa.select(
        sa.func.count(),
        *(sa.func.count().filter(Account.passcode_hash.like(pattern)) for pattern in
          patterns.values()))).one()
    found = dict(zip(patterns, (int(n) for n in counts[1:])))
    found["other"] = int(counts[0]) - sum(found.values())
    return found
