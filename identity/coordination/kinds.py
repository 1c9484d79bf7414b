"""The kinds of source, the fields of their records, and the claims of their credentials.

Every record carries the common fields (``record_id``, ``personal_id``,
``full_name``, ``date_of_birth``; optional ``gender``, ``status``,
``valid_from``, ``valid_until``) and the fields of its kind. A record is
refused (rejected, never stored) when a field breaks its rule; whether it
*agrees* with the registry is the linker's question, not this module's.

The credential claims keep the spec's short keys: ``id`` and ``nm`` (the
registry's name of the holder) as in the identity types, ``no`` the
document's number, ``vf``/``vu`` its validity (``YYYY-MM-DD``, ``vu`` null
when it never expires), and per kind: ``cls`` (licence class), ``fac``
(registered clinic), ``pt`` (passport type), ``q``/``ins``/``yr``
(qualification, institution, year), ``pl``/``vt`` (plate, vehicle type).
"""
from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from identity.coordination.errors import InvalidRecord
from identity.coordination.models import DOCUMENT_STATUSES
from identity.registry.errors import InvalidCitizenData
from identity.registry.normalise import (name_key, normalise_name, normalise_phone,
                                         normalise_text, parse_birth_date)
from identity.registry.personal_id import parse_personal_id
from identity.schema_fields import EARLIEST_YEAR, LATEST_YEAR

COMMON_COLUMNS = ("record_id", "personal_id", "full_name", "date_of_birth")
OPTIONAL_COMMON = ("gender", "status", "valid_from", "valid_until")
_RECORD_KEY = re.compile(r"[A-Za-z0-9._:/-]{1,64}")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_NUMBER = re.compile(r"[A-Z0-9-]{4,24}")
_LICENCE_CLASS = re.compile(r"(A1|A2|A3|A4|A|B1|B2|B|C1|C|D1|D2|D|E|F|BE|C1E|CE|D1E|D2E|DE|"
                            r"FB2|FC|FD|FE)")
_PLATE = re.compile(r"[0-9]{2}[A-Z]{1,2}[0-9]?-?[0-9]{3}\.?[0-9]{2}")
_YEAR = re.compile(r"(19|20)[0-9]{2}")


def _number(value: str, field: str) -> str:
    text = value.strip().upper()
    if not _NUMBER.fullmatch(text):
        raise InvalidRecord("A document number is 4 to 24 letters, digits or hyphens.",
                            code="record.number", field=field)
    return text


def _text(max_length: int) -> Callable[[str, str], str]:
    def check(value: str, field: str) -> str:
        return normalise_text(value, field=field, max_length=max_length)
    return check


def _pattern(pattern: re.Pattern[str], code: str, message: str) -> Callable[[str, str], str]:
    def check(value: str, field: str) -> str:
        text = value.strip().upper()
        if not pattern.fullmatch(text):
            raise InvalidRecord(message, code=code, field=field)
        return text
    return check


def _phone(value: str, field: str) -> str:
    return normalise_phone(value, field=field)


@dataclass(frozen=True)
class Field:
    """A field of a kind: its column, whether required, its check, its claim key."""

    name: str
    required: bool
    check: Callable[[str, str], str]
    claim: str | None


@dataclass(frozen=True)
class Kind:
    """A kind of source: its own fields, whether it is a document of the wallet."""

    name: str
    label: str
    fields: tuple[Field, ...]
    #: A document the citizen can show (the wallet); telecom subscriptions are not.
    document: bool = True
    #: ``valid_until`` is required (a passport always expires; an A1 licence never does).
    expiry_required: bool = False

    @property
    def columns(self) -> tuple[str, ...]:
        """Every column this kind reads."""
        return (*COMMON_COLUMNS, *OPTIONAL_COMMON, *(f.name for f in self.fields))

    @property
    def required(self) -> tuple[str, ...]:
        """The columns a file of this kind must have."""
        return (*COMMON_COLUMNS, *(f.name for f in self.fields if f.required))


