"""Registry use cases on the database: look-ups by id, phone and household."""
from __future__ import annotations

import datetime as dt

import pytest

from identity.registry import service
from identity.registry.errors import InvalidCitizenData, InvalidPersonalId
from tests.factories import CitizenRowFactory, add_citizen

TODAY = dt.date(2026, 11, 27)


def test_get_citizen_and_count(db_session, protector):
    citizen = add_citizen(db_session, protector)
    assert service.get_citizen(db_session=db_session,
                               personal_id=citizen.personal_id).id == citizen.id
    assert service.get_citizen(db_session=db_session, personal_id="001090999999") is None
    assert service.count_citizens(db_session=db_session) >= 1
    assert citizen.personal_id not in repr(citizen)


def test_find_by_phone_uses_the_keyed_hash(db_session, protector):
    citizen = add_citizen(db_session, protector, phone="0987000111")
    found = service.find_by_phone(db_session=db_session, protector=protector,
                                  phone="+84 987 000 111")
    assert [c.id for c in found] == [citizen.id]
    assert service.citizen_phone(protector=protector, citizen=citizen) == "0987000111"
    assert service.find_by_phone(db_session=db_session, protector=protector,
                                 phone="0987000112") == []


def test_household_members_head_first(db_session, protector):
    child = add_citizen(db_session, protector, household_id="HH-X1", relation_to_head="child")
    head = add_citizen(db_session, protector, household_id="HH-X1", relation_to_head="head")
    spouse = add_citizen(db_session, protector, household_id="HH-X1", relation_to_head="spouse")
    add_citizen(db_session, protector, household_id="HH-X2", relation_to_head="head")
    members = service.household_members(db_session=db_session, household_id="HH-X1")
    assert members[0].id == head.id
    assert {m.id for m in members} == {head.id, child.id, spouse.id}


@pytest.mark.parametrize("overrides, code", [
    ({"gender": "X"}, "gender.invalid"),
    ({"province_code": "00"}, "province.unknown"),
    ({"province_code": ["01"]}, "province.unknown"),
    ({"household_id": "HH 1"}, "household.invalid"),
    ({"relation_to_head": "cousin"}, "relation.invalid"),
    ({"household_id": "", "relation_to_head": "head"}, "relation.without_household"),
    ({"nationality": "vn"}, "nationality.invalid"),
    ({"ethnicity": ["Kinh"]}, "text.type"),
])
def test_check_citizen_codes(overrides, code):
    with pytest.raises(InvalidCitizenData) as refused:
        service.check_citizen(today=TODAY, **{**CitizenRowFactory(), **overrides})
    assert refused.value.code == code


def test_describe_personal_id():
    described = service.describe_personal_id(personal_id="048305000123",
                                             date_of_birth=dt.date(2005, 3, 1), gender="F")
    assert described["gender"] == "F" and described["birth_year"] == 2005
    assert described["province_of_registration"].name == "Thành phố Đà Nẵng"
    with pytest.raises(InvalidPersonalId):
        service.describe_personal_id(personal_id="048305000123", gender="M")
