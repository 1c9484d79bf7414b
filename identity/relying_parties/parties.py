"""The operator's acts on relying parties, and the authentication of their clients.

A party is created by an operator (``flask rp create``) with a kind, scopes,
optional daily quotas, an optional registered callback URL and an optional
P-256 public key. It authenticates to the token endpoint either with its
client secret (HTTP Basic) or with a private-key JWT assertion (RFC 7523)
signed by that key; the token it gets is limited to its scopes.

Secrets are ``vnidrp_`` and 32 random bytes: only their SHA-256 digest is
kept (256 bits of entropy need no slow hash) and the prefix lets scanners
and the log redaction recognise a leaked one. Every refusal of a client says
the same ``oauth.invalid_client``, so the answers tell nothing about which
client ids exist. A party's daily quotas per scope are counted here too.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol, cast

import jwt as pyjwt
import redis
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import (Encoding, PublicFormat,
                                                          load_der_public_key,
                                                          load_pem_public_key)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from identity import clock
from identity.database import Statement
from identity.audit.service import Actor, record_event
from identity.errors import TooManyAttempts
from identity.entities import attach
from identity.kept_redis import kept_for
from identity.protection import Protector
from identity.relying_parties import callbacks
from identity.relying_parties.callbacks import CallbackPolicy
from identity.relying_parties.errors import (CallbackRefused, InvalidClient, PartyExists,
                                             PartyKindUnknown, PartyNameInvalid, PartyNotFound,
                                             PartyTokenInvalid, PublicKeyInvalid, QuotaExhausted,
                                             QuotaInvalid, ScopeNotGranted, ScopeUnknown)
from identity.relying_parties.models import KINDS, SCOPES, RelyingParty

SECRET_PREFIX = "vnidrp_"
#: The shape of a client secret (for redaction and for refusing garbage early).
SECRET_RE = re.compile(r"vnidrp_[A-Za-z0-9_-]{43}")
CLIENT_ID_RE = re.compile(r"[a-z2-7]{12}")
_NAME_RE = re.compile(r"[^\W_][\w.,&()' -]{0,99}")
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
#: The longest life of a client assertion we accept (RFC 7523 wants it short).
ASSERTION_MAX_SECONDS = 300


def secret_digest(secret: str) -> bytes:
    """The stored digest of a client secret."""
    return hashlib.sha256(secret.encode("utf-8")).digest()


def _new_client_id() -> str:
    """Twelve random base32 letters: the audience ``rp:<client_id>`` fits VN1's 16."""
    alphabet = "abcdefghijklmnopqrstuvwxyz234567"
    return "".join(secrets.choice(alphabet) for _ in range(12))


def audience(party: RelyingParty) -> str:
    """The VN1 audience of credentials made for this party."""
    return f"rp:{party.client_id}"


def _check_scopes(scopes: Iterable[str]) -> list[str]:
    """The scopes asked for, sorted, if every one is known and there is one at least."""
    wanted = sorted(set(scopes))
    unknown = [scope for scope in wanted if scope not in SCOPES]
    if unknown or not wanted:
        raise ScopeUnknown(field="scopes")
    return wanted


def _check_callback(url: str | None, policy: CallbackPolicy) -> str | None:
    """The callback URL if acceptable now (its host resolved and every address checked)."""
    if not url:
        return None
    if len(url) > 500:
        raise CallbackRefused("The callback URL is at most 500 characters.",
                              field="callback_url")
    callbacks.check(url, policy)
    return url


def _load_public_key(pem: bytes | None) -> bytes | None:
    """The DER of a PEM P-256 public key (None without one), else :class:`PublicKeyInvalid`."""
    if not pem:
        return None
    try:
        key = load_pem_public_key(pem)
    except ValueError:
        raise PublicKeyInvalid("The public key is not a PEM public key.",
                               field="public_key") from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        raise PublicKeyInvalid(field="public_key")
    return key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)


