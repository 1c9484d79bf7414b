"""Police officers through the HTTP API: TOTP login, jurisdiction, and their work on accounts."""
from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import sqlalchemy as sa
import time_machine

from identity import clock
from identity.accounts import officers
from identity.accounts.models import Account
from identity.audit.models import AuditEvent
from identity.audit.service import Actor
from identity.registry import admin_units
from tests.factories import add_citizen
from tests.flows import (assert_error, PASSWORD, Phone, bearer, create_officer, latest_code,
                         logged_in_officer, login, login_answer, officer_login, register)

OTHER_NUMBER = "0987654321"
OPERATOR = Actor(type="operator", id="test")


# --- Helpers -----------------------------------------------------------------------------------


def hcm_commune() -> str:
    """A commune of Ho Chi Minh City (province 79)."""
    return admin_units.communes_by_province()["79"][0].code


def other_hanoi_commune(than: str) -> str:
    """A commune of Hanoi other than ``than``."""
    return next(c.code for c in admin_units.communes_by_province()["01"] if c.code != than)


def add_hcm_citizen(db_session: Any, protector: Any) -> Any:
    """A citizen who lives in Ho Chi Minh City (province 79)."""
    return add_citizen(db_session, protector, province_code="79", commune_code=hcm_commune())


def audit_events(db_session: Any, action: str, subject_type: str,
                 subject_id: int) -> list[AuditEvent]:
    """The audit events of one action about one subject, oldest first."""
    return list(db_session.scalars(
        sa.select(AuditEvent).where(AuditEvent.action == action,
                                    AuditEvent.subject_type == subject_type,
                                    AuditEvent.subject_id == str(subject_id))
        .order_by(AuditEvent.id)))


def login_failures(db_session: Any, officer: Any) -> list[str]:
    """The reasons of an officer's failed logins, oldest first."""
    return [event.details["reason"] for event in
            audit_events(db_session, "auth.officer_login_failed", "officer", officer.officer_id)]


def look_up(client: Any, token: str, citizen: Any) -> Any:
    """An officer's look-up of a citizen by personal id."""
    return client.post("/api/v1/police/citizens/lookup", headers=bearer(token),
                       json={"personal_id": citizen.personal_id})


def access_log(client: Any, citizen: Any, phone: Phone) -> list[dict[str, Any]]:
    """The citizen's own access log (logs in from ``phone``), newest first."""
    tokens = login(client, citizen.personal_id, phone)
    answer = client.get("/api/v1/me/access-log", headers=bearer(tokens["access_token"]))
    assert answer.status_code == 200, answer.get_json()
    return list(answer.get_json()["items"])


def notifications(client: Any, citizen: Any, phone: Phone) -> list[dict[str, Any]]:
    """The citizen's notifications (logs in from ``phone``), newest first."""
    tokens = login(client, citizen.personal_id, phone)
    answer = client.get("/api/v1/me/notifications", headers=bearer(tokens["access_token"]))
    assert answer.status_code == 200, answer.get_json()
    return list(answer.get_json()["items"])


def pending(client: Any, token: str) -> dict[str, Any]:
    """The review queue as an officer sees it."""
    answer = client.get("/api/v1/police/accounts/pending", headers=bearer(token))
    assert answer.status_code == 200, answer.get_json()
    return dict(answer.get_json())


def review(client: Any, token: str, account_id: int, decision: str,
           reason: str | None = None) -> Any:
    """An officer's decision on a registration."""
    body: dict[str, Any] = {"decision": decision}
    if reason is not None:
        body["reason"] = reason
    return client.post(f"/api/v1/police/accounts/{account_id}/review", headers=bearer(token),
                       json=body)


def raise_level2(client: Any, token: str, account_id: int, card_number: str,
                 check: str = "face") -> Any:
    """An officer's in-person raise to level 2."""
    return client.post(f"/api/v1/police/accounts/{account_id}/level2", headers=bearer(token),
                       json={"card_number": card_number, "check": check})


def rebind(client: Any, token: str, account_id: int, device: Phone, **extra: Any) -> Any:
    """An officer's in-person device rebind (``extra``: the check, a new phone number)."""
    return client.post(f"/api/v1/police/accounts/{account_id}/device", headers=bearer(token),
                       json={"device_id": device.device_id,
                             "device_public_key": device.public_key, "check": "face", **extra})


