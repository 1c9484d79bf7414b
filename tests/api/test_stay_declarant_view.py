"""No oracle in a temporary stay: the declarant's view does not tell what the named host's
account is (active, none, locked, pending) or whether the host's id exists at all.

An attacker holding a stranger's ID-card details declares a stay naming the
stranger as host and reads the answer, the stay, the list, the notifications,
the fee order and their own access log. Each of those must be the same for
every kind of host; the host and the police keep the real workflow.
"""
from __future__ import annotations

import re
from types import SimpleNamespace
from typing import Any

import pytest

from identity.accounts.models import LOCKED, PENDING_REVIEW
from tests.api.test_residence import POLICE, STAYS, citizen_token, officer_token, stay_json
from tests.factories import add_account, add_citizen
from tests.flows import PASSCODE, bearer
from tests.utilities.residence.helpers import events

#: An id the registry does not know (well formed).
UNKNOWN_ID = "001099999997"
#: Keys whose values differ between any two declarations (the new rows' ids, the times).
VARYING = {"id", "stay_id", "order_id", "previous_id", "renews", "created_at", "occurred_at",
           "actor", "device_id"}
#: Row ids inside text ("account:5", "temporary_stay:2") and long numbers differ too.
NUMBERS = re.compile(r"(?<=:)\d+|\d{6,}")


pytestmark = pytest.mark.usefixtures("tuesday")  # every test starts on Tuesday (conftest.py)


