"""Incident reports through the HTTP API: citizens, officers, anonymity, evidence, races."""
from __future__ import annotations

import datetime as dt
import io
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
import time_machine

from identity import clock
from identity.registry import admin_units
from utilities.reports import indicators
from tests.flows import assert_error
from tests.utilities.reports.helpers import (GIF, HANOI, HCM, HOAN_KIEM, JPEG, MP4, PDF, PNG,
                                             Cop, Person, citizen, file_report, officer,
                                             report_body, with_key)

CASE = re.compile(r"^TG-20[0-9]{2}-[0-9A-HJKMNP-TV-Z]{8}$")


def other_hanoi_commune() -> str:
    """A commune of Hà Nội other than Hoàn Kiếm."""
    return next(c.code for c in admin_units.communes_by_province()[HANOI] if c.code != HOAN_KIEM)


def hcm_commune() -> str:
    """A commune of Hồ Chí Minh City."""
    return admin_units.communes_by_province()[HCM][0].code


@pytest.fixture()
def reporter(client: Any, db_session: Any, protector: Any) -> Person:
    """A citizen of Hoàn Kiếm with a distinctive name, logged in."""
    return citizen(client, db_session, protector, full_name="Phạm Thị Tố Giác")


@pytest.fixture()
def cop(client: Any, db_session: Any, protector: Any) -> Cop:
    """An officer of Hoàn Kiếm."""
    return officer(client, db_session, protector, "cop.hoankiem")


def police(client: Any, who: Cop, method: str, case: str, path: str = "",
           **body: Any) -> Any:
    """A call of the police side on one case."""
    url = f"/api/v1/police/reports/{case}{path}"
    if method == "GET":
        return client.get(url, headers=who.headers)
    return client.post(url, headers=who.headers, json=body)


def act(client: Any, who: Cop, case: str, action: str, **extra: Any) -> Any:
    """A status change."""
    return police(client, who, "POST", case, "/status", action=action, **extra)


def upload(client: Any, person: Person, case: str, data: bytes, name: str = "photo.jpg",
           content_type: str = "image/jpeg", key: str | None = None) -> Any:
    """Upload an evidence file (to an anonymous case: with its reporter ``key``)."""
    return client.post(f"/api/v1/reports/{case}/evidence", headers=with_key(person, key),
                       data={"file": (io.BytesIO(data), name, content_type)},
                       content_type="multipart/form-data")


# --- Filing and following -----------------------------------------------------------------------

def test_a_citizen_files_a_report_and_follows_it(client: Any, reporter: Person) -> None:
    filed = file_report(client, reporter)
    assert CASE.match(filed["case_number"])
    assert filed["status"] == "received"
    assert [(e["action"], e["status"]) for e in filed["timeline"]] == [("create", "received")]
    assert {(i["kind"], i["value"]) for i in filed["indicators"]} == {
        ("phone", "+84912345678"), ("link", "vay-nhanh.example/app")}
    listing = client.get("/api/v1/reports", headers=reporter.headers).get_json()
    assert [r["case_number"] for r in listing["items"]] == [filed["case_number"]]
    timeline = client.get(f"/api/v1/reports/{filed['case_number']}", headers=reporter.headers)
    assert timeline.status_code == 200 and timeline.get_json()["category"] == "fraud"
    notes = client.get("/api/v1/me/notifications", headers=reporter.headers).get_json()["items"]
    assert notes[0]["kind"] == "report.filed" and filed["case_number"] in notes[0]["text"]


