"""Tests of the registry's text normalisation (``identity/registry/normalise.py``).

Names are stored NFC with single spaces and compared case- and
normalisation-insensitively (never diacritic-insensitively); phones are
Vietnamese mobiles in national format; free text is single-line and free of
control, zero-width and bidi characters; dates of birth are ``YYYY-MM-DD``
between 1900-01-01 and today.
"""
from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Callable

import phonenumbers
import pytest

from identity.errors import InvalidInput
from identity.registry.errors import InvalidCitizenData
from identity.registry.normalise import (NAME_MAX, TEXT_MAX, mask_phone, name_key, names_match,
                                         normalise_name, normalise_phone, normalise_text,
                                         parse_birth_date)

NFC_NAME = "Nguyễn Văn An"
NFD_NAME = unicodedata.normalize("NFD", NFC_NAME)
TODAY = dt.date(2025, 7, 1)


def _refused(function: Callable[..., object], *args: object,
             **kwargs: object) -> InvalidCitizenData:
    with pytest.raises(InvalidCitizenData) as excinfo:
        function(*args, **kwargs)
    assert isinstance(excinfo.value, InvalidInput)
    return excinfo.value


# --- names ----------------------------------------------------------------------------------

def test_nfd_name_is_stored_nfc() -> None:
    assert NFD_NAME != NFC_NAME  # the fixture really is decomposed
    stored = normalise_name(NFD_NAME)
    assert stored == NFC_NAME
    assert unicodedata.is_normalized("NFC", stored)


@pytest.mark.parametrize("raw", [
    "  Nguyễn   Văn An  ",
    "Nguyễn Văn\u00a0An",
    "Nguyễn\u2003 Văn  An",
])
def test_name_whitespace_is_collapsed(raw: str) -> None:
    assert normalise_name(raw) == NFC_NAME


@pytest.mark.parametrize("raw", ["Nguyễn\tVăn An", "Nguyễn\n Văn \r\nAn", "Nguyễn\u2028Văn An"])
def test_line_breaks_and_tabs_in_names_are_refused(raw: str) -> None:
    assert _refused(normalise_name, raw).code == "name.characters"


@pytest.mark.parametrize("name", ["Đặng Thị Ánh Tuyết", "Hoàng-Lê Minh", "H'Hen Niê",
                                  "Lò Văn Pủa", "A"])
def test_names_with_letters_hyphens_apostrophes_are_accepted(name: str) -> None:
    assert normalise_name(name) == name


@pytest.mark.parametrize("name", [
    "Nguyễn Văn 2",
    "Nguyễn Văn An２",          # full-width digit
    "Nguyễn Văn An٣",           # Arabic-Indic digit
    "Nguyễn\x00Văn An",
    "Nguyễn Văn An\x07",
    "Nguyễn\x1bVăn An",
    "Nguyễn\x7fVăn An",
    "Nguyễn\u200bVăn An",       # zero-width space
    "Nguyễn\u200dVăn An",       # zero-width joiner
    "Nguyễn Văn \u202eAn",      # right-to-left override
    "Nguyễn Văn \u2066An\u2069",  # isolate marks
    "Nguyễn_Văn_An",
    "Nguyễn Văn An!",
    "Nguyễn Văn <An>",
    "-Nguyễn Văn An",
    "Nguyễn -- An",
], ids=["digit", "full-width-digit", "arabic-digit", "nul", "bell", "escape", "delete",
        "zero-width-space", "zero-width-joiner", "bidi-override", "bidi-isolate",
        "underscore", "exclamation", "angle-brackets", "leading-hyphen", "double-hyphen"])
def test_names_with_other_characters_are_refused(name: str) -> None:
    error = _refused(normalise_name, name)
    assert error.code == "name.characters"
    assert error.field == "full_name"


@pytest.mark.parametrize("name", ["", "   ", "\u00a0"])
def test_empty_name_is_refused(name: str) -> None:
    assert _refused(normalise_name, name).code == "name.empty"


@pytest.mark.parametrize("value", [None, 42, b"Nguyen", ["Nguyễn"]])
def test_non_text_name_is_refused(value: object) -> None:
    assert _refused(normalise_name, value).code == "name.type"


def test_name_length_limit() -> None:
    assert normalise_name("A" * NAME_MAX) == "A" * NAME_MAX
    error = _refused(normalise_name, "A" * (NAME_MAX + 1))
    assert error.code == "name.too_long"


def test_name_length_is_counted_after_normalisation() -> None:
    name = "ễ" * NAME_MAX
    decomposed = unicodedata.normalize("NFD", name)
    assert len(decomposed) > NAME_MAX
    assert normalise_name(decomposed) == name
    assert normalise_name("  " + "A " * 50) == ("A " * 50).strip()


