"""How a party's acts show in the audit log: the helpers every use case of parties shares.

Every look a party takes at a citizen is an audit event with the citizen as
subject, so it shows in their access log with the party's name (``by``).
"""
from __future__ import annotations

from typing import Any, Protocol

from sqlalchemy.orm import Session

from identity.audit.service import Actor, record_event
from identity.relying_parties.parties import PartyView


def party_actor(party: PartyView, actor: Actor) -> Actor:
    """The request's actor, named as the party (its client id; never a secret)."""
    return Actor(type="relying_party", id=party.client_id, source=actor.source,
                 request_id=actor.request_id)


class LookedAt(Protocol):
    """The citizen a party looked at: the entity, or a row holding its id."""

    id: int


def looked_up(db_session: Session, actor: Actor, party: PartyView, citizen: LookedAt | None,
              action: str, details: dict[str, Any]) -> None:
    """Audit one look at a citizen: in their access log if they exist, else about the party."""
    details = {"by": party.name, "party_kind": party.kind, **details}
    if citizen is not None:
        record_event(db_session=db_session, actor=party_actor(party, actor), action=action,
                     subject_type="citizen", subject_id=citizen.id, details=details)
    else:
        record_event(db_session=db_session, actor=party_actor(party, actor), action=action,
                     subject_type="relying_party", subject_id=party.id,
                     details={**details, "subject": "unknown"})
