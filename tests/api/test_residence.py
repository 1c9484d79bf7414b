"""Residence declarations through the HTTP API: citizen, host and police, with their rules."""
from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from identity.audit.models import AuditEvent
from tests.factories import add_citizen, add_issuer_key
from tests.flows import (PASSCODE, Holder, assert_error, bearer, create_officer,
                         logged_in_officer)
from tests.utilities.residence.helpers import (OTHER_COMMUNE, STAY_COMMUNE, TUESDAY, events,
                                               hcm_commune)

STAYS = "/api/v1/residence/stays"
POLICE = "/api/v1/police/residence"


pytestmark = pytest.mark.usefixtures("tuesday")  # every test starts on Tuesday (conftest.py)


def citizen_token(client: Any, db_session: Any, protector: Any) -> tuple[Any, str]:
    """A registered, logged-in citizen of Phường Hoàn Kiếm, and their access token."""
    held = Holder.make(client, db_session, protector)
    return held.record, held.token


def officer_token(client: Any, db_session: Any, protector: Any, username: str,
                  **unit: Any) -> str:
    """An officer (by default of the stay's commune) logged in."""
    unit.setdefault("commune_code", STAY_COMMUNE)
    return logged_in_officer(client, db_session, protector, username=username, **unit).token


def stay_json(host: Any, **overrides: Any) -> dict[str, Any]:
    return {"commune_code": STAY_COMMUNE, "address": "Số 12, ngõ 5, phố Huế",
            "start_date": "2026-12-01", "end_date": "2027-11-30", "reason": "Đi làm",
            "host_personal_id": host.personal_id, **overrides}


@pytest.fixture()
def parties(client: Any, db_session: Any, protector: Any) -> dict[str, Any]:
    """A declarant and a host, logged in, and the commune's officer."""
    declarant, declarant_token = citizen_token(client, db_session, protector)
    host, host_token = citizen_token(client, db_session, protector)
    return {"declarant": declarant, "citizen": bearer(declarant_token), "host": host,
            "host_auth": bearer(host_token),
            "officer": bearer(officer_token(client, db_session, protector, "res.officer"))}


def declared(client: Any, parties: dict[str, Any], host: Any = None, **overrides: Any) -> Any:
    answer = client.post(STAYS, headers=parties["citizen"],
                         json=stay_json(host or parties["host"], **overrides))
    assert answer.status_code == 201, answer.get_json()
    return answer.get_json()


