"""Use cases of incident reports (tố giác tội phạm): filing, the police queue, the case's life.

Over 400 lines until issue 17 ("A house to live in") splits it into use-case modules along
its sections; it was kept whole here so that the identity-assurance changes stayed
reviewable in place.

The citizen files a report and follows it by its case number; the police of
the unit where it happened work it through :data:`REPORTS` (received →
verifying → investigating → closed, or rejected), ask the reporter questions
and transfer it to another unit. Every act writes its history row, its audit
event and the citizen's notification in one transaction; two officers acting
on one case at once: the second gets ``workflow.case_changed`` (409).

Anonymity at rest: a named report keeps its reporter sealed
(:func:`_seal_reporter`); an anonymous one keeps nothing the service's keys
can open. Filing it hands the reporter's app a reporter key
(:func:`new_reporter_key`) that the service never stores: the case's
``reporter_hash`` is a keyed hash of the account id *and* that key, so only
the app that holds it (with the account's token) reaches the case again
(``X-Reporter-Key``). No notification row is left for an anonymous case: the
app polls its cases. Every row of an anonymous case keeps its time to the
hour only (:func:`identity.audit.service.coarse_time`), and its audit events
are unlinkable ones (no account, address or request id, a chain of their
own). A named reporter is shown only to the assigned officer and to
supervisors, and each view is audited with the reporter as subject (their
access log shows it). An assigned case changes hands only by a supervisor.
``tests/security/test_anonymity.py`` dumps every table and joins both sides.

What this does not hide: a case's own rows (the report, its history, its
evidence) take ids from sequences, so on a quiet service the order of ids
says which acts came one after another (the audit log's unlinkable events
are out of the sequence); a photo sent both with a named and an anonymous
report is one stored file (content-addressed) with one digest.

One module (over 400 lines): the citizen's and the police's use cases share
the case's rules (anonymity, audit, jurisdiction) that keep them consistent.
"""
from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, BinaryIO
from urllib.parse import urlsplit

import phonenumbers
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, selectinload
from sqlalchemy.orm.attributes import flag_modified

from identity import clock
from identity.accounts.models import Account, Officer
from identity.accounts.officers import officer_actor, unit_name
from identity.accounts.service import account_phone, citizen_actor, notify
from identity.audit.service import Actor, coarse_time, record_event
from identity.database import paginate
from identity.errors import Forbidden
from identity.monitoring.counters import bump
from identity.monitoring.queues import UnitBacklog, register_queue
from identity.protection import Protector
from identity.registry import admin_units
from identity.registry.models import Citizen
from utilities.reports.errors import (CaseAlreadyAssigned, EvidenceMissing, EvidenceNotFound,
                                      EvidenceTampered, InvalidReport, ReporterAnonymous,
                                      ReporterNotVisible, ReportNotFound, TooMuchEvidence)
from utilities.reports.evidence import EvidenceStore
from utilities.reports.models import (CLOSED, INVESTIGATING, OPEN_STATUSES, RECEIVED, REJECTED,
                                      VERIFYING, Evidence, Report, ReportIndicator,
                                      ScamIndicator)
from utilities.workflow import (CaseChanged, RoleNotAllowed, TransitionNotAllowed, Workflow,
                                WorkflowEvent)

OFFICER_ROLES = ("officer", "supervisor")
CITIZEN = "citizen"

#: The state machine of a report. ``close`` needs an outcome, ``reject`` a reason.
REPORTS = Workflow("report", initial=RECEIVED, transitions=[
    ("verify", [RECEIVED], VERIFYING, OFFICER_ROLES),
    ("investigate", [VERIFYING], INVESTIGATING, OFFICER_ROLES),
    ("close", [INVESTIGATING], CLOSED, OFFICER_ROLES),
    ("reject", OPEN_STATUSES, REJECTED, OFFICER_ROLES),
])
#: Acts that keep the state (recorded with ``Workflow.note``): the states and roles they need.
KEEPING_ACTS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "assign": (OPEN_STATUSES, OFFICER_ROLES),
    "ask": (OPEN_STATUSES, OFFICER_ROLES),
    "transfer": (OPEN_STATUSES, OFFICER_ROLES),
    "answer": (OPEN_STATUSES, (CITIZEN,)),
    "add_evidence": (OPEN_STATUSES, (CITIZEN,)),
}
STATUS_ACTIONS = tuple(REPORTS.transitions)

MAX_EVIDENCE = 10
MAX_INDICATORS = 10
#: The queue counts matching cases up to here, so a page costs the same at any queue size.
QUEUE_COUNT_CAP = 1000
#: How far back "when it happened" may go, and how far ahead (clock skew of phones).
OLDEST_INCIDENT = dt.timedelta(days=20 * 366)
CLOCK_SKEW = dt.timedelta(minutes=5)
CASE_PREFIX = "TG"
#: Crockford's base32: no I, L, O, U, so a case number read aloud is not misread.
_CASE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_REPORTER_CONTEXT = b"report/reporter/"
_REPORTER_PURPOSE = b"report-reporter"
_ANONYMOUS_PURPOSE = b"report-anonymous-reporter"
#: Random bytes of a reporter key (URL-safe base64 in the answer: 43 characters).
REPORTER_KEY_BYTES = 32
_INSERTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}
_VN = dt.timezone(dt.timedelta(hours=7))


