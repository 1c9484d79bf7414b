"""The base of every domain exception.

Each exception carries a dotted ``code`` ("personal_id.length") that clients
and tests rely on, a human message, and optional per-field details. The kind
of failure is told by the base class; ``app/errors.py`` maps kinds to HTTP
statuses, so services never speak HTTP.
"""
from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """A failure the caller can understand and act on."""

    code = "domain.error"
    message = "The request could not be completed."

    def __init__(self, message: str | None = None, *, code: str | None = None,
                 field: str | None = None, errors: dict[str, list[Any]] | None = None,
                 **details: Any) -> None:
        self.message = message or self.message
        self.code = code or self.code
        self.field = field
        #: Extra entries for the error body's ``errors`` (shown to the client).
        self.errors = errors or {}
        #: Details for the caller's code and the audit log (not shown).
        self.details = details
        super().__init__(self.message)


class InvalidInput(DomainError):
    """The input breaks a rule of the domain (HTTP 422)."""

    code = "input.invalid"


class NotFound(DomainError):
    """The object does not exist, or the caller may not know it exists (HTTP 404)."""

    code = "not_found"


class Conflict(DomainError):
    """The object's current state does not allow the act (HTTP 409)."""

    code = "conflict"


class Unavailable(DomainError):
    """A component the act needs is down (HTTP 503); safe to retry later."""

    code = "service.unavailable"


class CodedMessage(str):
    """A validation message that carries its dotted code, e.g. ``personal_id.length``.

    Marshmallow keeps message objects as they are, so the HTTP layer can put
    the code at the top of the error body while ``errors`` stays plain text.
    """

    code: str

    def __new__(cls, message: str, code: str) -> "CodedMessage":
        obj = super().__new__(cls, message)
        obj.code = code
        return obj


class Unauthenticated(DomainError):
    """The caller is not who they must be, or did not say (HTTP 401)."""

    code = "auth.failed"


class Forbidden(DomainError):
    """The caller is known but may not do this (HTTP 403)."""

    code = "auth.forbidden"


class TooManyAttempts(DomainError):
    """Too many attempts in a window; try again later (HTTP 429)."""

    code = "rate_limited"
