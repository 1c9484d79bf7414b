"""Factories of the domain's rows: the one place that knows how to build each thing.

Each factory takes the test's ``db_session`` (and ``protector`` where the row
has protected fields) as keyword arguments, has sensible defaults and takes
any field as an override (factory_boy's ``citizen__province_code="79"`` reaches
the citizen behind an account). Rows with protected fields go through the
domain's own rules or services, so what a test builds is what the service
would have written:

- :class:`CitizenRowFactory`: a row of the registry CSV; :func:`write_registry_csv`.
- :class:`CitizenFactory` (short form :func:`add_citizen`): a registry citizen,
  checked by the registry's rules, phone encrypted; ``test_phone`` keeps the
  clear phone for the tests.
- :class:`AccountFactory` (short form :func:`add_account`): an account written
  straight to the tables (no HTTP, no SMS): active, ``pending_review``,
  ``locked`` or ``level2``; ``device=flows.Phone()`` binds that phone's key, so
  the citizen can log in with :data:`PASSWORD`.
- :class:`OfficerFactory`: through the officers' service (hashed password,
  encrypted TOTP secret); ``supervisor=True``; ``test_totp_secret`` keeps the
  secret.
- :class:`RelyingPartyFactory`: through the parties' service; ``test_secret``
  and ``test_callback_key`` keep what is shown once.
- :class:`OrderFactory`: a fee order, or with ``fine=True`` a fine issued by an
  officer of the citizen's commune.
- :func:`add_issuer_key`: an active VN1 issuer key.
"""
from __future__ import annotations

import csv
import datetime as dt
import functools
import urllib.parse
from pathlib import Path
from typing import Any

import factory

from identity import clock
from identity.accounts import officers
from identity.accounts.account import account_phone_context
from identity.accounts.devices import bind_device
from identity.accounts.models import ACTIVE, LOCKED, PENDING_REVIEW, Account, Officer
from identity.accounts.secrets import hash_secret, passcode_keys
from identity.audit.service import Actor
from identity.credentials import keys
from identity.credentials.models import IssuerKey
from identity.registry.generator import MALE_GIVEN, FAMILY_NAMES
from identity.registry.importer import REQUIRED_COLUMNS
from identity.registry.models import Citizen
from identity.registry.partitions import citizen_id
from identity.registry.personal_id import century_gender_digit
from identity.registry.service import PHONE_PURPOSE, check_citizen, protect_phone
from identity.relying_parties import parties
from identity.relying_parties.models import RelyingParty
from utilities.payments import orders
from utilities.payments.models import PaymentOrder

HEADER = [*REQUIRED_COLUMNS, "nationality", "ethnicity", "place_of_origin"]
#: The secrets of every citizen the tests make (officers share the password).
PASSWORD = "correct horse battery staple"
PASSCODE = "246810"
#: Who creates officers and parties in the tests (as ``flask officers create`` would).
OPERATOR = Actor(type="operator", id="test")
#: The day the registry's rules take as today (ages, dates of birth).
REGISTRY_TODAY = dt.date(2026, 11, 27)


def personal_id_for(birth: dt.date, gender: str, serial: int, province: str = "001") -> str:
    """A valid personal id for a date of birth and gender."""
    return f"{province}{century_gender_digit(birth, gender)}{birth.year % 100:02d}{serial:06d}"


class CitizenRowFactory(factory.DictFactory):
    """One row of the registry CSV, consistent (the id agrees with birth date and gender)."""

    class Params:
        # Adults born from 1960 to 1999 (a test that needs a minor says so with ``birth``),
        # and serials that wrap, so any number of rows stays valid. Adults whatever the
        # sequence's position: the tests run in a random order, so a citizen's place in the
        # sequence, and thus their age, must not decide what a test sees.
        birth = factory.Sequence(
            lambda n: dt.date(1960, 1, 1) + dt.timedelta(days=(97 * n) % 14_600))
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


