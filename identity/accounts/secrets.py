"""Passwords and passcodes: the policy and the hashing.

Passwords follow NIST SP 800-63B section 5.1.1: 8 to 128 characters, any
characters, no composition rules, NFC-normalised, refused when among the
10,000 most common passwords (``data/common-passwords.txt``, the top of the
list shipped by zxcvbn, MIT licence). They are hashed with argon2id at
m=19 MiB, t=2, p=1 (the OWASP minimum for argon2id); docs/benchmarks.md gives
the measured time.

The six-digit passcode is stored as a keyed hash (:class:`PasscodeKeys`):
HMAC-SHA-256 under a versioned server-side key the database does not hold
(NIST SP 800-63B 5.1.1.2, "keyed hashing with a secret key known only to the
verifier"), with a salt per hash and the account's citizen id bound in. A
memory-hard KDF buys nothing for a secret of a million values once the table
is stolen (hours of an attacker's time) and costs the service tens of
milliseconds a check; what protects a passcode is the lock counter and the
key (docs/security.md, "The passcode"). Hashes made before (argon2id) and
hashes under an older key version still verify, and are re-keyed by
``confirm_passcode`` on the next right passcode.
"""
from __future__ import annotations

import base64
import functools
import hmac
import os
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from identity.accounts.errors import InvalidPasscode, PasscodeKeyUnavailable, WeakPassword
from identity.protection import KeyMaterialError, parse_keys

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


# --- The passcode's keyed hash -----------------------------------------------------------------

#: The scheme written at the head of a keyed passcode hash: ``hmac-sha256$v<version>$salt$mac``.
PASSCODE_SCHEME = "hmac-sha256"
PASSCODE_SALT_BYTES = 16
_PASSCODE_DOMAIN = b"vnid/passcode\x00"


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@dataclass(frozen=True)
class PasscodeKeys:
    """The versioned HMAC keys of passcode hashes (``PASSCODE_HMAC_KEYS``).

    The highest version hashes; every version held still verifies. A stored
    value says which key made it (``hmac-sha256$v2$<salt>$<mac>``), so a
    rotation is a new, higher version added to the setting: old hashes verify
    and are re-keyed on their next success (:meth:`needs_rekey`).
    """

    keys: dict[int, bytes]
    active_version: int = field(init=False)

    @classmethod
    def from_setting(cls, spec: str) -> "PasscodeKeys":
        """Build from ``"2:<b64url>,1:<b64url>"`` (32-byte keys); raise on anything else."""
        if not spec or not spec.strip():
            raise KeyMaterialError("PASSCODE_HMAC_KEYS holds no key")
        try:
            return cls(keys=parse_keys(spec))
        except KeyMaterialError as exc:
            raise KeyMaterialError(f"PASSCODE_HMAC_KEYS: {exc}") from None

    def __post_init__(self) -> None:
        object.__setattr__(self, "active_version", max(self.keys))

    def _mac(self, version: int, salt: bytes, passcode: str, citizen_id: int) -> bytes:
        message = b"%s%d\x00%s%s" % (_PASSCODE_DOMAIN, citizen_id, salt, passcode.encode())
        return hmac.digest(self.keys[version], message, "sha256")

    def hash(self, passcode: str, *, citizen_id: int) -> str:
        """The stored form of ``passcode`` for the citizen's account, under the active key."""
        salt = os.urandom(PASSCODE_SALT_BYTES)
        mac = self._mac(self.active_version, salt, passcode, citizen_id)
        return f"{PASSCODE_SCHEME}$v{self.active_version}${_b64(salt)}${_b64(mac)}"

    def verify(self, stored: str, passcode: str, *, citizen_id: int) -> bool:
        """Whether ``passcode`` is the one ``stored`` was made of (compared in constant time).

        A hash made before the keyed scheme (argon2id) is verified as such.
        A keyed hash under a version no longer held raises
        :class:`PasscodeKeyUnavailable` (503): the citizen's try must not be
        counted as wrong for a key the operator removed. Anything malformed is
        False.
        """
        if stored.startswith("$argon2"):
            return verify_secret(stored, passcode)
        parts = stored.split("$")
        if len(parts) != 4 or parts[0] != PASSCODE_SCHEME or parts[1][:1] != "v" \
                or not (parts[1][1:].isascii() and parts[1][1:].isdigit()):
            return False
        version = int(parts[1][1:])
        if version not in self.keys:
            raise PasscodeKeyUnavailable()
        try:
            salt = base64.urlsafe_b64decode(parts[2] + "=" * (-len(parts[2]) % 4))
            mac = base64.urlsafe_b64decode(parts[3] + "=" * (-len(parts[3]) % 4))
        except ValueError:
            return False
        return hmac.compare_digest(mac, self._mac(version, salt, passcode, citizen_id))

    def needs_rekey(self, stored: str) -> bool:
        """Whether ``stored`` was made by argon2id or under another key than the active one."""
        return not stored.startswith(f"{PASSCODE_SCHEME}$v{self.active_version}$")

    def version_of(self, stored: str) -> str:
        """What made ``stored``: ``argon2id``, ``v<N>`` of the keyed scheme, or ``other``."""
        if stored.startswith("$argon2"):
            return "argon2id"
        parts = stored.split("$")
        return parts[1] if len(parts) == 4 and parts[0] == PASSCODE_SCHEME else "other"


_passcode_keys_source: Callable[[], PasscodeKeys] | None = None


def use_passcode_keys(source: Callable[[], PasscodeKeys]) -> None:
    """Say where the process finds its passcode keys (the app's: ``app/context.py``).

    A function rather than the keys themselves, so that several applications
    in one process (the tests build many) each answer with their own.
    """
    global _passcode_keys_source
    _passcode_keys_source = source


def passcode_keys() -> PasscodeKeys:
    """The passcode keys of the running application; fails closed when none is configured."""
    if _passcode_keys_source is None:
        raise PasscodeKeyUnavailable()
    return _passcode_keys_source()
