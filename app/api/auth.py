"""Logging in and out: citizens from their bound device, officers with TOTP."""
from __future__ import annotations

from typing import Any

from flask import current_app

from flask_jwt_extended import get_jwt, verify_jwt_in_request

from app import context as ctx
from app.auth import (BEARER, auth_limits, count_from_environ, issue_tokens, refresh_claims,
                      session_id)
from app.hot_lane import HotRoute
from app.parsing import Blueprint
from identity.accounts import codes, devices, locks, officers, passwords, sessions
from identity.audit.service import Actor
from identity.accounts.schemas import (AccountStatus, Challenge, ChallengeCreate, CodeConfirm,
                                       DeviceRebindCreate, LoginRequest, OfficerLogin,
                                       PasswordResetConfirm, PasswordResetCreate,
                                       PasswordResetStarted,
                                       RebindStarted, TokenPair, UnlockCreate, UnlockStarted)

blp = Blueprint("auth", __name__, url_prefix="/auth",
                description="Authentication. Every failure of a login is `401 auth.failed`, "
                            "whatever the cause; the cause is in the audit log only.")


@blp.post("/challenge")
@blp.arguments(ChallengeCreate)
@blp.response(200, Challenge)
@auth_limits(device=True)
def challenge(payload: dict[str, Any]) -> Any:
    """A one-time nonce for the bound device to sign (two minutes). Same answer for unknown ids."""
    challenge_id, nonce = sessions.create_challenge(
        redis_client=ctx.redis_client(), protector=ctx.protector(), **payload)
    return {"challenge_id": challenge_id, "nonce": nonce,
            "expires_in": sessions.CHALLENGE_TTL_SECONDS}


@blp.post("/login")
@blp.arguments(LoginRequest)
@blp.response(200, TokenPair)
@auth_limits(device=True)
def login(payload: dict[str, Any]) -> Any:
    """Log in with the password and the device's ES256 signature over the challenge's nonce."""
    grant = sessions.login(db_session=ctx.db_session(), redis_client=ctx.redis_client(),
                           protector=ctx.protector(), actor=ctx.actor(), **payload)
    return issue_tokens(grant)


#: The refresh's rate limits (per IP): the route's and the hot lane's.
REFRESH_LIMITS = auth_limits(personal_id=False)


@blp.post("/refresh")
@blp.response(200, TokenPair)
@blp.doc(security=BEARER)
@REFRESH_LIMITS
def refresh() -> Any:
    """Trade the refresh token (as bearer) for new tokens; a reused one revokes its session."""
    return _rotated(refresh_claims(), ctx.actor())


def _rotated(claims: tuple[str, int], base: Actor) -> dict[str, Any]:
    """The route's work once its refresh token is read: the route's and the hot lane's."""
    sid, generation = claims
    grant = sessions.refresh_session(db_session=ctx.db_session(), actor=base,
                                     session_id=sid, generation=generation)
    return issue_tokens(grant)


def _refresh_in_lane(_payload: None, claims: tuple[str, int],
                     environ: dict[str, Any]) -> dict[str, Any]:
    """The route in the hot lane: the request counted in the route's limits, then its work."""
    count_from_environ(REFRESH_LIMITS.budgets, endpoint=HOT_REFRESH.endpoint, environ=environ)
    return _rotated(claims, ctx.actor_of(environ))


#: The refresh that every app makes every few minutes, served in front of Flask
#: (:mod:`app.hot_lane`). The route counts the request before it reads the token; the lane
#: reads it first and hands a token the route refuses to the route, which counts it then.
HOT_REFRESH = HotRoute(endpoint="auth.refresh", view=refresh, arguments=None, response=TokenPair,
                       authenticate=refresh_claims, serve=_refresh_in_lane)


@blp.post("/logout")
@blp.response(204)
@blp.doc(security=BEARER)
def logout() -> None:
    """Revoke this session's refresh token and every access token of the account.

    It needs a current access token (citizen or officer): a revoked one is
    `401 auth.invalid_token`, and ends nothing.
    """
    verify_jwt_in_request()
    claims = get_jwt()
    sessions.logout(db_session=ctx.db_session(), actor=ctx.actor(), session_id=session_id(),
                    subject=str(claims.get("sub", "")), token_version=claims.get("tv"))