@dataclass(frozen=True)
class Deadlines:
    """How long each open state may last before the case is overdue."""

    received: dt.timedelta = dt.timedelta(hours=24)
    verifying: dt.timedelta = dt.timedelta(hours=72)
    investigating: dt.timedelta = dt.timedelta(days=30)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Deadlines:
        """From ``REPORT_DEADLINE_HOURS`` (first action), ``REPORT_VERIFY_HOURS``, and
        ``REPORT_INVESTIGATE_HOURS``."""
        return cls(received=dt.timedelta(hours=float(config["REPORT_DEADLINE_HOURS"])),
                   verifying=dt.timedelta(hours=float(config["REPORT_VERIFY_HOURS"])),
                   investigating=dt.timedelta(hours=float(config["REPORT_INVESTIGATE_HOURS"])))

    def due(self, status: str, since: dt.datetime) -> dt.datetime | None:
        """When a case entering ``status`` at ``since`` becomes overdue (None when final)."""
        span = {RECEIVED: self.received, VERIFYING: self.verifying,
                INVESTIGATING: self.investigating}.get(status)
        return None if span is None else since + span


@dataclass(frozen=True)
class IndicatorCount:
    """A scam phone number or link of a case, and how many reports (nationwide) name it."""

    id: int
    kind: str
    value: str
    reports: int


@dataclass
class ReportView:
    """A case with what its readers see beside it: history, indicators' counts, assignee."""

    report: Report
    history: list[WorkflowEvent] = field(default_factory=list)
    indicators: list[IndicatorCount] = field(default_factory=list)
    assigned_to: str | None = None
    #: Only in the answer to an anonymous filing: the key the reporter's app must keep.
    reporter_key: str | None = None

    @property
    def allowed_acts(self) -> list[str]:
        """What an officer may do next (for the officers' view)."""
        return allowed_acts(self.report.status, "officer")


@dataclass(frozen=True)
class ReporterIdentity:
    """A named reporter, as the assigned officer and supervisors see them."""

    full_name: str
    personal_id: str
    date_of_birth: dt.date
    address: str
    phone: str | None


@dataclass(frozen=True)
class QueuePage:
    """One page of a police queue; ``total`` stops counting at :data:`QUEUE_COUNT_CAP`."""

    items: list[Report]
    total: int
    total_exact: bool


# --- Rules of the state machine ---------------------------------------------------------------

def allowed_acts(status: str, role: str) -> list[str]:
    """Every act (state-changing or not) ``role`` may do on a case in ``status``."""
    keeping = [act for act, (states, roles) in KEEPING_ACTS.items()
               if status in states and role in roles]
    return sorted(REPORTS.allowed(status, role) + keeping)


def _check_keeping_act(report: Report, act: str, role: str) -> None:
    states, roles = KEEPING_ACTS[act]
    if report.status not in states:
        allowed = allowed_acts(report.status, role)
        raise TransitionNotAllowed(f"'{act}' is not possible while the case is "
                                   f"'{report.status}'.",
                                   errors={"allowed": allowed, "status": [report.status]},
                                   allowed=allowed)
    if role not in roles:
        raise RoleNotAllowed(f"'{act}' is not an act for the role '{role}'.")


def _check_version(report: Report, version: int | None) -> None:
    """The caller acted on what it read: a case changed since is :class:`CaseChanged`."""
    if version is not None and version != report.version:
        raise CaseChanged()


# --- The reporter, sealed ---------------------------------------------------------------------

def reporter_hash(protector: Protector, account_id: int) -> bytes:
    """The keyed hash that finds an account's own reports."""
    return protector.lookup_hash(str(account_id), purpose=_REPORTER_PURPOSE)


def new_reporter_key() -> str:
    """A fresh reporter key for an anonymous filing (given once, never stored)."""
    return secrets.token_urlsafe(REPORTER_KEY_BYTES)


def anonymous_reporter_hash(protector: Protector, account_id: int, reporter_key: str) -> bytes:
    """The hash that finds an anonymous case: of the account id and the reporter's key."""
    return protector.lookup_hash(f"{account_id}:{reporter_key}", purpose=_ANONYMOUS_PURPOSE)


def _seal_reporter(protector: Protector, case_number: str, account: Account) -> bytes:
    return protector.encrypt(f"{account.id}:{account.citizen_id}",
                             context=_REPORTER_CONTEXT + case_number.encode())


