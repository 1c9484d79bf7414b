"""A citizen files a report (tố giác tội phạm), named or anonymous.

Where it happened decides the police unit whose queue receives it; the case
number in the answer is how the citizen follows it. An anonymous filing
keeps no seal of its reporter and answers a reporter key, the only way back
to the case (:mod:`utilities.reports.reporter`).
"""
from __future__ import annotations

import datetime as dt
import json
import secrets
from collections.abc import Iterable, Mapping

import sqlalchemy as sa
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value

from identity import clock
from identity.accounts.models import Account
from identity.accounts.notifications import notify
from identity.audit.service import Actor, coarse_time
from identity.database import Statement, commit_keeping_state
from identity.monitoring.counters import bump
from identity.protection import Protector
from utilities.reports.access import check_place, unit_of
from utilities.reports.deadlines import Deadlines
from utilities.reports.errors import InvalidReport
from utilities.reports.indicators import (IndicatorCount, count_cap, indicator_counts,
                                          link_indicators, normalise_link, normalise_scam_phone)
from utilities.reports.models import RECEIVED, Report
from utilities.reports.reporter import (anonymous_reporter_hash, audit, new_reporter_key,
                                        recorded, reporter_actor, reporter_hash, seal_reporter)
from utilities.reports.rules import CITIZEN, REPORTS
from utilities.reports.views import ReportView
from utilities.workflow import WorkflowEvent

#: How far back "when it happened" may go, and how far ahead (clock skew of phones).
OLDEST_INCIDENT = dt.timedelta(days=20 * 366)
CLOCK_SKEW = dt.timedelta(minutes=5)
CASE_PREFIX = "TG"
#: Crockford's base32: no I, L, O, U, so a case number read aloud is not misread.
_CASE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


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
        province_code, commune_code = check_place(None, commune_code)
    if anonymous and organisation:
        raise InvalidReport("A report on behalf of an organisation cannot be anonymous.",
                            code="report.anonymous_organisation", field="organisation")
    indicators = [("phone", normalise_scam_phone(p)) for p in scam_phones]
    indicators += [("link", normalise_link(link)) for link in scam_links]
    key = new_reporter_key() if anonymous else None
    if key is not None:
        now = coarse_time(now)

    def draft(case_number: str) -> Report:
        return Report(case_number=case_number, category=category, description=description,
                      province_code=province_code, commune_code=commune_code,
                      location_known=not location_unknown, address=address or None,
                      occurred_at=occurred_at, anonymous=anonymous,
                      organisation_name=(organisation or {}).get("name"),
                      organisation_tax_code=(organisation or {}).get("tax_code"),
                      reporter_encrypted=(None if key is not None
                                          else seal_reporter(protector, case_number, account)),
                      reporter_hash=(anonymous_reporter_hash(protector, account.id, key)
                                     if key is not None else reporter_hash(protector, account.id)),
                      due_at=deadlines.due(RECEIVED, now), created_at=now, updated_at=now,
                      status=RECEIVED, version=1, assigned_officer_id=None, resolution=None)

    if db_session.connection().dialect.name == "postgresql":
        written = None
        while written is None:  # a case number already taken (of 2^40) draws another
            report = draft(_random_case_number())
            written = _insert_postgres(db_session, report, account_id=account.id,
                                       indicators=indicators)
        created, counts = written
    else:
        report = draft(_new_case_number(db_session))
        created = recorded(report, REPORTS.start(db_session, report, role=CITIZEN, by=None,
                                                 category=category))
        named = link_indicators(db_session, report, indicators)
        if not anonymous:
            notify(db_session=db_session, account_id=account.id, kind="report.filed",
                   text=_notice(report))
        counts = indicator_counts(db_session, report, named)
    audit(db_session, protector, reporter_actor(report, account, actor), report,
          "report.filed", category=category, anonymous=anonymous)
    view = ReportView(report=report, history=[created], indicators=counts, reporter_key=key)
    set_committed_value(report, "evidence", [])  # a new case has none: the answer reads none
    # Last before the commit: the counter row of a busy commune is held the shortest time.
    bump(db_session, metric="reports.filed", province_code=province_code,
         commune_code=commune_code)
    commit_keeping_state(db_session)  # the answer is the rows just written: no reload
    return view


def _random_case_number() -> str:
    """``TG-<year>-`` and 8 random base32 characters (40 random bits)."""
    bits = secrets.randbits(40)
    return f"{CASE_PREFIX}-{clock.today().year}-" + "".join(
        _CASE_ALPHABET[(bits >> shift) & 31] for shift in range(0, 40, 5))


def _new_case_number(db_session: Session) -> str:
    """A random case number not yet taken."""
    while True:
        number = _random_case_number()
        if db_session.scalar(sa.select(Report.id).where(Report.case_number == number)) is None:
            return number


def _notice(report: Report) -> str:
    return f"Your report {report.case_number} was received by {unit_of(report)}."


