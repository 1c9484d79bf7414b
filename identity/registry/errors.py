"""Errors of the population registry."""
from __future__ import annotations

from identity.errors import DomainError, InvalidInput, NotFound


class InvalidPersonalId(InvalidInput):
    """A personal id that breaks one of the rules of :mod:`identity.registry.personal_id`."""

    code = "personal_id.invalid"
    message = "The personal id is not valid."


class InvalidCitizenData(InvalidInput):
    """A citizen's field (name, date, phone, unit...) that breaks its rule."""

    code = "citizen.invalid"


class CitizenNotFound(NotFound):
    """No citizen holds that personal id."""

    code = "citizen.not_found"
    message = "No citizen with that personal id."


class ImportFileError(DomainError):
    """The import file cannot be read at all (missing columns, not CSV, not a file)."""

    code = "import.file_invalid"
