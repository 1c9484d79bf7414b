"""Evidence of a case: the reporter adds photos and videos, the reporter and the police read them.

The files themselves are kept by :class:`~utilities.reports.evidence_store.EvidenceStore`
(content-addressed, without their metadata); a case's :class:`Evidence` rows
record each file's digest and time of arrival. A file read back is hashed
again: one that no longer matches (or is gone) is withheld, and the incident
is audited and committed on its own before the refusal.
"""
from __future__ import annotations

from typing import BinaryIO

import sqlalchemy as sa
from sqlalchemy.orm import Session

from identity.accounts.models import Account, Officer
from identity.accounts.officers import officer_actor, unit_name
from identity.audit.service import Actor, record_event
from identity.protection import Protector
from utilities.reports.access import officer_report, own_report
from utilities.reports.errors import (EvidenceMissing, EvidenceNotFound, EvidenceTampered,
                                      TooMuchEvidence)
from utilities.reports.evidence_store import EvidenceStore
from utilities.reports.models import Evidence, Report
from utilities.reports.reporter import audit, case_time, recorded, reporter_actor, touch
from utilities.reports.rules import CITIZEN, REPORTS, check_keeping_act

#: Files one case holds at most.
MAX_EVIDENCE = 10


def add_evidence(*, db_session: Session, protector: Protector, actor: Actor, account: Account,
                 store: EvidenceStore, case_number: str, stream: BinaryIO,
                 max_bytes: int, reporter_key: str | None = None) -> Evidence:
    """Keep a photo or video for a case; its digest and arrival time are fixed now.

    The file is kept without its metadata (a photo's EXIF, XMP, IPTC, GPS, ICC
    and text; a video's metadata boxes): the digest is of the stored bytes, and
    ``metadata_removed`` says so.
    """
    report = own_report(db_session, protector, account, case_number, reporter_key)
    check_keeping_act(report, "add_evidence", CITIZEN)
    count = db_session.scalar(sa.select(sa.func.count()).select_from(Evidence)
                              .where(Evidence.report_id == report.id)) or 0
    if count >= MAX_EVIDENCE:
        raise TooMuchEvidence(f"A case holds at most {MAX_EVIDENCE} evidence files.")
    stored = store.put(stream, max_bytes=max_bytes)
    evidence = Evidence(report_id=report.id, sha256=stored.sha256, size=stored.size,
                        content_type=stored.content_type, received_at=case_time(report),
                        metadata_removed=stored.metadata_removed)
    db_session.add(evidence)
    db_session.flush()
    touch(report)
    recorded(report, REPORTS.note(db_session, report, "add_evidence", role=CITIZEN, by=None,
                                  evidence_id=evidence.id, sha256=stored.sha256))
    audit(db_session, protector, reporter_actor(report, account, actor), report,
          "report.evidence_added", evidence_id=evidence.id, sha256=stored.sha256)
    db_session.commit()
    return evidence


def my_evidence(*, db_session: Session, protector: Protector, actor: Actor, account: Account,
                store: EvidenceStore, case_number: str, evidence_id: int,
                reporter_key: str | None = None) -> tuple[Evidence, bytes]:
    """A file of the citizen's own case, checked against its recorded digest.

    Not audited when it matches (the reporter reads their own file): nothing to commit.
    """
    report = own_report(db_session, protector, account, case_number, reporter_key)
    return _verified_file(db_session, store, reporter_actor(report, account, actor), report,
                          evidence_id)


def officer_evidence(*, db_session: Session, protector: Protector, actor: Actor,
                     officer: Officer, store: EvidenceStore, case_number: str,
                     evidence_id: int) -> tuple[Evidence, bytes]:
    """An evidence file of a case of the jurisdiction, checked against its digest; audited."""
    report = officer_report(db_session, actor, officer, case_number)
    evidence, data = _verified_file(db_session, store, officer_actor(officer, actor), report,
                                    evidence_id)
    audit(db_session, protector, officer_actor(officer, actor), report,
          "report.evidence_read", by=unit_name(officer), evidence_id=evidence.id)
    db_session.commit()
    return evidence, data


def _verified_file(db_session: Session, store: EvidenceStore, actor: Actor, report: Report,
                   evidence_id: int) -> tuple[Evidence, bytes]:
    """The case's file and its bytes, if they still hash to the recorded digest.

    A tampered or missing file ends the use case: whatever it wrote is rolled
    back, and the incident alone is audited and committed before it raises.
    """
    evidence = db_session.scalars(sa.select(Evidence).where(
        Evidence.id == evidence_id, Evidence.report_id == report.id)).first()
    if evidence is None:
        raise EvidenceNotFound()
    try:
        return evidence, store.read_verified(evidence.sha256)
    except (EvidenceTampered, EvidenceMissing) as error:
        db_session.rollback()
        record_event(db_session=db_session, actor=actor, action=error.code,
                     subject_type="report", subject_id=report.id,
                     details={"case_number": report.case_number, "evidence_id": evidence.id,
                              "sha256": evidence.sha256}, unlinkable=report.anonymous)
        db_session.commit()
        raise