#: The filing on PostgreSQL, one statement: the report (``ON CONFLICT`` on its case number:
#: no row back when the number is taken), its first history row, its links to the
#: indicators it names (which :data:`_ADD_INDICATORS` has just made sure exist) and the named
#: reporter's notification; back come the report's and the history row's ids and, per
#: indicator, how many reports name it, up to the cap (this one's link is not visible to the
#: statement that writes it, hence ``+ 1``: the others are counted up to the cap, so that one
#: more than the cap says "more").
_FILE = Statement(sa.text("""
WITH report AS (
    INSERT INTO reports (case_number, category, description, province_code, commune_code,
                         location_known, address, occurred_at, anonymous, organisation_name,
                         organisation_tax_code, reporter_encrypted, reporter_hash, due_at,
                         created_at, updated_at, status, version)
    VALUES (:case_number, :category, :description, :province_code, :commune_code,
            :location_known, :address, :occurred_at, :anonymous, :organisation_name,
            :organisation_tax_code, :reporter_encrypted, :reporter_hash, :due_at,
            :created_at, :created_at, :status, 1)
    ON CONFLICT (case_number) DO NOTHING
    RETURNING id),
event AS (
    INSERT INTO workflow_events (workflow, case_id, action, from_state, to_state, role, by,
                                 note, details, occurred_at)
    SELECT :workflow, report.id, 'create', NULL, :status, :role, NULL, NULL,
           CAST(:details AS json), :created_at
    FROM report
    RETURNING id),
named AS (
    SELECT scam_indicators.id, scam_indicators.kind, scam_indicators.value
    FROM scam_indicators
    WHERE (scam_indicators.kind, scam_indicators.value) IN (
        SELECT * FROM unnest(CAST(:kinds AS text[]), CAST(:values AS text[])))),
linked AS (
    INSERT INTO report_indicators (report_id, indicator_id)
    SELECT report.id, named.id FROM report, named),
notified AS (
    INSERT INTO notifications (account_id, kind, text, created_at)
    SELECT :account_id, 'report.filed', CAST(:notice AS text), :created_at
    FROM report WHERE CAST(:notice AS text) IS NOT NULL)
SELECT report.id, event.id AS event_id, named.id AS indicator_id, named.kind, named.value,
       (SELECT count(*) FROM (SELECT FROM report_indicators
                              WHERE report_indicators.indicator_id = named.id
                              LIMIT :count_cap) AS links) + 1 AS reports
FROM report CROSS JOIN event LEFT JOIN named ON true
ORDER BY named.id""").columns(*(sa.column(name) for name in (
    "id", "event_id", "indicator_id", "kind", "value", "reports"))))
#: The indicators a filing names, made once each (never updated: a scam number many report at
#: once must not be a row they queue on), in one order (two filings naming the same new
#: ones wait for each other, never in a cycle).
_ADD_INDICATORS = Statement(sa.text("""
INSERT INTO scam_indicators (kind, value, first_seen_at)
SELECT kind, value, :seen_at FROM unnest(CAST(:kinds AS text[]), CAST(:values AS text[]))
    AS wanted(kind, value)
ON CONFLICT (kind, value) DO NOTHING"""))


def _insert_postgres(db_session: Session, report: Report, *, account_id: int,
                     indicators: list[tuple[str, str]]
                     ) -> tuple[WorkflowEvent, list[IndicatorCount]] | None:
    """Write a new case on PostgreSQL (:data:`_FILE`); its first history row and its
    indicators' counts, or None when its case number is taken (nothing written)."""
    wanted = sorted(set(indicators))
    kinds, values = [kind for kind, _ in wanted], [value for _, value in wanted]
    if wanted:
        _ADD_INDICATORS.rows(db_session, {"kinds": kinds, "values": values,
                                          "seen_at": report.created_at})
    details = {"category": report.category}
    rows = _FILE.rows(db_session, {
        **{column: getattr(report, column) for column in _REPORT_COLUMNS},
        "workflow": REPORTS.name, "role": CITIZEN, "details": json.dumps(details),
        "kinds": kinds, "values": values, "account_id": account_id,
        "count_cap": count_cap(),
        "notice": None if report.anonymous else _notice(report)})
    if not rows:
        return None
    report.id = rows[0].id
    make_transient_to_detached(report)  # the row as written, in the session (no reload)
    db_session.add(report)
    created = WorkflowEvent(id=rows[0].event_id, workflow=REPORTS.name, case_id=report.id,
                            action="create", from_state=None, to_state=report.status,
                            role=CITIZEN, by=None, note=None, details=details,
                            occurred_at=report.created_at)
    return created, [IndicatorCount.counted(id=row.indicator_id, kind=row.kind, value=row.value,
                                            found=int(row.reports))
                     for row in rows if row.indicator_id is not None]


_REPORT_COLUMNS = ("case_number", "category", "description", "province_code", "commune_code",
                   "location_known", "address", "occurred_at", "anonymous", "organisation_name",
                   "organisation_tax_code", "reporter_encrypted", "reporter_hash", "due_at",
                   "created_at", "status")
