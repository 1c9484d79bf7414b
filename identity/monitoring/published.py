"""The statistics that leave the service (statistics API, dashboard): small counts hidden.

:mod:`.statistics` computes the raw figures; what is published comes from
here, read from the protected tables of :mod:`.protected` with the rule of
:mod:`.disclosure`: a count under ``min_count`` (``STATS_MIN_COUNT``,
default 10, zero included) is ``null``, and so is any count that would let
one be recomputed by subtraction. Figures derived from hidden counts
(growth rates, targets, shares) are ``null`` with them. A commune's daily
figures, growth and usage are not published at all (its accounts and
backlog are). With ``min_count`` 0 the raw figures are published as they are.
"""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

from identity import clock
from identity.monitoring import protected, queues, statistics
from identity.monitoring.disclosure import MIN_COUNT, Line, Published
from identity.monitoring.protected import ANY, DAILY_METRICS, NATIONAL, month_start
from identity.monitoring.growth import growth_row, growth_summary
from identity.monitoring.statistics import USAGE_METRICS, Place
from identity.registry import admin_units


#: The protected account table, built once when a page shows a place and ranks others.
account_table = protected.account_table
#: The account figures of a row of a ranking.
_ROW_FIELDS = ("total", "active", "level2_active", "by_status")


def _key(place: Place) -> tuple[str, str]:
    return (place.province_code or NATIONAL, place.commune_code or "")


def _registrations(activity: Published | None, code: str, today: dt.date,
                   days: int) -> dict[str, Any]:
    first = today - dt.timedelta(days=days - 1)
    window = [first + dt.timedelta(days=n) for n in range(days)]
    rows = [{"day": day, **{metric.split(".")[1]: (
        activity.get((code, "day", metric, day)) if activity else None)
        for metric in DAILY_METRICS}} for day in window]
    totals = {name: (protected.window_sum(activity, code, metric, first, today)
                     if activity else None)
              for name, metric in (("registered_total", "accounts.registered"),
                                   ("activated_total", "accounts.activated"))}
    return {"days": rows, **totals}


def _growth(activity: Published | None, code: str, today: dt.date, months: int,
            target: float) -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    for back in range(months - 1, -1, -1):
        first = month_start(today, back)
        earlier = month_start(today, back + 1) if back + 1 < protected.HORIZON_MONTHS else None
        end = activity.get((code, "end", first)) if activity else None
        previous = activity.get((code, "end", earlier)) if activity else None
        rows.append(growth_row(first, end, previous, target=target, partial=back == 0))
    return growth_summary(rows, target)


def _usage(usage: Published | None, code: str) -> list[dict[str, Any]]:
    return [{"metric": metric,
             "total": usage.get((code, "total", metric)) if usage else None,
             "last_30_days": usage.get((code, "last_30_days", metric)) if usage else None}
            for metric in USAGE_METRICS]


# --- Backlogs --------------------------------------------------------------------------------

def _backlog_table(rows: list[queues.UnitBacklog], min_count: int) -> Published:
    """Open and overdue cases: ``(measure, queue, province, commune)``, :data:`ANY` for sums."""
    values: dict[tuple[str, str, str, str], int] = defaultdict(int)
    names = queues.queue_names()
    for row in rows:
        unit = (row.province_code, row.commune_code or "")
        for measure, count in (("open", row.open), ("overdue", row.overdue)):
            for queue in (row.queue, ANY):
                for place in (unit, (row.province_code, ANY), (NATIONAL, ANY)):
                    values[(measure, queue, *place)] += count
    units: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for row in rows:
        units[row.province_code].add((row.province_code, row.commune_code or ""))
    lines: list[Line] = []
    for measure in ("open", "overdue"):
        places = [(NATIONAL, ANY), *((code, ANY) for code in units),
                  *(unit for members in units.values() for unit in members)]
        for place in places:
            lines.append(Line((measure, ANY, *place), tuple((measure, q, *place) for q in names)))
        for queue in (*names, ANY):
            for code, members in units.items():
                lines.append(Line((measure, queue, code, ANY),
                                  tuple((measure, queue, *unit) for unit in sorted(members))))
            lines.append(Line((measure, queue, NATIONAL, ANY),
                              tuple((measure, queue, code, ANY) for code in sorted(units))))
    return Published(values, lines, min_count)


def backlogs(db_session: Any, place: Place, *, min_count: int, now: dt.datetime | None = None,
             limit: int = 20) -> dict[str, Any]:
    """Open and overdue cases of a place per queue and per police unit, small counts hidden."""
    rows = queues.backlogs(db_session, now=now)
    table = _backlog_table(rows, min_count)
    where = ((place.province_code, place.commune_code or "") if place.commune_code
             else (place.province_code or NATIONAL, ANY))
    units = [row for row in rows
             if (place.province_code is None or row.province_code == place.province_code)
             and (place.commune_code is None or row.commune_code == place.commune_code)]
    shown: list[dict[str, Any]] = []
    for row in units:
        unit = (row.province_code, row.commune_code or "")
        count_open = table.get(("open", row.queue, *unit))
        if count_open is None:
            continue
        shown.append({"queue": row.queue, "province_code": row.province_code,
                      "commune_code": row.commune_code,
                      "unit": statistics.unit_of(row.province_code, row.commune_code),
                      "open": count_open, "overdue": table.get(("overdue", row.queue, *unit))})
    shown.sort(key=lambda u: (-(u["overdue"] if u["overdue"] is not None else -1), -u["open"],
                              u["queue"], u["province_code"], u["commune_code"] or ""))
    return {"open": table.get(("open", ANY, *where)),
            "overdue": table.get(("overdue", ANY, *where)),
            "queues": [{"queue": name, "open": table.get(("open", name, *where)),
                        "overdue": table.get(("overdue", name, *where))}
                       for name in sorted(queues.queue_names())],
            "units": shown[:limit]}


