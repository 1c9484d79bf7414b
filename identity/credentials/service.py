"""Issuing, showing, verifying online and revoking VN1 credentials.

Issuing is a sensitive act: the passcode confirms it. The signed text is kept
(encrypted) in Redis only for the credential's life, so its QR image can be
rendered once and cached, encrypted too: the image encodes the same personal
data as the text (anyone who decodes a PNG reads the holder's id and name), so
it is sealed by the protector with a context that binds it to the credential
and the image kind. The database keeps only what revocation and one-time use
need, never the claims.
"""
from __future__ import annotations

import base64
import datetime as dt
import io
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

import redis
import segno
import sqlalchemy as sa
from sqlalchemy.orm import Session

from identity import clock
from identity.accounts.passcode import confirm_passcode
from identity.accounts.models import ACTIVE, Account, Officer
from identity.accounts.officers import in_jurisdiction, officer_actor, unit_name
from identity.accounts.errors import OutsideJurisdiction
from identity.audit.service import Actor, record_event
from identity.credentials import keys, types, vn1
from identity.credentials.errors import (CredentialExpired, CredentialNotFound, CredentialRevoked,
                                         LevelTooLow, SigningUnavailable, UnknownType)
from identity.credentials.keys import KeyRing
from identity.credentials.models import REVOKED, Credential, IssuerKey
from identity.database import Statement, leave_autocommit, paginate
from identity.errors import Conflict
from identity.monitoring.counters import bump
from identity.protection import KeyMaterialError, Protector
from identity.registry.models import Citizen

IMAGE_KINDS = {"png": "image/png", "svg": "image/svg+xml"}
_CREDENTIALS = cast(sa.Table, Credential.__table__)
_TEXT_CONTEXT = b"credential/text/"
_IMAGE_CONTEXT = b"credential/image/"


@dataclass(frozen=True)
class Issued:
    """A new credential: its id, text and expiry."""

    credential_id: str
    qr: str
    expires_at: dt.datetime
    type: str


def _text_key(credential_id: str) -> str:
    return f"credential:{credential_id}:text"


def _image_key(credential_id: str, kind: str) -> str:
    return f"credential:{credential_id}:{kind}"


def _image_context(credential_id: str, kind: str) -> bytes:
    """What a cached image is bound to: a sealed PNG of one credential opens for it only."""
    return _IMAGE_CONTEXT + kind.encode() + b"/" + credential_id.encode()


def _seal_image(protector: Protector, credential_id: str, kind: str, image: bytes) -> bytes:
    """The image as cached: encrypted and bound to its credential and kind."""
    return protector.encrypt(base64.b64encode(image).decode("ascii"),
                             context=_image_context(credential_id, kind))


def _open_image(protector: Protector, credential_id: str, kind: str, sealed: bytes) -> bytes:
    """A cached image, opened (:class:`KeyMaterialError` if it is not one of ours)."""
    return base64.b64decode(protector.decrypt(sealed,
                                              context=_image_context(credential_id, kind)))


def _lifetime(credential_type: types.CredentialType, lifetimes: Mapping[str, int]) -> int:
    return int(lifetimes.get(credential_type.name, credential_type.lifetime))


def issue_credential(*, db_session: Session, redis_client: redis.Redis, protector: Protector,
                     key_ring: KeyRing, actor: Actor, account: Account, credential_type: str,
                     passcode: str, audience: str | None = None, nonce: str | None = None,
                     lifetimes: Mapping[str, int] | None = None) -> Issued:
    """Sign a credential of ``credential_type`` for the account holder, confirmed by passcode."""
    kind = types.credential_types().get(credential_type)
    if kind is None:
        raise UnknownType(field="type")
    if account.level < kind.min_level:  # before the passcode: no try is spent on it
        raise LevelTooLow()
    confirm_passcode(db_session=db_session, actor=actor, account=account, passcode=passcode)
    issued = sign_credential(db_session=db_session, redis_client=redis_client,
                             protector=protector, key_ring=key_ring, actor=actor,
                             account=account, credential_type=kind.name,
                             claims=kind.claims(db_session, account),
                             lifetime=_lifetime(kind, lifetimes or {}),
                             audience=audience, nonce=nonce)
    db_session.commit()
    return issued