def test_done_when_anonymous_scam_question_answer_close_timeline(
        client: Any, reporter: Person, cop: Cop) -> None:
    filed = file_report(client, reporter, anonymous=True)
    case, mine = filed["case_number"], with_key(reporter, filed["reporter_key"])
    queue = client.get("/api/v1/police/reports", headers=cop.headers).get_json()
    assert [item["case_number"] for item in queue["items"]] == [case]
    asked = police(client, cop, "POST", case, "/questions",
                   text="Which number called you, and at what time?")
    assert asked.status_code == 201, asked.get_json()
    # No notification names an anonymous case: the app polls it with its key.
    notes = client.get("/api/v1/me/notifications", headers=reporter.headers).get_json()["items"]
    assert [n["kind"] for n in notes] == ["account.registered"]
    assert client.get(f"/api/v1/reports/{case}", headers=mine).get_json()["awaiting_answer"]
    answered = client.post(f"/api/v1/reports/{case}/messages", headers=mine,
                           json={"text": "0912 345 678, around 9 in the morning."})
    assert answered.status_code == 201, answered.get_json()
    assert not answered.get_json()["awaiting_answer"]
    for action in ("verify", "investigate"):
        assert act(client, cop, case, action).status_code == 200
    closed = act(client, cop, case, "close", outcome="The number was blocked; case referred.")
    assert closed.status_code == 200, closed.get_json()
    seen = client.get(f"/api/v1/reports/{case}", headers=mine).get_json()
    assert seen["status"] == "closed" and seen["reporter_key"] is None
    assert seen["resolution"] == "The number was blocked; case referred."
    assert [(e["action"], e["status"]) for e in seen["timeline"]] == [
        ("create", "received"), ("ask", "received"), ("answer", "received"),
        ("verify", "verifying"), ("investigate", "investigating"), ("close", "closed")]
    assert seen["timeline"][1]["text"] == "Which number called you, and at what time?"
    assert seen["timeline"][2]["text"] == "0912 345 678, around 9 in the morning."
    assert seen["timeline"][1]["by"].startswith("Công an")
    assert seen["timeline"][2]["by"] is None
    officer_view = police(client, cop, "GET", case).get_json()
    assert [e["action"] for e in officer_view["history"]][1:3] == ["ask", "answer"]
    notes = client.get("/api/v1/me/notifications", headers=reporter.headers).get_json()["items"]
    assert not [n for n in notes if n["kind"].startswith("report.") or case in n["text"]]


def test_location_unknown_goes_to_the_province_queue_of_the_reporters_residence(
        client: Any, db_session: Any, protector: Any, reporter: Person, cop: Cop) -> None:
    filed = file_report(client, reporter, commune_code=None, address=None,
                        location_unknown=True)
    assert (filed["province_code"], filed["commune_code"]) == (HANOI, None)
    province_cop = officer(client, db_session, protector, "cop.hanoi", commune_code=None)
    cases = client.get("/api/v1/police/reports", headers=province_cop.headers).get_json()
    assert [c["case_number"] for c in cases["items"]] == [filed["case_number"]]
    # A commune officer does not work the province-level queue.
    assert client.get("/api/v1/police/reports", headers=cop.headers).get_json()["items"] == []
    assert_error(police(client, cop, "GET", filed["case_number"]), 404, "report.not_found")


def test_a_report_on_behalf_of_an_organisation(client: Any, reporter: Person, cop: Cop) -> None:
    filed = file_report(client, reporter, category="fire_hazard", scam_phones=[], scam_links=[],
                        organisation={"name": "Công ty TNHH An Bình", "tax_code": "0101234567"})
    seen = police(client, cop, "GET", filed["case_number"]).get_json()
    assert seen["organisation"] == {"name": "Công ty TNHH An Bình", "tax_code": "0101234567"}
    refused = client.post("/api/v1/reports", headers=reporter.headers, json=report_body(
        anonymous=True, organisation={"name": "Công ty An Bình", "tax_code": "0101234567"}))
    assert_error(refused, 422, "report.anonymous_organisation")


@pytest.mark.parametrize("overrides, code, field", [
    ({"commune_code": "99999"}, "commune.unknown", "commune_code"),
    ({"commune_code": "12"}, "commune.unknown", "commune_code"),
    ({"occurred_at": "2199-01-01T00:00:00+07:00"}, "report.occurred_in_future", "occurred_at"),
    ({"occurred_at": "1990-01-01T00:00:00+07:00"}, "report.occurred_too_long_ago",
     "occurred_at"),
    ({"description": "A scam\u0000 call"}, "text.control_characters", "description"),
    ({"description": "A scam \u202e call"}, "text.control_characters", "description"),
    ({"address": "Số 1\nTràng Tiền"}, "text.control_characters", "address"),
    ({"description": "   "}, "text.empty", "description"),
    ({"category": "gossip"}, "request.invalid", "category"),
    ({"scam_phones": ["not a phone"]}, "indicator.phone_invalid", "scam_phones"),
    ({"scam_phones": ["12345"]}, "indicator.phone_invalid", "scam_phones"),
    ({"scam_links": ["ftp://files.example"]}, "indicator.link_invalid", "scam_links"),
    ({"commune_code": None}, "report.location_required", "commune_code"),
    ({"address": None}, "report.address_required", "address"),
    ({"location_unknown": True}, "report.location_conflict", "location_unknown"),
    ({"organisation": {"name": "An Bình", "tax_code": "12"}}, "organisation.tax_code",
     "organisation"),
])
def test_bad_input_is_422_naming_the_field(client: Any, reporter: Person,
                                           overrides: dict[str, Any], code: str,
                                           field: str) -> None:
    answer = client.post("/api/v1/reports", headers=reporter.headers,
                         json=report_body(**overrides))
    body = assert_error(answer, 422, code)
    assert field in body["errors"], body