def create_party(*, db_session: Session, protector: Protector, actor: Actor, name: str,
                 kind: str, scopes: Iterable[str], callback_url: str | None = None,
                 public_key_pem: bytes | None = None,
                 quotas: Mapping[str, int] | None = None,
                 callback_policy: CallbackPolicy = callbacks.STRICT,
                 ) -> tuple[RelyingParty, str, str | None]:
    """Register a party; returns it, its client secret and its callback HMAC key (shown once).

    The callback URL is checked against ``callback_policy`` (production's
    rules unless the caller passes the configured ones): 422
    ``rp.callback_url`` when its scheme or any address of its host is refused.
    """
    name = name.strip()
    if not _NAME_RE.fullmatch(name):
        raise PartyNameInvalid(field="name")
    if kind not in KINDS:
        raise PartyKindUnknown(field="kind")
    wanted = _check_scopes(scopes)
    quota_map = {scope: int(limit) for scope, limit in (quotas or {}).items()}
    if any(scope not in wanted or limit < 0 for scope, limit in quota_map.items()):
        raise QuotaInvalid(field="quotas")
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    callback = _check_callback(callback_url, callback_policy)
    callback_key = secrets.token_urlsafe(32) if callback else None
    party = RelyingParty(client_id=_new_client_id(), name=name, kind=kind,
                         scopes=" ".join(wanted), secret_hash=secret_digest(secret),
                         public_key=_load_public_key(public_key_pem), callback_url=callback,
                         quotas=quota_map, token_version=1, active=True)
    db_session.add(party)
    try:
        db_session.flush()
    except IntegrityError:
        db_session.rollback()
        raise PartyExists() from None
    if callback_key is not None:
        callbacks.seal_callback_key(protector, party, callback_key)
    record_event(db_session=db_session, actor=actor, action="rp.created",
                 subject_type="relying_party", subject_id=party.id,
                 details={"name": name, "kind": kind, "scopes": wanted,
                          "callback": bool(callback)})
    db_session.commit()
    return party, secret, callback_key


def set_callback(*, db_session: Session, protector: Protector, actor: Actor, name: str,
                 callback_url: str | None,
                 callback_policy: CallbackPolicy = callbacks.STRICT,
                 ) -> tuple[RelyingParty, str | None]:
    """Register, replace or (with None) remove a party's callback URL, checked like at creation.

    A party that had no callback gets a new HMAC key (returned, shown once);
    one that had a callback keeps its key (None is returned). Consent requests
    asked with a callback are delivered to the URL registered at send time.
    """
    party = find_party(db_session, name)
    url = _check_callback(callback_url, callback_policy)
    new_key = None
    if url is None:
        party.callback_url, party.callback_key = None, None
    else:
        if party.callback_key is None:
            new_key = secrets.token_urlsafe(32)
            callbacks.seal_callback_key(protector, party, new_key)
        party.callback_url = url
    record_event(db_session=db_session, actor=actor, action="rp.callback_changed",
                 subject_type="relying_party", subject_id=party.id,
                 details={"name": party.name, "callback": url is not None})
    db_session.commit()
    return party, new_key


def list_parties(*, db_session: Session) -> list[RelyingParty]:
    """Every party, by name."""
    return list(db_session.scalars(sa.select(RelyingParty).order_by(RelyingParty.name)))


def find_party(db_session: Session, name_or_client_id: str) -> RelyingParty:
    """A party by its name or client id."""
    party = db_session.scalar(sa.select(RelyingParty).where(sa.or_(
        RelyingParty.name == name_or_client_id, RelyingParty.client_id == name_or_client_id)))
    if party is None:
        raise PartyNotFound()
    return party


def disable_party(*, db_session: Session, actor: Actor, name: str) -> RelyingParty:
    """Refuse the party's tokens from its next request, and its client authentication."""
    party = find_party(db_session, name)
    if party.active:
        party.active = False
        party.token_version += 1
        record_event(db_session=db_session, actor=actor, action="rp.disabled",
                     subject_type="relying_party", subject_id=party.id,
                     details={"name": party.name})
    db_session.commit()
    return party


def rotate_secret(*, db_session: Session, actor: Actor, name: str) -> tuple[RelyingParty, str]:
    """A new client secret (shown once); the old one and its tokens stop working at once."""
    party = find_party(db_session, name)
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    party.secret_hash = secret_digest(secret)
    party.token_version += 1
    record_event(db_session=db_session, actor=actor, action="rp.secret_rotated",
                 subject_type="relying_party", subject_id=party.id,
                 details={"name": party.name})
    db_session.commit()
    return party, secret


