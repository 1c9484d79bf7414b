"""Temporary absences and lodging notices through the service."""
from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from identity.errors import InvalidInput
from identity.monitoring.counters import total
from identity.monitoring.queues import backlogs
from tests.factories import add_account, add_citizen
from tests.utilities.residence.helpers import (ACTOR, HOME_COMMUNE, OTHER_COMMUNE, STAY_COMMUNE,
                                               TUESDAY, events, officer)
from utilities.residence import absences, backlog, declarations, lodging
from utilities.residence.errors import (AbsenceNotFound, GuestNotFound, GuestReviewed,
                                        PeriodOverlaps)
from utilities.workflow import RoleNotAllowed, TransitionNotAllowed

FLOW = absences.ABSENCE_FLOW


pytestmark = pytest.mark.usefixtures("tuesday")  # every test starts on Tuesday (conftest.py)


def declare(db_session: Any, account: Any, **overrides: Any) -> Any:
    fields = {"start_date": dt.date(2026, 12, 5), "end_date": dt.date(2027, 3, 1),
              "reason": "Đi học", "destination": "Thành phố Hồ Chí Minh", **overrides}
    return absences.declare_absence(db_session=db_session, actor=ACTOR, account=account,
                                    **fields)


# --- Absences -------------------------------------------------------------------------------------

def test_the_absence_state_machine() -> None:
    assert FLOW.check("declared", "acknowledge", "officer").target == "acknowledged"
    assert FLOW.check("declared", "withdraw", "citizen").target == "withdrawn"
    with pytest.raises(TransitionNotAllowed) as caught:
        FLOW.check("acknowledged", "withdraw", "citizen")
    assert caught.value.errors["allowed"] == []
    with pytest.raises(RoleNotAllowed):
        FLOW.check("declared", "acknowledge", "citizen")
    with pytest.raises(RoleNotAllowed):
        FLOW.check("declared", "withdraw", "officer")


def test_an_absence_goes_to_the_police_of_the_permanent_residence(db_session: Any,
                                                                  protector: Any) -> None:
    citizen = add_account(db_session, protector)
    home = officer(db_session, protector, username="abs.home", commune_code=HOME_COMMUNE)
    elsewhere = officer(db_session, protector, username="abs.else", commune_code=STAY_COMMUNE)
    absence = declare(db_session, citizen)
    assert (absence.status, absence.commune_code) == ("declared", HOME_COMMUNE)
    assert absence.decide_by == declarations.decision_deadline(TUESDAY, 3)
    assert total(db_session, metric="residence.absence.declared", province_code="01") == 1
    with pytest.raises(AbsenceNotFound):
        absences.act_on_absence(db_session=db_session, actor=ACTOR, officer=elsewhere,
                                absence_id=absence.id, action="acknowledge")
    read, history = absences.read_absence(db_session=db_session, actor=ACTOR, officer=home,
                                          absence_id=absence.id)
    assert [e.action for e in history] == ["create"]
    assert events(db_session, "residence.absence_read", citizen.citizen_id)
    absences.act_on_absence(db_session=db_session, actor=ACTOR, officer=home,
                            absence_id=absence.id, action="acknowledge")
    assert absence.status == "acknowledged" and absence.acknowledged_by_officer_id == home.id
    with pytest.raises(TransitionNotAllowed):
        absences.withdraw_absence(db_session=db_session, actor=ACTOR, account=citizen,
                                  absence_id=absence.id)


def test_the_citizen_withdraws_their_own_absence_only(db_session: Any, protector: Any) -> None:
    citizen = add_account(db_session, protector)
    other = add_account(db_session, protector)
    absence = declare(db_session, citizen)
    with pytest.raises(AbsenceNotFound):
        absences.withdraw_absence(db_session=db_session, actor=ACTOR, account=other,
                                  absence_id=absence.id)
    absences.withdraw_absence(db_session=db_session, actor=ACTOR, account=citizen,
                              absence_id=absence.id)
    assert absence.status == "withdrawn"
    # Withdrawn: the period is free again.
    assert declare(db_session, citizen).status == "declared"


@pytest.mark.parametrize(("overrides", "code", "field"), [
    ({"start_date": dt.date(2026, 11, 30)}, "period.start_past", "start_date"),
    ({"end_date": dt.date(2026, 12, 4)}, "period.end_before_start", "end_date"),
    ({"end_date": dt.date(2028, 12, 6)}, "period.too_long", "end_date"),
    ({"destination": "Hu\nế"}, "text.control_characters", "destination"),
    ({"reason": ""}, "text.empty", "reason"),
])
def test_bad_absence_input_names_the_field(db_session: Any, protector: Any,
                                           overrides: dict[str, Any], code: str,
                                           field: str) -> None:
    citizen = add_account(db_session, protector)
    with pytest.raises(InvalidInput) as caught:
        declare(db_session, citizen, **overrides)
    assert (caught.value.code, caught.value.field) == (code, field)