def test_declared_confirmed_approved_and_on_the_record(client: Any, db_session: Any,
                                                       parties: dict[str, Any]) -> None:
    stay = declared(client, parties)
    # The declarant's view: the same for a host of any kind (stay_view); the host answers.
    assert (stay["status"], stay["host_check"], stay["decide_by"]) == ("awaiting_host", "host",
                                                                       None)
    assert stay["allowed_actions"] == ["withdraw"]
    pending = client.get("/api/v1/residence/host-confirmations", headers=parties["host_auth"])
    assert pending.status_code == 200
    [item] = pending.get_json()["items"]
    assert (item["id"], item["declarant_name"]) == (stay["id"], parties["declarant"].full_name)
    assert "personal_id" not in item
    answer = client.post(f"/api/v1/residence/host-confirmations/{stay['id']}",
                         headers=parties["host_auth"],
                         json={"decision": "confirm", "passcode": PASSCODE})
    assert answer.status_code == 200 and answer.get_json()["status"] == "submitted"
    # The police's queue holds it, without personal data.
    queue = client.get(f"{POLICE}/stays", headers=parties["officer"]).get_json()
    assert [i["id"] for i in queue["items"]] == [stay["id"]] and queue["total"] == 1
    assert "personal_id" not in str(queue)
    opened = client.get(f"{POLICE}/stays/{stay['id']}", headers=parties["officer"])
    assert opened.status_code == 200
    body = opened.get_json()
    assert body["declarant"]["personal_id"] == parties["declarant"].personal_id
    assert body["allowed_actions"] == ["approve", "reject"]
    assert [h["action"] for h in body["history"]] == ["create", "confirm_host"]
    approved = client.post(f"{POLICE}/stays/{stay['id']}/actions", headers=parties["officer"],
                           json={"action": "approve", "version": body["version"]})
    assert approved.status_code == 200 and approved.get_json()["status"] == "approved"
    mine = client.get(f"{STAYS}/{stay['id']}", headers=parties["citizen"]).get_json()
    assert (mine["status"], mine["in_force"]) == ("approved", True)
    assert mine["decide_by"] == "2026-12-04T16:59:59+00:00"
    assert [h["action"] for h in mine["history"]] == ["create", "confirm_host", "approve"]
    current = client.get("/api/v1/residence/current", headers=parties["citizen"])
    assert current.status_code == 200
    assert (current.get_json()["commune_code"], current.get_json()["end_date"]) == (
        STAY_COMMUNE, "2027-11-30")
    # The officer's read is in the declarant's access log, naming the unit.
    log = client.get("/api/v1/me/access-log", headers=parties["citizen"]).get_json()["items"]
    reads = [e for e in log if e["action"] == "residence.stay_read"]
    assert [e["by"] for e in reads] == ["Công an Thành phố Hà Nội"]
    notes = client.get("/api/v1/me/notifications", headers=parties["citizen"]).get_json()
    assert any(n["kind"] == "residence.stay_decided" for n in notes["items"])


def test_no_current_residence_is_a_409(client: Any, parties: dict[str, Any]) -> None:
    assert_error(client.get("/api/v1/residence/current", headers=parties["citizen"]), 409,
                 "residence.none")


def test_a_wrong_host_passcode_changes_nothing(client: Any, parties: dict[str, Any]) -> None:
    stay = declared(client, parties)
    answer = client.post(f"/api/v1/residence/host-confirmations/{stay['id']}",
                         headers=parties["host_auth"],
                         json={"decision": "confirm", "passcode": "135790"})
    assert_error(answer, 401, "passcode.wrong")
    mine = client.get(f"{STAYS}/{stay['id']}", headers=parties["citizen"]).get_json()
    assert mine["status"] == "awaiting_host"


def test_other_citizens_and_officers_get_404(client: Any, db_session: Any, protector: Any,
                                             parties: dict[str, Any]) -> None:
    stay = declared(client, parties)
    _, stranger = citizen_token(client, db_session, protector)
    for path in (f"{STAYS}/{stay['id']}", f"{STAYS}/999999"):
        assert_error(client.get(path, headers=bearer(stranger)), 404,
                     "residence.stay_not_found")
    assert_error(client.post(f"{STAYS}/{stay['id']}/withdraw", headers=bearer(stranger),
                             json={}), 404, "residence.stay_not_found")
    # The host answers, but does not read the declarant's case.
    assert_error(client.get(f"{STAYS}/{stay['id']}", headers=parties["host_auth"]), 404,
                 "residence.stay_not_found")
    for username, unit in (("res.neighbour", {"commune_code": OTHER_COMMUNE}),
                           ("res.hcm", {"province_code": "79", "commune_code": hcm_commune()})):
        token = bearer(officer_token(client, db_session, protector, username, **unit))
        assert_error(client.get(f"{POLICE}/stays/{stay['id']}", headers=token), 404,
                     "residence.stay_not_found")
        assert_error(client.post(f"{POLICE}/stays/{stay['id']}/actions", headers=token,
                                 json={"action": "reject", "reason": "Không rõ"}), 404,
                     "residence.stay_not_found")
    assert events(db_session, "residence.stay_read") == []
    # A citizen's token on the police side, and the other way round, is refused.
    assert_error(client.get(f"{POLICE}/stays", headers=parties["citizen"]), 403,
                 "auth.officer_only")
    assert_error(client.get(STAYS, headers=parties["officer"]), 403, "auth.citizen_only")