# --- Client authentication -------------------------------------------------------------------

def authenticate_secret(*, db_session: Session, client_id: str, secret: str) -> RelyingParty:
    """The active party whose client id and secret these are, else :class:`InvalidClient`."""
    if not CLIENT_ID_RE.fullmatch(client_id) or not SECRET_RE.fullmatch(secret):
        raise InvalidClient()
    party = db_session.scalar(sa.select(RelyingParty).where(RelyingParty.client_id == client_id))
    if (party is None or not party.active
            or not hmac.compare_digest(party.secret_hash, secret_digest(secret))):
        raise InvalidClient()
    return party


def authenticate_assertion(*, db_session: Session, redis_client: redis.Redis, assertion: str,
                           token_endpoint: str) -> RelyingParty:
    """The party that signed a private-key JWT assertion (RFC 7523), used once.

    ``iss`` and ``sub`` are the client id, ``aud`` the token endpoint's URL,
    ``exp`` at most five minutes ahead, ``jti`` never seen before (kept in
    Redis until the assertion would have expired anyway).
    """
    try:
        unverified = pyjwt.decode(assertion, options={"verify_signature": False})
        header = pyjwt.get_unverified_header(assertion)
    except pyjwt.PyJWTError:
        raise InvalidClient() from None
    client_id = unverified.get("iss")
    if (header.get("alg") != "ES256" or not isinstance(client_id, str)
            or not CLIENT_ID_RE.fullmatch(client_id) or unverified.get("sub") != client_id):
        raise InvalidClient()
    party = db_session.scalar(sa.select(RelyingParty).where(RelyingParty.client_id == client_id))
    if party is None or not party.active or party.public_key is None:
        raise InvalidClient()
    try:
        key = cast(ec.EllipticCurvePublicKey, load_der_public_key(party.public_key))
        claims = pyjwt.decode(assertion, key,
                              algorithms=["ES256"], audience=token_endpoint, issuer=client_id,
                              leeway=5, options={"require": ["exp", "jti", "aud", "iss", "sub"]})
    except pyjwt.PyJWTError:
        raise InvalidClient() from None
    now = clock.now().timestamp()
    jti = claims["jti"]
    if not isinstance(jti, str) or not 8 <= len(jti) <= 128 \
            or claims["exp"] - now > ASSERTION_MAX_SECONDS:
        raise InvalidClient()
    jti_key = "rp:assertion:" + base64.urlsafe_b64encode(
        hashlib.sha256(f"{client_id}:{claims['jti']}".encode()).digest()).decode()
    if not redis_client.set(jti_key, b"1", nx=True, ex=ASSERTION_MAX_SECONDS + 10):
        raise InvalidClient()  # a replayed assertion
    return party


def token_scopes(party: RelyingParty, requested: str | None) -> list[str]:
    """The scopes a token gets: those asked for (all of the party's when none), if allowed."""
    allowed = party.scope_set()
    if not requested:
        return sorted(allowed)
    wanted = set(requested.split())
    if not wanted <= allowed:
        raise ScopeNotGranted()
    return sorted(wanted)


class PartyView(Protocol):
    """What the hot paths read of a party: its entity, or its row (:func:`party_row_for_token`)."""

    id: int
    client_id: str
    name: str
    kind: str
    scopes: str
    quotas: dict[str, Any]


def scope_set(party: PartyView) -> frozenset[str]:
    """The party's scopes."""
    return frozenset(party.scopes.split())


#: A party's row, read for every request it makes (Core, built once; no ORM entity).
_PARTY_ROW = Statement(sa.select(RelyingParty.__table__).where(
    RelyingParty.__table__.c.id == sa.bindparam("party_id")))


def checked_party_row(party: Any, token_version: int) -> Any:
    """``party`` (a row of the parties' table, or None), if it is the row of an active party
    whose token version is ``token_version``; else :class:`PartyTokenInvalid`."""
    if party is None or not party.active or party.token_version != token_version:
        raise PartyTokenInvalid()
    return party