@blp.post("/officer-login")
@blp.arguments(OfficerLogin)
@blp.response(200, TokenPair)
@auth_limits(personal_id=False, username=True)
def officer_login(payload: dict[str, Any]) -> Any:
    """Log an officer in with password and TOTP. Each TOTP time step is accepted once."""
    grant = officers.officer_login(db_session=ctx.db_session(), protector=ctx.protector(),
                                   actor=ctx.actor(),
                                   session_hours=current_app.config["OFFICER_SESSION_HOURS"],
                                   **payload)
    return issue_tokens(grant)


@blp.post("/device-rebind")
@blp.arguments(DeviceRebindCreate)
@blp.response(202, RebindStarted)
@auth_limits(device=True)
def request_device_rebind(payload: dict[str, Any]) -> Any:
    """Bind a new phone: password here, then the code sent to the registered phone."""
    ref, masked = devices.request_device_rebind(
        db_session=ctx.db_session(), redis_client=ctx.redis_client(), protector=ctx.protector(),
        sms=ctx.sms(), actor=ctx.actor(), **payload)
    return {"rebind_id": ref, "phone_masked": masked, "expires_in": codes.CODE_TTL_SECONDS}


@blp.post("/device-rebind/<string:rebind_id>/confirm")
@blp.arguments(CodeConfirm)
@blp.response(200, AccountStatus)
@auth_limits(personal_id=False)
def confirm_device_rebind(payload: dict[str, Any], rebind_id: str) -> Any:
    """Confirm with the code: the new device is bound, the old one's tokens revoked."""
    return devices.confirm_device_rebind(db_session=ctx.db_session(),
                                         redis_client=ctx.redis_client(), protector=ctx.protector(),
                                         actor=ctx.actor(), rebind_id=rebind_id, **payload)


@blp.post("/password-reset")
@blp.arguments(PasswordResetCreate)
@blp.response(202, PasswordResetStarted)
@auth_limits(device=True)
def request_password_reset(payload: dict[str, Any]) -> Any:
    """Reset a forgotten password: the bound device signs a challenge's nonce, then an SMS code.

    The answer is the same whether or not the id has an active account with
    this device (no oracle): only then does a code go to the account's phone.
    A locked account cannot reset its password (unlock first, or visit a
    police office).
    """
    ref = passwords.request_password_reset(
        db_session=ctx.db_session(), redis_client=ctx.redis_client(), protector=ctx.protector(),
        sms=ctx.sms(), actor=ctx.actor(), **payload)
    return {"reset_id": ref, "expires_in": codes.CODE_TTL_SECONDS}


@blp.post("/password-reset/<string:reset_id>/confirm")
@blp.arguments(PasswordResetConfirm)
@blp.response(200, AccountStatus)
@auth_limits(personal_id=False)
def confirm_password_reset(payload: dict[str, Any], reset_id: str) -> Any:
    """Set the new password with the SMS code: every session of the account is signed out."""
    return passwords.confirm_password_reset(
        db_session=ctx.db_session(), redis_client=ctx.redis_client(), protector=ctx.protector(),
        actor=ctx.actor(), reset_id=reset_id,
        **payload)


@blp.post("/unlock")
@blp.arguments(UnlockCreate)
@blp.response(202, UnlockStarted)
@auth_limits()
def request_unlock(payload: dict[str, Any]) -> Any:
    """Unlock a locked account: the password here, then the code sent to the registered phone."""
    ref, masked = locks.request_unlock(
        db_session=ctx.db_session(), redis_client=ctx.redis_client(), protector=ctx.protector(),
        sms=ctx.sms(), actor=ctx.actor(), **payload)
    return {"unlock_id": ref, "phone_masked": masked, "expires_in": codes.CODE_TTL_SECONDS}


@blp.post("/unlock/<string:unlock_id>/confirm")
@blp.arguments(CodeConfirm)
@blp.response(200, AccountStatus)
@auth_limits(personal_id=False)
def confirm_unlock(payload: dict[str, Any], unlock_id: str) -> Any:
    """Confirm the unlock with the code."""
    return locks.confirm_unlock(db_session=ctx.db_session(), redis_client=ctx.redis_client(),
                                protector=ctx.protector(), actor=ctx.actor(),
                                unlock_id=unlock_id, **payload)