# --- The published statistics ----------------------------------------------------------------

def counter_tables(*, db_session: Any, min_count: int,
                   fresh_seconds: float = 0.0) -> tuple[Published, Published]:
    """Today's protected activity and usage tables; rolls up the closed days first (commits).

    Within ``fresh_seconds`` of the last check (``STATS_FRESH_SECONDS``), the
    tables this process checked last, without reading the summary tables.
    """
    recent = protected.recent_counter_tables(db_session, USAGE_METRICS, min_count=min_count,
                                             fresh_seconds=fresh_seconds)
    if recent is not None:
        return recent
    today = clock.today()
    through = statistics.roll_up(db_session, today=today)
    db_session.commit()
    return protected.counter_tables(db_session, USAGE_METRICS, today=today, through=through,
                                    min_count=min_count)


def overview(*, db_session: Any, place: Place | None = None, days: int = 30, months: int = 12,
             target: float = 0.05, min_count: int = MIN_COUNT, fresh_seconds: float = 0.0,
             accounts: Published | None = None,
             counters: tuple[Published, Published] | None = None) -> dict[str, Any]:
    """The statistics of a place as published; commits the day's roll-up if it ran.

    ``accounts``, ``counters``: the protected account table and activity and
    usage tables, when the caller already has them (:func:`account_table`,
    :func:`counter_tables`; the page or answer also ranks places).
    """
    place = place or Place()
    if min_count <= 0:
        return {**statistics.overview(db_session=db_session, place=place, days=days,
                                      months=months, target=target), "min_count": 0}
    today = clock.today()
    table = accounts or protected.account_table(db_session, min_count, fresh_seconds)
    activity = usage = None
    if place.commune_code is None:  # a commune's days, growth and usage are not published
        activity, usage = counters or counter_tables(db_session=db_session, min_count=min_count,
                                                     fresh_seconds=fresh_seconds)
    code = place.province_code or NATIONAL
    return {"place": {"province_code": place.province_code,
                      "commune_code": place.commune_code, "name": place.name},
            "as_of": today, "min_count": min_count,
            "accounts": protected.accounts_of(table, _key(place)),
            "registrations": _registrations(activity, code, today, days),
            "growth": _growth(activity, code, today, months, target),
            "usage": _usage(usage, code),
            "backlogs": backlogs(db_session, place, min_count=min_count)}


def _ranked(rows: list[dict[str, Any]], code_field: str) -> list[dict[str, Any]]:
    """Most active accounts first; hidden figures after every shown one, by code (no leak)."""
    def key(row: dict[str, Any]) -> tuple[Any, ...]:
        active, total = row["active"], row["total"]
        return (active is None, -(active or 0), total is None, -(total or 0), row[code_field])
    return sorted(rows, key=key)


def provinces(*, db_session: Any, days: int = 30, min_count: int = MIN_COUNT,
              fresh_seconds: float = 0.0, accounts: Published | None = None,
              counters: tuple[Published, Published] | None = None) -> list[dict[str, Any]]:
    """Every province with its accounts and recent registrations, as published."""
    if min_count <= 0:
        return statistics.provinces(db_session=db_session, days=days)
    today = clock.today()
    activity, _usage = counters or counter_tables(db_session=db_session, min_count=min_count,
                                                  fresh_seconds=fresh_seconds)
    table = accounts or protected.account_table(db_session, min_count, fresh_seconds)
    first = today - dt.timedelta(days=days - 1)
    rows = []
    for code, province in admin_units.provinces().items():
        block = protected.accounts_of(table, (code, ""))
        rows.append({"province_code": code, "name": province.name,
                     **{name: block[name] for name in _ROW_FIELDS},
                     "registered_recent": protected.window_sum(
                         activity, code, "accounts.registered", first, today)})
    rows = _ranked(rows, "province_code")
    for rank, row in enumerate(rows, start=1):
        row["rank"] = rank
    return rows


def communes(*, db_session: Any, place: Place, min_count: int = MIN_COUNT,
             fresh_seconds: float = 0.0,
             accounts: Published | None = None) -> list[dict[str, Any]]:
    """The communes of a province whose account total is published, most active first."""
    if min_count <= 0:
        return statistics.communes(db_session=db_session, place=place)
    table = accounts or protected.account_table(db_session, min_count, fresh_seconds)
    rows = []
    for commune in admin_units.communes_by_province().get(place.province_code or "", []):
        block = protected.accounts_of(table, (place.province_code or "", commune.code))
        if block["total"] is None:
            continue
        rows.append({"commune_code": commune.code, "name": commune.name,
                     **{name: block[name] for name in _ROW_FIELDS}})
    return _ranked(rows, "commune_code")