def test_name_error_carries_the_field_given() -> None:
    assert _refused(normalise_name, "1", field="father_name").field == "father_name"


@pytest.mark.parametrize(("a", "b"), [
    ("NGUYỄN VĂN AN", "Nguyễn Văn An"),
    (NFD_NAME, NFC_NAME),
    (unicodedata.normalize("NFD", "NGUYỄN VĂN AN"), "nguyễn văn an"),
    ("  Nguyễn   Văn An ", "Nguyễn Văn An"),
    ("ĐẶNG THỊ ÁNH", "đặng thị ánh"),
])
def test_names_match_across_case_and_normal_form(a: str, b: str) -> None:
    assert names_match(a, b)
    assert name_key(a) == name_key(b)


@pytest.mark.parametrize(("a", "b"), [
    ("Nguyễn", "Nguyen"),
    ("Đặng", "Dang"),
    ("Lê", "Lệ"),
    ("Văn", "Vân"),
    ("Nguyễn Văn An", "Nguyễn Văn Anh"),
])
def test_names_match_is_diacritic_sensitive(a: str, b: str) -> None:
    assert not names_match(a, b)
    assert not names_match(unicodedata.normalize("NFD", a.upper()), b)


# --- phones ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("raw", "national"), [
    ("0912345678", "0912345678"),
    ("+84 912 345 678", "0912345678"),
    ("+84912345678", "0912345678"),
    ("84912345678", "0912345678"),
    ("091.234.5678", "0912345678"),
    ("091-234-5678", "0912345678"),
    ("(091) 234 5678", "0912345678"),
    ("0387654321", "0387654321"),
    ("+84 38 765 4321", "0387654321"),
])
def test_mobile_numbers_are_normalised_to_national_format(raw: str, national: str) -> None:
    assert normalise_phone(raw) == national


@pytest.mark.parametrize("raw", [
    "02438253537",          # Hà Nội landline
    "024 3825 3537",
    "+84 24 3825 3537",
    "091234567",            # too short
    "09123456789",          # too long
    "0912345678901234567890123",
    "",
    "abcdefghij",
    "0912345ABC",           # letters would be read as a keypad vanity number
    "09123abcde",
    "０９１２３４５６７８",   # full-width digits
    "091２３４５６７８",       # ASCII prefix, full-width rest
    "091٢٣٤٥٦٧٨",            # ASCII prefix, Arabic-Indic rest
    "+1 650 253 0000",      # not Vietnamese
    "+86 139 1234 5678",
    "0000000000",
    "1900 1234",
], ids=["landline", "landline-spaced", "landline-international", "short", "long",
        "very-long", "empty", "letters", "letters-suffix", "letters-mixed", "full-width",
        "mixed-full-width", "mixed-arabic-indic", "us", "china", "zeros", "hotline"])
def test_non_mobile_numbers_are_refused(raw: str) -> None:
    error = _refused(normalise_phone, raw)
    assert error.code == "phone.invalid"
    assert error.field == "phone"


@pytest.mark.parametrize("value", [None, 912345678, 84912345678, b"0912345678"])
def test_non_text_phone_is_refused(value: object) -> None:
    assert _refused(normalise_phone, value).code == "phone.type"


def test_phone_error_carries_the_field_given() -> None:
    assert _refused(normalise_phone, "12", field="contact_phone").field == "contact_phone"


def _library_mobile(number: str) -> str | None:
    """The national form of ``number`` if libphonenumber's full parse says VN mobile."""
    try:
        parsed = phonenumbers.parse(number, "VN")
    except phonenumbers.NumberParseException:
        return None
    if (parsed.country_code == 84 and phonenumbers.is_valid_number(parsed)
            and phonenumbers.number_type(parsed) == phonenumbers.PhoneNumberType.MOBILE):
        return "0" + str(parsed.national_number)
    return None


def _ours(number: str) -> str | None:
    try:
        return normalise_phone(number)
    except InvalidCitizenData as error:
        assert error.code == "phone.invalid"
        return None


def test_fast_path_agrees_with_full_parse_for_every_prefix() -> None:
    accepted = refused = 0
    for prefix in range(100):
        for suffix in ("0000000", "1234567", "5550199", "9999999"):
            number = f"{prefix:03d}{suffix}"
            expected = _library_mobile(number)
            # The 10-digit national form takes the regex path; the spaced form the full parse.
            assert _ours(number) == expected, number
            spaced = f"{number[:3]} {number[3:6]} {number[6:]}"
            assert _ours(spaced) == expected, spaced
            if expected is None:
                refused += 1
            else:
                accepted += 1
    assert accepted > 0 and refused > 0  # both outcomes really occurred


@pytest.mark.parametrize(("phone", "masked"), [
    ("0912345678", "091*****78"),
    ("0387654321", "038*****21"),
])
def test_mask_phone(phone: str, masked: str) -> None:
    assert mask_phone(phone) == masked
    assert len(mask_phone(phone)) == len(phone)
    assert phone[3:8] not in mask_phone(phone)