def sign_credential(*, db_session: Session, redis_client: redis.Redis, protector: Protector,
                    key_ring: KeyRing, actor: Actor, account: Account, credential_type: str,
                    claims: Mapping[str, Any], lifetime: int, audience: str | None = None,
                    nonce: str | None = None) -> Issued:
    """Sign ``claims`` as a VN1 credential held by ``account``, in the caller's transaction.

    The building block of every issuer (identity types, consent, receipts,
    documents): it keeps the row that revocation and one-time use need, the
    audit event, the usage counter, and the sealed text for the QR image. The
    caller checks that the holder may have it and commits.
    """
    issued_at = clock.now()
    iat = int(issued_at.timestamp())
    expires_at = dt.datetime.fromtimestamp(iat + lifetime, dt.timezone.utc)
    cti = os.urandom(16)
    credential_id = cti.hex()
    for _attempt in range(2):
        kid, private_key = key_ring.signing_key(db_session, protector)
        text = vn1.encode(private_key=private_key, issuer=key_ring.issuer, issued_at=iat,
                          expires_at=int(expires_at.timestamp()), credential_id=cti,
                          credential_type=credential_type, claims=dict(claims),
                          audience=audience, nonce=nonce)
        # One INSERT, sent now, written only if the key is still the active one.
        written = keys.INSERT_IF_ACTIVE.rows(db_session, {
            "id": credential_id, "account_id": account.id, "citizen_id": account.citizen_id,
            "type": credential_type, "kid": kid, "audience": audience,
            "issued_at": issued_at, "expires_at": expires_at})
        if written:
            break
        key_ring.forget_signing_key()  # retired or revoked since this process read its kid
    else:  # the key changed twice under this issue: refuse rather than guess again
        raise SigningUnavailable()
    citizen = account.citizen
    record_event(db_session=db_session, actor=actor, action="credential.issued",
                 subject_type="citizen", subject_id=account.citizen_id,
                 details={"type": credential_type, "credential_id": credential_id,
                          "audience": audience})
    bump(db_session, metric="credentials.issued", province_code=citizen.province_code,
         commune_code=citizen.commune_code)
    # Kept for the image only, for the credential's life; sealed like other personal data.
    redis_client.set(_text_key(credential_id),
                     protector.encrypt(text, context=_TEXT_CONTEXT + credential_id.encode()),
                     exat=int(expires_at.timestamp()))
    return Issued(credential_id=credential_id, qr=text, expires_at=expires_at,
                  type=credential_type)


def _own_credential(db_session: Session, account: Account, credential_id: str) -> Credential:
    credential = db_session.get(Credential, credential_id)
    if credential is None or credential.account_id != account.id:
        raise CredentialNotFound()
    return credential


def render_qr(text: str, kind: str) -> bytes:
    """The QR of a ``VN1:`` text: alphanumeric mode, error correction M, never boosted."""
    code = segno.make(text, error="m", mode="alphanumeric", boost_error=False, micro=False)
    out = io.BytesIO()
    if kind == "png":
        code.save(out, kind="png", scale=4, border=4)
    else:
        code.save(out, kind="svg", scale=4, border=4, xmldecl=False)
    return out.getvalue()


