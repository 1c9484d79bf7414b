"""The reports domain without HTTP: the state machine by role and jurisdiction, anonymity at
rest, scam indicators, deadlines with a moved clock, races, monitoring."""
from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import sqlalchemy as sa
import time_machine

from identity import clock
from identity.accounts.models import Notification
from identity.audit.service import Actor
from identity.errors import Forbidden
from identity.monitoring import counters, queues
from identity.protection import KeyMaterialError
from tests.factories import add_account
from tests.utilities.reports.helpers import HANOI, HCM, HOAN_KIEM, make_officer
from utilities.reports import access, cases, filing, indicators, own_cases, reporter, rules, views
from utilities.reports import queue as police_queue
from utilities.reports.deadlines import Deadlines
from utilities.reports.errors import (CaseAlreadyAssigned, InvalidReport, ReporterAnonymous,
                                      ReportNotFound)
from utilities.reports.models import (CLOSED, INVESTIGATING, RECEIVED, REJECTED, STATUSES,
                                      VERIFYING, Report)
from utilities.workflow import CaseChanged, RoleNotAllowed, TransitionNotAllowed

ACTOR = Actor(type="anonymous", id=None, source="127.0.0.1", request_id="test-request")
DEADLINES = Deadlines()


def file_view(db_session: Any, protector: Any, account: Any,
              **overrides: Any) -> views.ReportView:
    """File a report through the service; the whole answer (with an anonymous one's key)."""
    values: dict[str, Any] = dict(
        category="fraud", description="A call asked for my OTP.", location_unknown=False,
        commune_code=HOAN_KIEM, address="Số 1 Tràng Tiền",
        occurred_at=clock.now() - dt.timedelta(hours=3), anonymous=False,
        scam_phones=["0912345678"], scam_links=[])
    values.update(overrides)
    return filing.file_report(db_session=db_session, protector=protector, actor=ACTOR,
                              account=account, deadlines=DEADLINES, **values)


def file(db_session: Any, protector: Any, account: Any, **overrides: Any) -> Report:
    """File a report through the service."""
    return file_view(db_session, protector, account, **overrides).report


def move(db_session: Any, protector: Any, officer: Any, report: Report, action: str,
         **extra: Any) -> Report:
    """A status change through the service."""
    if action == "close":
        extra.setdefault("outcome", "Done.")
    if action == "reject":
        extra.setdefault("reason", "Not ours.")
    return cases.change_status(db_session=db_session, protector=protector, actor=ACTOR,
                               officer=officer, deadlines=DEADLINES,
                               case_number=report.case_number, action=action,
                               **extra).report


def in_state(db_session: Any, protector: Any, officer: Any, account: Any,
             status: str) -> Report:
    """A report brought to ``status`` by the allowed path."""
    report = file(db_session, protector, account)
    path = {RECEIVED: [], VERIFYING: ["verify"], INVESTIGATING: ["verify", "investigate"],
            CLOSED: ["verify", "investigate", "close"], REJECTED: ["reject"]}[status]
    for action in path:
        report = move(db_session, protector, officer, report, action)
    assert report.status == status
    return report


@pytest.fixture()
def account(db_session: Any, protector: Any) -> Any:
    """A citizen of Hoàn Kiếm with an account."""
    return add_account(db_session, protector)


@pytest.fixture()
def cop(db_session: Any, protector: Any) -> Any:
    """An officer of Hoàn Kiếm."""
    return make_officer(db_session, protector)


# --- The state machine, every state by every act ------------------------------------------------

EXPECTED = {
    RECEIVED: {"verify": VERIFYING, "reject": REJECTED},
    VERIFYING: {"investigate": INVESTIGATING, "reject": REJECTED},
    INVESTIGATING: {"close": CLOSED, "reject": REJECTED},
    CLOSED: {},
    REJECTED: {},
}


