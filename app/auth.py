"""Authentication of API callers: signed tokens, the principal of a request, rate limits.

Access tokens are JWTs signed with ES256 (flask-jwt-extended over PyJWT). The
signing keys come from ``TOKEN_SIGNING_KEYS`` (``kid:key,kid:key``): the
first signs, every one verifies, so a key is rotated by putting a new one
first and removing the old one once its tokens have expired (10 minutes for
access tokens, the refresh lifetime for refresh tokens). Only ES256 is
accepted; a token with ``alg: none``, an HMAC algorithm, or a ``kid`` that is
not ours is refused before any claim is read. Refresh tokens, which only this
service reads, carry an HMAC tag under a key derived from the same entry
(:mod:`identity.accounts.refresh_tokens`), and rotate with it; those made before as
ES256 JWTs are still taken until they expire.

Each request's principal is read from the database: a token whose version
is older than the account's (after a logout, a lock, a level change or a
device change), of a deactivated officer, or of the wrong type is refused on
the very next request. An officer's row is read with one Core statement and
checked without an ORM entity (the hot routes, such as online verification,
read :func:`current_officer_row`); :func:`current_officer` builds the entity
from that same row, without a second statement, for the routes that need it.
"""
from __future__ import annotations

import base64
import datetime as dt
import functools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any, TypeVar, cast

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_der_private_key
from flask import Flask, Response, current_app, g, has_app_context, request
from flask.globals import request_ctx
from flask_jwt_extended import JWTManager, get_jwt
from flask_jwt_extended.config import config as jwt_config
from flask_jwt_extended.internal_utils import (custom_verification_for_token,
                                               verify_token_not_blocklisted, verify_token_type)
from flask_jwt_extended.tokens import _decode_jwt
from flask_jwt_extended.view_decorators import _decode_jwt_from_headers, _load_user
from flask_limiter import Limiter
import jwt as pyjwt
import redis
from redis.cluster import RedisCluster
from redis.crc import key_slot
from limits import RateLimitItem, parse_many
from limits.storage import RedisStorage, Storage
from limits.strategies import FixedWindowRateLimiter, RateLimiter
from werkzeug.middleware.proxy_fix import ProxyFix

from app.errors import error_response
from app.extensions import db, get_protector
from identity.accounts import access_tokens, capabilities, officers, refresh_tokens, sessions
from identity.accounts.account import account_for_token
from identity.accounts.capabilities import Act
from identity.accounts.errors import InvalidToken
from identity.accounts.models import Account, Officer
from identity.entities import attach
from identity.errors import Forbidden, TooManyAttempts
from identity.kept_redis import kept_for
from config import MEMORY_REDIS_URL

F = TypeVar("F", bound=Callable[..., Any])

ISSUER, AUDIENCE = "vnid", "vnid-api"
#: The OpenAPI security requirement of the endpoints that need a bearer token.
BEARER: list[dict[str, list[str]]] = [{"bearerAuth": []}]


def _unverified_header(token: str) -> dict[str, Any]:
    """The header of a compact JWS, read only to choose the verification key.

    Nothing in it is trusted: the one verified decode that follows re-reads
    the whole token strictly. Anything unreadable is PyJWT's ``DecodeError``
    (401 ``auth.invalid_token``, as before).
    """
    segment = token.partition(".")[0]
    try:
        header = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (ValueError, TypeError):  # binascii.Error and JSON errors are ValueErrors
        raise pyjwt.DecodeError("Invalid header") from None
    if not isinstance(header, dict):
        raise pyjwt.DecodeError("Invalid header")
    return header


