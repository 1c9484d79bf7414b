"""Officers' work on accounts, inside their jurisdiction only."""
from __future__ import annotations

from typing import Any

from app import context as ctx
from app.api.pages import page
from app.auth import BEARER, current_officer, officer_required
from app.parsing import Blueprint
from app.replica_reads import lag_tolerant, read_session
from identity.accounts import devices, levels, officers, reclaim, registration
from identity.accounts.schemas import (AccountStatus, CitizenLookup, CitizenRead, InPersonRebind,
                                       Level2Request, PendingAccountPage, ReclaimRequest,
                                       ReclaimStarted, ReviewDecision, registry_data)
from identity.schema_fields import PageArgs

blp = Blueprint("police", __name__, url_prefix="/police",
                description="Police officers' tools. An officer acts only inside their province "
                            "(and commune, if assigned one): `officer.outside_jurisdiction`.")


@blp.get("/accounts/pending")
@officer_required
@lag_tolerant
@blp.arguments(PageArgs, location="query")
@blp.response(200, PendingAccountPage)
@blp.doc(security=BEARER)
def pending_accounts(args: dict[str, Any]) -> Any:
    """Registrations waiting for review in the officer's jurisdiction, oldest first."""
    items, total = registration.review_queue(
        db_session=read_session(), officer=current_officer(), **args)
    return page(items, total, args)


@blp.post("/accounts/<int:account_id>/review")
@officer_required
@blp.arguments(ReviewDecision)
@blp.response(200, AccountStatus)
@blp.doc(security=BEARER)
def review(payload: dict[str, Any], account_id: int) -> Any:
    """Approve a registration, or reject it with a reason."""
    return registration.review_registration(db_session=ctx.db_session(), actor=ctx.actor(),
                                            officer=current_officer(),
                                            account_id=account_id,
                                            approve=payload["decision"] == "approve",
                                            reason=payload["reason"])


@blp.post("/accounts/<int:account_id>/level2")
@officer_required
@blp.arguments(Level2Request)
@blp.response(200, AccountStatus)
@blp.doc(security=BEARER)
def raise_level2(payload: dict[str, Any], account_id: int) -> Any:
    """Raise an account to level 2 after checking the citizen in person against the chip card."""
    return levels.raise_to_level2(db_session=ctx.db_session(), actor=ctx.actor(),
                                  officer=current_officer(),
                                  account_id=account_id, **payload)


@blp.post("/accounts/<int:account_id>/device")
@officer_required
@blp.arguments(InPersonRebind)
@blp.response(200, AccountStatus)
@blp.doc(security=BEARER)
def rebind_device(payload: dict[str, Any], account_id: int) -> Any:
    """In-person recovery: bind a new phone (and number) for a citizen who lost theirs."""
    return devices.rebind_in_person(db_session=ctx.db_session(), protector=ctx.protector(),
                                    actor=ctx.actor(),
                                    officer=current_officer(), account_id=account_id, **payload)


@blp.post("/accounts/reclaim")
@officer_required
@blp.arguments(ReclaimRequest)
@blp.response(202, ReclaimStarted)
@blp.doc(security=BEARER)
def reclaim_identity(payload: dict[str, Any]) -> Any:
    """Reclaim a citizen's identity at the desk, after someone else registered it.

    The officer checks the citizen in person against the chip ID card
    (``card_number`` must be the personal id, which goes in the body, never
    the URL). The citizen's open account, whatever its state, is closed at
    once (tokens, devices and credentials revoked); a code goes by SMS to the
    phone given in person, and the citizen confirms on the phone registered
    here with ``POST /api/v1/accounts/registrations/{registration_id}/confirm``
    (code, password, passcode): an active level-2 account. Only an officer of
    the citizen's jurisdiction: for any other, and for an unknown id, the same
    404 ``citizen.not_found``.
    """
    return reclaim.reclaim_identity(db_session=ctx.db_session(), redis_client=ctx.redis_client(),
                                    protector=ctx.protector(), sms=ctx.sms(), actor=ctx.actor(),
                                    officer=current_officer(), **payload)


@blp.post("/citizens/lookup")
@officer_required
@lag_tolerant
@blp.arguments(CitizenLookup)
@blp.response(200, CitizenRead)
@blp.doc(security=BEARER)
def look_up_citizen(payload: dict[str, Any]) -> Any:
    """A citizen of the officer's jurisdiction (the id goes in the body, never in the URL)."""
    citizen, account = officers.look_up_citizen(db_session=ctx.db_session(), actor=ctx.actor(),
                                                officer=current_officer(),
                                                read_session=read_session(), **payload)
    return {**registry_data(citizen), "household_id": citizen.household_id, "account": account}
