"""The published figures of the rollout, with small counts hidden (:mod:`.disclosure`).

Three tables, each protected as a whole so every view hides the same cells:

- **Accounts** by place (country, every province, every commune of the
  administrative units, counted or not), level and status, with their
  margins. Lines: a level's statuses sum to the level's total, a status's
  levels to the status's total, a province's communes to the province, the
  provinces to the country.
- **Activity** of the country and the provinces: registrations, activations
  and level-2 raises per day, activations per month and the month-end totals
  of activated accounts over :data:`HORIZON_MONTHS`, whatever window a
  request asks for (so that two windows never hide different cells). Lines:
  a month's days sum to the month, a month-end total is the last one plus
  the month, the provinces (and the counters with no place) sum to the
  country. A figure over a window (registrations of the last 30 days, a
  province's recent registrations) is published only when every day in it
  is, so it tells nothing the days do not.
- **Usage** of the utilities, country and provinces: all-time totals and
  the last 30 days (the days before that are never published).

A commune's own daily figures, growth and usage are not published: a
commune is small enough that its days would be mostly hidden, and its
province's figures minus its siblings' would otherwise give them back.

Protecting the tables costs far more than reading them: each is built once
per content of what it is computed from (its stamp) and kept in the process
by :mod:`.table_cache`; the stamps are read here.
"""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from identity.accounts.models import ACCOUNT_STATUSES
from identity.monitoring import table_cache
from identity.monitoring.disclosure import Line, Published, is_small, make_line
from identity.monitoring.growth import month_start
from identity.monitoring.models import AccountCount, UsageCounter, UsageRollup
from identity.registry import admin_units

NATIONAL = ""
#: The place of counters bumped with no province (part of the country, never published).
UNPLACED = "?"
ANY = "*"
_NO_COMMUNE = "-"
#: How far back the activity table reaches: the most months and days a request may ask for.
HORIZON_MONTHS = 36
HORIZON_DAYS = 366
DAILY_METRICS = ("accounts.registered", "accounts.activated", "accounts.level2")
GROWTH_METRIC = "accounts.activated"


# --- Stamps: what the activity and usage tables are computed from -------------------------------

def _counters_stamp(db_session: Session, metrics: tuple[str, ...],
                    through: dt.date | None) -> tuple[Any, ...]:
    """What the day and usage figures are computed from, in a day and four numbers.

    Counters only grow: :func:`identity.monitoring.counters.bump` adds a
    positive amount to a row or adds a row, and nothing deletes one; the
    roll-ups are inserted once per closed day (``through``), or rebuilt from
    those same counters (``flask stats rebuild``). So the number of rows and
    the sum of the counters not rolled up yet, and of the roll-ups, change
    with every change of either: exact, at a fraction of reading the rows.
    """
    raw = sa.select(sa.func.count(), sa.func.sum(UsageCounter.count)).where(
        UsageCounter.metric.in_(metrics),
        *([UsageCounter.day > through] if through is not None else []))
    rolled = sa.select(sa.func.count(), sa.func.sum(UsageRollup.count))
    return (through, *(int(n or 0) for query in (raw, rolled)
                       for n in db_session.execute(query).one()))


# --- Accounts ----------------------------------------------------------------------------------

def account_table(db_session: Session, min_count: int, fresh_seconds: float = 0.0) -> Published:
    """Accounts of every place by level and status: keys ``((province, commune), level, status)``.

    ``(NATIONAL, "")`` is the country, ``(province, "")`` a province; level
    and status may be :data:`ANY` (the margins). Protected once per content
    of ``account_counts`` (:func:`table_cache.cached`): the rows are read as one row of
    texts, both the cache key and what the table is built from.
    """
    recent = table_cache.recent(db_session, ("accounts", min_count), fresh_seconds)
    if recent is not None:
        return recent
    columns = (AccountCount.province_code, AccountCount.commune_code, AccountCount.level,
               AccountCount.status, AccountCount.count)
    texts = table_cache.rows_columns(db_session, columns)
    if not table_cache.well_formed(texts):  # a field holding the separator (none does)
        return _account_table(_typed(db_session.execute(sa.select(*columns))), min_count)
    return table_cache.cached(db_session, ("accounts", min_count), texts,
                              lambda: _account_table(_typed(table_cache.rows(texts)), min_count))


