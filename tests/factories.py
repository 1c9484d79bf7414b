"""Factories for registry citizens: CSV rows for imports, and rows in the database."""
from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path
from typing import Any

import factory

from identity.registry.generator import MALE_GIVEN, FAMILY_NAMES
from identity.registry.importer import REQUIRED_COLUMNS
from identity.registry.models import Citizen
from identity.registry.personal_id import century_gender_digit
from identity.registry.service import check_citizen, protect_phone

HEADER = [*REQUIRED_COLUMNS, "nationality", "ethnicity", "place_of_origin"]


def personal_id_for(birth: dt.date, gender: str, serial: int, province: str = "001") -> str:
    """A valid personal id for a date of birth and gender."""
    return f"{province}{century_gender_digit(birth, gender)}{birth.year % 100:02d}{serial:06d}"


class CitizenRowFactory(factory.DictFactory):
    """One row of the registry CSV, consistent (the id agrees with birth date and gender)."""

    class Params:
        # Dates from 1960 to 2014 and serials that wrap, so any number of rows stays valid.
        birth = factory.Sequence(
            lambda n: dt.date(1960, 1, 1) + dt.timedelta(days=(97 * n) % 20_000))
        serial = factory.Sequence(lambda n: 100000 + n % 900_000)

    gender = "M"
    personal_id = factory.LazyAttribute(lambda o: personal_id_for(o.birth, o.gender, o.serial))
    full_name = factory.Sequence(
        lambda n: f"{FAMILY_NAMES[n % len(FAMILY_NAMES)]} Văn {MALE_GIVEN[n % len(MALE_GIVEN)]}")
    date_of_birth = factory.LazyAttribute(lambda o: o.birth.isoformat())
    phone = factory.Sequence(lambda n: f"09123{n % 100000:05d}")
    province_code = "01"
    commune_code = "00070"
    address = factory.Sequence(lambda n: f"Số {n + 1}, phố Tràng Tiền, Phường Hoàn Kiếm")
    household_id = factory.Sequence(lambda n: f"HH-T{n:06d}")
    relation_to_head = "head"
    nationality = "VN"
    ethnicity = "Kinh"
    place_of_origin = "Hà Nội"


def write_registry_csv(path: Path, rows: list[dict[str, Any]],
                       header: list[str] | None = None) -> Path:
    """Write rows as a registry CSV file with a header row."""
    header = header or HEADER
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        for row in rows:
            writer.writerow([row.get(column, "") for column in header])
    return path


def add_citizen(db_session: Any, protector: Any, **overrides: Any) -> Citizen:
    """Insert one citizen through the registry's rules and return it."""
    row = CitizenRowFactory(**overrides)
    data = check_citizen(today=dt.date(2026, 11, 27), **row)
    encrypted, digest = protect_phone(protector=protector, personal_id=data.personal_id,
                                      phone=data.phone)
    values = data._asdict()
    del values["phone"]
    citizen = Citizen(**values, phone_encrypted=encrypted, phone_hash=digest)
    db_session.add(citizen)
    db_session.flush()
    citizen.test_phone = data.phone  # type: ignore[attr-defined]  (the clear phone, for tests)
    return citizen


def add_active_account(db_session: Any, protector: Any, **overrides: Any) -> Any:
    """A registry citizen with an active level-1 account whose passcode is ``flows.PASSCODE``.

    Written straight through the ORM and committed, for tests on real
    transactions (``own_database_app``) that need an account without the
    registration flow's HTTP round trips.
    """
    from identity.accounts.models import Account
    from identity.accounts.secrets import hash_secret
    from tests.flows import PASSCODE, PASSWORD
    citizen = add_citizen(db_session, protector, **overrides)
    account = Account(citizen_id=citizen.id, level=1, status="active",
                      password_hash=hash_secret(PASSWORD), passcode_hash=hash_secret(PASSCODE),
                      failed_passcodes=0, token_version=1,
                      phone_encrypted=citizen.phone_encrypted, phone_hash=citizen.phone_hash)
    db_session.add(account)
    db_session.commit()
    return account
