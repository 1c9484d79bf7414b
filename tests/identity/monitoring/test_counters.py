"""Usage counters add up in the caller's transaction, per day and place."""
from __future__ import annotations

import datetime as dt

import time_machine

from identity.monitoring.counters import bump, total


def test_bumps_add_up_per_place_and_day(db_session):
    with time_machine.travel(dt.datetime(2026, 3, 1, 3, tzinfo=dt.timezone.utc), tick=False):
        bump(db_session, metric="reports.filed", province_code="01", commune_code="00004")
        bump(db_session, metric="reports.filed", province_code="01", commune_code="00004")
        bump(db_session, metric="reports.filed", province_code="79", commune_code="26734",
             amount=3)
    with time_machine.travel(dt.datetime(2026, 3, 2, 3, tzinfo=dt.timezone.utc), tick=False):
        bump(db_session, metric="reports.filed", province_code="01")
    db_session.flush()
    assert total(db_session, metric="reports.filed") == 6
    assert total(db_session, metric="reports.filed", province_code="01") == 3
    assert total(db_session, metric="reports.filed", since=dt.date(2026, 3, 2)) == 1
    assert total(db_session, metric="credentials.verified") == 0


def test_a_rolled_back_act_leaves_no_count(db_session):
    bump(db_session, metric="consents.given")
    db_session.rollback()
    assert total(db_session, metric="consents.given") == 0
