"""Use cases of citizens' accounts: registration, login, sessions, devices, passcode, locks.

Over 400 lines until issue 17 ("A house to live in") splits it into use-case modules along
its sections; it was kept whole here so that the identity-assurance changes stayed
reviewable in place.

Every function takes its collaborators as keyword arguments (database session,
Redis client, personal-data protector, SMS gateway, the acting party), commits
at most once, and writes its audit event in the same transaction. Events about
a citizen name the citizen as subject, so they appear in the citizen's access
log (:func:`access_log`).
"""
from __future__ import annotations

import base64
import datetime as dt
import json
import os
import secrets
from dataclasses import dataclass
from typing import Any

import redis
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, lazyload
from sqlalchemy.orm.attributes import set_committed_value

from identity import clock
from identity.accounts import codes
from identity.accounts.devices import load_device_key, signature_valid
from identity.accounts.errors import (AccountExists, AccountLocked, AccountNotActive,
                                      AuthenticationFailed, InvalidCode, InvalidToken,
                                      WrongPasscode)
from identity.accounts.models import (ACTIVE, CLOSED, LOCKED, PENDING_REVIEW, REJECTED, Account,
                                      Device, Notification, Officer, SessionFamily)
from identity.accounts.secrets import (burn_verification, check_passcode, check_password,
                                       hash_secret, needs_rehash, verify_secret)
from identity.accounts.sms import SmsGateway
from identity.audit.models import AuditEvent
from identity.credentials.models import Credential
from identity.audit.service import Actor, record_event
from identity.database import paginate
from identity.protection import Protector
from identity.registry.models import Citizen
from identity.registry.normalise import mask_phone, name_key
from identity.registry.service import PHONE_PURPOSE, get_citizen

CHALLENGE_TTL_SECONDS = 120
REFRESH_LIFETIME = dt.timedelta(days=30)
MAX_WRONG_PASSCODES = 5
_PHONE_CONTEXT = b"account/phone/"


@dataclass(frozen=True)
class Grant:
    """What a login or a refresh grants; ``app/auth.py`` turns it into signed tokens."""

    subject: str
    role: str
    level: int | None
    token_version: int
    session_id: str
    generation: int
    device_id: str | None = None


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def account_phone_context(account_citizen_id: int) -> bytes:
    """The associated data binding an account's encrypted phone to its citizen."""
    return _PHONE_CONTEXT + str(account_citizen_id).encode()


def account_phone(*, protector: Protector, account: Account) -> str:
    """The phone verified by SMS for ``account``, decrypted."""
    return protector.decrypt(account.phone_encrypted,
                             context=account_phone_context(account.citizen_id))


def citizen_actor(account: Account, base: Actor) -> Actor:
    """The audit actor for a citizen acting through the app."""
    return Actor(type="citizen", id=f"account:{account.id}", source=base.source,
                 request_id=base.request_id)


def _audit_citizen(db_session: Session, actor: Actor, action: str, citizen_id: int,
                   **details: Any) -> None:
    record_event(db_session=db_session, actor=actor, action=action, subject_type="citizen",
                 subject_id=citizen_id, details=details)


def notify(*, db_session: Session, account_id: int, kind: str, text: str) -> None:
    """Leave a notification for the citizen (inside the caller's transaction)."""
    db_session.add(Notification(account_id=account_id, kind=kind, text=text))


def revoke_sessions(db_session: Session, account: Account, reason: str,
                    device_id: str | None = None) -> None:
    """Refuse every access token of the account, and revoke its sessions (of one device)."""
    account.token_version += 1
    query = sa.update(SessionFamily).where(SessionFamily.account_id == account.id,
                                           SessionFamily.revoked_at.is_(None))
    if device_id is not None:
        query = query.where(SessionFamily.device_id == device_id)
    db_session.execute(query.values(revoked_at=clock.now(), revoke_reason=reason)
                       .execution_options(synchronize_session=False))


def active_device(*, db_session: Session, account_id: int) -> Device | None:
    """The device bound to the account now, if any."""
    return db_session.scalars(sa.select(Device).where(Device.account_id == account_id,
                                                      Device.revoked_at.is_(None))).first()


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


def get_account_of(*, db_session: Session, citizen_id: int) -> Account | None:
    """The citizen's open account (any state but ``closed``), if any: at most one exists."""
    return db_session.scalars(sa.select(Account).where(Account.citizen_id == citizen_id,
                                                       Account.status != CLOSED)).first()


