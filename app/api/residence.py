"""Residence declarations: the citizen's forms and the police's queues.

Citizens under ``/residence`` (their own records only), officers under
``/police/residence`` (their jurisdiction only); anything else is a 404.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import current_app

from app import context as ctx
from app.api.pages import page
from app.auth import BEARER, citizen_required, current_account, current_officer, officer_required
from app.parsing import Blueprint
from app.replica_reads import lag_tolerant, read_session
from app.quotas import account_rate_limit, consume_daily_quota
from identity.accounts.capabilities import Act
from identity.schema_fields import PageArgs
from identity.accounts.account import citizen_actor
from utilities.residence import absences, backlog, records, stays
from utilities.residence import lodging as lodging_notices
from utilities.residence.absence_schemas import (AbsenceAction, AbsenceCreate, AbsenceDetail,
                                                 AbsencePage, AbsenceQueuePage, AbsenceRead,
                                                 OfficerAbsenceRead)
from utilities.residence.lodging_schemas import (GuestReview, GuestStayPage, GuestStayRead,
                                                 LodgingArgs, LodgingCreate, LodgingCreated)
from utilities.residence.schemas import (CaseUpdated, OverdueArgs, OverduePage, QueueArgs,
                                         ResidenceRead, Withdraw)
from utilities.residence.stay_schemas import (HostAnswer, HostAnswered, HostConfirmationPage,
                                              OfficerStayRead, StayAction, StayCreate,
                                              StayDetail, StayPage, StayRead, StayQueuePage,
                                              StayRenew)

blp = Blueprint("residence", __name__, url_prefix="/residence",
                description="Residence declarations of the logged-in citizen: temporary stays "
                            "(tạm trú), temporary absences (tạm vắng), lodging notices (thông "
                            "báo lưu trú), and the stays that name them as host.")
police_blp = Blueprint("police_residence", __name__, url_prefix="/police/residence",
                       description="The residence queues of the officer's jurisdiction. Cases "
                                   "outside it are `404`; every read of a citizen's record is "
                                   "in that citizen's access log.")


def _citizen() -> dict[str, Any]:
    account = current_account()
    return {"db_session": ctx.db_session(), "account": account,
            "actor": citizen_actor(account, ctx.actor())}


def _officer() -> dict[str, Any]:
    return {"db_session": ctx.db_session(), "actor": ctx.actor(), "officer": current_officer()}


def _days() -> int:
    return int(current_app.config["RESIDENCE_DECISION_DAYS"])


class _CaseView:
    """A case seen through its attributes, with its history added (for the Detail schemas)."""

    def __init__(self, case: Any, history: Any) -> None:
        self._case, self.history = case, history

    def __getattr__(self, name: str) -> Any:
        return getattr(self._case, name)


# --- Temporary stays: the citizen -----------------------------------------------------------------

@blp.post("/stays")
@citizen_required(Act.RESIDENCE_DECLARE)
@account_rate_limit("STAY_LIMIT_PER_ACCOUNT", scope="stay:account")
@blp.arguments(StayCreate)
@blp.response(201, StayRead)
@blp.doc(security=BEARER)
def declare_stay(payload: dict[str, Any]) -> Any:
    """Declare a temporary stay: it waits for the host's confirmation, then goes to the police.

    The answer is the same whoever the host is: `awaiting_host` with
    `host_check` `host` whether the host confirms in the app or before the
    commune police (no account, an account not active, or an id the registry
    does not know), so it tells nothing of the host's account; the declarant's
    own place is `submitted` with `self`. Limited per account
    (`STAY_LIMIT_PER_ACCOUNT`, 429).
    """
    return stays.declare_stay(**_citizen(), decision_days=_days(), **payload)


@blp.get("/stays")
@citizen_required(Act.RESIDENCE_READ)
@blp.arguments(PageArgs, location="query")
@blp.response(200, StayPage)
@blp.doc(security=BEARER)
def list_stays(args: dict[str, Any]) -> Any:
    """The citizen's temporary stays, newest first."""
    items, total = stays.own_stays(db_session=ctx.db_session(), account=current_account(), **args)
    return page(items, total, args)


@blp.get("/stays/<int:stay_id>")
@citizen_required(Act.RESIDENCE_READ)
@blp.response(200, StayDetail)
@blp.doc(security=BEARER)
def get_stay(stay_id: int) -> Any:
    """One of the citizen's stays, with its history and deadline."""
    db_session = ctx.db_session()
    stay = stays.get_own_stay(db_session=db_session, account=current_account(),
                              stay_id=stay_id)
    return _CaseView(stay, stays.STAY_FLOW.history(db_session, stay.id))


@blp.post("/stays/<int:stay_id>/withdraw")
@citizen_required(Act.RESIDENCE_DECLARE)
@blp.arguments(Withdraw)
@blp.response(200, StayRead)
@blp.doc(security=BEARER)
def withdraw_stay(payload: dict[str, Any], stay_id: int) -> Any:
    """Withdraw a stay before the police decide."""
    return stays.withdraw_stay(**_citizen(), stay_id=stay_id, **payload)