@pytest.fixture()
def mid_step():
    """Time stands still in the middle of a TOTP step, so 'the current step' is one step."""
    step = int(clock.now().timestamp()) // officers.TOTP_STEP_SECONDS
    moment = dt.datetime.fromtimestamp(step * officers.TOTP_STEP_SECONDS + 15, tz=dt.timezone.utc)
    with time_machine.travel(moment, tick=False):
        yield moment


@pytest.fixture()
def officer(db_session, protector):
    """An officer of Hanoi (province 01), province-wide."""
    return create_officer(db_session, protector)


@pytest.fixture()
def hcm_officer(db_session, protector):
    """An officer of Ho Chi Minh City (province 79)."""
    return create_officer(db_session, protector, username="officer.hcm", province_code="79")


# --- Officer login -----------------------------------------------------------------------------

def test_officer_login_with_password_and_totp_gives_tokens(client, officer):
    answer = officer_login(client, officer)
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    assert body["access_token"] and body["refresh_token"]
    assert body["token_type"] == "Bearer" and body["expires_in"] <= 600
    # The token works on the police API.
    assert pending(client, body["access_token"])["total"] == 0


def wrong_code(officer: Any) -> str:
    """A well-formed code that is not the officer's for this step nor its neighbours."""
    near = {officer.code(offset) for offset in (-1, 0, 1)}
    return next(code for code in (f"{n:06d}" for n in range(1_000_000)) if code not in near)


@pytest.mark.parametrize("field, reason", [
    ("password", "password_wrong"),
    ("username", "no_officer"),
    ("totp", "totp_wrong"),
])
def test_officer_login_failures_are_one_generic_401(client, db_session, officer, mid_step,
                                                    field, reason):
    body = {"username": officer.username, "password": officer.password, "totp": officer.code()}
    body[field] = {"password": "not the right password", "username": "nobody.here",
                   "totp": wrong_code(officer)}[field]
    answer = client.post("/api/v1/auth/officer-login", json=body)
    assert_error(answer, 401, "auth.failed")
    events = db_session.scalars(sa.select(AuditEvent).where(
        AuditEvent.action == "auth.officer_login_failed")).all()
    assert [e.details["reason"] for e in events] == [reason]
    assert events[0].subject_id == (None if reason == "no_officer" else str(officer.officer_id))


def test_all_failures_answer_the_same_body(client, officer, mid_step):
    right = {"username": officer.username, "password": officer.password, "totp": officer.code()}
    answers = [client.post("/api/v1/auth/officer-login", json={**right, **change}) for change in (
        {"password": "not the right password"}, {"username": "nobody.here"},
        {"totp": wrong_code(officer)}, {"totp": ""})]
    assert {a.status_code for a in answers} == {401}
    assert len({a.get_data() for a in answers}) == 1


def test_the_same_totp_code_is_accepted_once(client, db_session, officer, mid_step):
    assert officer_login(client, officer).status_code == 200
    again = officer_login(client, officer)
    assert_error(again, 401, "auth.failed")
    assert login_failures(db_session, officer) == ["totp_replayed"]


def test_previous_step_is_accepted_once_but_not_after_a_later_step(client, db_session, officer,
                                                                   mid_step):
    # Clock drift: the code of the step before is accepted, once.
    assert officer_login(client, officer, offset_steps=-1).status_code == 200
    assert_error(officer_login(client, officer, offset_steps=-1), 401, "auth.failed")
    # The current step is newer: accepted.
    assert officer_login(client, officer).status_code == 200
    assert login_failures(db_session, officer) == ["totp_replayed"]


def test_a_step_older_than_the_last_used_one_is_refused(client, db_session, officer, mid_step):
    assert officer_login(client, officer).status_code == 200
    # The previous step's code was never used, but it is older than the one that was.
    assert_error(officer_login(client, officer, offset_steps=-1), 401, "auth.failed")
    assert login_failures(db_session, officer) == ["totp_replayed"]


def test_codes_two_steps_away_are_wrong(client, db_session, officer, mid_step):
    assert_error(officer_login(client, officer, offset_steps=-2), 401, "auth.failed")
    assert_error(officer_login(client, officer, offset_steps=2), 401, "auth.failed")
    assert login_failures(db_session, officer) == ["totp_wrong", "totp_wrong"]