class AppJWTManager(JWTManager):
    """flask-jwt-extended's manager, reading a bearer token once instead of three times.

    The library decodes each token without verification (to hand the claims
    to the key loader), then parses its header, then decodes it again with
    verification; each pass checks every character of every segment in
    Python. Our key loader needs only the header's ``kid`` and ``alg``
    (:func:`_verification_key`), so the header is read cheaply and the token
    decoded once, with the same checks and the same errors. The request's
    token is read by :func:`verify_bearer`, which keeps that header (the
    library's ``verify_jwt_in_request`` reads the whole token once more).

    An access token that verified is remembered by its exact text (:data:`VERIFIED_TOKENS` of them
    per app, forgotten all at once when full): the same client sends the same access token
    for its whole life, and checking its ECDSA signature and claims again on every request
    cost about 8 % of an online verification. A remembered token is taken again only while
    the key that verified it is still the app's key of its ``kid`` (the same object: a key
    removed or replaced is a miss) and its ``exp`` has not passed, the expiry checked on
    every request as PyJWT checks it (with the same leeway); any miss, and an expired
    token, goes through the full decode and its errors. Being remembered grants nothing
    beyond the signature: the token's type, its version against the account's, the
    account's status and the officer's unit are read on every request as before, so a
    logout, a lock or a revocation still takes effect on the next request. Text that never
    verified is never remembered, and a hit needs the whole text equal, so nothing can be
    forged or guessed from the cache.
    """

    def _decode_jwt_from_config(self, encoded_token: str, csrf_value: Any = None,
                                allow_expired: bool = False) -> dict[str, Any]:
        return self.decode_with_header(encoded_token, csrf_value, allow_expired)[1]

    def decode_with_header(self, encoded_token: str, csrf_value: Any = None,
                           allow_expired: bool = False) -> tuple[dict[str, Any], dict[str, Any]]:
        """The token's header (read without verification, to choose the key) and its claims
        (verified)."""
        remember = csrf_value is None and not allow_expired
        if remember:
            known = _remembered(encoded_token)
            if known is not None:
                return known
        header = _unverified_header(encoded_token)
        options: dict[str, Any] = {
            "algorithms": jwt_config.decode_algorithms, "audience": jwt_config.decode_audience,
            "csrf_value": csrf_value, "encoded_token": encoded_token,
            "identity_claim_key": jwt_config.identity_claim_key,
            "issuer": jwt_config.decode_issuer, "leeway": jwt_config.leeway,
            "secret": self._decode_key_callback(header, {}),
            "verify_aud": jwt_config.decode_audience is not None,
            "verify_sub": jwt_config.verify_sub}
        try:
            claims = _decode_jwt(**options, allow_expired=allow_expired)
        except pyjwt.ExpiredSignatureError as error:  # what the library attaches, for its loader
            error.jwt_header = header  # type: ignore[attr-defined]
            error.jwt_data = _decode_jwt(**options, allow_expired=True)  # type: ignore
            raise
        if remember:
            _remember(encoded_token, header, claims)
        return header, claims


#: How many verified tokens each app remembers (:class:`AppJWTManager`): about 1.5 kB each.
VERIFIED_TOKENS = 4096


