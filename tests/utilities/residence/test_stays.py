"""Temporary stays through the service: the state machine, the host, the police, the record."""
from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import sqlalchemy as sa

from identity.accounts.errors import WrongPasscode
from identity.accounts.models import PENDING_REVIEW, Notification, Officer
from identity.credentials.types import credential_types
from identity.errors import Conflict, InvalidInput
from identity.monitoring.counters import total
from identity.monitoring.queues import backlogs
from identity.registry.models import TemporaryResidence
from tests.flows import PASSCODE
from tests.factories import add_account, add_citizen
from tests.utilities.residence.helpers import (ACTOR, OTHER_COMMUNE, STAY_COMMUNE, TUESDAY,
                                               events, hcm_commune,
                                               officer, stay_body)
from utilities.residence import backlog, declarations, stays
from utilities.residence.errors import (NoCurrentResidence, PeriodOverlaps, RenewalOpen,
                                        StayNotFound)
from utilities.residence.models import TemporaryStay
from utilities.residence.stay_view import declarant_view
from utilities.workflow import (CaseChanged, RoleNotAllowed, TransitionNotAllowed, Workflow)

FLOW = stays.STAY_FLOW


pytestmark = pytest.mark.usefixtures("tuesday")  # every test starts on Tuesday (conftest.py)


@pytest.fixture()
def people(db_session: Any, protector: Any) -> dict[str, Any]:
    """A declarant and a host with accounts, and the officers around the stay's commune."""
    return {
        "declarant": add_account(db_session, protector),
        "host": add_account(db_session, protector),
        "officer": officer(db_session, protector, username="stay.officer"),
        "province_officer": officer(db_session, protector, username="stay.province",
                                    commune_code=None),
        "neighbour": officer(db_session, protector, username="stay.neighbour",
                             commune_code=OTHER_COMMUNE),
        "hcm": officer(db_session, protector, username="stay.hcm", province_code="79",
                       commune_code=hcm_commune()),
    }


def declare(db_session: Any, people: dict[str, Any], host: Any = None,
            **overrides: Any) -> TemporaryStay:
    host_account = host or people["host"]
    return stays.declare_stay(db_session=db_session, actor=ACTOR, account=people["declarant"],
                              **stay_body(host_account.citizen, **overrides))


def confirm(db_session: Any, people: dict[str, Any], stay: TemporaryStay,
            passcode: str = PASSCODE, confirm: bool = True) -> TemporaryStay:
    return stays.answer_as_host(db_session=db_session, actor=ACTOR, account=people["host"],
                                stay_id=stay.id, confirm=confirm, passcode=passcode)


def act(db_session: Any, who: Any, stay: TemporaryStay, action: str, **kwargs: Any) -> Any:
    return stays.act_on_stay(db_session=db_session, actor=ACTOR, officer=who, stay_id=stay.id,
                             action=action, **kwargs)


def approved_stay(db_session: Any, people: dict[str, Any], **overrides: Any) -> TemporaryStay:
    stay = declare(db_session, people, **overrides)
    confirm(db_session, people, stay)
    return act(db_session, people["officer"], stay, "approve")


# --- The state machine itself ---------------------------------------------------------------------

ALLOWED = [
    ("awaiting_host", "confirm_host", "host", "submitted"),
    ("awaiting_host", "refuse_host", "host", "refused_by_host"),
    ("awaiting_host", "withdraw", "citizen", "withdrawn"),
    ("awaiting_check", "check_host", "officer", "submitted"),
    ("awaiting_check", "reject", "supervisor", "rejected"),
    ("awaiting_check", "withdraw", "citizen", "withdrawn"),
    ("submitted", "approve", "officer", "approved"),
    ("submitted", "approve", "supervisor", "approved"),
    ("submitted", "reject", "officer", "rejected"),
    ("submitted", "withdraw", "citizen", "withdrawn"),
]


@pytest.mark.parametrize(("state", "action", "role", "target"), ALLOWED)
def test_allowed_transitions(state: str, action: str, role: str, target: str) -> None:
    assert FLOW.check(state, action, role).target == target


