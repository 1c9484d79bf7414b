"""Use cases of the population registry: checking a citizen's data, looking citizens up.

The same rules serve the file import (:mod:`identity.registry.importer`) and
every later caller, so a citizen accepted by one path is accepted by all.
"""
from __future__ import annotations

import datetime as dt
from functools import lru_cache
from typing import NamedTuple, cast

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from identity.protection import Protector
from identity.registry import admin_units
from identity.registry.errors import InvalidCitizenData
from identity.registry.models import GENDERS, RELATIONS, Citizen
from identity.registry.normalise import (TEXT_MAX, name_key, normalise_name, normalise_phone,
                                         normalise_text, parse_birth_date)
from identity.registry.partitions import ById, ByPersonalId
from identity.registry.personal_id import parse_personal_id, validate_personal_id

_HOUSEHOLD_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-")
PHONE_PURPOSE = b"phone"


class CitizenData(NamedTuple):
    """A citizen's fields after every rule of the registry has passed.

    A named tuple rather than a frozen dataclass: an import builds millions.
    """

    personal_id: str
    full_name: str
    name_key: str
    date_of_birth: dt.date
    gender: str
    nationality: str
    ethnicity: str
    place_of_origin: str
    province_code: str
    commune_code: str
    address: str
    phone: str | None
    household_id: str | None
    relation_to_head: str | None


def check_citizen(*, personal_id: object, full_name: object, date_of_birth: object,
                  gender: object, province_code: object, commune_code: object, address: object,
                  phone: object = None, household_id: object = None,
                  relation_to_head: object = None, nationality: object = None,
                  ethnicity: object = None, place_of_origin: object = None,
                  today: dt.date) -> CitizenData:
    """Apply every rule of the registry to one citizen's fields.

    Raises :class:`InvalidPersonalId` or :class:`InvalidCitizenData`, each
    with a dotted code and the field at fault, at the first broken rule.
    """
    if gender not in GENDERS:
        raise InvalidCitizenData("The gender must be M or F.", code="gender.invalid",
                                 field="gender")
    birth = parse_birth_date(date_of_birth, today=today)
    validate_personal_id(personal_id, date_of_birth=birth, gender=gender)
    name = normalise_name(full_name)
    if not isinstance(province_code, str) or province_code not in admin_units.provinces():
        raise InvalidCitizenData("Unknown province code.", code="province.unknown",
                                 field="province_code")
    if not isinstance(commune_code, str) or not admin_units.commune_in_province(
            commune_code, province_code):
        raise InvalidCitizenData("Unknown commune code, or not a commune of that province.",
                                 code="commune.unknown", field="commune_code")
    household = household_id or None
    relation = relation_to_head or None
    if household is not None:
        if (not isinstance(household, str) or len(household) > 32
                or not _HOUSEHOLD_CHARS.issuperset(household)):
            raise InvalidCitizenData("The household id must be up to 32 letters, digits or "
                                     "hyphens.", code="household.invalid", field="household_id")
        if relation not in RELATIONS:
            raise InvalidCitizenData(f"The relation to the head must be one of "
                                     f"{', '.join(RELATIONS)}.", code="relation.invalid",
                                     field="relation_to_head")
    elif relation is not None:
        raise InvalidCitizenData("A relation to the head needs a household id.",
                                 code="relation.without_household", field="relation_to_head")
    nationality_text = nationality or "VN"
    if not (isinstance(nationality_text, str) and len(nationality_text) == 2
            and nationality_text.isascii() and nationality_text.isupper()):
        raise InvalidCitizenData("The nationality must be an ISO 3166 alpha-2 code.",
                                 code="nationality.invalid", field="nationality")
    return CitizenData(
        personal_id=personal_id,  # type: ignore[arg-type]
        full_name=name,
        name_key=name_key(name),
        date_of_birth=birth,
        gender=gender,
        nationality=nationality_text,
        ethnicity=_repeated_text(ethnicity or "Kinh", "ethnicity", 50, True),
        place_of_origin=_repeated_text(place_of_origin or "", "place_of_origin", TEXT_MAX, False),
        province_code=province_code,
        commune_code=commune_code,
        address=normalise_text(address, field="address"),
        phone=normalise_phone(phone) if phone else None,
        household_id=household,
        relation_to_head=relation,
    )