def test_another_citizen_gets_404_on_every_citizen_endpoint(
        client: Any, db_session: Any, protector: Any, reporter: Person) -> None:
    case = file_report(client, reporter)["case_number"]
    assert upload(client, reporter, case, JPEG).status_code == 201
    other = citizen(client, db_session, protector)
    for answer in (
            client.get(f"/api/v1/reports/{case}", headers=other.headers),
            client.post(f"/api/v1/reports/{case}/messages", headers=other.headers,
                        json={"text": "hello"}),
            upload(client, other, case, JPEG),
            client.get(f"/api/v1/reports/{case}/evidence/1", headers=other.headers)):
        assert_error(answer, 404, "report.not_found")
    assert client.get("/api/v1/reports", headers=other.headers).get_json()["total"] == 0
    assert_error(client.get("/api/v1/reports/TG-2026-00000000", headers=reporter.headers),
                 404, "report.not_found")


def test_police_endpoints_refuse_citizens_and_citizen_endpoints_refuse_officers(
        client: Any, reporter: Person, cop: Cop) -> None:
    case = file_report(client, reporter)["case_number"]
    assert_error(client.get("/api/v1/police/reports", headers=reporter.headers), 403,
                 "auth.officer_only")
    assert_error(client.get(f"/api/v1/police/reports/{case}", headers=reporter.headers), 403,
                 "auth.officer_only")
    assert_error(client.post("/api/v1/reports", headers=cop.headers, json=report_body()), 403,
                 "auth.citizen_only")
    assert_error(client.get("/api/v1/police/reports"), 401, "auth.required")


# --- Jurisdiction, transfer --------------------------------------------------------------------

def test_officers_outside_the_jurisdiction_get_404_everywhere(
        client: Any, db_session: Any, protector: Any, reporter: Person, cop: Cop) -> None:
    case = file_report(client, reporter)["case_number"]
    assert upload(client, reporter, case, JPEG).status_code == 201
    strangers = [officer(client, db_session, protector, "cop.other",
                         commune_code=other_hanoi_commune()),
                 officer(client, db_session, protector, "cop.hcm", province_code=HCM,
                         commune_code=None, role="supervisor")]
    for stranger in strangers:
        assert client.get("/api/v1/police/reports", headers=stranger.headers
                          ).get_json()["items"] == []
        for answer in (police(client, stranger, "GET", case),
                       police(client, stranger, "POST", case, "/assign"),
                       police(client, stranger, "POST", case, "/questions", text="Hello?"),
                       act(client, stranger, case, "verify"),
                       police(client, stranger, "POST", case, "/transfer",
                              commune_code=hcm_commune(), reason="ours"),
                       police(client, stranger, "GET", case, "/reporter"),
                       police(client, stranger, "GET", case, "/evidence/1")):
            assert_error(answer, 404, "report.not_found")
    # The province's own officers (no commune) see every commune of it.
    hanoi = officer(client, db_session, protector, "cop.hanoi", commune_code=None)
    assert police(client, hanoi, "GET", case).status_code == 200


