"""The aggregated feed of the government information centre: counts only, small ones hidden.

Counted: citizens with at least one linked record, by province (of permanent
residence), age band and sex; and linked records by source. No personal data
leaves: no id, no name, no date; and every count below ``min_count``
(``COORDINATION_MIN_COUNT``, default 10) is shown as ``null`` with
``suppressed: true``, so no one can be singled out from a small cell. No
totals or margins are published beside the cells, since a total minus the
shown cells would give a hidden one back.

Ages are in whole years on the day of the query (Vietnam's date), banded
0-17, 18-24, 25-34, 35-44, 45-54, 55-64, 65+.
"""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from identity import clock
from identity.coordination.models import DataSource, SourceRecord
from identity.monitoring.disclosure import cell as _cell  # one rule for every statistic
from identity.registry.models import Citizen

AGE_BANDS = ((0, 17), (18, 24), (25, 34), (35, 44), (45, 54), (55, 64), (65, None))


def age_band(born: dt.date, today: dt.date) -> str:
    """The band of an age, e.g. ``25-34`` or ``65+``."""
    age = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
    for low, high in AGE_BANDS:
        if high is None or age <= high:
            return f"{low}+" if high is None else f"{low}-{high}"
    return "65+"  # unreachable


def aggregates(*, db_session: Session, min_count: int) -> dict[str, Any]:
    """The feed: ``by_province_age_sex`` and ``by_source`` cells, with the threshold."""
    today = clock.today()
    linked = sa.and_(SourceRecord.link_state == "linked", SourceRecord.citizen_id.isnot(None))
    # One row per (province, date of birth, sex): distinct citizens, exact once re-banded,
    # since a citizen falls in exactly one such group.
    holders = (sa.select(Citizen.province_code, Citizen.date_of_birth, Citizen.gender,
                         sa.func.count(sa.distinct(Citizen.id)))
               .join(SourceRecord, SourceRecord.citizen_id == Citizen.id)
               .where(linked)
               .group_by(Citizen.province_code, Citizen.date_of_birth, Citizen.gender))
    cells: dict[tuple[str, str, str], int] = defaultdict(int)
    for province, born, sex, count in db_session.execute(holders):
        cells[(province, age_band(born, today), sex)] += int(count)
    by_source = db_session.execute(
        sa.select(DataSource.name, DataSource.kind, sa.func.count(SourceRecord.id))
        .join(SourceRecord, sa.and_(SourceRecord.source_id == DataSource.id, linked),
              isouter=True)
        .group_by(DataSource.name, DataSource.kind).order_by(DataSource.name)).all()
    return {
        "min_count": min_count,
        "as_of": today.isoformat(),
        "by_province_age_sex": [
            {"province_code": province, "age_band": band, "sex": sex,
             **_cell(count, min_count)}
            for (province, band, sex), count in sorted(cells.items())],
        "by_source": [{"source": name, "kind": kind, **_cell(int(count), min_count)}
                      for name, kind, count in by_source],
    }