def _reporter_of(protector: Protector, report: Report) -> tuple[int, int]:
    """A named reporter's (account id, citizen id): for notifications and audits, never shown."""
    if report.anonymous or report.reporter_encrypted is None:
        raise ReporterAnonymous()  # a bug if reached: nothing about an anonymous one is kept
    account_id, _, citizen_id = protector.decrypt(
        report.reporter_encrypted,
        context=_REPORTER_CONTEXT + report.case_number.encode()).partition(":")
    return int(account_id), int(citizen_id)


def _reporter_actor(report: Report, account: Account, base: Actor) -> Actor:
    """The audit actor of the reporter: nobody (no account, address or request) if anonymous."""
    if report.anonymous:
        return Actor(type="reporter")
    return citizen_actor(account, base)


def _now(report: Report) -> dt.datetime:
    """The time to write in a row of the case: to the hour only when it is anonymous."""
    return coarse_time(clock.now()) if report.anonymous else clock.now()


def _touch(report: Report) -> None:
    """Before an act on an anonymous case: its ``updated_at`` to the hour, written as such.

    Marked modified so the UPDATE carries it (else the column's ``onupdate``
    would write the exact time).
    """
    if report.anonymous:
        report.updated_at = _now(report)
        flag_modified(report, "updated_at")


def _recorded(report: Report, event: WorkflowEvent) -> WorkflowEvent:
    """A history row just recorded (not yet flushed): to the hour when the case is anonymous."""
    if report.anonymous:
        event.occurred_at = coarse_time(event.occurred_at)
    return event


def _audit(db_session: Session, protector: Protector, actor: Actor, report: Report, action: str,
           **details: Any) -> None:
    """Audit an act on a case: about the reporter when named, about the case when anonymous.

    A named reporter is the subject, so the act shows in their access log. An
    anonymous case is its own subject: an audit row naming its reporter would
    be a record of who filed it.
    """
    details = {"case_number": report.case_number, **details}
    if report.anonymous:
        record_event(db_session=db_session, actor=actor, action=action, subject_type="report",
                     subject_id=report.id, details=details, unlinkable=True)
    else:
        _account_id, citizen_id = _reporter_of(protector, report)
        record_event(db_session=db_session, actor=actor, action=action, subject_type="citizen",
                     subject_id=citizen_id, details=details)


def _notify_reporter(db_session: Session, protector: Protector, report: Report, kind: str,
                     text: str) -> None:
    """A notification for a named reporter; none for an anonymous one (their app polls)."""
    if report.anonymous:
        return
    account_id, _citizen_id = _reporter_of(protector, report)
    notify(db_session=db_session, account_id=account_id, kind=kind, text=text)


# --- Input rules ------------------------------------------------------------------------------

def normalise_scam_phone(value: str, *, field: str = "scam_phones") -> str:
    """A phone number in E.164 (``+84912345678``); national numbers are read as Vietnamese."""
    compact = "".join(value.split()).replace(".", "").replace("-", "")
    if not compact or len(compact) > 20 or not compact.lstrip("+").isdigit():
        raise InvalidReport("Not a phone number.", code="indicator.phone_invalid", field=field)
    try:
        number = phonenumbers.parse(compact, "VN")
    except phonenumbers.NumberParseException:
        raise InvalidReport("Not a phone number.", code="indicator.phone_invalid",
                            field=field) from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidReport("Not a valid phone number.", code="indicator.phone_invalid",
                            field=field)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalise_link(value: str, *, field: str = "scam_links") -> str:
    """A link as ``host[:port]/path[?query]``: lower-case host, no scheme, fragment or end slash.

    ``http://`` and ``https://`` name the same scam site, so the scheme is dropped.
    """
    text = value.strip()
    if "://" not in text:
        text = "http://" + text
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise InvalidReport("Not a web link.", code="indicator.link_invalid",
                            field=field) from None
    host = (parts.hostname or "").rstrip(".")
    if parts.scheme.lower() not in ("http", "https") or not host or " " in text:
        raise InvalidReport("Not a web link.", code="indicator.link_invalid", field=field)
    link = host + (f":{port}" if port else "") + parts.path.rstrip("/")
    return link + (f"?{parts.query}" if parts.query else "")


def _check_place(province_code: str | None, commune_code: str | None) -> tuple[str, str | None]:
    """A unit's (province, commune): a commune alone gives its province."""
    if commune_code is not None:
        commune = admin_units.communes().get(commune_code)
        if commune is None or (province_code is not None
                               and commune.province_code != province_code):
            raise InvalidReport("Unknown commune code.", code="commune.unknown",
                                field="commune_code")
        return commune.province_code, commune_code
    if province_code is None or province_code not in admin_units.provinces():
        raise InvalidReport("Unknown province code.", code="province.unknown",
                            field="province_code")
    return province_code, None


