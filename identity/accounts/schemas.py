"""Marshmallow schemas of accounts, authentication and officers' work.

Binary values travel as base64url without padding. Personal ids, phones and
secrets only ever travel in bodies, never in URLs.
"""
from __future__ import annotations

import base64
import binascii
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate

from identity.errors import CodedMessage
from identity.registry.schemas import PersonalIdField
from identity.schema_fields import BoundedDate, NameField, Page, PhoneField


class Base64UrlBytes(fields.Field):
    """Bytes as base64url without padding."""

    def __init__(self, *, max_bytes: int, **kwargs: Any) -> None:
        metadata = {"type": "string", "format": "base64url", **kwargs.pop("metadata", {})}
        super().__init__(metadata=metadata, **kwargs)
        self.max_bytes = max_bytes

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bytes:
        if not isinstance(value, str) or len(value) > self.max_bytes * 4 // 3 + 4 or \
                not value.isascii() or "=" in value:
            raise ValidationError(CodedMessage("Must be base64url text without padding.",
                                               "base64.invalid"))
        try:
            raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        except (binascii.Error, ValueError) as exc:
            raise ValidationError(CodedMessage("Must be base64url text without padding.",
                                               "base64.invalid")) from exc
        if not raw or len(raw) > self.max_bytes:
            raise ValidationError(CodedMessage("The value has the wrong length.",
                                               "base64.length"))
        return raw

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        return None if value is None else base64.urlsafe_b64encode(value).decode().rstrip("=")


_ID: dict[str, Any] = {"type": "string", "pattern": "^[0-9]{12}$", "example": "001090012345"}
_DEVICE: dict[str, Any] = {
    "required": True, "validate": validate.Regexp(r"^[A-Za-z0-9._:-]{8,64}$"),
    "metadata": {"example": "3f1e6f0e-4c51-4a57-9a53-2f8d9a6c1b7e"}}
#: Enough for any password the policy accepts, small enough that hashing stays cheap.
_SECRET: dict[str, Any] = {"required": True, "validate": validate.Length(max=1024)}
_SHORT: dict[str, Any] = {"required": True, "validate": validate.Length(max=64)}


class RegistrationCreate(Schema):
    """Level 1 self-registration from the app."""

    personal_id = PersonalIdField(required=True, metadata=_ID)
    full_name = NameField(required=True, metadata={"example": "Nguyễn Văn An"})
    date_of_birth = BoundedDate(required=True)
    phone = PhoneField(required=True, metadata={"example": "0912345678"})
    device_id = fields.String(**_DEVICE)
    device_public_key = Base64UrlBytes(required=True, max_bytes=200, metadata={
        "description": "The device's P-256 public key, DER SubjectPublicKeyInfo"})


class CodeSent(Schema):
    """A code went by SMS: to which phone (masked), and for how long it holds."""

    phone_masked = fields.String(metadata={"example": "091*****78"})
    expires_in = fields.Integer(metadata={"example": 300})


class RegistrationStarted(CodeSent):
    """Same answer whether or not the data match the registry."""

    registration_id = fields.String()


class CodeConfirm(Schema):
    """A 6-digit code received by SMS."""

    otp = fields.String(**_SHORT)


class RegistrationConfirm(CodeConfirm):
    """The SMS code and the secrets the citizen chooses."""

    password = fields.String(**_SECRET)
    passcode = fields.String(**_SHORT)


class AccountCreated(Schema):
    """A new account."""

    account_id = fields.Integer(attribute="id")
    level = fields.Integer()
    status = fields.String(metadata={"example": "active"})


class ChallengeCreate(Schema):
    """Ask for a nonce for the bound device to sign."""

    personal_id = PersonalIdField(required=True, metadata=_ID)
    device_id = fields.String(**_DEVICE)


class Challenge(Schema):
    """A one-time nonce (base64url) valid for two minutes."""

    challenge_id = fields.String()
    nonce = fields.String()
    expires_in = fields.Integer(metadata={"example": 120})