@blp.post("/stays/<int:stay_id>/renew")
@citizen_required(Act.RESIDENCE_DECLARE)
@blp.arguments(StayRenew)
@blp.response(201, StayRead)
@blp.doc(security=BEARER)
def renew_stay(payload: dict[str, Any], stay_id: int) -> Any:
    """Renew an approved stay: a new declaration from the day after it ends."""
    return stays.renew_stay(**_citizen(), stay_id=stay_id, decision_days=_days(), **payload)


@blp.get("/current")
@citizen_required(Act.RESIDENCE_READ)
@blp.response(200, ResidenceRead)
@blp.doc(security=BEARER)
def current_residence() -> Any:
    """The temporary residence on the citizen's record today (`409 residence.none` if none)."""
    return records.own_current_residence(db_session=ctx.db_session(), account=current_account())


# --- Temporary stays: the host --------------------------------------------------------------------

@blp.get("/host-confirmations")
@citizen_required(Act.RESIDENCE_READ)
@blp.arguments(PageArgs, location="query")
@blp.response(200, HostConfirmationPage)
@blp.doc(security=BEARER)
def host_confirmations(args: dict[str, Any]) -> Any:
    """Stays that name the citizen as host and wait for their answer."""
    items, total = stays.host_confirmations(db_session=ctx.db_session(),
                                            account=current_account(),
                                            **args)
    return page(items, total, args)


@blp.post("/host-confirmations/<int:stay_id>")
@citizen_required(Act.RESIDENCE_DECLARE)
@blp.arguments(HostAnswer)
@blp.response(200, HostAnswered)
@blp.doc(security=BEARER)
def answer_as_host(payload: dict[str, Any], stay_id: int) -> Any:
    """Confirm or refuse a stay as its host, with the passcode."""
    return stays.answer_as_host(**_citizen(), stay_id=stay_id,
                                confirm=payload["decision"] == "confirm",
                                passcode=payload["passcode"], reason=payload["reason"],
                                decision_days=_days())


# --- Temporary absences: the citizen --------------------------------------------------------------

@blp.post("/absences")
@citizen_required(Act.RESIDENCE_DECLARE)
@blp.arguments(AbsenceCreate)
@blp.response(201, AbsenceRead)
@blp.doc(security=BEARER)
def declare_absence(payload: dict[str, Any]) -> Any:
    """Declare a temporary absence from the place of permanent residence."""
    return absences.declare_absence(**_citizen(), decision_days=_days(), **payload)


@blp.get("/absences")
@citizen_required(Act.RESIDENCE_READ)
@blp.arguments(PageArgs, location="query")
@blp.response(200, AbsencePage)
@blp.doc(security=BEARER)
def list_absences(args: dict[str, Any]) -> Any:
    """The citizen's absence declarations, newest first."""
    items, total = absences.own_absences(db_session=ctx.db_session(), account=current_account(),
                                         **args)
    return page(items, total, args)


@blp.get("/absences/<int:absence_id>")
@citizen_required(Act.RESIDENCE_READ)
@blp.response(200, AbsenceDetail)
@blp.doc(security=BEARER)
def get_absence(absence_id: int) -> Any:
    """One of the citizen's absence declarations, with its history."""
    db_session = ctx.db_session()
    absence = absences.get_own_absence(db_session=db_session, account=current_account(),
                                       absence_id=absence_id)
    return _CaseView(absence, absences.ABSENCE_FLOW.history(db_session, absence.id))


@blp.post("/absences/<int:absence_id>/withdraw")
@citizen_required(Act.RESIDENCE_DECLARE)
@blp.arguments(Withdraw)
@blp.response(200, AbsenceRead)
@blp.doc(security=BEARER)
def withdraw_absence(payload: dict[str, Any], absence_id: int) -> Any:
    """Withdraw an absence declaration not yet acknowledged."""
    return absences.withdraw_absence(**_citizen(), absence_id=absence_id, **payload)


# --- Lodging notices: the host --------------------------------------------------------------------

@blp.post("/lodging-notices")
@citizen_required(Act.RESIDENCE_DECLARE)
@account_rate_limit("LODGING_LIMIT_PER_ACCOUNT", scope="lodging:account")
@blp.arguments(LodgingCreate)
@blp.response(201, LodgingCreated)
@blp.doc(security=BEARER)
def notify_lodging(payload: dict[str, Any]) -> Any:
    """Tell the commune police who stays at an address (1 to 50 guests).

    Every well-formed guest is taken and the answer is the same whatever the
    registry knows; guests it does not confirm wait for the police's review.
    Limited per account (`LODGING_LIMIT_PER_ACCOUNT`) and to
    `LODGING_DAILY_GUESTS_PER_ACCOUNT` guests a day (429 `quota.exhausted`).
    """
    citizen = _citizen()
    consume_daily_quota(name="lodging", subject=f"account:{citizen['account'].id}",
                        config_name="LODGING_DAILY_GUESTS_PER_ACCOUNT",
                        cost=len(payload["guests"]))
    return lodging_notices.notify_lodging(
        db_session=citizen["db_session"], actor=citizen["actor"],
        notifier=lodging_notices.citizen_notifier(citizen["account"]), **payload)


