"""Passwords and passcodes: the policy and the hashing.

Passwords follow NIST SP 800-63B section 5.1.1: 8 to 128 characters, any
characters, no composition rules, NFC-normalised, refused when among the
10,000 most common passwords (``data/common-passwords.txt``, the top of the
list shipped by zxcvbn, MIT licence). Both passwords and the six-digit
passcode are hashed with argon2id at m=19 MiB, t=2, p=1 (the OWASP minimum
for argon2id); docs/benchmarks.md gives the measured time.
"""
from __future__ import annotations

import functools
import unicodedata
from importlib import resources

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from identity.accounts.errors import InvalidPasscode, WeakPassword

#: argon2id parameters: memory in KiB, iterations, lanes.
ARGON2_MEMORY_KIB = 19 * 1024
ARGON2_TIME_COST = 2
ARGON2_PARALLELISM = 1

HASHER = PasswordHasher(time_cost=ARGON2_TIME_COST, memory_cost=ARGON2_MEMORY_KIB,
                        parallelism=ARGON2_PARALLELISM)

MIN_PASSWORD, MAX_PASSWORD = 8, 128


@functools.cache
def common_passwords() -> frozenset[str]:
    """The 10,000 most common passwords, case-folded."""
    text = resources.files("identity.accounts").joinpath("data/common-passwords.txt").read_text()
    return frozenset(line.strip().casefold() for line in text.splitlines() if line.strip())


def check_password(password: object) -> str:
    """The password, NFC-normalised, or :class:`WeakPassword` naming the rule broken."""
    if not isinstance(password, str):
        raise WeakPassword("The password must be text.", field="password")
    password = unicodedata.normalize("NFC", password)
    if len(password) < MIN_PASSWORD:
        raise WeakPassword(f"The password needs at least {MIN_PASSWORD} characters.",
                           code="password.too_short", field="password")
    if len(password) > MAX_PASSWORD:
        raise WeakPassword(f"The password may have at most {MAX_PASSWORD} characters.",
                           code="password.too_long", field="password")
    if password.casefold() in common_passwords():
        raise WeakPassword("This password is among the most common ones; choose another.",
                           code="password.common", field="password")
    return password


def check_passcode(passcode: object) -> str:
    """The passcode if it is six ASCII digits, else :class:`InvalidPasscode`."""
    if not (isinstance(passcode, str) and len(passcode) == 6 and passcode.isascii()
            and passcode.isdigit()):
        raise InvalidPasscode("The passcode must be six digits.", field="passcode")
    return passcode


def hash_secret(secret: str) -> str:
    """The argon2id hash of a password or passcode (normalised beforehand)."""
    return HASHER.hash(secret)


def verify_secret(stored_hash: str, secret: str) -> bool:
    """Whether ``secret`` matches ``stored_hash``; False for anything malformed."""
    try:
        return HASHER.verify(stored_hash, unicodedata.normalize("NFC", secret))
    except (VerificationError, InvalidHashError):
        return False


@functools.cache
def _dummy_hash() -> str:
    return HASHER.hash("vnid-dummy-password-for-timing")


def burn_verification(secret: str) -> None:
    """Spend one verification's time: an unknown account answers as slowly as a known one."""
    verify_secret(_dummy_hash(), secret)


def needs_rehash(stored_hash: str) -> bool:
    """Whether a hash was made with other parameters than today's."""
    return HASHER.check_needs_rehash(stored_hash)
