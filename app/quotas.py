"""Per-account rate limits and daily quotas of the endpoints that take personal ids.

An endpoint that takes many personal ids (a lodging notice lists up to 50)
must not let one account walk the registry. Two bounds, both counted in Redis
(when it is down the request is refused with 503, never let through uncounted):

- a rate limit per account (:func:`app.auth.limited`: flask-limiter's counters in one Redis
  round trip, key ``account:<id>`` or
  ``officer:<id>``: no personal data in the key), read from the configuration
  at each request; a ``per day`` part of it is the daily bound of endpoints
  that take one personal id a request (a stay's host, a fine);
- a daily quota per account, counted in units the endpoint chooses (one per
  guest for lodging notices), reset at midnight UTC; past it, 429 with
  ``Retry-After`` until midnight.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import current_app, g

from app.auth import limited
from app.extensions import get_redis
from identity import clock
from identity.errors import TooManyAttempts
from identity.kept_redis import kept_for

F = TypeVar("F", bound=Callable[..., Any])


class DailyQuotaExhausted(TooManyAttempts):
    """The account has used its daily quota of an endpoint (429, Retry-After until midnight)."""

    code = "quota.exhausted"
    message = "The daily quota of this request is used up; it renews at midnight UTC."


def _account_key() -> str:
    """The caller's account: a citizen's (``g.account``) or an officer's (``g.officer_row``)."""
    if "account" in g:
        return f"account:{g.account.id}"
    return f"officer:{g.officer_row.id}" if "officer_row" in g else "account:none"


def account_rate_limit(config_name: str, *, scope: str) -> Callable[[F], F]:
    """A per-account rate limit (``config_name``: flask-limiter notation, e.g. ``5 per
    minute;20 per day``), for a view that runs after ``citizen_required`` or
    ``officer_required`` (it reads ``g.account`` or ``g.officer_row``)."""
    return limited(config_name, scope=scope, key=_account_key)


def consume_daily_quota(*, name: str, subject: str, config_name: str, cost: int = 1) -> int:
    """Count ``cost`` units of ``name`` today for ``subject`` (``account:12``); what is left.

    Raises :class:`DailyQuotaExhausted` once the day's total would pass the
    configured quota (the refused units are counted too: hammering does not
    buy anything back).
    """
    limit = int(current_app.config[config_name])
    now = clock.now()
    key = f"quota:{name}:{subject}:{now:%Y%m%d}"
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0).timestamp() + 86_400
    # It ends at a fixed time (tomorrow's midnight), not a time counted from this call: the
    # key's TTL must not tell when the account last acted (an anonymous report, for one).
    used = int(kept_for(get_redis()).transaction(
        ("INCRBY", key, cost),
        ("PEXPIRE", key, int((midnight + 86_400 - now.timestamp()) * 1000)))[0])
    if used > limit:
        raise DailyQuotaExhausted(retry_after=max(1, int(midnight - now.timestamp())),
                                  errors={"quota": [limit]})
    return limit - used