@pytest.mark.parametrize("status", STATUSES)
@pytest.mark.parametrize("action", rules.STATUS_ACTIONS)
@pytest.mark.parametrize("role", ["officer", "supervisor"])
def test_every_status_change_by_state_and_role(db_session: Any, protector: Any, account: Any,
                                               status: str, action: str, role: str) -> None:
    worker = make_officer(db_session, protector, role=role)
    report = in_state(db_session, protector, worker, account, status)
    target = EXPECTED[status].get(action)
    if target is None:
        with pytest.raises(TransitionNotAllowed) as refused:
            move(db_session, protector, worker, report, action)
        assert refused.value.errors["allowed"] == sorted(EXPECTED[status])
        assert db_session.get(Report, report.id).status == status
    else:
        assert move(db_session, protector, worker, report, action).status == target
        history = rules.REPORTS.history(db_session, report.id)
        assert (history[-1].action, history[-1].from_state, history[-1].to_state,
                history[-1].role) == (action, status, target, role)


def test_citizens_have_no_status_changes_and_officers_do_not_answer() -> None:
    with pytest.raises(RoleNotAllowed):
        rules.REPORTS.check(RECEIVED, "verify", "citizen")
    assert rules.allowed_acts(RECEIVED, "citizen") == ["add_evidence", "answer"]
    assert rules.allowed_acts(CLOSED, "citizen") == []
    assert rules.allowed_acts(VERIFYING, "officer") == [
        "ask", "assign", "investigate", "reject", "transfer"]


def test_acts_that_keep_the_state_are_refused_on_final_cases(
        db_session: Any, protector: Any, account: Any, cop: Any) -> None:
    report = in_state(db_session, protector, cop, account, CLOSED)
    common = dict(db_session=db_session, protector=protector, actor=ACTOR, officer=cop,
                  case_number=report.case_number)
    with pytest.raises(TransitionNotAllowed):
        cases.ask(**common, text="Still there?")
    with pytest.raises(TransitionNotAllowed):
        cases.assign(**common, username=None)
    with pytest.raises(TransitionNotAllowed):
        cases.transfer(**common, deadlines=DEADLINES, province_code=HCM, commune_code=None,
                       reason="late")
    with pytest.raises(TransitionNotAllowed):
        own_cases.answer(db_session=db_session, protector=protector, actor=ACTOR,
                         account=account, case_number=report.case_number, text="Hello")


@pytest.mark.parametrize("province, commune, sees", [
    (HANOI, HOAN_KIEM, True), (HANOI, None, True), (HANOI, "00004", False), (HCM, None, False)])
def test_jurisdiction_decides_who_acts(db_session: Any, protector: Any, account: Any,
                                       province: str, commune: str | None, sees: bool) -> None:
    report = file(db_session, protector, account)
    worker = make_officer(db_session, protector, province_code=province, commune_code=commune)
    if sees:
        assert move(db_session, protector, worker, report, "verify").status == VERIFYING
    else:
        with pytest.raises(ReportNotFound):
            move(db_session, protector, worker, report, "verify")
        assert db_session.get(Report, report.id).status == RECEIVED


@pytest.mark.parametrize("province, commune", [
    (HANOI, HOAN_KIEM), (HANOI, None), (HANOI, "00004"), (HCM, None)])
def test_the_queue_page_holds_exactly_the_cases_the_officer_sees(
        db_session: Any, protector: Any, account: Any, province: str,
        commune: str | None) -> None:
    """The page names the unit as a range (``jurisdiction_range``, for the order only the
    unit's index gives): the same cases as ``sees``, newest first."""
    filed = [file(db_session, protector, account),
             file(db_session, protector, account, commune_code="00004"),
             file(db_session, protector, account, commune_code=HOAN_KIEM)]
    worker = make_officer(db_session, protector, province_code=province, commune_code=commune)
    page = police_queue.queue(db_session=db_session, officer=worker, page=1, per_page=50)
    mine = [report.id for report in page.items if report.id in {r.id for r in filed}]
    assert mine == [r.id for r in reversed(filed) if access.sees(worker, r)]
    assert page.total >= len(mine)


def test_an_officer_may_not_assign_someone_else(db_session: Any, protector: Any,
                                                account: Any, cop: Any) -> None:
    report = file(db_session, protector, account)
    other = make_officer(db_session, protector)
    with pytest.raises(Forbidden):
        cases.assign(db_session=db_session, protector=protector, actor=ACTOR, officer=cop,
                     case_number=report.case_number, username=other.username)