def test_next_step_is_accepted_for_a_clock_running_ahead(client, officer, mid_step):
    assert officer_login(client, officer, offset_steps=1).status_code == 200
    # Its step is now the last used one: the current step is older, so refused.
    assert_error(officer_login(client, officer), 401, "auth.failed")


def test_a_wrong_password_does_not_spend_the_totp_step(client, db_session, officer, mid_step):
    wrong = client.post("/api/v1/auth/officer-login", json={
        "username": officer.username, "password": "not the right password",
        "totp": officer.code()})
    assert_error(wrong, 401, "auth.failed")
    assert officer_login(client, officer).status_code == 200


def test_a_deactivated_officer_cannot_log_in(client, db_session, officer):
    officers.deactivate_officer(db_session=db_session, actor=OPERATOR, username=officer.username)
    assert_error(officer_login(client, officer), 401, "auth.failed")
    assert login_failures(db_session, officer) == ["inactive"]


def test_deactivation_stops_a_logged_in_officer_on_the_next_request(client, db_session, officer,
                                                                    protector):
    citizen = add_citizen(db_session, protector)
    token = officer.log_in(client)
    assert look_up(client, token, citizen).status_code == 200
    officers.deactivate_officer(db_session=db_session, actor=OPERATOR, username=officer.username)
    assert_error(look_up(client, token, citizen), 401, "auth.invalid_token")


def test_an_officer_refresh_token_stops_after_deactivation(client, db_session, officer):
    tokens = officer_login(client, officer).get_json()
    refreshed = client.post("/api/v1/auth/refresh", headers=bearer(tokens["refresh_token"]))
    assert refreshed.status_code == 200, refreshed.get_json()
    officers.deactivate_officer(db_session=db_session, actor=OPERATOR, username=officer.username)
    again = client.post("/api/v1/auth/refresh",
                        headers=bearer(refreshed.get_json()["refresh_token"]))
    assert_error(again, 401, "auth.invalid_token")


# --- Who may call the police API ---------------------------------------------------------------

def test_a_citizen_token_is_refused_on_police_endpoints(client, db_session, protector):
    citizen, phone = add_citizen(db_session, protector), Phone()
    account = register(client, citizen, phone)
    token = login(client, citizen.personal_id, phone)["access_token"]
    calls = [
        client.get("/api/v1/police/accounts/pending", headers=bearer(token)),
        review(client, token, account["account_id"], "approve"),
        raise_level2(client, token, account["account_id"], citizen.personal_id),
        rebind(client, token, account["account_id"], Phone()),
        look_up(client, token, citizen),
    ]
    for answer in calls:
        assert_error(answer, 403, "auth.officer_only")


def test_an_officer_token_is_refused_on_citizen_endpoints(client, officer):
    token = officer.log_in(client)
    assert_error(client.get("/api/v1/me", headers=bearer(token)), 403, "auth.citizen_only")


def test_police_endpoints_need_a_token(client):
    assert_error(client.get("/api/v1/police/accounts/pending"), 401, "auth.required")


def test_an_unknown_account_is_not_found(client, officer):
    token = officer.log_in(client)
    assert_error(raise_level2(client, token, 987654, "001090012345"), 404, "account.not_found")


# --- Jurisdiction ------------------------------------------------------------------------------

def test_looking_up_a_citizen_of_another_province_is_refused_and_audited(
        client, db_session, protector, officer):
    citizen = add_hcm_citizen(db_session, protector)
    token = officer.log_in(client)
    answer = look_up(client, token, citizen)
    assert_error(answer, 404, "citizen.not_found")
    assert "personal_id" not in answer.get_data(as_text=True)
    [refused] = audit_events(db_session, "citizen.read_refused", "citizen", citizen.id)
    assert refused.actor_type == "officer"
    assert refused.actor_id == f"officer:{officer.officer_id}"
    assert refused.details["reason"] == "outside_jurisdiction"
    assert audit_events(db_session, "citizen.read", "citizen", citizen.id) == []


