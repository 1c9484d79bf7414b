"""Statistics of the rollout, read from summary tables only: the raw figures.

What leaves the service (statistics API, dashboard) is :mod:`.published`,
which hides every small count and what would give one back; these raw
figures are published as they are only with ``STATS_MIN_COUNT=0``.

- Accounts by level and status: :class:`AccountCount` (one row per commune,
  level and status), so a national figure sums a few thousand rows.
- Registrations, activations, level 2 and utilities' usage per day: the
  daily :class:`UsageCounter` rows. Days at least two days old are summed
  once per province and nationally into :class:`UsageRollup` (:func:`roll_up`,
  run by the first statistics request of a day), so a year of national
  figures reads a few hundred rows; the last two days are read raw.
- Month-over-month growth of accounts: month-end totals of activated
  accounts are the running sum of the daily ``accounts.activated`` counter
  (accounts ever activated; a later lock does not un-count an activation).
- Queue backlogs: :func:`identity.monitoring.queues.backlogs` (one aggregate
  query per registered queue).

Nothing here loads an account, a citizen or a case into Python.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from identity import clock
from identity.accounts.models import ACCOUNT_STATUSES, ACTIVE, CLOSED
from identity.monitoring import queues
from identity.monitoring.errors import CommuneNotFound, ProvinceNotFound
from identity.monitoring.growth import growth, month_start
from identity.monitoring.models import AccountCount, RollupState, UsageCounter, UsageRollup
from identity.registry import admin_units

_INSERTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}

ACCOUNT_METRICS = ("accounts.registered", "accounts.activated", "accounts.level2")
#: The utilities the rollout is judged by (a metric nobody bumps yet reads 0).
USAGE_METRICS = ("reports.filed", "residence.temporary_stay.declared",
                 "residence.absence.declared", "residence.lodging.notified", "payments.paid",
                 "credentials.issued", "credentials.verified", "consents.given")
#: Days younger than this may still be bumped by open transactions: never rolled up.
ROLLUP_GRACE_DAYS = 2
_STATE = "usage"
_NATIONAL = ""


@dataclass(frozen=True)
class Place:
    """The whole country, one province, or one commune."""

    province_code: str | None = None
    commune_code: str | None = None

    @property
    def name(self) -> str:
        """The place's name, as the dashboard shows it."""
        if self.commune_code:
            return admin_units.communes()[self.commune_code].name
        if self.province_code:
            return admin_units.provinces()[self.province_code].name
        return "Việt Nam"


def province_place(province_code: str) -> Place:
    """A province, or :class:`ProvinceNotFound` (``province.not_found``)."""
    if province_code not in admin_units.provinces():
        raise ProvinceNotFound()
    return Place(province_code=province_code)


def commune_place(commune_code: str) -> Place:
    """A commune, or :class:`CommuneNotFound` (``commune.not_found``)."""
    commune = admin_units.communes().get(commune_code)
    if commune is None:
        raise CommuneNotFound()
    return Place(province_code=commune.province_code, commune_code=commune_code)


# --- Daily counters, rolled up -----------------------------------------------------------------

