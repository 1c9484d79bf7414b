"""No published statistic shows a count under 10, nor lets one be recomputed by subtraction.

The statistics API and the dashboard once published a commune with a single
account exactly: its total, its level, its registration day. Here a commune
of one account sits in a province where "province minus the other communes"
would give it back; every view is read as an attacker would read them all.
"""
from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
import time_machine

from identity.coordination import aggregates
from identity.monitoring import counters, disclosure
from identity.monitoring.disclosure import Line, protect
from identity.registry import admin_units
from tests.factories import add_account
from tests.flows import bearer
from tests.identity.monitoring.helpers import new_operator

VN = dt.timezone(dt.timedelta(hours=7))
MIN = 10
LONE = "00004"  # Phường Ba Đình (Hà Nội): one account, level 2
BIG = "00070"  # Phường Hoàn Kiếm (Hà Nội): 20 active + 5 pending
MIDDLE = next(c.code for c in admin_units.communes_by_province()["01"]
              if c.code not in (LONE, BIG))  # another commune of Hà Nội: 15 active
HCM = "25747"  # Hồ Chí Minh: 12 active
#: Fields that hold counts (or are computed from counts) in the statistics' JSON.
COUNT_FIELDS = {"total", "active", "level2_active", "count", "registered", "activated", "level2",
                "registered_total", "activated_total", "active_total", "target_total",
                "last_30_days", "open", "overdue", "registered_recent"}


@pytest.fixture()
def world(app, client, db_session, protector, monkeypatch) -> dict[str, Any]:
    """The places above, an operator's token, and every view of the statistics API."""
    monkeypatch.setitem(app.config, "STATS_MIN_COUNT", MIN)
    hcm_other = next(c.code for c in admin_units.communes_by_province()["79"] if c.code != HCM)
    add_account(db_session, protector, commune_code=LONE, level=2)
    for _ in range(15):
        add_account(db_session, protector, commune_code=MIDDLE)
    for n in range(25):
        add_account(db_session, protector, commune_code=BIG,
                    status="active" if n < 20 else "pending_review")
    for _ in range(12):
        add_account(db_session, protector, province_code="79", commune_code=HCM)
    add_account(db_session, protector, province_code="79", commune_code=hcm_other,
                status="pending_review")
    token = new_operator(db_session)
    paths = ["/overview", "/provinces", "/provinces/01", "/provinces/79",
             *(f"/communes/{code}" for code in (LONE, BIG, MIDDLE, HCM, hcm_other))]
    views = {}
    for path in paths:
        answer = client.get(f"/api/v1/stats{path}", headers=bearer(token))
        assert answer.status_code == 200, (path, answer.get_json())
        views[path] = answer.get_json()
    return {"views": views, "token": token, "hcm_other": hcm_other}


def _counts(node: Any, path: str = "") -> list[tuple[str, Any]]:
    """Every (path, value) of a count field or a count map (by_status, by_level)."""
    found: list[tuple[str, Any]] = []
    if isinstance(node, dict):
        for key, value in node.items():
            here = f"{path}.{key}"
            if key in COUNT_FIELDS and not isinstance(value, (dict, list)):
                found.append((here, value))
            elif key in ("by_status", "by_level") and isinstance(value, dict):
                found += [(f"{here}.{k}", v) for k, v in value.items()]
            else:
                found += _counts(value, here)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _counts(value, f"{path}[{index}]")
    return found


def test_no_view_shows_a_count_under_ten(world):
    small = [(view, path, value) for view, body in world["views"].items()
             for path, value in _counts(body) if value is not None and value < MIN]
    assert not small, small
    assert world["views"]["/overview"]["min_count"] == MIN


def test_the_lone_commune_is_published_nowhere(world):
    lone = world["views"][f"/communes/{LONE}"]
    assert all(value is None for _p, value in _counts(lone["accounts"]))
    assert all(value is None for _p, value in _counts(lone["registrations"]))
    assert all(row["active_total"] is None for row in lone["growth"]["months"])
    # Hà Nội: 25 + 15 + 1 = 41. Listing 25 and 15 would give the 1 back (41 - 25 - 15), so
    # the smallest shown commune (15) is hidden with it: 41 - 25 = 16, over two hidden ones.
    hanoi = world["views"]["/provinces/01"]
    assert hanoi["accounts"]["total"] == 41
    assert [(c["commune_code"], c["total"]) for c in hanoi["communes"]] == [(BIG, 25)]
    assert world["views"][f"/communes/{MIDDLE}"]["accounts"]["total"] is None