# --- The police -----------------------------------------------------------------------------------

def _queue(cases: Callable[..., tuple[Any, int]], args: dict[str, Any]) -> dict[str, Any]:
    """One page of a police queue (``cases``: the service's list), filtered as ``args`` say."""
    items, total = cases(db_session=read_session(), officer=current_officer(),
                         statuses=[args["status"]] if args["status"] else None,
                         commune_code=args["commune_code"], overdue=args["overdue"],
                         page=args["page"], per_page=args["per_page"])
    return page(items, total, args)


@police_blp.get("/stays")
@officer_required
@lag_tolerant
@police_blp.arguments(QueueArgs, location="query")
@police_blp.response(200, StayQueuePage)
@police_blp.doc(security=BEARER)
def stay_queue(args: dict[str, Any]) -> Any:
    """Temporary stays of the jurisdiction, by deadline (default: those waiting for the police)."""
    return _queue(stays.stay_queue, args)


@police_blp.get("/stays/<int:stay_id>")
@officer_required
@police_blp.response(200, OfficerStayRead)
@police_blp.doc(security=BEARER)
def read_stay(stay_id: int) -> Any:
    """A stay with its declarant, host and history (written to their access logs)."""
    stay, history = stays.read_stay(**_officer(), stay_id=stay_id)
    return _CaseView(stay, history)


@police_blp.post("/stays/<int:stay_id>/actions")
@officer_required
@police_blp.arguments(StayAction)
@police_blp.response(200, CaseUpdated)
@police_blp.doc(security=BEARER)
def act_on_stay(payload: dict[str, Any], stay_id: int) -> Any:
    """`check_host` (in person), `approve`, or `reject` with a reason.

    A transition the state does not allow is `409 workflow.transition_not_allowed`
    with `errors.allowed`; a case changed by someone else meanwhile is
    `409 workflow.case_changed`.
    """
    return stays.act_on_stay(**_officer(), stay_id=stay_id, **payload)


@police_blp.get("/absences")
@officer_required
@lag_tolerant
@police_blp.arguments(QueueArgs, location="query")
@police_blp.response(200, AbsenceQueuePage)
@police_blp.doc(security=BEARER)
def absence_queue(args: dict[str, Any]) -> Any:
    """Absence declarations of the jurisdiction, by deadline (default: to acknowledge)."""
    return _queue(absences.absence_queue, args)


@police_blp.get("/absences/<int:absence_id>")
@officer_required
@police_blp.response(200, OfficerAbsenceRead)
@police_blp.doc(security=BEARER)
def read_absence(absence_id: int) -> Any:
    """An absence with its citizen and history (written to the citizen's access log)."""
    absence, history = absences.read_absence(**_officer(), absence_id=absence_id)
    return _CaseView(absence, history)


@police_blp.post("/absences/<int:absence_id>/actions")
@officer_required
@police_blp.arguments(AbsenceAction)
@police_blp.response(200, CaseUpdated)
@police_blp.doc(security=BEARER)
def act_on_absence(payload: dict[str, Any], absence_id: int) -> Any:
    """`acknowledge` an absence declaration."""
    return absences.act_on_absence(**_officer(), absence_id=absence_id, **payload)


@police_blp.get("/overdue")
@officer_required
@lag_tolerant
@police_blp.arguments(OverdueArgs, location="query")
@police_blp.response(200, OverduePage)
@police_blp.doc(security=BEARER)
def overdue(args: dict[str, Any]) -> Any:
    """Supervisors: the cases past their deadline across the province, most overdue first."""
    items, total = backlog.overdue_cases(
        db_session=read_session(), officer=current_officer(), **args)
    return page(items, total, args, kind=args["kind"])


@police_blp.get("/lodging")
@officer_required
@police_blp.arguments(LodgingArgs, location="query")
@police_blp.response(200, GuestStayPage)
@police_blp.doc(security=BEARER)
def lodging(args: dict[str, Any]) -> Any:
    """Who stays where in the jurisdiction; each registry guest shown is written to their
    access log. `review=pending`: the guests the registry did not confirm."""
    items, total = lodging_notices.guests_staying(**_officer(), **args)
    return page(items, total, args)


@police_blp.post("/lodging/guests/<int:guest_id>/review")
@officer_required
@police_blp.arguments(GuestReview)
@police_blp.response(200, GuestStayRead)
@police_blp.doc(security=BEARER)
def review_guest(payload: dict[str, Any], guest_id: int) -> Any:
    """Clear or flag a guest the registry did not confirm (unknown id, other name or birth
    date); a guest outside the jurisdiction is `404`, one not under review `409`."""
    return lodging_notices.review_guest(**_officer(), guest_id=guest_id, **payload)