def test_an_officer_takes_only_a_case_nobody_holds(db_session: Any, protector: Any,
                                                   account: Any, cop: Any) -> None:
    report = file(db_session, protector, account)
    colleague = make_officer(db_session, protector)
    chief = make_officer(db_session, protector, role="supervisor")
    take = dict(db_session=db_session, protector=protector, actor=ACTOR,
                case_number=report.case_number, username=None)
    cases.assign(officer=cop, **take)
    with pytest.raises(CaseAlreadyAssigned):
        cases.assign(officer=colleague, **take)
    assert db_session.get(Report, report.id).assigned_officer_id == cop.id
    cases.assign(officer=chief, **take)  # a supervisor may take it over
    assert db_session.get(Report, report.id).assigned_officer_id == chief.id


# --- Races -------------------------------------------------------------------------------------

def test_two_officers_on_one_case_at_once_the_second_gets_case_changed(
        session_factory: Any, protector: Any) -> None:
    setup = session_factory()
    account = add_account(setup, protector)
    first_cop, second_cop = make_officer(setup, protector), make_officer(setup, protector)
    report = file(setup, protector, account)
    setup.commit()
    # Both officers read version n (the second one's copy is kept aside, as on their screen).
    with session_factory() as two:
        theirs = two.get(Report, report.id)
        two.expunge(theirs)
    with session_factory() as one:
        mine = one.get(Report, report.id)
        assert mine.version == theirs.version
        rules.REPORTS.apply(one, mine, "verify", role="officer", by=str(first_cop.id))
        one.commit()
    with session_factory() as late:
        late.add(theirs)
        with pytest.raises(CaseChanged):
            rules.REPORTS.apply(late, theirs, "reject", role="officer",
                                by=str(second_cop.id))
    check = session_factory()
    assert check.get(Report, report.id).status == VERIFYING
    assert [e.action for e in rules.REPORTS.history(check, report.id)] == ["create", "verify"]


def test_a_stale_version_is_refused_before_anything_is_written(
        db_session: Any, protector: Any, account: Any, cop: Any) -> None:
    report = file(db_session, protector, account)
    stale = report.version
    move(db_session, protector, cop, report, "verify")
    with pytest.raises(CaseChanged):
        move(db_session, protector, cop, report, "investigate", version=stale)
    assert db_session.get(Report, report.id).status == VERIFYING


# --- Anonymity at rest -------------------------------------------------------------------------

def test_the_reporter_is_sealed_to_the_case(db_session: Any, protector: Any,
                                            account: Any) -> None:
    report = file(db_session, protector, account)
    assert str(account.citizen.personal_id).encode() not in report.reporter_encrypted
    assert reporter.reporter_of(protector, report) == (account.id, account.citizen_id)
    other = file(db_session, protector, account)
    other.case_number, sealed = report.case_number, other.reporter_encrypted
    report.reporter_encrypted = sealed  # a sealed reporter moved to another case does not open
    with pytest.raises(KeyMaterialError):
        reporter.reporter_of(protector, report)
    db_session.rollback()


def test_an_anonymous_case_keeps_nothing_the_services_keys_open(
        db_session: Any, protector: Any, account: Any) -> None:
    view = file_view(db_session, protector, account, anonymous=True)
    report, key = view.report, view.reporter_key
    assert key and len(key) >= 43 and report.reporter_encrypted is None
    # Its hash is not the account's: it needs the key only the reporter's app holds.
    assert report.reporter_hash != reporter.reporter_hash(protector, account.id)
    assert report.reporter_hash == reporter.anonymous_reporter_hash(protector, account.id, key)
    with pytest.raises(ReporterAnonymous):
        reporter.reporter_of(protector, report)
    assert report.created_at == report.created_at.replace(minute=0, second=0, microsecond=0)
    for wrong in (None, reporter.new_reporter_key()):
        with pytest.raises(ReportNotFound):
            own_cases.my_report(db_session=db_session, protector=protector, account=account,
                                case_number=report.case_number, reporter_key=wrong)
    other = add_account(db_session, protector)  # the key alone does not open it either
    with pytest.raises(ReportNotFound):
        own_cases.my_report(db_session=db_session, protector=protector, account=other,
                            case_number=report.case_number, reporter_key=key)
    seen = own_cases.my_report(db_session=db_session, protector=protector, account=account,
                               case_number=report.case_number, reporter_key=key)
    assert seen.report.id == report.id and seen.reporter_key is None


