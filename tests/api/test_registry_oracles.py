"""No oracle over the registry: endpoints that take personal ids answer alike for ids that
exist and ids that do not (item 5 of issue 16).

Each test sends the same request twice, once with an id of the registry and once
with an unknown one, and compares the answers byte for byte once the fields that
must differ between any two requests (ids, timestamps) are set aside: status,
headers that carry meaning, and body.
"""
from __future__ import annotations

import json
from typing import Any

import pytest

from tests.factories import add_citizen
from tests.flows import (Holder, assert_error, bearer, create_party, logged_in_officer,
                         party_token)
from tests.utilities.residence.helpers import STAY_COMMUNE

LODGING = "/api/v1/residence/lodging-notices"
RP_LODGING = "/api/v1/rp/lodging-notices"
STAYS = "/api/v1/residence/stays"
UNKNOWN_ID = "001099999997"
#: Fields that differ between any two answers (the new row's id, when it was made).
VARYING = {"id", "created_at", "submitted_at", "decide_by"}


pytestmark = pytest.mark.usefixtures("tuesday")  # every test starts on Tuesday (conftest.py)


@pytest.fixture(autouse=True)
def fresh_limits(redis: Any) -> None:
    """Each test starts with no rate-limit or quota counter spent (the fixture empties them)."""


def _comparable(answer: Any) -> tuple[int, str, bytes]:
    """Status, content type and body with the varying fields blanked (canonical JSON)."""
    body = answer.get_json()
    if isinstance(body, dict):
        body = {key: ("*" if key in VARYING else value) for key, value in body.items()}
    return (answer.status_code, answer.headers.get("Content-Type", ""),
            json.dumps(body, sort_keys=True, ensure_ascii=False).encode())


def _guest(personal_id: str, **extra: Any) -> dict[str, Any]:
    """A guest row staying two nights from Tuesday."""
    return {"personal_id": personal_id, "arrival": "2026-12-01", "departure": "2026-12-03",
            **extra}


def _notice(*guests: dict[str, Any]) -> dict[str, Any]:
    """A lodging notice in the stay's commune."""
    return {"commune_code": STAY_COMMUNE, "address": "Số 3, phố Huế", "guests": list(guests)}


def test_a_host_s_lodging_notice_answers_alike_for_known_and_unknown_guests(
        client: Any, db_session: Any, protector: Any) -> None:
    headers = Holder.make(client, db_session, protector).headers
    known = add_citizen(db_session, protector)
    answers = [client.post(LODGING, headers=headers, json=_notice(_guest(pid)))
               for pid in (known.personal_id, UNKNOWN_ID)]
    assert answers[0].status_code == 201, answers[0].get_json()
    assert _comparable(answers[0]) == _comparable(answers[1])
    # A known id with the wrong name and birth date: the same answer again.
    wrong = client.post(LODGING, headers=headers, json=_notice(_guest(
        known.personal_id, full_name="Trần Thị Khác", date_of_birth="1950-05-05")))
    assert _comparable(wrong) == _comparable(answers[0])
    # A mixed notice of 50 answers like one of 50 known guests: no row is named.
    mixed = [_guest(f"0010990{i:05d}") for i in range(49)] + [_guest(known.personal_id)]
    assert client.post(LODGING, headers=headers, json=_notice(*mixed)).status_code == 201


def test_a_hotel_s_lodging_notice_answers_alike(client: Any, db_session: Any,
                                                protector: Any) -> None:
    hotel = create_party(db_session, protector, name="Khách sạn Hồ Gươm", kind="hotel",
                         scopes=("lodging.notify",))
    headers = bearer(party_token(client, hotel))
    known = add_citizen(db_session, protector)
    answers = [client.post(RP_LODGING, headers=headers, json=_notice(_guest(pid)))
               for pid in (known.personal_id, UNKNOWN_ID)]
    assert answers[0].status_code == 201, answers[0].get_json()
    assert _comparable(answers[0]) == _comparable(answers[1])


def test_a_stay_answers_alike_for_an_unknown_host_and_a_host_without_the_app(
        client: Any, db_session: Any, protector: Any) -> None:
    """Only the host's id differs; the answers (status, host check, state) do not."""
    answers = []
    for host_id in (add_citizen(db_session, protector).personal_id, UNKNOWN_ID):
        headers = Holder.make(client, db_session, protector).headers
        answers.append(client.post(STAYS, headers=headers, json={
            "commune_code": STAY_COMMUNE, "address": "Số 12, ngõ 5, phố Huế",
            "start_date": "2026-12-01", "end_date": "2027-11-30", "reason": "Đi làm",
            "host_personal_id": host_id}))
    assert answers[0].status_code == 201, answers[0].get_json()
    assert answers[0].get_json()["host_check"] == "host"
    assert _comparable(answers[0]) == _comparable(answers[1])