def _typed(rows: Iterable[Any]) -> list[tuple[str, str, int, str, int]]:
    """``account_counts`` rows with their numbers as numbers."""
    return [(str(province), str(commune), int(level), str(status), int(count))
            for province, commune, level, status, count in rows]


def _account_table(rows: Iterable[tuple[str, str, int, str, int]], min_count: int) -> Published:
    """The protected account table of some ``account_counts`` rows (see :func:`account_table`)."""
    statuses = tuple(ACCOUNT_STATUSES)
    communes_of: dict[str, set[str]] = {
        code: {commune.code for commune in items}
        for code, items in admin_units.communes_by_province().items()}
    for code in admin_units.provinces():
        communes_of.setdefault(code, set())
    values: dict[Any, int] = defaultdict(int)
    for province, commune, level, status, count in rows:
        commune = commune or _NO_COMMUNE
        communes_of.setdefault(province, set()).add(commune)
        if not count:  # an emptied row: its commune is one of its province's ``zeros``
            continue
        for place in ((NATIONAL, ""), (province, ""), (province, commune)):
            for lv in (level, ANY):
                for st in (status, ANY):
                    values[(place, lv, st)] += count
    cells = [(lv, st) for lv in (1, 2, ANY) for st in (*statuses, ANY)]
    lines: list[Line] = []
    # The lines of a place with no cell of ``min_count`` or more are left out: all its cells
    # are hidden from the start, so they never call for a complement (nor are one). Most
    # communes at the start of the rollout; empty places have no lines at all.
    shown_places = {key[0] for key, count in values.items() if not is_small(count, min_count)}
    for place in sorted(shown_places):
        lines += [make_line((place, lv, ANY), [(place, lv, st) for st in statuses], values)
                  for lv in (1, 2, ANY)]
        lines += [make_line((place, ANY, st), [(place, 1, st), (place, 2, st)], values)
                  for st in (*statuses, ANY)]
    # A province's cell is the sum of its communes': only those with a count are listed, the
    # empty ones are the line's ``zeros`` (a province with none has a zero total: no line).
    counted: dict[tuple[Any, ...], list[str]] = defaultdict(list)
    for ((province, commune), lv, st), count in values.items():
        if commune and count:
            counted[(province, lv, st)].append(commune)
    for (code, lv, st), communes in counted.items():
        communes.sort()
        lines.append(Line(((code, ""), lv, st), tuple(((code, c), lv, st) for c in communes),
                          len(communes_of[code]) - len(communes)))
    provinces = sorted(communes_of)
    lines += [make_line(((NATIONAL, ""), lv, st), [((code, ""), lv, st) for code in provinces],
                        values) for lv, st in cells]
    # A plain dict: the table is shared by threads, and a lookup must never add a key.
    return Published(dict(values), lines, min_count)


def accounts_of(table: Published, place: tuple[str, str]) -> dict[str, Any]:
    """The accounts block of one place; a hidden count is None."""
    statuses = tuple(ACCOUNT_STATUSES)
    return {"total": table.get((place, ANY, ANY)), "active": table.get((place, ANY, "active")),
            "level2_active": table.get((place, 2, "active")),
            "by_status": {st: table.get((place, ANY, st)) for st in statuses},
            "by_level": {str(lv): table.get((place, lv, ANY)) for lv in (1, 2)},
            "by_level_status": [{"level": lv, "status": st, "count": table.get((place, lv, st))}
                                for lv in (1, 2) for st in statuses]}


# --- Counters by province ----------------------------------------------------------------------

