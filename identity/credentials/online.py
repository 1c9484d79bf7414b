"""Online verification of a VN1 credential: the offline checks, then the state of its row,
recorded in the holder's access log (:func:`verify_online`).

Who verifies is either named by the caller (a relying party, checked by its route), or an
officer whose access token's signature was checked (:class:`OfficerVerifier`): the
officer's row is then read in the same statement as the credential's, and checked before
anything is recorded or answered. Deactivating an officer or logging them out still takes
effect on their next request; what an officer with such a token still gets is the work of
the QR's own checks done before the refusal (two ECDSA verifications), never an answer. One
round trip less on the checkpoints' hot path.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.orm import Session

from identity import clock
from identity.accounts.models import ACTIVE, Account, Officer
from identity.accounts.officers import (OfficerToken, checked_officer_row, officer_actor,
                                        unit_name)
from identity.audit.service import Actor, record_event
from identity.audit.writer import commit_recorded
from identity.autocommit import leave_autocommit
from identity.credentials import types, vn1
from identity.credentials.keys import KeyRing
from identity.credentials.models import REVOKED, Credential, IssuerKey
from identity.database import CallerWith, Statement
from identity.monitoring.counters import bump
from identity.registry.models import Citizen


@dataclass(frozen=True)
class Verification:
    """The answer of the online verifier."""

    valid: bool
    reason: str | None
    type: str | None = None
    claims: dict[str, Any] | None = None
    expires_at: dt.datetime | None = None
    credential_id: str | None = None


@dataclass
class OfficerVerifier:
    """An officer verifying, whose access token's signature checked (``token``); ``base`` is
    the request's actor before authentication. Their row is read with the credential's and
    checked (:func:`identity.accounts.officers.checked_officer_row`) before anything is
    recorded or answered; ``row`` holds it afterwards."""

    token: OfficerToken
    base: Actor
    row: Any = None


def verify_online(*, db_session: Session, key_ring: KeyRing, qr: str,
                  actor: Actor | None = None, verifier: str | None = None,
                  officer: OfficerVerifier | None = None, audience: str | None = None,
                  nonce: str | None = None, leeway: int = vn1.MAX_LEEWAY) -> Verification:
    """The offline checks, then the credential's status; recorded in the holder's access log.

    Who verifies: ``actor`` and ``verifier`` (the name the citizen reads in their access
    log, e.g. a bank's), or ``officer`` (their unit's name; the module's doc). A text that
    fails before its signature verifies names no citizen; it is audited without a subject.
    The credential's row comes with its key's current status and its holder's place in one
    query, so a key revoked a moment ago is refused even by a process whose cached trust
    list still calls it active. The holder's account comes with it too: a credential speaks
    for its account only while that account is ``active``, so one shown from a phone its
    owner has since locked (lost), or from an account since closed or superseded, answers
    ``revoked`` online (offline verifiers rely on the short lifetime).
    """
    now = clock.now()
    try:
        try:
            verified = vn1.verify(qr, key_ring.trust_list(db_session), now=now.timestamp(),
                                  audience=audience, nonce=nonce, leeway=leeway)
        except vn1.VerificationError as error:
            if error.reason != "unknown_key":
                raise
            # A key rotated in by another process since this one read the trust list.
            verified = vn1.verify(qr, key_ring.trust_list(db_session, reload=True),
                                  now=now.timestamp(), audience=audience, nonce=nonce,
                                  leeway=leeway)
    except vn1.VerificationError as error:
        # When the signature itself verified, the holder is known and told.
        found = _lookup(db_session, error.credential_id, officer)
        return _record(db_session, _who(actor, verifier, officer), found, error.reason, None)
    found = _lookup(db_session, verified.credential_id, officer)
    who = _who(actor, verifier, officer)
    if found is None:
        return _record(db_session, who, None, "revoked", verified)
    if found.key_status == REVOKED:
        return _record(db_session, who, found, "key_revoked", verified)
    if found.revoked_at is not None or found.account_status != ACTIVE:
        return _record(db_session, who, found, "revoked", verified)
    kind = types.credential_types().get(found.type)
    if kind is not None and kind.one_time:
        leave_autocommit(db_session)  # its first use and its access-log row commit together
        if not _USE_ONCE.rows(db_session, {"credential_id": found.id, "now": now}):
            return _record(db_session, who, found, "already_used", verified)
    return _record(db_session, who, found, None, verified)


_CREDENTIALS, _OFFICERS = (cast(sa.Table, model.__table__) for model in (Credential, Officer))
_KEYS, _ACCOUNTS, _CITIZENS = (cast(sa.Table, model.__table__)
                               for model in (IssuerKey, Account, Citizen))
#: A credential's id, holder, type and revocation, its key's and account's status, and its
#: holder's place.
_FOUND_COLUMNS = (_CREDENTIALS.c.id, _CREDENTIALS.c.citizen_id, _CREDENTIALS.c.type,
                  _CREDENTIALS.c.revoked_at, _KEYS.c.status.label("key_status"),
                  _ACCOUNTS.c.status.label("account_status"), _CITIZENS.c.province_code,
                  _CITIZENS.c.commune_code)
_WITH_KEY_AND_HOLDER = (_CREDENTIALS.join(_KEYS, _KEYS.c.kid == _CREDENTIALS.c.kid)
                        .join(_ACCOUNTS, _ACCOUNTS.c.id == _CREDENTIALS.c.account_id)
                        .join(_CITIZENS, _CITIZENS.c.id == _CREDENTIALS.c.citizen_id))
#: The credential's row (:data:`_FOUND_COLUMNS`): one Core statement, built once.
_FOUND = Statement(sa.select(*_FOUND_COLUMNS).select_from(_WITH_KEY_AND_HOLDER)
                   .where(_CREDENTIALS.c.id == sa.bindparam("credential_id")))
#: The officer's row (as :func:`identity.accounts.officers.officer_row_for_token` gives it),
#: then the credential's (None when there is none): one statement.
_FOUND_BY_OFFICER = CallerWith(_OFFICERS, "officer", _FOUND_COLUMNS, _WITH_KEY_AND_HOLDER,
                               _CREDENTIALS.c.id == sa.bindparam("credential_id"))

#: A one-time credential's first use: only one verification can set ``used_at``.
_USE_ONCE = Statement(sa.update(_CREDENTIALS)
                      .where(_CREDENTIALS.c.id == sa.bindparam("credential_id"),
                             _CREDENTIALS.c.used_at.is_(None))
                      .values(used_at=sa.bindparam("now")).returning(_CREDENTIALS.c.id))


@dataclass(frozen=True)
class _Found:
    """A credential's row (the columns of :data:`_FOUND_COLUMNS`)."""

    id: str
    citizen_id: int
    type: str
    revoked_at: dt.datetime | None
    key_status: str
    account_status: str
    province_code: str
    commune_code: str


def _lookup(db_session: Session, credential_id: bytes | None,
            officer: OfficerVerifier | None) -> _Found | None:
    """The credential's row (None: no such credential, or no id); with ``officer``, their
    row read and checked in the same statement first (``InvalidToken`` if not current)."""
    wanted = None if credential_id is None else credential_id.hex()
    if officer is None:
        row = None if wanted is None else _FOUND.first(db_session, {"credential_id": wanted})
        return None if row is None else _Found(*row)
    row, found = _FOUND_BY_OFFICER.first(db_session, {"officer_id": officer.token.officer_id,
                                                      "credential_id": wanted})
    officer.row = checked_officer_row(row, officer.token.token_version)
    return None if found is None else _Found(*found)


def _who(actor: Actor | None, verifier: str | None,
         officer: OfficerVerifier | None) -> tuple[Actor, str]:
    """The audit actor and the name the citizen reads, of whoever verifies."""
    if officer is not None:
        return officer_actor(officer.row, officer.base), unit_name(officer.row)
    if actor is None or verifier is None:
        raise TypeError("verify_online needs actor and verifier, or officer")
    return actor, verifier


def _record(db_session: Session, who: tuple[Actor, str], found: _Found | None,
            reason: str | None, verified: vn1.Verified | None) -> Verification:
    actor, verifier = who
    details = {"by": verifier, "result": reason or "valid"}
    if found is not None:
        details.update(credential_id=found.id, type=found.type)
        record_event(db_session=db_session, actor=actor, action="credential.verified",
                     subject_type="citizen", subject_id=found.citizen_id, details=details)
        bump(db_session, metric="credentials.verified", province_code=found.province_code,
             commune_code=found.commune_code)
    else:
        record_event(db_session=db_session, actor=actor, action="credential.verified",
                     details=details)
    commit_recorded(db_session)
    if reason is not None or verified is None:
        return Verification(valid=False, reason=reason)
    return Verification(valid=True, reason=None, type=verified.credential_type,
                        claims=verified.claims,
                        expires_at=dt.datetime.fromtimestamp(verified.expires_at,
                                                             dt.timezone.utc),
                        credential_id=verified.credential_id.hex())
