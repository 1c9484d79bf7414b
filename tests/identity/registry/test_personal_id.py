"""Tests of the 12-digit personal id (``identity/registry/personal_id.py``).

Layout ``PPP G YY NNNNNN``: a 2016 province code, the century/gender digit,
the last two digits of the year of birth, six registration digits. Every
refusal must be an :class:`InvalidPersonalId` with its own dotted code.
"""
from __future__ import annotations

import csv
import datetime as dt
from importlib import resources

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from identity.errors import InvalidInput
from identity.registry.errors import InvalidPersonalId
from identity.registry.personal_id import (PersonalIdParts, century_gender_digit,
                                           parse_personal_id, validate_personal_id)

# Read the CSV directly rather than through admin_units, so the loader is tested too.
_CSV = resources.files("identity.registry").joinpath("data/provinces_2016.csv")
PROVINCE_CODES_2016 = [row["code"] for row in csv.DictReader(
    _CSV.read_text("utf-8").splitlines())]

PARSE_CODES = {"personal_id.type", "personal_id.length", "personal_id.digits",
               "personal_id.province"}

# 001 Hà Nội, male, born 1985.
VALID_ID = "001085123456"


def _refusal(value: object, **kwargs: object) -> InvalidPersonalId:
    with pytest.raises(InvalidPersonalId) as excinfo:
        validate_personal_id(value, **kwargs)  # type: ignore[arg-type]
    return excinfo.value


# --- personal_id.type ---------------------------------------------------------------------

@pytest.mark.parametrize("value", [
    1085123456,            # a JSON number loses the leading zeros
    1_001_085_123_456,
    None,
    True,
    False,
    list(VALID_ID),
    b"001085123456",
    1.085123456e9,
], ids=["int", "int-12-digits", "None", "True", "False", "list", "bytes", "float"])
def test_non_string_is_refused_with_type_code(value: object) -> None:
    error = _refusal(value)
    assert error.code == "personal_id.type"
    assert error.field == "personal_id"
    assert isinstance(error, InvalidInput)


# --- personal_id.length -------------------------------------------------------------------

@pytest.mark.parametrize("value", [
    "00108512345",          # 11 digits
    "0010851234567",        # 13 digits
    "",
    " 001085123456",        # leading space
    "001085123456 ",        # trailing space
    "001 085 123 456",      # grouped with spaces
    "001-085-123-456",
], ids=["11", "13", "empty", "leading-space", "trailing-space", "grouped", "dashes"])
def test_wrong_length_is_refused_with_length_code(value: str) -> None:
    error = _refusal(value)
    assert error.code == "personal_id.length"
    assert error.field == "personal_id"


# --- personal_id.digits -------------------------------------------------------------------

@pytest.mark.parametrize("value", [
    "００１０８５１２３４５６",  # full-width digits
    "٠٠١٠٨٥١٢٣٤٥٦",              # Arabic-Indic digits
    "۰۰۱۰۸۵۱۲۳۴۵۶",              # Extended Arabic-Indic digits
    "00108512345²",               # superscript two: str.isdigit() but not 0-9
    "00108512345A",
    "ABCDEFGHIJKL",
    "001085 23456",               # a space inside
    "+84108512345",
    "-01085123456",
    "00108512345\n",
], ids=["full-width", "arabic-indic", "extended-arabic-indic", "superscript", "letter",
        "letters", "inner-space", "plus", "minus", "newline"])
def test_non_ascii_digit_characters_are_refused_with_digits_code(value: str) -> None:
    assert len(value) == 12
    error = _refusal(value)
    assert error.code == "personal_id.digits"
    assert error.field == "personal_id"


# --- personal_id.province -----------------------------------------------------------------

@pytest.mark.parametrize("prefix", ["000", "003", "005", "099", "097", "100", "999"])
def test_unknown_province_prefix_is_refused_with_province_code(prefix: str) -> None:
    error = _refusal(prefix + "085123456")
    assert error.code == "personal_id.province"
    assert error.field == "personal_id"