def _hidden_mass(total: Any, parts: list[Any]) -> Any:
    """What a subtraction gives: the total minus every published part (None: total hidden)."""
    return None if total is None else total - sum(part for part in parts if part is not None)


def test_no_subtraction_gives_a_hidden_cell_back(world):
    """Province minus its published communes, country minus its provinces, a total minus its
    statuses or levels: always 0 (nothing hidden) or at least ten, spread over hidden cells."""
    views = world["views"]
    masses: list[tuple[str, Any]] = []
    ranking = views["/provinces"]["items"]
    for field in ("total", "active", "level2_active"):
        masses.append((f"country {field}", _hidden_mass(
            views["/overview"]["accounts"][field], [row[field] for row in ranking])))
    for code in ("01", "79"):
        body = views[f"/provinces/{code}"]
        for field in ("total", "active", "level2_active"):
            masses.append((f"{code} {field}", _hidden_mass(
                body["accounts"][field], [c[field] for c in body["communes"]])))
        for status, value in body["accounts"]["by_status"].items():
            masses.append((f"{code} {status}", _hidden_mass(
                value, [c["by_status"][status] for c in body["communes"]])))
    for path, body in views.items():
        if "accounts" not in body:
            continue
        accounts = body["accounts"]
        masses.append((f"{path} statuses", _hidden_mass(accounts["total"],
                                                        list(accounts["by_status"].values()))))
        masses.append((f"{path} levels", _hidden_mass(accounts["total"],
                                                      list(accounts["by_level"].values()))))
    wrong = [(name, mass) for name, mass in masses if mass is not None and 0 < mass < MIN]
    assert not wrong, wrong


def test_a_lone_registration_day_and_a_small_month_stay_hidden(app, client, db_session,
                                                               monkeypatch):
    monkeypatch.setitem(app.config, "STATS_MIN_COUNT", MIN)
    token = new_operator(db_session)
    lone_day = dt.date(2026, 11, 18)
    for day, commune, amount in ((dt.date(2026, 11, 17), BIG, 40),
                                 (lone_day, LONE, 1), (dt.date(2026, 11, 19), BIG, 35)):
        with time_machine.travel(dt.datetime(day.year, day.month, day.day, 9, tzinfo=VN),
                                 tick=False):
            for metric in ("accounts.registered", "accounts.activated"):
                counters.bump(db_session, metric=metric, province_code="01",
                              commune_code=commune, amount=amount)
    with time_machine.travel(dt.datetime(2026, 11, 20, 9, tzinfo=VN), tick=False):
        for path in ("/overview", "/provinces/01"):
            body = client.get(f"/api/v1/stats{path}", headers=bearer(token)).get_json()
            days = {row["day"]: row for row in body["registrations"]["days"]}
            assert days["2026-11-17"]["registered"] == 40 and days["2026-11-19"]["registered"] \
                == 35
            assert days[lone_day.isoformat()]["registered"] is None
            # the window's total would give the lone day back (total minus the shown days)
            assert body["registrations"]["registered_total"] is None
            months = {row["month"]: row for row in body["growth"]["months"]}
            # 76 activations in November over 0 before: shown; October's 0 is hidden
            assert months["2026-11"]["active_total"] == 76
            assert months["2026-10"]["active_total"] is None
            assert months["2026-11"]["growth"] is None
        ranking = client.get("/api/v1/stats/provinces", headers=bearer(token)).get_json()
        hanoi = next(row for row in ranking["items"] if row["province_code"] == "01")
        assert hanoi["registered_recent"] is None


def test_the_dashboard_shows_no_small_count(app, client, world):
    client.post("/dashboard/login", data={"token": world["token"]})
    for page in (client.get("/dashboard"), client.get("/dashboard?province=01")):
        assert page.status_code == 200
        text = page.get_data(as_text=True)
        shown = re.findall(r'data-stat="[^"]+">([^<]+)<', text)
        assert shown
        for value in shown:
            value = value.strip()
            assert value == "—" or "," in value or "%" in value or int(value.replace(".", "")) \
                >= MIN, value
        assert 'id="suppression"' in text
    province = client.get("/dashboard?province=01").get_data(as_text=True)
    assert "Phường Ba Đình" not in province


