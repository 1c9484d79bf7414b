"""Consent requests (Myinfo's model): the party's request, the citizen's decision, the delivery.

The party names the attributes from a fixed catalogue (:data:`ATTRIBUTES`)
and a purpose; the citizen reads the party's name and the purpose and
decides with their passcode. The approved attributes, and only those, are
delivered once, as a VN1 credential of type ``consent`` signed by the
service with the party as its audience, so the party can prove what it
received and from whom. Each delivery is a :class:`DataShare` the citizen
lists (:mod:`.sharing`). Nothing is disclosed without consent, and every
step is in the citizen's access log (:mod:`.access_log`).
"""
from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import redis
import sqlalchemy as sa
from sqlalchemy.orm import Session

from identity import clock
from identity.accounts.account import get_account_of
from identity.accounts.notifications import notify
from identity.accounts.passcode import confirm_passcode
from identity.accounts.models import ACTIVE, Account
from identity.audit.service import Actor, record_event
from identity.credentials.keys import KeyRing
from identity.credentials.service import sign_credential
from identity.database import paginate
from identity.monitoring.counters import bump
from identity.protection import Protector
from identity.registry.models import Citizen
from identity.registry.service import citizen_phone, get_citizen
from identity.relying_parties import parties
from identity.relying_parties.access_log import looked_up, party_actor
from identity.relying_parties.errors import (ConsentAlreadyFetched, ConsentClosed,
                                             ConsentNoCallback, ConsentNotFound,
                                             ConsentUnavailable)
from identity.relying_parties.models import ConsentRequest, DataShare, RelyingParty

#: The attributes a party may ask for, in the order they are shown, with their claim keys.
ATTRIBUTES: dict[str, str] = {
    "full_name": "nm", "date_of_birth": "dob", "sex": "sx", "permanent_address": "addr",
    "phone": "ph", "level": "lvl", "photo_reference": "pho", "household": "hh",
}
#: How long the party has to fetch an approved consent's credential once it fetched nothing.
CONSENT_CREDENTIAL_SECONDS = 600
PENDING, APPROVED, REFUSED, EXPIRED = "pending", "approved", "refused", "expired"


def _expire_if_due(request: ConsentRequest, now: dt.datetime) -> None:
    """Mark an unfetched request past its life as expired (in the session, not committed)."""
    if request.status in (PENDING, APPROVED) and request.fetched_at is None \
            and request.expires_at <= now:
        request.status = EXPIRED


# --- The party asks ------------------------------------------------------------------------------

def create_consent_request(*, db_session: Session, actor: Actor, party: RelyingParty,
                           personal_id: str, attributes: list[str], purpose: str,
                           callback: bool, lifetime: int) -> ConsentRequest:
    """A pending request the citizen sees in the app; the party is told of the decision.

    ``callback`` asks for a notification at the party's registered callback
    URL (never one given in the request).

    The same answer for every well-formed personal id: a request is made
    whether the id is unknown, its citizen has no account, or the account is
    pending review, rejected, locked or closed. Only a citizen with an active
    account is notified; the others' requests reach no one and expire,
    exactly as when a citizen does not answer. So the answer tells the party
    nothing about the id (it used to be ``409 consent.no_account``, which
    told apart the ids of citizens with an active account).
    """
    # The party's own setting first: checked after the look-up, its answer would differ
    # for a citizen with an active account, and tell the party that much about an id.
    if callback and not party.callback_url:
        raise ConsentNoCallback(field="callback")
    citizen = get_citizen(db_session=db_session, personal_id=personal_id)
    account = None if citizen is None else get_account_of(db_session=db_session,
                                                          citizen_id=citizen.id)
    reachable = account if account is not None and account.status == ACTIVE else None
    wanted = [name for name in ATTRIBUTES if name in set(attributes)]
    now = clock.now()
    request = ConsentRequest(id=os.urandom(16).hex(), party_id=party.id,
                             citizen_id=None if citizen is None else citizen.id,
                             account_id=None if reachable is None else reachable.id,
                             attributes=" ".join(wanted), purpose=purpose, status=PENDING,
                             created_at=now, expires_at=now + dt.timedelta(seconds=lifetime),
                             callback_state="requested" if callback else "none",
                             callback_attempts=0)
    db_session.add(request)
    looked_up(db_session, actor, party, citizen, "rp.consent_requested",
              {"consent_id": request.id, "attributes": wanted, "purpose": purpose,
               "notified": reachable is not None})
    if reachable is not None:
        notify(db_session=db_session, account_id=reachable.id, kind="consent.requested",
               text=f"{party.name} asks for your data: {purpose}")
    db_session.commit()
    return request


