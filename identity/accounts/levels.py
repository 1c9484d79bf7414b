"""Raising an account to level 2: an officer checks the citizen in person against the chip card.

Level 2 (about NIST IAL2) unlocks what needs high assurance. The same
in-person check (face or fingerprint) stands behind an officer's device rebind
(``devices.rebind_in_person``) and a reclaim (``reclaim.py``).
"""
from __future__ import annotations

import secrets

from sqlalchemy.orm import Session

from identity import clock
from identity.accounts.models import ACTIVE, Account, Officer
from identity.accounts.notifications import notify
from identity.accounts.officers import account_in_jurisdiction, record_officer_act
from identity.audit.service import Actor
from identity.errors import Conflict, InvalidInput
from identity.registry.models import Citizen

LEVEL2_CHECKS = ("face", "fingerprint")


def check_in_person(check: str) -> None:
    """Refuse an in-person check that is not one of :data:`LEVEL2_CHECKS`."""
    if check not in LEVEL2_CHECKS:
        raise InvalidInput("The check must be face or fingerprint.", code="level2.check",
                           field="check")


def check_card(card_number: str, citizen: Citizen) -> None:
    """Refuse a chip card whose number (the personal id) is not the citizen's."""
    if not secrets.compare_digest(card_number.encode(), citizen.personal_id.encode()):
        raise InvalidInput("The chip card number is not this citizen's.",
                           code="level2.card_mismatch", field="card_number")


def raise_to_level2(*, db_session: Session, actor: Actor, officer: Officer, account_id: int,
                    card_number: str, check: str) -> Account:
    """Raise an account to level 2 after an in-person check against the chip ID card.

    The chip card's number is the personal id: it must be the account holder's.
    Every token issued before stops working, so the new level applies at once.
    """
    check_in_person(check)
    account = account_in_jurisdiction(db_session, officer, actor, account_id, "account.level2")
    if account.status != ACTIVE:
        raise Conflict("Only an active account can be raised to level 2.",
                       code="account.not_active")
    check_card(card_number, account.citizen)
    if account.level == 2:
        raise Conflict("The account is already at level 2.", code="account.already_level2")
    account.level, account.level2_check = 2, check
    account.level2_card_last4, account.level2_officer_id = card_number[-4:], officer.id
    account.level2_at = clock.now()
    account.token_version += 1
    record_officer_act(db_session, officer, actor, "account.level2", account.citizen_id,
                       check=check)
    notify(db_session=db_session, account_id=account.id, kind="account.level2",
           text="Your account is now level 2.")
    db_session.commit()
    return account