def test_refused_transitions_are_409_with_the_allowed_ones(client: Any,
                                                           parties: dict[str, Any]) -> None:
    stay = declared(client, parties, host=parties["declarant"])  # own place: at the police
    path = f"{POLICE}/stays/{stay['id']}/actions"
    assert_error(client.post(path, headers=parties["officer"], json={"action": "reject"}),
                 422, "reason.required")
    assert client.post(path, headers=parties["officer"],
                       json={"action": "approve"}).status_code == 200
    body = assert_error(client.post(path, headers=parties["officer"],
                                    json={"action": "reject", "reason": "Sai"}), 409,
                        "workflow.transition_not_allowed")
    assert body["errors"]["allowed"] == []
    body = assert_error(client.post(f"{STAYS}/{stay['id']}/withdraw",
                                    headers=parties["citizen"], json={}), 409,
                        "workflow.transition_not_allowed")
    assert body["errors"]["status"] == ["approved"]
    assert_error(client.post(path, headers=parties["officer"], json={"action": "teleport"}),
                 422, "request.invalid")


def test_acting_on_a_version_someone_changed_is_a_409(client: Any, db_session: Any,
                                                      protector: Any,
                                                      parties: dict[str, Any]) -> None:
    stay = declared(client, parties, host=parties["declarant"])
    other = bearer(officer_token(client, db_session, protector, "res.other.officer"))
    path = f"{POLICE}/stays/{stay['id']}/actions"
    seen = stay["version"]
    first = client.post(path, headers=other, json={"action": "approve", "version": seen})
    assert first.status_code == 200
    assert_error(client.post(path, headers=parties["officer"],
                             json={"action": "reject", "reason": "Trùng", "version": seen}),
                 409, "workflow.case_changed")


@pytest.mark.parametrize(("change", "code", "field"), [
    ({"commune_code": "99999"}, "commune.unknown", "commune_code"),
    ({"start_date": "2026-11-30"}, "period.start_past", "start_date"),
    ({"end_date": "2028-12-02"}, "period.too_long", "end_date"),
    ({"reason": "Đi\u0007 làm"}, "text.control_characters", "reason"),
    ({"address": "Số 1\u200b"}, "text.control_characters", "address"),
    ({"host_personal_id": "12345"}, "personal_id.length", "host_personal_id"),
    ({"start_date": "01/12/2026"}, "request.invalid", "start_date"),
])
def test_bad_input_is_a_422_naming_the_field(client: Any, parties: dict[str, Any],
                                             change: dict[str, Any], code: str,
                                             field: str) -> None:
    answer = client.post(STAYS, headers=parties["citizen"],
                         json=stay_json(parties["host"], **change))
    body = assert_error(answer, 422, code)
    assert field in body["errors"]


def test_overdue_view_for_supervisors_with_a_moved_clock(client: Any, db_session: Any,
                                                         protector: Any,
                                                         parties: dict[str, Any],
                                                         tuesday: Any) -> None:
    stay = declared(client, parties, host=parties["declarant"])
    assert_error(client.get(f"{POLICE}/overdue", headers=parties["officer"]), 403,
                 "residence.supervisor_only")
    chief = create_officer(db_session, protector, username="res.chief", role="supervisor")
    tuesday.move_to(TUESDAY + dt.timedelta(days=6))  # the following Monday
    token = bearer(chief.log_in(client))
    overdue = client.get(f"{POLICE}/overdue", headers=token).get_json()
    assert (overdue["kind"], [i["id"] for i in overdue["items"]]) == ("temporary_stay",
                                                                      [stay["id"]])
    queue = client.get(f"{POLICE}/stays?overdue=true", headers=token).get_json()
    assert queue["items"][0]["overdue"] is True
    assert client.get(f"{POLICE}/overdue?kind=absence",
                      headers=token).get_json()["items"] == []