def party_row_for_token(*, db_session: Session, party_id: int,
                        token_version: int) -> sa.Row[Any]:
    """The row of an access token's party, if still active and its token version current.

    Read from the database on every request, in one statement: disabling a
    party or rotating its secret moves its token version, so its tokens are
    refused on their next request. (A per-process copy would save nothing:
    knowing that it is current takes this same round trip; the identity match reads it
    with the citizen's row instead, :func:`identity.relying_parties.matching.party_and_citizen`.)
    """
    return cast(sa.Row[Any], checked_party_row(
        _PARTY_ROW.first(db_session, {"party_id": party_id}), token_version))


def party_for_token(*, db_session: Session, party_id: int, token_version: int) -> RelyingParty:
    """The party of an access token, as an entity (:func:`party_row_for_token`'s checks)."""
    return attach(db_session, RelyingParty, party_row_for_token(
        db_session=db_session, party_id=party_id, token_version=token_version))


# --- Quotas ----------------------------------------------------------------------------------

def meter_request(*, redis_client: redis.Redis, party: PartyView, endpoint: str,
                  windows: Sequence[tuple[int, int]], scope: str | None,
                  defaults: Mapping[str, int], cost: int = 1) -> int | None:
    """Count one request in the party's rate windows and, for a metered ``scope``, its quota.

    ``windows``: ``(amount, seconds)`` fixed windows per party and endpoint
    (``RP_LIMIT_PER_PARTY``); past one, :class:`TooManyAttempts` (429
    ``rate_limited``) with ``Retry-After`` until the window ends. The windows
    and the day's quota are counted in one Redis round trip, on a connection the process
    keeps (:meth:`identity.kept_redis.KeptRedis.pipeline`). A request
    refused, by a window or by the quota, gives its quota units back (one
    more round trip, on refusal only), so a refusal costs the party nothing of
    its quota and a large batch refused near the limit leaves the rest of the
    day's quota to smaller ones. Returns what is left of the quota (None
    without a scope). Redis down: the call fails and the request is refused
    with 503, never let through uncounted.
    """
    now = clock.now()
    moment = now.timestamp()
    quota_key = f"rp:quota:{party.id}:{scope}:{now:%Y%m%d}"
    commands: list[tuple[Any, ...]] = []
    for _amount, seconds in windows:
        key = f"rp:rate:{party.id}:{endpoint}:{seconds}:{int(moment // seconds)}"
        commands += [("INCR", key), ("EXPIRE", key, seconds + 1)]
    if scope is not None:
        commands += [("INCRBY", quota_key, cost), ("EXPIRE", quota_key, 2 * 86_400)]
    counted = kept_for(redis_client).pipeline(*commands)
    for index, (amount, seconds) in enumerate(windows):
        if int(counted[2 * index]) > amount:
            if scope is not None:
                redis_client.decrby(quota_key, cost)
            raise TooManyAttempts(retry_after=max(1, int(seconds - moment % seconds)))
    if scope is None:
        return None
    used, limit = int(counted[-2]), int(party.quotas.get(scope, defaults.get(scope, 0)))
    if used > limit:
        redis_client.decrby(quota_key, cost)
        midnight = now.replace(hour=0, minute=0, second=0, microsecond=0).timestamp() + 86_400
        raise QuotaExhausted(retry_after=max(1, int(midnight - moment)),
                             errors={"quota": [limit]})
    return limit - used


def consume_quota(*, redis_client: redis.Redis, party: PartyView, scope: str,
                  defaults: Mapping[str, int], cost: int = 1) -> int:
    """Count ``cost`` uses of ``scope`` today; :class:`QuotaExhausted` past the daily quota.

    :func:`meter_request` without rate windows: one key per party, scope and
    UTC day; a refused request gives its units back. Returns what is left.
    """
    return cast(int, meter_request(redis_client=redis_client, party=party, endpoint="",
                                   windows=(), scope=scope, defaults=defaults, cost=cost))


def quota_status(*, redis_client: redis.Redis, party: RelyingParty,
                 defaults: Mapping[str, int]) -> dict[str, dict[str, Any]]:
    """Per scope of the party: today's quota and use."""
    today = f"{clock.now():%Y%m%d}"
    status = {}
    for scope in sorted(party.scope_set()):
        used = redis_client.get(f"rp:quota:{party.id}:{scope}:{today}")
        status[scope] = {"quota": int(party.quotas.get(scope, defaults.get(scope, 0))),
                         "used": int(used or 0)}
    return status
