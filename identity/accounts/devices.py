"""The phone bound to an account: binding it, and rebinding a new one (by SMS or at the desk).

An account has one active device at a time; its key signs every login
(``sessions.py``). A citizen with a new phone rebinds it with the password and
a code sent to the registered phone; one who lost the phone (and maybe the
number) goes to a police office, where an officer checks them in person.
Either way every token of the old device stops working.
"""
from __future__ import annotations

import redis
import sqlalchemy as sa
from sqlalchemy.orm import Session

from identity import clock
from identity.accounts import codes
from identity.accounts.account import (account_phone, account_phone_context, audit_citizen,
                                       revoke_sessions)
from identity.accounts.device_keys import load_device_key
from identity.accounts.errors import AccountLocked, InvalidCode
from identity.accounts.levels import check_in_person
from identity.accounts.locks import unlock
from identity.accounts.models import CLOSED, LOCKED, REJECTED, Account, Device, Officer
from identity.accounts.notifications import notify
from identity.accounts.officers import account_in_jurisdiction, record_officer_act
from identity.accounts.sessions import authenticate_by_password
from identity.accounts.sms import SmsGateway
from identity.audit.service import Actor
from identity.credentials.vn1 import b64url, unb64url
from identity.database import Statement
from identity.entities import attach
from identity.errors import Conflict
from identity.protection import Protector
from identity.registry.normalise import mask_phone
from identity.registry.service import PHONE_PURPOSE


#: The account's active device (``uq_devices_one_active``: at most one), by a prepared
#: statement: ``GET /me`` reads it on every call, and through the ORM PostgreSQL planned it
#: afresh each time (a read-only request's statements are never prepared by psycopg's count).
_ACTIVE = Statement(sa.select(Device.__table__).where(
    Device.__table__.c.account_id == sa.bindparam("account_id"),
    Device.__table__.c.revoked_at.is_(None)))


def active_device(*, db_session: Session, account_id: int) -> Device | None:
    """The device bound to the account now, if any (the session's entity when it has it)."""
    row = _ACTIVE.first(db_session, {"account_id": account_id})
    return None if row is None else attach(db_session, Device, row)


def bind_device(*, db_session: Session, account: Account, device_id: str, public_key: bytes,
                bound_by: str) -> Device:
    """Make ``device_id`` the account's one active device, retiring the one before."""
    db_session.execute(sa.update(Device).where(Device.account_id == account.id,
                                               Device.revoked_at.is_(None))
                       .values(revoked_at=clock.now())
                       .execution_options(synchronize_session=False))
    device = Device(account_id=account.id, device_id=device_id, public_key=public_key,
                    bound_by=bound_by)
    db_session.add(device)
    return device


def request_device_rebind(*, db_session: Session, redis_client: redis.Redis,
                          protector: Protector, sms: SmsGateway, actor: Actor, personal_id: str,
                          password: str, device_id: str,
                          device_public_key: bytes) -> tuple[str, str]:
    """Ask to bind a new phone: the password here, then a code sent to the registered phone."""
    load_device_key(device_public_key)
    account = authenticate_by_password(db_session, actor, personal_id, password,
                                       "device.rebind")
    if account.status == LOCKED:
        raise AccountLocked()
    phone = account_phone(protector=protector, account=account)
    codes.count_send(redis_client=redis_client, protector=protector, phone=phone)
    ref, code = codes.start(redis_client=redis_client, protector=protector,
                            purpose="device_rebind",
                            payload={"account_id": account.id, "device_id": device_id,
                                     "device_public_key": b64url(device_public_key)})
    sms.send(db_session=db_session, phone=phone,
             text=f"VNeID: ma xac thuc doi thiet bi la {code}. Neu ban khong yeu cau, "
                  "hay khoa tai khoan ngay.")
    audit_citizen(db_session, actor, "device.rebind_requested", account.citizen_id,
                  device_id=device_id)
    db_session.commit()
    return ref, mask_phone(phone)


def confirm_device_rebind(*, db_session: Session, redis_client: redis.Redis,
                          protector: Protector, actor: Actor, rebind_id: str,
                          otp: str) -> Account:
    """Bind the new device; every token of the old one stops working."""
    payload = codes.consume(redis_client=redis_client, protector=protector,
                            purpose="device_rebind", ref=rebind_id, code=otp)
    account = db_session.get(Account, payload["account_id"])
    if account is None or account.status == CLOSED:  # closed since the code was sent
        raise InvalidCode()
    old = active_device(db_session=db_session, account_id=account.id)
    revoke_sessions(db_session, account, "device_rebind")
    bind_device(db_session=db_session, account=account, device_id=payload["device_id"],
                public_key=unb64url(payload["device_public_key"]), bound_by="sms_rebind")
    audit_citizen(db_session, actor, "device.rebound", account.citizen_id,
                  device_id=payload["device_id"], previous=old.device_id if old else None)
    notify(db_session=db_session, account_id=account.id, kind="device.rebound",
           text="A new phone was bound to your account; the previous one was signed out. "
                "If this was not you, lock your account and visit a police office.")
    db_session.commit()
    return account


def rebind_in_person(*, db_session: Session, protector: Protector, actor: Actor,
                     officer: Officer, account_id: int, device_id: str,
                     device_public_key: bytes, check: str, phone: str | None) -> Account:
    """Recovery at a police office for a citizen who lost the phone (and maybe the number).

    The officer checks the citizen in person; the new device is bound, the old
    one's tokens revoked, a self or passcode lock cleared, and a new phone
    number recorded when given.
    """
    check_in_person(check)
    load_device_key(device_public_key)
    account = account_in_jurisdiction(db_session, officer, actor, account_id, "device.rebind")
    if account.status == REJECTED:
        raise Conflict("The registration was rejected.", code="account.not_active")
    if account.status == CLOSED:  # closed for good; a citizen without an account reclaims
        raise Conflict("The account is closed; start a reclaim (POST "
                       "/api/v1/police/accounts/reclaim) instead.", code="account.not_active")
    revoke_sessions(db_session, account, "officer_rebind")
    bind_device(db_session=db_session, account=account, device_id=device_id,
                public_key=device_public_key, bound_by="officer_rebind")
    if account.status == LOCKED:
        unlock(db_session=db_session, account=account)
    if phone is not None:
        account.phone_encrypted = protector.encrypt(
            phone, context=account_phone_context(account.citizen_id))
        account.phone_hash = protector.lookup_hash(phone, purpose=PHONE_PURPOSE)
    record_officer_act(db_session, officer, actor, "device.rebound_in_person",
                       account.citizen_id, device_id=device_id, check=check,
                       phone_changed=phone is not None)
    notify(db_session=db_session, account_id=account.id, kind="device.rebound",
           text="A police officer bound a new phone to your account in person.")
    db_session.commit()
    return account