def test_renewal_through_the_api(client: Any, parties: dict[str, Any]) -> None:
    stay = declared(client, parties, host=parties["declarant"])
    client.post(f"{POLICE}/stays/{stay['id']}/actions", headers=parties["officer"],
                json={"action": "approve"})
    renewal = client.post(f"{STAYS}/{stay['id']}/renew", headers=parties["citizen"],
                          json={"end_date": "2028-06-30"})
    assert renewal.status_code == 201, renewal.get_json()
    assert (renewal.get_json()["previous_id"], renewal.get_json()["start_date"]) == (
        stay["id"], "2027-12-01")
    listed = client.get(STAYS, headers=parties["citizen"]).get_json()
    assert [i["id"] for i in listed["items"]] == [renewal.get_json()["id"], stay["id"]]


def test_absence_declared_and_acknowledged(client: Any, db_session: Any, protector: Any,
                                           parties: dict[str, Any]) -> None:
    answer = client.post("/api/v1/residence/absences", headers=parties["citizen"],
                         json={"start_date": "2026-12-05", "end_date": "2027-03-01",
                               "reason": "Đi học", "destination": "Thành phố Huế"})
    assert answer.status_code == 201, answer.get_json()
    absence = answer.get_json()
    assert (absence["status"], absence["commune_code"]) == ("declared", "00070")
    home = bearer(officer_token(client, db_session, protector, "res.home",
                                commune_code="00070"))
    assert_error(client.post(f"{POLICE}/absences/{absence['id']}/actions",
                             headers=parties["officer"], json={"action": "acknowledge"}),
                 404, "residence.absence_not_found")
    queue = client.get(f"{POLICE}/absences", headers=home).get_json()
    assert [i["id"] for i in queue["items"]] == [absence["id"]]
    read = client.get(f"{POLICE}/absences/{absence['id']}", headers=home).get_json()
    assert read["citizen"]["personal_id"] == parties["declarant"].personal_id
    done = client.post(f"{POLICE}/absences/{absence['id']}/actions", headers=home,
                       json={"action": "acknowledge"})
    assert done.get_json()["status"] == "acknowledged"
    mine = client.get(f"/api/v1/residence/absences/{absence['id']}",
                      headers=parties["citizen"]).get_json()
    assert [h["action"] for h in mine["history"]] == ["create", "acknowledge"]
    assert_error(client.post(f"/api/v1/residence/absences/{absence['id']}/withdraw",
                             headers=parties["citizen"], json={}), 409,
                 "workflow.transition_not_allowed")


