"""Errors of monitoring (statistics, operators), each with a dotted code clients rely on."""
from __future__ import annotations

from identity.errors import Conflict, InvalidInput, NotFound, Unauthenticated


class ProvinceNotFound(NotFound):
    """No province of this code in the administrative units."""

    code = "province.not_found"
    message = "No province of this code."


class CommuneNotFound(NotFound):
    """No commune of this code in the administrative units."""

    code = "commune.not_found"
    message = "No commune of this code."


class InvalidOperatorToken(Unauthenticated):
    """Unknown, disabled or malformed admin token: one answer for all three."""

    code = "operator.invalid_token"
    message = "The admin token is not valid."


class OperatorNameInvalid(InvalidInput):
    """An operator's name outside the allowed letters and length."""

    code = "operator.name"
    message = "A name of 1 to 64 letters, digits, spaces, dots or dashes."


class OperatorExists(Conflict):
    """Another operator has this name."""

    code = "operator.exists"
    message = "An operator of this name exists."


class OperatorNotFound(NotFound):
    """No operator of this name."""

    code = "operator.not_found"
    message = "No operator of this name."