def test_there_are_63_province_codes_of_2016() -> None:
    assert len(PROVINCE_CODES_2016) == 63
    assert len(set(PROVINCE_CODES_2016)) == 63
    assert all(len(code) == 3 and code.isdigit() and code.isascii()
               for code in PROVINCE_CODES_2016)


@pytest.mark.parametrize("province_code", PROVINCE_CODES_2016)
def test_every_2016_province_code_is_accepted(province_code: str) -> None:
    personal_id = province_code + "285000001"
    assert validate_personal_id(personal_id, date_of_birth=dt.date(2085, 1, 1),
                                gender="M") == personal_id
    assert parse_personal_id(personal_id).province_code == province_code


# --- personal_id.century_gender and personal_id.birth_year ------------------------------------

@pytest.mark.parametrize(("personal_id", "date_of_birth"), [
    ("001085123456", dt.date(2085, 6, 1)),   # 0 = 1900s, born in the 2000s
    ("001185123456", dt.date(2085, 6, 1)),
    ("001205123456", dt.date(1905, 6, 1)),   # 2 = 2000s, born in the 1900s
    ("001305123456", dt.date(1905, 6, 1)),
    ("001400123456", dt.date(2000, 6, 1)),   # 4 = 2100s
    ("001900123456", dt.date(1900, 6, 1)),
])
def test_fourth_digit_against_century_of_birth(personal_id: str,
                                               date_of_birth: dt.date) -> None:
    error = _refusal(personal_id, date_of_birth=date_of_birth)
    assert error.code == "personal_id.century_gender"


@pytest.mark.parametrize(("personal_id", "gender"), [
    ("001085123456", "F"),   # 0 = male
    ("001185123456", "M"),   # 1 = female
    ("001205123456", "F"),   # 2 = male
    ("001305123456", "M"),   # 3 = female
])
def test_fourth_digit_against_gender(personal_id: str, gender: str) -> None:
    error = _refusal(personal_id, gender=gender)
    assert error.code == "personal_id.century_gender"
    error = _refusal(personal_id, date_of_birth=dt.date(
        parse_personal_id(personal_id).birth_year, 1, 1), gender=gender)
    assert error.code == "personal_id.century_gender"


@pytest.mark.parametrize(("personal_id", "date_of_birth"), [
    ("001085123456", dt.date(1986, 1, 1)),
    ("001085123456", dt.date(1958, 1, 1)),
    ("001200123456", dt.date(2010, 1, 1)),
    ("001399123456", dt.date(2098, 12, 31)),
])
def test_fifth_and_sixth_digits_against_year_of_birth(personal_id: str,
                                                      date_of_birth: dt.date) -> None:
    error = _refusal(personal_id, date_of_birth=date_of_birth)
    assert error.code == "personal_id.birth_year"


# --- valid ids ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("personal_id", "date_of_birth", "gender"), [
    ("001085123456", dt.date(1985, 3, 14), "M"),
    ("079190000001", dt.date(1990, 12, 31), "F"),
    ("048200999999", dt.date(2000, 1, 1), "M"),
    ("096325000000", dt.date(2025, 7, 1), "F"),
    ("001000000000", dt.date(1900, 1, 1), "M"),
    ("001399000000", dt.date(2099, 12, 31), "F"),
], ids=["male-1900s", "female-1900s", "male-2000s", "female-2000s", "1900", "2099"])
def test_valid_ids(personal_id: str, date_of_birth: dt.date, gender: str) -> None:
    assert validate_personal_id(personal_id) == personal_id
    assert validate_personal_id(personal_id, date_of_birth=date_of_birth,
                                gender=gender) == personal_id
    assert parse_personal_id(personal_id) == PersonalIdParts(
        province_code=personal_id[:3], gender=gender, birth_year=date_of_birth.year)
    assert century_gender_digit(date_of_birth, gender) == personal_id[3]


