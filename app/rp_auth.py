"""Authentication of relying parties: OAuth 2 client-credentials tokens, scopes, quotas.

A party's access token is a JWT signed like every other token of the
service (``app/auth.py``), with ``sub`` ``rp:<id>``, the party's token
version and the granted scopes. Each request re-reads the party's row (one
Core statement, no ORM entity): a disabled party, or one whose secret was
rotated, is refused on its next call. Routes that only read the party use
:func:`current_party_row`; :func:`current_party` builds the entity from the
same row when a use case needs one.
"""
from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any, TypeVar, cast

from flask import current_app, g, request
from flask_jwt_extended import get_jwt
from limits import parse_many

from app.auth import _subject, _token_version, sign_access_token, verify_bearer
from app.extensions import db, get_redis
from identity.entities import attach
from identity.relying_parties import parties
from identity.relying_parties.callbacks import CallbackPolicy
from identity.relying_parties.errors import ScopeMissing
from identity.relying_parties.models import RelyingParty

F = TypeVar("F", bound=Callable[..., Any])

#: The OpenAPI security requirement of the relying parties' endpoints.
RP_BEARER: list[dict[str, list[str]]] = [{"rpToken": []}]


def issue_party_token(party: RelyingParty, scopes: list[str]) -> dict[str, Any]:
    """The token endpoint's answer for an authenticated party (RFC 6749 section 4.4.3)."""
    seconds = current_app.config["RP_TOKEN_SECONDS"]
    token = sign_access_token(f"rp:{party.id}", seconds,
                              {"role": "rp", "tv": party.token_version,
                               "scope": " ".join(scopes), "cid": party.client_id})
    return {"access_token": token, "token_type": "Bearer", "expires_in": seconds,
            "scope": " ".join(scopes)}


def per_item(field: str, *, most: int = 1000) -> Callable[[], int]:
    """A quota cost of one unit per item of the JSON body's list ``field`` (1 without one).

    For endpoints that take many personal ids a request (lodging notices,
    source deliveries): the daily quota bounds the ids looked at, not the
    requests. ``most`` caps what one request is charged (a longer list is
    refused by validation anyway).
    """
    def cost() -> int:
        body = request.get_json(silent=True)
        items = body.get(field) if isinstance(body, dict) else None
        return max(1, min(len(items), most)) if isinstance(items, list) else 1
    return cost


def party_required(scope: str, *, metered: bool = True,
                   cost: Callable[[], int] | None = None) -> Callable[[F], F]:
    """Let the view run for an active party whose token carries ``scope``.

    Then the party's rate limit (``RP_LIMIT_PER_PARTY``, per endpoint: 429
    ``rate_limited``) and, when ``metered``, the scope's daily quota: one
    unit, or what ``cost`` says for this request (429 ``rp.quota_exhausted``
    with ``Retry-After`` past it). Both are counted in Redis in one round trip
    (:func:`parties.meter_request`): when it is down the request is refused
    with 503, never let through uncounted. Every endpoint that takes
    a personal id is metered; unmetered ones take none (a consent's status,
    erasure requests, the telco's own report).
    """
    def decorate(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            verify_bearer()  # the library's checks, the token read once
            party_admitted(party_token(), scope, endpoint=str(request.endpoint),
                           metered=metered,
                           cost=cost() if metered and cost is not None else 1)
            return view(*args, **kwargs)
        return cast(F, wrapper)
    return decorate


@dataclass(frozen=True)
class PartyToken:
    """A party's access token whose signature, type and claims were checked; the party's row
    is still to be read (:func:`party_admitted`)."""

    party_id: int
    token_version: int


def party_token() -> PartyToken:
    """The party's token of the request's verified claims (:func:`app.auth.verify_bearer`)."""
    return PartyToken(party_id=_subject("rp"), token_version=_token_version())


#: :func:`party_admitted`'s ``row`` when the caller has not read it.
_UNREAD: Any = object()


def party_admitted(token: PartyToken, scope: str, *, endpoint: str, metered: bool = True,
                   cost: int = 1, row: Any = _UNREAD) -> parties.PartyView:
    """The party's row, if it is active, its token current and ``scope`` granted in both;
    then the request counted in its rate windows and, when ``metered``, ``cost`` units of
    its quota (:func:`party_required`'s steps: ``current_party_row()`` from now on).
    ``row``: the party's row as the caller read it (None: no such party), else read here."""
    party = (parties.party_row_for_token(db_session=db.session(), party_id=token.party_id,
                                         token_version=token.token_version)
             if row is _UNREAD else parties.checked_party_row(row, token.token_version))
    granted = str(get_jwt().get("scope", "")).split()
    if scope not in granted or scope not in parties.scope_set(party):
        raise ScopeMissing(errors={"scope": [scope]})
    g.party_row = party
    g.pop("party", None)  # an app context (and its g) may outlive one request
    parties.meter_request(
        redis_client=get_redis(), party=party, endpoint=endpoint,
        windows=_windows(current_app.config["RP_LIMIT_PER_PARTY"]),
        scope=scope if metered else None, defaults=current_app.config["RP_DAILY_QUOTAS"],
        cost=cost)
    return party


@functools.lru_cache(maxsize=16)
def _windows(spec: str) -> tuple[tuple[int, int], ...]:
    """``RP_LIMIT_PER_PARTY`` (flask-limiter's notation, ``600 per minute;20 per second``) as
    ``(amount, seconds)`` fixed windows, read at each request (tests and operators change it)."""
    return tuple((item.amount, item.get_expiry()) for item in parse_many(spec))


def callback_policy() -> CallbackPolicy:
    """The configured rules of callback URLs (https only, private addresses allowed or not)."""
    return CallbackPolicy(https_only=bool(current_app.config["RP_CALLBACKS_HTTPS_ONLY"]),
                          allow_private=bool(current_app.config["RP_CALLBACKS_ALLOW_PRIVATE"]))


def current_party_row() -> parties.PartyView:
    """The row of the relying party making the request, as checked (no ORM entity)."""
    return cast(parties.PartyView, g.party_row)


def current_party() -> RelyingParty:
    """The relying party making the request, as an entity (built from its row, no SELECT)."""
    if "party" not in g:
        g.party = attach(db.session(), RelyingParty, g.party_row)
    return cast(RelyingParty, g.party)