def test_a_host_s_notices_are_rate_limited_and_counted_per_guest(
        app: Any, client: Any, db_session: Any, protector: Any, monkeypatch: Any) -> None:
    monkeypatch.setitem(app.config, "LODGING_DAILY_GUESTS_PER_ACCOUNT", 60)
    headers = Holder.make(client, db_session, protector).headers
    other_headers = Holder.make(client, db_session, protector).headers
    fifty = _notice(*[_guest(f"0010990{i:05d}") for i in range(50)])
    assert client.post(LODGING, headers=headers, json=fifty).status_code == 201
    ten = _notice(*[_guest(f"0010991{i:05d}") for i in range(10)])
    assert client.post(LODGING, headers=headers, json=ten).status_code == 201
    refused = client.post(LODGING, headers=headers, json=_notice(_guest(UNKNOWN_ID)))
    body = assert_error(refused, 429, "quota.exhausted")
    assert body["errors"] == {"quota": [60]}
    # Come back at midnight UTC (21 hours after 03:00 UTC), when the day's quota renews.
    assert abs(int(refused.headers["Retry-After"]) - 21 * 3600) <= 60
    # The quota is the account's: another host still has theirs.
    assert client.post(LODGING, headers=other_headers,
                       json=_notice(_guest(UNKNOWN_ID))).status_code == 201


def test_a_host_s_notices_have_a_rate_limit(app: Any, client: Any, db_session: Any,
                                            protector: Any, monkeypatch: Any) -> None:
    monkeypatch.setitem(app.config, "LODGING_LIMIT_PER_ACCOUNT", "2 per minute")
    headers = Holder.make(client, db_session, protector).headers
    statuses = [client.post(LODGING, headers=headers, json=_notice(_guest(UNKNOWN_ID))).status_code
                for _ in range(3)]
    assert statuses == [201, 201, 429]


def test_a_hotel_s_quota_counts_each_guest(client: Any, db_session: Any,
                                           protector: Any) -> None:
    hotel = create_party(db_session, protector, name="Khách sạn Hồ Tây", kind="hotel",
                         scopes=("lodging.notify",), quotas={"lodging.notify": 60})
    headers = bearer(party_token(client, hotel))
    fifty = _notice(*[_guest(f"0010990{i:05d}") for i in range(50)])
    first = client.post(RP_LODGING, headers=headers, json=fifty)
    assert first.status_code == 201, first.get_json()
    eleven = _notice(*[_guest(f"0010991{i:05d}") for i in range(11)])
    assert_error(client.post(RP_LODGING, headers=headers, json=eleven), 429,
                 "rp.quota_exhausted")


def test_the_police_see_the_unconfirmed_guests_of_their_commune(
        client: Any, db_session: Any, protector: Any) -> None:
    headers = Holder.make(client, db_session, protector).headers
    assert client.post(LODGING, headers=headers, json=_notice(
        _guest(UNKNOWN_ID, full_name="Trần Thị Bình"))).status_code == 201
    officer = logged_in_officer(client, db_session, protector, username="oracle.police",
                                commune_code=STAY_COMMUNE).headers
    listed = client.get("/api/v1/police/residence/lodging?review=pending", headers=officer)
    [guest] = listed.get_json()["items"]
    assert (guest["personal_id"], guest["declared_name"], guest["review_reason"]) == (
        UNKNOWN_ID, "Trần Thị Bình", "unknown_id")


def test_stays_and_fines_are_limited_per_account(app: Any, client: Any, db_session: Any,
                                                 protector: Any, monkeypatch: Any) -> None:
    """The endpoints that take one personal id a request have a per-account bound too."""
    monkeypatch.setitem(app.config, "STAY_LIMIT_PER_ACCOUNT", "2 per day")
    monkeypatch.setitem(app.config, "FINE_LIMIT_PER_OFFICER", "2 per day")
    headers = Holder.make(client, db_session, protector).headers
    statuses = [client.post(STAYS, headers=headers, json={"host_personal_id": UNKNOWN_ID})
                .status_code for _ in range(3)]
    assert statuses == [422, 422, 429]
    officer = logged_in_officer(client, db_session, protector, username="oracle.fines",
                                commune_code=STAY_COMMUNE).headers
    statuses = [client.post("/api/v1/police/fines", headers=officer,
                            json={"personal_id": UNKNOWN_ID}).status_code for _ in range(3)]
    assert statuses == [422, 422, 429]
