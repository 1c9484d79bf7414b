"""Errors of data coordination."""
from __future__ import annotations

from identity.errors import Conflict, DomainError, Forbidden, InvalidInput, NotFound


class SourceNotFound(NotFound):
    """No data source of this name."""

    code = "source.not_found"
    message = "No data source of this name."


class NotYourSource(Forbidden):
    """The calling relying party does not own this data source."""

    code = "source.forbidden"
    message = "This source belongs to another party: a party delivers only its own records."


class InvalidRecord(InvalidInput):
    """A record breaks a rule of its kind (the code names which)."""

    code = "record.invalid"


class BatchTooLarge(InvalidInput):
    """More records in one batch than allowed."""

    code = "records.batch_too_large"


class LoadFileError(DomainError):
    """The file cannot be read at all (missing columns, not CSV/JSON lines, not a file)."""

    code = "load.file_invalid"


class MismatchNotFound(NotFound):
    """No open review item of this id."""

    code = "mismatch.not_found"
    message = "No record under review has this id."


class MismatchClosed(Conflict):
    """The review item is already resolved."""

    code = "mismatch.resolved"
    message = "This record has already been resolved."


class ResolutionNotAllowed(Conflict):
    """The resolution does not fit the item (e.g. "registry right" with no citizen found)."""

    code = "mismatch.resolution_not_allowed"


class DocumentNotFound(NotFound):
    """Not one of the holder's documents."""

    code = "document.not_found"
    message = "No document of yours has this id."


class DocumentRevoked(Conflict):
    """The source revoked (or suspended) the document: no credential is issued for it."""

    code = "document.revoked"
    message = "The issuing authority has revoked this document; it cannot be shown."


class DocumentExpired(Conflict):
    """The document is past its validity at the source."""

    code = "document.expired"
    message = "This document has expired; it cannot be shown."
