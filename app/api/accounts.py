"""Level 1 self-registration from the mobile app."""
from __future__ import annotations

from typing import Any


from app import context as ctx
from app.auth import auth_limits
from app.parsing import Blueprint
from identity.accounts import codes, registration
from identity.accounts.schemas import (AccountCreated, RegistrationConfirm, RegistrationCreate,
                                       RegistrationStarted)

blp = Blueprint("accounts", __name__, url_prefix="/accounts",
                description="Electronic identity accounts: level 1 self-registration.")


@blp.post("/registrations")
@blp.arguments(RegistrationCreate)
@blp.response(202, RegistrationStarted)
@auth_limits(device=True)
def start_registration(payload: dict[str, Any]) -> Any:
    """Start a level 1 registration.

    The answer is the same whether or not the personal id exists, whether
    or not the data match the registry, and whether or not the citizen has an
    account: no way to probe it. When they match, a 6-digit code goes by SMS
    to the phone given (five minutes, single use), unless the citizen has an
    open account: then no code goes out, except when that account waits for
    review and the phone given is the registry's (it supersedes the pending
    one on confirmation). At most five codes per phone per hour
    (``sms.too_many``), counted whether or not a code goes out.
    """
    ref, masked = registration.start_registration(
        db_session=ctx.db_session(), redis_client=ctx.redis_client(), protector=ctx.protector(),
        sms=ctx.sms(), actor=ctx.actor(), **payload)
    return {"registration_id": ref, "phone_masked": masked, "expires_in": codes.CODE_TTL_SECONDS}


@blp.post("/registrations/<string:registration_id>/confirm")
@blp.arguments(RegistrationConfirm)
@blp.response(201, AccountCreated)
@auth_limits(personal_id=False)
def confirm_registration(payload: dict[str, Any], registration_id: str) -> Any:
    """Confirm with the SMS code and choose a password and a 6-digit passcode.

    The account is ``active`` when the phone is the one of the registry's
    telecom record, ``pending_review`` otherwise (a police officer decides).
    Passwords: 8 to 128 characters, any characters, not among the 10,000 most
    common (``password.too_short``, ``password.too_long``, ``password.common``).
    A wrong, expired or used code: ``otp.invalid``. One open account per
    citizen: a rejected registration, or one waiting for review when this
    phone is the registry's, is closed (its tokens revoked, its holder told);
    any other is ``account.exists`` (409). A registration started by an
    officer's reclaim at the desk (``POST /api/v1/police/accounts/reclaim``)
    is confirmed here too and gives an active level-2 account.
    """
    return registration.confirm_registration(
        db_session=ctx.db_session(), redis_client=ctx.redis_client(), protector=ctx.protector(),
        actor=ctx.actor(), registration_id=registration_id, **payload)
