"""Normalisation of the registry's text fields: names, phones, addresses.

Names are stored NFC-normalised with single spaces; they are compared through
:func:`name_key` (case-folded NFC), so "NGUYỄN VĂN AN" typed on a keyboard
that sends NFD matches "Nguyễn Văn An" in the registry.

Phone numbers follow the telecom subscriber records: Vietnamese mobile
numbers in national format (``0912345678``). Validation uses the national
mobile pattern of Google's libphonenumber (the ``phonenumbers`` package):
its compiled regular expression for the common national form, its full
parser for anything else (``+84 912 345 678``), so an import of millions of
rows does not pay 15 µs a row for parsing.
"""
from __future__ import annotations

import datetime as dt
import re
import unicodedata

import phonenumbers

from identity.registry.errors import InvalidCitizenData

NAME_MAX = 100
TEXT_MAX = 255

_NAME_RE = re.compile(r"[^\W\d_]+(?:[ '\-][^\W\d_]+)*")
_NATIONAL_RE = re.compile(r"0[0-9]{9}")
# ASCII: "\d" in the library's pattern would otherwise match full-width and other digits.
_VN_MOBILE = phonenumbers.PhoneMetadata.metadata_for_region("VN").mobile  # type: ignore
_VN_MOBILE_RE = re.compile(_VN_MOBILE.national_number_pattern, re.ASCII)  # type: ignore
_PHONE_CHARACTERS = frozenset("+0123456789")
_DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_PHONE_SEPARATORS = str.maketrans("", "", " .-()")
# Control (Cc) and format (Cf) characters (NUL, newlines, zero-width and bidi marks), line and
# paragraph separators (Zl, Zp), and surrogate, private-use and unassigned code points.
_HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def _has_hidden_characters(text: str) -> bool:
    if text.isprintable():  # fast path: printable text has none of them
        return False
    return any(unicodedata.category(ch) in _HIDDEN_CATEGORIES for ch in text)


def normalise_name(value: object, *, field: str = "full_name") -> str:
    """An NFC full name with single spaces, made only of letters, spaces, hyphens, apostrophes."""
    if not isinstance(value, str):
        raise InvalidCitizenData("The name must be text.", code="name.type", field=field)
    if _has_hidden_characters(value):
        raise InvalidCitizenData("The name contains control or invisible characters.",
                                 code="name.characters", field=field)
    name = " ".join(unicodedata.normalize("NFC", value).split())
    if not name:
        raise InvalidCitizenData("The name is empty.", code="name.empty", field=field)
    if len(name) > NAME_MAX:
        raise InvalidCitizenData(f"The name is longer than {NAME_MAX} characters.",
                                 code="name.too_long", field=field)
    if not _NAME_RE.fullmatch(name):
        raise InvalidCitizenData("The name may contain only letters, spaces, hyphens and "
                                 "apostrophes.", code="name.characters", field=field)
    return name


def name_key(name: str) -> str:
    """The comparison key of a name: case- and normalisation-insensitive."""
    return unicodedata.normalize("NFC", " ".join(unicodedata.normalize("NFC", name).split())
                                 .casefold())


def names_match(a: str, b: str) -> bool:
    """Whether two names are the same name, whatever their case and Unicode normal form."""
    return name_key(a) == name_key(b)


def normalise_phone(value: object, *, field: str = "phone") -> str:
    """A Vietnamese mobile number in national format, e.g. ``0912345678``."""
    if not isinstance(value, str):
        raise InvalidCitizenData("The phone number must be text.", code="phone.type", field=field)
    if _NATIONAL_RE.fullmatch(value):
        if _VN_MOBILE_RE.fullmatch(value, 1):
            return value
        raise InvalidCitizenData("The phone number is not a Vietnamese mobile number.",
                                 code="phone.invalid", field=field)
    compact = value.translate(_PHONE_SEPARATORS)
    # Digits and a leading "+" only: the library would read letters as keypad digits.
    if not _PHONE_CHARACTERS.issuperset(compact) or len(compact) > 20:
        raise InvalidCitizenData("The phone number is not a Vietnamese mobile number.",
                                 code="phone.invalid", field=field)
    try:
        number = phonenumbers.parse(compact, "VN")
    except phonenumbers.NumberParseException:
        number = None
    if (number is None or number.country_code != 84 or not phonenumbers.is_valid_number(number)
            or phonenumbers.number_type(number) != phonenumbers.PhoneNumberType.MOBILE):
        raise InvalidCitizenData("The phone number is not a Vietnamese mobile number.",
                                 code="phone.invalid", field=field)
    return "0" + str(number.national_number)


def mask_phone(phone: str) -> str:
    """A phone number as it may be shown back: ``091*****78``."""
    return phone[:3] + "*" * (len(phone) - 5) + phone[-2:]


def normalise_text(value: object, *, field: str, max_length: int = TEXT_MAX,
                   required: bool = True) -> str:
    """NFC free text (an address), single-line, with no control, zero-width or bidi characters."""
    if value is None or value == "":
        if required:
            raise InvalidCitizenData(f"{field} is required.", code="text.empty", field=field)
        return ""
    if not isinstance(value, str):
        raise InvalidCitizenData(f"{field} must be text.", code="text.type", field=field)
    text = unicodedata.normalize("NFC", value).strip()
    if _has_hidden_characters(text):
        raise InvalidCitizenData(f"{field} contains control or invisible characters.",
                                 code="text.control_characters", field=field)
    if len(text) > max_length:
        raise InvalidCitizenData(f"{field} is longer than {max_length} characters.",
                                 code="text.too_long", field=field)
    if required and not text:
        raise InvalidCitizenData(f"{field} is required.", code="text.empty", field=field)
    return text


EARLIEST_BIRTH = dt.date(1900, 1, 1)


def parse_birth_date(value: object, *, today: dt.date, field: str = "date_of_birth") -> dt.date:
    """A date of birth written ``YYYY-MM-DD``, not before 1900 and not in the future."""
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        date = value
    elif isinstance(value, str) and _DATE_RE.fullmatch(value):
        try:
            date = dt.date.fromisoformat(value)
        except ValueError:
            raise InvalidCitizenData("The date of birth is not a valid YYYY-MM-DD date.",
                                     code="date_of_birth.format", field=field) from None
    else:
        raise InvalidCitizenData("The date of birth must be written YYYY-MM-DD.",
                                 code="date_of_birth.format", field=field)
    if date < EARLIEST_BIRTH or date > today:
        raise InvalidCitizenData("The date of birth is out of range (1900-01-01 to today).",
                                 code="date_of_birth.range", field=field)
    return date