def test_the_line_rule():
    # a province of 13: communes of 12, 1 and 0. The 1 and the 0 are small; the 12 is hidden
    # too, else 13 - 12 gives the 1 back.
    values = {"P": 13, "A": 12, "B": 1, "C": 0}
    assert protect(values, [Line("P", ("A", "B", "C"))], MIN) == {"A", "B", "C"}
    # parts big enough: nothing hidden
    assert protect({"P": 30, "A": 12, "B": 18}, [Line("P", ("A", "B"))], MIN) == frozenset()
    # only zeros hidden: a subtraction gives 0, which tells nothing
    assert protect({"P": 30, "A": 30, "B": 0}, [Line("P", ("A", "B"))], MIN) == {"B"}
    # two small ones summing to under ten: a third (the smallest shown) joins them
    hidden = protect({"P": 60, "A": 2, "B": 3, "C": 15, "D": 40},
                     [Line("P", ("A", "B", "C", "D"))], MIN)
    assert hidden == {"A", "B", "C"}
    # a complement spreads along every line it is on
    hidden = protect({"P": 27, "A": 12, "B": 1, "C": 14, "A1": 6, "A2": 6},
                     [Line("P", ("A", "B", "C")), Line("A", ("A1", "A2"))], MIN)
    assert {"A", "B", "A1", "A2"} <= hidden
    # a part never published and not small may stand alone (the unplaced counters)
    assert protect({"N": 40, "X": 25, "U": 15}, [Line("N", ("X", "U"))], MIN,
                   unpublished={"U"}) == {"U"}
    assert protect({"N": 30, "X": 25, "U": 5}, [Line("N", ("X", "U"))], MIN,
                   unpublished={"U"}) == {"U", "X"}


def test_one_rule_serves_the_coordination_aggregates_too():
    assert aggregates._cell is disclosure.cell
    assert disclosure.cell(9, MIN) == {"count": None, "suppressed": True}
    assert disclosure.cell(10, MIN) == {"count": 10, "suppressed": False}


def test_counts_of_ten_or_more_are_published_as_they_are(
        app, client, db_session, protector, monkeypatch):
    monkeypatch.setitem(app.config, "STATS_MIN_COUNT", MIN)
    for _ in range(12):
        add_account(db_session, protector, commune_code=BIG)
    for _ in range(11):
        add_account(db_session, protector, commune_code=LONE)
    token = new_operator(db_session)
    body = client.get("/api/v1/stats/provinces/01", headers=bearer(token)).get_json()
    accounts = body["accounts"]
    assert (accounts["total"], accounts["active"], accounts["by_level"]["1"]) == (23, 23, 23)
    assert accounts["by_status"]["pending_review"] is None  # zero: hidden like any small count
    assert [(c["commune_code"], c["total"]) for c in body["communes"]] == [(BIG, 12), (LONE, 11)]
    country = client.get("/api/v1/stats/overview", headers=bearer(token)).get_json()
    assert country["accounts"]["total"] == 23


def test_backlogs_hide_small_counts_and_their_complements(
        app, client, db_session, monkeypatch):
    from identity.monitoring import queues
    from tests.identity.monitoring.helpers import fixed_queue

    monkeypatch.setitem(app.config, "STATS_MIN_COUNT", MIN)
    monkeypatch.setattr(queues, "_QUEUES", {})
    queues.register_queue("reports.test", fixed_queue(
        [("01", BIG, 3, 2), ("01", None, 8, 1), ("79", HCM, 30, 12)], name="reports.test"))
    token = new_operator(db_session)
    country = client.get("/api/v1/stats/overview", headers=bearer(token)).get_json()["backlogs"]
    hanoi = client.get("/api/v1/stats/provinces/01", headers=bearer(token)).get_json()[
        "backlogs"]
    hcm = client.get("/api/v1/stats/provinces/79", headers=bearer(token)).get_json()["backlogs"]
    assert (country["open"], country["overdue"]) == (41, 15)
    assert hanoi["open"] == 11 and hanoi["overdue"] is None  # 2 + 1: small
    # 15 - 3 would give Hà Nội's overdue back: Hồ Chí Minh's 12 is hidden too, in every view
    assert hcm["open"] == 30 and hcm["overdue"] is None
    assert [(u["province_code"], u["open"], u["overdue"]) for u in country["units"]] == [
        ("79", 30, None)]
    assert hanoi["units"] == []