def _new_case_number(db_session: Session) -> str:
    while True:
        number = (f"{CASE_PREFIX}-{clock.today().year}-"
                  + "".join(secrets.choice(_CASE_ALPHABET) for _ in range(8)))
        if db_session.scalar(sa.select(Report.id).where(Report.case_number == number)) is None:
            return number


def _link_indicators(db_session: Session, report: Report,
                     indicators: Iterable[tuple[str, str]]) -> None:
    """Name each (kind, value) from ``report``, creating the indicator the first time.

    An indicator first seen in an anonymous case is dated to the hour, like the case.
    """
    wanted = list(dict.fromkeys(indicators))
    if not wanted:
        return
    insert = _INSERTS[db_session.get_bind().dialect.name]
    for kind, value in wanted:
        statement: Any = insert(ScamIndicator).values(kind=kind, value=value,
                                                      first_seen_at=_now(report))
        db_session.execute(statement.on_conflict_do_nothing(index_elements=["kind", "value"]))
    ids = db_session.scalars(sa.select(ScamIndicator.id).where(
        sa.tuple_(ScamIndicator.kind, ScamIndicator.value).in_(wanted)))
    db_session.add_all(ReportIndicator(report_id=report.id, indicator_id=indicator_id)
                       for indicator_id in ids)


def indicator_counts(db_session: Session, report: Report) -> list[IndicatorCount]:
    """The case's indicators, each with how many reports name it (one GROUP BY)."""
    if not report.indicators:
        return []
    counts: dict[int, int] = {row[0]: row[1] for row in db_session.execute(
        sa.select(ReportIndicator.indicator_id, sa.func.count())
        .where(ReportIndicator.indicator_id.in_([i.id for i in report.indicators]))
        .group_by(ReportIndicator.indicator_id))}
    return [IndicatorCount(id=i.id, kind=i.kind, value=i.value, reports=int(counts.get(i.id, 0)))
            for i in report.indicators]


# --- Citizens ---------------------------------------------------------------------------------

def file_report(*, db_session: Session, protector: Protector, actor: Actor, account: Account,
                deadlines: Deadlines, category: str, description: str, location_unknown: bool,
                occurred_at: dt.datetime, anonymous: bool, commune_code: str | None = None,
                address: str | None = None, scam_phones: Iterable[str] = (),
                scam_links: Iterable[str] = (),
                organisation: Mapping[str, str] | None = None) -> ReportView:
    """File a report; the case number in the answer is how the citizen follows it.

    Where it happened decides the police unit. When the place is unknown the
    case goes to the province-level queue of the reporter's residence (a
    commune would say more about an anonymous reporter than a province does).

    Anonymous: no seal, no notification, times to the hour, an unlinkable
    audit event; the answer carries the reporter key (``view.reporter_key``),
    the only way back to the case.
    """
    now = clock.now()
    if occurred_at > now + CLOCK_SKEW:
        raise InvalidReport("The time of the incident is in the future.",
                            code="report.occurred_in_future", field="occurred_at")
    if occurred_at < now - OLDEST_INCIDENT:
        raise InvalidReport("The time of the incident is more than 20 years ago.",
                            code="report.occurred_too_long_ago", field="occurred_at")
    if location_unknown:
        if commune_code is not None or address:
            raise InvalidReport("A place was given for an incident whose location is unknown.",
                                code="report.location_conflict", field="location_unknown")
        province_code, commune_code = account.citizen.province_code, None
    else:
        if commune_code is None:
            raise InvalidReport("Say where it happened, or that the location is unknown.",
                                code="report.location_required", field="commune_code")
        if not address:
            raise InvalidReport("The address where it happened is required.",
                                code="report.address_required", field="address")
        province_code, commune_code = _check_place(None, commune_code)
    if anonymous and organisation:
        raise InvalidReport("A report on behalf of an organisation cannot be anonymous.",
                            code="report.anonymous_organisation", field="organisation")
    indicators = [("phone", normalise_scam_phone(p)) for p in scam_phones]
    indicators += [("link", normalise_link(link)) for link in scam_links]
    case_number = _new_case_number(db_session)
    key = new_reporter_key() if anonymous else None
    if key is not None:
        now = coarse_time(now)
    report = Report(case_number=case_number, category=category, description=description,
                    province_code=province_code, commune_code=commune_code,
                    location_known=not location_unknown, address=address or None,
                    occurred_at=occurred_at, anonymous=anonymous,
                    organisation_name=(organisation or {}).get("name"),
                    organisation_tax_code=(organisation or {}).get("tax_code"),
                    reporter_encrypted=(None if key is not None
                                        else _seal_reporter(protector, case_number, account)),
                    reporter_hash=(anonymous_reporter_hash(protector, account.id, key)
                                   if key is not None else reporter_hash(protector, account.id)),
                    due_at=deadlines.due(RECEIVED, now), created_at=now, updated_at=now)
    created = _recorded(report, REPORTS.start(db_session, report, role=CITIZEN, by=None,
                                              category=category))
    _link_indicators(db_session, report, indicators)
    _audit(db_session, protector, _reporter_actor(report, account, actor), report,
           "report.filed", category=category, anonymous=anonymous)
    if not anonymous:
        notify(db_session=db_session, account_id=account.id, kind="report.filed",
               text=f"Your report {case_number} was received by {_unit_of(report)}.")
    view = ReportView(report=report, history=[created],
                      indicators=indicator_counts(db_session, report), reporter_key=key)
    # Last before the commit: the counter row of a busy commune is held the shortest time.
    bump(db_session, metric="reports.filed", province_code=province_code,
         commune_code=commune_code)
    db_session.commit()
    return view


