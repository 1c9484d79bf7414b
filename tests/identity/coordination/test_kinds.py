"""The rules of records by kind, age bands, and the claims of document credentials."""
from __future__ import annotations

import datetime as dt

import pytest

from identity.coordination.aggregates import age_band
from identity.coordination.kinds import KINDS, check_record, claims_of
from identity.errors import DomainError

TODAY = dt.date(2026, 12, 2)
BASE = {"record_id": "GPLX-1", "personal_id": "001090012345", "full_name": "  NGUYỄN văn  An ",
        "date_of_birth": "1990-05-12", "document_number": "79-0000000001",
        "licence_class": "b2"}


def test_a_record_is_normalised_and_its_claims_use_the_short_keys():
    record = check_record(KINDS["driving_licence"], BASE, today=TODAY)
    assert record.full_name == "NGUYỄN văn An" and record.name_key == "nguyễn văn an"
    assert (record.status, record.gender, record.valid_until) == ("valid", None, None)
    assert claims_of(KINDS["driving_licence"], record.fields) == {"no": "79-0000000001",
                                                                  "cls": "B2"}


@pytest.mark.parametrize("change, code", [
    ({"record_id": "has space"}, "record.id"),
    ({"personal_id": 1090012345}, "record.type"),
    ({"personal_id": "００1090012345"}, "personal_id.digits"),
    ({"full_name": "A1"}, "name.characters"),
    ({"date_of_birth": "12/05/1990"}, "date_of_birth.format"),
    ({"gender": "X"}, "gender.invalid"),
    ({"status": "lost"}, "record.status"),
    ({"valid_from": "2030-01-01", "valid_until": "2029-01-01"}, "record.validity"),
    ({"valid_until": "9999-12-31"}, "date.out_of_range"),
    ({"valid_from": "0001-01-01"}, "date.out_of_range"),
    ({"licence_class": "Z9"}, "record.licence_class"),
    ({"licence_class": ""}, "record.missing"),
    ({"document_number": "x"}, "record.number"),
])
def test_a_broken_field_is_refused_with_its_code(change, code):
    with pytest.raises(DomainError) as caught:
        check_record(KINDS["driving_licence"], {**BASE, **change}, today=TODAY)
    assert caught.value.code == code


def test_a_passport_needs_an_expiry_and_a_subscription_a_mobile_number():
    with pytest.raises(DomainError) as caught:
        check_record(KINDS["passport"], {**BASE, "document_number": "C1234567"}, today=TODAY)
    assert caught.value.code == "record.valid_until"
    sim = check_record(KINDS["telecom"], {**BASE, "phone": "+84 912 345 678"}, today=TODAY)
    assert sim.fields == {"phone": "0912345678"}
    with pytest.raises(DomainError) as caught:
        check_record(KINDS["telecom"], {**BASE, "phone": "0212345678"}, today=TODAY)
    assert caught.value.code == "phone.invalid"


@pytest.mark.parametrize("born, band", [
    (dt.date(2008, 12, 3), "0-17"), (dt.date(2008, 12, 2), "18-24"),
    (dt.date(1992, 1, 1), "25-34"), (dt.date(1961, 12, 2), "65+"), (dt.date(1961, 12, 3), "55-64"),
])
def test_age_bands_count_whole_years(born, band):
    assert age_band(born, TODAY) == band
