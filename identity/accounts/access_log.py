"""The citizen's access log: every audited act about them, whoever did it."""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from identity.audit.models import AuditEvent
from identity.database import paginate


def access_log(*, db_session: Session, citizen_id: int, page: int,
               per_page: int) -> tuple[list[AuditEvent], int]:
    """Every audited act about the citizen (logins, device changes, reads), newest first."""
    return paginate(db_session, sa.select(AuditEvent)
                    .where(AuditEvent.subject_type == "citizen",
                           AuditEvent.subject_id == str(citizen_id))
                    .order_by(AuditEvent.occurred_at.desc(), AuditEvent.id.desc()),
                    page=page, per_page=per_page)
