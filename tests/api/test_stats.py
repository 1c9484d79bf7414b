"""The statistics API: every figure against data made in the test, and the operator's token."""
from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import time_machine

from identity.monitoring import counters, operators, queues
from tests.flows import Phone, bearer, create_officer, register
from tests.factories import add_account, add_citizen
from tests.identity.monitoring.helpers import ACTOR, fixed_queue, new_operator

VN = dt.timezone(dt.timedelta(hours=7))


@pytest.fixture(autouse=True)
def raw_figures(app, monkeypatch):
    """The arithmetic of the figures, with no count hidden (STATS_MIN_COUNT=0).

    What is hidden at the default threshold: tests/security/test_small_counts.py.
    """
    monkeypatch.setitem(app.config, "STATS_MIN_COUNT", 0)


def get(client: Any, token: str, path: str, **query: Any) -> Any:
    return client.get(f"/api/v1/stats{path}", headers=bearer(token), query_string=query)


def test_without_a_token_the_answer_is_401(client):
    answer = client.get("/api/v1/stats/overview")
    assert answer.status_code == 401
    assert answer.get_json()["code"] == "auth.required"


def test_an_unknown_or_disabled_token_gets_the_same_401(client, db_session):
    token = new_operator(db_session)
    unknown = operators.TOKEN_PREFIX + "A" * 43
    operators.disable_operator(db_session=db_session, actor=ACTOR, name="Bộ Công an A06")
    bodies = [get(client, t, "/overview") for t in (token, unknown, "not-a-token")]
    assert [b.status_code for b in bodies] == [401, 401, 401]
    assert {b.get_json()["code"] for b in bodies} == {"operator.invalid_token"}
    assert bodies[0].get_json() == bodies[1].get_json()


def test_a_citizen_token_is_no_admin_token(client, db_session, protector):
    citizen = add_citizen(db_session, protector, serial=7)
    account = register(client, citizen, Phone())
    assert get(client, "eyJhbGciOiJFUzI1NiJ9.e30.x", "/overview").status_code == 401
    assert account["status"] == "active"


def test_accounts_by_level_and_status_and_registrations_per_day(client, db_session, protector):
    token = new_operator(db_session)
    citizen = add_citizen(db_session, protector, serial=11)
    register(client, citizen, Phone())  # registry phone: active at once
    pending = add_citizen(db_session, protector, serial=12)
    account = register(client, pending, Phone(), phone_number="0987000111")
    assert account["status"] == "pending_review"
    add_account(db_session, protector, level=2)
    add_account(db_session, protector, province_code="79", commune_code="25747",
                status="locked")
    body = get(client, token, "/overview").get_json()
    assert body["accounts"]["total"] == 4
    assert body["accounts"]["active"] == 2
    assert body["accounts"]["level2_active"] == 1
    assert body["accounts"]["by_status"] == {"active": 2, "pending_review": 1, "locked": 1,
                                             "rejected": 0, "closed": 0}
    assert body["accounts"]["by_level"] == {"1": 3, "2": 1}
    assert len(body["registrations"]["days"]) == 30
    today = body["registrations"]["days"][-1]
    assert today["registered"] == 4 and today["activated"] == 2 and today["level2"] == 1
    assert body["registrations"]["registered_total"] == 4

    # the officer approves the pending account: one more activation, same day
    officer = create_officer(db_session, protector)
    officer_token = officer.log_in(client)
    answer = client.post(f"/api/v1/police/accounts/{account['account_id']}/review",
                         json={"decision": "approve", "reason": None},
                         headers=bearer(officer_token))
    assert answer.status_code == 200, answer.get_json()
    body = get(client, token, "/overview", days=7).get_json()
    assert body["accounts"]["by_status"]["active"] == 3
    assert body["accounts"]["by_status"]["pending_review"] == 0
    assert body["registrations"]["days"][-1]["activated"] == 3
    assert len(body["registrations"]["days"]) == 7


def test_growth_against_the_configured_target(client, db_session, app):
    token = new_operator(db_session)
    for day, amount in ((dt.date(2026, 8, 10), 100), (dt.date(2026, 9, 10), 10),
                        (dt.date(2026, 10, 10), 3)):
        with time_machine.travel(dt.datetime(day.year, day.month, day.day, 9, tzinfo=VN),
                                 tick=False):
            counters.bump(db_session, metric="accounts.activated", province_code="01",
                          commune_code="00070", amount=amount)
    app.config["ROLLOUT_MONTHLY_GROWTH_TARGET"] = 0.08
    try:
        with time_machine.travel(dt.datetime(2026, 11, 5, 9, tzinfo=VN), tick=False):
            growth = get(client, token, "/overview", months=4).get_json()["growth"]
    finally:
        app.config["ROLLOUT_MONTHLY_GROWTH_TARGET"] = 0.05
    assert growth["target"] == 0.08
    assert [m["month"] for m in growth["months"]] == ["2026-08", "2026-09", "2026-10",
                                                      "2026-11"]
    assert [m["active_total"] for m in growth["months"]] == [100, 110, 113, 113]
    assert [m["met"] for m in growth["months"]] == [None, True, False, False]
    assert [m["partial"] for m in growth["months"]] == [False, False, False, True]
    assert [m["target_total"] for m in growth["months"]] == [None, 108, 119, 122]
    assert growth["last_month"] == "2026-10"
    assert growth["last_month_growth"] == round(3 / 110, 4)
    assert growth["on_target"] is False and growth["months_on_target"] == 1


