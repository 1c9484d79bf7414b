"""Logging in and out: challenges, citizens' logins, refresh-token rotation, logout.

A citizen logs in from the bound device: the password plus the device's
signature over a one-time nonce (a challenge held in Redis). A login opens a
session family whose refresh tokens rotate; a token of an older generation
(a stolen one in play) revokes the family. Officers log in with TOTP
(``officers.py``) into the same kind of session.

Every failure of a login is the same :class:`AuthenticationFailed`; its cause
goes to the audit log, committed before the error is raised.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import secrets
from dataclasses import dataclass
from typing import Protocol, cast

import redis
import sqlalchemy as sa
from sqlalchemy.orm import Session

from identity import clock
from identity.accounts.account import audit_citizen, citizen_actor, get_account_of
from identity.accounts.device_keys import signature_valid
from identity.accounts.errors import (AccountLocked, AccountNotActive, AuthenticationFailed,
                                      InvalidToken)
from identity.accounts.models import (CLOSED, LOCKED, REJECTED, Account, Device, Officer,
                                      SessionFamily)
from identity.accounts.secrets import burn_verification, hash_secret, needs_rehash, verify_secret
from identity.audit.service import Actor, record_event
from identity.credentials.vn1 import b64url, unb64url
from identity.autocommit import leave_autocommit
from identity.database import Statement
from identity.protection import Protector
from identity.registry.models import Citizen
from identity.registry.partitions import ByPersonalId
from identity.registry.service import get_citizen

CHALLENGE_TTL_SECONDS = 120
REFRESH_LIFETIME = dt.timedelta(days=30)


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


# --- Challenges ------------------------------------------------------------------------------

def create_challenge(*, redis_client: redis.Redis, protector: Protector, personal_id: str,
                     device_id: str) -> tuple[str, str]:
    """A one-time nonce for the device to sign; same shape whether or not the id exists."""
    challenge_id, nonce = secrets.token_urlsafe(16), os.urandom(32)
    redis_client.set(f"challenge:{challenge_id}", json.dumps({
        "pid": protector.lookup_hash(personal_id, purpose=b"challenge").hex(),
        "device_id": device_id, "nonce": b64url(nonce)}), ex=CHALLENGE_TTL_SECONDS)
    return challenge_id, b64url(nonce)


def consume_challenge(redis_client: redis.Redis, protector: Protector, challenge_id: str,
                      personal_id: str, device_id: str) -> tuple[bytes | None, str | None]:
    """The challenge's nonce (used up), or None and why it cannot be used."""
    raw = redis_client.getdel(f"challenge:{challenge_id}") if len(challenge_id) <= 64 else None
    if raw is None:
        return None, "challenge_unknown_or_used"
    held = json.loads(raw)
    if held["pid"] != protector.lookup_hash(personal_id, purpose=b"challenge").hex() or \
            held["device_id"] != device_id:
        return None, "challenge_mismatch"
    return unb64url(held["nonce"]), None