def test_a_transfer_moves_the_case_and_the_old_unit_loses_access(
        client: Any, db_session: Any, protector: Any, reporter: Person, cop: Cop) -> None:
    case = file_report(client, reporter)["case_number"]
    assert police(client, cop, "POST", case, "/assign").get_json()["assigned_to"] == cop.username
    target = other_hanoi_commune()
    assert_error(police(client, cop, "POST", case, "/transfer", commune_code="99999",
                        reason="wrong unit"), 422, "commune.unknown")
    assert_error(police(client, cop, "POST", case, "/transfer", commune_code=HOAN_KIEM,
                        reason="same"), 422, "report.transfer_same_unit")
    assert_error(police(client, cop, "POST", case, "/transfer", province_code=HCM,
                        commune_code=HOAN_KIEM, reason="mismatch"), 422, "commune.unknown")
    moved = police(client, cop, "POST", case, "/transfer", commune_code=target,
                   reason="It happened across the river.")
    assert moved.status_code == 200, moved.get_json()
    assert (moved.get_json()["commune_code"], moved.get_json()["assigned_to"]) == (target, None)
    assert_error(police(client, cop, "GET", case), 404, "report.not_found")
    assert_error(act(client, cop, case, "verify"), 404, "report.not_found")
    newcomer = officer(client, db_session, protector, "cop.target", commune_code=target)
    assert police(client, newcomer, "GET", case).status_code == 200
    assert act(client, newcomer, case, "verify").status_code == 200
    timeline = client.get(f"/api/v1/reports/{case}", headers=reporter.headers).get_json()
    assert "transfer" in [e["action"] for e in timeline["timeline"]]
    notes = client.get("/api/v1/me/notifications", headers=reporter.headers).get_json()["items"]
    assert "report.transferred" in [n["kind"] for n in notes]


# --- The state machine -------------------------------------------------------------------------

def test_transitions_not_allowed_now_are_409_listing_the_allowed_ones(
        client: Any, reporter: Person, cop: Cop) -> None:
    case = file_report(client, reporter)["case_number"]
    body = assert_error(act(client, cop, case, "close", outcome="done"), 409,
                        "workflow.transition_not_allowed")
    assert body["errors"]["allowed"] == ["reject", "verify"]
    assert body["errors"]["status"] == ["received"]
    assert_error(act(client, cop, case, "reject"), 422, "report.reason_required")
    assert act(client, cop, case, "reject", reason="Not an offence.").status_code == 200
    for action, extra in (("verify", {}), ("reject", {"reason": "again"}),
                          ("close", {"outcome": "x"})):
        body = assert_error(act(client, cop, case, action, **extra), 409,
                            "workflow.transition_not_allowed")
        assert body["errors"]["allowed"] == []
    assert_error(police(client, cop, "POST", case, "/questions", text="Still there?"), 409,
                 "workflow.transition_not_allowed")
    assert_error(client.post(f"/api/v1/reports/{case}/messages", headers=reporter.headers,
                             json={"text": "Hello?"}), 409, "workflow.transition_not_allowed")
    assert_error(upload(client, reporter, case, JPEG), 409, "workflow.transition_not_allowed")
    assert_error(act(client, cop, case, "teleport"), 422, "request.invalid")


def test_closing_needs_an_outcome_and_the_full_path(client: Any, reporter: Person,
                                                    cop: Cop) -> None:
    case = file_report(client, reporter)["case_number"]
    assert act(client, cop, case, "verify").get_json()["allowed_acts"] == [
        "ask", "assign", "investigate", "reject", "transfer"]
    assert_error(act(client, cop, case, "close", outcome="x"), 409,
                 "workflow.transition_not_allowed")
    assert act(client, cop, case, "investigate").status_code == 200
    assert_error(act(client, cop, case, "close"), 422, "report.outcome_required")
    closed = act(client, cop, case, "close", outcome="Offender identified.").get_json()
    assert (closed["status"], closed["resolution"], closed["due_at"]) == (
        "closed", "Offender identified.", None)


def test_two_officers_acting_at_once_one_wins_the_other_gets_409(
        client: Any, db_session: Any, protector: Any, reporter: Person, cop: Cop) -> None:
    case = file_report(client, reporter)["case_number"]
    colleague = officer(client, db_session, protector, "cop.colleague")
    version = police(client, cop, "GET", case).get_json()["version"]
    assert police(client, colleague, "GET", case).get_json()["version"] == version
    first = act(client, cop, case, "verify", version=version)
    second = act(client, colleague, case, "reject", reason="Duplicate.", version=version)
    assert first.status_code == 200
    assert_error(second, 409, "workflow.case_changed")
    current = police(client, colleague, "GET", case).get_json()
    assert current["status"] == "verifying" and current["version"] > version
    # Acting on what is current works.
    assert act(client, colleague, case, "investigate",
               version=current["version"]).status_code == 200


def test_only_supervisors_assign_a_case_to_someone_else(
        client: Any, db_session: Any, protector: Any, reporter: Person, cop: Cop) -> None:
    case = file_report(client, reporter)["case_number"]
    chief = officer(client, db_session, protector, "chief.hoankiem", role="supervisor")
    assert_error(police(client, cop, "POST", case, "/assign", officer="chief.hoankiem"), 403,
                 "report.assign_forbidden")
    assert_error(police(client, chief, "POST", case, "/assign", officer="nobody"), 422,
                 "report.assignee_invalid")
    given = police(client, chief, "POST", case, "/assign", officer=cop.username)
    assert given.get_json()["assigned_to"] == cop.username


