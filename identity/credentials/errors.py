"""The credentials domain's exceptions."""
from __future__ import annotations

from identity.errors import Conflict, Forbidden, InvalidInput, NotFound, Unavailable


class SigningUnavailable(Unavailable):
    """No usable signing key: none is active, or it does not decrypt. Nothing unsigned goes out."""

    code = "credential.signing_unavailable"
    message = "Credentials cannot be signed right now. Try again later."


class UnknownType(InvalidInput):
    code = "credential.type_unknown"
    message = "There is no credential of this type."


class LevelTooLow(Forbidden):
    code = "credential.level_too_low"
    message = "This credential needs a level 2 account: have it raised at a police office."


class CredentialNotFound(NotFound):
    code = "credential.not_found"
    message = "No credential of yours has this id."


class CredentialExpired(Conflict):
    code = "credential.expired"
    message = "The credential has expired; issue a new one."


class CredentialRevoked(Conflict):
    code = "credential.revoked"
    message = "The credential was revoked."


class KeyNotFound(NotFound):
    code = "issuer_key.not_found"
    message = "No issuer key has this kid."
