"""One-time SMS codes bound to a pending act, held in Redis.

A pending act (a registration, a device rebind, an unlock) is a Redis hash
``verify:<purpose>:<ref>`` holding its payload and an HMAC of its code; it
expires with the code (5 minutes). The code is bound to its purpose and its
act: a registration code cannot unlock an account.

- Single use, atomically: the one request whose ``DEL`` removes the key wins;
  twenty parallel submissions of the right code give exactly one success.
- Five tries per code: a counter beside the key, incremented (``INCR``, one
  atomic step) before the code is compared, so the number it returns is the
  try's place in line: of any number of concurrent tries only the first five
  are compared, the rest refused unread. The fifth wrong try burns the code.
  A try past the budget is refused without deleting, or it could delete the
  key under a request within the budget that was about to win.
- Five sends per phone per hour: a counter per phone's keyed hash.

Codes never reach a log line; the HMAC key is the service's look-up key.
"""
from __future__ import annotations

import hmac
import json
import secrets
from typing import Any

import redis

from identity.accounts.errors import InvalidCode, TooManySms
from identity.protection import Protector

CODE_TTL_SECONDS = 300
MAX_TRIES = 5
MAX_SENDS_PER_HOUR = 5


def _key(purpose: str, ref: str) -> str:
    return f"verify:{purpose}:{ref}"


def _digest(protector: Protector, purpose: str, ref: str, code: str) -> str:
    return protector.lookup_hash(f"{purpose}:{ref}:{code}", purpose=b"otp").hex()


def new_code() -> str:
    """Six random digits."""
    return f"{secrets.randbelow(1_000_000):06d}"


def count_send(*, redis_client: redis.Redis, protector: Protector, phone: str) -> None:
    """Count one SMS to ``phone``; :class:`TooManySms` past five in the hour."""
    key = "sms:sent:" + protector.lookup_hash(phone, purpose=b"sms-rate").hex()
    pipe = redis_client.pipeline()
    pipe.incr(key)
    pipe.expire(key, 3600, nx=True)
    sent, _ = pipe.execute()
    if int(sent) > MAX_SENDS_PER_HOUR:
        raise TooManySms()


def start(*, redis_client: redis.Redis, protector: Protector, purpose: str,
          payload: dict[str, Any], ttl: int = CODE_TTL_SECONDS) -> tuple[str, str]:
    """Hold a pending act; returns its reference and its fresh code (to send, never to log)."""
    ref = secrets.token_urlsafe(16)
    code = new_code()
    pipe = redis_client.pipeline()  # MULTI/EXEC: never a code without its expiry
    pipe.hset(_key(purpose, ref), mapping={
        "payload": json.dumps(payload), "digest": _digest(protector, purpose, ref, code)})
    pipe.expire(_key(purpose, ref), ttl)
    pipe.execute()
    return ref, code


def consume(*, redis_client: redis.Redis, protector: Protector, purpose: str, ref: str,
            code: object) -> dict[str, Any]:
    """The pending act's payload if ``code`` is its code (consumed), else :class:`InvalidCode`."""
    if not isinstance(code, str) or not isinstance(ref, str) or len(ref) > 64:
        raise InvalidCode()
    key = _key(purpose, ref)
    held = redis_client.hgetall(key)
    if not held:
        raise InvalidCode()
    tries_key = key + ":tries"
    pipe = redis_client.pipeline()
    pipe.incr(tries_key)
    pipe.expire(tries_key, CODE_TTL_SECONDS, nx=True)
    tries, _ = pipe.execute()
    if int(tries) > MAX_TRIES:
        # Past the budget: refused before the code is compared, right or wrong. Deleting
        # the key would race the one request within the budget that may still win.
        raise InvalidCode()
    expected = held[b"digest"]
    expected = expected.decode() if isinstance(expected, bytes) else expected
    if not hmac.compare_digest(expected, _digest(protector, purpose, ref, code)):
        if int(tries) == MAX_TRIES:
            redis_client.delete(key)  # the last try of the budget was wrong: burn the code
        raise InvalidCode()
    if redis_client.delete(key) != 1:  # another request used it first
        raise InvalidCode()
    return json.loads(held[b"payload"])