def _unit_of(report: Report) -> str:
    """The police unit of a case's queue, as citizens read it."""
    province = admin_units.provinces().get(report.province_code)
    name = f"Công an {province.name if province else report.province_code}"
    commune = admin_units.communes().get(report.commune_code or "")
    return f"{name}, {commune.name}" if commune else name


def _own_report(db_session: Session, protector: Protector, account: Account,
                case_number: str, reporter_key: str | None) -> Report:
    """The account's own case: named, or anonymous with the reporter key; else not found."""
    hashes = [reporter_hash(protector, account.id)]
    if reporter_key:
        hashes.append(anonymous_reporter_hash(protector, account.id, reporter_key))
    report = db_session.scalars(sa.select(Report).where(
        Report.case_number == case_number, Report.reporter_hash.in_(hashes))).first()
    if report is None:
        raise ReportNotFound()
    return report


def my_reports(*, db_session: Session, protector: Protector, account: Account, page: int,
               per_page: int) -> tuple[list[Report], int]:
    """The citizen's own named reports, newest first.

    Anonymous cases are not listed: nothing kept links them to the account.
    The app lists them from the case numbers and keys it holds.
    """
    return paginate(db_session, sa.select(Report)
                    .where(Report.reporter_hash == reporter_hash(protector, account.id))
                    .order_by(Report.id.desc()), page=page, per_page=per_page)


def my_report(*, db_session: Session, protector: Protector, account: Account,
              case_number: str, reporter_key: str | None = None) -> ReportView:
    """The citizen's own case and its timeline (status changes, questions and answers).

    Not audited and no notification read: polling an anonymous case leaves no row.
    """
    report = _own_report(db_session, protector, account, case_number, reporter_key)
    return ReportView(report=report, history=REPORTS.history(db_session, report.id),
                      indicators=indicator_counts(db_session, report))


def answer(*, db_session: Session, protector: Protector, actor: Actor, account: Account,
           case_number: str, text: str, reporter_key: str | None = None) -> ReportView:
    """The reporter writes to the officers of the case (answers a question)."""
    report = _own_report(db_session, protector, account, case_number, reporter_key)
    _check_keeping_act(report, "answer", CITIZEN)
    _touch(report)
    _recorded(report, REPORTS.note(db_session, report, "answer", role=CITIZEN, by=None,
                                   note=text))
    _audit(db_session, protector, _reporter_actor(report, account, actor), report,
           "report.answered")
    db_session.commit()
    return ReportView(report=report, history=REPORTS.history(db_session, report.id))


def add_evidence(*, db_session: Session, protector: Protector, actor: Actor, account: Account,
                 store: EvidenceStore, case_number: str, stream: BinaryIO,
                 max_bytes: int, reporter_key: str | None = None) -> Evidence:
    """Keep a photo or video for a case; its digest and arrival time are fixed now.

    The file is kept without its metadata (a photo's EXIF, XMP, IPTC, GPS, ICC
    and text; a video's metadata boxes): the digest is of the stored bytes, and
    ``metadata_removed`` says so.
    """
    report = _own_report(db_session, protector, account, case_number, reporter_key)
    _check_keeping_act(report, "add_evidence", CITIZEN)
    count = db_session.scalar(sa.select(sa.func.count()).select_from(Evidence)
                              .where(Evidence.report_id == report.id)) or 0
    if count >= MAX_EVIDENCE:
        raise TooMuchEvidence(f"A case holds at most {MAX_EVIDENCE} evidence files.")
    stored = store.put(stream, max_bytes=max_bytes)
    evidence = Evidence(report_id=report.id, sha256=stored.sha256, size=stored.size,
                        content_type=stored.content_type, received_at=_now(report),
                        metadata_removed=stored.metadata_removed)
    db_session.add(evidence)
    db_session.flush()
    _touch(report)
    _recorded(report, REPORTS.note(db_session, report, "add_evidence", role=CITIZEN, by=None,
                                   evidence_id=evidence.id, sha256=stored.sha256))
    _audit(db_session, protector, _reporter_actor(report, account, actor), report,
           "report.evidence_added", evidence_id=evidence.id, sha256=stored.sha256)
    db_session.commit()
    return evidence


