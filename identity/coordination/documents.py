"""The citizen's document wallet: their linked documents, each shown as a VN1 credential.

A document is a record of a document source (not telecom) linked to the
citizen (``linked``, including after an operator's "registry right" or
"source right"). Its credential has the type of its kind (``driving_licence``,
``health_insurance``, ``passport``, ``education``, ``vehicle``) and the
claims of :mod:`identity.coordination.kinds`, with the registry's name of the
holder (``nm``) and personal id (``id``); the offline verifier
(``python -m identity.credentials verify``) accepts it like any VN1
credential.

A document its source marks revoked or suspended is refused at once
(``document.revoked``, 409), one past its ``valid_until`` or marked expired
too (``document.expired``, 409); both are checked before the passcode, so no
try is spent on them. A credential lives ``DOCUMENT_CREDENTIAL_SECONDS``
(``CREDENTIAL_LIFETIMES`` may set it per type), never past the end of the
document's last valid day (Vietnam's time), and a later revocation of the
document at its source revokes the credentials already issued for it.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import redis
import sqlalchemy as sa
from sqlalchemy.orm import Session

from identity import clock
from identity.accounts.passcode import confirm_passcode
from identity.accounts.models import Account
from identity.audit.service import Actor
from identity.coordination.errors import DocumentExpired, DocumentNotFound, DocumentRevoked
from identity.coordination.kinds import KINDS, claims_of
from identity.coordination.linker import open_record
from identity.coordination.models import DataSource, DocumentCredential, SourceRecord
from identity.credentials.keys import KeyRing
from identity.credentials.service import Issued, sign_credential
from identity.protection import Protector

#: Default life of a document credential: long enough for a roadside check.
DOCUMENT_CREDENTIAL_SECONDS = 300
_VIETNAM = dt.timezone(dt.timedelta(hours=7))


@dataclass
class Document:
    """One document of the wallet."""

    id: int
    type: str
    label: str
    source: str
    status: str
    valid_from: dt.date | None
    valid_until: dt.date | None
    fields: dict[str, str]


def effective_status(record: SourceRecord, today: dt.date) -> str:
    """The status at the source, or ``expired`` past the document's last valid day."""
    if record.status == "valid" and record.valid_until is not None and record.valid_until < today:
        return "expired"
    return record.status


def _documents_query(citizen_id: int) -> Any:
    return (sa.select(SourceRecord).join(DataSource, DataSource.id == SourceRecord.source_id)
            .where(SourceRecord.citizen_id == citizen_id, SourceRecord.link_state == "linked",
                   DataSource.kind != "telecom")
            .order_by(DataSource.kind, SourceRecord.id))


def _document(protector: Protector, record: SourceRecord, today: dt.date) -> Document:
    kind = KINDS[record.source.kind]
    return Document(id=record.id, type=kind.name, label=kind.label, source=record.source.name,
                    status=effective_status(record, today), valid_from=record.valid_from,
                    valid_until=record.valid_until, fields=open_record(protector, record)["f"])


def list_documents(*, db_session: Session, protector: Protector,
                   account: Account) -> list[Document]:
    """The holder's linked documents (revoked and expired ones too, with their status)."""
    today = clock.today()
    return [_document(protector, record, today)
            for record in db_session.scalars(_documents_query(account.citizen_id))]


def _own(db_session: Session, account: Account, document_id: int) -> SourceRecord:
    record = db_session.scalar(_documents_query(account.citizen_id)
                               .where(SourceRecord.id == document_id))
    if record is None:
        raise DocumentNotFound()
    return record


def document_claims(protector: Protector, record: SourceRecord, account: Account
                    ) -> dict[str, Any]:
    """The ``c`` map of a document's credential."""
    kind = KINDS[record.source.kind]
    citizen = account.citizen
    return {"id": citizen.personal_id, "nm": citizen.full_name,
            **claims_of(kind, open_record(protector, record)["f"]),
            "vf": record.valid_from.isoformat() if record.valid_from else None,
            "vu": record.valid_until.isoformat() if record.valid_until else None}


def issue_document_credential(*, db_session: Session, redis_client: redis.Redis,
                              protector: Protector, key_ring: KeyRing, actor: Actor,
                              account: Account, document_id: int, passcode: str,
                              audience: str | None = None, nonce: str | None = None,
                              lifetimes: Mapping[str, int] | None = None) -> Issued:
    """Sign one of the holder's live documents as a VN1 credential, confirmed by passcode."""
    record = _own(db_session, account, document_id)
    status = effective_status(record, clock.today())
    if status in ("revoked", "suspended"):
        raise DocumentRevoked()
    if status == "expired":
        raise DocumentExpired()
    confirm_passcode(db_session=db_session, actor=actor, account=account, passcode=passcode)
    kind = record.source.kind
    lifetime = int((lifetimes or {}).get(kind, DOCUMENT_CREDENTIAL_SECONDS))
    if record.valid_until is not None:
        last = dt.datetime.combine(record.valid_until + dt.timedelta(days=1), dt.time(),
                                   _VIETNAM)
        lifetime = max(1, min(lifetime, int((last - clock.now()).total_seconds())))
    issued = sign_credential(db_session=db_session, redis_client=redis_client,
                             protector=protector, key_ring=key_ring, actor=actor,
                             account=account, credential_type=kind,
                             claims=document_claims(protector, record, account),
                             lifetime=lifetime, audience=audience, nonce=nonce)
    db_session.add(DocumentCredential(credential_id=issued.credential_id, record_id=record.id))
    db_session.commit()
    return issued
