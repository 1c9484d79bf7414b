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
from dataclasses import dataclass
from typing import Any, TypeVar

from flask import current_app, g

from app.auth import count_from_environ, hash_tagged, limited
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


@dataclass(frozen=True)
class DailyQuota:
    """Today's count of one endpoint's units for one account: its key, the units this request
    costs, the day's limit, in how many ms the key ends (a time relative to Redis's clock, so
    that a skewed clock of a server cannot end it early) and when the day renews."""

    key: str
    cost: int
    limit: int
    expire_ms: int
    retry_after: int

    def check(self, used: int) -> int:
        """What is left once ``used`` units are counted; :class:`DailyQuotaExhausted` past it."""
        if used > self.limit:
            raise DailyQuotaExhausted(retry_after=self.retry_after, errors={"quota": [self.limit]})
        return self.limit - used


def daily_quota(*, name: str, subject: str, config_name: str, cost: int = 1) -> DailyQuota:
    """``cost`` units of ``name`` today for ``subject`` (``account:12``), not yet counted."""
    now = clock.now()
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0).timestamp() + 86_400
    # It ends at a fixed time (tomorrow's midnight), not a time counted from this call: the
    # key's TTL must not tell when the account last acted (an anonymous report, for one).
    # The subject as a hash tag: in the slot of the caller's own rate-limit counters
    # (app.auth.hash_tagged), so that on a Redis Cluster one script counts both.
    return DailyQuota(key=f"quota:{name}:{hash_tagged(subject)}:{now:%Y%m%d}", cost=cost,
                      limit=int(current_app.config[config_name]),
                      expire_ms=int((midnight + 86_400 - now.timestamp()) * 1000),
                      retry_after=max(1, int(midnight - now.timestamp())))


def consume_daily_quota(*, name: str, subject: str, config_name: str, cost: int = 1) -> int:
    """Count ``cost`` units of ``name`` today for ``subject`` (``account:12``); what is left.

    Raises :class:`DailyQuotaExhausted` once the day's total would pass the
    configured quota (the refused units are counted too: hammering does not
    buy anything back).
    """
    return _consume(daily_quota(name=name, subject=subject, config_name=config_name, cost=cost))


def _consume(quota: DailyQuota) -> int:
    used = kept_for(get_redis()).transaction(("INCRBY", quota.key, quota.cost),
                                             ("PEXPIRE", quota.key, quota.expire_ms))[0]
    return quota.check(int(used))


def count_then_consume(budgets: tuple[Any, ...], quota: DailyQuota, *, endpoint: str,
                       environ: dict[str, Any]) -> int:
    """The hot lane's count of a request in its view's rate-limit ``budgets``
    (:func:`app.auth.count_from_environ`), then its ``quota`` consumed, as the route counts
    the one before it runs and consumes the other in its view: a request refused by a
    limit consumes nothing. In one Redis round trip when the limits count in the app's Redis;
    what is left of the quota."""
    used = count_from_environ(budgets, endpoint=endpoint, environ=environ,
                              then=(quota.key, quota.cost, quota.expire_ms))
    return _consume(quota) if used is None else quota.check(used)