def test_a_colleagues_case_changes_hands_only_by_a_supervisor(
        client: Any, db_session: Any, protector: Any, reporter: Person, cop: Cop) -> None:
    case = file_report(client, reporter)["case_number"]
    colleague = officer(client, db_session, protector, "colleague.hoankiem")
    chief = officer(client, db_session, protector, "chief.hoankiem", role="supervisor")
    assert police(client, cop, "POST", case, "/assign").status_code == 200
    assert police(client, cop, "POST", case, "/assign").status_code == 200  # again: their own
    # Taking over the colleague's case (and with it the named reporter) is refused.
    assert_error(police(client, colleague, "POST", case, "/assign"), 403,
                 "report.already_assigned")
    assert_error(police(client, colleague, "GET", case, "/reporter"), 403,
                 "report.reporter_not_visible")
    assert police(client, cop, "GET", case).get_json()["assigned_to"] == cop.username
    given = police(client, chief, "POST", case, "/assign", officer=colleague.username)
    assert given.status_code == 200 and given.get_json()["assigned_to"] == colleague.username
    assert police(client, colleague, "GET", case, "/reporter").status_code == 200


# --- Deadlines ---------------------------------------------------------------------------------

def test_overdue_cases_show_in_the_queue_when_the_clock_moves(
        client: Any, app: Any, db_session: Any, protector: Any, reporter: Person,
        cop: Cop) -> None:
    case = file_report(client, reporter)["case_number"]
    item = client.get("/api/v1/police/reports", headers=cop.headers).get_json()["items"][0]
    assert item["overdue"] is False
    due = dt.datetime.fromisoformat(item["due_at"])
    filed_at = dt.datetime.fromisoformat(item["created_at"])
    assert due - filed_at == dt.timedelta(hours=app.config["REPORT_DEADLINE_HOURS"])
    with time_machine.travel(due + dt.timedelta(minutes=1)):
        cop = officer(client, db_session, protector, "cop.nightshift")  # yesterday's token expired
        queue = client.get("/api/v1/police/reports", headers=cop.headers).get_json()
        assert queue["items"][0]["overdue"] is True
        late = client.get("/api/v1/police/reports?overdue=true", headers=cop.headers)
        assert [i["case_number"] for i in late.get_json()["items"]] == [case]
        verified = act(client, cop, case, "verify").get_json()
        assert verified["overdue"] is False
        assert dt.datetime.fromisoformat(verified["due_at"]) > clock.now()
        assert client.get("/api/v1/police/reports?overdue=true",
                          headers=cop.headers).get_json()["items"] == []


# --- The queue ---------------------------------------------------------------------------------

def test_the_queue_filters_and_paginates(client: Any, reporter: Person, cop: Cop) -> None:
    cases = [file_report(client, reporter, category=category)["case_number"]
             for category in ("fraud", "traffic", "fraud")]
    act(client, cop, cases[0], "verify")

    def listed(query: str) -> list[str]:
        answer = client.get(f"/api/v1/police/reports?{query}", headers=cop.headers)
        assert answer.status_code == 200, answer.get_json()
        return [item["case_number"] for item in answer.get_json()["items"]]

    assert listed("") == cases[::-1]
    assert listed("category=fraud") == [cases[2], cases[0]]
    assert listed("status=verifying") == [cases[0]]
    today = clock.today().isoformat()
    assert listed(f"filed_from={today}&filed_to={today}") == cases[::-1]
    assert listed("filed_to=2020-01-01") == []
    page = client.get("/api/v1/police/reports?per_page=2&page=2", headers=cop.headers)
    assert page.get_json()["items"][0]["case_number"] == cases[0]
    assert (page.get_json()["total"], page.get_json()["total_exact"]) == (3, True)
    assert_error(client.get("/api/v1/police/reports?filed_from=2026-02-01&filed_to=2026-01-01",
                            headers=cop.headers), 422, "queue.period_invalid")
    assert_error(client.get("/api/v1/police/reports?status=lost", headers=cop.headers), 422,
                 "request.invalid")


# --- Anonymity ---------------------------------------------------------------------------------

