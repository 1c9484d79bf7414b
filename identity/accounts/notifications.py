"""The citizen's notifications: left by the use cases, read in the app."""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from identity.accounts.models import Account, Notification
from identity.database import paginate


def notify(*, db_session: Session, account_id: int, kind: str, text: str) -> None:
    """Leave a notification for the citizen (inside the caller's transaction)."""
    db_session.add(Notification(account_id=account_id, kind=kind, text=text))


def notifications(*, db_session: Session, account: Account, page: int,
                  per_page: int) -> tuple[list[Notification], int]:
    """The citizen's notifications, newest first, and their total."""
    return paginate(db_session, sa.select(Notification)
                    .where(Notification.account_id == account.id)
                    .order_by(Notification.id.desc()), page=page, per_page=per_page)