# --- Login -----------------------------------------------------------------------------------

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
    one Redis ``INCR`` per try (in the one atomic count of all the request's
    windows), shared by every endpoint that takes the password (login, unlock,
    device rebind, password change). It counts tries rather than failures, so
    a stranger cannot lock the citizen out for longer than the limit's window
    (``tests/security/test_password_race.py``).

    On PostgreSQL a login is three statements besides the audit event's: the
    subject read (:func:`login_subject`), the session's ``INSERT`` and the
    commit, all on the cursor (``identity.database.Statement``).
    """
    nonce, failure = consume_challenge(redis_client, protector, challenge_id, personal_id,
                                       device_id)
    citizen_id, account = login_subject(db_session, personal_id)
    if account is None:
        burn_verification(password)
        failure = failure or "no_account"
    else:
        if account.device_id is None or account.device_id != device_id:
            failure = failure or "device_not_bound"
        elif nonce is not None and not signature_valid(account.public_key or b"", signature,
                                                       nonce):
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
        audit_citizen(db_session, actor, "auth.login_refused", account.citizen_id,
                      reason="locked")
        db_session.commit()
        raise AccountLocked()
    if account.status == REJECTED:
        raise AccountNotActive("The registration was rejected; visit a police office.")
    now = clock.now()
    if needs_rehash(account.password_hash):
        _REHASH.rows(db_session, {"account_id": account.id, "now": now,
                                  "password_hash": hash_secret(password)})
    session_id = secrets.token_urlsafe(24)
    _NEW_SESSION.rows(db_session, {"id": session_id, "account_id": account.id,
                                   "device_id": device_id, "created_at": now,
                                   "expires_at": now + REFRESH_LIFETIME})
    audit_citizen(db_session, citizen_actor(account, actor), "auth.login", account.citizen_id,
                  device_id=device_id)
    db_session.commit()
    return Grant(subject=f"citizen:{account.id}", role="citizen", level=account.level,
                 token_version=account.token_version, session_id=session_id, generation=1,
                 device_id=device_id)


class LoginAccount(Protocol):
    """An open account as a login meets it (:func:`login_subject`): its columns, and its
    active device's id and key (None without one)."""

    id: int
    citizen_id: int
    status: str
    level: int
    token_version: int
    password_hash: str
    phone_encrypted: bytes
    device_id: str | None
    public_key: bytes | None


_CITIZENS, _ACCOUNTS, _DEVICES, _FAMILIES = (cast(sa.Table, model.__table__) for model in (
    Citizen, Account, Device, SessionFamily))

#: The citizen of a personal id, their open account and its active device, in one statement.
_SUBJECT = ByPersonalId(_CITIZENS, lambda where: Statement(
    sa.select(_CITIZENS.c.id.label("citizen_id"), _ACCOUNTS.c.id, _ACCOUNTS.c.status,
              _ACCOUNTS.c.level, _ACCOUNTS.c.token_version, _ACCOUNTS.c.password_hash,
              _ACCOUNTS.c.phone_encrypted, _DEVICES.c.device_id, _DEVICES.c.public_key)
    .select_from(_CITIZENS)
    .outerjoin(_ACCOUNTS, sa.and_(_ACCOUNTS.c.citizen_id == _CITIZENS.c.id,
                                  _ACCOUNTS.c.status != sa.bindparam("closed")))
    .outerjoin(_DEVICES, sa.and_(_DEVICES.c.account_id == _ACCOUNTS.c.id,
                                 _DEVICES.c.revoked_at.is_(None)))
    .where(where)))

#: A citizen's new session family, at its first generation (no ORM unit of work; the columns
#: left out are NULL).
_NEW_SESSION = Statement(sa.insert(_FAMILIES).values(
    id=sa.bindparam("id"), account_id=sa.bindparam("account_id"),
    device_id=sa.bindparam("device_id"), generation=sa.literal_column("1"),
    created_at=sa.bindparam("created_at"), expires_at=sa.bindparam("expires_at")))

#: A password hashed again with today's parameters, at a login that verified it.
_REHASH = Statement(sa.update(_ACCOUNTS).where(_ACCOUNTS.c.id == sa.bindparam("account_id"))
                    .values(password_hash=sa.bindparam("password_hash"),
                            updated_at=sa.bindparam("now")))


def login_subject(db_session: Session,
                  personal_id: str) -> tuple[int | None, LoginAccount | None]:
    """The citizen's id and open account with its active device, in one statement (Nones: no
    such citizen, or no open account)."""
    row = _SUBJECT(personal_id).first(db_session, {"personal_id": personal_id, "closed": CLOSED})
    if row is None:
        return None, None
    return row.citizen_id, (row if row.id is not None else None)


def authenticate_by_password(db_session: Session, actor: Actor, personal_id: str,
                             password: str, action: str) -> Account:
    """The citizen's open account if ``password`` is its password; else audited and refused.

    For the acts that take the password without the device (unlock, device
    rebind): a failure commits its ``<action>_failed`` event and raises
    :class:`AuthenticationFailed`, the same for an unknown id (whose password
    is verified against a dummy hash, so the time taken does not tell).
    """
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


# --- Refresh, logout, per-request checks -----------------------------------------------------

