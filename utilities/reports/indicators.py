"""Scam indicators: the phone numbers and links that reports name, counted nationwide.

A report of a scam names the numbers that called and the links that were
sent; each is kept once (:class:`~utilities.reports.models.ScamIndicator`,
normalised so that two spellings are one) and linked to every case naming
it. The reporter and the officers see beside a case how many reports name each of its
indicators, counted up to :data:`REPORTS_COUNT_CAP`; an officer looks a number or link up
for the exact count (:func:`look_up_indicator`).
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import phonenumbers
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from identity.accounts.models import Officer
from utilities.reports.access import jurisdiction
from utilities.reports.errors import InvalidReport
from utilities.reports.models import Report, ReportIndicator, ScamIndicator
from utilities.reports.reporter import case_time

#: Phone numbers, and links, one report may name.
MAX_INDICATORS = 10
#: Beside a case, the reports naming each indicator are counted up to here (``reports_exact``
#: false beyond it). A scam number that thousands report must cost each filing, and each
#: view of a case, what one reported twice does: counting every link made a filing's
#: statement grow with the number's reports (0.8 ms of PostgreSQL per filing after 5,000).
REPORTS_COUNT_CAP = 100
_INSERTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


@dataclass(frozen=True)
class IndicatorCount:
    """A scam phone number or link of a case, and how many reports (nationwide) name it, up
    to :data:`REPORTS_COUNT_CAP` (``reports_exact`` false: more than that)."""

    id: int
    kind: str
    value: str
    reports: int
    reports_exact: bool

    @classmethod
    def counted(cls, *, id: int, kind: str, value: str, found: int) -> IndicatorCount:
        """``found``: the reports counted, which may pass the cap by one."""
        return cls(id=id, kind=kind, value=value, reports=min(found, REPORTS_COUNT_CAP),
                   reports_exact=found <= REPORTS_COUNT_CAP)


def count_cap() -> int:
    """:data:`REPORTS_COUNT_CAP` as it is now (tests lower it)."""
    return REPORTS_COUNT_CAP


def capped_links(indicator_id: Any) -> Any:
    """How many reports name the indicator, counted up to one past the cap (a scalar
    subquery)."""
    links = (sa.select(sa.literal(1)).where(ReportIndicator.indicator_id == indicator_id)
             .limit(REPORTS_COUNT_CAP + 1).subquery())
    return sa.select(sa.func.count()).select_from(links).scalar_subquery()


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


def link_indicators(db_session: Session, report: Report,
                    indicators: Iterable[tuple[str, str]]) -> list[ScamIndicator]:
    """Name each (kind, value) from ``report``, creating the indicator the first time; them all.

    One multi-row ``INSERT ... ON CONFLICT DO NOTHING`` (never an update: a
    scam number many report at once must not be a row they queue on), one
    ``SELECT`` of the indicators, one insert of the links. An indicator first
    seen in an anonymous case is dated to the hour, like the case.
    """
    wanted = list(dict.fromkeys(indicators))
    if not wanted:
        return []
    insert = _INSERTS[db_session.get_bind().dialect.name]
    seen_at = case_time(report)
    statement: Any = insert(ScamIndicator).values(
        [{"kind": kind, "value": value, "first_seen_at": seen_at} for kind, value in wanted])
    db_session.execute(statement.on_conflict_do_nothing(index_elements=["kind", "value"]))
    named = list(db_session.scalars(
        sa.select(ScamIndicator).where(sa.tuple_(ScamIndicator.kind, ScamIndicator.value)
                                       .in_(wanted)).order_by(ScamIndicator.id)))
    db_session.add_all(ReportIndicator(report_id=report.id, indicator_id=indicator.id)
                       for indicator in named)
    return named


def indicator_counts(db_session: Session, report: Report,
                     named: list[ScamIndicator] | None = None) -> list[IndicatorCount]:
    """The case's indicators (``named`` when the caller has them), each with how many reports
    name it up to the cap (one statement)."""
    named = report.indicators if named is None else named
    if not named:
        return []
    found = db_session.execute(sa.select(*(capped_links(i.id) for i in named))).one()
    return [IndicatorCount.counted(id=i.id, kind=i.kind, value=i.value, found=int(count))
            for i, count in zip(named, found)]


def look_up_indicator(*, db_session: Session, officer: Officer, phone: str | None,
                      link: str | None) -> tuple[str, str, int, list[Report]]:
    """How many reports (nationwide) name a phone or link, and those of the officer's unit.

    A read that writes nothing, so it does not commit.
    """
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
        ReportIndicator.indicator_id == indicator_id, *jurisdiction(officer))
    return kind, value, int(total), list(db_session.scalars(mine.order_by(Report.id.desc())
                                                            .limit(100)))
