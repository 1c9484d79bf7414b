"""Issuer keys: creation, rotation, revocation, the signing key and the trust list.

Private keys are encrypted at rest with the personal-data protector, bound to
their kid. A key that does not decrypt never signs: issuing answers 503
(:class:`SigningUnavailable`), it does not fall back to anything.
"""
from __future__ import annotations

import base64
import threading
import time
from typing import Any, cast

import sqlalchemy as sa
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy.orm import Session

from identity import clock
from identity.audit.service import Actor, record_event
from identity.credentials import vn1
from identity.credentials.errors import KeyNotFound, SigningUnavailable
from identity.credentials.models import ACTIVE, RETIRED, REVOKED, Credential, IssuerKey
from identity.database import Statement
from identity.errors import Conflict
from identity.protection import KeyMaterialError, Protector

_CONTEXT = b"issuer-key/"


def _load_public(der: bytes) -> ec.EllipticCurvePublicKey:
    key = serialization.load_der_public_key(der)
    assert isinstance(key, ec.EllipticCurvePublicKey)
    return key


def rotate_keys(*, db_session: Session, protector: Protector, actor: Actor) -> IssuerKey:
    """Create a new active key; the previous active key is retired (it signs nothing new)."""
    now = clock.now()
    private_key = ec.generate_private_key(ec.SECP256R1())
    public_der = private_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    kid = vn1.b64url(vn1.key_id(private_key.public_key()))
    pkcs8 = private_key.private_bytes(serialization.Encoding.DER,
                                      serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption())
    retired = []
    for old in db_session.scalars(sa.select(IssuerKey).where(IssuerKey.status == ACTIVE)
                                  .with_for_update()):
        old.status, old.not_after, old.changed_at = RETIRED, now, now
        retired.append(old.kid)
    key = IssuerKey(kid=kid, public_key=public_der, status=ACTIVE, not_before=now,
                    private_key_encrypted=protector.encrypt(
                        base64.b64encode(pkcs8).decode(), context=_CONTEXT + kid.encode()),
                    changed_at=now)
    db_session.add(key)
    record_event(db_session=db_session, actor=actor, action="issuer_key.rotated",
                 subject_type="issuer_key", subject_id=kid, details={"retired": retired})
    db_session.commit()
    return key


def revoke_key(*, db_session: Session, actor: Actor, kid: str) -> IssuerKey:
    """Revoke a key: everything it signed becomes invalid at once."""
    key = db_session.scalar(sa.select(IssuerKey).where(IssuerKey.kid == kid))
    if key is None:
        raise KeyNotFound(field="kid")
    if key.status == REVOKED:
        raise Conflict("The key is already revoked.", code="issuer_key.already_revoked")
    now = clock.now()
    key.status, key.revoked_at, key.changed_at = REVOKED, now, now
    if key.not_after is None:
        key.not_after = now
    record_event(db_session=db_session, actor=actor, action="issuer_key.revoked",
                 subject_type="issuer_key", subject_id=kid)
    db_session.commit()
    return key


def list_keys(*, db_session: Session) -> list[IssuerKey]:
    """Every key, newest first."""
    return list(db_session.scalars(sa.select(IssuerKey).order_by(IssuerKey.id.desc())))


#: What the trust list tells of each key, newest first: one Core statement, which an
#: online verification in autocommit runs on its own connection like its other reads.
_PUBLISHED = Statement(sa.select(IssuerKey.public_key, IssuerKey.status, IssuerKey.not_before,
                                 IssuerKey.not_after).order_by(IssuerKey.id.desc()))


def trust_list_document(*, db_session: Session, issuer: str) -> dict[str, Any]:
    """``/.well-known/vnid-keys.json``: every key with its status, newest first."""
    return {"issuer": issuer, "keys": [
        vn1.jwk(_load_public(key.public_key), status=key.status, not_before=key.not_before,
                not_after=key.not_after) for key in _PUBLISHED.rows(db_session)]}


