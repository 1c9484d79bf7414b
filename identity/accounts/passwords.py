"""Changing a password, and resetting a forgotten one.

- **Change** (logged in): the current password and the passcode confirm the
  new password. Every other session of the account ends; the session that
  asked gets new tokens.
- **Reset** (forgotten): the bound device signs a login challenge, then a
  code goes to the account's phone; the code and a new password end every
  session. Two factors the citizen holds (the device key, the SIM) stand in
  for the password forgotten.

Only an ``active`` account may reset its password. A ``locked`` one may not:
a lock says the phone was lost or its passcode guessed at, so the device and
the SIM are the very things no longer trusted, and a reset would turn a
stolen phone into the account. A locked citizen unlocks first (password and
SMS code) or goes to a police office (in-person rebind, which also unlocks).
``pending_review``, ``rejected`` and ``closed`` accounts speak for nobody yet
or any more (``capabilities.py``).

Password tries are counted before the password is compared: by the per
personal id budget of the authentication endpoints, in Redis (``auth_limits``
in ``app/auth.py``, shared with logins for the same id), before the view runs.
"""
from __future__ import annotations

import redis
import sqlalchemy as sa
from sqlalchemy.orm import Session

from identity import clock
from identity.accounts import codes
from identity.accounts.account import account_phone, revoke_sessions
from identity.accounts.device_keys import signature_valid
from identity.accounts.devices import active_device
from identity.accounts.errors import InvalidCode, InvalidToken, TooManySms, WeakPassword, \
    WrongPassword
from identity.accounts.models import ACTIVE, Account, SessionFamily
from identity.accounts.secrets import check_password, hash_secret, verify_secret
from identity.accounts.notifications import notify
from identity.accounts.passcode import confirm_passcode
from identity.accounts.sessions import Grant, citizen_grant, consume_challenge, login_subject
from identity.accounts.sms import SmsGateway
from identity.audit.service import Actor, record_event
from identity.protection import Protector

RESET_PURPOSE = "password_reset"


def _audit(db_session: Session, actor: Actor, action: str, citizen_id: int | None,
           **details: object) -> None:
    record_event(db_session=db_session, actor=actor, action=action,
                 subject_type="citizen" if citizen_id is not None else None,
                 subject_id=citizen_id, details=details)


# --- Change ------------------------------------------------------------------------------------

def change_password(*, db_session: Session, actor: Actor, account: Account, session_id: str,
                    password: str, new_password: str, passcode: str) -> Grant:
    """Replace the password, confirmed by the current one and the passcode.

    The new password is checked first (a weak one costs no try). A wrong
    current password is :class:`WrongPassword`, audited; the passcode is
    then confirmed as for any sensitive act (counted, five wrong lock).
    Every other session of the account is revoked and every access token
    issued before stops working; the session ``session_id`` goes on, and
    the grant returned gives it new tokens.
    """
    new_password = check_password(new_password)
    if not verify_secret(account.password_hash, password):
        _audit(db_session, actor, "password.change_failed", account.citizen_id,
               reason="password_wrong")
        db_session.commit()
        raise WrongPassword(field="password")
    if new_password == password:
        raise WeakPassword("The new password is the current one.", code="password.unchanged",
                           field="new_password")
    confirm_passcode(db_session=db_session, actor=actor, account=account, passcode=passcode)
    family = db_session.get(SessionFamily, session_id)
    if family is None or family.account_id != account.id or family.revoked_at is not None:
        db_session.rollback()
        raise InvalidToken()
    account.password_hash = hash_secret(new_password)
    db_session.execute(sa.update(SessionFamily)
                       .where(SessionFamily.account_id == account.id,
                              SessionFamily.revoked_at.is_(None), SessionFamily.id != family.id)
                       .values(revoked_at=clock.now(), revoke_reason="password_changed")
                       .execution_options(synchronize_session=False))
    account.token_version += 1
    family.generation += 1  # the refresh token held before is now an old generation
    _audit(db_session, actor, "password.changed", account.citizen_id)
    notify(db_session=db_session, account_id=account.id, kind="password.changed",
           text="Your password was changed; every other session was signed out. If this was "
                "not you, lock your account and visit a police office.")
    grant = citizen_grant(account, family)
    db_session.commit()
    return grant