def roll_up(db_session: Session, *, today: dt.date | None = None,
            rebuild: bool = False) -> dt.date:
    """Sum closed days' counters into :class:`UsageRollup`; returns the last day rolled up.

    Days older than :data:`ROLLUP_GRACE_DAYS` not rolled up yet are summed
    with two INSERT ... SELECT ... GROUP BY (per province, and national:
    province ``''``, which also holds the counters bumped with no place).
    ``rebuild`` starts over from every counter (``flask stats rebuild``).
    Concurrent callers insert the same rows: conflicts are ignored. Not
    committed here.
    """
    through = (today or clock.today()) - dt.timedelta(days=ROLLUP_GRACE_DAYS)
    state = db_session.get(RollupState, _STATE)
    if rebuild:
        db_session.execute(sa.delete(UsageRollup))
        state_from = None
    else:
        if state is not None and state.through_day >= through:
            return state.through_day
        state_from = state.through_day if state is not None else None
    insert = _INSERTS[db_session.get_bind().dialect.name]
    window = [UsageCounter.day <= through]
    if state_from is not None:
        window.append(UsageCounter.day > state_from)
    columns = ["day", "metric", "province_code", "count"]
    total = sa.func.sum(UsageCounter.count)
    per_province = (sa.select(UsageCounter.day, UsageCounter.metric, UsageCounter.province_code,
                              total).where(*window, UsageCounter.province_code != _NATIONAL)
                    .group_by(UsageCounter.day, UsageCounter.metric, UsageCounter.province_code))
    national = (sa.select(UsageCounter.day, UsageCounter.metric,
                          sa.literal(_NATIONAL, sa.String(2)), total).where(*window)
                .group_by(UsageCounter.day, UsageCounter.metric))
    for select in (per_province, national):
        statement: Any = insert(UsageRollup).from_select(columns, select)
        db_session.execute(statement.on_conflict_do_nothing())
    upsert: Any = insert(RollupState).values(name=_STATE, through_day=through)
    db_session.execute(upsert.on_conflict_do_update(index_elements=["name"],
                                                    set_={"through_day": through}))
    db_session.expire_all()
    return through


def _rolled_through(db_session: Session) -> dt.date | None:
    return db_session.scalar(sa.select(RollupState.through_day).where(
        RollupState.name == _STATE))


def _raw_filter(place: Place) -> list[Any]:
    where = []
    if place.province_code:
        where.append(UsageCounter.province_code == place.province_code)
    if place.commune_code:
        where.append(UsageCounter.commune_code == place.commune_code)
    return where


def _daily(db_session: Session, place: Place, metrics: tuple[str, ...], since: dt.date,
           through: dt.date | None) -> dict[tuple[str, dt.date], int]:
    """``{(metric, day): count}`` from ``since`` on: rollups up to ``through``, raw after it."""
    out: dict[tuple[str, dt.date], int] = {}
    raw_since = since
    if place.commune_code is None and through is not None and through >= since:
        rows = db_session.execute(
            sa.select(UsageRollup.metric, UsageRollup.day, UsageRollup.count).where(
                UsageRollup.province_code == (place.province_code or _NATIONAL),
                UsageRollup.metric.in_(metrics), UsageRollup.day >= since,
                UsageRollup.day <= through))
        for metric, day, count in rows:
            out[(metric, day)] = int(count)
        raw_since = through + dt.timedelta(days=1)
    rows = db_session.execute(
        sa.select(UsageCounter.metric, UsageCounter.day, sa.func.sum(UsageCounter.count))
        .where(UsageCounter.metric.in_(metrics), UsageCounter.day >= raw_since,
               *_raw_filter(place))
        .group_by(UsageCounter.metric, UsageCounter.day))
    for metric, day, count in rows:
        out[(metric, day)] = out.get((metric, day), 0) + int(count)
    return out


def _before(db_session: Session, place: Place, metrics: tuple[str, ...], before: dt.date,
            through: dt.date | None) -> dict[str, int]:
    """``{metric: count}`` of every day before ``before``."""
    out = dict.fromkeys(metrics, 0)
    raw_after: dt.date | None = None
    if place.commune_code is None and through is not None:
        rows = db_session.execute(
            sa.select(UsageRollup.metric, sa.func.sum(UsageRollup.count)).where(
                UsageRollup.province_code == (place.province_code or _NATIONAL),
                UsageRollup.metric.in_(metrics), UsageRollup.day < before,
                UsageRollup.day <= through).group_by(UsageRollup.metric))
        for metric, count in rows:
            out[metric] += int(count or 0)
        raw_after = through
    query = (sa.select(UsageCounter.metric, sa.func.sum(UsageCounter.count))
             .where(UsageCounter.metric.in_(metrics), UsageCounter.day < before,
                    *_raw_filter(place)).group_by(UsageCounter.metric))
    if raw_after is not None:
        query = query.where(UsageCounter.day > raw_after)
    for metric, count in db_session.execute(query):
        out[metric] += int(count or 0)
    return out


# --- Accounts ----------------------------------------------------------------------------------