# --- free text ------------------------------------------------------------------------------

def test_text_is_stripped_and_stored_nfc() -> None:
    raw = "  " + unicodedata.normalize("NFD", "Số 1 Tràng Tiền, Hoàn Kiếm") + " \n"
    text = normalise_text(raw, field="address")
    assert text == "Số 1 Tràng Tiền, Hoàn Kiếm"
    assert unicodedata.is_normalized("NFC", text)


@pytest.mark.parametrize("raw", [
    "Số 1\x00Tràng Tiền",
    "Số 1\nTràng Tiền",
    "Số 1\rTràng Tiền",
    "Số 1\tTràng Tiền",
    "Số 1\x1bTràng Tiền",
    "Số 1\x85Tràng Tiền",
    "Số 1\u200bTràng Tiền",
    "Số 1\ufeffTràng Tiền",
    "Số 1 \u202eTràng Tiền",
    "Số 1 \u2067Tràng Tiền\u2069",
    "Số 1 Tràng Tiền\u200b",
    "Số 1\u2028Tràng Tiền",     # LINE SEPARATOR: the text must stay single-line
    "Số 1\u2029Tràng Tiền",     # PARAGRAPH SEPARATOR
], ids=["nul", "newline", "carriage-return", "tab", "escape", "next-line", "zero-width-space",
        "bom", "bidi-override", "bidi-isolate", "trailing-zero-width", "line-separator",
        "paragraph-separator"])
def test_text_with_hidden_characters_is_refused(raw: str) -> None:
    error = _refused(normalise_text, raw, field="address")
    assert error.code == "text.control_characters"
    assert error.field == "address"


def test_text_length_limit() -> None:
    assert normalise_text("a" * TEXT_MAX, field="address") == "a" * TEXT_MAX
    assert _refused(normalise_text, "a" * (TEXT_MAX + 1), field="address").code == "text.too_long"
    assert normalise_text("Kinh", field="ethnicity", max_length=4) == "Kinh"
    assert _refused(normalise_text, "Kinhh", field="ethnicity",
                    max_length=4).code == "text.too_long"


@pytest.mark.parametrize("value", [None, "", "   ", "\n"])
def test_required_text_may_not_be_empty(value: object) -> None:
    error = _refused(normalise_text, value, field="address")
    assert error.code == "text.empty"
    assert error.field == "address"


@pytest.mark.parametrize("value", [None, "", "   "])
def test_optional_text_may_be_empty(value: object) -> None:
    assert normalise_text(value, field="place_of_origin", required=False) == ""


@pytest.mark.parametrize("value", [0, 12, b"Ha Noi", ["Hà Nội"]])
def test_non_text_is_refused(value: object) -> None:
    assert _refused(normalise_text, value, field="address").code == "text.type"


# --- dates of birth -------------------------------------------------------------------------

@pytest.mark.parametrize(("raw", "expected"), [
    ("1990-05-17", dt.date(1990, 5, 17)),
    ("1900-01-01", dt.date(1900, 1, 1)),
    ("2024-02-29", dt.date(2024, 2, 29)),
    (TODAY.isoformat(), TODAY),
    (dt.date(1990, 5, 17), dt.date(1990, 5, 17)),
])
def test_valid_birth_dates(raw: object, expected: dt.date) -> None:
    assert parse_birth_date(raw, today=TODAY) == expected


@pytest.mark.parametrize("raw", [
    "17/05/1990",
    "1990/05/17",
    "1990-5-17",
    "19900517",
    "1990-02-30",
    "2023-02-29",
    "1990-13-01",
    "1990-05-17T00:00",
    " 1990-05-17",
    "１９９０-０５-１７",       # full-width digits
    "2000-W01-1",              # ISO week date: 10 characters, but not YYYY-MM-DD
    "",
    None,
    19900517,
], ids=["dmy", "slashes", "no-padding", "basic", "feb-30", "not-leap", "month-13",
        "datetime", "space", "full-width", "week-date", "empty", "None", "int"])
def test_malformed_birth_dates_are_refused(raw: object) -> None:
    error = _refused(parse_birth_date, raw, today=TODAY)
    assert error.code == "date_of_birth.format"
    assert error.field == "date_of_birth"


@pytest.mark.parametrize("raw", [
    (TODAY + dt.timedelta(days=1)).isoformat(),
    "2999-01-01",
    "1899-12-31",
    "0001-01-01",
    dt.date(1899, 12, 31),
    TODAY + dt.timedelta(days=1),
])
def test_birth_dates_out_of_range_are_refused(raw: object) -> None:
    assert _refused(parse_birth_date, raw, today=TODAY).code == "date_of_birth.range"
