"""What relying parties may do with a citizen: match, ask for consent, fetch what was given.

Over 400 lines until issue 17 ("A house to live in") splits it into use-case modules along
its sections; it was kept whole here so that the identity-assurance changes stayed
reviewable in place.

Every look a party takes at a citizen is an audit event with the citizen as
subject, so it shows in their access log with the party's name (``by``).
Nothing is disclosed without a legal basis or consent:

- **Identity match** answers only ``match`` and which of the fields the
  party sent agree with the registry. An unknown personal id answers exactly
  like a citizen whose every field differs, so the answer never tells whether
  an id exists; the daily quota and rate limit bound how many ids a party can
  try (Aadhaar's lesson: a yes/no API is an enumeration oracle unless it is
  authenticated, metered and logged).
- **Consent** (Myinfo's model): the party names the attributes from a fixed
  catalogue and a purpose; the citizen reads the party's name and the
  purpose and decides with their passcode. The approved attributes, and only
  those, are delivered once, as a VN1 credential of type ``consent`` signed
  by the service with the party as its audience, so the party can prove what
  it received and from whom.
- **Data sharing**: each delivery is a row the citizen lists, and on which
  they can ask the party to erase the data (the EU wallet's erasure
  request); the party lists such requests and acknowledges them.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import http.client
import json
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NoReturn

import redis
import sqlalchemy as sa
from sqlalchemy.orm import Session

from identity import clock
from identity.accounts import service as accounts
from identity.accounts.models import ACTIVE, Account
from identity.audit.service import Actor, record_event
from identity.credentials.keys import KeyRing
from identity.credentials.service import sign_credential
from identity.database import paginate
from identity.errors import Conflict, NotFound
from identity.monitoring.counters import bump
from identity.protection import Protector
from identity.registry.models import Citizen
from identity.registry.normalise import names_match
from identity.registry.service import PHONE_PURPOSE, citizen_phone, get_citizen
from identity.relying_parties import callbacks, parties
from identity.relying_parties.models import ConsentRequest, DataShare, RelyingParty

#: The attributes a party may ask for, in the order they are shown, with their claim keys.
ATTRIBUTES: dict[str, str] = {
    "full_name": "nm", "date_of_birth": "dob", "sex": "sx", "permanent_address": "addr",
    "phone": "ph", "level": "lvl", "photo_reference": "pho", "household": "hh",
}
#: How long the party has to fetch an approved consent's credential once it fetched nothing.
CONSENT_CREDENTIAL_SECONDS = 600
PENDING, APPROVED, REFUSED, EXPIRED = "pending", "approved", "refused", "expired"


class ConsentNotFound(NotFound):
    """No such consent request for this citizen or this party."""

    code = "consent.not_found"
    message = "No such consent request."


class ConsentClosed(Conflict):
    """The request is no longer pending: decided, or expired."""

    code = "consent.closed"
    message = "This consent request has already been decided or has expired."


class ConsentAlreadyFetched(Conflict):
    """The party already received the data of this consent."""

    code = "consent.already_fetched"
    message = "The data of this consent has already been delivered, once."


class ConsentUnavailable(Conflict):
    """The citizen's data cannot be delivered now (why is the citizen's business)."""

    code = "consent.unavailable"
    message = "The data of this consent cannot be delivered now."


def party_actor(party: RelyingParty, actor: Actor) -> Actor:
    """The request's actor, named as the party (its client id; never a secret)."""
    return Actor(type="relying_party", id=party.client_id, source=actor.source,
                 request_id=actor.request_id)


def _looked_up(db_session: Session, actor: Actor, party: RelyingParty, citizen: Citizen | None,
               action: str, details: dict[str, Any]) -> None:
    """Audit one look at a citizen: in their access log if they exist, else about the party."""
    details = {"by": party.name, "party_kind": party.kind, **details}
    if citizen is not None:
        record_event(db_session=db_session, actor=party_actor(party, actor), action=action,
                     subject_type="citizen", subject_id=citizen.id, details=details)
    else:
        record_event(db_session=db_session, actor=party_actor(party, actor), action=action,
                     subject_type="relying_party", subject_id=party.id,
                     details={**details, "subject": "unknown"})