def test_an_officer_cannot_tell_a_citizen_elsewhere_from_an_unknown_id(
        client, db_session, protector, officer):
    """No oracle: the same 404 body for an unknown id and for one of another province."""
    elsewhere = add_hcm_citizen(db_session, protector)
    unknown = add_citizen(db_session, protector)
    personal_id = unknown.personal_id
    db_session.delete(unknown)
    db_session.flush()
    token = officer.log_in(client)
    sent: list[str] = []

    def count(*args: Any) -> None:  # the statements of the request (not the test's savepoints)
        verb = str(args[2]).split(None, 1)[0].upper()
        if verb not in ("SAVEPOINT", "RELEASE"):
            sent.append(verb)
    elsewhere_id = elsewhere.personal_id  # read now: the test's own reload is not counted
    sa.event.listen(db_session.get_bind(), "before_cursor_execute", count)
    try:
        out_of_scope = client.post("/api/v1/police/citizens/lookup", headers=bearer(token),
                                   json={"personal_id": elsewhere_id})
        elsewhere_sent, sent[:] = list(sent), []
        nobody = client.post("/api/v1/police/citizens/lookup", headers=bearer(token),
                             json={"personal_id": personal_id})
    finally:
        sa.event.remove(db_session.get_bind(), "before_cursor_execute", count)
    assert_error(nobody, 404, "citizen.not_found")
    assert elsewhere_sent == sent  # the same statements: no read more for one than the other
    assert (out_of_scope.status_code, out_of_scope.get_json()) == \
        (nobody.status_code, nobody.get_json())
    # Both refusals are audited (one row each), so neither the time taken nor the log differs.
    refusals = db_session.scalars(sa.select(AuditEvent).where(
        AuditEvent.action == "citizen.read_refused")).all()
    assert sorted(event.details["reason"] for event in refusals) == \
        ["outside_jurisdiction", "unknown"]
    # The same for account ids: one of another province answers as one that does not exist.
    account = register(client, add_citizen(db_session, protector), Phone())
    hcm_token = logged_in_officer(client, db_session, protector, username="officer.hcm2",
                                  province_code="79").token
    for act in (lambda account_id: review(client, hcm_token, account_id, "approve"),
                lambda account_id: raise_level2(client, hcm_token, account_id, "001090012345")):
        there, missing = act(account["account_id"]), act(987654)
        assert_error(missing, 404, "account.not_found")
        assert (there.status_code, there.get_json()) == (missing.status_code, missing.get_json())


def test_looking_up_a_citizen_of_the_province_answers_and_shows_in_their_access_log(
        client, db_session, protector, officer):
    citizen, phone = add_citizen(db_session, protector), Phone()
    account = register(client, citizen, phone)
    token = officer.log_in(client)
    answer = look_up(client, token, citizen)
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    assert body["personal_id"] == citizen.personal_id
    assert body["full_name"] == citizen.full_name
    assert body["date_of_birth"] == citizen.date_of_birth.isoformat()
    assert (body["province_code"], body["commune_code"]) == ("01", "00070")
    assert body["account"] == {"account_id": account["account_id"], "level": 1,
                               "status": "active"}
    reads = [e for e in access_log(client, citizen, phone) if e["action"] == "citizen.read"]
    assert len(reads) == 1
    assert reads[0]["actor_type"] == "officer"
    assert reads[0]["by"].startswith("Công an") and "Hà Nội" in reads[0]["by"]


def test_looking_up_a_citizen_without_account(client, db_session, protector, officer):
    citizen = add_citizen(db_session, protector)
    answer = look_up(client, officer.log_in(client), citizen)
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["account"] is None


def test_looking_up_an_unknown_personal_id(client, officer):
    answer = client.post("/api/v1/police/citizens/lookup",
                         headers=bearer(officer.log_in(client)),
                         json={"personal_id": "001090999999"})
    assert_error(answer, 404, "citizen.not_found")


def test_a_commune_officer_acts_only_in_their_commune(client, db_session, protector):
    other = other_hanoi_commune("00070")
    commune_officer = create_officer(db_session, protector, username="officer.commune",
                                     commune_code=other)
    here = add_citizen(db_session, protector, commune_code=other)
    elsewhere = add_citizen(db_session, protector)  # commune 00070 of the same province
    token = commune_officer.log_in(client)
    assert look_up(client, token, here).status_code == 200
    assert_error(look_up(client, token, elsewhere), 404, "citizen.not_found")
    assert len(audit_events(db_session, "citizen.read_refused", "citizen", elsewhere.id)) == 1