# --- Reset -------------------------------------------------------------------------------------

def request_password_reset(*, db_session: Session, redis_client: redis.Redis,
                           protector: Protector, sms: SmsGateway, actor: Actor,
                           personal_id: str, device_id: str, challenge_id: str,
                           signature: bytes) -> str:
    """Start resetting a forgotten password; returns the reset's id.

    The bound device must sign the nonce of a challenge (``create_challenge``)
    made for this personal id and device. The answer is the same id-shaped
    reference whatever happens (unknown id, no account, not active, another
    device, bad signature, SMS budget spent): only when everything holds
    does a code go to the account's phone; otherwise the reference leads
    nowhere and the cause is in the audit log. Both paths read the same rows
    and commit one write, so the time taken says little either.
    """
    nonce, failure = consume_challenge(redis_client, protector, challenge_id, personal_id,
                                       device_id)
    citizen_id, account = login_subject(db_session, personal_id)
    if account is None:
        failure = failure or "no_account"
    elif account.status != ACTIVE:
        failure = failure or f"account_{account.status}"
    elif account.device_id is None or account.device_id != device_id:
        failure = failure or "device_not_bound"
    elif nonce is not None and not signature_valid(account.public_key or b"", signature, nonce):
        failure = failure or "signature_invalid"
    if failure is None and account is not None:
        try:
            codes.count_send(redis_client=redis_client, protector=protector,
                             phone=account_phone(protector=protector, account=account))
        except TooManySms:
            failure = "sms_budget_spent"  # told to nobody: a 429 here would say the id exists
    granted = failure is None and account is not None
    ref, code = codes.start(redis_client=redis_client, protector=protector,
                            purpose=RESET_PURPOSE,
                            payload={"account_id": account.id if granted and account else None,
                                     "device_id": device_id})
    if granted and account is not None:
        sms.send(db_session=db_session, phone=account_phone(protector=protector, account=account),
                 text=f"VNeID: ma dat lai mat khau cua ban la {code}. Co hieu luc 5 phut. "
                      "Neu ban khong yeu cau, hay khoa tai khoan ngay.")
        _audit(db_session, actor, "password.reset_requested", account.citizen_id,
               device_id=device_id)
    else:
        _audit(db_session, actor, "password.reset_refused", citizen_id, reason=failure)
    db_session.commit()
    return ref


def confirm_password_reset(*, db_session: Session, redis_client: redis.Redis,
                           protector: Protector, actor: Actor, reset_id: str, otp: str,
                           new_password: str) -> Account:
    """Set the new password with the SMS code; every session and access token ends.

    The new password is checked before the code is used, so a weak one costs
    no code. The account must still be active with the same device bound.
    """
    new_password = check_password(new_password)
    payload = codes.consume(redis_client=redis_client, protector=protector,
                            purpose=RESET_PURPOSE, ref=reset_id, code=otp)
    account = db_session.get(Account, payload["account_id"]) if payload["account_id"] else None
    if account is None or account.status != ACTIVE:
        raise InvalidCode()
    device = active_device(db_session=db_session, account_id=account.id)
    if device is None or device.device_id != payload["device_id"]:
        raise InvalidCode()
    account.password_hash = hash_secret(new_password)
    revoke_sessions(db_session, account, "password_reset")
    _audit(db_session, actor, "password.reset", account.citizen_id, device_id=device.device_id)
    notify(db_session=db_session, account_id=account.id, kind="password.reset",
           text="Your password was reset with your phone; every session was signed out. If "
                "this was not you, lock your account and visit a police office.")
    db_session.commit()
    return account