@pytest.mark.parametrize(("date_of_birth", "gender", "digit"), [
    (dt.date(1900, 1, 1), "M", "0"),
    (dt.date(1999, 12, 31), "F", "1"),
    (dt.date(2000, 1, 1), "M", "2"),
    (dt.date(2099, 12, 31), "F", "3"),
    (dt.date(2100, 1, 1), "M", "4"),
    (dt.date(2100, 1, 1), "F", "5"),
])
def test_century_gender_digit(date_of_birth: dt.date, gender: str, digit: str) -> None:
    assert century_gender_digit(date_of_birth, gender) == digit


def test_parse_reports_what_the_id_encodes() -> None:
    assert parse_personal_id("079190000001") == PersonalIdParts(
        province_code="079", gender="F", birth_year=1990)
    assert parse_personal_id("001225000001") == PersonalIdParts(
        province_code="001", gender="M", birth_year=2025)


# --- properties -----------------------------------------------------------------------------

@settings(database=None, max_examples=300)
@given(province_code=st.sampled_from(PROVINCE_CODES_2016),
       date_of_birth=st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2099, 12, 31)),
       gender=st.sampled_from(["M", "F"]),
       serial=st.text(alphabet="0123456789", min_size=6, max_size=6))
def test_property_well_formed_ids_validate(province_code: str, date_of_birth: dt.date,
                                           gender: str, serial: str) -> None:
    digit = century_gender_digit(date_of_birth, gender)
    personal_id = f"{province_code}{digit}{date_of_birth.year % 100:02d}{serial}"
    assert validate_personal_id(personal_id, date_of_birth=date_of_birth,
                                gender=gender) == personal_id
    parts = parse_personal_id(personal_id)
    assert parts == PersonalIdParts(province_code=province_code, gender=gender,
                                    birth_year=date_of_birth.year)
    assert personal_id[3] == digit


def _not_twelve_ascii_digits(text: str) -> bool:
    return not (len(text) == 12 and text.isascii() and text.isdigit())


_near_miss = st.lists(
    st.one_of(st.sampled_from("0123456789"),
              st.characters(categories=["Nd", "No", "Nl"]),
              st.characters(categories=["Zs", "Cc", "Cf", "P", "S"])),
    min_size=12, max_size=12).map("".join)


@settings(database=None, max_examples=500)
@given(text=st.one_of(st.text(), _near_miss,
                      st.text(alphabet="0123456789", max_size=30)).filter(
                          _not_twelve_ascii_digits))
def test_property_anything_but_twelve_ascii_digits_is_refused(text: str) -> None:
    with pytest.raises(InvalidPersonalId) as excinfo:
        parse_personal_id(text)
    assert excinfo.value.code in {"personal_id.length", "personal_id.digits"}
    with pytest.raises(InvalidPersonalId) as excinfo:
        validate_personal_id(text, date_of_birth=dt.date(1990, 1, 1), gender="M")
    assert excinfo.value.code in PARSE_CODES


@settings(database=None, max_examples=300)
@given(text=st.text(alphabet="0123456789", min_size=12, max_size=12))
def test_property_twelve_ascii_digits_fail_only_on_province(text: str) -> None:
    if text[:3] in PROVINCE_CODES_2016:
        assert parse_personal_id(text).province_code == text[:3]
    else:
        with pytest.raises(InvalidPersonalId) as excinfo:
            parse_personal_id(text)
        assert excinfo.value.code == "personal_id.province"


@settings(database=None, max_examples=200)
@given(value=st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True),
                       st.binary(), st.lists(st.text(max_size=2), max_size=13),
                       st.dictionaries(st.text(max_size=2), st.integers(), max_size=3)))
def test_property_non_strings_are_refused_with_type_code(value: object) -> None:
    with pytest.raises(InvalidPersonalId) as excinfo:
        validate_personal_id(value)
    assert excinfo.value.code == "personal_id.type"