def test_a_commune_officer_cannot_work_on_accounts_of_another_commune(client, db_session,
                                                                      protector):
    commune_officer = create_officer(db_session, protector, username="officer.commune",
                                     commune_code=other_hanoi_commune("00070"))
    citizen = add_citizen(db_session, protector)
    account = register(client, citizen, Phone(), phone_number=OTHER_NUMBER)
    token = commune_officer.log_in(client)
    assert pending(client, token)["items"] == []
    assert_error(review(client, token, account["account_id"], "approve"), 404,
                 "account.not_found")
    assert_error(raise_level2(client, token, account["account_id"], citizen.personal_id), 404,
                 "account.not_found")


def test_reassignment_applies_on_the_next_request(client, db_session, protector, officer):
    hanoi, saigon = add_citizen(db_session, protector), add_hcm_citizen(db_session, protector)
    token = officer.log_in(client)
    assert look_up(client, token, hanoi).status_code == 200
    assert_error(look_up(client, token, saigon), 404, "citizen.not_found")
    officers.reassign_officer(db_session=db_session, actor=OPERATOR, username=officer.username,
                              province_code="79", commune_code=None)
    # The same token, the new jurisdiction.
    assert look_up(client, token, saigon).status_code == 200
    assert_error(look_up(client, token, hanoi), 404, "citizen.not_found")
    [event] = db_session.scalars(sa.select(AuditEvent).where(
        AuditEvent.action == "officer.reassigned")).all()
    assert event.details["before"] == {"province": "01", "commune": None}


def test_reassignment_to_an_unknown_unit_is_refused(db_session, officer):
    from identity.errors import InvalidInput
    with pytest.raises(InvalidInput) as caught:
        officers.reassign_officer(db_session=db_session, actor=OPERATOR,
                                  username=officer.username, province_code="99",
                                  commune_code=None)
    assert caught.value.code == "province.unknown"
    with pytest.raises(InvalidInput) as caught:
        officers.reassign_officer(db_session=db_session, actor=OPERATOR,
                                  username=officer.username, province_code="01",
                                  commune_code=hcm_commune())
    assert caught.value.code == "commune.unknown"


def test_a_reassignment_refused_for_its_role_changes_nothing(db_session, protector, officer):
    from identity.errors import InvalidInput
    with pytest.raises(InvalidInput) as caught:
        officers.reassign_officer(db_session=db_session, actor=OPERATOR,
                                  username=officer.username, province_code="79",
                                  commune_code=None, role="chief")
    assert caught.value.code == "officer.role"
    # The next commit of the same session (here another officer's creation) must not carry
    # a half-done reassignment with it.
    create_officer(db_session, protector, username="officer.other")
    db_session.expire_all()
    stored = officers.get_officer(db_session=db_session, username=officer.username)
    assert (stored.province_code, stored.role) == ("01", "officer")


# --- Review queue ------------------------------------------------------------------------------

def test_a_registration_with_another_phone_waits_in_the_provinces_queue(
        client, db_session, protector, officer, hcm_officer):
    citizen = add_citizen(db_session, protector)
    account = register(client, citizen, Phone(), phone_number=OTHER_NUMBER)
    assert account["status"] == "pending_review"
    queue = pending(client, officer.log_in(client))
    assert queue["total"] == 1
    [item] = queue["items"]
    assert item["account_id"] == account["account_id"]
    assert item["status"] == "pending_review"
    assert item["full_name"] == citizen.full_name
    other = pending(client, hcm_officer.log_in(client))
    assert (other["items"], other["total"]) == ([], 0)


def test_an_active_account_is_not_in_the_queue(client, db_session, protector, officer):
    register(client, add_citizen(db_session, protector), Phone())
    assert pending(client, officer.log_in(client))["items"] == []


