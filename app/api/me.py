"""The citizen's own account: data, lock, passcode, notifications, access log."""
from __future__ import annotations

from typing import Any

from app import context as ctx
from app.api.pages import page
from app.auth import (BEARER, citizen_required, current_account, issue_tokens,
                      own_id_limits, session_id)
from app.extensions import db, get_protector
from app.parsing import Blueprint
from identity.accounts import devices, locks, passcode, passwords, registration
from identity.accounts.access_log import access_log as citizen_access_log
from identity.accounts.account import account_phone, citizen_actor
from identity.accounts.capabilities import Act
from identity.accounts.notifications import notifications as citizen_notifications
from identity.accounts.schemas import (AccessLogPage, AccountStatus, MeRead, NotificationPage,
                                       PasscodeChange, PasswordChange, RegistrationStatus,
                                       RegistrationWithdraw, TokenPair, registry_data)
from identity.registry.normalise import mask_phone
from identity.schema_fields import PageArgs

blp = Blueprint("me", __name__, url_prefix="/me",
                description="The logged-in citizen's own account.")


def _actor() -> Any:
    return citizen_actor(current_account(), ctx.actor())


@blp.get("")
@citizen_required(Act.IDENTITY_READ)
@blp.response(200, MeRead)
@blp.doc(security=BEARER)
def me() -> Any:
    """The citizen's registry data, account level and status, and bound device."""
    account = current_account()
    device = devices.active_device(db_session=db.session(), account_id=account.id)
    return {**registry_data(account.citizen), "account_id": account.id, "level": account.level,
            "status": account.status, "device_id": device.device_id if device else None,
            "phone_masked": mask_phone(account_phone(protector=get_protector(),
                                                     account=account))}


@blp.post("/lock")
@citizen_required(Act.ACCOUNT_LOCK)
@blp.response(200, AccountStatus)
@blp.doc(security=BEARER)
def lock() -> Any:
    """Lock the account (lost phone): every token stops working at once."""
    account = current_account()
    locks.lock_account(db_session=db.session(), actor=_actor(), account=account)
    return account


@blp.post("/passcode")
@citizen_required(Act.PASSCODE_CHANGE)
@blp.arguments(PasscodeChange)
@blp.response(204)
@blp.doc(security=BEARER)
def change_passcode(payload: dict[str, Any]) -> None:
    """Change the passcode, confirmed with the current one.

    Five wrong passcodes in a row lock the account (``account.locked``); each
    wrong one answers ``passcode.wrong`` with the tries left.
    """
    passcode.change_passcode(db_session=db.session(), actor=_actor(), account=current_account(),
                             **payload)


@blp.post("/password")
@citizen_required(Act.PASSWORD_CHANGE)
@blp.arguments(PasswordChange)
@blp.response(200, TokenPair)
@blp.doc(security=BEARER)
@own_id_limits
def change_password(payload: dict[str, Any]) -> Any:
    """Change the password, confirmed by the current password and the passcode.

    A wrong current password is `401 password.wrong`, counted in the same
    per-id budget as logins (past it, 429); a wrong passcode counts as for
    any sensitive act. Every other session is signed out; this one gets the
    new tokens of the answer (the token sent is refused from now on).
    """
    grant = passwords.change_password(db_session=db.session(), actor=_actor(),
                                      account=current_account(), session_id=session_id(),
                                      **payload)
    return issue_tokens(grant)


@blp.get("/notifications")
@citizen_required(Act.NOTIFICATIONS_READ)
@blp.arguments(PageArgs, location="query")
@blp.response(200, NotificationPage)
@blp.doc(security=BEARER)
def notifications(args: dict[str, Any]) -> Any:
    """The citizen's notifications, newest first."""
    items, total = citizen_notifications(db_session=db.session(), account=current_account(),
                                         **args)
    return page(items, total, args)


@blp.get("/access-log")
@citizen_required(Act.ACCESS_LOG_READ)
@blp.arguments(PageArgs, location="query")
@blp.response(200, AccessLogPage)
@blp.doc(security=BEARER)
def access_log(args: dict[str, Any]) -> Any:
    """Every login, device change and read of this citizen's data by anyone, newest first."""
    items, total = citizen_access_log(db_session=db.session(),
                                      citizen_id=current_account().citizen_id, **args)
    return page(items, total, args)


@blp.get("/status")
@citizen_required(Act.STATUS_READ)
@blp.response(200, RegistrationStatus)
@blp.doc(security=BEARER)
def status() -> Any:
    """The account's status and level, and the review note when rejected: no registry data.

    What an account waiting for review may read of itself (it may not read
    ``GET /api/v1/me``); any account in a state that may act reads it too.
    """
    return current_account()


@blp.post("/registration/withdraw")
@citizen_required(Act.REGISTRATION_WITHDRAW)
@blp.arguments(RegistrationWithdraw)
@blp.response(200, AccountStatus)
@blp.doc(security=BEARER)
def withdraw_registration(payload: dict[str, Any]) -> Any:
    """Withdraw a registration waiting for review, confirmed with the passcode.

    The account is closed (``closed``): every token stops working. Only a
    ``pending_review`` account may do it (``account.not_active`` otherwise).
    """
    return registration.withdraw_registration(db_session=db.session(), actor=_actor(),
                                              account=current_account(), **payload)
