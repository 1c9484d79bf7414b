"""Statistics from the summary tables: growth, roll-ups, backlogs."""
from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
import time_machine

from identity.monitoring import counters, queues, statistics
from identity.monitoring.models import RollupState, UsageRollup
from identity.monitoring.statistics import Place
from tests.identity.monitoring.helpers import fixed_queue

NOON = dt.timezone(dt.timedelta(hours=7))


def at(day: dt.date) -> Any:
    return time_machine.travel(dt.datetime(day.year, day.month, day.day, 12, tzinfo=NOON),
                               tick=False)


def test_growth_compares_each_month_end_with_the_last_one_grown_by_the_target():
    today = dt.date(2026, 11, 15)
    activated = {dt.date(2026, 9, 3): 10, dt.date(2026, 10, 20): 6, dt.date(2026, 11, 1): 2}
    result = statistics.growth(100, activated, today=today, months=3, target=0.05)
    assert [m["month"] for m in result["months"]] == ["2026-09", "2026-10", "2026-11"]
    assert [m["active_total"] for m in result["months"]] == [110, 116, 118]
    assert [m["growth"] for m in result["months"]] == [0.1, round(6 / 110, 4), round(2 / 116, 4)]
    assert [m["target_total"] for m in result["months"]] == [105, 116, 122]
    assert [m["met"] for m in result["months"]] == [True, True, False]
    assert result["months"][-1]["partial"] is True
    assert result["last_month"] == "2026-10" and result["on_target"] is True
    assert result["months_on_target"] == 2


def test_growth_from_nothing_has_no_rate():
    result = statistics.growth(0, {dt.date(2026, 11, 2): 5}, today=dt.date(2026, 11, 3),
                               months=2, target=0.05)
    assert [m["growth"] for m in result["months"]] == [None, None]
    assert result["on_target"] is None and result["last_month_growth"] is None


def test_closed_days_are_rolled_up_and_read_back_the_same(db_session):
    days = [dt.date(2026, 9, 30), dt.date(2026, 10, 31), dt.date(2026, 11, 25),
            dt.date(2026, 11, 27)]
    for n, day in enumerate(days, start=1):
        with at(day):
            counters.bump(db_session, metric="accounts.activated", province_code="01",
                          commune_code="00070", amount=10 * n)
            counters.bump(db_session, metric="accounts.activated", province_code="79",
                          commune_code="25747", amount=n)
            counters.bump(db_session, metric="credentials.verified", amount=3)
    with at(dt.date(2026, 11, 27)):
        country = statistics.overview(db_session=db_session, months=3)
        hanoi = statistics.overview(db_session=db_session, place=Place("01"), months=3)
        commune = statistics.overview(db_session=db_session, place=Place("01", "00070"),
                                      months=3)
    # everything up to two days ago is in the roll-ups, national and per province
    assert db_session.get(RollupState, "usage").through_day == dt.date(2026, 11, 25)
    national = db_session.scalar(sa.select(sa.func.sum(UsageRollup.count)).where(
        UsageRollup.province_code == "", UsageRollup.metric == "accounts.activated"))
    assert national == 11 + 22 + 33
    assert [m["active_total"] for m in country["growth"]["months"]] == [11, 33, 110]
    assert [m["active_total"] for m in hanoi["growth"]["months"]] == [10, 30, 100]
    assert [m["active_total"] for m in commune["growth"]["months"]] == [10, 30, 100]
    verified = {u["metric"]: u for u in country["usage"]}["credentials.verified"]
    assert verified == {"metric": "credentials.verified", "total": 12, "last_30_days": 9}
    assert {u["metric"]: u["total"] for u in hanoi["usage"]}["credentials.verified"] == 0
    assert country["registrations"]["activated_total"] == 22 + 33 + 44  # since Oct 29


def test_backlogs_are_ranked_by_overdue_then_open_and_filtered_by_place(db_session,
                                                                        monkeypatch):
    monkeypatch.setattr(queues, "_QUEUES", {})
    queues.register_queue("test.queue", fixed_queue([("01", "00070", 5, 1), ("01", None, 9, 4),
                                                     ("79", "25747", 30, 0)]))
    result = statistics.queue_backlogs(db_session, Place())
    assert [(u["province_code"], u["overdue"], u["open"]) for u in result["units"]] == [
        ("01", 4, 9), ("01", 1, 5), ("79", 0, 30)]
    assert result["units"][0]["unit"] == "Công an Thành phố Hà Nội"
    assert result["units"][1]["unit"] == "Công an Phường Hoàn Kiếm"
    assert (result["open"], result["overdue"]) == (44, 5)
    assert result["queues"] == [{"queue": "test.queue", "open": 44, "overdue": 5}]
    only = statistics.queue_backlogs(db_session, Place("79"))
    assert (only["open"], only["overdue"]) == (30, 0)