def test_approving_activates_and_notifies(client, db_session, protector, officer):
    citizen, phone = add_citizen(db_session, protector), Phone()
    account = register(client, citizen, phone, phone_number=OTHER_NUMBER)
    token = officer.log_in(client)
    answer = review(client, token, account["account_id"], "approve")
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json() == {"account_id": account["account_id"], "level": 1,
                                 "status": "active"}
    assert pending(client, token)["items"] == []
    assert any(n["kind"] == "account.reviewed" and "approved" in n["text"]
               for n in notifications(client, citizen, phone))
    approved = audit_events(db_session, "account.approved", "citizen", citizen.id)
    assert len(approved) == 1 and approved[0].actor_type == "officer"


def test_rejecting_needs_a_reason(client, db_session, protector, officer):
    citizen = add_citizen(db_session, protector)
    account = register(client, citizen, Phone(), phone_number=OTHER_NUMBER)
    token = officer.log_in(client)
    assert_error(review(client, token, account["account_id"], "reject"), 422,
                 "review.reason_required")
    assert db_session.get(Account, account["account_id"]).status == "pending_review"


def test_a_rejected_citizen_cannot_log_in(client, db_session, protector, officer):
    citizen, phone = add_citizen(db_session, protector), Phone()
    account = register(client, citizen, phone, phone_number=OTHER_NUMBER)
    citizen_token = login(client, citizen.personal_id, phone)["access_token"]
    answer = review(client, officer.log_in(client), account["account_id"], "reject",
                    reason="The phone number is not the citizen's.")
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["status"] == "rejected"
    assert_error(login_answer(client, citizen.personal_id, phone), 403, "account.not_active")
    # A token issued before the rejection stops working too.
    assert_error(client.get("/api/v1/me", headers=bearer(citizen_token)), 401,
                 "auth.invalid_token")
    [event] = audit_events(db_session, "account.rejected", "citizen", citizen.id)
    assert event.details["reason"] == "The phone number is not the citizen's."


def test_reviewing_an_active_account_is_a_conflict(client, db_session, protector, officer):
    account = register(client, add_citizen(db_session, protector), Phone())
    assert account["status"] == "active"
    token = officer.log_in(client)
    assert_error(review(client, token, account["account_id"], "approve"), 409,
                 "account.not_pending")
    assert_error(review(client, token, account["account_id"], "reject", reason="no reason"), 409,
                 "account.not_pending")


def test_reviewing_twice_is_a_conflict(client, db_session, protector, officer):
    account = register(client, add_citizen(db_session, protector), Phone(),
                       phone_number=OTHER_NUMBER)
    token = officer.log_in(client)
    assert review(client, token, account["account_id"], "approve").status_code == 200
    assert_error(review(client, token, account["account_id"], "approve"), 409,
                 "account.not_pending")


def test_reviewing_outside_the_jurisdiction_is_refused_and_audited(client, db_session,
                                                                   protector, hcm_officer):
    citizen = add_citizen(db_session, protector)
    account = register(client, citizen, Phone(), phone_number=OTHER_NUMBER)
    answer = review(client, hcm_officer.log_in(client), account["account_id"], "approve")
    assert_error(answer, 404, "account.not_found")
    assert db_session.get(Account, account["account_id"]).status == "pending_review"
    assert len(audit_events(db_session, "account.review_refused", "citizen", citizen.id)) == 1


def test_an_unknown_decision_is_invalid(client, db_session, protector, officer):
    account = register(client, add_citizen(db_session, protector), Phone(),
                       phone_number=OTHER_NUMBER)
    answer = review(client, officer.log_in(client), account["account_id"], "maybe")
    assert_error(answer, 422, "request.invalid")


# --- Level 2 -----------------------------------------------------------------------------------

def test_raising_to_level2_in_person(client, db_session, protector, officer):
    citizen, phone = add_citizen(db_session, protector), Phone()
    account = register(client, citizen, phone)
    before = login(client, citizen.personal_id, phone)["access_token"]
    answer = raise_level2(client, officer.log_in(client), account["account_id"],
                          citizen.personal_id, check="fingerprint")
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json() == {"account_id": account["account_id"], "level": 2,
                                 "status": "active"}
    # The level change applies at once: the old token is refused, a new login is level 2.
    assert_error(client.get("/api/v1/me", headers=bearer(before)), 401, "auth.invalid_token")
    after = login(client, citizen.personal_id, phone)["access_token"]
    assert client.get("/api/v1/me", headers=bearer(after)).get_json()["level"] == 2
    stored = db_session.get(Account, account["account_id"])
    assert stored.level2_check == "fingerprint"
    assert stored.level2_card_last4 == citizen.personal_id[-4:]
    assert stored.level2_officer_id == officer.officer_id
    entries = [e for e in access_log(client, citizen, phone) if e["action"] == "account.level2"]
    assert len(entries) == 1
    assert entries[0]["actor_type"] == "officer" and entries[0]["by"].startswith("Công an")


