"""Errors of the accounts domain, each with a dotted code clients rely on."""
from __future__ import annotations

from identity.errors import (Conflict, Forbidden, InvalidInput, TooManyAttempts, Unauthenticated,
                             Unavailable)


class AuthenticationFailed(Unauthenticated):
    """Login failed. One code whatever the cause: the cause goes to the audit log only."""

    code = "auth.failed"
    message = "The personal id, password, device or challenge is not right."


class InvalidToken(Unauthenticated):
    """A token that is forged, expired, revoked, reused, of the wrong type or too old."""

    code = "auth.invalid_token"
    message = "The token is not valid. Log in again."


class InvalidCode(InvalidInput):
    """An SMS code that is wrong, expired, used, or for another purpose."""

    code = "otp.invalid"
    message = "The code is not right or has expired. Ask for a new code."
    field = "otp"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message, field="otp")


class TooManySms(TooManyAttempts):
    """Five SMS per phone per hour."""

    code = "sms.too_many"
    message = "Too many codes were sent to this phone. Try again in an hour."


class WeakPassword(InvalidInput):
    """A password outside 8 to 128 characters, or among the most common ones."""

    code = "password.weak"


class InvalidPasscode(InvalidInput):
    """A passcode that is not six digits."""

    code = "passcode.invalid"


class PasscodeKeyUnavailable(Unavailable):
    """A passcode hash names a key version the service does not hold (an operator's error)."""

    code = "passcode.key_unavailable"
    message = "The passcode cannot be checked right now; try again later."


class WrongPassword(Unauthenticated):
    """The current password, asked again to confirm a change of it, is wrong."""

    code = "password.wrong"
    message = "The current password is not right."


class WrongPasscode(Unauthenticated):
    """The passcode confirming a sensitive act is wrong; ``remaining`` tries are left."""

    code = "passcode.wrong"
    message = "The passcode is not right."


class AccountExists(Conflict):
    """The citizen already has an account."""

    code = "account.exists"
    message = "This citizen already has an account."


class AccountLocked(Forbidden):
    """The account is locked (lost phone, wrong passcodes, or by an officer)."""

    code = "account.locked"
    message = "The account is locked. Unlock it with an SMS code and the password."


class AccountNotActive(Forbidden):
    """The account is waiting for review or was rejected."""

    code = "account.not_active"
    message = "The account is not active yet."


class InvalidDeviceKey(InvalidInput):
    """A device public key that is not a P-256 SubjectPublicKeyInfo."""

    code = "device.key_invalid"


class OutsideJurisdiction(Forbidden):
    """An officer acting on a citizen or account outside their province or commune."""

    code = "officer.outside_jurisdiction"
    message = "This citizen is outside your jurisdiction."