def _identity_strings(person: Person) -> list[str]:
    """Everything that would name the citizen, as it could appear in an answer."""
    number = person.record.test_phone
    return [person.record.personal_id, person.record.full_name, number,
            "+84" + number[1:], person.record.address, f"account:{person.account_id}",
            f'"account_id": {person.account_id}']


def test_no_officer_endpoint_ever_names_an_anonymous_reporter(
        client: Any, db_session: Any, protector: Any, reporter: Person, cop: Cop) -> None:
    filed = file_report(client, reporter, anonymous=True, scam_phones=["0987 654 321"])
    case, key = filed["case_number"], filed["reporter_key"]
    evidence_id = upload(client, reporter, case, JPEG, key=key).get_json()["id"]
    chief = officer(client, db_session, protector, "chief.hanoi", commune_code=None,
                    role="supervisor")
    answers = [
        client.get("/api/v1/police/reports", headers=cop.headers),
        police(client, cop, "GET", case),
        police(client, cop, "POST", case, "/assign"),
        police(client, cop, "POST", case, "/questions", text="When did it happen?"),
    ]
    client.post(f"/api/v1/reports/{case}/messages", headers=with_key(reporter, key),
                json={"text": "Yesterday morning."})
    answers += [
        police(client, cop, "GET", case),
        act(client, cop, case, "verify"),
        police(client, cop, "GET", case, f"/evidence/{evidence_id}"),
        client.post("/api/v1/police/reports/indicators/lookup", headers=cop.headers,
                    json={"phone": "0987654321"}),
        police(client, cop, "GET", case, "/reporter"),
        police(client, chief, "GET", case, "/reporter"),
        police(client, chief, "GET", case),
        police(client, chief, "POST", case, "/transfer", commune_code=other_hanoi_commune(),
               reason="It happened across the river."),
        client.get("/api/v1/police/reports", headers=chief.headers),
        act(client, chief, case, "investigate"),
        act(client, chief, case, "close", outcome="Closed."),
    ]
    assert answers[6].status_code == 200 and answers[6].data == JPEG
    for refused in answers[8:10]:
        assert_error(refused, 403, "report.reporter_anonymous")
    assert [a.status_code for a in answers[11:]] == [200, 200, 200, 200]
    history = answers[10].get_json()["history"]
    assert [e["by"] for e in history if e["action"] in ("create", "answer", "add_evidence")] == [
        None, None, None]
    for answer in answers:
        text = answer.get_data(as_text=True) if answer.mimetype == "application/json" else \
            json.dumps(dict(answer.headers))
        for secret in _identity_strings(reporter):
            assert secret not in text, (answer.request.path, secret)


def test_anonymous_reports_leave_no_audit_row_naming_the_reporter(
        client: Any, db_session: Any, reporter: Person, cop: Cop) -> None:
    import sqlalchemy as sa

    from identity.audit.models import AuditEvent
    filed = file_report(client, reporter, anonymous=True)
    case = filed["case_number"]
    police(client, cop, "GET", case)
    police(client, cop, "POST", case, "/questions", text="Who called?")
    client.post(f"/api/v1/reports/{case}/messages",
                headers=with_key(reporter, filed["reporter_key"]), json={"text": "A man."})
    events = db_session.scalars(sa.select(AuditEvent).where(
        AuditEvent.action.like("report.%"))).all()
    assert {e.action for e in events} >= {
        "report.filed", "report.read", "report.question_asked", "report.answered"}
    for event in events:
        assert event.subject_type == "report"
        assert event.actor_id != f"account:{reporter.account_id}"
        # Unlinkable: no address, no request id, the hour only, out of the id sequence.
        assert (event.source, event.request_id) == (None, None) and event.shard < 0
        assert (event.occurred_at.minute, event.occurred_at.second) == (0, 0) and event.id < 0
    log = client.get("/api/v1/me/access-log", headers=reporter.headers).get_json()["items"]
    assert not [e for e in log if e["action"].startswith("report.")]