def test_level2_with_another_card_number_is_refused(client, db_session, protector, officer):
    citizen = add_citizen(db_session, protector)
    someone_else = add_citizen(db_session, protector)
    account = register(client, citizen, Phone())
    answer = raise_level2(client, officer.log_in(client), account["account_id"],
                          someone_else.personal_id)
    assert_error(answer, 422, "level2.card_mismatch")
    assert db_session.get(Account, account["account_id"]).level == 1


@pytest.mark.parametrize("body", [
    {"check": "retina"},
    {"check": None},
    {"card_number": "12345"},
])
def test_level2_with_a_bad_request_is_invalid(client, db_session, protector, officer, body):
    citizen = add_citizen(db_session, protector)
    account = register(client, citizen, Phone())
    answer = client.post(f"/api/v1/police/accounts/{account['account_id']}/level2",
                         headers=bearer(officer.log_in(client)),
                         json={"card_number": citizen.personal_id, "check": "face", **body})
    assert answer.status_code == 422, answer.get_json()
    assert_error(answer, 422, answer.get_json()["code"])
    assert db_session.get(Account, account["account_id"]).level == 1


def test_level2_outside_the_jurisdiction_is_refused(client, db_session, protector, hcm_officer):
    citizen = add_citizen(db_session, protector)
    account = register(client, citizen, Phone())
    answer = raise_level2(client, hcm_officer.log_in(client), account["account_id"],
                          citizen.personal_id)
    assert_error(answer, 404, "account.not_found")
    assert db_session.get(Account, account["account_id"]).level == 1
    assert len(audit_events(db_session, "account.level2_refused", "citizen", citizen.id)) == 1


def test_level2_twice_is_a_conflict(client, db_session, protector, officer):
    citizen = add_citizen(db_session, protector)
    account = register(client, citizen, Phone())
    token = officer.log_in(client)
    assert raise_level2(client, token, account["account_id"], citizen.personal_id).status_code \
        == 200
    assert_error(raise_level2(client, token, account["account_id"], citizen.personal_id), 409,
                 "account.already_level2")


def test_level2_of_an_account_waiting_for_review_is_a_conflict(client, db_session, protector,
                                                               officer):
    citizen = add_citizen(db_session, protector)
    account = register(client, citizen, Phone(), phone_number=OTHER_NUMBER)
    assert_error(raise_level2(client, officer.log_in(client), account["account_id"],
                              citizen.personal_id), 409, "account.not_active")


# --- In-person device rebind -------------------------------------------------------------------

def test_in_person_rebind_binds_the_new_phone_and_retires_the_old(client, db_session, protector,
                                                                  officer):
    citizen, old, new = add_citizen(db_session, protector), Phone(), Phone()
    account = register(client, citizen, old)
    old_token = login(client, citizen.personal_id, old)["access_token"]
    answer = rebind(client, officer.log_in(client), account["account_id"], new)
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["status"] == "active"
    assert_error(client.get("/api/v1/me", headers=bearer(old_token)), 401, "auth.invalid_token")
    assert_error(login_answer(client, citizen.personal_id, old), 401, "auth.failed")
    tokens = login(client, citizen.personal_id, new)
    me = client.get("/api/v1/me", headers=bearer(tokens["access_token"])).get_json()
    assert me["device_id"] == new.device_id
    entries = [e for e in access_log(client, citizen, new)
               if e["action"] == "device.rebound_in_person"]
    assert len(entries) == 1 and entries[0]["actor_type"] == "officer"
    assert any(n["kind"] == "device.rebound" for n in notifications(client, citizen, new))


