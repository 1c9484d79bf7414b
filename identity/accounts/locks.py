"""Locking an account (a lost phone, too many wrong passcodes) and unlocking it by SMS.

A lock remembers the state it interrupts (``status_before_lock``): unlocking
returns to it, so a pending registration that locked itself is still pending.
Every token of a locked account stops working at once. A citizen unlocks with
the password and a code sent to the registered phone, or at a police office
(``devices.rebind_in_person``).
"""
from __future__ import annotations

import redis
from sqlalchemy.orm import Session

from identity.accounts import codes
from identity.accounts.account import account_phone, audit_citizen, revoke_sessions
from identity.accounts.errors import AccountNotActive, InvalidCode
from identity.accounts.models import ACTIVE, LOCKED, Account
from identity.accounts.notifications import notify
from identity.accounts.sessions import authenticate_by_password
from identity.accounts.sms import SmsGateway
from identity.audit.service import Actor
from identity.protection import Protector
from identity.registry.normalise import mask_phone


def lock(db_session: Session, account: Account, reason: str) -> None:
    """Lock the account (inside the caller's transaction): every token stops working."""
    account.status_before_lock = account.status
    account.status, account.lock_reason = LOCKED, reason
    revoke_sessions(db_session, account, f"lock_{reason}")


def unlock(*, db_session: Session, account: Account) -> None:
    """Clear a lock (inside the caller's transaction): back to the status held before it."""
    account.status = account.status_before_lock or ACTIVE
    account.lock_reason, account.status_before_lock, account.failed_passcodes = None, None, 0


def lock_account(*, db_session: Session, actor: Actor, account: Account) -> None:
    """The citizen locks their own account (lost phone): every token stops working."""
    if account.status != LOCKED:
        lock(db_session, account, "self")
        audit_citizen(db_session, actor, "account.locked", account.citizen_id, reason="self")
        notify(db_session=db_session, account_id=account.id, kind="account.locked",
               text="Your account was locked. Unlock it with an SMS code and your password, "
                    "or at a police office.")
    db_session.commit()


def request_unlock(*, db_session: Session, redis_client: redis.Redis, protector: Protector,
                   sms: SmsGateway, actor: Actor, personal_id: str,
                   password: str) -> tuple[str, str]:
    """Start unlocking a locked account: the password here, a code to the registered phone."""
    account = authenticate_by_password(db_session, actor, personal_id, password,
                                       "account.unlock")
    if account.status != LOCKED:
        raise AccountNotActive("The account is not locked.", code="account.not_locked")
    phone = account_phone(protector=protector, account=account)
    codes.count_send(redis_client=redis_client, protector=protector, phone=phone)
    ref, code = codes.start(redis_client=redis_client, protector=protector, purpose="unlock",
                            payload={"account_id": account.id})
    sms.send(db_session=db_session, phone=phone,
             text=f"VNeID: ma mo khoa tai khoan cua ban la {code}. Co hieu luc 5 phut.")
    audit_citizen(db_session, actor, "account.unlock_requested", account.citizen_id)
    db_session.commit()
    return ref, mask_phone(phone)


def confirm_unlock(*, db_session: Session, redis_client: redis.Redis, protector: Protector,
                   actor: Actor, unlock_id: str, otp: str) -> Account:
    """Unlock with the code: the account is active again and its passcode counter cleared."""
    payload = codes.consume(redis_client=redis_client, protector=protector, purpose="unlock",
                            ref=unlock_id, code=otp)
    account = db_session.get(Account, payload["account_id"])
    if account is None or account.status != LOCKED:
        raise InvalidCode()
    unlock(db_session=db_session, account=account)
    audit_citizen(db_session, actor, "account.unlocked", account.citizen_id, by="sms")
    notify(db_session=db_session, account_id=account.id, kind="account.unlocked",
           text="Your account was unlocked.")
    db_session.commit()
    return account