def _rotation() -> sa.Update:
    """The refresh's one statement: move the family on a generation, and read its holder.

    Core on the tables (no ORM unit of work), built once and run on the cursor
    (``identity.database.Statement``): the compare-and-set on the presented
    generation, the family live, its holder still allowed (an account neither
    locked nor rejected, an active officer), and the holder's level, role and
    token version read back in the same statement.
    """
    families, accounts, officers = (cast(sa.Table, model.__table__)
                                    for model in (SessionFamily, Account, Officer))
    account = (accounts.c.id == families.c.account_id)
    officer = (officers.c.id == families.c.officer_id)
    return (
        sa.update(families)
        .where(families.c.id == sa.bindparam("sid"),
               families.c.generation == sa.bindparam("presented"),
               families.c.revoked_at.is_(None), families.c.expires_at > sa.bindparam("now"),
               sa.or_(sa.exists().where(account, accounts.c.status != sa.bindparam("locked"),
                                        accounts.c.status != sa.bindparam("rejected")),
                      sa.exists().where(officer, officers.c.active.is_(True))))
        .values(generation=families.c.generation + sa.literal_column("1"))
        .returning(families.c.account_id, families.c.officer_id, families.c.device_id,
                   families.c.generation,
                   sa.select(accounts.c.level).where(account).scalar_subquery().label("level"),
                   sa.select(officers.c.role).where(officer).scalar_subquery().label("role"),
                   sa.func.coalesce(
                       sa.select(accounts.c.token_version).where(account).scalar_subquery(),
                       sa.select(officers.c.token_version).where(officer).scalar_subquery(),
                   ).label("token_version")))


_ROTATION = Statement(_rotation())


def refresh_session(*, db_session: Session, actor: Actor, session_id: str,
                    generation: int) -> Grant:
    """Rotate a refresh token. A token of an older generation revokes the whole family.

    The rotation is one conditional ``UPDATE ... RETURNING`` (:func:`_rotation`):
    of two requests presenting the same token at once, one moves the
    generation on and the other, finding it moved, is a reuse. The holder's
    state is checked in the same statement, so a locked or rejected account
    or a deactivated officer moves nothing; anything that did not move is
    told apart by :func:`_refuse_refresh`.

    On PostgreSQL, a refresh whose session holds no transaction runs its statement on its
    own in autocommit, the session left out (``alone``,
    :func:`identity.autocommit.statement_alone`): one statement is atomic on its own, so one
    round trip instead of three (``BEGIN``, the statement, ``COMMIT``), and none of the
    session's work around it. A refused one is told apart by :func:`_refuse_refresh`, which
    reads the family again in a transaction of the session (its row lock held until its
    commit).
    """
    moved = _ROTATION.first(db_session, {"sid": session_id, "presented": generation,
                                         "now": clock.now(), "locked": LOCKED,
                                         "rejected": REJECTED}, alone=True)
    if moved is None:
        leave_autocommit(db_session)  # a caller's autocommit mode, if any, ends here
        _refuse_refresh(db_session, actor, session_id, generation)
    assert moved is not None
    if moved.account_id is not None:
        grant = Grant(subject=f"citizen:{moved.account_id}", role="citizen", level=moved.level,
                      token_version=moved.token_version, session_id=session_id,
                      generation=moved.generation, device_id=moved.device_id)
    else:
        grant = Grant(subject=f"officer:{moved.officer_id}", role=moved.role, level=None,
                      token_version=moved.token_version, session_id=session_id,
                      generation=moved.generation)
    if db_session.in_transaction():  # the session's way (else committed on its own)
        db_session.commit()
    return grant


def _refuse_refresh(db_session: Session, actor: Actor, session_id: str,
                    generation: int) -> None:
    """Why a refresh token did not rotate; a reuse revokes its family (committed). Always raises."""
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
        audit_citizen(db_session, actor, "auth.logout", holder.citizen_id)
    else:
        record_event(db_session=db_session, actor=actor, action="auth.logout",
                     subject_type="officer", subject_id=holder.id)
    db_session.commit()
