"""The kinds of credential a citizen can show, and the claims each one carries.

A type is registered once with a function that builds its claims (the body's
``c`` map) from the holder's account. Types of the utilities (``residence``)
register themselves from their own package, since ``identity`` never imports
``utilities``.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

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
