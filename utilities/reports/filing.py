"""A citizen files a report (tố giác tội phạm), named or anonymous.

Where it happened decides the police unit whose queue receives it; the case
number in the answer is how the citizen follows it. An anonymous filing
keeps no seal of its reporter and answers a reporter key, the only way back
to the case (:mod:`utilities.reports.reporter`).
"""
from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Iterable, Mapping

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from identity import clock
from identity.accounts.models import Account
from identity.accounts.notifications import notify
from identity.audit.service import Actor, coarse_time
from identity.monitoring.counters import bump
from identity.protection import Protector
from utilities.commits import commit_keeping_state
from utilities.reports.access import check_place, unit_of
from utilities.reports.deadlines import Deadlines
from utilities.reports.errors import InvalidReport
from utilities.reports.indicators import (indicator_counts, link_indicators, normalise_link,
                                          normalise_scam_phone)
from utilities.reports.models import RECEIVED, Report
from utilities.reports.reporter import (anonymous_reporter_hash, audit, new_reporter_key,
                                        recorded, reporter_actor, reporter_hash, seal_reporter)
from utilities.reports.rules import CITIZEN, REPORTS
from utilities.reports.views import ReportView

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
                                        else seal_reporter(protector, case_number, account)),
                    reporter_hash=(anonymous_reporter_hash(protector, account.id, key)
                                   if key is not None else reporter_hash(protector, account.id)),
                    due_at=deadlines.due(RECEIVED, now), created_at=now, updated_at=now)
    created = recorded(report, REPORTS.start(db_session, report, role=CITIZEN, by=None,
                                             category=category))
    named = link_indicators(db_session, report, indicators)
    audit(db_session, protector, reporter_actor(report, account, actor), report,
          "report.filed", category=category, anonymous=anonymous)
    if not anonymous:
        notify(db_session=db_session, account_id=account.id, kind="report.filed",
               text=f"Your report {case_number} was received by {unit_of(report)}.")
    view = ReportView(report=report, history=[created],
                      indicators=indicator_counts(db_session, report, named), reporter_key=key)
    set_committed_value(report, "evidence", [])  # a new case has none: the answer reads none
    # Last before the commit: the counter row of a busy commune is held the shortest time.
    bump(db_session, metric="reports.filed", province_code=province_code,
         commune_code=commune_code)
    commit_keeping_state(db_session)  # the answer is the rows just written: no reload
    return view


def _new_case_number(db_session: Session) -> str:
    """A random case number not yet taken (``TG-<year>-`` and 8 base32 characters)."""
    while True:
        number = (f"{CASE_PREFIX}-{clock.today().year}-"
                  + "".join(secrets.choice(_CASE_ALPHABET) for _ in range(8)))
        if db_session.scalar(sa.select(Report.id).where(Report.case_number == number)) is None:
            return number
