"""Issuing, showing and revoking VN1 credentials (verifying online: :mod:`.online`).

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
from identity.accounts.models import Account, Officer
from identity.accounts.officers import in_jurisdiction, officer_actor, unit_name
from identity.accounts.errors import OutsideJurisdiction
from identity.audit.service import Actor, record_event
from identity.credentials import keys, types, vn1_signing
from identity.credentials.errors import (CredentialExpired, CredentialNotFound, CredentialRevoked,
                                         LevelTooLow, SigningUnavailable, UnknownType)
from identity.credentials.keys import KeyRing
from identity.credentials.models import Credential
from identity.database import commit_keeping_state, paginate
from identity.errors import Conflict
from identity.kept_redis import kept_for
from identity.monitoring.counters import bump
from identity.protection import KeyMaterialError, Protector
from identity.registry.service import citizen_by_id

IMAGE_KINDS = {"png": "image/png", "svg": "image/svg+xml"}
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
    commit_keeping_state(db_session)  # the answer reads nothing of the session's objects
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
        text = vn1_signing.encode(private_key=private_key, issuer=key_ring.issuer, issued_at=iat,
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
    kept_for(redis_client).command(
        "SET", _text_key(credential_id),
        protector.encrypt(text, context=_TEXT_CONTEXT + credential_id.encode()),
        "EXAT", int(expires_at.timestamp()))
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
    citizen = citizen_by_id(db_session, credential.citizen_id)
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