def test_a_named_reporter_is_seen_by_the_assigned_officer_and_supervisors_each_view_audited(
        client: Any, db_session: Any, protector: Any, reporter: Person, cop: Cop) -> None:
    case = file_report(client, reporter)["case_number"]
    colleague = officer(client, db_session, protector, "cop.colleague")
    chief = officer(client, db_session, protector, "chief.hoankiem", role="supervisor")
    assert_error(police(client, cop, "GET", case, "/reporter"), 403,
                 "report.reporter_not_visible")
    police(client, cop, "POST", case, "/assign")
    seen = police(client, cop, "GET", case, "/reporter")
    assert seen.status_code == 200
    assert seen.get_json()["personal_id"] == reporter.record.personal_id
    assert seen.get_json()["phone"] == reporter.record.test_phone
    assert_error(police(client, colleague, "GET", case, "/reporter"), 403,
                 "report.reporter_not_visible")
    assert police(client, chief, "GET", case, "/reporter").status_code == 200
    # The case itself never carries the reporter, even when named.
    case_text = police(client, colleague, "GET", case).get_data(as_text=True)
    for secret in _identity_strings(reporter):
        assert secret not in case_text
    log = client.get("/api/v1/me/access-log", headers=reporter.headers).get_json()["items"]
    views = [e for e in log if e["action"] == "report.reporter_viewed"]
    assert len(views) == 2 and all(v["by"] == "Công an Thành phố Hà Nội" for v in views)
    reads = [e for e in log if e["action"] == "report.read"]
    assert len(reads) == 1 and reads[0]["actor_type"] == "officer"


# --- Evidence ----------------------------------------------------------------------------------

def test_evidence_is_stored_with_its_digest_and_given_back_untouched(
        client: Any, app: Any, reporter: Person, cop: Cop) -> None:
    import hashlib
    case = file_report(client, reporter)["case_number"]
    stored = []
    for data, content_type in ((JPEG, "image/jpeg"), (PNG, "image/png"), (MP4, "video/mp4")):
        answer = upload(client, reporter, case, data, content_type="application/octet-stream")
        assert answer.status_code == 201, answer.get_json()
        body = answer.get_json()
        assert (body["sha256"], body["size"], body["content_type"]) == (
            hashlib.sha256(data).hexdigest(), len(data), content_type)
        stored.append(body)
    mine = client.get(f"/api/v1/reports/{case}/evidence/{stored[0]['id']}",
                      headers=reporter.headers)
    assert mine.status_code == 200 and mine.data == JPEG
    assert mine.headers["X-Content-SHA256"] == stored[0]["sha256"]
    assert mine.mimetype == "image/jpeg"
    theirs = police(client, cop, "GET", case, f"/evidence/{stored[2]['id']}")
    assert theirs.status_code == 200 and theirs.data == MP4
    assert_error(police(client, cop, "GET", case, "/evidence/999999"), 404,
                 "evidence.not_found")
    listed = police(client, cop, "GET", case).get_json()["evidence"]
    assert [e["sha256"] for e in listed] == [s["sha256"] for s in stored]


def test_tampered_or_missing_evidence_is_refused_not_shown(
        client: Any, app: Any, reporter: Person, cop: Cop) -> None:
    case = file_report(client, reporter)["case_number"]
    body = upload(client, reporter, case, JPEG).get_json()
    digest = body["sha256"]
    path = Path(app.config["EVIDENCE_DIR"]) / digest[:2] / digest[2:4] / digest
    os.chmod(path, 0o600)
    path.write_bytes(JPEG[:-1] + b"\x01")
    try:
        assert_error(client.get(f"/api/v1/reports/{case}/evidence/{body['id']}",
                                headers=reporter.headers), 409, "evidence.tampered")
        assert_error(police(client, cop, "GET", case, f"/evidence/{body['id']}"), 409,
                     "evidence.tampered")
        path.unlink()
        assert_error(police(client, cop, "GET", case, f"/evidence/{body['id']}"), 409,
                     "evidence.missing")
    finally:
        path.write_bytes(JPEG)  # other tests may store the same content


@pytest.mark.parametrize("data, code", [(GIF, "evidence.type"), (PDF, "evidence.type"),
                                        (b"MZ\x90\x00" + b"\x00" * 100, "evidence.type"),
                                        (b"", "evidence.empty")])
def test_forbidden_evidence_types_are_422(client: Any, reporter: Person, data: bytes,
                                          code: str) -> None:
    case = file_report(client, reporter)["case_number"]
    body = assert_error(upload(client, reporter, case, data, content_type="image/jpeg"), 422,
                        code)
    assert "file" in body["errors"]


