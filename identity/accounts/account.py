"""One citizen's account as every use case meets it, inside the caller's transaction.

Finding the citizen's open account, its phone, the audit actor it acts as,
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

from identity import clock
from identity.accounts.models import CLOSED, Account, SessionFamily
from identity.audit.service import Actor, record_event
from identity.protection import Protector

_PHONE_CONTEXT = b"account/phone/"


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