def _by_province(db_session: Session, metrics: tuple[str, ...], since: dt.date,
                 through: dt.date | None, *, daily: bool) -> dict[tuple[Any, ...], int]:
    """``{(province, metric, day)}`` (``daily``) or ``{(province, metric)}`` counts since a day.

    Closed days from the rollups (per province and national), the last days
    raw; raw counters add to their province and to the country.
    """
    out: dict[tuple[Any, ...], int] = defaultdict(int)
    raw_since = since
    columns: list[Any]
    if through is not None and through >= since:
        columns = [UsageRollup.province_code, UsageRollup.metric]
        window = (UsageRollup.metric.in_(metrics), UsageRollup.day >= since,
                  UsageRollup.day <= through)
        if daily:  # one roll-up per day, metric and province (its key): nothing to group
            rows = db_session.execute(sa.select(*columns, UsageRollup.day, UsageRollup.count)
                                      .where(*window))
        else:
            rows = db_session.execute(sa.select(*columns, sa.func.sum(UsageRollup.count))
                                      .where(*window).group_by(*columns))
        for *key, count in rows:
            out[tuple(key)] += int(count or 0)
        raw_since = through + dt.timedelta(days=1)
    columns = [UsageCounter.province_code, UsageCounter.metric]
    if daily:
        columns.append(UsageCounter.day)
    rows = db_session.execute(
        sa.select(*columns, sa.func.sum(UsageCounter.count))
        .where(UsageCounter.metric.in_(metrics), UsageCounter.day >= raw_since)
        .group_by(*columns))
    for province, *rest, count in rows:
        if province != NATIONAL:
            out[(province, *rest)] += int(count or 0)
        out[(NATIONAL, *rest)] += int(count or 0)
    return out


def _with_unplaced(values: dict[tuple[Any, ...], int], provinces: Iterable[str]) -> None:
    """Add the :data:`UNPLACED` part of every national key: the country minus its provinces."""
    provinces = list(provinces)
    for key in [key for key in values if key[0] == NATIONAL]:
        rest = key[1:]
        rest_of_country = values[key] - sum(values.get((p, *rest), 0) for p in provinces)
        if rest_of_country:
            values[(UNPLACED, *rest)] = rest_of_country


def _cross_lines(values: dict[tuple[Any, ...], int], provinces: list[str]) -> list[Line]:
    """For each national key: the country is its provinces plus the unplaced counters."""
    return [make_line(key, [(p, *key[1:]) for p in (*provinces, UNPLACED)], values)
            for key in list(values) if key[0] == NATIONAL]


# --- Activity: days, months, month-end totals ----------------------------------------------------

def recent_counter_tables(db_session: Session, metrics: tuple[str, ...], *, min_count: int,
                          fresh_seconds: float) -> tuple[Published, Published] | None:
    """The tables of :func:`counter_tables` when checked within ``fresh_seconds`` (see
    :func:`table_cache.recent`), else ``None``."""
    return table_cache.recent(db_session, ("counters", min_count, metrics), fresh_seconds)


def counter_tables(db_session: Session, metrics: tuple[str, ...], *, today: dt.date,
                   through: dt.date | None, min_count: int) -> tuple[Published, Published]:
    """The activity table and the usage table of ``metrics``, protected once per stamp.

    The stamp is the day and what both tables are computed from
    (:func:`_counters_stamp`), read once for the two.
    """
    def stamp() -> tuple[Any, ...]:
        """What both tables are computed from, as read now."""
        return (today, *_counters_stamp(db_session, (*DAILY_METRICS, *metrics), through))

    def build() -> tuple[Published, Published]:
        """Both tables, protected anew."""
        return (activity_table(db_session, today=today, through=through, min_count=min_count),
                usage_table(db_session, metrics, today=today, through=through,
                            min_count=min_count))

    return table_cache.cached(db_session, ("counters", min_count, metrics), stamp(), build,
                              stamp)