def test_overlapping_absences_are_refused(db_session: Any, protector: Any) -> None:
    citizen = add_account(db_session, protector)
    declare(db_session, citizen)
    with pytest.raises(PeriodOverlaps):
        declare(db_session, citizen, start_date=dt.date(2027, 2, 1),
                end_date=dt.date(2027, 4, 1))


def test_absences_queue_and_overdue(db_session: Any, protector: Any, tuesday: Any) -> None:
    citizen = add_account(db_session, protector)
    home = officer(db_session, protector, username="abs.queue", commune_code=HOME_COMMUNE)
    chief = officer(db_session, protector, username="abs.chief", commune_code=None,
                    role="supervisor")
    absence = declare(db_session, citizen)
    queue, count = absences.absence_queue(db_session=db_session, officer=home, statuses=None,
                                          commune_code=None, overdue=False, page=1, per_page=5)
    assert ([a.id for a in queue], count) == ([absence.id], 1)
    tuesday.move_to(TUESDAY + dt.timedelta(days=4))
    assert [(b.commune_code, b.open, b.overdue) for b in backlogs(db_session)
            if b.queue == "absences"] == [(HOME_COMMUNE, 1, 1)]
    items, count = backlog.overdue_cases(db_session=db_session, officer=chief, kind="absence",
                                         page=1, per_page=5)
    assert ([a.id for a in items], count) == ([absence.id], 1)


# --- Lodging notices ------------------------------------------------------------------------------

def guests(*citizens: Any, arrival: dt.date = dt.date(2026, 12, 1),
           departure: dt.date = dt.date(2026, 12, 4)) -> list[dict[str, Any]]:
    return [{"personal_id": c.personal_id, "arrival": arrival, "departure": departure}
            for c in citizens]


def notify(db_session: Any, host: Any, rows: list[dict[str, Any]],
           commune_code: str = STAY_COMMUNE) -> Any:
    return lodging.notify_lodging(db_session=db_session, actor=ACTOR,
                                  notifier=lodging.citizen_notifier(host),
                                  commune_code=commune_code, address="Số 3, phố Huế",
                                  guests=rows)


def test_a_host_notifies_guests_and_the_police_see_who_stays_where(db_session: Any,
                                                                   protector: Any,
                                                                   tuesday: Any) -> None:
    host = add_account(db_session, protector)
    first, second = add_citizen(db_session, protector), add_citizen(db_session, protector)
    notice = notify(db_session, host, guests(first, second))
    assert (len(notice.guests), notice.notifier_type, notice.host_citizen_id) == (
        2, "citizen", host.citizen_id)
    assert total(db_session, metric="residence.lodging.notified", province_code="01") == 1
    # The guests' access logs show the notice.
    assert events(db_session, "residence.lodging_notified", first.id)
    police = officer(db_session, protector, username="lodging.police")
    neighbour = officer(db_session, protector, username="lodging.neighbour",
                        commune_code=OTHER_COMMUNE)
    shown, count = lodging.guests_staying(db_session=db_session, actor=ACTOR, officer=police,
                                          on=dt.date(2026, 12, 2), commune_code=None, page=1,
                                          per_page=10)
    assert count == 2
    assert {g.personal_id for g in shown} == {first.personal_id, second.personal_id}
    for guest in (first, second):
        read = events(db_session, "residence.lodging_read", guest.id)
        assert [e.details["by"] for e in read] == ["Công an Thành phố Hà Nội"]
    # A page shows (and logs) only its guests; a day out of the stay shows none.
    shown, count = lodging.guests_staying(db_session=db_session, actor=ACTOR, officer=police,
                                          on=None, commune_code=None, page=2, per_page=1)
    assert (len(shown), count) == (1, 2)
    assert len(events(db_session, "residence.lodging_read")) == 3
    assert lodging.guests_staying(db_session=db_session, actor=ACTOR, officer=police,
                                  on=dt.date(2026, 12, 5), commune_code=None, page=1,
                                  per_page=10) == ([], 0)
    assert lodging.guests_staying(db_session=db_session, actor=ACTOR, officer=neighbour,
                                  on=None, commune_code=None, page=1, per_page=10) == ([], 0)


