"""Identity matching without disclosure, called directly: field by field, one answer for all ids.

The use cases of :mod:`identity.relying_parties.matching`.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from identity.relying_parties import matching
from tests.factories import add_citizen
from tests.identity.relying_parties.conftest import REQUEST, events

OTHER_PHONE = "0987654321"


def _match(db_session: Any, protector: Any, party: Any, citizen: Any,
           **overrides: Any) -> dict[str, Any]:
    fields = {"personal_id": citizen.personal_id, "full_name": citizen.full_name,
              "date_of_birth": citizen.date_of_birth, **overrides}
    return matching.identity_match(db_session=db_session, protector=protector, actor=REQUEST,
                                   party=party, **fields)


@pytest.fixture()
def citizen(db_session, protector) -> Any:
    """A registry citizen (an account is not needed: the registry is what is matched)."""
    return add_citizen(db_session, protector)


def test_every_field_that_agrees_is_true(db_session, protector, party, citizen):
    answer = _match(db_session, protector, party, citizen, phone=citizen.test_phone,
                    full_name=citizen.full_name.upper())
    assert answer == {"match": True,
                      "fields": {"full_name": True, "date_of_birth": True, "phone": True}}


@pytest.mark.parametrize("field", ["full_name", "date_of_birth", "phone"])
def test_one_field_that_differs_is_false_and_the_match_with_it(db_session, protector, party,
                                                               citizen, field):
    wrong = {"full_name": "Trần Thị Khác", "date_of_birth": dt.date(1950, 5, 5),
             "phone": OTHER_PHONE}
    answer = _match(db_session, protector, party, citizen,
                    **{"phone": citizen.test_phone, field: wrong[field]})
    assert answer["match"] is False
    assert answer["fields"] == {name: name != field
                                for name in ("full_name", "date_of_birth", "phone")}


def test_without_a_phone_no_phone_field_is_answered(db_session, protector, party, citizen):
    assert _match(db_session, protector, party, citizen) == {
        "match": True, "fields": {"full_name": True, "date_of_birth": True}}


def test_an_unknown_id_answers_exactly_like_a_citizen_whose_every_field_differs(
        db_session, protector, party, citizen):
    unknown = _match(db_session, protector, party, citizen, personal_id="001099000999",
                     phone=citizen.test_phone)
    differs = _match(db_session, protector, party, citizen, full_name="Trần Thị Khác",
                     date_of_birth=dt.date(1950, 5, 5), phone=OTHER_PHONE)
    assert unknown == differs == {
        "match": False, "fields": {"full_name": False, "date_of_birth": False, "phone": False}}


def test_each_look_is_logged_against_the_citizen_or_the_party_never_naming_the_id(
        db_session, protector, party, citizen):
    _match(db_session, protector, party, citizen)
    _match(db_session, protector, party, citizen, personal_id="001099000999")
    known, unknown = events(db_session, "rp.identity_match")
    assert (known.subject_type, known.subject_id) == ("citizen", str(citizen.id))
    assert (unknown.subject_type, unknown.subject_id) == ("relying_party", str(party.id))
    assert unknown.details["subject"] == "unknown"
    for event in (known, unknown):
        assert (event.actor_type, event.actor_id) == ("relying_party", party.client_id)
        assert event.request_id == REQUEST.request_id and event.details["by"] == party.name
        assert "001099000999" not in str(event.details)
        assert citizen.personal_id not in str(event.details)
        assert citizen.full_name not in str(event.details)
    assert known.details["result"] == "match" and unknown.details["result"] == "no_match"


def test_sim_ownership_is_the_registry_phone_only(db_session, protector, party, citizen):
    def owns(personal_id: str, phone: str) -> bool:
        return bool(matching.sim_ownership(db_session=db_session, protector=protector,
                                           actor=REQUEST, party=party,
                                           personal_id=personal_id, phone=phone)["match"])
    assert owns(citizen.personal_id, citizen.test_phone)
    assert not owns(citizen.personal_id, OTHER_PHONE)
    assert not owns("001099000999", citizen.test_phone)
    assert [e.details["result"] for e in events(db_session, "rp.sim_ownership")] == [
        "match", "no_match", "no_match"]


def test_the_partys_row_and_the_citizens_come_in_one_statement(db_session, protector, party,
                                                               citizen):
    """What the hot lane's match reads (:func:`matching.party_and_citizen`): the party's row as
    its checks read it (the same columns as ``party_row_for_token``), then the citizen's that
    a match compares; None for a party or a citizen that is not there."""
    from identity.relying_parties import parties
    row, found = matching.party_and_citizen(db_session, party_id=party.id,
                                            personal_id=citizen.personal_id)
    expected = parties.party_row_for_token(db_session=db_session, party_id=party.id,
                                           token_version=party.token_version)
    assert tuple(row) == tuple(expected) and row._fields == tuple(expected._fields)
    assert parties.checked_party_row(row, party.token_version) is row
    assert (found.id, found.full_name, found.date_of_birth, found.phone_hash) == \
        (citizen.id, citizen.full_name, citizen.date_of_birth, citizen.phone_hash)
    answer = matching.identity_match(
        db_session=db_session, protector=protector, actor=REQUEST, party=row, citizen=found,
        personal_id=citizen.personal_id, full_name=citizen.full_name,
        date_of_birth=citizen.date_of_birth)
    assert answer["match"] is True
    row, found = matching.party_and_citizen(db_session, party_id=party.id,
                                            personal_id="001099000999")
    assert tuple(row) == tuple(expected) and found is None
    assert matching.party_and_citizen(db_session, party_id=party.id + 1000,
                                      personal_id=citizen.personal_id) == (None, None)
    with pytest.raises(parties.PartyTokenInvalid):
        parties.checked_party_row(row, party.token_version + 1)
    with pytest.raises(parties.PartyTokenInvalid):
        parties.checked_party_row(None, party.token_version)