def credential_image(*, db_session: Session, redis_client: redis.Redis, protector: Protector,
                     account: Account, credential_id: str, kind: str) -> bytes:
    """The QR image of one of the holder's live credentials, rendered once and cached
    (sealed: the image holds the credential's personal data)."""
    credential = _own_credential(db_session, account, credential_id)
    if credential.revoked_at is not None:
        raise CredentialRevoked()
    if credential.expires_at <= clock.now():
        raise CredentialExpired()
    cached = redis_client.get(_image_key(credential_id, kind))
    if cached is not None:  # the client is made without decode_responses
        try:
            return _open_image(protector, credential_id, kind, cast(bytes, cached))
        except KeyMaterialError:  # cached before images were sealed, or under a retired key
            pass
    sealed = redis_client.get(_text_key(credential_id))
    if sealed is None:  # expired in Redis a moment before the database said so
        raise CredentialExpired()
    text = protector.decrypt(cast(bytes, sealed),
                             context=_TEXT_CONTEXT + credential_id.encode())
    image = render_qr(text, kind)
    redis_client.set(_image_key(credential_id, kind),
                     _seal_image(protector, credential_id, kind, image),
                     exat=int(credential.expires_at.timestamp()))
    return image


def list_credentials(*, db_session: Session, account: Account, page: int,
                     per_page: int) -> tuple[list[Credential], int]:
    """The holder's credentials, newest first."""
    return paginate(db_session, sa.select(Credential).where(Credential.account_id == account.id)
                    .order_by(Credential.issued_at.desc(), Credential.id),
                    page=page, per_page=per_page)


def _revoke(db_session: Session, actor: Actor, credential: Credential, revoked_by: str,
            **details: Any) -> Credential:
    if credential.revoked_at is not None:
        raise Conflict("The credential is already revoked.", code="credential.already_revoked")
    credential.revoked_at, credential.revoked_by = clock.now(), revoked_by
    record_event(db_session=db_session, actor=actor, action="credential.revoked",
                 subject_type="citizen", subject_id=credential.citizen_id,
                 details={"credential_id": credential.id, "type": credential.type, **details})
    db_session.commit()
    return credential


def revoke_own(*, db_session: Session, actor: Actor, account: Account,
               credential_id: str) -> Credential:
    """The holder revokes one of their credentials."""
    return _revoke(db_session, actor, _own_credential(db_session, account, credential_id),
                   "holder")


def revoke_by_officer(*, db_session: Session, actor: Actor, officer: Officer,
                      credential_id: str) -> Credential:
    """An officer revokes a credential of a citizen of their jurisdiction."""
    credential = db_session.get(Credential, credential_id)
    if credential is None:
        raise CredentialNotFound("No credential has this id.")
    citizen = db_session.get(Citizen, credential.citizen_id)
    assert citizen is not None
    acting = officer_actor(officer, actor)
    if not in_jurisdiction(officer, citizen.province_code, citizen.commune_code):
        record_event(db_session=db_session, actor=acting, action="credential.revoke_refused",
                     subject_type="citizen", subject_id=citizen.id,
                     details={"reason": "outside_jurisdiction", "by": unit_name(officer)})
        db_session.commit()
        raise OutsideJurisdiction()
    return _revoke(db_session, acting, credential, f"officer:{officer.id}",
                   by=unit_name(officer))


@dataclass(frozen=True)
class Verification:
    """The answer of the online verifier."""

    valid: bool
    reason: str | None
    type: str | None = None
    claims: dict[str, Any] | None = None
    expires_at: dt.datetime | None = None
    credential_id: str | None = None