class KeyRing:
    """The trust list and decrypted signing keys of one process.

    The parsed trust list is reused for :data:`TRUST_MAX_AGE` seconds, then
    reloaded; a key it does not know makes it reload at once (a key rotated
    in by another process). Revocation does not wait for the reload: the
    online verifier reads the signing key's status with the credential's row
    (:func:`identity.credentials.online.verify_online`). Likewise the active
    kid is reused for the same time, and issuing writes a credential's row
    only while its key is still active (:data:`INSERT_IF_ACTIVE`).
    """

    #: Seconds a parsed trust list is reused before it is read again.
    TRUST_MAX_AGE = 5.0

    def __init__(self, issuer: str) -> None:
        self.issuer = issuer
        self._lock = threading.Lock()
        self._trust: tuple[float, vn1.TrustList] | None = None
        self._signers: dict[str, ec.EllipticCurvePrivateKey] = {}
        self._active: tuple[float, str] | None = None

    def trust_list(self, db_session: Session, *, reload: bool = False) -> vn1.TrustList:
        """The trust list, parsed; read again when older than :data:`TRUST_MAX_AGE` or asked."""
        cached = self._trust
        now = time.monotonic()
        if cached is not None and not reload and now - cached[0] < self.TRUST_MAX_AGE:
            return cached[1]
        trust = vn1.TrustList.from_json(trust_list_document(db_session=db_session,
                                                            issuer=self.issuer))
        with self._lock:
            self._trust = (now, trust)
        return trust

    def signing_key(self, db_session: Session,
                    protector: Protector) -> tuple[str, ec.EllipticCurvePrivateKey]:
        """The active key's kid and private key; :class:`SigningUnavailable` if there is none.

        The kid is reused for :data:`TRUST_MAX_AGE` seconds (or until
        :meth:`forget_signing_key`): it is only a guess, since the credential's
        row is written only while that key is still the active one
        (:data:`INSERT_IF_ACTIVE`), and a refused row makes the issuer forget
        it and ask again (a key revoked or retired a moment ago never signs
        again). The private half is read and decrypted once per process.
        """
        cached = self._active
        now = time.monotonic()
        if cached is not None and now - cached[0] < self.TRUST_MAX_AGE:
            return cached[1], self._signers[cached[1]]
        kid = db_session.execute(_ACTIVE_KID).scalar()
        if kid is None:
            raise SigningUnavailable("No active issuer key: run `flask keys rotate`.")
        private_key = self._signers.get(kid)
        if private_key is None:
            sealed = db_session.execute(_PRIVATE_HALF, {"kid": kid}).scalar_one()
            try:
                pkcs8 = base64.b64decode(protector.decrypt(sealed,
                                                           context=_CONTEXT + kid.encode()))
                loaded = serialization.load_der_private_key(pkcs8, password=None)
            except (KeyMaterialError, ValueError):
                raise SigningUnavailable() from None
            if not isinstance(loaded, ec.EllipticCurvePrivateKey):
                raise SigningUnavailable()
            private_key = loaded
        with self._lock:
            self._signers[kid] = private_key
            self._active = (now, kid)
        return kid, private_key

    def forget_signing_key(self) -> None:
        """Read the active kid again at the next :meth:`signing_key` (it was refused)."""
        with self._lock:
            self._active = None


_KEYS = IssuerKey.__table__
#: The newest active key's kid: what signs (Core, built once: issuing reads it every time).
_ACTIVE_KID = (sa.select(_KEYS.c.kid).where(_KEYS.c.status == ACTIVE)
               .order_by(_KEYS.c.id.desc()).limit(1))
_PRIVATE_HALF = sa.select(_KEYS.c.private_key_encrypted).where(_KEYS.c.kid == sa.bindparam("kid"))
_CREDENTIALS = cast(sa.Table, Credential.__table__)
_COLUMNS = ("id", "account_id", "citizen_id", "type", "kid", "audience", "issued_at",
            "expires_at")
#: A credential's row, written only if its key is still the active one (0 rows otherwise):
#: the check and the write in one statement, so a cached kid can never outlive its key.
INSERT_IF_ACTIVE = Statement(sa.insert(_CREDENTIALS).from_select(
    list(_COLUMNS),
    sa.select(*(sa.bindparam(name, type_=_CREDENTIALS.c[name].type) for name in _COLUMNS))
    .where(sa.exists().where(_KEYS.c.kid == sa.bindparam("kid"), _KEYS.c.status == ACTIVE))
).returning(_CREDENTIALS.c.id))