def test_utilities_usage_counts_all_time_and_the_last_30_days(client, db_session):
    token = new_operator(db_session)
    with time_machine.travel(dt.datetime(2026, 9, 1, 9, tzinfo=VN), tick=False):
        counters.bump(db_session, metric="reports.filed", province_code="01",
                      commune_code="00070", amount=5)
    with time_machine.travel(dt.datetime(2026, 11, 20, 9, tzinfo=VN), tick=False):
        counters.bump(db_session, metric="reports.filed", province_code="79",
                      commune_code="25747", amount=2)
        counters.bump(db_session, metric="credentials.verified", amount=7)
        counters.bump(db_session, metric="residence.temporary_stay.declared",
                      province_code="01", commune_code="00070")
        usage = {u["metric"]: u for u in get(client, token, "/overview").get_json()["usage"]}
    assert usage["reports.filed"] == {"metric": "reports.filed", "total": 7,
                                      "last_30_days": 2}
    assert usage["credentials.verified"]["total"] == 7
    assert usage["residence.temporary_stay.declared"]["last_30_days"] == 1
    assert usage["payments.paid"]["total"] == 0 and usage["consents.given"]["total"] == 0
    assert set(usage) >= {"residence.absence.declared", "residence.lodging.notified",
                          "credentials.issued"}


def test_queue_backlogs_per_unit(client, db_session, monkeypatch):
    token = new_operator(db_session)
    monkeypatch.setattr(queues, "_QUEUES", {})
    queues.register_queue("reports.test", fixed_queue([("01", "00070", 3, 2), ("79", None, 8, 5)],
                                                      name="reports.test"))
    backlogs = get(client, token, "/overview").get_json()["backlogs"]
    assert (backlogs["open"], backlogs["overdue"]) == (11, 7)
    assert [(u["province_code"], u["commune_code"], u["overdue"]) for u in backlogs["units"]] == [
        ("79", None, 5), ("01", "00070", 2)]
    province = get(client, token, "/provinces/01").get_json()["backlogs"]
    assert (province["open"], province["overdue"]) == (3, 2)


def test_provinces_are_ranked_by_active_accounts(client, db_session, protector):
    token = new_operator(db_session)
    for _ in range(2):
        add_account(db_session, protector, province_code="79", commune_code="25747")
    add_account(db_session, protector)
    add_account(db_session, protector, status="pending_review")
    body = get(client, token, "/provinces").get_json()
    assert body["days"] == 30
    items = body["items"]
    assert len(items) == 34
    assert [(i["rank"], i["province_code"], i["active"]) for i in items[:2]] == [
        (1, "79", 2), (2, "01", 1)]
    assert items[1]["total"] == 2 and items[1]["by_status"]["pending_review"] == 1
    assert items[0]["registered_recent"] == 2 and items[0]["name"].endswith("Hồ Chí Minh")
    assert items[2]["total"] == 0


def test_one_province_with_its_communes_and_one_commune(client, db_session, protector):
    token = new_operator(db_session)
    add_account(db_session, protector, commune_code="00004", level=2)
    add_account(db_session, protector, commune_code="00070")
    add_account(db_session, protector, commune_code="00070")
    add_account(db_session, protector, province_code="79", commune_code="25747")
    body = get(client, token, "/provinces/01").get_json()
    assert body["place"] == {"province_code": "01", "commune_code": None,
                             "name": "Thành phố Hà Nội"}
    assert body["accounts"]["total"] == 3
    assert [(c["commune_code"], c["active"], c["level2_active"]) for c in body["communes"]] == [
        ("00070", 2, 0), ("00004", 1, 1)]
    commune = get(client, token, "/communes/00004").get_json()
    assert commune["place"]["name"] == "Phường Ba Đình"
    assert commune["accounts"]["level2_active"] == 1 and commune["accounts"]["total"] == 1
    assert commune["registrations"]["registered_total"] == 1


def test_unknown_places_and_bad_windows_are_4xx(client, db_session):
    token = new_operator(db_session)
    assert get(client, token, "/provinces/99").get_json()["code"] == "province.not_found"
    assert get(client, token, "/communes/00000").get_json()["code"] == "commune.not_found"
    answer = get(client, token, "/overview", days=0)
    assert answer.status_code == 422
    assert get(client, token, "/overview", months="x").status_code == 422


def test_the_openapi_document_names_the_operator_token(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    assert spec["components"]["securitySchemes"]["operatorToken"]["scheme"] == "bearer"
    for path in ("/api/v1/stats/overview", "/api/v1/stats/provinces",
                 "/api/v1/stats/provinces/{province_code}",
                 "/api/v1/stats/communes/{commune_code}"):
        assert spec["paths"][path]["get"]["security"] == [{"operatorToken": []}]
        assert "200" in spec["paths"][path]["get"]["responses"]
