"""Errors of the audit log."""
from __future__ import annotations

from identity.errors import DomainError


class AuditChainBroken(DomainError):
    """The chain of a shard does not verify; names the first broken row."""

    code = "audit.chain_broken"

    def __init__(self, *, shard: int, seq: int, event_id: int | None, reason: str) -> None:
        where = f"row id {event_id}" if event_id is not None else "chain head"
        super().__init__(f"audit chain broken at shard {shard}, seq {seq} ({where}): {reason}",
                         shard=shard, seq=seq, event_id=event_id, reason=reason)
        self.shard, self.seq, self.event_id, self.reason = shard, seq, event_id, reason