def test_an_anonymous_case_filed_before_0013_is_followed_without_a_key_and_notifies_nobody(
        db_session: Any, protector: Any, account: Any, cop: Any) -> None:
    report = file(db_session, protector, account)
    # As migration 0013 leaves one: no seal, the reporter hash of the account id alone.
    report.anonymous, report.reporter_encrypted = True, None
    db_session.flush()
    seen = own_cases.my_report(db_session=db_session, protector=protector, account=account,
                               case_number=report.case_number)
    assert seen.report.id == report.id
    before = db_session.scalar(sa.select(sa.func.count()).select_from(Notification))
    cases.ask(db_session=db_session, protector=protector, actor=ACTOR, officer=cop,
              case_number=report.case_number, text="When?")
    move(db_session, protector, cop, report, "verify")
    assert db_session.scalar(sa.select(sa.func.count()).select_from(Notification)) == before


def test_history_never_names_the_reporter(db_session: Any, protector: Any, account: Any,
                                          cop: Any) -> None:
    view = file_view(db_session, protector, account, anonymous=True)
    report = view.report
    cases.ask(db_session=db_session, protector=protector, actor=ACTOR, officer=cop,
              case_number=report.case_number, text="When?")
    own_cases.answer(db_session=db_session, protector=protector, actor=ACTOR, account=account,
                     case_number=report.case_number, text="Yesterday.",
                     reporter_key=view.reporter_key)
    history = rules.REPORTS.history(db_session, report.id)
    reporter_rows = [e for e in history if e.role == "citizen"]
    assert [e.action for e in reporter_rows] == ["create", "answer"]
    assert all(e.by is None and "account" not in str(e.details) for e in reporter_rows)
    assert {(e.occurred_at.minute, e.occurred_at.second) for e in history} == {(0, 0)}


def test_the_citizens_list_finds_only_their_own(db_session: Any, protector: Any,
                                                account: Any) -> None:
    mine = file(db_session, protector, account)
    file(db_session, protector, account, anonymous=True)  # reached with its key only
    other = add_account(db_session, protector)
    file(db_session, protector, other)
    items, total = own_cases.my_reports(db_session=db_session, protector=protector,
                                        account=account, page=1, per_page=20)
    assert (total, [r.case_number for r in items]) == (1, [mine.case_number])
    with pytest.raises(ReportNotFound):
        own_cases.my_report(db_session=db_session, protector=protector, account=other,
                            case_number=mine.case_number)


# --- Scam indicators ---------------------------------------------------------------------------

@pytest.mark.parametrize("given", ["0912345678", "0912 345 678", "+84 912 345 678",
                                   "091.234.5678", "84912345678"])
def test_phone_numbers_are_normalised_to_e164(given: str) -> None:
    assert indicators.normalise_scam_phone(given) == "+84912345678"


@pytest.mark.parametrize("given, expected", [
    ("https://Vay-Nhanh.EXAMPLE/App/", "vay-nhanh.example/App"),
    ("http://vay-nhanh.example/App", "vay-nhanh.example/App"),
    ("vay-nhanh.example/App/#x", "vay-nhanh.example/App"),
    ("https://shop.example:8443/?ref=1", "shop.example:8443?ref=1"),
    ("https://shop.example.", "shop.example"),
])
def test_links_are_normalised(given: str, expected: str) -> None:
    assert indicators.normalise_link(given) == expected


@pytest.mark.parametrize("given", ["javascript:alert(1)", "ftp://x.example", "http://",
                                   "http://a b.example", "https://x.example:99999"])
def test_bad_links_are_refused(given: str) -> None:
    with pytest.raises(InvalidReport) as refused:
        indicators.normalise_link(given)
    assert refused.value.code == "indicator.link_invalid"


def test_indicators_count_every_report_naming_them(db_session: Any, protector: Any,
                                                   account: Any) -> None:
    first = file(db_session, protector, account, scam_phones=["0912345678", "0912 345 678"])
    file(db_session, protector, account, scam_phones=["+84912345678"], commune_code="00004")
    file(db_session, protector, account, scam_phones=["0987654321"])
    counts = indicators.indicator_counts(db_session, db_session.get(Report, first.id))
    assert [(c.kind, c.value, c.reports) for c in counts] == [("phone", "+84912345678", 2)]