def activity_table(db_session: Session, *, today: dt.date, through: dt.date | None,
                   min_count: int) -> Published:
    """Days, months and month-end totals of the country and the provinces (see the module).

    Keys: ``(place, "day", metric, day)``, ``(place, "month", first_day)``
    (activations), ``(place, "end", first_day)`` (activated accounts at the
    end of that month), ``(place, "end", None)`` (before the horizon). Only
    counts above zero are kept: a missing key is zero. Built anew: a
    request reads it through :func:`counter_tables`.
    """
    provinces = sorted(admin_units.provinces())
    places = {NATIONAL, *provinces}
    start = month_start(today, HORIZON_MONTHS - 1)
    day_start = today - dt.timedelta(days=HORIZON_DAYS - 1)
    counts = _by_province(db_session, DAILY_METRICS, min(start, day_start), through,
                          daily=True)
    before = _before_start(db_session, start, through)
    values: dict[tuple[Any, ...], int] = {}
    for (place, metric, day), count in counts.items():
        first = start if metric == GROWTH_METRIC else day_start
        if count and place in places and first <= day <= today:
            values[(place, "day", metric, day)] = count
    months = [month_start(today, back) for back in range(HORIZON_MONTHS - 1, -1, -1)]
    days_of: dict[dt.date, list[dt.date]] = defaultdict(list)
    for n in range((today - start).days + 1):
        day = start + dt.timedelta(days=n)
        days_of[month_start(day)].append(day)
    lines: list[Line] = []
    for place in {key[0] for key in values} | {p for p, n in before.items() if n and p in places}:
        running = before.get(place, 0)
        previous: tuple[Any, ...] = (place, "end", None)
        values[previous] = running
        for first_day in months:
            days = [(place, "day", GROWTH_METRIC, day) for day in days_of[first_day]]
            month = sum(values.get(key, 0) for key in days)
            running += month
            values[(place, "month", first_day)] = month
            values[(place, "end", first_day)] = running
            lines.append(make_line((place, "month", first_day), days, values))
            lines.append(make_line((place, "end", first_day),
                                   [previous, (place, "month", first_day)], values))
            previous = (place, "end", first_day)
    _with_unplaced(values, provinces)
    lines += _cross_lines(values, provinces)
    unplaced = [key for key in values if key[0] == UNPLACED]
    return Published(values, lines, min_count, unpublished=unplaced)


def _before_start(db_session: Session, start: dt.date,
                  through: dt.date | None) -> dict[str, int]:
    """Activations of each province (and the country) before ``start``."""
    out: dict[str, int] = defaultdict(int)
    if through is not None:
        rows = db_session.execute(
            sa.select(UsageRollup.province_code, sa.func.sum(UsageRollup.count))
            .where(UsageRollup.metric == GROWTH_METRIC, UsageRollup.day < start,
                   UsageRollup.day <= through).group_by(UsageRollup.province_code))
        for province, count in rows:
            out[province] += int(count or 0)
    query = (sa.select(UsageCounter.province_code, sa.func.sum(UsageCounter.count))
             .where(UsageCounter.metric == GROWTH_METRIC, UsageCounter.day < start)
             .group_by(UsageCounter.province_code))
    if through is not None:
        query = query.where(UsageCounter.day > through)
    for province, count in db_session.execute(query):
        if province != NATIONAL:
            out[province] += int(count or 0)
        out[NATIONAL] += int(count or 0)
    return out


def window_sum(table: Published, place: str, metric: str, first: dt.date,
               last: dt.date) -> int | None:
    """The sum of a metric's days from ``first`` to ``last``, if every one of them is published."""
    keys = [(place, "day", metric, first + dt.timedelta(days=n))
            for n in range((last - first).days + 1)]
    return sum(table.get(key) or 0 for key in keys) if table.shown(*keys) else None


# --- Usage ---------------------------------------------------------------------------------------

def usage_table(db_session: Session, metrics: tuple[str, ...], *, today: dt.date,
                through: dt.date | None, min_count: int) -> Published:
    """Usage of the country and the provinces: ``(place, "total"|"last_30_days", metric)``.

    Built anew: a request reads it through :func:`counter_tables`.
    """
    provinces = sorted(admin_units.provinces())
    usage_start = today - dt.timedelta(days=29)
    total = _by_province(db_session, metrics, dt.date(1970, 1, 1), through, daily=False)
    recent = _by_province(db_session, metrics, usage_start, through, daily=False)
    values: dict[tuple[Any, ...], int] = {}
    lines: list[Line] = []
    for place in (NATIONAL, *provinces):
        for metric in metrics:
            values[(place, "total", metric)] = total.get((place, metric), 0)
            values[(place, "last_30_days", metric)] = recent.get((place, metric), 0)
            values[(place, "earlier", metric)] = (values[(place, "total", metric)]
                                                  - values[(place, "last_30_days", metric)])
            lines.append(make_line((place, "total", metric), [(place, "earlier", metric),
                                                              (place, "last_30_days", metric)],
                                   values))
    _with_unplaced(values, provinces)
    lines += _cross_lines(values, provinces)
    unpublished = [key for key in values if key[0] == UNPLACED or key[1] == "earlier"]
    return Published(values, lines, min_count, unpublished=unpublished)