def _verified_file(db_session: Session, store: EvidenceStore, actor: Actor, report: Report,
                   evidence_id: int) -> tuple[Evidence, bytes]:
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


def my_evidence(*, db_session: Session, protector: Protector, actor: Actor, account: Account,
                store: EvidenceStore, case_number: str, evidence_id: int,
                reporter_key: str | None = None) -> tuple[Evidence, bytes]:
    """A file of the citizen's own case, checked against its recorded digest."""
    report = _own_report(db_session, protector, account, case_number, reporter_key)
    return _verified_file(db_session, store, _reporter_actor(report, account, actor), report,
                          evidence_id)


# --- Police -----------------------------------------------------------------------------------

def sees(officer: Officer, report: Report) -> bool:
    """Whether the case is in the officer's jurisdiction (a commune officer: their commune)."""
    return officer.province_code == report.province_code and (
        officer.commune_code is None or officer.commune_code == report.commune_code)


def _officer_report(db_session: Session, actor: Actor, officer: Officer, case_number: str,
                    *, details: bool = False) -> Report:
    """The case, if it is in the officer's jurisdiction; else :class:`ReportNotFound`.

    A case of another unit answers as one that does not exist; the attempt is audited.
    """
    query = sa.select(Report).where(Report.case_number == case_number)
    if details:
        query = query.options(selectinload(Report.evidence), selectinload(Report.indicators))
    report = db_session.scalars(query).first()
    if report is None:
        raise ReportNotFound()
    if not sees(officer, report):
        record_event(db_session=db_session, actor=officer_actor(officer, actor),
                     action="report.access_refused", subject_type="report",
                     subject_id=report.id, details={"reason": "outside_jurisdiction",
                                                    "by": unit_name(officer)},
                     unlinkable=report.anonymous)
        db_session.commit()
        raise ReportNotFound()
    return report


def _officer_by(officer: Officer) -> str:
    """A history row's ``by`` for an officer: the unit, as the citizen reads it."""
    return unit_name(officer)[:100]


def _view(db_session: Session, report: Report) -> ReportView:
    assigned = (db_session.scalar(sa.select(Officer.username)
                                  .where(Officer.id == report.assigned_officer_id))
                if report.assigned_officer_id is not None else None)
    return ReportView(report=report, history=REPORTS.history(db_session, report.id),
                      indicators=indicator_counts(db_session, report), assigned_to=assigned)


def _day_start(day: dt.date, field: str, *, days_after: int = 0) -> dt.datetime:
    """The UTC instant a Vietnam day (plus ``days_after``) begins; 422 where that overflows.

    ``9999-12-31`` has no next day, and ``0001-01-01`` in Vietnam begins the day
    before year 1 in UTC: both are refused (``queue.date_out_of_range``), never a 500.
    """
    try:
        start = dt.datetime.combine(day + dt.timedelta(days=days_after), dt.time(), _VN)
        return start.astimezone(dt.timezone.utc)
    except OverflowError:
        raise InvalidReport("The date is outside the range the queue can search.",
                            code="queue.date_out_of_range", field=field) from None


def queue(*, db_session: Session, officer: Officer, page: int, per_page: int,
          category: str | None = None, status: str | None = None,
          filed_from: dt.date | None = None, filed_to: dt.date | None = None,
          overdue: bool | None = None) -> QueuePage:
    """The cases of the officer's jurisdiction, newest first (no reporter data in it).

    One index range scan per page whatever the queue's size: the count stops at
    :data:`QUEUE_COUNT_CAP`.
    """
    if officer.commune_code is not None:
        where = [Report.commune_code == officer.commune_code,
                 Report.province_code == officer.province_code]
    else:
        where = [Report.province_code == officer.province_code]
    if category is not None:
        where.append(Report.category == category)
    if status is not None:
        where.append(Report.status == status)
    if filed_from is not None:
        where.append(Report.created_at >= _day_start(filed_from, "filed_from"))
    if filed_to is not None:
        where.append(Report.created_at < _day_start(filed_to, "filed_to", days_after=1))
    if overdue is not None:
        late = sa.and_(Report.status.in_(OPEN_STATUSES), Report.due_at < clock.now())
        where.append(late if overdue else sa.not_(late))
    query = sa.select(Report).where(*where)
    total = int(db_session.scalar(sa.select(sa.func.count()).select_from(
        query.with_only_columns(Report.id).limit(QUEUE_COUNT_CAP + 1).subquery())) or 0)
    items = list(db_session.scalars(query.order_by(Report.id.desc())
                                    .offset((page - 1) * per_page).limit(per_page)))
    return QueuePage(items=items, total=min(total, QUEUE_COUNT_CAP),
                     total_exact=total <= QUEUE_COUNT_CAP)