class CitizenFactory(CitizenRowFactory):
    """A registry citizen in the database, through the registry's rules (flushed).

    Built, it is the CSV row (a dict); created, the :class:`Citizen`. It
    shares the row factory's sequence (the same model), so citizens and CSV
    rows of one test never share an id or a phone.
    """

    @classmethod
    def _create(cls, model_class: Any, *args: Any, db_session: Any, protector: Any,
                **row: Any) -> Citizen:
        """Check the row as the registry does, encrypt its phone, add it."""
        data = check_citizen(today=REGISTRY_TODAY, **row)
        encrypted, digest = protect_phone(protector=protector, personal_id=data.personal_id,
                                          phone=data.phone)
        values = data._asdict()
        del values["phone"]
        citizen = Citizen(**values, id=citizen_id(data.personal_id, protector.lookup_key),
                          phone_encrypted=encrypted, phone_hash=digest)
        db_session.add(citizen)
        db_session.flush()
        citizen.test_phone = data.phone  # type: ignore[attr-defined]  (the clear phone)
        return citizen


def add_citizen(db_session: Any, protector: Any, **overrides: Any) -> Citizen:
    """Insert one citizen through the registry's rules and return it."""
    return CitizenFactory(db_session=db_session, protector=protector, **overrides)


@functools.cache
def hashed(secret: str) -> str:
    """The argon2 hash of a test secret, worked out once a run (argon2 is slow on purpose)."""
    return hash_secret(secret)


class AccountFactory(factory.Factory):
    """A registry citizen's account, written straight to the tables (no HTTP, no SMS).

    Its phone (the citizen's registry phone unless told) is encrypted and
    hashed as registration does; password and passcode are :data:`PASSWORD`
    and :data:`PASSCODE` unless told. ``device``: a ``flows.Phone`` whose key
    is bound, as at registration. ``commit=True`` commits (for tests on real
    transactions); otherwise the row is flushed.
    """

    class Meta:
        model = Account

    class Params:
        pending_review = factory.Trait(status=PENDING_REVIEW)
        locked = factory.Trait(status=LOCKED, lock_reason="officer", status_before_lock=ACTIVE)
        level2 = factory.Trait(
            level=2, level2_check="face", level2_at=factory.LazyFunction(clock.now),
            level2_card_last4=factory.LazyAttribute(lambda o: o.citizen.personal_id[-4:]))

    citizen = factory.SubFactory(CitizenFactory, db_session=factory.SelfAttribute("..db_session"),
                                 protector=factory.SelfAttribute("..protector"))
    status = ACTIVE
    level = 1
    phone = factory.LazyAttribute(lambda o: o.citizen.test_phone)
    password = PASSWORD
    passcode = PASSCODE
    device = None
    commit = False

    @classmethod
    def _create(cls, model_class: Any, *args: Any, db_session: Any, protector: Any,
                citizen: Citizen, phone: str, password: str, passcode: str, device: Any,
                commit: bool, **fields: Any) -> Account:
        """Protect the phone, hash the secrets, add the account (and bind the device)."""
        account = model_class(
            citizen_id=citizen.id, failed_passcodes=0, token_version=1,
            phone_encrypted=protector.encrypt(phone, context=account_phone_context(citizen.id)),
            phone_hash=protector.lookup_hash(phone, purpose=PHONE_PURPOSE),
            password_hash=hashed(password),
            passcode_hash=passcode_keys().hash(passcode, citizen_id=citizen.id), **fields)
        db_session.add(account)
        db_session.flush()
        if device is not None:
            bind_device(db_session=db_session, account=account, device_id=device.device_id,
                        public_key=device.public_der, bound_by="registration")
            db_session.flush()
        if commit:
            db_session.commit()
        return account


#: What ``add_account`` passes to the account itself: its columns and the factory's own names.
_ACCOUNT_FIELDS = {*Account.__table__.columns.keys(), "citizen", "phone", "password", "passcode",
                   "device", "commit", "pending_review", "locked", "level2"}


def add_account(db_session: Any, protector: Any, **overrides: Any) -> Account:
    """An account (:class:`AccountFactory`): account fields as they are, any other override
    (``province_code``, ``full_name``, ...) for its citizen."""
    fields = {(key if key in _ACCOUNT_FIELDS or "__" in key else f"citizen__{key}"): value
              for key, value in overrides.items()}
    return AccountFactory(db_session=db_session, protector=protector, **fields)


def add_active_account(db_session: Any, protector: Any, **overrides: Any) -> Account:
    """An active level-1 account, committed: the start of tests on real transactions."""
    return add_account(db_session, protector, commit=True, **overrides)