def test_too_large_evidence_is_422_and_a_too_large_body_is_a_uniform_413(
        client: Any, app: Any, reporter: Person, monkeypatch: pytest.MonkeyPatch) -> None:
    case = file_report(client, reporter)["case_number"]
    monkeypatch.setitem(app.config, "EVIDENCE_MAX_BYTES", 1000)
    body = assert_error(upload(client, reporter, case, JPEG + b"\x00" * 1000), 422,
                        "evidence.too_large")
    assert "file" in body["errors"]
    assert_error(upload(client, reporter, case, JPEG + b"\x00" * 200_000), 413,
                 "request.too_large")
    assert upload(client, reporter, case, JPEG).status_code == 201
    assert_error(client.post(f"/api/v1/reports/{case}/evidence", headers=reporter.headers,
                             data={}, content_type="multipart/form-data"), 422,
                 "request.invalid")


def test_a_case_holds_at_most_ten_evidence_files(client: Any, reporter: Person) -> None:
    case = file_report(client, reporter)["case_number"]
    for n in range(10):
        assert upload(client, reporter, case, JPEG + bytes([n])).status_code == 201
    assert_error(upload(client, reporter, case, JPEG + b"\xff"), 409, "evidence.too_many")


# --- Scam indicators ---------------------------------------------------------------------------

def test_reports_naming_the_same_number_or_link_are_linked(
        client: Any, db_session: Any, protector: Any, reporter: Person, cop: Cop) -> None:
    other = citizen(client, db_session, protector)
    first = file_report(client, reporter, scam_phones=["0912345678"],
                        scam_links=["http://VAY-nhanh.example/app"])
    file_report(client, other, scam_phones=["+84 912 345 678"],
                scam_links=["vay-nhanh.example/app/#top"], anonymous=True)
    file_report(client, other, commune_code=hcm_commune(), scam_phones=["091.234.5678"],
                scam_links=[])
    seen = police(client, cop, "GET", first["case_number"]).get_json()
    assert {(i["kind"], i["value"], i["reports"]) for i in seen["indicators"]} == {
        ("phone", "+84912345678", 3), ("link", "vay-nhanh.example/app", 2)}
    looked = client.post("/api/v1/police/reports/indicators/lookup", headers=cop.headers,
                         json={"phone": "0912 345 678"}).get_json()
    assert (looked["value"], looked["reports"], len(looked["in_your_unit"])) == (
        "+84912345678", 3, 2)
    nothing = client.post("/api/v1/police/reports/indicators/lookup", headers=cop.headers,
                          json={"link": "https://nothing.example"}).get_json()
    assert nothing["reports"] == 0
    assert_error(client.post("/api/v1/police/reports/indicators/lookup", headers=cop.headers,
                             json={}), 422, "indicator.one_required")


def test_beside_a_case_the_count_stops_at_the_cap_the_look_up_does_not(
        client: Any, db_session: Any, protector: Any, reporter: Person, cop: Cop,
        monkeypatch: Any) -> None:
    """Past ``REPORTS_COUNT_CAP`` the case (the reporter's and the police's view) says
    ``reports_exact: false`` with the cap as its count; the officers' look-up counts them all."""
    monkeypatch.setattr(indicators, "REPORTS_COUNT_CAP", 2)
    filed = [file_report(client, reporter, scam_phones=["0912345678"], scam_links=[])
             for _ in range(2)]
    assert [(i["reports"], i["reports_exact"]) for i in filed[-1]["indicators"]] == [(2, True)]
    last = file_report(client, reporter, scam_phones=["0912345678"], scam_links=[])
    assert [(i["reports"], i["reports_exact"]) for i in last["indicators"]] == [(2, False)]
    seen = police(client, cop, "GET", filed[0]["case_number"]).get_json()
    assert [(i["reports"], i["reports_exact"]) for i in seen["indicators"]] == [(2, False)]
    looked = client.post("/api/v1/police/reports/indicators/lookup", headers=cop.headers,
                         json={"phone": "0912345678"}).get_json()
    assert looked["reports"] == 3


# --- Documentation -----------------------------------------------------------------------------

def test_the_openapi_document_lists_the_report_endpoints(client: Any) -> None:
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    for path in ("/api/v1/reports", "/api/v1/reports/{case_number}",
                 "/api/v1/reports/{case_number}/evidence",
                 "/api/v1/police/reports/{case_number}/status",
                 "/api/v1/police/reports/{case_number}/reporter"):
        assert path in paths
    upload_op = paths["/api/v1/reports/{case_number}/evidence"]["post"]
    assert "multipart/form-data" in upload_op["requestBody"]["content"]
    assert paths["/api/v1/police/reports"]["get"]["security"] == [{"bearerAuth": []}]
