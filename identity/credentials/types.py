"""The kinds of credential a citizen can show, and the claims each one carries.

A type is registered once with a function that builds its claims (the body's
``c`` map) from the holder's account. Types of the utilities (``residence``)
register themselves from their own package, since ``identity`` never imports
``utilities``.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from identity import clock
from identity.accounts.models import Account

#: Builds the claims map of a credential for the holder; raises a DomainError to refuse.
ClaimsBuilder = Callable[[Session, Account], dict[str, Any]]


@dataclass(frozen=True)
class CredentialType:
    """A kind of credential: its name, claims, the level it needs and how long it lives."""

    name: str
    claims: ClaimsBuilder
    min_level: int = 1
    #: Default lifetime in seconds; ``CREDENTIAL_LIFETIMES`` may override it per type.
    lifetime: int = 120
    #: One-time credentials are refused online once verified (``already_used``).
    one_time: bool = False
    description: str = ""


_TYPES: dict[str, CredentialType] = {}


def register_type(credential_type: CredentialType) -> None:
    """Make a type issuable (the last registration of a name wins)."""
    _TYPES[credential_type.name] = credential_type


def credential_types() -> dict[str, CredentialType]:
    """Every registered type by name."""
    return dict(_TYPES)


# --- The identity types (claims of the spec: id, nm, dob, sx, lvl, o18) ------------------------

def _age(born: dt.date, today: dt.date) -> int:
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def identity_claims(db_session: Session, account: Account) -> dict[str, Any]:
    """The full identity: what the chip card shows, with the account level."""
    citizen = account.citizen
    return {"id": citizen.personal_id, "nm": citizen.full_name,
            "dob": citizen.date_of_birth.isoformat(), "sx": citizen.gender, "lvl": account.level}


def identity_basic_claims(db_session: Session, account: Account) -> dict[str, Any]:
    """Name and level, and only the last 4 digits of the id (``id4``): enough for a hotel desk."""
    citizen = account.citizen
    return {"nm": citizen.full_name, "lvl": account.level, "id4": citizen.personal_id[-4:]}


def age_over_18_claims(db_session: Session, account: Account) -> dict[str, Any]:
    """Whether the holder is 18 or older today (Vietnam's date), and nothing else but the level."""
    return {"o18": _age(account.citizen.date_of_birth, clock.today()) >= 18,
            "lvl": account.level}


register_type(CredentialType(
    "identity", identity_claims, min_level=2,
    description="Personal id, name, date of birth, sex and level: the chip card's data. "
                "Level 2 only, like the e-ID it stands in for."))
register_type(CredentialType(
    "identity_basic", identity_basic_claims,
    description="Name, level and the last 4 digits of the personal id."))
register_type(CredentialType(
    "age_over_18", age_over_18_claims, one_time=True,
    description="Only whether the holder is 18 or older. One-time: a screenshot passed to a "
                "friend is refused online once the first check used it."))
