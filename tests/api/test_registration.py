"""Level 1 self-registration through the HTTP API.

``POST /api/v1/accounts/registrations`` answers alike whatever the registry
holds; only a matching registration sends a code. Confirming it creates the
account (``active`` with the registry's phone, ``pending_review`` with another
one), under the password and passcode policy, once per citizen.
"""
from __future__ import annotations

import base64
import datetime as dt
import re
import unicodedata

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from sqlalchemy.orm import Session

from app.extensions import db
from identity.accounts import codes, registration
from identity.accounts.models import Account, Device
from identity.audit.models import AuditEvent
from tests.factories import add_citizen, personal_id_for
from tests.flows import (assert_error, PASSCODE, PASSWORD, Phone, b64, committed_citizen,
                         confirm_at_once, latest_code, login_answer, outbox, registration_body,
                         sent_codes)

REGISTRATIONS = "/api/v1/accounts/registrations"
OTHER_PHONE = "0987654321"  # a valid mobile number that is no citizen's in the registry


@pytest.fixture()
def citizen(db_session, protector):
    return add_citizen(db_session, protector)


def start(client, citizen, phone: Phone, phone_number: str | None = None, **overrides):
    """The raw answer of a registration request."""
    number = phone_number or citizen.test_phone
    return client.post(REGISTRATIONS,
                       json=registration_body(citizen, phone, phone_number=number, **overrides))


def started(client, citizen, phone: Phone, phone_number: str | None = None) -> str:
    """Start a registration that must be accepted; its id."""
    answer = start(client, citizen, phone, phone_number)
    assert answer.status_code == 202, answer.get_json()
    return str(answer.get_json()["registration_id"])


def confirm(client, registration_id: str, otp: str, password: str = PASSWORD,
            passcode: str = PASSCODE):
    return client.post(f"{REGISTRATIONS}/{registration_id}/confirm",
                       json={"otp": otp, "password": password, "passcode": passcode})