def test_lodging_notice_and_who_stays_where(client: Any, db_session: Any, protector: Any,
                                            parties: dict[str, Any]) -> None:
    guest = add_citizen(db_session, protector)
    rows = [{"personal_id": guest.personal_id, "arrival": "2026-12-01",
             "departure": "2026-12-03"},
            {"personal_id": "001099999997", "arrival": "2026-12-01",
             "departure": "2026-12-03"}]
    notice = {"commune_code": STAY_COMMUNE, "address": "Số 3, phố Huế", "guests": rows}
    body = assert_error(client.post("/api/v1/residence/lodging-notices",
                                    headers=parties["host_auth"],
                                    json={**notice, "guests": [{**rows[0],
                                                                "personal_id": "12"}]}),
                        422, "personal_id.length")
    assert "guests" in body["errors"]
    too_many = {**notice, "guests": [rows[0]] * 51}
    assert_error(client.post("/api/v1/residence/lodging-notices", headers=parties["host_auth"],
                             json=too_many), 422, "request.invalid")
    sent = client.post("/api/v1/residence/lodging-notices", headers=parties["host_auth"],
                       json=notice)
    assert sent.status_code == 201 and sent.get_json()["guest_count"] == 2
    staying = client.get(f"{POLICE}/lodging?on=2026-12-02", headers=parties["officer"])
    assert staying.status_code == 200
    shown = {item["personal_id"]: item for item in staying.get_json()["items"]}
    assert (shown[guest.personal_id]["address"], shown[guest.personal_id]["review_state"],
            shown[guest.personal_id]["in_registry"]) == ("Số 3, phố Huế", None, True)
    logged = events(db_session, "residence.lodging_read", guest.id)
    assert len(logged) == 1 and isinstance(logged[0], AuditEvent)
    # The unknown id waits for the police's review: listed with review=pending, then cleared.
    queue = client.get(f"{POLICE}/lodging?review=pending", headers=parties["officer"])
    [pending] = queue.get_json()["items"]
    assert (pending["personal_id"], pending["review_reason"], pending["in_registry"]) == (
        "001099999997", "unknown_id", False)
    reviewed = client.post(f"{POLICE}/lodging/guests/{pending['guest_id']}/review",
                           headers=parties["officer"], json={"outcome": "cleared"})
    assert reviewed.status_code == 200 and reviewed.get_json()["review_state"] == "cleared"
    assert_error(client.post(f"{POLICE}/lodging/guests/{pending['guest_id']}/review",
                             headers=parties["officer"], json={"outcome": "flagged"}),
                 409, "residence.guest_not_in_review")
    neighbour = bearer(officer_token(client, db_session, protector, "res.lodging.neighbour",
                                     commune_code=OTHER_COMMUNE))
    assert_error(client.post(f"{POLICE}/lodging/guests/{pending['guest_id']}/review",
                             headers=neighbour, json={"outcome": "flagged"}),
                 404, "residence.guest_not_found")
    assert_error(client.post(f"{POLICE}/lodging/guests/999999/review",
                             headers=parties["officer"], json={"outcome": "flagged"}),
                 404, "residence.guest_not_found")
    beyond = client.post(f"{POLICE}/lodging/guests/{'9' * 40}/review",  # beyond 64 bits
                         headers=parties["officer"], json={"outcome": "flagged"})
    assert beyond.status_code == 404


def test_the_openapi_document_describes_the_residence_routes(client: Any) -> None:
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    for path, method in (("/api/v1/residence/stays", "post"),
                         ("/api/v1/residence/host-confirmations/{stay_id}", "post"),
                         ("/api/v1/police/residence/stays/{stay_id}/actions", "post"),
                         ("/api/v1/police/residence/overdue", "get"),
                         ("/api/v1/police/residence/lodging", "get")):
        operation = paths[path][method]
        assert operation["security"] == [{"bearerAuth": []}]
        assert "200" in operation["responses"] or "201" in operation["responses"]
    assert not any("personal_id" in path for path in paths)


def test_an_approved_stay_is_issued_as_a_residence_credential(
        client: Any, db_session: Any, protector: Any, parties: dict[str, Any]) -> None:
    add_issuer_key(db_session, protector)
    issue = {"type": "residence", "passcode": PASSCODE}
    assert_error(client.post("/api/v1/credentials", headers=parties["citizen"], json=issue),
                 409, "residence.none")
    stay = declared(client, parties, host=parties["declarant"])
    client.post(f"{POLICE}/stays/{stay['id']}/actions", headers=parties["officer"],
                json={"action": "approve"})
    issued = client.post("/api/v1/credentials", headers=parties["citizen"], json=issue)
    assert issued.status_code == 201, issued.get_json()
    assert issued.get_json()["type"] == "residence"
    assert issued.get_json()["qr"].startswith("VN1:")
    checked = client.post("/api/v1/credentials/verify", headers=parties["officer"],
                          json={"qr": issued.get_json()["qr"]}).get_json()
    assert checked["valid"] is True, checked
    assert checked["claims"] == {
        "id": parties["declarant"].personal_id, "nm": parties["declarant"].full_name,
        "addr": "Số 12, ngõ 5, phố Huế", "cm": STAY_COMMUNE, "fr": "2026-12-01",
        "to": "2027-11-30"}
