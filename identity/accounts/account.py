"""One citizen's account as every use case meets it, inside the caller's transaction.

The account an access token speaks for (read with its citizen on every citizen's
request), finding the citizen's open account, its phone, the audit actor it acts as,
the audit event about it and the revocation of its sessions: the pieces the
use-case modules of this folder (and other domains) share. Nothing here
commits; the use case that calls it does, once.

Events about a citizen name the citizen as subject, so they appear in the
citizen's access log (``access_log.py``).
"""
from __future__ import annotations

from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from identity import clock
from identity.accounts.errors import InvalidToken
from identity.accounts.models import CLOSED, LOCKED, REJECTED, Account, SessionFamily
from identity.audit.service import Actor, record_event
from identity.database import Statement
from identity.entities import attach
from identity.protection import Protector
from identity.registry.models import Citizen

_PHONE_CONTEXT = b"account/phone/"


#: An account with its citizen (columns ``citizen__<name>``), in one statement: every
#: citizen's request reads it. Through the ORM (``get`` with the joined citizen) it cost about
#: 600 µs of Python, a fifth of issuing a QR; read here and attached, about a quarter of that.
_ACCOUNT_ROW = Statement(
    sa.select(Account.__table__, *(column.label(f"citizen__{column.key}")
                                   for column in Citizen.__table__.c))
    .join_from(Account.__table__, Citizen.__table__,
               Account.__table__.c.citizen_id == Citizen.__table__.c.id)
    .where(Account.__table__.c.id == sa.bindparam("account_id")))
_CITIZEN_KEYS = tuple((f"citizen__{column.key}", column.key) for column in Citizen.__table__.c)


def account_for_token(*, db_session: Session, account_id: int, token_version: int) -> Account:
    """The account an access token speaks for, with its citizen, if the token is still current.

    Read from the database on every request (a logout, a lock or a level change moves the
    version, so older tokens are refused on the next request) and attached to the session
    as loaded entities (:func:`identity.entities.attach`): no second statement.
    """
    row = _ACCOUNT_ROW.first(db_session, {"account_id": account_id})
    if row is None or row.token_version != token_version or row.status in (LOCKED, REJECTED):
        raise InvalidToken()
    values = row._asdict()
    citizen = attach(db_session, Citizen, {key: values.pop(label) for label, key in _CITIZEN_KEYS})
    account = attach(db_session, Account, values)
    if "citizen" not in account.__dict__:
        set_committed_value(account, "citizen", citizen)
    return account


def get_account_of(*, db_session: Session, citizen_id: int) -> Account | None:
    """The citizen's open account (any state but ``closed``), if any: at most one exists."""
    return db_session.scalars(sa.select(Account).where(Account.citizen_id == citizen_id,
                                                       Account.status != CLOSED)).first()


def account_phone_context(account_citizen_id: int) -> bytes:
    """The associated data binding an account's encrypted phone to its citizen."""
    return _PHONE_CONTEXT + str(account_citizen_id).encode()


class AccountKeys(Protocol):
    """What the helpers below read of an account: the entity, or a row with these columns
    (``sessions.login_subject``)."""

    id: int
    citizen_id: int
    phone_encrypted: bytes


def account_phone(*, protector: Protector, account: AccountKeys) -> str:
    """The phone verified by SMS for ``account``, decrypted."""
    return protector.decrypt(account.phone_encrypted,
                             context=account_phone_context(account.citizen_id))


def citizen_actor(account: AccountKeys, base: Actor) -> Actor:
    """The audit actor for a citizen acting through the app."""
    return Actor(type="citizen", id=f"account:{account.id}", source=base.source,
                 request_id=base.request_id)


def audit_citizen(db_session: Session, actor: Actor, action: str, citizen_id: int,
                  **details: Any) -> None:
    """Record an event with the citizen as subject (it shows in their access log)."""
    record_event(db_session=db_session, actor=actor, action=action, subject_type="citizen",
                 subject_id=citizen_id, details=details)


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