def read_report(*, db_session: Session, protector: Protector, actor: Actor, officer: Officer,
                case_number: str) -> ReportView:
    """A case of the officer's jurisdiction with its history; the read is audited."""
    report = _officer_report(db_session, actor, officer, case_number, details=True)
    view = _view(db_session, report)
    _audit(db_session, protector, officer_actor(officer, actor), report, "report.read",
           by=unit_name(officer))
    db_session.commit()
    return view


def assign(*, db_session: Session, protector: Protector, actor: Actor, officer: Officer,
           case_number: str, username: str | None, version: int | None = None) -> ReportView:
    """Give the case to an officer of the unit: an officer takes it, a supervisor gives it.

    An officer takes only a case nobody holds: a colleague's case changes hands
    by a supervisor (else taking it over would open its named reporter).
    """
    report = _officer_report(db_session, actor, officer, case_number, details=True)
    _check_version(report, version)
    _check_keeping_act(report, "assign", officer.role)
    if officer.role != "supervisor" and report.assigned_officer_id not in (None, officer.id):
        raise CaseAlreadyAssigned()
    assignee = officer
    if username is not None and username != officer.username:
        if officer.role != "supervisor":
            raise Forbidden("Only a supervisor assigns a case to someone else.",
                            code="report.assign_forbidden")
        found = db_session.scalars(sa.select(Officer).where(Officer.username == username)).first()
        if found is None or not found.active or not sees(found, report):
            raise InvalidReport("No active officer of this unit has this username.",
                                code="report.assignee_invalid", field="officer")
        assignee = found
    report.assigned_officer_id = assignee.id
    _touch(report)
    _recorded(report, REPORTS.note(db_session, report, "assign", role=officer.role,
                                   by=_officer_by(officer), officer=assignee.username,
                                   by_officer=officer.username))
    _audit(db_session, protector, officer_actor(officer, actor), report, "report.assigned",
           by=unit_name(officer), officer=assignee.username)
    db_session.commit()
    return _view(db_session, report)


def ask(*, db_session: Session, protector: Protector, actor: Actor, officer: Officer,
        case_number: str, text: str, version: int | None = None) -> ReportView:
    """Ask the reporter a question; they see it in the case's thread and a notification."""
    report = _officer_report(db_session, actor, officer, case_number, details=True)
    _check_version(report, version)
    _check_keeping_act(report, "ask", officer.role)
    _touch(report)
    _recorded(report, REPORTS.note(db_session, report, "ask", role=officer.role,
                                   by=_officer_by(officer), note=text,
                                   officer=officer.username))
    _audit(db_session, protector, officer_actor(officer, actor), report, "report.question_asked",
           by=unit_name(officer))
    _notify_reporter(db_session, protector, report, "report.question",
                     f"{_officer_by(officer)} asked a question about your report "
                     f"{report.case_number}. Open the report to answer.")
    db_session.commit()
    return _view(db_session, report)


_STATUS_TEXT = {VERIFYING: "is being verified", INVESTIGATING: "is under investigation",
                CLOSED: "was closed", REJECTED: "was rejected"}


def change_status(*, db_session: Session, protector: Protector, actor: Actor, officer: Officer,
                  deadlines: Deadlines, case_number: str, action: str,
                  outcome: str | None = None, reason: str | None = None,
                  version: int | None = None) -> ReportView:
    """Move the case on (verify, investigate, close with an outcome, reject with a reason)."""
    report = _officer_report(db_session, actor, officer, case_number, details=True)
    _check_version(report, version)
    transition = REPORTS.check(report.status, action, officer.role)
    note = None
    if action == "close":
        if not outcome:
            raise InvalidReport("Closing a case needs its outcome.",
                                code="report.outcome_required", field="outcome")
        note = report.resolution = outcome
    elif action == "reject":
        if not reason:
            raise InvalidReport("Rejecting a case needs a reason.",
                                code="report.reason_required", field="reason")
        note = report.resolution = reason
    report.due_at = deadlines.due(transition.target, _now(report))
    _touch(report)
    _recorded(report, REPORTS.apply(db_session, report, action, role=officer.role,
                                    by=_officer_by(officer), note=note,
                                    officer=officer.username))
    _audit(db_session, protector, officer_actor(officer, actor), report, f"report.{action}",
           by=unit_name(officer), status=report.status)
    text = f"Your report {report.case_number} {_STATUS_TEXT[report.status]}"
    _notify_reporter(db_session, protector, report, "report.status",
                     (text + f": {note}" if note else text + ".")[:500])
    db_session.commit()
    return _view(db_session, report)


