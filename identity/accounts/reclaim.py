"""Reclaiming an identity at a police office, when someone else registered it (squatting).

Anyone holding a stranger's ID-card details can register an account in the
stranger's name with a phone of their own (it waits for review), or an
officer may have approved such an account by mistake. The real citizen comes
to a police office of their jurisdiction with the chip ID card and the phone
they want bound; the officer checks them in person (face or fingerprint, as
for level 2) and starts a reclaim:

- the citizen's open account, whatever its state (pending, rejected, locked,
  or active but disputed), is closed at once: its tokens, sessions, devices
  and credentials stop working and it is told why;
- a code goes by SMS to the phone given in person; the citizen confirms on
  that phone with the code, a password and a passcode, through the
  registration confirmation (``POST /api/v1/accounts/registrations/{id}/confirm``),
  and gets an active level-2 account bound to the device registered at the
  desk, the officer recorded as for any level-2 check.

Only an officer of the citizen's jurisdiction (their residence in the
registry) may do it; for any other officer the citizen does not exist, as for
an unknown personal id: the same 404, so the desk is no oracle. Every step is
audited with the citizen as subject, so it shows in the citizen's access log.
"""
from __future__ import annotations

from dataclasses import dataclass

import redis
from sqlalchemy.orm import Session

from identity.accounts import codes
from identity.accounts.account import get_account_of
from identity.accounts.device_keys import load_device_key
from identity.accounts.levels import check_card, check_in_person
from identity.accounts.models import Officer
from identity.accounts.officers import in_jurisdiction, officer_actor, unit_name
from identity.accounts.registration import RECLAIMED_TEXT, close_account
from identity.accounts.sms import SmsGateway
from identity.audit.service import Actor, record_event
from identity.credentials.vn1 import b64url
from identity.errors import NotFound
from identity.protection import Protector
from identity.registry.models import Citizen
from identity.registry.normalise import mask_phone
from identity.registry.service import PHONE_PURPOSE, get_citizen


@dataclass(frozen=True)
class ReclaimStarted:
    """What the officer's console shows: the registration to confirm on the citizen's phone."""

    registration_id: str
    phone_masked: str
    expires_in: int
    superseded_status: str | None


def _citizen_of_jurisdiction(db_session: Session, actor: Actor, officer: Officer,
                             personal_id: str) -> Citizen:
    """The citizen, if they live in the officer's jurisdiction; else the same 404 as unknown."""
    citizen = get_citizen(db_session=db_session, personal_id=personal_id)
    if citizen is not None and in_jurisdiction(officer, citizen.province_code,
                                               citizen.commune_code):
        return citizen
    if citizen is not None:  # told to the citizen's access log, never to the officer
        record_event(db_session=db_session, actor=officer_actor(officer, actor),
                     action="account.reclaim_refused", subject_type="citizen",
                     subject_id=citizen.id,
                     details={"reason": "outside_jurisdiction", "by": unit_name(officer)})
        db_session.commit()
    raise NotFound("No citizen of your jurisdiction has this personal id.",
                   code="citizen.not_found")


def reclaim_identity(*, db_session: Session, redis_client: redis.Redis, protector: Protector,
                     sms: SmsGateway, actor: Actor, officer: Officer, personal_id: str,
                     card_number: str, check: str, device_id: str, device_public_key: bytes,
                     phone: str, reason: str) -> ReclaimStarted:
    """Close the citizen's open account and start their own, checked in person at the desk."""
    check_in_person(check)
    load_device_key(device_public_key)
    citizen = _citizen_of_jurisdiction(db_session, actor, officer, personal_id)
    check_card(card_number, citizen)
    codes.count_send(redis_client=redis_client, protector=protector, phone=phone)
    acting = officer_actor(officer, actor)
    existing = get_account_of(db_session=db_session, citizen_id=citizen.id)
    superseded = existing.status if existing is not None else None
    if existing is not None:
        close_account(db_session, account=existing, actor=acting, reason="reclaimed",
                      text=RECLAIMED_TEXT)
    ref, code = codes.start(redis_client=redis_client, protector=protector,
                            purpose="registration", payload={
                                "citizen_id": citizen.id,
                                "phone": b64url(protector.encrypt(
                                    phone, context=b"registration/phone")),
                                "phone_matches": citizen.phone_hash == protector.lookup_hash(
                                    phone, purpose=PHONE_PURPOSE),
                                "device_id": device_id,
                                "device_public_key": b64url(device_public_key),
                                "reclaim": {"officer_id": officer.id, "check": check}})
    sms.send(db_session=db_session, phone=phone,
             text=f"VNeID: ma xac thuc lay lai tai khoan dinh danh cua ban la {code}. "
                  "Ma co hieu luc 5 phut. Khong cung cap ma nay cho bat ky ai.")
    record_event(db_session=db_session, actor=acting, action="account.reclaim_started",
                 subject_type="citizen", subject_id=citizen.id,
                 details={"by": unit_name(officer), "check": check, "reason": reason,
                          "superseded_status": superseded, "device_id": device_id})
    db_session.commit()
    return ReclaimStarted(registration_id=ref, phone_masked=mask_phone(phone),
                          expires_in=codes.CODE_TTL_SECONDS, superseded_status=superseded)