# --- Registration (level 1) ------------------------------------------------------------------

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
        "phone": _b64(protector.encrypt(phone, context=b"registration/phone")),
        "phone_matches": phone_matches,
        "device_id": device_id,
        "device_public_key": _b64(device_public_key),
    }
    ref, code = codes.start(redis_client=redis_client, protector=protector,
                            purpose="registration", payload=payload)
    if matches and citizen is not None and blocked:
        # No code to the typed number; the citizen's access log tells of the attempt.
        _audit_citizen(db_session, actor, "account.registration_blocked", citizen.id,
                       reason="open_account", phone_matches_registry=phone_matches)
    elif matches and citizen is not None:
        sms.send(db_session=db_session, phone=phone,
                 text=f"VNeID: ma xac thuc dang ky tai khoan cua ban la {code}. "
                      "Ma co hieu luc 5 phut. Khong cung cap ma nay cho bat ky ai.")
        _audit_citizen(db_session, actor, "account.registration_started", citizen.id,
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
    _audit_citizen(db_session, actor, "account.closed", account.citizen_id, reason=reason,
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


_SUPERSEDED_TEXT = {
    REJECTED: "This rejected registration was closed: the citizen registered again.",
    PENDING_REVIEW: "This registration was closed: the citizen registered with the phone "
                    "in the population registry. If you are the citizen, visit a police office.",
}
#: Told to an account closed by the citizen's reclaim at a police office.
RECLAIMED_TEXT = ("This account was closed: the citizen reclaimed the identity in person at a "
                  "police office. Its tokens, devices and credentials no longer work.")


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
    password_hash, passcode_hash = hash_secret(password), hash_secret(passcode)
    citizen = db_session.get(Citizen, payload["citizen_id"])
    if citizen is None:  # removed from the registry since
        raise InvalidCode()
    reclaim = payload.get("reclaim")
    try:
        _make_room(db_session, actor, get_account_of(db_session=db_session,
                                                     citizen_id=citizen.id), payload)
    except IntegrityError:
        db_session.rollback()
        raise AccountExists() from None
    phone = protector.decrypt(_unb64(payload["phone"]), context=b"registration/phone")
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
                public_key=_unb64(payload["device_public_key"]),
                bound_by="officer_reclaim" if reclaim else "registration")
    _audit_citizen(db_session, citizen_actor(account, actor), "account.registered", citizen.id,
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


# --- Login -----------------------------------------------------------------------------------

def create_challenge(*, redis_client: redis.Redis, protector: Protector, personal_id: str,
                     device_id: str) -> tuple[str, str]:
    """A one-time nonce for the device to sign; same shape whether or not the id exists."""
    challenge_id, nonce = secrets.token_urlsafe(16), os.urandom(32)
    redis_client.set(f"challenge:{challenge_id}", json.dumps({
        "pid": protector.lookup_hash(personal_id, purpose=b"challenge").hex(),
        "device_id": device_id, "nonce": _b64(nonce)}), ex=CHALLENGE_TTL_SECONDS)
    return challenge_id, _b64(nonce)


def _consume_challenge(redis_client: redis.Redis, protector: Protector, challenge_id: str,
                       personal_id: str, device_id: str) -> tuple[bytes | None, str | None]:
    raw = redis_client.getdel(f"challenge:{challenge_id}") if len(challenge_id) <= 64 else None
    if raw is None:
        return None, "challenge_unknown_or_used"
    held = json.loads(raw)
    if held["pid"] != protector.lookup_hash(personal_id, purpose=b"challenge").hex() or \
            held["device_id"] != device_id:
        return None, "challenge_mismatch"
    return _unb64(held["nonce"]), None


def start_session(db_session: Session, *, account: Account | None = None,
                  officer: Officer | None = None, device_id: str | None = None,
                  lifetime: dt.timedelta = REFRESH_LIFETIME) -> SessionFamily:
    """A new session family for a citizen's device or an officer (in the caller's transaction).

    Its refresh tokens rotate until ``lifetime`` has passed since the login,
    never beyond: a citizen's session lasts :data:`REFRESH_LIFETIME`, an
    officer's one shift (``officers.officer_login``).
    """
    family = SessionFamily(id=secrets.token_urlsafe(24), device_id=device_id, generation=1,
                           account_id=account.id if account else None,
                           officer_id=officer.id if officer else None,
                           expires_at=clock.now() + min(lifetime, REFRESH_LIFETIME))
    db_session.add(family)
    return family


def citizen_grant(account: Account, family: SessionFamily) -> Grant:
    """The grant of a citizen's session at its current generation."""
    return Grant(subject=f"citizen:{account.id}", role="citizen", level=account.level,
                 token_version=account.token_version, session_id=family.id,
                 generation=family.generation, device_id=family.device_id)


def officer_grant(officer: Officer, family: SessionFamily) -> Grant:
    """The grant of an officer's session at its current generation."""
    return Grant(subject=f"officer:{officer.id}", role=officer.role, level=None,
                 token_version=officer.token_version, session_id=family.id,
                 generation=family.generation)


def login(*, db_session: Session, redis_client: redis.Redis, protector: Protector, actor: Actor,
          personal_id: str, password: str, device_id: str, challenge_id: str,
          signature: bytes) -> Grant:
    """Log a citizen in from the bound device: password plus the device's signature of the nonce.

    Every failure is the same :class:`AuthenticationFailed`; its cause goes to
    the audit log. The password is verified even when the account is unknown,
    so the time taken does not tell either.

    Password tries are counted before this runs, and a try past the budget
    never gets here: the route's per personal id limit (``auth_limits``) is
    one Redis ``INCR`` per try, shared by every endpoint that takes the
    password (login, unlock, device rebind, password change). It counts
    tries rather than failures, so a stranger cannot lock the citizen out
    for longer than the limit's window (``tests/security/test_password_race.py``).
    """
    nonce, failure = _consume_challenge(redis_client, protector, challenge_id, personal_id,
                                        device_id)
    citizen_id, account, device = _login_subject(db_session, personal_id)
    if account is None:
        burn_verification(password)
        failure = failure or "no_account"
    else:
        if device is None or device.device_id != device_id:
            failure = failure or "device_not_bound"
        elif nonce is not None and not signature_valid(device.public_key, signature, nonce):
            failure = failure or "signature_invalid"
        if not verify_secret(account.password_hash, password):
            failure = failure or "password_wrong"
    if failure is not None or account is None:
        record_event(db_session=db_session, actor=actor, action="auth.login_failed",
                     subject_type="citizen" if citizen_id else None,
                     subject_id=citizen_id, details={"reason": failure})
        db_session.commit()
        raise AuthenticationFailed()
    if account.status == LOCKED:
        _audit_citizen(db_session, actor, "auth.login_refused", account.citizen_id,
                       reason="locked")
        db_session.commit()
        raise AccountLocked()
    if account.status == REJECTED:
        raise AccountNotActive("The registration was rejected; visit a police office.")
    if needs_rehash(account.password_hash):
        account.password_hash = hash_secret(password)
    family = start_session(db_session, account=account, device_id=device_id)
    _audit_citizen(db_session, citizen_actor(account, actor), "auth.login", account.citizen_id,
                   device_id=device_id)
    grant = citizen_grant(account, family)  # before the commit expires what it reads
    db_session.commit()
    return grant


def _login_subject(db_session: Session,
                   personal_id: str) -> tuple[int | None, Account | None, Device | None]:
    """The citizen's id, account and active device, in one query."""
    row = db_session.execute(
        sa.select(Citizen.id, Account, Device).select_from(Citizen)
        .outerjoin(Account, sa.and_(Account.citizen_id == Citizen.id, Account.status != CLOSED))
        .outerjoin(Device, sa.and_(Device.account_id == Account.id, Device.revoked_at.is_(None)))
        .where(Citizen.personal_id == personal_id)
        .options(lazyload(Account.citizen))).first()
    if row is None:
        return None, None, None
    return row[0], row[1], row[2]


# --- Sessions: refresh, logout, per-request checks ---------------------------------------------

def refresh_session(*, db_session: Session, actor: Actor, session_id: str,
                    generation: int) -> Grant:
    """Rotate a refresh token. A token of an older generation revokes the whole family.

    The rotation is one conditional ``UPDATE``: of two requests presenting the
    same token at once, one moves the generation on and the other, finding it
    moved, is a reuse.
    """
    moved = db_session.execute(
        sa.update(SessionFamily)
        .where(SessionFamily.id == session_id, SessionFamily.generation == generation,
               SessionFamily.revoked_at.is_(None), SessionFamily.expires_at > clock.now())
        .values(generation=generation + 1)
        .returning(SessionFamily.account_id, SessionFamily.officer_id, SessionFamily.device_id)
        .execution_options(synchronize_session=False)).first()
    if moved is None:
        _refuse_refresh(db_session, actor, session_id, generation)
    assert moved is not None
    if moved.account_id is not None:
        account = db_session.execute(
            sa.select(Account.level, Account.token_version, Account.status)
            .where(Account.id == moved.account_id)).one()
        if account.status in (LOCKED, REJECTED):
            db_session.rollback()
            raise InvalidToken()
        grant = Grant(subject=f"citizen:{moved.account_id}", role="citizen", level=account.level,
                      token_version=account.token_version, session_id=session_id,
                      generation=generation + 1, device_id=moved.device_id)
    else:
        officer = db_session.execute(
            sa.select(Officer.role, Officer.token_version, Officer.active)
            .where(Officer.id == moved.officer_id)).one()
        if not officer.active:
            db_session.rollback()
            raise InvalidToken()
        grant = Grant(subject=f"officer:{moved.officer_id}", role=officer.role, level=None,
                      token_version=officer.token_version, session_id=session_id,
                      generation=generation + 1)
    db_session.commit()
    return grant


def _refuse_refresh(db_session: Session, actor: Actor, session_id: str,
                    generation: int) -> None:
    """Why a refresh token did not rotate; a reuse revokes its family. Always raises."""
    family = db_session.get(SessionFamily, session_id, with_for_update=True)
    now = clock.now()
    if family is None or family.revoked_at is not None or family.expires_at <= now:
        db_session.rollback()
        raise InvalidToken()
    if generation != family.generation:
        # A stolen token is in play: end the family, and every access token of its holder
        # (issued from this family or not), which cannot be told apart.
        family.revoked_at, family.revoke_reason = now, "reuse"
        holder = (db_session.get(Account, family.account_id) if family.account_id is not None
                  else db_session.get(Officer, family.officer_id))
        if holder is not None:
            holder.token_version += 1
        record_event(db_session=db_session, actor=actor, action="auth.refresh_reuse",
                     subject_type="session", subject_id=family.id,
                     details={"presented": generation, "current": family.generation})
        db_session.commit()
    raise InvalidToken()


def logout(*, db_session: Session, actor: Actor, session_id: str, subject: str,
           token_version: object) -> None:
    """Revoke the session's refresh tokens and every access token of its holder.

    Only a current access token logs out: the session must be its holder's
    (``subject``, ``citizen:<id>`` or ``officer:<id>``) and the token must
    carry the holder's current version. A token revoked already (by a logout,
    a lock, a device change) is :class:`InvalidToken`, and cannot end the
    session that came after it.
    """
    family = db_session.get(SessionFamily, session_id)
    holder: Account | Officer | None = None
    if family is not None and family.account_id is not None \
            and subject == f"citizen:{family.account_id}":
        holder = db_session.get(Account, family.account_id)
    elif family is not None and family.officer_id is not None \
            and subject == f"officer:{family.officer_id}":
        holder = db_session.get(Officer, family.officer_id)
    if family is None or holder is None or not isinstance(token_version, int) \
            or holder.token_version != token_version:
        raise InvalidToken()
    if family.revoked_at is None:
        family.revoked_at, family.revoke_reason = clock.now(), "logout"
    holder.token_version += 1
    if isinstance(holder, Account):
        _audit_citizen(db_session, actor, "auth.logout", holder.citizen_id)
    else:
        record_event(db_session=db_session, actor=actor, action="auth.logout",
                     subject_type="officer", subject_id=holder.id)
    db_session.commit()


def account_for_token(*, db_session: Session, account_id: int, token_version: int) -> Account:
    """The account an access token speaks for, if the token is still current."""
    account = db_session.get(Account, account_id)
    if account is None or account.token_version != token_version or \
            account.status in (LOCKED, REJECTED):
        raise InvalidToken()
    return account


# --- Devices ---------------------------------------------------------------------------------

def _authenticate_by_password(db_session: Session, actor: Actor, personal_id: str,
                              password: str, action: str) -> Account:
    citizen = get_citizen(db_session=db_session, personal_id=personal_id)
    account = get_account_of(db_session=db_session, citizen_id=citizen.id) if citizen else None
    if account is None:
        burn_verification(password)
    elif verify_secret(account.password_hash, password):
        return account
    record_event(db_session=db_session, actor=actor, action=action + "_failed",
                 subject_type="citizen" if citizen else None,
                 subject_id=citizen.id if citizen else None,
                 details={"reason": "password_wrong" if account else "no_account"})
    db_session.commit()
    raise AuthenticationFailed()


def request_device_rebind(*, db_session: Session, redis_client: redis.Redis,
                          protector: Protector, sms: SmsGateway, actor: Actor, personal_id: str,
                          password: str, device_id: str,
                          device_public_key: bytes) -> tuple[str, str]:
    """Ask to bind a new phone: the password here, then a code sent to the registered phone."""
    load_device_key(device_public_key)
    account = _authenticate_by_password(db_session, actor, personal_id, password,
                                        "device.rebind")
    if account.status == LOCKED:
        raise AccountLocked()
    phone = account_phone(protector=protector, account=account)
    codes.count_send(redis_client=redis_client, protector=protector, phone=phone)
    ref, code = codes.start(redis_client=redis_client, protector=protector,
                            purpose="device_rebind",
                            payload={"account_id": account.id, "device_id": device_id,
                                     "device_public_key": _b64(device_public_key)})
    sms.send(db_session=db_session, phone=phone,
             text=f"VNeID: ma xac thuc doi thiet bi la {code}. Neu ban khong yeu cau, "
                  "hay khoa tai khoan ngay.")
    _audit_citizen(db_session, actor, "device.rebind_requested", account.citizen_id,
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
                public_key=_unb64(payload["device_public_key"]), bound_by="sms_rebind")
    _audit_citizen(db_session, actor, "device.rebound", account.citizen_id,
                   device_id=payload["device_id"], previous=old.device_id if old else None)
    notify(db_session=db_session, account_id=account.id, kind="device.rebound",
           text="A new phone was bound to your account; the previous one was signed out. "
                "If this was not you, lock your account and visit a police office.")
    db_session.commit()
    return account


# --- Locks and the passcode ------------------------------------------------------------------

def _lock(db_session: Session, account: Account, reason: str) -> None:
    account.status_before_lock = account.status
    account.status, account.lock_reason = LOCKED, reason
    revoke_sessions(db_session, account, f"lock_{reason}")


def lock_account(*, db_session: Session, actor: Actor, account: Account) -> None:
    """The citizen locks their own account (lost phone): every token stops working."""
    if account.status != LOCKED:
        _lock(db_session, account, "self")
        _audit_citizen(db_session, actor, "account.locked", account.citizen_id, reason="self")
        notify(db_session=db_session, account_id=account.id, kind="account.locked",
               text="Your account was locked. Unlock it with an SMS code and your password, "
                    "or at a police office.")
    db_session.commit()


def confirm_passcode(*, db_session: Session, actor: Actor, account: Account,
                     passcode: str) -> None:
    """Check the passcode that confirms a sensitive act. Call it before the act writes anything.

    The try is counted before the passcode is compared, in one statement
    (``UPDATE ... SET failed_passcodes = failed_passcodes + 1 RETURNING``):
    the number it returns is this try's place in the row, so of any number of
    concurrent tries only the first :data:`MAX_WRONG_PASSCODES` are compared
    and the rest are refused unread. On PostgreSQL the statement also takes
    the account's row lock until the act's transaction ends, so concurrent
    tries of one account run one after the other, each seeing the count the
    one before left.

    A right passcode clears the counter in the act's transaction (committed
    with the act, under that lock). A wrong one is committed at once with its
    audit event, and :class:`WrongPasscode` says how many tries are left; the
    fifth in a row locks the account (:class:`AccountLocked`).
    """
    check_passcode(passcode)
    if account.status == LOCKED:
        raise AccountLocked()
    counted = db_session.execute(
        sa.update(Account).where(Account.id == account.id)
        .values(failed_passcodes=Account.failed_passcodes + 1)
        .returning(Account.failed_passcodes, Account.status)
        .execution_options(synchronize_session=False)).first()
    if counted is None:  # the account is gone
        db_session.rollback()
        raise AccountLocked()
    failed, status = counted
    if status == LOCKED or failed > MAX_WRONG_PASSCODES:
        _refuse_passcode(db_session, actor, account, failed)
    if verify_secret(account.passcode_hash, passcode):
        # Core, not the attribute: the ORM would skip a write of 0 over a 0 it read before.
        db_session.execute(sa.update(Account).where(Account.id == account.id)
                           .values(failed_passcodes=0)
                           .execution_options(synchronize_session=False))
        set_committed_value(account, "failed_passcodes", 0)
        return
    db_session.refresh(account)
    _audit_citizen(db_session, actor, "passcode.wrong", account.citizen_id, failures=failed)
    if failed >= MAX_WRONG_PASSCODES:
        _lock_for_passcodes(db_session, actor, account)
        db_session.commit()
        raise AccountLocked()
    db_session.commit()
    raise WrongPasscode(f"The passcode is not right; {MAX_WRONG_PASSCODES - failed} tries left "
                        "before the account is locked.", field="passcode",
                        remaining=MAX_WRONG_PASSCODES - failed)


def _refuse_passcode(db_session: Session, actor: Actor, account: Account, failed: int) -> None:
    """A try past the limit, or on a locked account: refused without comparing. Always raises.

    The try stays counted and audited; the account is locked unless a
    concurrent try locked it already (fail closed).
    """
    db_session.refresh(account)
    _audit_citizen(db_session, actor, "passcode.refused", account.citizen_id, failures=failed)
    if account.status != LOCKED:
        _lock_for_passcodes(db_session, actor, account)
    db_session.commit()
    raise AccountLocked()


def _lock_for_passcodes(db_session: Session, actor: Actor, account: Account) -> None:
    """Lock the account after too many wrong passcodes (in the caller's transaction)."""
    _lock(db_session, account, "passcode")
    _audit_citizen(db_session, actor, "account.locked", account.citizen_id, reason="passcode")
    notify(db_session=db_session, account_id=account.id, kind="account.locked",
           text="Your account was locked after five wrong passcodes. Unlock it with an "
                "SMS code and your password.")


def change_passcode(*, db_session: Session, actor: Actor, account: Account, passcode: str,
                    new_passcode: str) -> None:
    """Replace the passcode, confirmed with the current one."""
    new_passcode = check_passcode(new_passcode)
    confirm_passcode(db_session=db_session, actor=actor, account=account, passcode=passcode)
    account.passcode_hash = hash_secret(new_passcode)
    _audit_citizen(db_session, actor, "passcode.changed", account.citizen_id)
    notify(db_session=db_session, account_id=account.id, kind="passcode.changed",
           text="Your passcode was changed.")
    db_session.commit()


def request_unlock(*, db_session: Session, redis_client: redis.Redis, protector: Protector,
                   sms: SmsGateway, actor: Actor, personal_id: str,
                   password: str) -> tuple[str, str]:
    """Start unlocking a locked account: the password here, a code to the registered phone."""
    account = _authenticate_by_password(db_session, actor, personal_id, password,
                                        "account.unlock")
    if account.status != LOCKED:
        raise AccountNotActive("The account is not locked.", code="account.not_locked")
    phone = account_phone(protector=protector, account=account)
    codes.count_send(redis_client=redis_client, protector=protector, phone=phone)
    ref, code = codes.start(redis_client=redis_client, protector=protector, purpose="unlock",
                            payload={"account_id": account.id})
    sms.send(db_session=db_session, phone=phone,
             text=f"VNeID: ma mo khoa tai khoan cua ban la {code}. Co hieu luc 5 phut.")
    _audit_citizen(db_session, actor, "account.unlock_requested", account.citizen_id)
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
    _audit_citizen(db_session, actor, "account.unlocked", account.citizen_id, by="sms")
    notify(db_session=db_session, account_id=account.id, kind="account.unlocked",
           text="Your account was unlocked.")
    db_session.commit()
    return account


def unlock(*, db_session: Session, account: Account) -> None:
    """Clear a lock (inside the caller's transaction): back to the status held before it."""
    account.status = account.status_before_lock or ACTIVE
    account.lock_reason, account.status_before_lock, account.failed_passcodes = None, None, 0


# --- What the citizen sees -------------------------------------------------------------------

def notifications(*, db_session: Session, account: Account, page: int,
                  per_page: int) -> tuple[list[Notification], int]:
    """The citizen's notifications, newest first, and their total."""
    return paginate(db_session, sa.select(Notification)
                    .where(Notification.account_id == account.id)
                    .order_by(Notification.id.desc()), page=page, per_page=per_page)


def access_log(*, db_session: Session, citizen_id: int, page: int,
               per_page: int) -> tuple[list[AuditEvent], int]:
    """Every audited act about the citizen (logins, device changes, reads), newest first."""
    return paginate(db_session, sa.select(AuditEvent)
                    .where(AuditEvent.subject_type == "citizen",
                           AuditEvent.subject_id == str(citizen_id))
                    .order_by(AuditEvent.occurred_at.desc(), AuditEvent.id.desc()),
                    page=page, per_page=per_page)
