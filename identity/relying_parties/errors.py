"""Errors of relying parties, consent and data sharing, each with a dotted code clients rely on.

Every refusal of a client's authentication is the one :class:`InvalidClient`,
so the answers tell nothing about which client ids exist.
"""
from __future__ import annotations

from identity.errors import (Conflict, Forbidden, InvalidInput, NotFound, TooManyAttempts,
                             Unauthenticated)
from identity.relying_parties.models import KINDS, SCOPES

# --- Parties (the operator's acts) ---------------------------------------------------------------


class PartyNameInvalid(InvalidInput):
    """A party's name outside the allowed letters and length."""

    code = "rp.name"
    message = "A name of 1 to 100 letters, digits, spaces and .,&()'-"


class PartyKindUnknown(InvalidInput):
    """A kind of party outside :data:`~identity.relying_parties.models.KINDS`."""

    code = "rp.kind"
    message = f"The kind is one of: {', '.join(KINDS)}."


class ScopeUnknown(InvalidInput):
    """No scope, or one outside :data:`~identity.relying_parties.models.SCOPES`."""

    code = "rp.scope_unknown"
    message = f"Scopes are among: {', '.join(SCOPES)}."


class QuotaInvalid(InvalidInput):
    """A quota for a scope the party lacks, or a negative one."""

    code = "rp.quota"
    message = "Quotas are given for the party's own scopes, as whole numbers."


class PublicKeyInvalid(InvalidInput):
    """The registered public key is not a PEM P-256 public key."""

    code = "rp.public_key"
    message = "The public key must be a P-256 (ES256) key."


class PartyExists(Conflict):
    """Another party has this name."""

    code = "rp.exists"
    message = "A relying party of this name exists."


class PartyNotFound(NotFound):
    """No party of this name or client id."""

    code = "rp.not_found"
    message = "No relying party of this name or client id."


class NoCallback(NotFound):
    """The party has no registered callback (so no callback key)."""

    code = "rp.no_callback"
    message = "This party has no callback."


class CallbackRefused(InvalidInput):
    """The callback URL, or an address its host resolves to, is not allowed (or it is too long)."""

    code = "rp.callback_url"
    message = "The callback URL is not allowed."


class CallbackFailed(Exception):
    """A callback delivery failed and will be retried (the job queue's signal, not HTTP)."""


# --- Clients: authentication, scopes, quotas ----------------------------------------------------


class InvalidClient(Unauthenticated):
    """Unknown, disabled, or wrongly authenticated client: one answer for all."""

    code = "oauth.invalid_client"
    message = "The client could not be authenticated."


class ScopeNotGranted(Forbidden):
    """The token request asks for a scope the party was not granted."""

    code = "oauth.invalid_scope"
    message = "A scope asked for is not granted to this client."


class PartyTokenInvalid(Unauthenticated):
    """The party of an access token is disabled, or its token version is past."""

    code = "auth.invalid_token"
    message = "The token is not valid. Get a new one."


class ScopeMissing(Forbidden):
    """The party's token does not carry the scope this endpoint needs."""

    code = "rp.scope_missing"
    message = "This party is not allowed to do this (scope missing)."


class QuotaExhausted(TooManyAttempts):
    """The party has used its daily quota of a scope."""

    code = "rp.quota_exhausted"
    message = "The daily quota of this scope is used up; it renews at midnight UTC."


# --- Consent -------------------------------------------------------------------------------------


class ConsentNoCallback(Conflict):
    """A request asks for a callback, but the party has no registered callback URL."""

    code = "consent.no_callback"
    message = ("This party has no registered callback URL; ask the operator to register one, "
               "or poll.")


class ConsentNotFound(NotFound):
    """No such consent request for this citizen or this party."""

    code = "consent.not_found"
    message = "No such consent request."


class ConsentClosed(Conflict):
    """The request is no longer pending: decided, or expired."""

    code = "consent.closed"
    message = "This consent request has already been decided or has expired."


class ConsentAlreadyFetched(Conflict):
    """The party already received the data of this consent."""

    code = "consent.already_fetched"
    message = "The data of this consent has already been delivered, once."


class ConsentUnavailable(Conflict):
    """The citizen's data cannot be delivered now (why is the citizen's business)."""

    code = "consent.unavailable"
    message = "The data of this consent cannot be delivered now."


# --- Data sharing and erasure --------------------------------------------------------------------


class DataShareNotFound(NotFound):
    """Not one of the citizen's data shares."""

    code = "data_share.not_found"
    message = "No such data share."


class ErasureAlreadyRequested(Conflict):
    """The citizen already asked the party to erase this data."""

    code = "data_share.erasure_already_requested"
    message = "Erasure was already requested for this data."


class ErasureNotFound(NotFound):
    """Not one of the party's erasure requests."""

    code = "erasure.not_found"
    message = "No such erasure request."