# --- Deadlines, monitoring ---------------------------------------------------------------------

def test_deadlines_follow_the_state_and_overdue_cases_are_counted(
        db_session: Any, protector: Any, account: Any, cop: Any) -> None:
    start = dt.datetime(2026, 11, 27, 3, 0, tzinfo=dt.timezone.utc)
    with time_machine.travel(start, tick=False):
        report = file(db_session, protector, account)
        assert report.due_at == start + DEADLINES.received
        late = file(db_session, protector, account)
    backlog = {(b.province_code, b.commune_code): b
               for b in queues.backlogs(db_session, now=start) if b.queue == "reports"}
    assert (backlog[(HANOI, HOAN_KIEM)].open, backlog[(HANOI, HOAN_KIEM)].overdue) == (2, 0)
    with time_machine.travel(start + dt.timedelta(hours=25), tick=False):
        move(db_session, protector, cop, report, "verify")
        assert report.due_at == clock.now() + DEADLINES.verifying
        page = police_queue.queue(db_session=db_session, officer=cop, page=1, per_page=20,
                                  overdue=True)
        assert [r.case_number for r in page.items] == [late.case_number]
        rows = [b for b in queues.backlogs(db_session) if b.queue == "reports"]
        assert [(b.open, b.overdue) for b in rows] == [(2, 1)]
    with time_machine.travel(start + dt.timedelta(hours=26), tick=False):
        move(db_session, protector, cop, late, "reject")
        assert late.due_at is None
        rows = [b for b in queues.backlogs(db_session) if b.queue == "reports"]
        assert [(b.open, b.overdue) for b in rows] == [(1, 0)]


def test_deadlines_come_from_the_configuration(app: Any) -> None:
    deadlines = Deadlines.from_config({"REPORT_DEADLINE_HOURS": 2,
                                       "REPORT_VERIFY_HOURS": 4,
                                       "REPORT_INVESTIGATE_HOURS": 8})
    now = clock.now()
    assert deadlines.due(RECEIVED, now) == now + dt.timedelta(hours=2)
    assert deadlines.due(INVESTIGATING, now) == now + dt.timedelta(hours=8)
    assert deadlines.due(CLOSED, now) is None
    assert Deadlines.from_config(app.config).received == dt.timedelta(hours=24)


def test_filing_bumps_the_usage_counter_of_the_place(db_session: Any, protector: Any,
                                                     account: Any) -> None:
    before = counters.total(db_session, metric="reports.filed", province_code=HANOI)
    file(db_session, protector, account)
    file(db_session, protector, account, location_unknown=True, commune_code=None, address=None)
    assert counters.total(db_session, metric="reports.filed", province_code=HANOI) == before + 2
    assert "reports" in queues.queue_names()


def test_the_queue_count_stops_at_its_cap(db_session: Any, protector: Any, account: Any,
                                          cop: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(police_queue, "QUEUE_COUNT_CAP", 2)
    for _ in range(3):
        file(db_session, protector, account)
    page = police_queue.queue(db_session=db_session, officer=cop, page=1, per_page=2)
    assert (len(page.items), page.total, page.total_exact) == (2, 2, False)
    assert db_session.scalar(sa.select(sa.func.count()).select_from(Report)) == 3


@pytest.mark.parametrize("cap", [1, 2])
def test_indicator_counts_stop_at_the_cap(db_session: Any, protector: Any, account: Any,
                                          monkeypatch: Any, cap: int) -> None:
    """A number that thousands report costs a filing what one reported twice does: counted up
    to the cap, ``reports_exact`` false beyond it; the officers' look-up counts them all."""
    monkeypatch.setattr(indicators, "REPORTS_COUNT_CAP", cap)
    seen = []
    for _ in range(cap + 2):
        filed = file_view(db_session, protector, account, scam_phones=["0912345678"])
        seen.append([(c.reports, c.reports_exact) for c in filed.indicators])
    assert seen == [[(n, True)] for n in range(1, cap + 1)] + [[(cap, False)]] * 2
    counts = indicators.indicator_counts(db_session, db_session.get(Report, filed.report.id))
    assert [(c.reports, c.reports_exact) for c in counts] == [(cap, False)]