class LoginRequest(Schema):
    """Password plus the device's signature over the challenge nonce."""

    personal_id = PersonalIdField(required=True, metadata=_ID)
    password = fields.String(**_SECRET)
    device_id = fields.String(**_DEVICE)
    challenge_id = fields.String(**_SHORT)
    signature = Base64UrlBytes(required=True, max_bytes=128, metadata={
        "description": "DER ECDSA P-256 SHA-256 signature over the nonce's bytes"})


class TokenPair(Schema):
    """Access and refresh tokens."""

    access_token = fields.String()
    refresh_token = fields.String()
    token_type = fields.String(metadata={"example": "Bearer"})
    expires_in = fields.Integer(metadata={"example": 600})


class OfficerLogin(Schema):
    """An officer's username, password and current TOTP code."""

    username = fields.String(**_SHORT)
    password = fields.String(**_SECRET)
    totp = fields.String(**_SHORT)


class DeviceRebindCreate(Schema):
    """Bind a new phone: the password, the new device's id and key."""

    personal_id = PersonalIdField(required=True, metadata=_ID)
    password = fields.String(**_SECRET)
    device_id = fields.String(**_DEVICE)
    device_public_key = Base64UrlBytes(required=True, max_bytes=200)


class RebindStarted(CodeSent):
    """A code went to the registered phone."""

    rebind_id = fields.String()


class UnlockCreate(Schema):
    """Unlock a locked account: the password, then an SMS code."""

    personal_id = PersonalIdField(required=True, metadata=_ID)
    password = fields.String(**_SECRET)


class UnlockStarted(CodeSent):
    """A code went to the registered phone."""

    unlock_id = fields.String()


class AccountStatus(Schema):
    """An account's level and status."""

    account_id = fields.Integer(attribute="id")
    level = fields.Integer()
    status = fields.String()


class RegistryData(Schema):
    """A citizen's data from the population registry."""

    personal_id = fields.String()
    full_name = fields.String()
    date_of_birth = fields.Date()
    gender = fields.String()
    province_code = fields.String()
    commune_code = fields.String()
    address = fields.String()


def registry_data(citizen: Any) -> dict[str, Any]:
    """The fields of :class:`RegistryData`, read from a registry citizen."""
    return {name: getattr(citizen, name) for name in RegistryData._declared_fields}


class MeRead(RegistryData):
    """The citizen's own registry data and account."""

    account_id = fields.Integer()
    level = fields.Integer()
    status = fields.String()
    device_id = fields.String(allow_none=True)
    phone_masked = fields.String()


class PasscodeChange(Schema):
    """The current passcode confirms the new one."""

    passcode = fields.String(**_SHORT)
    new_passcode = fields.String(**_SHORT)


class PasswordChange(Schema):
    """The current password and the passcode confirm the new password."""

    password = fields.String(**_SECRET)
    new_password = fields.String(**_SECRET)
    passcode = fields.String(**_SHORT)


class PasswordResetCreate(Schema):
    """A forgotten password: the bound device signs a login challenge's nonce."""

    personal_id = PersonalIdField(required=True, metadata=_ID)
    device_id = fields.String(**_DEVICE)
    challenge_id = fields.String(**_SHORT)
    signature = Base64UrlBytes(required=True, max_bytes=128, metadata={
        "description": "DER ECDSA P-256 SHA-256 signature of the challenge's nonce, base64url."})


class PasswordResetStarted(Schema):
    """The same answer whether or not a code went out (nothing tells whether the id exists)."""

    reset_id = fields.String()
    expires_in = fields.Integer(metadata={"example": 300})


class PasswordResetConfirm(CodeConfirm):
    """The SMS code and the new password."""

    new_password = fields.String(**_SECRET)


class NotificationRead(Schema):
    """A notification."""

    id = fields.Integer()
    kind = fields.String()
    text = fields.String()
    created_at = fields.DateTime()


class NotificationPage(Page):
    """The citizen's notifications, newest first."""

    items = fields.List(fields.Nested(NotificationRead))