# --- The citizen decides -------------------------------------------------------------------------

def _citizen_request(db_session: Session, account: Account, consent_id: str,
                     *, lock: bool = False) -> ConsentRequest:
    """One of the citizen's requests, else :class:`ConsentNotFound`."""
    query = sa.select(ConsentRequest).where(ConsentRequest.id == consent_id,
                                            ConsentRequest.citizen_id == account.citizen_id)
    if lock:  # re-read under the row lock, whatever the session already holds
        query = query.with_for_update(of=ConsentRequest).execution_options(populate_existing=True)
    request = db_session.scalar(query)
    if request is None:
        raise ConsentNotFound()
    return request


def list_for_citizen(*, db_session: Session, account: Account, page: int, per_page: int,
                     status: str | None = None) -> tuple[list[ConsentRequest], int]:
    """The citizen's consent requests, newest first (expired ones shown as expired)."""
    query = sa.select(ConsentRequest).where(ConsentRequest.citizen_id == account.citizen_id)
    if status is not None:
        query = query.where(ConsentRequest.status == status)
    items, total = paginate(db_session, query.order_by(ConsentRequest.created_at.desc(),
                                                       ConsentRequest.id),
                            page=page, per_page=per_page)
    now = clock.now()
    for item in items:
        _expire_if_due(item, now)
    return items, total


def decide(*, db_session: Session, actor: Actor, account: Account, consent_id: str,
           approve: bool, passcode: str) -> ConsentRequest:
    """Approve or refuse one of the citizen's pending requests, confirmed by passcode."""
    request = _citizen_request(db_session, account, consent_id)
    _expire_if_due(request, clock.now())
    if request.status != PENDING:
        raise ConsentClosed(errors={"status": [request.status]})
    confirm_passcode(db_session=db_session, actor=actor, account=account, passcode=passcode)
    request = _citizen_request(db_session, account, consent_id, lock=True)
    if request.status != PENDING:  # decided on another device meanwhile
        raise ConsentClosed(errors={"status": [request.status]})
    request.status = APPROVED if approve else REFUSED
    request.decided_at = clock.now()
    request.account_id = account.id  # whose word it is: checked again at delivery
    if request.callback_state == "requested":
        request.callback_state = "pending"
    record_event(db_session=db_session, actor=actor, action=f"consent.{request.status}",
                 subject_type="citizen", subject_id=account.citizen_id,
                 details={"by": request.party.name, "consent_id": request.id,
                          "attributes": request.attribute_list(), "purpose": request.purpose})
    if approve:
        citizen = account.citizen
        bump(db_session, metric="consents.given", province_code=citizen.province_code,
             commune_code=citizen.commune_code)
    db_session.commit()
    return request


def consent_fields(request: ConsentRequest) -> Mapping[str, Any]:
    """A consent request as the citizen sees it: the party's name and kind, and the ask."""
    return {"id": request.id, "party": request.party.name, "party_kind": request.party.kind,
            "attributes": request.attribute_list(), "purpose": request.purpose,
            "status": request.status, "created_at": request.created_at,
            "expires_at": request.expires_at, "decided_at": request.decided_at,
            "callback": request.callback_state != "none"}


# --- The party fetches ---------------------------------------------------------------------------

@dataclass(frozen=True)
class ConsentState:
    """What the party gets for a consent request: its status, and the credential once."""

    id: str
    status: str
    attributes: list[str]
    purpose: str
    created_at: dt.datetime
    expires_at: dt.datetime
    decided_at: dt.datetime | None
    credential: str | None = None
    credential_expires_at: dt.datetime | None = None


def consent_state(request: ConsentRequest, **extra: Any) -> ConsentState:
    """What the party sees of its request (the credential only where given)."""
    return ConsentState(id=request.id, status=request.status,
                        attributes=request.attribute_list(), purpose=request.purpose,
                        created_at=request.created_at, expires_at=request.expires_at,
                        decided_at=request.decided_at, **extra)