def _phone_matches(protector: Protector, citizen: Citizen, phone: str) -> bool:
    """The phone is the registry's subscriber record (the telecom data), and only that.

    Never the account's phone: that one was typed by whoever registered,
    proved only to be in their hands by an SMS code, and a squatter's
    registration (pending review, or rejected by the police) holds the
    squatter's own number. Facts told to third parties come from the
    registry, never from an applicant.
    """
    if citizen.phone_hash is None:
        return False
    digest = protector.lookup_hash(phone, purpose=PHONE_PURPOSE)
    return hmac.compare_digest(citizen.phone_hash, digest)


def identity_match(*, db_session: Session, protector: Protector, actor: Actor,
                   party: RelyingParty, personal_id: str, full_name: str,
                   date_of_birth: dt.date, phone: str | None = None) -> dict[str, Any]:
    """``match`` and which fields matched, nothing else; in the citizen's access log."""
    citizen = get_citizen(db_session=db_session, personal_id=personal_id)
    fields: dict[str, bool] = {"full_name": False, "date_of_birth": False}
    if phone is not None:
        fields["phone"] = False
    if citizen is not None:
        fields["full_name"] = names_match(citizen.full_name, full_name)
        fields["date_of_birth"] = citizen.date_of_birth == date_of_birth
        if phone is not None:
            fields["phone"] = _phone_matches(protector, citizen, phone)
    match = all(fields.values())
    _looked_up(db_session, actor, party, citizen, "rp.identity_match",
               {"result": "match" if match else "no_match", "fields": sorted(fields)})
    db_session.commit()
    return {"match": match, "fields": fields}


def sim_ownership(*, db_session: Session, protector: Protector, actor: Actor,
                  party: RelyingParty, personal_id: str, phone: str) -> dict[str, Any]:
    """Whether the subscriber (phone, personal id) matches the registry's subscriber record."""
    citizen = get_citizen(db_session=db_session, personal_id=personal_id)
    match = citizen is not None and _phone_matches(protector, citizen, phone)
    _looked_up(db_session, actor, party, citizen, "rp.sim_ownership",
               {"result": "match" if match else "no_match"})
    db_session.commit()
    return {"match": match}


# --- Consent requests --------------------------------------------------------------------------