def _account_summary(rows: list[tuple[int, str, int]]) -> dict[str, Any]:
    by_status = dict.fromkeys(ACCOUNT_STATUSES, 0)
    by_level = {"1": 0, "2": 0}
    level2_active = 0
    for level, status, count in rows:
        by_status[status] = by_status.get(status, 0) + count
        by_level[str(level)] = by_level.get(str(level), 0) + count
        if level == 2 and status == ACTIVE:
            level2_active += count
    # A closed account (withdrawn, superseded, reclaimed) holds no identity: not in the total.
    return {"total": sum(by_status.values()) - by_status[CLOSED], "active": by_status[ACTIVE],
            "level2_active": level2_active, "by_status": by_status, "by_level": by_level,
            "by_level_status": [{"level": level, "status": status, "count": count}
                                for level, status, count in sorted(rows) if count]}


def accounts(db_session: Session, place: Place) -> dict[str, Any]:
    """Accounts of a place by level and status."""
    query = (sa.select(AccountCount.level, AccountCount.status, sa.func.sum(AccountCount.count))
             .group_by(AccountCount.level, AccountCount.status))
    if place.province_code:
        query = query.where(AccountCount.province_code == place.province_code)
    if place.commune_code:
        query = query.where(AccountCount.commune_code == place.commune_code)
    return _account_summary([(int(level), status, int(count))
                             for level, status, count in db_session.execute(query)])


# --- Growth --------------------------------------------------------------------------------------

# --- Queues ----------------------------------------------------------------------------------

def unit_of(province_code: str, commune_code: str | None) -> str:
    """The police unit of a backlog row, as the dashboard names it."""
    if commune_code:
        commune = admin_units.communes().get(commune_code)
        return f"Công an {commune.name if commune else commune_code}"
    province = admin_units.provinces().get(province_code)
    return f"Công an {province.name if province else province_code}"


def queue_backlogs(db_session: Session, place: Place, *, now: dt.datetime | None = None,
                   limit: int = 20) -> dict[str, Any]:
    """Open and overdue cases per police unit, the units most behind first."""
    rows = [row for row in queues.backlogs(db_session, now=now)
            if (place.province_code is None or row.province_code == place.province_code)
            and (place.commune_code is None or row.commune_code == place.commune_code)]
    rows.sort(key=lambda r: (-r.overdue, -r.open, r.queue, r.province_code,
                             r.commune_code or ""))
    per_queue: dict[str, dict[str, int]] = {name: {"open": 0, "overdue": 0}
                                            for name in queues.queue_names()}
    for row in rows:
        per_queue[row.queue]["open"] += row.open
        per_queue[row.queue]["overdue"] += row.overdue
    return {"open": sum(r.open for r in rows), "overdue": sum(r.overdue for r in rows),
            "queues": [{"queue": name, **totals} for name, totals in sorted(per_queue.items())],
            "units": [{"queue": r.queue, "province_code": r.province_code,
                       "commune_code": r.commune_code,
                       "unit": unit_of(r.province_code, r.commune_code),
                       "open": r.open, "overdue": r.overdue} for r in rows[:limit]]}


# --- The statistics of a place ---------------------------------------------------------------

def overview(*, db_session: Session, place: Place | None = None, days: int = 30,
             months: int = 12, target: float = 0.05) -> dict[str, Any]:
    """Everything the dashboard shows for a place; commits the day's roll-up if it ran."""
    place = place or Place()
    today = clock.today()
    through = roll_up(db_session, today=today) if place.commune_code is None else \
        _rolled_through(db_session)
    db_session.commit()
    window_start = month_start(today, months - 1)
    days_start = today - dt.timedelta(days=days - 1)
    usage_start = today - dt.timedelta(days=29)
    since = min(window_start, days_start, usage_start)
    metrics = ACCOUNT_METRICS + USAGE_METRICS
    daily = _daily(db_session, place, metrics, since, through)
    before = _before(db_session, place, metrics, since, through)
    activated = {day: count for (metric, day), count in daily.items()
                 if metric == "accounts.activated"}
    activated_before = before["accounts.activated"] + sum(
        count for day, count in activated.items() if day < window_start)
    per_day = [{"day": day, **{metric.split(".")[1]: daily.get((metric, day), 0)
                               for metric in ACCOUNT_METRICS}}
               for day in (days_start + dt.timedelta(days=n) for n in range(days))]
    usage = [{"metric": metric,
              "total": before[metric] + sum(c for (m, _), c in daily.items() if m == metric),
              "last_30_days": sum(c for (m, d), c in daily.items()
                                  if m == metric and d >= usage_start)}
             for metric in USAGE_METRICS]
    return {"place": {"province_code": place.province_code,
                      "commune_code": place.commune_code, "name": place.name},
            "as_of": today,
            "accounts": accounts(db_session, place),
            "registrations": {
                "days": per_day,
                "registered_total": sum(row["registered"] for row in per_day),
                "activated_total": sum(row["activated"] for row in per_day)},
            "growth": growth(activated_before,
                             {d: c for d, c in activated.items() if d >= window_start},
                             today=today, months=months, target=target),
            "usage": usage,
            "backlogs": queue_backlogs(db_session, place)}