def _repeated_text(value: object, field: str, max_length: int, required: bool) -> str:
    """:func:`normalise_text` for fields with few distinct values, remembered for imports."""
    if isinstance(value, str):
        return _remembered_text(value, field, max_length, required)
    return normalise_text(value, field=field, max_length=max_length, required=required)


@lru_cache(maxsize=8192)
def _remembered_text(value: str, field: str, max_length: int, required: bool) -> str:
    return normalise_text(value, field=field, max_length=max_length, required=required)


def phone_context(personal_id: str) -> bytes:
    """Associated data binding a phone ciphertext to its citizen."""
    return b"citizen.phone:" + personal_id.encode()


def protect_phone(*, protector: Protector, personal_id: str,
                  phone: str | None) -> tuple[bytes | None, bytes | None]:
    """The (ciphertext, look-up hash) pair stored for a citizen's phone."""
    if phone is None:
        return None, None
    return (protector.encrypt(phone, context=phone_context(personal_id)),
            protector.lookup_hash(phone, purpose=PHONE_PURPOSE))


def citizen_phone(*, protector: Protector, citizen: Citizen) -> str | None:
    """The citizen's phone number from the telecom records, decrypted."""
    if citizen.phone_encrypted is None:
        return None
    return protector.decrypt(citizen.phone_encrypted, context=phone_context(citizen.personal_id))


#: A citizen by personal id: their partition (and the legacy one) only.
_BY_PERSONAL_ID = ByPersonalId(Citizen.__table__, sa.select(Citizen).where)


#: A citizen by id, in their partition only.
_BY_ID = ById(Citizen.__table__, sa.select(Citizen).where)


def get_citizen(*, db_session: Session, personal_id: str) -> Citizen | None:
    """The citizen holding ``personal_id`` (an already-validated id), or None."""
    return db_session.scalars(_BY_PERSONAL_ID(personal_id), {"personal_id": personal_id}).first()


def citizen_by_id(db_session: Session, citizen_id: int) -> Citizen | None:
    """The citizen of ``citizen_id``, or None: ``session.get``, the session's own first, else
    read from their partition alone."""
    held = db_session.identity_map.get(identity_key(Citizen, citizen_id))
    if held is not None:
        return cast(Citizen, held)
    return db_session.scalars(_BY_ID(citizen_id), {"id": citizen_id}).first()


def find_by_phone(*, db_session: Session, protector: Protector, phone: str) -> list[Citizen]:
    """Citizens whose telecom record holds ``phone`` (one index probe on the keyed hash)."""
    digest = protector.lookup_hash(normalise_phone(phone), purpose=PHONE_PURPOSE)
    return list(db_session.scalars(sa.select(Citizen).where(Citizen.phone_hash == digest)))


def household_members(*, db_session: Session, household_id: str) -> list[Citizen]:
    """Every citizen of a household, the head first."""
    return list(db_session.scalars(
        sa.select(Citizen).where(Citizen.household_id == household_id)
        .order_by(Citizen.relation_to_head != "head", Citizen.date_of_birth)))


def count_citizens(*, db_session: Session) -> int:
    """How many citizens the registry holds."""
    return int(db_session.scalar(sa.select(sa.func.count()).select_from(Citizen)) or 0)


def describe_personal_id(*, personal_id: str, date_of_birth: dt.date | None = None,
                         gender: str | None = None) -> dict[str, object]:
    """What a personal id encodes, after checking it agrees with a date of birth and gender.

    Reads nothing from the registry, so it cannot tell whether the citizen
    exists: safe to offer to anyone.
    """
    validate_personal_id(personal_id, date_of_birth=date_of_birth, gender=gender)
    parts = parse_personal_id(personal_id)
    return {"valid": True, "gender": parts.gender, "birth_year": parts.birth_year,
            "province_of_registration": admin_units.former_provinces()[parts.province_code]}