def test_guests_the_registry_does_not_confirm_are_taken_and_queued_for_review(
        db_session: Any, protector: Any) -> None:
    """No oracle: an unknown id, or a known id with another name or birth date, is taken like
    any guest (nothing raised, nothing named) and waits for the police's review."""
    host = add_account(db_session, protector)
    known, named, born = (add_citizen(db_session, protector) for _ in range(3))
    rows = guests(known, named, born) + [{"personal_id": "001099999998",
                                          "arrival": dt.date(2026, 12, 1),
                                          "departure": dt.date(2026, 12, 2),
                                          "full_name": "Trần Thị Bình",
                                          "date_of_birth": dt.date(1990, 1, 2)}]
    rows[0].update(full_name=known.full_name.upper(), date_of_birth=known.date_of_birth)
    rows[1]["full_name"] = "Lê Văn Khác"
    rows[2]["date_of_birth"] = born.date_of_birth + dt.timedelta(days=1)
    notice = notify(db_session, host, rows)
    assert [(g.citizen_id, g.review_reason, g.review_state) for g in notice.guests] == [
        (known.id, None, None), (named.id, "mismatch", "pending"),
        (born.id, "mismatch", "pending"), (None, "unknown_id", "pending")]
    assert [g.personal_id for g in notice.guests] == [None, named.personal_id,
                                                      born.personal_id, "001099999998"]
    assert notice.guests[3].declared_name == "Trần Thị Bình"
    # The registry's citizens see the notice in their access log, the matched one included.
    for citizen in (known, named, born):
        assert events(db_session, "residence.lodging_notified", citizen.id)
    [queued] = events(db_session, "residence.lodging_to_review")
    assert queued.details == {"notifier": f"account:{host.id}", "guests": 4, "to_review": 3}
    assert events(db_session, "residence.lodging_refused") == []


def test_the_police_see_and_review_the_guests_in_review(db_session: Any,
                                                        protector: Any) -> None:
    host = add_account(db_session, protector)
    known = add_citizen(db_session, protector)
    rows = guests(known) + [{"personal_id": "001099999998", "arrival": dt.date(2026, 12, 1),
                             "departure": dt.date(2026, 12, 2), "full_name": "Trần Thị Bình"}]
    notify(db_session, host, rows)
    police = officer(db_session, protector, username="review.police")
    neighbour = officer(db_session, protector, username="review.neighbour",
                        commune_code=OTHER_COMMUNE)
    shown, count = lodging.guests_staying(db_session=db_session, actor=ACTOR, officer=police,
                                          on=None, commune_code=None, page=1, per_page=10,
                                          review="pending")
    assert count == 1
    [pending] = shown
    assert (pending.personal_id, pending.full_name, pending.in_registry,
            pending.review_reason) == ("001099999998", "Trần Thị Bình", False, "unknown_id")
    with pytest.raises(GuestNotFound):
        lodging.review_guest(db_session=db_session, actor=ACTOR, officer=neighbour,
                             guest_id=pending.guest_id, outcome="cleared")
    assert events(db_session, "residence.access_refused")
    done = lodging.review_guest(db_session=db_session, actor=ACTOR, officer=police,
                                guest_id=pending.guest_id, outcome="flagged",
                                reason="Không có trong CSDL")
    assert done.review_state == "flagged"
    [flagged] = events(db_session, "residence.lodging_flagged")
    assert flagged.details["reason"] == "unknown_id"
    with pytest.raises(GuestReviewed):
        lodging.review_guest(db_session=db_session, actor=ACTOR, officer=police,
                             guest_id=pending.guest_id, outcome="cleared")
    assert lodging.guests_staying(db_session=db_session, actor=ACTOR, officer=police, on=None,
                                  commune_code=None, page=1, per_page=10,
                                  review="pending") == ([], 0)


@pytest.mark.parametrize(("change", "code", "field"), [
    ({"arrival": dt.date(2026, 11, 29)}, "period.start_past", "guests.1.arrival"),
    ({"departure": dt.date(2026, 11, 30)}, "period.end_before_start", "guests.1.departure"),
    ({"duplicate": True}, "lodging.guest_duplicate", "guests.1.personal_id"),
])
def test_bad_guest_rows_are_named(db_session: Any, protector: Any, change: dict[str, Any],
                                  code: str, field: str) -> None:
    host = add_account(db_session, protector)
    first, second = add_citizen(db_session, protector), add_citizen(db_session, protector)
    rows = guests(first, first if change.pop("duplicate", False) else second,
                  arrival=dt.date(2026, 11, 30))
    rows[1].update(change)
    with pytest.raises(InvalidInput) as caught:
        notify(db_session, host, rows)
    assert (caught.value.code, caught.value.field) == (code, field)


def test_a_notice_has_one_to_fifty_guests_and_a_known_commune(db_session: Any,
                                                              protector: Any) -> None:
    host = add_account(db_session, protector)
    with pytest.raises(InvalidInput) as caught:
        notify(db_session, host, [])
    assert (caught.value.code, caught.value.field) == ("lodging.guest_count", "guests")
    with pytest.raises(InvalidInput) as caught:
        notify(db_session, host, guests(add_citizen(db_session, protector)),
               commune_code="12345")
    assert (caught.value.code, caught.value.field) == ("commune.unknown", "commune_code")


def test_a_hotel_can_notify_as_another_actor(db_session: Any, protector: Any) -> None:
    guest = add_citizen(db_session, protector)
    hotel = lodging.LodgingNotifier(type="relying_party", id="hotel-metropole")
    notice = lodging.notify_lodging(db_session=db_session, actor=ACTOR, notifier=hotel,
                                    commune_code=STAY_COMMUNE, address="15 Ngô Quyền",
                                    guests=guests(guest))
    assert (notice.notifier_type, notice.notifier_id, notice.host_citizen_id) == (
        "relying_party", "hotel-metropole", None)