def test_in_person_rebind_unlocks_a_locked_account(client, db_session, protector, officer):
    citizen, old, new = add_citizen(db_session, protector), Phone(), Phone()
    account = register(client, citizen, old)
    token = login(client, citizen.personal_id, old)["access_token"]
    locked = client.post("/api/v1/me/lock", headers=bearer(token))
    assert locked.status_code == 200 and locked.get_json()["status"] == "locked"
    assert_error(login_answer(client, citizen.personal_id, old), 403, "account.locked")
    answer = rebind(client, officer.log_in(client), account["account_id"], new)
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["status"] == "active"
    assert login(client, citizen.personal_id, new)["access_token"]
    assert_error(login_answer(client, citizen.personal_id, old), 401, "auth.failed")


def test_in_person_rebind_of_a_locked_pending_account_keeps_it_pending(client, db_session,
                                                                       protector, officer):
    citizen, old, new = add_citizen(db_session, protector), Phone(), Phone()
    account = register(client, citizen, old, phone_number=OTHER_NUMBER)
    token = login(client, citizen.personal_id, old)["access_token"]
    assert client.post("/api/v1/me/lock", headers=bearer(token)).status_code == 200
    answer = rebind(client, officer.log_in(client), account["account_id"], new)
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["status"] == "pending_review"


def test_in_person_rebind_with_a_new_number_sends_later_codes_there(
        client, db_session, protector, officer):
    citizen, old, new, newer = add_citizen(db_session, protector), Phone(), Phone(), Phone()
    account = register(client, citizen, old)
    old_number = citizen.test_phone
    answer = rebind(client, officer.log_in(client), account["account_id"], new,
                    phone="+84 987 654 321")
    assert answer.status_code == 200, answer.get_json()
    token = login(client, citizen.personal_id, new)["access_token"]
    me = client.get("/api/v1/me", headers=bearer(token)).get_json()
    assert me["phone_masked"].endswith("21") and me["phone_masked"].startswith("098")
    # A later device change by SMS goes to the new number.
    started = client.post("/api/v1/auth/device-rebind", json={
        "personal_id": citizen.personal_id, "password": PASSWORD,
        "device_id": newer.device_id, "device_public_key": newer.public_key})
    assert started.status_code == 202, started.get_json()
    messages = client.get("/api/v1/dev/sms-outbox").get_json()["messages"]
    assert messages[0]["phone"] == OTHER_NUMBER
    assert [m for m in messages if m["phone"] == old_number] == [messages[-1]]  # registration
    confirmed = client.post(
        f"/api/v1/auth/device-rebind/{started.get_json()['rebind_id']}/confirm",
        json={"otp": latest_code(client, OTHER_NUMBER)})
    assert confirmed.status_code == 200, confirmed.get_json()
    assert login(client, citizen.personal_id, newer)["access_token"]


def test_in_person_rebind_outside_the_jurisdiction_is_refused(client, db_session, protector,
                                                              hcm_officer):
    citizen, old = add_citizen(db_session, protector), Phone()
    account = register(client, citizen, old)
    answer = rebind(client, hcm_officer.log_in(client), account["account_id"], Phone())
    assert_error(answer, 404, "account.not_found")
    assert login(client, citizen.personal_id, old)["access_token"]
    assert len(audit_events(db_session, "device.rebind_refused", "citizen", citizen.id)) == 1


def test_in_person_rebind_needs_a_valid_key_and_check(client, db_session, protector, officer):
    citizen = add_citizen(db_session, protector)
    account = register(client, citizen, Phone())
    token = officer.log_in(client)
    new = Phone()
    bad_key = client.post(f"/api/v1/police/accounts/{account['account_id']}/device",
                          headers=bearer(token),
                          json={"device_id": new.device_id, "device_public_key": "AAAA",
                                "check": "face"})
    assert_error(bad_key, 422, "device.key_invalid")
    no_check = rebind(client, token, account["account_id"], new, check="none")
    assert no_check.status_code == 422, no_check.get_json()


def test_in_person_rebind_of_a_rejected_account_is_a_conflict(client, db_session, protector,
                                                              officer):
    citizen = add_citizen(db_session, protector)
    account = register(client, citizen, Phone(), phone_number=OTHER_NUMBER)
    token = officer.log_in(client)
    assert review(client, token, account["account_id"], "reject",
                  reason="Not the citizen's phone").status_code == 200
    assert_error(rebind(client, token, account["account_id"], Phone()), 409,
                 "account.not_active")