def provinces(*, db_session: Session, days: int = 30) -> list[dict[str, Any]]:
    """Every province with its accounts and recent registrations, most active accounts first."""
    today = clock.today()
    through = roll_up(db_session, today=today)
    db_session.commit()
    counts: dict[str, list[tuple[int, str, int]]] = {code: [] for code in admin_units.provinces()}
    for province, level, status, count in db_session.execute(
            sa.select(AccountCount.province_code, AccountCount.level, AccountCount.status,
                      sa.func.sum(AccountCount.count))
            .group_by(AccountCount.province_code, AccountCount.level, AccountCount.status)):
        counts.setdefault(province, []).append((int(level), status, int(count)))
    since = today - dt.timedelta(days=days - 1)
    registered: dict[str, int] = {}
    rows = db_session.execute(
        sa.select(UsageRollup.province_code, sa.func.sum(UsageRollup.count)).where(
            UsageRollup.metric == "accounts.registered", UsageRollup.day >= since,
            UsageRollup.day <= through, UsageRollup.province_code != _NATIONAL)
        .group_by(UsageRollup.province_code))
    for province, count in rows:
        registered[province] = registered.get(province, 0) + int(count or 0)
    rows = db_session.execute(
        sa.select(UsageCounter.province_code, sa.func.sum(UsageCounter.count)).where(
            UsageCounter.metric == "accounts.registered",
            UsageCounter.day >= max(since, through + dt.timedelta(days=1)))
        .group_by(UsageCounter.province_code))
    for province, count in rows:
        registered[province] = registered.get(province, 0) + int(count or 0)
    names = admin_units.provinces()
    out = []
    for code, level_rows in counts.items():
        summary = _account_summary(level_rows)
        out.append({"province_code": code,
                    "name": names[code].name if code in names else code,
                    "total": summary["total"], "active": summary["active"],
                    "level2_active": summary["level2_active"],
                    "by_status": summary["by_status"],
                    "registered_recent": registered.get(code, 0)})
    out.sort(key=lambda row: (-row["active"], -row["total"], row["province_code"]))
    for rank, row in enumerate(out, start=1):
        row["rank"] = rank
    return out


def communes(*, db_session: Session, place: Place) -> list[dict[str, Any]]:
    """The communes of a province that have accounts, most active accounts first."""
    counts: dict[str, list[tuple[int, str, int]]] = {}
    for commune, level, status, count in db_session.execute(
            sa.select(AccountCount.commune_code, AccountCount.level, AccountCount.status,
                      AccountCount.count)
            .where(AccountCount.province_code == place.province_code)):
        counts.setdefault(commune, []).append((int(level), status, int(count)))
    names = admin_units.communes()
    out = []
    for code, level_rows in counts.items():
        summary = _account_summary(level_rows)
        if not summary["total"]:
            continue
        out.append({"commune_code": code, "name": names[code].name if code in names else code,
                    "total": summary["total"], "active": summary["active"],
                    "level2_active": summary["level2_active"], "by_status": summary["by_status"]})
    out.sort(key=lambda row: (-row["active"], -row["total"], row["commune_code"]))
    return out
