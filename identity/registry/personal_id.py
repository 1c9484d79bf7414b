"""The 12-digit personal id (số định danh cá nhân): the one validation used everywhere.

Structure (Circular 07/2016/TT-BCA, still in force after the 2025 merger)::

    PPP G YY NNNNNN
    |   | |  └ six digits chosen at registration
    |   | └ the last two digits of the year of birth
    |   └ century and gender: 0/1 = 1900s male/female, 2/3 = 2000s, 4/5 = 2100s...
    └ province of birth registration, one of the 63 codes of 2016 (001 Hà Nội ...)

Every failure has its own code, so a client can tell the citizen what to fix.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from identity.registry.admin_units import former_provinces
from identity.registry.errors import InvalidPersonalId

_ASCII_DIGITS = frozenset("0123456789")


@dataclass(frozen=True)
class PersonalIdParts:
    """What a personal id says of its holder."""

    province_code: str
    gender: str  # "M" or "F"
    birth_year: int


def parse_personal_id(value: object) -> PersonalIdParts:
    """Check the form of a personal id and return what it encodes.

    Raises :class:`InvalidPersonalId` with one of the codes ``personal_id.type``
    (not a string, e.g. a JSON number), ``personal_id.length``,
    ``personal_id.digits`` (anything but the ASCII digits 0-9, full-width and
    other Unicode digits included) or ``personal_id.province``.
    """
    if not isinstance(value, str):
        raise InvalidPersonalId("The personal id must be a string of 12 digits, not a number.",
                                code="personal_id.type", field="personal_id")
    if len(value) != 12:
        raise InvalidPersonalId("The personal id must have exactly 12 digits.",
                                code="personal_id.length", field="personal_id")
    if not _ASCII_DIGITS.issuperset(value):
        raise InvalidPersonalId("The personal id may contain only the digits 0-9.",
                                code="personal_id.digits", field="personal_id")
    if value[:3] not in former_provinces():
        raise InvalidPersonalId("The personal id does not begin with a province code in use.",
                                code="personal_id.province", field="personal_id")
    century_gender = int(value[3])
    return PersonalIdParts(
        province_code=value[:3],
        gender="F" if century_gender % 2 else "M",
        birth_year=1900 + (century_gender // 2) * 100 + int(value[4:6]),
    )


def validate_personal_id(value: object, *, date_of_birth: dt.date | None = None,
                         gender: str | None = None) -> str:
    """Validate a personal id, and its agreement with a date of birth and gender when given.

    Returns the id unchanged. Besides the codes of :func:`parse_personal_id`,
    raises ``personal_id.century_gender`` when the fourth digit contradicts
    the century of birth or the gender, and ``personal_id.birth_year`` when
    the fifth and sixth digits are not the last two of the year of birth.
    """
    parts = parse_personal_id(value)
    if date_of_birth is not None:
        century = 1900 + (int(value[3]) // 2) * 100  # type: ignore[index]
        if date_of_birth.year // 100 * 100 != century:
            raise InvalidPersonalId(
                "The fourth digit of the personal id does not match the century of birth.",
                code="personal_id.century_gender", field="personal_id")
        if date_of_birth.year % 100 != int(value[4:6]):  # type: ignore[index]
            raise InvalidPersonalId(
                "The fifth and sixth digits of the personal id are not the year of birth.",
                code="personal_id.birth_year", field="personal_id")
    if gender is not None and gender != parts.gender:
        raise InvalidPersonalId("The fourth digit of the personal id does not match the gender.",
                                code="personal_id.century_gender", field="personal_id")
    return value  # type: ignore[return-value]


def century_gender_digit(date_of_birth: dt.date, gender: str) -> str:
    """The fourth digit for a date of birth and gender (used by the generator)."""
    return str((date_of_birth.year // 100 - 19) * 2 + (1 if gender == "F" else 0))