@pytest.mark.parametrize(("state", "action"), [
    ("awaiting_host", "approve"), ("awaiting_check", "approve"), ("submitted", "confirm_host"),
    ("approved", "withdraw"), ("approved", "reject"), ("rejected", "approve"),
    ("withdrawn", "confirm_host"), ("refused_by_host", "check_host"), ("submitted", "check_host"),
])
def test_refused_transitions_list_the_allowed_ones(state: str, action: str) -> None:
    with pytest.raises(TransitionNotAllowed) as caught:
        FLOW.check(state, action, "officer")
    assert caught.value.errors["allowed"] == FLOW.allowed(state, "officer")


@pytest.mark.parametrize(("action", "role"), [
    ("approve", "citizen"), ("approve", "host"), ("confirm_host", "citizen"),
    ("confirm_host", "officer"), ("withdraw", "officer"), ("withdraw", "host"),
])
def test_transitions_refused_to_the_wrong_role(action: str, role: str) -> None:
    source = next(iter(FLOW.transitions[action].sources))
    with pytest.raises(RoleNotAllowed):
        FLOW.check(source, action, role)


def test_terminal_states_allow_nothing() -> None:
    for state in ("approved", "rejected", "withdrawn", "refused_by_host"):
        assert FLOW.allowed(state) == []


def test_a_case_may_start_in_another_state_of_its_workflow_only() -> None:
    flow = Workflow("sample", initial="a", transitions=[("go", ["a"], "b", ["officer"])])
    with pytest.raises(ValueError):
        flow.start(None, TemporaryStay(), role="citizen", by=None,  # type: ignore[arg-type]
                   entry_state="nowhere")


# --- Deadlines ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("submitted", "days", "deadline"), [
    (dt.datetime(2026, 12, 1, 3, tzinfo=dt.timezone.utc), 3, dt.date(2026, 12, 4)),  # Tue -> Fri
    (dt.datetime(2026, 11, 27, 3, tzinfo=dt.timezone.utc), 3, dt.date(2026, 12, 2)),  # Fri -> Wed
    (dt.datetime(2026, 11, 28, 3, tzinfo=dt.timezone.utc), 1, dt.date(2026, 11, 30)),  # Sat -> Mon
    # 20:00 UTC on Thursday is already Friday in Hanoi.
    (dt.datetime(2026, 12, 3, 20, tzinfo=dt.timezone.utc), 1, dt.date(2026, 12, 7)),
])
def test_deadline_is_the_end_of_a_working_day_in_hanoi(submitted: dt.datetime, days: int,
                                                       deadline: dt.date) -> None:
    decide_by = declarations.decision_deadline(submitted, days)
    local = decide_by.astimezone(declarations.VIETNAM)
    assert (local.date(), local.time()) == (deadline, dt.time(23, 59, 59))


# --- Declaring ------------------------------------------------------------------------------------

def test_a_host_with_an_account_is_asked_first(db_session: Any, people: dict[str, Any]) -> None:
    stay = declare(db_session, people)
    assert (stay.status, stay.host_check, stay.decide_by) == ("awaiting_host", "app", None)
    assert [e.action for e in FLOW.history(db_session, stay.id)] == ["create"]
    pending, count = stays.host_confirmations(db_session=db_session, account=people["host"],
                                              page=1, per_page=10)
    assert ([s.id for s in pending], count) == ([stay.id], 1)
    assert events(db_session, "residence.stay_declared", people["declarant"].citizen_id)
    assert total(db_session, metric="residence.temporary_stay.declared", province_code="01") == 1


def test_a_host_without_an_account_goes_to_the_police_to_check(db_session: Any, protector: Any,
                                                               people: dict[str, Any]) -> None:
    host = add_account(db_session, protector, status=PENDING_REVIEW)
    stay = declare(db_session, people, host=host)
    assert (stay.status, stay.host_check) == ("awaiting_check", "in_person")
    assert stay.decide_by == declarations.decision_deadline(TUESDAY, 3)
    with pytest.raises(TransitionNotAllowed) as caught:
        act(db_session, people["officer"], stay, "approve")
    assert caught.value.errors["allowed"] == ["check_host", "reject"]
    act(db_session, people["officer"], stay, "check_host", reason="Chủ nhà xác nhận tại trụ sở")
    assert act(db_session, people["officer"], stay, "approve").status == "approved"
    history = FLOW.history(db_session, stay.id)
    assert [(e.action, e.to_state) for e in history] == [
        ("create", "awaiting_check"), ("check_host", "submitted"), ("approve", "approved")]
    assert history[1].by == "Công an Thành phố Hà Nội"


