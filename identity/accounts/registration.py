"""Level 1 self-registration: start, confirm, withdraw, and an officer's review of pending ones.

A citizen registers from the app with the data printed on the ID card and a
phone; a code goes by SMS to that phone. The account is ``active`` when the
phone is the registry's telecom record, ``pending_review`` otherwise, until a
police officer of the citizen's jurisdiction approves or rejects it. One open
account per citizen (``uq_accounts_one_open``): a confirmation closes the
account it supersedes in the same transaction, or is refused
(:func:`registration_blocked`). A reclaim at a police office
(``reclaim.py``) ends in the same confirmation.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

import redis
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from identity import clock
from identity.accounts import codes
from identity.accounts.account import (account_phone_context, audit_citizen, citizen_actor,
                                       get_account_of, revoke_sessions)
from identity.accounts.device_keys import load_device_key
from identity.accounts.devices import bind_device
from identity.accounts.errors import AccountExists, AccountNotActive, InvalidCode
from identity.accounts.models import (ACTIVE, CLOSED, LOCKED, PENDING_REVIEW, REJECTED, Account,
                                      Device, Officer)
from identity.accounts.notifications import notify
from identity.accounts.officers import account_in_jurisdiction, record_officer_act
from identity.accounts.passcode import confirm_passcode
from identity.accounts.secrets import check_passcode, check_password, hash_secret, \
    passcode_keys
from identity.accounts.sms import SmsGateway
from identity.audit.service import Actor
from identity.credentials.models import Credential
from identity.credentials.vn1 import b64url, unb64url
from identity.database import paginate
from identity.errors import Conflict, InvalidInput
from identity.protection import Protector
from identity.registry.models import Citizen
from identity.registry.normalise import mask_phone, name_key
from identity.registry.service import PHONE_PURPOSE, citizen_by_id, get_citizen

_SUPERSEDED_TEXT = {
    REJECTED: "This rejected registration was closed: the citizen registered again.",
    PENDING_REVIEW: "This registration was closed: the citizen registered with the phone "
                    "in the population registry. If you are the citizen, visit a police office.",
}
#: Told to an account closed by the citizen's reclaim at a police office.
RECLAIMED_TEXT = ("This account was closed: the citizen reclaimed the identity in person at a "
                  "police office. Its tokens, devices and credentials no longer work.")


def registration_blocked(account: Account | None, phone_matches: bool) -> bool:
    """Whether the citizen's open ``account`` stops a new self-registration.

    The decision (identity assurance, issue 16). Anyone can type a citizen's
    id, name and birth date (all printed on the card), so an account made from
    them with another phone (``pending_review``) was never vouched for: a
    registration whose SMS-verified phone IS the registry's telecom record
    outranks it and supersedes it (:func:`confirm_registration` closes it). A
    ``rejected`` account never stops anyone. Any other open account (active,
    locked, or pending against a phone that is not the registry's) stops the
    registration; a citizen locked out by such an account reclaims the
    identity at a police office (``identity/accounts/reclaim.py``). A pending
    account that locked itself is still pending: a lock cannot shield it.
    """
    if account is None:
        return False
    status = _standing(account)
    return status != REJECTED and not (status == PENDING_REVIEW and phone_matches)


def _standing(account: Account) -> str:
    """The state an account stands in, looking through a lock to the state it will return to."""
    if account.status == LOCKED and account.status_before_lock is not None:
        return account.status_before_lock
    return account.status


def start_registration(*, db_session: Session, redis_client: redis.Redis, protector: Protector,
                       sms: SmsGateway, actor: Actor, personal_id: str, full_name: str,
                       date_of_birth: dt.date, phone: str, device_id: str,
                       device_public_key: bytes) -> tuple[str, str]:
    """Start a level-1 registration; returns (registration id, masked phone).

    The answer is the same whether the citizen exists, whether the data match,
    and whether an open account stops the registration: only when they match
    and nothing stops it (:func:`registration_blocked`) does a code go out, to
    the phone given. The send counter of the phone moves either way, so its
    limit reveals nothing.
    """
    load_device_key(device_public_key)
    codes.count_send(redis_client=redis_client, protector=protector, phone=phone)
    citizen = get_citizen(db_session=db_session, personal_id=personal_id)
    matches = (citizen is not None and citizen.name_key == name_key(full_name)
               and citizen.date_of_birth == date_of_birth)
    phone_matches = bool(matches and citizen and citizen.phone_hash
                         == protector.lookup_hash(phone, purpose=PHONE_PURPOSE))
    blocked = bool(matches and citizen and registration_blocked(
        get_account_of(db_session=db_session, citizen_id=citizen.id), phone_matches))
    payload = {
        "citizen_id": citizen.id if matches and citizen and not blocked else None,
        "phone": b64url(protector.encrypt(phone, context=b"registration/phone")),
        "phone_matches": phone_matches,
        "device_id": device_id,
        "device_public_key": b64url(device_public_key),
    }
    ref, code = codes.start(redis_client=redis_client, protector=protector,
                            purpose="registration", payload=payload)
    if matches and citizen is not None and blocked:
        # No code to the typed number; the citizen's access log tells of the attempt.
        audit_citizen(db_session, actor, "account.registration_blocked", citizen.id,
                      reason="open_account", phone_matches_registry=phone_matches)
    elif matches and citizen is not None:
        sms.send(db_session=db_session, phone=phone,
                 text=f"VNeID: ma xac thuc dang ky tai khoan cua ban la {code}. "
                      "Ma co hieu luc 5 phut. Khong cung cap ma nay cho bat ky ai.")
        audit_citizen(db_session, actor, "account.registration_started", citizen.id,
                      phone_matches_registry=phone_matches)
    db_session.commit()
    return ref, mask_phone(phone)


def close_account(db_session: Session, *, account: Account, actor: Actor, reason: str,
                  text: str) -> None:
    """Close ``account`` inside the caller's transaction; it is never reopened.

    Every token and session of it stops working, its devices are retired, its
    active credentials revoked; the closing is audited with the citizen as
    subject and the account is told why. Flushed at once, so that a new open
    account of the citizen can follow in the same transaction (one open
    account per citizen: ``uq_accounts_one_open``).
    """
    previous = account.status
    account.status, account.lock_reason, account.status_before_lock = CLOSED, None, None
    revoke_sessions(db_session, account, f"closed_{reason}")
    now = clock.now()
    db_session.execute(sa.update(Device).where(Device.account_id == account.id,
                                               Device.revoked_at.is_(None))
                       .values(revoked_at=now).execution_options(synchronize_session=False))
    revoked = db_session.execute(
        sa.update(Credential).where(Credential.account_id == account.id,
                                    Credential.revoked_at.is_(None))
        .values(revoked_at=now, revoked_by=f"account_closed:{reason}")
        .execution_options(synchronize_session=False))
    audit_citizen(db_session, actor, "account.closed", account.citizen_id, reason=reason,
                  account_id=account.id, previous_status=previous,
                  credentials_revoked=int(getattr(revoked, "rowcount", 0) or 0))
    notify(db_session=db_session, account_id=account.id, kind="account.closed", text=text)
    db_session.flush()


def withdraw_registration(*, db_session: Session, actor: Actor, account: Account,
                          passcode: str) -> Account:
    """The applicant withdraws a registration waiting for review: the account is closed."""
    confirm_passcode(db_session=db_session, actor=actor, account=account, passcode=passcode)
    if account.status != PENDING_REVIEW:  # the capability table lets only pending ones here
        raise AccountNotActive("Only a registration waiting for review can be withdrawn.",
                               code="account.not_pending")
    close_account(db_session, account=account, actor=actor, reason="withdrawn",
                  text="You withdrew your registration; the account is closed.")
    db_session.commit()
    return account


def _make_room(db_session: Session, actor: Actor, existing: Account | None,
               payload: dict[str, Any]) -> None:
    """Close the citizen's open account that this confirmation supersedes, or refuse.

    An officer's reclaim supersedes any open account; a self-registration
    only a rejected one, or a pending one when its own phone is the
    registry's (:func:`registration_blocked`).
    """
    if existing is None:
        return
    if payload.get("reclaim"):
        close_account(db_session, account=existing, actor=actor, reason="reclaimed",
                      text=RECLAIMED_TEXT)
    elif registration_blocked(existing, payload["phone_matches"]):
        raise AccountExists()
    else:
        standing = _standing(existing)
        close_account(db_session, account=existing, actor=actor,
                      reason="replaced" if standing == REJECTED else "superseded",
                      text=_SUPERSEDED_TEXT[standing])


def confirm_registration(*, db_session: Session, redis_client: redis.Redis,
                         protector: Protector, actor: Actor, registration_id: str, otp: str,
                         password: str, passcode: str) -> Account:
    """Create the level-1 account: ``active`` if the phone is the registry's, else pending review.

    The password and passcode are checked before the code is used, so a weak
    password costs the citizen no code. One open account per citizen: a
    rejected account, or a pending one outranked by the registry's phone, is
    closed in the same transaction; any other is :class:`AccountExists`, as is
    a concurrent confirmation. A confirmation started by an officer's reclaim
    (``identity/accounts/reclaim.py``) supersedes any open account and makes
    an active level-2 account bound to the device registered at the desk.
    """
    password = check_password(password)
    passcode = check_passcode(passcode)
    payload = codes.consume(redis_client=redis_client, protector=protector,
                            purpose="registration", ref=registration_id, code=otp)
    if payload["citizen_id"] is None:
        raise InvalidCode()
    password_hash = hash_secret(password)
    passcode_hash = passcode_keys().hash(passcode, citizen_id=payload["citizen_id"])
    citizen = citizen_by_id(db_session, payload["citizen_id"])
    if citizen is None:  # removed from the registry since
        raise InvalidCode()
    reclaim = payload.get("reclaim")
    try:
        _make_room(db_session, actor, get_account_of(db_session=db_session,
                                                     citizen_id=citizen.id), payload)
    except IntegrityError:
        db_session.rollback()
        raise AccountExists() from None
    phone = protector.decrypt(unb64url(payload["phone"]), context=b"registration/phone")
    status = ACTIVE if payload["phone_matches"] or reclaim else PENDING_REVIEW
    account = Account(citizen_id=citizen.id, level=1, status=status,
                      phone_encrypted=protector.encrypt(
                          phone, context=account_phone_context(citizen.id)),
                      phone_hash=protector.lookup_hash(phone, purpose=PHONE_PURPOSE),
                      password_hash=password_hash, passcode_hash=passcode_hash,
                      failed_passcodes=0, token_version=1)
    if reclaim:  # checked in person against the chip card, whose number is the personal id
        account.level, account.level2_check = 2, reclaim["check"]
        account.level2_card_last4 = citizen.personal_id[-4:]
        account.level2_officer_id, account.level2_at = reclaim["officer_id"], clock.now()
    db_session.add(account)
    try:
        db_session.flush()
    except IntegrityError:
        db_session.rollback()
        raise AccountExists() from None
    bind_device(db_session=db_session, account=account, device_id=payload["device_id"],
                public_key=unb64url(payload["device_public_key"]),
                bound_by="officer_reclaim" if reclaim else "registration")
    audit_citizen(db_session, citizen_actor(account, actor), "account.registered", citizen.id,
                  level=account.level, status=status,
                  **({"reclaimed_by_officer": reclaim["officer_id"]} if reclaim else {}))
    notify(db_session=db_session, account_id=account.id, kind="account.registered",
           text="Your level 2 account was created after your identity was checked in person "
                "at a police office; any other account in your name was closed." if reclaim
           else "Your level 1 account was created." if status == ACTIVE else
           "Your account was created and waits for a police officer's review, "
           "because the phone is not the one in the registry.")
    try:
        db_session.commit()
    except IntegrityError:
        db_session.rollback()
        raise AccountExists() from None
    return account


# --- An officer's review ---------------------------------------------------------------------

def review_queue(*, db_session: Session, officer: Officer, page: int,
                 per_page: int) -> tuple[list[Account], int]:
    """Registrations waiting for review in the officer's jurisdiction, oldest first."""
    # The citizen's residence in the registry decides, as for every other act of the officer.
    where = [Account.status == PENDING_REVIEW, Citizen.province_code == officer.province_code]
    if officer.commune_code is not None:
        where.append(Citizen.commune_code == officer.commune_code)
    return paginate(db_session, sa.select(Account).join(Account.citizen).where(*where)
                    .order_by(Account.created_at, Account.id), page=page, per_page=per_page)


def review_registration(*, db_session: Session, actor: Actor, officer: Officer,
                        account_id: int, approve: bool, reason: str | None) -> Account:
    """Approve or reject a registration waiting for review."""
    account = account_in_jurisdiction(db_session, officer, actor, account_id,
                                      "account.review")
    if account.status != PENDING_REVIEW:
        raise Conflict("The account is not waiting for review.", code="account.not_pending")
    if not approve and not reason:
        raise InvalidInput("A rejection needs a reason.", code="review.reason_required",
                           field="reason")
    account.status = ACTIVE if approve else REJECTED
    account.review_note = reason
    if not approve:
        revoke_sessions(db_session, account, "rejected")
    record_officer_act(db_session, officer, actor,
                       "account.approved" if approve else "account.rejected",
                       account.citizen_id, reason=reason)
    notify(db_session=db_session, account_id=account.id, kind="account.reviewed",
           text="Your account was approved." if approve else
           f"Your registration was rejected: {reason}")
    db_session.commit()
    return account