def verify_online(*, db_session: Session, key_ring: KeyRing, actor: Actor, verifier: str,
                  qr: str, audience: str | None = None, nonce: str | None = None,
                  leeway: int = vn1.MAX_LEEWAY) -> Verification:
    """The offline checks, then the credential's status; recorded in the holder's access log.

    ``verifier`` is the name the citizen reads in their access log (a police
    unit, a bank). A text that fails before its signature verifies names no
    citizen; it is audited without a subject. The credential's row comes
    with its key's current status and its holder's place in one query, so a
    key revoked a moment ago is refused even by a process whose cached trust
    list still calls it active. The holder's account comes with it too: a
    credential speaks for its account only while that account is ``active``,
    so one shown from a phone its owner has since locked (lost), or from an
    account since closed or superseded, answers ``revoked`` online (offline
    verifiers rely on the short lifetime).
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
        return _failed(db_session, actor, verifier, error)
    found = _credential_row(db_session, verified.credential_id)
    if found is None:
        return _record(db_session, actor, verifier, None, "revoked", verified)
    if found.key_status == REVOKED:
        return _record(db_session, actor, verifier, found, "key_revoked", verified)
    if found.revoked_at is not None or found.account_status != ACTIVE:
        return _record(db_session, actor, verifier, found, "revoked", verified)
    kind = types.credential_types().get(found.type)
    if kind is not None and kind.one_time:
        leave_autocommit(db_session)  # its first use and its access-log row commit together
        if not _USE_ONCE.rows(db_session, {"credential_id": found.id, "now": now}):
            return _record(db_session, actor, verifier, found, "already_used", verified)
    return _record(db_session, actor, verifier, found, None, verified)


_KEYS, _ACCOUNTS, _CITIZENS = IssuerKey.__table__, Account.__table__, Citizen.__table__

#: A credential's row with its key's status, its account's status and its holder's place: one
#: Core statement, built once (no ORM entity, no statement rebuilt per request).
_FOUND = Statement(
    sa.select(_CREDENTIALS.c.id, _CREDENTIALS.c.citizen_id, _CREDENTIALS.c.type,
              _CREDENTIALS.c.revoked_at, _KEYS.c.status.label("key_status"),
              _ACCOUNTS.c.status.label("account_status"), _CITIZENS.c.province_code,
              _CITIZENS.c.commune_code)
    .select_from(_CREDENTIALS.join(_KEYS, _KEYS.c.kid == _CREDENTIALS.c.kid)
                 .join(_ACCOUNTS, _ACCOUNTS.c.id == _CREDENTIALS.c.account_id)
                 .join(_CITIZENS, _CITIZENS.c.id == _CREDENTIALS.c.citizen_id))
    .where(_CREDENTIALS.c.id == sa.bindparam("credential_id")))

#: A one-time credential's first use: only one verification can set ``used_at``.
_USE_ONCE = Statement(sa.update(_CREDENTIALS)
                      .where(_CREDENTIALS.c.id == sa.bindparam("credential_id"),
                             _CREDENTIALS.c.used_at.is_(None))
                      .values(used_at=sa.bindparam("now")).returning(_CREDENTIALS.c.id))


@dataclass(frozen=True)
class _Found:
    """A credential's id, holder, type and revocation, its key's and account's status, and
    its holder's place (the columns of :data:`_FOUND`)."""

    id: str
    citizen_id: int
    type: str
    revoked_at: dt.datetime | None
    key_status: str
    account_status: str
    province_code: str
    commune_code: str


def _credential_row(db_session: Session, credential_id: bytes) -> _Found | None:
    row = _FOUND.first(db_session, {"credential_id": credential_id.hex()})
    return None if row is None else _Found(*row)


def _failed(db_session: Session, actor: Actor, verifier: str,
            error: vn1.VerificationError) -> Verification:
    """A failed check; when the signature itself verified, the holder is known and told."""
    found = (_credential_row(db_session, error.credential_id)
             if error.credential_id is not None else None)
    return _record(db_session, actor, verifier, found, error.reason, None)


def _record(db_session: Session, actor: Actor, verifier: str, found: _Found | None,
            reason: str | None, verified: vn1.Verified | None) -> Verification:
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
    db_session.commit()
    if reason is not None or verified is None:
        return Verification(valid=False, reason=reason)
    return Verification(valid=True, reason=None, type=verified.credential_type,
                        claims=verified.claims,
                        expires_at=dt.datetime.fromtimestamp(verified.expires_at,
                                                             dt.timezone.utc),
                        credential_id=verified.credential_id.hex())