def test_the_owner_of_the_place_is_their_own_host(db_session: Any,
                                                  people: dict[str, Any]) -> None:
    stay = declare(db_session, people, host=people["declarant"])
    assert (stay.status, stay.host_check) == ("submitted", "self")


@pytest.mark.parametrize(("overrides", "code", "field"), [
    ({"commune_code": "99999"}, "commune.unknown", "commune_code"),
    ({"commune_code": "00070"}, "stay.permanent_commune", "commune_code"),
    ({"start_date": dt.date(2026, 11, 30)}, "period.start_past", "start_date"),
    ({"end_date": dt.date(2026, 12, 2)}, "period.end_before_start", "end_date"),
    ({"end_date": dt.date(2028, 12, 3)}, "period.too_long", "end_date"),
    ({"reason": "Đi làm\x00"}, "text.control_characters", "reason"),
    ({"address": "Số 1\u202e"}, "text.control_characters", "address"),
    ({"address": "   "}, "text.empty", "address"),
])
def test_bad_input_names_the_field(db_session: Any, people: dict[str, Any],
                                   overrides: dict[str, Any], code: str, field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        stays.declare_stay(db_session=db_session, actor=ACTOR, account=people["declarant"],
                           **{**stay_body(people["host"].citizen), **overrides})
    assert (caught.value.code, caught.value.field) == (code, field)


def test_an_unknown_host_is_taken_like_a_host_without_the_app(
        db_session: Any, protector: Any, people: dict[str, Any]) -> None:
    """No oracle: an id the registry does not know goes to the in-person check, exactly as a
    registry citizen without an account does; the officer sees the id as declared."""
    unknown = declare(db_session, people, host_personal_id="001099999999")
    without_app = add_citizen(db_session, protector)
    known = declare(db_session, people, host_personal_id=without_app.personal_id,
                    start_date=dt.date(2028, 1, 1), end_date=dt.date(2028, 6, 1))
    for stay in (unknown, known):
        assert (stay.status, stay.host_check) == ("awaiting_check", "in_person")
    assert (unknown.host_citizen_id, unknown.host_personal_id) == (None, "001099999999")
    assert (known.host_citizen_id, known.host_personal_id) == (without_app.id, None)
    assert events(db_session, "residence.stay_refused") == []


def _shown(db_session: Any, stay: TemporaryStay) -> dict[str, Any]:
    """What the declarant is shown of ``stay`` (the projection), apart from ids and times."""
    view = declarant_view(_WithHistory(stay, FLOW.history(db_session, stay.id)))
    return {"status": view.status, "host_check": view.host_check,
            "submitted": view.submitted_at is not None, "deadline": view.decide_by is not None,
            "history": [(s.action, s.from_state, s.to_state, s.role, s.by, s.note)
                        for s in view.history[1:]]}


class _WithHistory:
    """A stay with its history, as the route hands it to the schema."""

    def __init__(self, stay: TemporaryStay, history: list[Any]) -> None:
        """Keep the stay and its history."""
        self._stay, self.history = stay, history

    def __getattr__(self, name: str) -> Any:
        """The stay's own attribute."""
        return getattr(self._stay, name)


def test_the_declarant_is_shown_one_course_whoever_the_host_is(
        db_session: Any, protector: Any, people: dict[str, Any]) -> None:
    """The app host and the host checked in person read alike to the declarant, before and
    after the host is confirmed; the case itself keeps its real states."""
    by_app = declare(db_session, people)
    in_person = declare(db_session, people, host_personal_id="001099999999",
                        start_date=dt.date(2028, 1, 1), end_date=dt.date(2028, 6, 1))
    assert (by_app.status, in_person.status) == ("awaiting_host", "awaiting_check")
    waiting = {"status": "awaiting_host", "host_check": "host", "submitted": False,
               "deadline": False, "history": []}
    assert _shown(db_session, by_app) == _shown(db_session, in_person) == waiting
    confirm(db_session, people, by_app)
    act(db_session, people["officer"], in_person, "check_host", reason="Gặp chủ nhà")
    assert in_person.host_confirmed_at is not None
    shown = _shown(db_session, by_app)
    assert shown == _shown(db_session, in_person) == {
        "status": "submitted", "host_check": "host", "submitted": True, "deadline": True,
        "history": [("confirm_host", "awaiting_host", "submitted", "host", "host", None)]}
    # The officers' history keeps who did it, with the note.
    assert [(e.action, e.note) for e in FLOW.history(db_session, in_person.id)][1] == (
        "check_host", "Gặp chủ nhà")
    # The declarant is told alike, and the audit event they read names no host check.
    texts = db_session.scalars(sa.select(Notification.text).where(
        Notification.account_id == people["declarant"].id,
        Notification.kind == "residence.stay_host_answer")).all()
    assert len(texts) == 2 and texts[0] == texts[1]
    assert [e.details.get("host_check", "none") for e in events(
        db_session, "residence.stay_declared", people["declarant"].citizen_id)] == [
        "none", "none"]


def test_the_own_place_is_shown_as_it_is(db_session: Any, people: dict[str, Any]) -> None:
    """A declarant who owns the place knows it: ``self``, at the police with a deadline."""
    stay = declare(db_session, people, host=people["declarant"])
    assert _shown(db_session, stay) == {"status": "submitted", "host_check": "self",
                                        "submitted": True, "deadline": True, "history": []}


def test_two_years_exactly_is_allowed(db_session: Any, people: dict[str, Any]) -> None:
    assert declare(db_session, people, end_date=dt.date(2028, 12, 2)).id


def test_an_overlapping_stay_is_refused(db_session: Any, people: dict[str, Any]) -> None:
    declare(db_session, people)
    with pytest.raises(PeriodOverlaps):
        declare(db_session, people, start_date=dt.date(2027, 6, 1),
                end_date=dt.date(2028, 1, 1))
    # After the period, a new stay is fine.
    assert declare(db_session, people, start_date=dt.date(2027, 12, 2),
                   end_date=dt.date(2028, 1, 1)).status == "awaiting_host"


# --- The host -------------------------------------------------------------------------------------

def test_the_host_confirms_with_the_passcode(db_session: Any, people: dict[str, Any],
                                             tuesday: Any) -> None:
    stay = declare(db_session, people)
    with pytest.raises(WrongPasscode):
        confirm(db_session, people, stay, passcode="000000")
    db_session.refresh(stay)
    assert stay.status == "awaiting_host" and people["host"].failed_passcodes == 1
    tuesday.move_to(TUESDAY + dt.timedelta(days=3))  # Friday: the police's clock starts now
    confirm(db_session, people, stay)
    assert stay.status == "submitted" and stay.host_confirmed_at is not None
    assert stay.decide_by == declarations.decision_deadline(TUESDAY + dt.timedelta(days=3), 3)
    assert people["host"].failed_passcodes == 0
    assert events(db_session, "residence.host_confirmed", people["declarant"].citizen_id)


def test_a_refusal_by_the_host_ends_the_case(db_session: Any, people: dict[str, Any]) -> None:
    stay = declare(db_session, people)
    confirm(db_session, people, stay, confirm=False)
    assert stay.status == "refused_by_host"
    with pytest.raises(TransitionNotAllowed) as caught:
        confirm(db_session, people, stay)
    assert caught.value.errors["allowed"] == []
    assert people["host"].failed_passcodes == 0  # a stale answer costs no passcode try


def test_only_the_named_host_may_answer(db_session: Any, protector: Any,
                                        people: dict[str, Any]) -> None:
    stay = declare(db_session, people)
    stranger = add_account(db_session, protector)
    for account in (stranger, people["declarant"]):
        with pytest.raises(StayNotFound):
            stays.answer_as_host(db_session=db_session, actor=ACTOR, account=account,
                                 stay_id=stay.id, confirm=True, passcode=PASSCODE)
    assert stays.host_confirmations(db_session=db_session, account=stranger, page=1,
                                    per_page=10) == ([], 0)


# --- The police -----------------------------------------------------------------------------------

def test_approval_adds_the_residence_and_the_credential_claims(db_session: Any,
                                                               people: dict[str, Any],
                                                               tuesday: Any) -> None:
    builder = credential_types()["residence"].claims
    declarant = people["declarant"]
    with pytest.raises(NoCurrentResidence) as caught:
        builder(db_session, declarant)
    assert isinstance(caught.value, Conflict) and caught.value.code == "residence.none"
    stay = approved_stay(db_session, people)
    assert (stay.decided_by_officer_id, stay.decided_at) == (people["officer"].id, TUESDAY)
    record = db_session.scalars(sa.select(TemporaryResidence).where(
        TemporaryResidence.citizen_id == declarant.citizen_id)).one()
    assert (record.commune_code, record.source) == (STAY_COMMUNE, f"temporary_stay:{stay.id}")
    with pytest.raises(NoCurrentResidence):  # approved, but it starts tomorrow
        builder(db_session, declarant)
    tuesday.move_to(TUESDAY + dt.timedelta(days=1))
    assert builder(db_session, declarant) == {
        "id": declarant.citizen.personal_id, "nm": declarant.citizen.full_name,
        "addr": "Số 12, ngõ 5, phố Huế", "cm": STAY_COMMUNE, "fr": "2026-12-02",
        "to": "2027-12-01"}
    tuesday.move_to(dt.datetime(2027, 12, 2, 3, tzinfo=dt.timezone.utc))  # it has ended
    with pytest.raises(NoCurrentResidence):
        builder(db_session, declarant)


def test_the_residence_type_is_registered_for_level_1() -> None:
    registered = credential_types()["residence"]
    assert (registered.min_level, registered.lifetime) == (1, 120)


def test_a_rejection_needs_a_reason(db_session: Any, people: dict[str, Any]) -> None:
    stay = declare(db_session, people)
    confirm(db_session, people, stay)
    with pytest.raises(InvalidInput) as caught:
        act(db_session, people["officer"], stay, "reject")
    assert (caught.value.code, caught.value.field) == ("reason.required", "reason")
    act(db_session, people["officer"], stay, "reject", reason="Địa chỉ không có thật")
    assert (stay.status, stay.decision_reason) == ("rejected", "Địa chỉ không có thật")
    assert db_session.scalar(sa.select(sa.func.count()).select_from(TemporaryResidence)) == 0


def test_the_citizen_withdraws_before_the_decision_only(db_session: Any,
                                                        people: dict[str, Any]) -> None:
    first = declare(db_session, people)
    stays.withdraw_stay(db_session=db_session, actor=ACTOR, account=people["declarant"],
                        stay_id=first.id)
    assert first.status == "withdrawn"
    second = approved_stay(db_session, people)
    with pytest.raises(TransitionNotAllowed) as caught:
        stays.withdraw_stay(db_session=db_session, actor=ACTOR, account=people["declarant"],
                            stay_id=second.id)
    assert caught.value.errors["allowed"] == []


def test_another_citizen_does_not_find_the_stay(db_session: Any, protector: Any,
                                                people: dict[str, Any]) -> None:
    stay = declare(db_session, people)
    with pytest.raises(StayNotFound):
        stays.withdraw_stay(db_session=db_session, actor=ACTOR, account=people["host"],
                            stay_id=stay.id)
    with pytest.raises(StayNotFound):
        stays.get_own_stay(db_session=db_session, account=people["host"], stay_id=stay.id)


@pytest.mark.parametrize("who", ["neighbour", "hcm"])
def test_an_officer_outside_the_commune_does_not_find_it(db_session: Any, people: dict[str, Any],
                                                         who: str) -> None:
    stay = declare(db_session, people, host=people["declarant"])
    with pytest.raises(StayNotFound):
        act(db_session, people[who], stay, "approve")
    with pytest.raises(StayNotFound):
        stays.read_stay(db_session=db_session, actor=ACTOR, officer=people[who],
                        stay_id=stay.id)
    assert stay.status == "submitted"
    refused = events(db_session, "residence.access_refused")
    assert [(e.subject_type, e.subject_id) for e in refused] == [
        ("temporary_stay", str(stay.id))] * 2
    queue, count = stays.stay_queue(db_session=db_session, officer=people[who], statuses=None,
                                    commune_code=None, overdue=False, page=1, per_page=10)
    assert (queue, count) == ([], 0)


def test_a_province_officer_works_every_commune_of_the_province(db_session: Any,
                                                                people: dict[str, Any]) -> None:
    stay = declare(db_session, people, host=people["declarant"])
    queue, _ = stays.stay_queue(db_session=db_session, officer=people["province_officer"],
                                statuses=None, commune_code=STAY_COMMUNE, overdue=False,
                                page=1, per_page=10)
    assert [s.id for s in queue] == [stay.id]
    assert act(db_session, people["province_officer"], stay, "approve").status == "approved"


def test_reading_a_stay_shows_in_the_declarant_and_host_access_logs(
        db_session: Any, people: dict[str, Any]) -> None:
    stay = declare(db_session, people)
    confirm(db_session, people, stay)
    read, history = stays.read_stay(db_session=db_session, actor=ACTOR,
                                    officer=people["officer"], stay_id=stay.id)
    assert [e.action for e in history] == ["create", "confirm_host"]
    for account in (people["declarant"], people["host"]):
        logged = events(db_session, "residence.stay_read", account.citizen_id)
        assert [e.details["by"] for e in logged] == ["Công an Thành phố Hà Nội"]
        assert logged[0].actor_id == f"officer:{people['officer'].id}"


def test_two_officers_at_once_one_wins(db_session: Any, session_factory: Any,
                                       people: dict[str, Any]) -> None:
    stay = declare(db_session, people, host=people["declarant"])
    stay_id, loser_id = stay.id, people["province_officer"].id
    # The loser reads the case (version n) in their own session, and is still thinking...
    loser = session_factory()
    seen = loser.get(TemporaryStay, stay.id)
    loser.expunge(seen)
    loser.commit()
    # ... while the winner approves it.
    act(db_session, people["officer"], stay, "approve")
    # The loser's UPDATE carries "WHERE version = n": it matches nothing.
    loser.add(seen)
    with pytest.raises(CaseChanged) as caught:
        stays.act_on_stay(db_session=loser, actor=ACTOR, officer=loser.get(Officer, loser_id),
                          stay_id=stay_id, action="reject", reason="Trùng hồ sơ")
    assert caught.value.code == "workflow.case_changed"
    db_session.expire_all()
    assert db_session.get(TemporaryStay, stay.id).status == "approved"
    assert [e.action for e in FLOW.history(db_session, stay.id)] == ["create", "approve"]
    assert events(db_session, "residence.stay_reject") == []


def test_acting_on_an_old_version_is_a_lost_race(db_session: Any,
                                                 people: dict[str, Any]) -> None:
    stay = declare(db_session, people, host=people["declarant"])
    seen = stay.version
    act(db_session, people["officer"], stay, "reject", reason="Thiếu giấy tờ")
    with pytest.raises(CaseChanged):
        act(db_session, people["officer"], stay, "approve", version=seen)


# --- Renewal --------------------------------------------------------------------------------------

def test_an_approved_stay_is_renewed_by_a_linked_declaration(db_session: Any,
                                                             people: dict[str, Any]) -> None:
    first = approved_stay(db_session, people)
    renewal = stays.renew_stay(db_session=db_session, actor=ACTOR,
                               account=people["declarant"], stay_id=first.id,
                               end_date=dt.date(2028, 6, 1))
    assert (renewal.previous_id, renewal.start_date, renewal.status) == (
        first.id, dt.date(2027, 12, 2), "awaiting_host")
    assert (renewal.commune_code, renewal.host_citizen_id) == (first.commune_code,
                                                               first.host_citizen_id)
    assert [e.action for e in FLOW.history(db_session, first.id)][-1] == "renew"
    with pytest.raises(RenewalOpen):
        stays.renew_stay(db_session=db_session, actor=ACTOR, account=people["declarant"],
                         stay_id=first.id, end_date=dt.date(2028, 6, 1))
    with pytest.raises(Conflict) as caught:
        stays.renew_stay(db_session=db_session, actor=ACTOR, account=people["declarant"],
                         stay_id=renewal.id, end_date=dt.date(2028, 6, 1))
    assert caught.value.code == "residence.not_renewable"


def test_a_renewal_is_at_most_two_years(db_session: Any, people: dict[str, Any]) -> None:
    first = approved_stay(db_session, people)
    with pytest.raises(InvalidInput) as caught:
        stays.renew_stay(db_session=db_session, actor=ACTOR, account=people["declarant"],
                         stay_id=first.id, end_date=dt.date(2029, 12, 3))
    assert caught.value.code == "period.too_long"


# --- Queues and the overdue view ------------------------------------------------------------------

def test_the_queue_counts_open_and_overdue_cases(db_session: Any, people: dict[str, Any],
                                                 tuesday: Any) -> None:
    declare(db_session, people)  # waits for the host: not the police's yet
    on_time = declare(db_session, people, host=people["declarant"],
                      start_date=dt.date(2028, 1, 1), end_date=dt.date(2028, 2, 1))

    def stays_backlog() -> list[tuple[str, str | None, int, int]]:
        return [(b.province_code, b.commune_code, b.open, b.overdue)
                for b in backlogs(db_session) if b.queue == "temporary_stays"]

    assert stays_backlog() == [("01", STAY_COMMUNE, 1, 0)]
    tuesday.move_to(dt.datetime(2026, 12, 4, 16, 59, tzinfo=dt.timezone.utc))  # Fri 23:59 ICT
    assert stays_backlog() == [("01", STAY_COMMUNE, 1, 0)]
    tuesday.move_to(dt.datetime(2026, 12, 4, 17, 0, tzinfo=dt.timezone.utc))  # Sat 00:00 ICT
    assert stays_backlog() == [("01", STAY_COMMUNE, 1, 1)]
    overdue, count = stays.stay_queue(db_session=db_session, officer=people["officer"],
                                      statuses=None, commune_code=None, overdue=True,
                                      page=1, per_page=10)
    assert ([s.id for s in overdue], count) == ([on_time.id], 1)


def test_the_overdue_view_is_for_supervisors_of_the_province(db_session: Any, protector: Any,
                                                             people: dict[str, Any],
                                                             tuesday: Any) -> None:
    stay = declare(db_session, people, host=people["declarant"])
    supervisor = officer(db_session, protector, username="stay.chief", commune_code=None,
                         role="supervisor")
    hcm_chief = officer(db_session, protector, username="stay.hcm.chief", province_code="79",
                        commune_code=None, role="supervisor")
    with pytest.raises(Exception) as refused:
        backlog.overdue_cases(db_session=db_session, officer=people["officer"],
                              kind="temporary_stay", page=1, per_page=10)
    assert getattr(refused.value, "code", None) == "residence.supervisor_only"
    assert backlog.overdue_cases(db_session=db_session, officer=supervisor,
                                 kind="temporary_stay", page=1, per_page=10) == ([], 0)
    tuesday.move_to(TUESDAY + dt.timedelta(days=7))
    items, count = backlog.overdue_cases(db_session=db_session, officer=supervisor,
                                         kind="temporary_stay", page=1, per_page=10)
    assert ([s.id for s in items], count) == ([stay.id], 1)
    assert backlog.overdue_cases(db_session=db_session, officer=hcm_chief,
                                 kind="temporary_stay", page=1, per_page=10) == ([], 0)


def test_the_queue_puts_cases_without_a_deadline_last(db_session: Any,
                                                      people: dict[str, Any]) -> None:
    waiting = declare(db_session, people)
    at_police = declare(db_session, people, host=people["declarant"],
                        start_date=dt.date(2028, 1, 1), end_date=dt.date(2028, 2, 1))
    queue, count = stays.stay_queue(db_session=db_session, officer=people["officer"],
                                    statuses=["awaiting_host", "submitted"],
                                    commune_code=None, overdue=False, page=1, per_page=10)
    assert ([s.id for s in queue], count) == ([at_police.id, waiting.id], 2)