def other_code(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def unknown_personal_id() -> str:
    """A well-formed personal id that no factory citizen has."""
    return personal_id_for(dt.date(1990, 5, 17), "M", 999_999)


def der(public_key) -> str:
    return b64(public_key.public_bytes(serialization.Encoding.DER,
                                       serialization.PublicFormat.SubjectPublicKeyInfo))


# --- Starting: the same answer whatever the registry holds ------------------------------------

def test_a_matching_registration_is_accepted_and_sends_one_code(client, citizen):
    answer = start(client, citizen, Phone())
    assert answer.status_code == 202
    body = answer.get_json()
    assert body["registration_id"] and isinstance(body["registration_id"], str)
    phone = citizen.test_phone
    assert body["phone_masked"] == phone[:3] + "*****" + phone[-2:]
    assert phone not in answer.get_data(as_text=True)
    messages = outbox(client, phone)
    assert len(messages) == 1
    # The code is the only 6-digit number of the text.
    assert len(re.findall(r"\b\d{6}\b", messages[0]["text"])) == 1


def test_answers_are_identical_for_known_unknown_and_mismatching_data(client, citizen):
    phone = citizen.test_phone
    known = start(client, citizen, Phone(), phone)
    unknown = start(client, citizen, Phone(), phone, personal_id=unknown_personal_id())
    wrong_name = start(client, citizen, Phone(), phone, full_name="Lê Thị Hoa")
    wrong_birth = start(client, citizen, Phone(), phone, date_of_birth=(
        citizen.date_of_birth + dt.timedelta(days=1)).isoformat())
    answers = [known, unknown, wrong_name, wrong_birth]

    def shape(answer):
        body = answer.get_json()
        return (answer.status_code, answer.mimetype, tuple(sorted(body)), body["phone_masked"],
                body["expires_in"], len(body["registration_id"]),
                bool(re.fullmatch(r"[A-Za-z0-9_-]+", body["registration_id"])))

    assert {shape(answer) for answer in answers} == {shape(known)}
    assert shape(known)[0] == 202
    ids = {answer.get_json()["registration_id"] for answer in answers}
    assert len(ids) == 4
    # Only the matching registration sent a code.
    assert len(outbox(client, phone)) == 1


def test_only_the_matching_registration_is_audited(client, db_session, citizen):
    start(client, citizen, Phone(), personal_id=unknown_personal_id())
    start(client, citizen, Phone(), full_name="Lê Thị Hoa")
    start(client, citizen, Phone())
    events = db_session.scalars(sa.select(AuditEvent).where(
        AuditEvent.action == "account.registration_started")).all()
    assert [(e.subject_type, e.subject_id) for e in events] == [("citizen", str(citizen.id))]


def test_the_name_matches_whatever_its_case(client, citizen):
    start(client, citizen, Phone(), full_name=citizen.full_name.upper())
    assert len(outbox(client, citizen.test_phone)) == 1


def test_a_code_of_a_mismatching_registration_creates_nothing(client, citizen, db_session,
                                                              monkeypatch):
    # Even the very code (known here by fixing it) of a registration whose data did not
    # match is refused, exactly like a wrong code.
    monkeypatch.setattr(codes, "new_code", lambda: "135790")
    answer = start(client, citizen, Phone(), full_name="Lê Thị Hoa")
    registration_id = answer.get_json()["registration_id"]
    assert_error(confirm(client, registration_id, "135790"), 422, "otp.invalid")
    assert db_session.scalar(sa.select(sa.func.count()).select_from(Account)) == 0


def test_the_phone_in_international_form_is_the_registry_phone(client, citizen):
    international = "+84 " + citizen.test_phone[1:]
    answer = start(client, citizen, Phone(), international)
    assert answer.status_code == 202
    registration_id = answer.get_json()["registration_id"]
    created = confirm(client, registration_id, latest_code(client, citizen.test_phone))
    assert created.status_code == 201
    assert created.get_json()["status"] == "active"


# --- Confirming ---------------------------------------------------------------------------------

def test_confirming_with_the_registry_phone_gives_an_active_level_1_account(
        client, citizen, db_session):
    phone = Phone()
    registration_id = started(client, citizen, phone)
    answer = confirm(client, registration_id, latest_code(client, citizen.test_phone))
    assert answer.status_code == 201
    body = answer.get_json()
    assert (body["level"], body["status"]) == (1, "active")
    account = db_session.get(Account, body["account_id"])
    assert account.citizen_id == citizen.id
    assert PASSWORD not in account.password_hash and PASSCODE not in account.passcode_hash
    device = db_session.scalars(sa.select(Device).where(Device.account_id == account.id)).one()
    assert device.device_id == phone.device_id and device.revoked_at is None
    assert login_answer(client, citizen.personal_id, phone).status_code == 200


def test_confirming_with_another_phone_waits_for_review(client, citizen):
    registration_id = started(client, citizen, Phone(), OTHER_PHONE)
    assert outbox(client, citizen.test_phone) == []
    answer = confirm(client, registration_id, latest_code(client, OTHER_PHONE))
    assert answer.status_code == 201
    assert answer.get_json()["level"] == 1
    assert answer.get_json()["status"] == "pending_review"


def test_a_wrong_code_is_refused_and_the_right_one_still_works(client, citizen):
    registration_id = started(client, citizen, Phone())
    code = latest_code(client, citizen.test_phone)
    body = assert_error(confirm(client, registration_id, other_code(code)), 422, "otp.invalid")
    assert "otp" in body["errors"]
    assert confirm(client, registration_id, code).status_code == 201


def test_a_used_code_is_refused(client, citizen):
    registration_id = started(client, citizen, Phone())
    code = latest_code(client, citizen.test_phone)
    assert confirm(client, registration_id, code).status_code == 201
    # Refused as a used code, before anything could say the account exists.
    assert_error(confirm(client, registration_id, code), 422, "otp.invalid")


def test_an_unknown_registration_id_is_refused(client, citizen):
    started(client, citizen, Phone())
    code = latest_code(client, citizen.test_phone)
    assert_error(confirm(client, "no-such-registration", code), 422, "otp.invalid")
    assert_error(confirm(client, "x" * 200, code), 422, "otp.invalid")


def test_five_wrong_codes_burn_the_code(client, citizen):
    registration_id = started(client, citizen, Phone())
    code = latest_code(client, citizen.test_phone)
    for _ in range(codes.MAX_TRIES):
        assert_error(confirm(client, registration_id, other_code(code)), 422, "otp.invalid")
    assert_error(confirm(client, registration_id, code), 422, "otp.invalid")


def test_four_wrong_codes_leave_the_last_try(client, citizen):
    registration_id = started(client, citizen, Phone())
    code = latest_code(client, citizen.test_phone)
    for _ in range(codes.MAX_TRIES - 1):
        assert_error(confirm(client, registration_id, other_code(code)), 422, "otp.invalid")
    assert confirm(client, registration_id, code).status_code == 201


def test_an_expired_code_is_refused(client, citizen, redis):
    # Codes expire by the Redis TTL of their pending act (5 minutes), which time-machine
    # cannot move on a real Redis: the test checks the TTL is set, then removes the key as
    # its expiry would. (tests/identity/accounts/test_codes.py waits out a real 1 s TTL.)
    registration_id = started(client, citizen, Phone())
    code = latest_code(client, citizen.test_phone)
    key = f"verify:registration:{registration_id}"
    assert 0 < redis.ttl(key) <= codes.CODE_TTL_SECONDS
    redis.delete(key)
    assert_error(confirm(client, registration_id, code), 422, "otp.invalid")


def test_a_registration_code_cannot_confirm_an_unlock_or_a_rebind(client, citizen):
    registration_id = started(client, citizen, Phone())
    code = latest_code(client, citizen.test_phone)
    assert_error(client.post(f"/api/v1/auth/unlock/{registration_id}/confirm",
                             json={"otp": code}), 422, "otp.invalid")
    assert_error(client.post(f"/api/v1/auth/device-rebind/{registration_id}/confirm",
                             json={"otp": code}), 422, "otp.invalid")
    assert confirm(client, registration_id, code).status_code == 201


# --- SMS budget ---------------------------------------------------------------------------------

def test_the_sixth_code_to_one_phone_in_an_hour_is_refused(client, citizen):
    for _ in range(codes.MAX_SENDS_PER_HOUR):
        started(client, citizen, Phone())
    assert_error(start(client, citizen, Phone()), 429, "sms.too_many")
    assert len(outbox(client, citizen.test_phone)) == codes.MAX_SENDS_PER_HOUR
    # The budget is the phone's: another phone still gets its code.
    assert start(client, citizen, Phone(), OTHER_PHONE).status_code == 202


def test_the_sms_budget_counts_unknown_ids_too(client, citizen):
    # Otherwise the 429 would tell a probe which of its attempts matched the registry.
    for _ in range(codes.MAX_SENDS_PER_HOUR):
        assert start(client, citizen, Phone(), personal_id=unknown_personal_id()
                     ).status_code == 202
    assert_error(start(client, citizen, Phone()), 429, "sms.too_many")
    assert_error(start(client, citizen, Phone(), personal_id=unknown_personal_id()),
                 429, "sms.too_many")
    assert outbox(client, citizen.test_phone) == []


# --- Password and passcode policy -------------------------------------------------------------

@pytest.mark.parametrize("password,code", [
    ("short7!", "password.too_short"),
    ("", "password.too_short"),
    ("password123", "password.common"),
    ("Password123", "password.common"),
    ("x" * 129, "password.too_long"),
])
def test_weak_passwords_are_refused_without_spending_the_code(client, citizen, password, code):
    registration_id = started(client, citizen, Phone())
    otp = latest_code(client, citizen.test_phone)
    body = assert_error(confirm(client, registration_id, otp, password=password), 422, code)
    assert "password" in body["errors"]
    assert confirm(client, registration_id, otp).status_code == 201


def test_128_characters_are_accepted(client, citizen):
    registration_id = started(client, citizen, Phone())
    password = "long password " * 9 + "x" * 2
    assert len(password) == 128
    answer = confirm(client, registration_id, latest_code(client, citizen.test_phone),
                     password=password)
    assert answer.status_code == 201


def test_a_huge_password_is_refused_before_hashing(client, citizen):
    registration_id = started(client, citizen, Phone())
    otp = latest_code(client, citizen.test_phone)
    answer = confirm(client, registration_id, otp, password="x" * 100_000)
    assert answer.status_code == 422
    assert "password" in answer.get_json()["errors"]
    assert confirm(client, registration_id, otp).status_code == 201


def test_a_password_chosen_in_nfd_logs_in_typed_in_nfc(client, citizen):
    nfc = "mật khẩu của tôi ở Hà Nội"
    nfd = unicodedata.normalize("NFD", nfc)
    assert nfd != nfc
    phone = Phone()
    registration_id = started(client, citizen, phone)
    assert confirm(client, registration_id, latest_code(client, citizen.test_phone),
                   password=nfd).status_code == 201
    assert login_answer(client, citizen.personal_id, phone, password=nfc).status_code == 200
    assert login_answer(client, citizen.personal_id, phone, password=nfd).status_code == 200


@pytest.mark.parametrize("passcode", ["12345", "1234567", "12a456", "12 456", "١٢٣٤٥٦", ""])
def test_a_passcode_that_is_not_six_digits_is_refused(client, citizen, passcode):
    registration_id = started(client, citizen, Phone())
    otp = latest_code(client, citizen.test_phone)
    body = assert_error(confirm(client, registration_id, otp, passcode=passcode), 422,
                        "passcode.invalid")
    assert "passcode" in body["errors"]
    assert confirm(client, registration_id, otp).status_code == 201


@pytest.mark.parametrize("missing", ["otp", "password", "passcode"])
def test_a_confirmation_without_a_field_is_refused(client, citizen, missing):
    registration_id = started(client, citizen, Phone())
    body = {"otp": latest_code(client, citizen.test_phone), "password": PASSWORD,
            "passcode": PASSCODE}
    del body[missing]
    answer = client.post(f"{REGISTRATIONS}/{registration_id}/confirm", json=body)
    assert answer.status_code == 422
    assert missing in answer.get_json()["errors"]


# --- The device key -------------------------------------------------------------------------

@pytest.mark.parametrize("key,code", [
    ("!!not base64!!", "base64.invalid"),
    ("AAAA====", "base64.invalid"),
    ("x" * 400, "base64.invalid"),
    (b64(b"not a DER key at all"), "device.key_invalid"),
    (der(ec.generate_private_key(ec.SECP384R1()).public_key()), "device.key_invalid"),
    (der(ec.generate_private_key(ec.SECP256K1()).public_key()), "device.key_invalid"),
    (der(ed25519.Ed25519PrivateKey.generate().public_key()), "device.key_invalid"),
    (der(rsa.generate_private_key(public_exponent=65537, key_size=1024).public_key()),
     "device.key_invalid"),
])
def test_a_device_key_that_is_not_p256_is_refused(client, citizen, key, code):
    answer = start(client, citizen, Phone(), device_public_key=key)
    assert_error(answer, 422, code)
    assert outbox(client, citizen.test_phone) == []


def test_a_raw_p256_point_is_not_a_subject_public_key_info(client, citizen):
    point = Phone().key.public_key().public_bytes(serialization.Encoding.X962,
                                                  serialization.PublicFormat.UncompressedPoint)
    assert_error(start(client, citizen, Phone(), device_public_key=b64(point)), 422,
                 "device.key_invalid")


def test_a_padded_key_is_refused(client, citizen):
    padded = base64.urlsafe_b64encode(base64.urlsafe_b64decode(Phone().public_key + "=="))
    assert_error(start(client, citizen, Phone(), device_public_key=padded.decode()), 422,
                 "base64.invalid")


@pytest.mark.parametrize("device_id", ["short", "has space in it", "x" * 65])
def test_a_malformed_device_id_is_refused(client, citizen, device_id):
    answer = start(client, citizen, Phone(), device_id=device_id)
    assert answer.status_code == 422
    assert "device_id" in answer.get_json()["errors"]


@pytest.mark.parametrize("field,value,code", [
    ("personal_id", "12345", "personal_id."),
    ("personal_id", "00109001234x", "personal_id."),
    ("phone", "0123", "phone."),
    ("phone", "+1 202 555 0100", "phone."),
    ("date_of_birth", "17/05/1990", "request.invalid"),
])
def test_malformed_registration_fields_are_refused_by_field(client, citizen, field, value,
                                                            code):
    answer = start(client, citizen, Phone(), **{"phone_number" if field == "phone" else field:
                                                value})
    body = answer.get_json()
    assert answer.status_code == 422, body
    assert body["code"].startswith(code) and field in body["errors"]
    assert outbox(client, citizen.test_phone) == []


# --- One account per citizen --------------------------------------------------------------------

def test_a_second_account_for_the_same_citizen_is_refused(client, citizen, db_session):
    first = started(client, citizen, Phone())
    first_code = latest_code(client, citizen.test_phone)
    assert confirm(client, first, first_code).status_code == 201
    # While the account is open, a new registration gets no code, so nothing to confirm with.
    second = started(client, citizen, Phone())
    assert len(outbox(client, citizen.test_phone)) == 1
    assert_error(confirm(client, second, first_code), 422, "otp.invalid")
    assert db_session.scalar(sa.select(sa.func.count()).select_from(Account)
                             .where(Account.citizen_id == citizen.id)) == 1


def test_the_unique_constraint_settles_a_race_the_check_missed(client, citizen, db_session,
                                                               monkeypatch):
    # Two confirmations that both looked before either wrote: the second one's insert
    # meets the unique constraint on citizen_id and answers 409, not 500.
    first = started(client, citizen, Phone())
    first_code = latest_code(client, citizen.test_phone)
    second = started(client, citizen, Phone())
    second_code = latest_code(client, citizen.test_phone)
    assert confirm(client, first, first_code).status_code == 201
    monkeypatch.setattr(registration, "get_account_of", lambda **kwargs: None)
    assert_error(confirm(client, second, second_code), 409, "account.exists")
    assert db_session.scalar(sa.select(sa.func.count()).select_from(Account)
                             .where(Account.citizen_id == citizen.id)) == 1


def test_a_concurrent_double_registration_gives_one_account_and_one_409(own_database_app,
                                                                        protector):
    # Real concurrency: two threads, each with its own app context, session and connection.
    # On PostgreSQL both may pass the "no account yet" check and the unique constraint
    # decides; SQLite's BEGIN IMMEDIATE makes the second wait for the first and see it.
    app = own_database_app
    citizen = committed_citizen(app, protector, birth=dt.date(1988, 3, 9), serial=999_998)
    client = app.test_client()
    registration_ids = [started(client, citizen, Phone()) for _ in range(2)]
    otps = sent_codes(client, citizen.test_phone)
    assert len(otps) == 2
    answers = confirm_at_once(app, registration_ids, otps)
    assert sorted(answer.status_code for answer in answers) == [201, 409]
    refused = next(answer for answer in answers if answer.status_code == 409)
    assert_error(refused, 409, "account.exists")
    with app.app_context(), Session(bind=db.engine) as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(Account)
                              .where(Account.citizen_id == citizen.id)) == 1