def _remembered(encoded_token: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """The header and claims of a token verified before, if its key and expiry still hold."""
    verified: dict[str, tuple[dict[str, Any], dict[str, Any], Any]] = (
        current_app.extensions["verified_tokens"])
    known = verified.get(encoded_token)
    if known is None:
        return None
    header, claims, key = known
    if (current_app.extensions["token_keys"].get(header.get("kid")) is key
            and claims["exp"] > time.time() - jwt_config.leeway):  # PyJWT's own test
        return header, dict(claims)  # a copy: a caller's change stays its own
    verified.pop(encoded_token, None)
    return None


def _remember(encoded_token: str, header: dict[str, Any], claims: dict[str, Any]) -> None:
    if claims.get("type") != "access" or not isinstance(claims.get("exp"), (int, float)):
        return  # only an access token with an expiry to check again is remembered
    verified = current_app.extensions["verified_tokens"]
    if len(verified) >= VERIFIED_TOKENS:
        verified.clear()
    verified[encoded_token] = (header, dict(claims),
                               current_app.extensions["token_keys"].get(header.get("kid")))


jwt = AppJWTManager()


def verify_bearer(encoded_token: str | None = None) -> dict[str, Any]:
    """The claims of the request's bearer access token, verified: flask-jwt-extended's
    ``verify_jwt_in_request()`` for the one place tokens are read from here (the
    ``Authorization`` header, ``JWT_TOKEN_LOCATION``), reading the token once.
    ``encoded_token``: the header's token as read already (:mod:`app.hot_lane`, which has no
    request context), else read from the request's header.

    The same steps and errors as the library's: the header parsed by its own function (401
    ``auth.required`` without one), the token decoded and verified
    (:meth:`AppJWTManager.decode_with_header`), its type checked (``access``), the blocklist,
    claims and user loaders consulted; then ``get_jwt()`` reads the claims. Only the library's
    second reading of the whole token, for its header, is left out: the header read to choose
    the key is kept. Every request method is checked (the library lets its exempt ones, ``OPTIONS``,
    through unverified).
    """
    if encoded_token is None:
        encoded_token, _csrf = _decode_jwt_from_headers()
    header, claims = jwt.decode_with_header(encoded_token)
    verify_token_type(claims, False)  # a refresh token made as a JWT (before) is refused
    verify_token_not_blocklisted(header, claims)
    custom_verification_for_token(header, claims)
    g._jwt_extended_jwt_user = _load_user(header, claims)
    g._jwt_extended_jwt_header = header
    g._jwt_extended_jwt = claims
    g._jwt_extended_jwt_location = "headers"
    return claims


def _client_address() -> str:
    return _address_of(request.environ)


def _address_of(environ: dict[str, Any]) -> str:
    """The client's address as the rate limits key it (``request.remote_addr``, after the
    proxy fix), or ``unknown``."""
    return environ.get("REMOTE_ADDR") or "unknown"


#: Where flask-limiter keeps a request's limiter context, once a limit has run.
_LIMITER_CONTEXT = "_limiter_request_context"


def _when_limited(hook: Callable[[Response], Response]) -> Callable[[Response], Response]:
    """flask-limiter's after-request ``hook``, run only for a request in which a limit ran."""
    @wraps(hook)
    def after(response: Response) -> Response:
        return hook(response) if _limited() else response
    return after


def _limited() -> bool:
    """Whether a limit ran in the current request (its limiter context exists)."""
    return _LIMITER_CONTEXT in vars(request_ctx._get_current_object())  # type: ignore[attr-defined]


class AppLimiter(Limiter):
    """flask-limiter's ``Limiter``, with the counters' storage kept on each application.

    A ``Limiter`` holds one storage, replaced by every ``init_app``: with
    several applications in one process (the tests, the benches, the CLI) the
    last one built would count, or fail when its Redis is down, for all of
    them. Each app keeps the storage its own configuration names.
    """

    def init_app(self, app: Flask) -> None:
        super().init_app(app)
        # flask-limiter's after-request hook (conditional deductions, X-RateLimit headers) and
        # its teardown read the request's limiter context, making one first: on every answer,
        # some 80,000 instructions of an online verification's 4.7 million. A request in which
        # no limit ran has no context and nothing to deduct or reset: both skip it.
        hooks = app.after_request_funcs.get(None, [])
        hooks[:] = [_when_limited(hook) if isinstance(hook, functools.partial)
                    and hook.args == (self,) else hook for hook in hooks]
        app.extensions["ratelimit_backend"] = (self._storage, self._limiter)
        # The authentication budgets' one-round-trip count (_count), on Redis's fixed windows.
        app.extensions["ratelimit_script"] = (
            self._storage.get_connection().register_script(_COUNT_WINDOWS)
            if isinstance(self._storage, RedisStorage)
            and isinstance(self._limiter, FixedWindowRateLimiter) else None)

    def _check_request_limit(self, callable_name: str | None = None,
                             in_middleware: bool = True) -> None:
        """flask-limiter's check; before each request (``in_middleware``) only if a limit
        applies there. That one counts application-wide, default and blueprint limits (a
        decorated view counts its own when it runs); the service declares none, so resolving
        nothing on every request (some 50 µs) is skipped, until one is declared."""
        manager = self.limit_manager
        if in_middleware and not (manager._application_limits or manager._default_limits
                                  or manager._blueprint_limits or self._meta_limits):
            return
        super()._check_request_limit(callable_name, in_middleware)

    def _Limiter__release_context(self, error: BaseException | None = None) -> None:
        if _limited():  # see init_app
            super()._Limiter__release_context(error)  # type: ignore[misc]

    def _backend(self) -> tuple[Storage, RateLimiter] | None:
        return current_app.extensions.get("ratelimit_backend") if has_app_context() else None

    @property
    def storage(self) -> Storage:
        backend = self._backend()
        return backend[0] if backend else super().storage

    @property
    def limiter(self) -> RateLimiter:
        backend = self._backend()
        return backend[1] if backend else super().limiter


# No X-RateLimit-* headers: each costs Redis round trips on every authentication request;
# a refusal still says when to come back (Retry-After, app/errors.py).
limiter = AppLimiter(key_func=_client_address, headers_enabled=False, swallow_errors=False,
                     in_memory_fallback_enabled=False, strategy="fixed-window")


def parse_signing_keys(spec: str) -> dict[str, ec.EllipticCurvePrivateKey]:
    """``kid:base64url(PKCS8 DER)`` entries, in order (the first signs)."""
    keys: dict[str, ec.EllipticCurvePrivateKey] = {}
    for entry in filter(None, (part.strip() for part in spec.split(","))):
        kid, _, b64 = entry.partition(":")
        try:
            key = load_der_private_key(base64.urlsafe_b64decode(b64 + "=" * (-len(b64) % 4)),
                                       password=None)
        except ValueError as exc:
            raise ValueError(f"TOKEN_SIGNING_KEYS entry {kid!r} is not a PKCS8 key") from exc
        if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
            raise ValueError(f"TOKEN_SIGNING_KEYS entry {kid!r} is not a P-256 key")
        keys[kid] = key
    if not keys:
        raise ValueError("TOKEN_SIGNING_KEYS holds no key")
    return keys


def _token_error(code: str, message: str) -> Response:
    return error_response(401, code, message)


def init_auth(app: Flask) -> None:
    """Configure token signing, token errors, the rate limiter and the proxy count."""
    keys = parse_signing_keys(app.config["TOKEN_SIGNING_KEYS"])
    app.extensions["token_keys"] = keys
    app.extensions["refresh_keys"] = refresh_tokens.derive_keys(keys)
    app.extensions["verified_tokens"] = {}
    app.config.update(
        JWT_ALGORITHM="ES256", JWT_DECODE_ALGORITHMS=["ES256"], JWT_TOKEN_LOCATION=["headers"],
        JWT_ACCESS_TOKEN_EXPIRES=dt.timedelta(seconds=app.config["ACCESS_TOKEN_SECONDS"]),
        JWT_ENCODE_ISSUER=ISSUER, JWT_DECODE_ISSUER=ISSUER,
        JWT_ENCODE_AUDIENCE=AUDIENCE, JWT_DECODE_AUDIENCE=AUDIENCE,
        JWT_DECODE_LEEWAY=5, JWT_ERROR_MESSAGE_KEY="message")
    jwt.init_app(app)
    # The key of the app of the request: the JWTManager is shared by every app of the process.
    jwt.encode_key_loader(lambda identity: _signing_key())
    jwt.decode_key_loader(_verification_key)
    invalid = "The token is not valid. Log in again."
    jwt.invalid_token_loader(lambda reason: _token_error("auth.invalid_token", invalid))
    jwt.expired_token_loader(lambda header, data: _token_error("auth.token_expired",
                                                               "The token has expired."))
    jwt.unauthorized_loader(lambda reason: _token_error(
        "auth.required", "This needs a bearer token in the Authorization header."))
    jwt.revoked_token_loader(lambda header, data: _token_error("auth.invalid_token", invalid))
    jwt.user_lookup_error_loader(lambda header, data: _token_error("auth.invalid_token",
                                                                   invalid))
    jwt.token_verification_failed_loader(lambda header, data: _token_error("auth.invalid_token",
                                                                           invalid))
    redis_url = app.config["REDIS_URL"]
    app.config.setdefault("RATELIMIT_STORAGE_URI",
                          "memory://" if redis_url == MEMORY_REDIS_URL else redis_url)
    app.config.setdefault("RATELIMIT_STORAGE_OPTIONS", {"socket_connect_timeout": 2,
                                                        "socket_timeout": 2})
    limiter.init_app(app)
    if app.config["TRUSTED_PROXY_COUNT"]:
        app.wsgi_app = ProxyFix(app.wsgi_app,  # type: ignore[method-assign]
                                x_for=app.config["TRUSTED_PROXY_COUNT"])


def sign_access_token(subject: str, lifetime: int, claims: dict[str, Any]) -> str:
    """An access token of the current app for ``subject`` (:mod:`identity.accounts.access_tokens`:
    what flask-jwt-extended's ``create_access_token`` makes, at a third of its cost), signed
    by the first of its TOKEN_SIGNING_KEYS."""
    kid, key = next(iter(current_app.extensions["token_keys"].items()))
    return access_tokens.sign(key, kid, access_tokens.access_claims(
        subject, lifetime=lifetime, issuer=ISSUER, audience=AUDIENCE, extra=claims))


def _signing_key() -> ec.EllipticCurvePrivateKey:
    """The key that signs the current app's tokens: the first of its TOKEN_SIGNING_KEYS."""
    return next(iter(current_app.extensions["token_keys"].values()))


def _verification_key(header: dict[str, Any], payload: dict[str, Any]) -> ec.EllipticCurvePublicKey:
    key = current_app.extensions["token_keys"].get(header.get("kid"))
    if key is None or header.get("alg") != "ES256":
        raise InvalidToken()
    return key.public_key()


def issue_tokens(grant: sessions.Grant) -> dict[str, Any]:
    """Signed access and refresh tokens for a grant, as the login answer gives them."""
    claims: dict[str, Any] = {"role": grant.role, "tv": grant.token_version,
                              "sid": grant.session_id}
    if grant.level is not None:
        claims["lvl"] = grant.level
    if grant.device_id is not None:
        claims["dev"] = grant.device_id
    access = sign_access_token(grant.subject, current_app.config["ACCESS_TOKEN_SECONDS"], claims)
    refresh = refresh_tokens.make(current_app.extensions["refresh_keys"], grant.session_id,
                                  grant.generation)
    return {"access_token": access, "refresh_token": refresh, "token_type": "Bearer",
            "expires_in": current_app.config["ACCESS_TOKEN_SECONDS"]}


def _subject(kind: str) -> int:
    claims = get_jwt()
    prefix, _, number = str(claims.get("sub", "")).partition(":")
    if prefix != kind:
        raise Forbidden(f"This needs a {kind}'s token.", code=f"auth.{kind}_only")
    try:
        return int(number)
    except ValueError:
        raise InvalidToken() from None


def _token_version() -> int:
    version = get_jwt().get("tv")
    if not isinstance(version, int):
        raise InvalidToken()
    return version


def citizen_required(act: Act) -> Callable[[F], F]:
    """Let the view run for a citizen's current token whose account may do ``act``.

    The one place where a citizen's request is checked: the token (signature,
    type, version) by :func:`identity.accounts.account.account_for_token`, then the account's
    state against the capability table (``identity/accounts/capabilities.py``):
    a ``pending_review`` account may only read its status or withdraw, and so
    on. Every citizen route names its act: ``@citizen_required(Act.CREDENTIAL_ISSUE)``.
    The account comes with its citizen, both read in one statement.
    """
    if not isinstance(act, Act):  # a bare @citizen_required would let any state through
        raise TypeError("citizen_required needs the route's act: @citizen_required(Act.X)")

    def decorate(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            verify_bearer()
            citizen_for_act(act)
            return view(*args, **kwargs)
        wrapper.citizen_act = act  # type: ignore[attr-defined]  # read by the security tests
        return cast(F, wrapper)
    return decorate


def citizen_for_act(act: Act) -> Account:
    """:func:`citizen_required`'s check once the token is verified (:func:`verify_bearer`):
    the account of a current token, which may do ``act``; ``current_account()`` from now on."""
    account = account_for_token(db_session=db.session(), account_id=_subject("citizen"),
                                token_version=_token_version())
    capabilities.require(account, act)
    g.account = account
    return account


def officer_required(view: F) -> F:
    """Let the view run for an active officer's current access token (``current_officer()``)."""
    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        verify_bearer()
        g.officer_row = officers.officer_row_for_token(db_session=db.session(),
                                                       officer_id=_subject("officer"),
                                                       token_version=_token_version())
        g.pop("officer", None)  # an app context (and its g) may outlive one request
        return view(*args, **kwargs)
    return cast(F, wrapper)


def officer_token_required(view: F) -> F:
    """:func:`officer_required` for a route whose use case reads the officer's row with its
    own first statement (the online verification: :mod:`identity.credentials.online`): the
    token's signature, type and claims are checked now (:func:`officer_token`), the row
    (active, token version) by that statement, before anything is recorded or answered
    (``current_officer_token()``, then :func:`officer_checked` with the row):
    :func:`answer_checked`.
    """
    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        verify_bearer()
        token = officer_token()
        return answer_checked(token, lambda: view(*args, **kwargs))
    return cast(F, wrapper)


def officer_token() -> officers.OfficerToken:
    """The officer's token of the request's verified claims (:func:`verify_bearer`), its row
    not yet read: ``current_officer_token()`` from now on."""
    token = g.officer_token = officers.OfficerToken(officer_id=_subject("officer"),
                                                    token_version=_token_version())
    g.pop("officer", None)  # an app context (and its g) may outlive one request
    g.pop("officer_row", None)
    return token


def answer_checked(token: officers.OfficerToken, call: Callable[[], Any]) -> Any:
    """``call()``'s answer, given only once the officer's row was read and checked.

    Whatever stops the use case before its statement read the row (an unreadable body: 422)
    or lets it end without it, the row is read here instead, before the answer: a token
    that is no longer current hears 401 first, as on every other route, and nothing is
    answered unchecked.
    """
    try:
        answer = call()
    except Exception as error:
        if "officer_row" not in g:
            try:
                _check_officer_token(token)
            except InvalidToken:
                raise  # 401 first
            except Exception:  # e.g. the database gone: the route's own error stands
                raise error from None
        raise
    if "officer_row" not in g:  # fails closed: no answer before the row is checked
        _check_officer_token(token)
    return answer


def _check_officer_token(token: officers.OfficerToken) -> None:
    """Read and check the officer's row now (:class:`InvalidToken` if not current)."""
    g.officer_row = officers.officer_row_for_token(
        db_session=db.session(), officer_id=token.officer_id,
        token_version=token.token_version)


def current_officer_token() -> officers.OfficerToken:
    """The officer's token of an :func:`officer_token_required` route, its row not yet read."""
    return cast(officers.OfficerToken, g.officer_token)


def officer_checked(row: officers.OfficerView) -> None:
    """The officer's row, as the use case read and checked it: ``current_officer_row()``."""
    g.officer_row = row


def current_account() -> Account:
    """The account of the citizen making the request."""
    return cast(Account, g.account)


def current_officer_row() -> officers.OfficerView:
    """The row of the officer making the request, as checked (no ORM entity)."""
    return cast(officers.OfficerView, g.officer_row)


def current_officer() -> Officer:
    """The officer making the request, as an entity (built from its row, no SELECT)."""
    if "officer" not in g:
        g.officer = attach(db.session(), Officer, g.officer_row)
    return cast(Officer, g.officer)


def refresh_claims(encoded_token: str | None = None) -> tuple[str, int]:
    """The session and generation of the refresh token presented as bearer (401
    ``auth.required`` without one, ``auth.invalid_token`` for anything that is not a refresh
    token of ours: an access token included). ``encoded_token``: the header's token as read
    already (:mod:`app.hot_lane`), else read from the request's header."""
    if encoded_token is None:
        encoded_token, _csrf = _decode_jwt_from_headers()
    if not encoded_token.startswith(refresh_tokens.PREFIX):
        return _jwt_refresh_claims(encoded_token)
    found = refresh_tokens.read(current_app.extensions["refresh_keys"], encoded_token)
    if found is None:
        raise InvalidToken()
    return found


def _jwt_refresh_claims(encoded_token: str) -> tuple[str, int]:
    """The session and generation of a refresh token made as an ES256 JWT, as every one was
    before the tagged ones (a release of 2026-12): accepted, verified as then, until the last
    of them expires (their ``exp``, 30 days after they were made), so that no session ends at
    the upgrade; its rotation gives a tagged token. To be removed 30 days after that release."""
    header, claims = jwt.decode_with_header(encoded_token)
    verify_token_type(claims, True)
    session_id, generation = claims.get("sid"), claims.get("gen")
    if not isinstance(session_id, str) or not isinstance(generation, int):
        raise InvalidToken()
    return session_id, generation


def session_id() -> str:
    """The session id of the access token of the request."""
    sid = get_jwt().get("sid")
    if not isinstance(sid, str):
        raise InvalidToken()
    return sid


# --- Rate limits -----------------------------------------------------------------------------

def _hashed_key(field: str, value: str) -> str:
    """The rate-limit key of one value of a field, hashed (no personal id in Redis keys)."""
    return field + ":" + get_protector().lookup_hash(value[:128],
                                                     purpose=b"rate-limit").hex()[:32]


def _body_key(field: str) -> Callable[[], str]:
    """A rate-limit key from a JSON body field, hashed (no personal id in Redis keys)."""
    def key() -> str:
        data = request.get_json(silent=True)
        value = data.get(field) if isinstance(data, dict) else None
        if not isinstance(value, str):
            return f"{field}:none"
        return _hashed_key(field, value)
    return key


def own_id_limits(view: F) -> F:
    """The per-personal-id budget of :func:`auth_limits`, for the logged-in citizen's own id.

    For a citizen endpoint that checks the caller's password (a password
    change): the try is counted, before the view runs, in the very counter
    that logins for the same personal id count in, so a stolen access token
    buys no extra password guesses. Place it below ``citizen_required``: it
    reads the request's account.
    """
    def key() -> str:
        return _hashed_key("personal_id", current_account().citizen.personal_id)
    return Limits((_PER_IP, _Budget("AUTH_LIMIT_PER_ID", "auth:id", key)))(view)


def config_limit(name: str) -> Callable[[], str]:
    """A limit read from the configuration at each request (tests and operators can change it)."""
    return lambda: current_app.config[name]


@dataclass(frozen=True)
class _Budget:
    """One budget of an authentication endpoint: its limit (the name of its setting, in
    flask-limiter's notation, read at each request: ``20 per minute;100 per hour`` is two
    windows), its scope, and the request's key in it. A scope is shared by every endpoint
    that names it, except ``per_endpoint`` ones (counted for each endpoint apart)."""

    setting: str
    scope: str
    key: Callable[[], str]
    per_endpoint: bool = False
    #: The key reads only the app context (``g``: the caller's account), never the request.
    of_caller: bool = False


_PER_IP = _Budget("AUTH_LIMIT_PER_IP", "auth:ip", _client_address, per_endpoint=True)

#: Every window of a request counted in one atomic step: each of the first ``ARGV[1]`` keys in
#: turn is incremented (its expiry set when the increment created it, as flask-limiter's fixed
#: window does) and compared with its amount; the first past its amount stops the count.
#: Then, when one more key is given and every window had room, that count (a daily quota's,
#: :func:`count_from_environ`'s ``then``) is incremented by its cost and set to expire in its
#: time (ms). Returns ``{the refused window's 1-based index or 0, the last count's total or 0}``.
_COUNT_WINDOWS = b"""
local windows = tonumber(ARGV[1])
for index = 1, windows do
    local count = redis.call('incrby', KEYS[index], 1)
    if count == 1 then
        redis.call('expire', KEYS[index], ARGV[2 * index])
    end
    if count > tonumber(ARGV[2 * index + 1]) then
        return {index, 0}
    end
end
if #KEYS > windows then
    local key = KEYS[windows + 1]
    local used = redis.call('incrby', key, ARGV[2 * windows + 2])
    redis.call('pexpire', key, ARGV[2 * windows + 3])
    return {0, used}
end
return {0, 0}
"""


@functools.lru_cache(maxsize=32)
def _windows(spec: str) -> tuple[RateLimitItem, ...]:
    """The windows of a limit in flask-limiter's notation (``20 per minute;100 per hour``)."""
    return tuple(parse_many(spec))


def _count(budgets: tuple[_Budget, ...]) -> None:
    """Count the request in every window of ``budgets``; :class:`RateLimited` past one.

    The counters are flask-limiter's (same keys, same storage, emptied by
    ``limiter.reset()``), and so is the order: the shortest windows first, the
    count stopping at the first window past its amount (the later ones are not
    charged for a refused request). On Redis the whole count is one script, one
    round trip, atomic (never a check and then an increment); on the in-process
    store of the tests, flask-limiter's strategy counts each window. Redis down:
    the call fails and the request is refused with 503, never let through.
    """
    _count_keyed([(budget, budget.key()) for budget in budgets], request.endpoint or "")


def count_from_environ(budgets: tuple[_Budget, ...], *, endpoint: str,
                       environ: dict[str, Any],
                       then: tuple[str, int, int] | None = None) -> int | None:
    """:func:`_count` of a request known by its WSGI environ as the proxy fix leaves it
    (:mod:`app.hot_lane`, which has no request context), as the view of ``endpoint`` counts it.
    Only budgets keyed by the client's address or by the caller (``of_caller``: after the
    caller was checked, ``g`` holding it) can be counted so (``TypeError`` otherwise).

    ``then``: a count the view makes next in the app's Redis, ``(key, cost, ms until it
    ends)`` (a daily quota's, :func:`app.quotas.count_then_consume`), made by the
    same script in the same round trip when every budget had room and the rate limits count
    in that Redis: its new total, or None when it was not made (the caller makes it)."""
    if any(budget.key is not _client_address and not budget.of_caller for budget in budgets):
        raise TypeError("a budget keyed by the request's body needs the request")
    return _count_keyed([(budget, _address_of(environ) if budget.key is _client_address
                          else budget.key()) for budget in budgets], endpoint, then)


def hash_tagged(key: str) -> str:
    """A budget's key as its counters' keys hold it: a Redis Cluster hash tag, so that every
    window of one key (and the quota of the same caller, :mod:`app.quotas`) sits in one slot,
    where one script may count them together. Braces inside would end the tag early."""
    return "{" + key.replace("{", "(").replace("}", ")") + "}"


def _count_keyed(keyed: list[tuple[_Budget, str]], endpoint: str,
                 then: tuple[str, int, int] | None = None) -> int | None:
    """:func:`_count` of ``(budget, the request's key in it)``, for the view of ``endpoint``;
    ``then`` as :func:`count_from_environ` takes it."""
    config = current_app.config
    windows = sorted(((item, hash_tagged(key),
                       f"{endpoint}:{budget.scope}" if budget.per_endpoint else budget.scope)
                      for budget, key in keyed for item in _windows(config[budget.setting])),
                     key=lambda window: window[0])  # by window length, else in order
    storage, strategy = current_app.extensions["ratelimit_backend"]
    script = current_app.extensions["ratelimit_script"]
    used = past = None
    if script is not None:
        keys = [storage.prefixed_key(item.key_for(key, scope)) for item, key, scope in windows]
        if then is not None and not _limits_in_app_redis(script.registered_client):
            then = None
        counted = 0
        cluster = isinstance(script.registered_client, RedisCluster)
        for run, counts_then in slot_runs(keys, then, cluster=cluster):
            part = windows[counted:counted + len(run)]
            args = [len(run), *(value for item, _key, _scope in part
                                for value in (item.get_expiry(), item.amount))]
            if counts_then and then is not None:
                run, args = [*run, then[0]], [*args, *then[1:]]
            refused, total = kept_for(script.registered_client).script(script, run, args)
            if refused:
                past = part[int(refused) - 1][0]
                break
            used = int(total) if counts_then else None
            counted += len(part)
    else:
        past = next((item for item, key, scope in windows
                     if not strategy.hit(item, key, scope)), None)
    if past is not None:
        raise TooManyAttempts(f"Too many attempts ({past}); try again later.",
                              retry_after=past.get_expiry())
    return used


def slot_runs(keys: list[str], then: tuple[str, int, int] | None, *,
              cluster: bool) -> list[tuple[list[str], bool]]:
    """``keys`` (in counting order) as the script calls that count them: one on a Redis
    server; on a Redis Cluster, one per run of consecutive keys in the same slot (a script's
    keys must share one), the order kept, so the count still stops at the first window past
    its amount. Each run says whether ``then`` is counted with it: with the last run, when
    there is a ``then`` in the same slot (else the caller counts it)."""
    if not cluster:
        return [(keys, then is not None)]
    runs: list[tuple[list[str], bool]] = []
    slot = None
    for key in keys:
        if runs and key_slot(key.encode()) == slot:
            runs[-1][0].append(key)
        else:
            slot = key_slot(key.encode())
            runs.append(([key], False))
    if runs and then is not None and key_slot(then[0].encode()) == slot:
        runs[-1] = (runs[-1][0], True)
    return runs


def _limits_in_app_redis(client: Any) -> bool:
    """Whether the rate limits' Redis ``client`` is the app's Redis (the same server and
    database): whether a count of the app's Redis may be made by the rate limits' script.
    Kept for the pair of clients it was decided for: an app whose Redis client is replaced
    (a test's broken one) decides again, and again when the client is put back."""
    app_redis = current_app.extensions.get("redis")
    decided = current_app.extensions.get("ratelimit_in_app_redis")
    if decided is None or decided[0] is not app_redis or decided[1] is not client:
        decided = current_app.extensions["ratelimit_in_app_redis"] = (
            app_redis, client, type(app_redis) is type(client)
            and isinstance(client, (redis.Redis, RedisCluster))
            and _where(app_redis) == _where(client))
    return bool(decided[2])


def _where(client: Any) -> tuple[Any, ...]:
    """The server and database a Redis client talks to; a cluster's client, its nodes."""
    if isinstance(client, RedisCluster):
        return ("cluster", frozenset(client.nodes_manager.startup_nodes))
    kwargs = client.connection_pool.connection_kwargs
    return (type(client.connection_pool),
            *(kwargs.get(name) for name in ("host", "port", "path", "db", "username")))


class Limits:
    """Rate limits of a view: a decorator counting its request in ``budgets`` before it runs
    (:func:`_count`); the hot lane counts a request of the same view in the same budgets."""

    def __init__(self, budgets: tuple[_Budget, ...]) -> None:
        self.budgets = budgets

    def __call__(self, view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            _count(self.budgets)
            return view(*args, **kwargs)
        return cast(F, wrapper)


def limited(setting: str, *, scope: str, key: Callable[[], str]) -> Limits:
    """A rate limit of a view per ``key()`` (``setting``: the name of its limit in
    flask-limiter's notation, read at each request), counted like the authentication budgets:
    one Redis script, one round trip, flask-limiter's keys (:func:`_count`). ``key()`` names
    the caller from the app context only (``g``), never from the request (``of_caller``)."""
    return Limits((_Budget(setting, scope, key, of_caller=True),))


def auth_limits(*, personal_id: bool = True, device: bool = False,
                username: bool = False) -> Limits:
    """Rate limits of an authentication endpoint: per IP, and per personal id, device, username.

    The per-IP limit counts each endpoint apart; the per-id and per-device
    limits are shared by every authentication endpoint (one budget per
    citizen, whatever the endpoint). They count in Redis, all in one round
    trip (:func:`_count`), and when Redis is down the request is refused with
    503.
    """
    budgets = (_PER_IP,
               *([_Budget("AUTH_LIMIT_PER_ID", "auth:id", _body_key("personal_id"))]
                 if personal_id else []),
               *([_Budget("AUTH_LIMIT_PER_ID", "auth:officer", _body_key("username"))]
                 if username else []),
               *([_Budget("AUTH_LIMIT_PER_DEVICE", "auth:device", _body_key("device_id"))]
                 if device else []))
    return Limits(budgets)
