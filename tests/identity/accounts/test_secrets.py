"""Password and passcode policy and hashing (identity.accounts.secrets)."""
from __future__ import annotations

import unicodedata

import pytest
from argon2 import PasswordHasher, extract_parameters
from argon2.low_level import Type

from identity.accounts import secrets
from identity.accounts.errors import InvalidPasscode, WeakPassword

NFC_PASSWORD = "mật khẩu của tôi ở Hà Nội"
NFD_PASSWORD = unicodedata.normalize("NFD", NFC_PASSWORD)


def weak_code(password: object) -> str:
    with pytest.raises(WeakPassword) as raised:
        secrets.check_password(password)
    assert raised.value.field == "password"
    return raised.value.code


def test_the_nfd_spelling_really_differs():
    assert NFD_PASSWORD != NFC_PASSWORD and len(NFD_PASSWORD) > len(NFC_PASSWORD)


@pytest.mark.parametrize("password", [
    "a" * 8 + "b", "12345 ab", "        ", "🙂🙂🙂🙂🙂🙂🙂🙂", "x" * 127 + "y", NFC_PASSWORD,
    "only lower case letters here",
])
def test_any_characters_without_composition_rules(password):
    assert secrets.check_password(password) == unicodedata.normalize("NFC", password)


def test_passwords_are_nfc_normalised():
    assert secrets.check_password(NFD_PASSWORD) == NFC_PASSWORD


def test_length_counts_characters_after_normalisation():
    # Eight characters in NFC, more code points in NFD: the NFC length is what counts.
    eight = "ệệệệệệệệ"
    assert len(unicodedata.normalize("NFD", eight)) > 8
    assert secrets.check_password(unicodedata.normalize("NFD", eight)) == eight
    assert weak_code(unicodedata.normalize("NFD", eight[:7])) == "password.too_short"


@pytest.mark.parametrize("password,code", [
    ("", "password.too_short"),
    ("seven77", "password.too_short"),
    ("x" * 129, "password.too_long"),
    ("password123", "password.common"),
    ("PassWord123", "password.common"),
    ("12345678", "password.common"),
    (None, "password.weak"),
    (12345678, "password.weak"),
])
def test_weak_passwords_are_refused_with_their_rule(password, code):
    assert weak_code(password) == code


def test_eight_and_128_characters_are_the_bounds():
    assert secrets.check_password("q" * 7 + "z") == "q" * 7 + "z"
    assert secrets.check_password("q" * 127 + "z") == "q" * 127 + "z"


def test_the_common_list_ships_ten_thousand_passwords():
    common = secrets.common_passwords()
    assert 9_000 <= len(common) <= 10_000
    assert {"password", "123456", "qwerty"} <= common


@pytest.mark.parametrize("passcode", ["000000", "246810", "999999"])
def test_passcodes_are_six_ascii_digits(passcode):
    assert secrets.check_passcode(passcode) == passcode


@pytest.mark.parametrize("passcode", [
    "12345", "1234567", "12345a", "", None, 123456, "١٢٣٤٥٦", "１２３４５６", " 12345", "12 456",
])
def test_other_passcodes_are_refused(passcode):
    with pytest.raises(InvalidPasscode) as raised:
        secrets.check_passcode(passcode)
    assert raised.value.code == "passcode.invalid"


def test_hashes_are_argon2id_no_weaker_than_the_owasp_minimum():
    stored = secrets.hash_secret("correct horse battery staple")
    found = extract_parameters(stored)
    assert found.type is Type.ID
    assert found.memory_cost >= 19 * 1024
    assert found.time_cost >= 2
    assert found.parallelism >= 1
    assert stored.startswith("$argon2id$")


def test_hashes_are_salted():
    assert secrets.hash_secret("same secret here") != secrets.hash_secret("same secret here")


def test_verify_accepts_the_secret_in_either_normal_form():
    stored = secrets.hash_secret(secrets.check_password(NFD_PASSWORD))
    assert secrets.verify_secret(stored, NFC_PASSWORD)
    assert secrets.verify_secret(stored, NFD_PASSWORD)
    assert not secrets.verify_secret(stored, NFC_PASSWORD + " ")


@pytest.mark.parametrize("stored", ["", "not a hash", "$argon2id$v=19$m=1,t=1,p=1$broken"])
def test_verify_is_false_for_malformed_hashes(stored):
    assert secrets.verify_secret(stored, "anything at all") is False


def test_needs_rehash_for_weaker_parameters():
    weaker = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1).hash("secret!!")
    assert secrets.needs_rehash(weaker)
    assert not secrets.needs_rehash(secrets.hash_secret("secret!!"))


def test_burning_a_verification_checks_nothing():
    assert secrets.burn_verification("whatever") is None