def transfer(*, db_session: Session, protector: Protector, actor: Actor, officer: Officer,
             deadlines: Deadlines, case_number: str, province_code: str | None,
             commune_code: str | None, reason: str, version: int | None = None) -> ReportView:
    """Hand the case to another unit; the old unit (and its assignee) loses access at once."""
    report = _officer_report(db_session, actor, officer, case_number, details=True)
    _check_version(report, version)
    _check_keeping_act(report, "transfer", officer.role)
    province_code, commune_code = _check_place(province_code, commune_code)
    if (province_code, commune_code) == (report.province_code, report.commune_code):
        raise InvalidReport("The case is already in this unit's queue.",
                            code="report.transfer_same_unit", field="commune_code")
    before = {"province": report.province_code, "commune": report.commune_code}
    report.province_code, report.commune_code = province_code, commune_code
    report.assigned_officer_id = None
    report.due_at = deadlines.due(report.status, _now(report))
    _touch(report)
    _recorded(report, REPORTS.note(db_session, report, "transfer", role=officer.role,
                                   by=_officer_by(officer), note=reason,
                                   officer=officer.username, before=before,
                                   after={"province": province_code, "commune": commune_code}))
    _audit(db_session, protector, officer_actor(officer, actor), report, "report.transferred",
           by=unit_name(officer), before=before,
           after={"province": province_code, "commune": commune_code})
    _notify_reporter(db_session, protector, report, "report.transferred",
                     f"Your report {report.case_number} was transferred to {_unit_of(report)}.")
    db_session.commit()
    return _view(db_session, report)


def reporter_identity(*, db_session: Session, protector: Protector, actor: Actor,
                      officer: Officer, case_number: str) -> ReporterIdentity:
    """Who filed a named report: for the assigned officer and supervisors, each view audited."""
    report = _officer_report(db_session, actor, officer, case_number)
    if report.anonymous:
        raise ReporterAnonymous()
    if officer.role != "supervisor" and report.assigned_officer_id != officer.id:
        raise ReporterNotVisible()
    account_id, citizen_id = _reporter_of(protector, report)
    citizen = db_session.get(Citizen, citizen_id)
    account = db_session.get(Account, account_id)
    if citizen is None:
        raise ReportNotFound()
    _audit(db_session, protector, officer_actor(officer, actor), report,
           "report.reporter_viewed", by=unit_name(officer))
    identity = ReporterIdentity(
        full_name=citizen.full_name, personal_id=citizen.personal_id,
        date_of_birth=citizen.date_of_birth, address=citizen.address,
        phone=account_phone(protector=protector, account=account) if account else None)
    db_session.commit()
    return identity


def officer_evidence(*, db_session: Session, protector: Protector, actor: Actor,
                     officer: Officer, store: EvidenceStore, case_number: str,
                     evidence_id: int) -> tuple[Evidence, bytes]:
    """An evidence file of a case of the jurisdiction, checked against its digest; audited."""
    report = _officer_report(db_session, actor, officer, case_number)
    evidence, data = _verified_file(db_session, store, officer_actor(officer, actor), report,
                                    evidence_id)
    _audit(db_session, protector, officer_actor(officer, actor), report,
           "report.evidence_read", by=unit_name(officer), evidence_id=evidence.id)
    db_session.commit()
    return evidence, data


def look_up_indicator(*, db_session: Session, officer: Officer, phone: str | None,
                      link: str | None) -> tuple[str, str, int, list[Report]]:
    """How many reports (nationwide) name a phone or link, and those of the officer's unit."""
    if (phone is None) == (link is None):
        raise InvalidReport("Give a phone number or a link.", code="indicator.one_required",
                            field="phone")
    kind, value = (("phone", normalise_scam_phone(phone, field="phone")) if phone is not None
                   else ("link", normalise_link(link or "", field="link")))
    indicator_id = db_session.scalar(sa.select(ScamIndicator.id).where(
        ScamIndicator.kind == kind, ScamIndicator.value == value))
    if indicator_id is None:
        return kind, value, 0, []
    total = db_session.scalar(sa.select(sa.func.count()).select_from(ReportIndicator)
                              .where(ReportIndicator.indicator_id == indicator_id)) or 0
    mine = sa.select(Report).join(ReportIndicator, ReportIndicator.report_id == Report.id).where(
        ReportIndicator.indicator_id == indicator_id,
        Report.province_code == officer.province_code)
    if officer.commune_code is not None:
        mine = mine.where(Report.commune_code == officer.commune_code)
    return kind, value, int(total), list(db_session.scalars(mine.order_by(Report.id.desc())
                                                            .limit(100)))


# --- Monitoring -------------------------------------------------------------------------------

def backlog(db_session: Session, now: dt.datetime) -> list[UnitBacklog]:
    """Open and overdue cases per unit, in one GROUP BY."""
    overdue = sa.func.sum(sa.case((Report.due_at < now, 1), else_=0))
    rows = db_session.execute(
        sa.select(Report.province_code, Report.commune_code, sa.func.count(), overdue)
        .where(Report.status.in_(OPEN_STATUSES))
        .group_by(Report.province_code, Report.commune_code))
    return [UnitBacklog(queue="reports", province_code=province, commune_code=commune,
                        open=int(count), overdue=int(late or 0))
            for province, commune, count, late in rows]


register_queue("reports", backlog)