def _blank(value: Any) -> Any:
    """``value`` with the varying fields blanked, recursively (canonical for comparison)."""
    if isinstance(value, dict):
        return {key: "*" if key in VARYING else _blank(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_blank(item) for item in value]
    if isinstance(value, str):
        return NUMBERS.sub("#", value)
    return value


@pytest.fixture()
def hosts(client: Any, db_session: Any, protector: Any) -> dict[str, Any]:
    """One host's id of each kind, and the logged-in host with an active account."""
    active, active_token = citizen_token(client, db_session, protector)
    return {
        "active": active.personal_id,
        "no_account": add_citizen(db_session, protector).personal_id,
        "unknown": UNKNOWN_ID,
        "locked": add_account(db_session, protector, status=LOCKED).citizen.personal_id,
        "pending": add_account(db_session, protector, status=PENDING_REVIEW).citizen.personal_id,
        "active_auth": bearer(active_token),
    }


KINDS = ("active", "no_account", "unknown", "locked", "pending")


def _declarant_sees(client: Any, auth: dict[str, str], stay_id: int) -> dict[str, Any]:
    """Everything the declarant reads about their stay and themselves."""
    listed = client.get(STAYS, headers=auth).get_json()
    return {
        "one": client.get(f"{STAYS}/{stay_id}", headers=auth).get_json(),
        "list": listed,
        "notifications": client.get("/api/v1/me/notifications", headers=auth).get_json(),
        "orders": client.get("/api/v1/payments", headers=auth).get_json(),
        "access_log": client.get("/api/v1/me/access-log", headers=auth).get_json(),
    }


@pytest.fixture()
def declared(client: Any, db_session: Any, protector: Any,
             hosts: dict[str, Any]) -> dict[str, Any]:
    """For each kind of host, a new declarant's stay naming them: (auth, 201 answer)."""
    made = {}
    for kind in KINDS:
        _declarant, token = citizen_token(client, db_session, protector)
        auth = bearer(token)
        answer = client.post(STAYS, headers=auth,
                             json=stay_json(SimpleNamespace(personal_id=hosts[kind])))
        assert answer.status_code == 201, answer.get_json()
        made[kind] = (auth, answer)
    return made


def test_the_declarant_sees_the_same_for_every_kind_of_host(
        client: Any, db_session: Any, declared: dict[str, Any]) -> None:
    """The 201 body, the stay, the list, notifications, fee order and access log are alike."""
    seen = {}
    for kind, (auth, answer) in declared.items():
        body = answer.get_json()
        assert (body["status"], body["host_check"], body["decide_by"],
                body["submitted_at"], body["allowed_actions"]) == (
            "awaiting_host", "host", None, None, ["withdraw"]), kind
        seen[kind] = _blank({"answer": body, "code": answer.status_code,
                             **_declarant_sees(client, auth, body["id"])})
    for kind in KINDS[1:]:
        assert seen[kind] == seen["active"], kind
    # Something to compare: the stay, its history, its fee order and its audit event.
    one = seen["active"]
    assert [(h["action"], h["to_state"]) for h in one["one"]["history"]] == [
        ("create", "awaiting_host")]
    assert one["list"]["total"] == 1 and one["orders"]["total"] == 1
    declared_events = [e for e in one["access_log"]["items"]
                       if e["action"] == "residence.stay_declared"]
    assert len(declared_events) == 1 and "host_check" not in declared_events[0]["details"]
    # The real states are kept for the host and the police.
    assert {e.details.get("host_check") for e in events(db_session, "residence.stay_declared")
            } == {None}


def test_the_workflow_keeps_its_real_course(client: Any, db_session: Any, protector: Any,
                                            hosts: dict[str, Any],
                                            declared: dict[str, Any]) -> None:
    """The host with the app confirms; the police check the others in person; afterwards the
    declarants still see alike (submitted, host confirmed, a deadline, one notification)."""
    ids = {kind: answer.get_json()["id"] for kind, (_auth, answer) in declared.items()}
    officer = bearer(officer_token(client, db_session, protector, "view.officer"))
    # The host with an active account is asked, and only for their stay.
    pending = client.get("/api/v1/residence/host-confirmations", headers=hosts["active_auth"])
    assert [item["id"] for item in pending.get_json()["items"]] == [ids["active"]]
    # The police see the real states and check the other hosts in person.
    queue = client.get(f"{POLICE}/stays", headers=officer).get_json()
    assert {item["id"]: (item["status"], item["host_check"]) for item in queue["items"]} == {
        ids[kind]: ("awaiting_check", "in_person") for kind in KINDS[1:]}
    for kind in KINDS[1:]:
        opened = client.get(f"{POLICE}/stays/{ids[kind]}", headers=officer).get_json()
        assert (opened["status"], opened["allowed_actions"]) == (
            "awaiting_check", ["check_host", "reject"])
        assert opened["decide_by"] is not None
        checked = client.post(f"{POLICE}/stays/{ids[kind]}/actions", headers=officer,
                              json={"action": "check_host", "reason": "Chủ nhà xác nhận"})
        assert checked.status_code == 200 and checked.get_json()["status"] == "submitted"
    opened = client.get(f"{POLICE}/stays/{ids['active']}", headers=officer).get_json()
    assert (opened["status"], opened["host_check"]) == ("awaiting_host", "app")
    confirmed = client.post(f"/api/v1/residence/host-confirmations/{ids['active']}",
                            headers=hosts["active_auth"],
                            json={"decision": "confirm", "passcode": PASSCODE})
    assert confirmed.status_code == 200 and confirmed.get_json()["status"] == "submitted"
    # After the host's confirmation, by whichever way, the declarant's stay reads alike.
    views = {}
    for kind, (auth, _answer) in declared.items():
        one = client.get(f"{STAYS}/{ids[kind]}", headers=auth).get_json()
        assert (one["status"], one["host_check"]) == ("submitted", "host"), kind
        assert one["submitted_at"] is not None and one["decide_by"] is not None, kind
        assert [(h["action"], h["from_state"], h["to_state"], h["role"], h["by"], h["note"])
                for h in one["history"]] == [
            ("create", None, "awaiting_host", "citizen", one["history"][0]["by"], None),
            ("confirm_host", "awaiting_host", "submitted", "host", "host", None)], kind
        notes = client.get("/api/v1/me/notifications", headers=auth).get_json()
        views[kind] = _blank({"one": {k: v for k, v in one.items()
                                      if k not in ("submitted_at", "decide_by")},
                              "notifications": [n for n in notes["items"]
                                                if n["kind"] == "residence.stay_host_answer"]})
        assert len(views[kind]["notifications"]) == 1, kind
    for kind in KINDS[1:]:
        assert views[kind] == views["active"], kind
    # The officers' history keeps who did it.
    opened = client.get(f"{POLICE}/stays/{ids['unknown']}", headers=officer).get_json()
    assert [h["action"] for h in opened["history"]] == ["create", "check_host"]
    _renewals_read_alike(client, officer, declared, ids)


def _renewals_read_alike(client: Any, officer: dict[str, str], declared: dict[str, Any],
                         ids: dict[str, int]) -> None:
    """Approved and renewed, each stay's renewal (and its fee order) reads alike."""
    seen = {}
    for kind, (auth, _answer) in declared.items():
        approved = client.post(f"{POLICE}/stays/{ids[kind]}/actions", headers=officer,
                               json={"action": "approve"})
        assert approved.status_code == 200, approved.get_json()
        renewal = client.post(f"{STAYS}/{ids[kind]}/renew", headers=auth,
                              json={"end_date": "2028-06-01"})
        assert renewal.status_code == 201, renewal.get_json()
        body = renewal.get_json()
        assert (body["status"], body["host_check"], body["decide_by"]) == (
            "awaiting_host", "host", None), kind
        orders = client.get("/api/v1/payments", headers=auth).get_json()
        seen[kind] = _blank({"renewal": body, "orders": orders,
                             "one": client.get(f"{STAYS}/{body['id']}", headers=auth).get_json()})
    assert seen["active"]["orders"]["total"] == 2
    for kind in KINDS[1:]:
        assert seen[kind] == seen["active"], kind


def test_a_withdrawal_reads_alike(client: Any, declared: dict[str, Any]) -> None:
    """Withdrawn while waiting for the host: the same body and history for every host."""
    seen = {}
    for kind, (auth, answer) in declared.items():
        stay_id = answer.get_json()["id"]
        withdrawn = client.post(f"{STAYS}/{stay_id}/withdraw", headers=auth, json={})
        assert withdrawn.status_code == 200, withdrawn.get_json()
        seen[kind] = _blank({"answer": withdrawn.get_json(),
                             "one": client.get(f"{STAYS}/{stay_id}", headers=auth).get_json()})
    assert seen["active"]["one"]["history"][-1]["from_state"] == "awaiting_host"
    for kind in KINDS[1:]:
        assert seen[kind] == seen["active"], kind


def test_renewing_a_stay_not_approved_names_the_shown_state(
        client: Any, declared: dict[str, Any]) -> None:
    """The 409 of a renewal lists the state the declarant is shown, never the real one."""
    for kind, (auth, answer) in declared.items():
        refused = client.post(f"{STAYS}/{answer.get_json()['id']}/renew", headers=auth,
                              json={"end_date": "2028-06-01"})
        body = refused.get_json()
        assert (refused.status_code, body["code"], body["errors"]["status"]) == (
            409, "residence.not_renewable", ["awaiting_host"]), kind