_DOC_NUMBER = Field("document_number", True, _number, "no")
KINDS: dict[str, Kind] = {kind.name: kind for kind in (
    Kind("driving_licence", "Giấy phép lái xe", (
        _DOC_NUMBER,
        Field("licence_class", True, _pattern(_LICENCE_CLASS, "record.licence_class",
                                              "Unknown driving licence class."), "cls"))),
    Kind("health_insurance", "Thẻ bảo hiểm y tế", (
        _DOC_NUMBER, Field("facility", False, _text(200), "fac")), expiry_required=True),
    Kind("passport", "Hộ chiếu", (
        _DOC_NUMBER, Field("passport_type", False, _pattern(re.compile("P|PO|PD|PC"),
                                                            "record.passport_type",
                                                            "Passport type is P, PO, PD or "
                                                            "PC."), "pt")),
         expiry_required=True),
    Kind("education", "Văn bằng", (
        Field("document_number", False, _number, "no"),
        Field("qualification", True, _text(200), "q"),
        Field("institution", True, _text(200), "ins"),
        Field("year", False, _pattern(_YEAR, "record.year", "A year is four digits."), "yr"))),
    Kind("vehicle", "Đăng ký xe", (
        _DOC_NUMBER,
        Field("plate", True, _pattern(_PLATE, "record.plate", "Not a Vietnamese number plate."),
              "pl"),
        Field("vehicle_type", False, _text(50), "vt"))),
    Kind("telecom", "Thuê bao di động", (
        Field("phone", True, _phone, None),
        Field("subscription_type", False, _pattern(re.compile("PREPAID|POSTPAID"),
                                                   "record.subscription_type",
                                                   "prepaid or postpaid"), None)),
         document=False),
)}


class CheckedRecord(NamedTuple):
    """A record after every rule of its kind passed (a named tuple: a load builds millions)."""

    record_key: str
    personal_id: str
    full_name: str
    name_key: str
    date_of_birth: dt.date
    gender: str | None
    status: str
    valid_from: dt.date | None
    valid_until: dt.date | None
    fields: dict[str, str]


def _get(raw: Mapping[str, Any], name: str) -> str:
    value = raw.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidRecord(f"{name} must be text.", code="record.type", field=name)
    return value


def _date(value: str, field: str) -> dt.date | None:
    if not value:
        return None
    try:
        if not _DATE.fullmatch(value):
            raise ValueError(value)
        day = dt.date.fromisoformat(value)
    except ValueError:
        raise InvalidRecord(f"{field} must be a YYYY-MM-DD date.", code="record.date",
                            field=field) from None
    # The years of identity/schema_fields.py: a document valid until 9999-12-31 would make
    # the arithmetic of its credential's lifetime overflow.
    if not EARLIEST_YEAR <= day.year <= LATEST_YEAR:
        raise InvalidRecord(f"{field} must fall in the years {EARLIEST_YEAR} to "
                            f"{LATEST_YEAR}.", code="date.out_of_range", field=field)
    return day


def check_record(kind: Kind, raw: Mapping[str, Any], *, today: dt.date) -> CheckedRecord:
    """Apply the rules of ``kind`` to one raw record (strings by column name).

    Raises :class:`InvalidRecord`, :class:`InvalidCitizenData` or
    :class:`identity.registry.errors.InvalidPersonalId`, each with a dotted
    code and the field at fault.
    """
    key = _get(raw, "record_id")
    if not _RECORD_KEY.fullmatch(key):
        raise InvalidRecord("record_id is 1 to 64 letters, digits or . _ : / -",
                            code="record.id", field="record_id")
    personal_id = _get(raw, "personal_id")
    parse_personal_id(personal_id)
    name = normalise_name(_get(raw, "full_name"))
    birth = parse_birth_date(_get(raw, "date_of_birth"), today=today)
    gender = _get(raw, "gender").strip().upper() or None
    if gender is not None and gender not in ("M", "F"):
        raise InvalidCitizenData("The gender must be M or F.", code="gender.invalid",
                                 field="gender")
    status = _get(raw, "status").strip().lower() or "valid"
    if status not in DOCUMENT_STATUSES:
        raise InvalidRecord(f"The status is one of {', '.join(DOCUMENT_STATUSES)}.",
                            code="record.status", field="status")
    valid_from = _date(_get(raw, "valid_from"), "valid_from")
    valid_until = _date(_get(raw, "valid_until"), "valid_until")
    if kind.expiry_required and valid_until is None:
        raise InvalidRecord("valid_until is required for this kind of document.",
                            code="record.valid_until", field="valid_until")
    if valid_from and valid_until and valid_until < valid_from:
        raise InvalidRecord("valid_until is before valid_from.", code="record.validity",
                            field="valid_until")
    fields: dict[str, str] = {}
    for spec in kind.fields:
        value = _get(raw, spec.name)
        if not value.strip():
            if spec.required:
                raise InvalidRecord(f"{spec.name} is required.", code="record.missing",
                                    field=spec.name)
            continue
        fields[spec.name] = spec.check(value, spec.name)
    return CheckedRecord(key, personal_id, name, name_key(name), birth, gender, status,
                         valid_from, valid_until, fields)


def claims_of(kind: Kind, fields: Mapping[str, str]) -> dict[str, str]:
    """The kind-specific claims of a document (the ``c`` map's own part)."""
    return {spec.claim: fields[spec.name] for spec in kind.fields
            if spec.claim is not None and spec.name in fields}