def _expire_if_due(request: ConsentRequest, now: dt.datetime) -> None:
    if request.status in (PENDING, APPROVED) and request.fetched_at is None \
            and request.expires_at <= now:
        request.status = EXPIRED


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
        raise Conflict("This party has no registered callback URL; ask the operator to "
                       "register one, or poll.", code="consent.no_callback", field="callback")
    citizen = get_citizen(db_session=db_session, personal_id=personal_id)
    account = None if citizen is None else accounts.get_account_of(db_session=db_session,
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
    _looked_up(db_session, actor, party, citizen, "rp.consent_requested",
               {"consent_id": request.id, "attributes": wanted, "purpose": purpose,
                "notified": reachable is not None})
    if reachable is not None:
        accounts.notify(db_session=db_session, account_id=reachable.id,
                        kind="consent.requested",
                        text=f"{party.name} asks for your data: {purpose}")
    db_session.commit()
    return request


def _citizen_request(db_session: Session, account: Account, consent_id: str,
                     *, lock: bool = False) -> ConsentRequest:
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
    accounts.confirm_passcode(db_session=db_session, actor=actor, account=account,
                              passcode=passcode)
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


def _claims(db_session: Session, protector: Protector, citizen: Citizen, account: Account,
            attributes: list[str], consent_id: str) -> dict[str, Any]:
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
    """The party's view of its request; an approved one carries the credential, once."""
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
        _withheld(db_session, acting, party, request)
    citizen = db_session.get(Citizen, request.citizen_id)
    assert account is not None and citizen is not None
    attributes = request.attribute_list()
    issued = sign_credential(db_session=db_session, redis_client=redis_client,
                             protector=protector, key_ring=key_ring, actor=acting,
                             account=account, credential_type="consent",
                             claims=_claims(db_session, protector, citizen, account, attributes,
                                            request.id),
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


def _deliverable_account(db_session: Session, request: ConsentRequest) -> Account | None:
    """The citizen's account if the data may go out now, else None.

    The account must be the citizen's open account, active (not locked after
    a lost phone, not pending review or rejected), and the one that approved:
    an approval given by an account since closed (a squatter's, superseded
    by the real citizen) speaks for no one.
    """
    if request.citizen_id is None:  # never decided, so never here; but fail closed
        return None
    account = accounts.get_account_of(db_session=db_session, citizen_id=request.citizen_id)
    if account is None or account.status != ACTIVE:
        return None
    if request.account_id is not None and request.account_id != account.id:
        return None
    return account


def _withheld(db_session: Session, acting: Actor, party: RelyingParty,
              request: ConsentRequest) -> NoReturn:
    """Refuse a delivery: in the citizen's access log, nothing shared; raises ConsentUnavailable.

    The party is told only that the data cannot be delivered: not whether the
    account is locked, closed or under review. The request stays approved and
    unfetched, so it expires as usual; after an unlock within its life the
    party may fetch it (the citizen approved it and unlocked the account).
    """
    record_event(db_session=db_session, actor=acting, action="rp.data_withheld",
                 subject_type="citizen", subject_id=request.citizen_id,
                 details={"by": party.name, "consent_id": request.id,
                          "attributes": request.attribute_list(), "purpose": request.purpose})
    db_session.commit()
    raise ConsentUnavailable()


# --- Callbacks ---------------------------------------------------------------------------------

#: How many deliveries of a callback are tried before it is marked failed.
CALLBACK_TRIES = 6
SIGNATURE_HEADER, TIMESTAMP_HEADER = "X-VNID-Signature", "X-VNID-Timestamp"


def callback_signature(key: bytes, timestamp: str, body: bytes) -> str:
    """``sha256=<hex>`` of HMAC-SHA256 over ``timestamp.body`` (Stripe's scheme)."""
    return "sha256=" + hmac.new(key, timestamp.encode() + b"." + body,
                                hashlib.sha256).hexdigest()


def deliver_callback(*, db_session: Session, protector: Protector, consent_id: str,
                     timeout: float = 5.0,
                     policy: callbacks.CallbackPolicy = callbacks.STRICT) -> str:
    """POST the decision to the party's registered callback, signed; the state afterwards.

    Idempotent: a request whose callback is not owed any more is left alone.
    The URL is checked again under ``policy`` just before the send (its host
    resolved, every address checked, the connection made to the checked
    address, no redirect followed: :mod:`callbacks`). A failure (refused
    address, network, non-2xx) is counted and raised, so the job queue
    retries it; after :data:`CALLBACK_TRIES` the callback is marked failed
    and the party learns the decision by polling.
    """
    request = db_session.get(ConsentRequest, consent_id)
    if request is None or request.callback_state != "pending":
        return "none" if request is None else request.callback_state
    party = request.party
    body = json.dumps({"event": "consent.decided", "consent_request_id": request.id,
                       "status": request.status}, separators=(",", ":")).encode()
    timestamp = str(int(time.time()))
    headers = {"Content-Type": "application/json", TIMESTAMP_HEADER: timestamp,
               SIGNATURE_HEADER: callback_signature(parties.callback_key(protector, party),
                                                    timestamp, body)}
    request.callback_attempts += 1
    refused = False
    try:
        if party.callback_url is None:  # removed by the operator since the request
            raise callbacks.CallbackRefused()
        status = callbacks.post(party.callback_url, body=body, headers=headers,
                                policy=policy, timeout=timeout)
        ok = 200 <= status < 300  # a 3xx is a failure: never followed
    except callbacks.CallbackRefused:
        ok, refused = False, True
    except (OSError, http.client.HTTPException, ValueError):
        ok = False
    if ok:
        request.callback_state = "delivered"
    elif request.callback_attempts >= CALLBACK_TRIES:
        request.callback_state = "failed"
    record_event(db_session=db_session, actor=Actor(type="system", id="callbacks"),
                 action="rp.callback_" + ("delivered" if ok else "failed"),
                 subject_type="relying_party", subject_id=party.id,
                 details={"consent_id": request.id, "attempt": request.callback_attempts,
                          **({"refused_address": True} if refused else {})})
    db_session.commit()
    if not ok and request.callback_state == "pending":
        raise CallbackFailed(consent_id)
    return request.callback_state


class CallbackFailed(Exception):
    """A callback delivery failed and will be retried."""


def owed_callbacks(*, db_session: Session, older_than: dt.timedelta) -> list[str]:
    """Callbacks still owed a while after the decision (the sweep enqueues them again)."""
    cutoff = clock.now() - older_than
    return list(db_session.scalars(
        sa.select(ConsentRequest.id).where(ConsentRequest.callback_state == "pending",
                                           ConsentRequest.decided_at < cutoff).limit(1000)))


# --- Data sharing and erasure ------------------------------------------------------------------

def data_shares(*, db_session: Session, account: Account, page: int,
                per_page: int) -> tuple[list[DataShare], int]:
    """Every delivery of the citizen's data: to whom, what, when, why; newest first."""
    return paginate(db_session, sa.select(DataShare)
                    .where(DataShare.citizen_id == account.citizen_id)
                    .order_by(DataShare.shared_at.desc(), DataShare.id.desc()),
                    page=page, per_page=per_page)


def request_erasure(*, db_session: Session, actor: Actor, account: Account,
                    share_id: int) -> DataShare:
    """Ask the party that received this data to delete it (once)."""
    share = db_session.scalar(sa.select(DataShare).where(
        DataShare.id == share_id, DataShare.citizen_id == account.citizen_id))
    if share is None:
        raise NotFound("No such data share.", code="data_share.not_found")
    if share.erasure_requested_at is not None:
        raise Conflict("Erasure was already requested for this data.",
                       code="data_share.erasure_already_requested")
    share.erasure_requested_at = clock.now()
    record_event(db_session=db_session, actor=actor, action="rp.erasure_requested",
                 subject_type="citizen", subject_id=account.citizen_id,
                 details={"by": share.party.name, "share_id": share.id})
    db_session.commit()
    return share


def erasure_requests(*, db_session: Session, party: RelyingParty, pending_only: bool,
                     page: int, per_page: int) -> tuple[list[DataShare], int]:
    """The party's erasure requests, oldest first (the pending ones by default)."""
    query = sa.select(DataShare).where(DataShare.party_id == party.id,
                                       DataShare.erasure_requested_at.is_not(None))
    if pending_only:
        query = query.where(DataShare.erasure_acknowledged_at.is_(None))
    return paginate(db_session, query.order_by(DataShare.erasure_requested_at, DataShare.id),
                    page=page, per_page=per_page)


def acknowledge_erasure(*, db_session: Session, actor: Actor, party: RelyingParty,
                        share_id: int) -> DataShare:
    """The party says it deleted the data; the citizen sees it (idempotent)."""
    share = db_session.scalar(sa.select(DataShare).where(
        DataShare.id == share_id, DataShare.party_id == party.id,
        DataShare.erasure_requested_at.is_not(None)))
    if share is None:
        raise NotFound("No such erasure request.", code="erasure.not_found")
    if share.erasure_acknowledged_at is None:
        share.erasure_acknowledged_at = clock.now()
        record_event(db_session=db_session, actor=party_actor(party, actor),
                     action="rp.erasure_acknowledged", subject_type="citizen",
                     subject_id=share.citizen_id,
                     details={"by": party.name, "share_id": share.id})
    db_session.commit()
    return share


def consent_fields(request: ConsentRequest) -> Mapping[str, Any]:
    """A consent request as the citizen sees it: the party's name and kind, and the ask."""
    return {"id": request.id, "party": request.party.name, "party_kind": request.party.kind,
            "attributes": request.attribute_list(), "purpose": request.purpose,
            "status": request.status, "created_at": request.created_at,
            "expires_at": request.expires_at, "decided_at": request.decided_at,
            "callback": request.callback_state != "none"}