class AccessLogEntry(Schema):
    """One act about the citizen: who, what, when."""

    occurred_at = fields.DateTime()
    action = fields.String(metadata={"example": "auth.login"})
    actor_type = fields.String(metadata={"example": "officer"})
    actor = fields.String(attribute="actor_id", allow_none=True)
    by = fields.Function(lambda event: (event.details or {}).get("by"), allow_none=True,
                         metadata={"description": "The organisation or unit, when known"})
    details = fields.Dict()


class AccessLogPage(Page):
    """The citizen's access log, newest first."""

    items = fields.List(fields.Nested(AccessLogEntry))


class SmsRead(Schema):
    """A message in the development outbox."""

    phone = fields.String()
    text = fields.String()
    sent_at = fields.DateTime()


class SmsOutbox(Schema):
    """The latest 100 messages, newest first."""

    messages = fields.List(fields.Nested(SmsRead))


# --- Officers ----------------------------------------------------------------------------------

class PendingAccount(Schema):
    """A registration waiting for review."""

    account_id = fields.Integer(attribute="id")
    full_name = fields.Function(lambda account: account.citizen.full_name)
    province_code = fields.Function(lambda account: account.citizen.province_code)
    commune_code = fields.Function(lambda account: account.citizen.commune_code)
    status = fields.String()
    created_at = fields.DateTime()


class PendingAccountPage(Page):
    """The review queue, oldest first."""

    items = fields.List(fields.Nested(PendingAccount))


class ReviewDecision(Schema):
    """Approve or reject a registration."""

    decision = fields.String(required=True, validate=validate.OneOf(["approve", "reject"]))
    reason = fields.String(load_default=None, validate=validate.Length(min=3, max=500))


class Level2Request(Schema):
    """The in-person check against the chip ID card."""

    card_number = fields.String(required=True, validate=validate.Regexp(r"^[0-9]{12}$"))
    check = fields.String(required=True, validate=validate.OneOf(["face", "fingerprint"]))


class InPersonRebind(Schema):
    """Recovery at a police office: the new device, the check done, optionally a new phone."""

    device_id = fields.String(**_DEVICE)
    device_public_key = Base64UrlBytes(required=True, max_bytes=200)
    check = fields.String(required=True, validate=validate.OneOf(["face", "fingerprint"]))
    phone = PhoneField(load_default=None)


class CitizenLookup(Schema):
    """A citizen to look up."""

    personal_id = PersonalIdField(required=True, metadata=_ID)


class CitizenRead(RegistryData):
    """A citizen's registry record, with their account when they have one."""

    household_id = fields.String(allow_none=True)
    account = fields.Nested(AccountStatus, allow_none=True)


# --- Account states: a pending registration's status and withdrawal; reclaim at the desk -------

class RegistrationStatus(Schema):
    """What a pending account may see of itself: its state, never registry data."""

    account_id = fields.Integer(attribute="id")
    status = fields.String(metadata={"example": "pending_review"})
    level = fields.Integer()
    created_at = fields.DateTime()
    review_note = fields.Function(
        lambda account: account.review_note if account.status == "rejected" else None,
        allow_none=True, metadata={"description": "The officer's reason, when rejected"})


class RegistrationWithdraw(Schema):
    """The passcode confirms withdrawing a pending registration."""

    passcode = fields.String(**_SHORT)


class ReclaimRequest(Level2Request, InPersonRebind):
    """An officer reclaims a citizen's identity at the desk (personal id in the body only).

    The chip card's number must be the personal id; the device and phone are
    the real citizen's, checked in person; the reason is kept in the audit log.
    """

    personal_id = PersonalIdField(required=True, metadata=_ID)
    phone = PhoneField(required=True, metadata={"example": "0912345678"})
    reason = fields.String(required=True, validate=validate.Length(min=3, max=500))


class ReclaimStarted(RegistrationStarted):
    """A code went to the phone given in person; the citizen confirms as a registration.

    ``superseded_status`` is the state of the account that was closed (null
    when the citizen had none).
    """

    superseded_status = fields.String(allow_none=True)