def fetch(*, db_session: Session, redis_client: redis.Redis, protector: Protector,
          key_ring: KeyRing, actor: Actor, party: RelyingParty,
          consent_id: str) -> ConsentState:
    """The party's view of its request; an approved one carries the credential, once.

    :class:`ConsentUnavailable` when the data may not go out now
    (:func:`_deliverable_account`): the attempt is in the citizen's access
    log, nothing is shared, and the party is told no more than that.
    """
    query = sa.select(ConsentRequest).where(ConsentRequest.id == consent_id,
                                            ConsentRequest.party_id == party.id)
    request = db_session.scalar(query)
    if request is None:
        raise ConsentNotFound()
    _expire_if_due(request, clock.now())
    if request.status != APPROVED:
        db_session.commit()
        return consent_state(request)
    if request.fetched_at is not None:
        raise ConsentAlreadyFetched()
    request = db_session.scalar(query.with_for_update(of=ConsentRequest)
                                .execution_options(populate_existing=True))
    assert request is not None
    if request.fetched_at is not None:  # fetched by a concurrent request
        raise ConsentAlreadyFetched()
    acting = party_actor(party, actor)
    account = _deliverable_account(db_session, request)
    if account is None:
        _record_withheld(db_session, acting, party, request)
        db_session.commit()  # the refused attempt stays in the citizen's access log
        raise ConsentUnavailable()
    citizen = account.citizen  # the request's citizen: the account is theirs
    attributes = request.attribute_list()
    issued = sign_credential(db_session=db_session, redis_client=redis_client,
                             protector=protector, key_ring=key_ring, actor=acting,
                             account=account, credential_type="consent",
                             claims=_claims(protector, citizen, account, attributes, request.id),
                             lifetime=CONSENT_CREDENTIAL_SECONDS,
                             audience=parties.audience(party))
    request.fetched_at = clock.now()
    request.credential_id = issued.credential_id
    db_session.add(DataShare(citizen_id=citizen.id, party_id=party.id, consent_id=request.id,
                             attributes=request.attributes, purpose=request.purpose,
                             shared_at=request.fetched_at))
    record_event(db_session=db_session, actor=acting, action="rp.data_shared",
                 subject_type="citizen", subject_id=citizen.id,
                 details={"by": party.name, "consent_id": request.id, "attributes": attributes,
                          "purpose": request.purpose, "credential_id": issued.credential_id})
    db_session.commit()
    return consent_state(request, credential=issued.qr, credential_expires_at=issued.expires_at)


def _claims(protector: Protector, citizen: Citizen, account: Account, attributes: list[str],
            consent_id: str) -> dict[str, Any]:
    """The claims of a consent credential: the personal id, the consent, and the attributes."""
    values: dict[str, Callable[[], Any]] = {
        "full_name": lambda: citizen.full_name,
        "date_of_birth": lambda: citizen.date_of_birth.isoformat(),
        "sex": lambda: citizen.gender,
        "permanent_address": lambda: citizen.address,
        "phone": lambda: citizen_phone(protector=protector, citizen=citizen),
        "level": lambda: account.level,
        # The registry's reference of the card photo: keyed, so it reveals nothing of the id.
        "photo_reference": lambda: "photo:" + protector.lookup_hash(
            citizen.personal_id, purpose=b"photo-reference").hex()[:24],
        "household": lambda: citizen.household_id,
    }
    claims: dict[str, Any] = {"id": citizen.personal_id, "cr": consent_id}
    for name in attributes:
        value = values[name]()
        if value is not None:
            claims[ATTRIBUTES[name]] = value
    return claims


def _deliverable_account(db_session: Session, request: ConsentRequest) -> Account | None:
    """The citizen's account if the data may go out now, else None.

    The account must be the citizen's open account, active (not locked after
    a lost phone, not pending review or rejected), and the one that approved:
    an approval given by an account since closed (a squatter's, superseded
    by the real citizen) speaks for no one.
    """
    if request.citizen_id is None:  # never decided, so never here; but fail closed
        return None
    account = get_account_of(db_session=db_session, citizen_id=request.citizen_id)
    if account is None or account.status != ACTIVE:
        return None
    if request.account_id is not None and request.account_id != account.id:
        return None
    return account


def _record_withheld(db_session: Session, acting: Actor, party: RelyingParty,
                     request: ConsentRequest) -> None:
    """Audit a refused delivery in the citizen's access log (nothing is shared).

    The party is told only that the data cannot be delivered: not whether the
    account is locked, closed or under review. The request stays approved and
    unfetched, so it expires as usual; after an unlock within its life the
    party may fetch it (the citizen approved it and unlocked the account).
    """
    record_event(db_session=db_session, actor=acting, action="rp.data_withheld",
                 subject_type="citizen", subject_id=request.citizen_id,
                 details={"by": party.name, "consent_id": request.id,
                          "attributes": request.attribute_list(), "purpose": request.purpose})
