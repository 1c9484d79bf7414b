"""The background job of the audit log: its monthly partitions made ahead, once a day."""
from __future__ import annotations

from app.extensions import db
from app.jobs import job
from identity.audit import service


@job("audit.partitions", every=86_400)
def partitions_job() -> None:
    """Make the audit log's partitions for the months ahead (PostgreSQL; nothing on SQLite)."""
    service.ensure_partitions(db_session=db.session())