class OfficerFactory(factory.Factory):
    """A police officer, through the officers' service (as ``flask officers create``).

    The service commits. ``test_password`` and ``test_totp_secret`` keep what
    the officer logs in with.
    """

    class Meta:
        model = Officer

    class Params:
        supervisor = factory.Trait(role="supervisor")

    username = factory.Sequence(lambda n: f"officer.{n}")
    full_name = "Trần Thị Bình"
    password = PASSWORD
    province_code = "01"
    commune_code: str | None = None
    role = "officer"

    @classmethod
    def _create(cls, model_class: Any, *args: Any, db_session: Any, protector: Any,
                **fields: Any) -> Officer:
        """Create the officer through the service; keep the secret of its provisioning URI."""
        officer, uri = officers.create_officer(db_session=db_session, protector=protector,
                                               actor=OPERATOR, **fields)
        query = urllib.parse.parse_qs(urllib.parse.urlparse(uri).query)
        officer.test_password = fields["password"]  # type: ignore[attr-defined]
        officer.test_totp_secret = query["secret"][0]  # type: ignore[attr-defined]
        return officer


class RelyingPartyFactory(factory.Factory):
    """A relying party, through the parties' service (as ``flask rp create``).

    ``test_secret`` and ``test_callback_key`` keep what the service shows once.
    ``callback_policy``: the policy its callback URL is checked against
    (production's, unless told).
    """

    class Meta:
        model = RelyingParty

    name = "Ngân hàng Thử nghiệm"
    kind = "bank"
    scopes: tuple[str, ...] = ("identity.match",)

    @classmethod
    def _create(cls, model_class: Any, *args: Any, db_session: Any, protector: Any,
                **fields: Any) -> RelyingParty:
        """Register the party through the service."""
        party, secret, key = parties.create_party(db_session=db_session, protector=protector,
                                                  actor=OPERATOR, **fields)
        party.test_secret = secret  # type: ignore[attr-defined]
        party.test_callback_key = key  # type: ignore[attr-defined]
        return party


class OrderFactory(factory.Factory):
    """A payment order of a citizen, through the payments' use cases (flushed, not committed).

    A fee (``fee_code`` of the fee schedule, owed for ``source_type``/``source_id``),
    or with ``fine=True`` a fine issued by ``officer`` (by default a new
    officer of the citizen's commune).
    """

    class Meta:
        model = PaymentOrder

    class Params:
        fine = factory.Trait(kind="fine")

    kind = "fee"
    citizen = factory.SubFactory(CitizenFactory, db_session=factory.SelfAttribute("..db_session"),
                                 protector=factory.SelfAttribute("..protector"))
    fee_code = "id_card_renewal"
    source_type = "test"
    source_id = factory.Sequence(lambda n: n + 1)
    amount = 800_000
    legal_basis = "Nghị định 168/2024/NĐ-CP, Điều 7 khoản 4 điểm a"
    description = "Không đội mũ bảo hiểm"
    officer = None

    @classmethod
    def _create(cls, model_class: Any, *args: Any, db_session: Any, protector: Any,
                citizen: Citizen, kind: str, officer: Officer | None, fee_code: str,
                source_type: str, source_id: int, amount: int, legal_basis: str,
                description: str) -> PaymentOrder:
        """Create the fee order, or issue the fine."""
        actor = Actor(type="system", id="test")
        if kind == "fee":
            return orders.create_fee_order(
                db_session=db_session, actor=actor, citizen_id=citizen.id, fee_code=fee_code,
                province_code=citizen.province_code, commune_code=citizen.commune_code,
                source_type=source_type, source_id=source_id)
        officer = officer or OfficerFactory(db_session=db_session, protector=protector,
                                            province_code=citizen.province_code,
                                            commune_code=citizen.commune_code)
        return orders.issue_fine(
            db_session=db_session, actor=actor, officer=officer,
            personal_id=citizen.personal_id, full_name=citizen.full_name,
            date_of_birth=citizen.date_of_birth, legal_basis=legal_basis, amount=amount,
            due_date=clock.today() + dt.timedelta(days=10), description=description)


def add_issuer_key(db_session: Any, protector: Any) -> IssuerKey:
    """An active VN1 issuer key, rotated in by the keys' service (as ``flask keys rotate``)."""
    return keys.rotate_keys(db_session=db_session, protector=protector, actor=OPERATOR)
