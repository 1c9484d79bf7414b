"""Which Redis the suite runs on (``REDIS_URL``): none (the in-process stand-in), one server,
or a Redis Cluster; and the marks of the tests that need one kind.

CI runs the suite on SQLite and the stand-in, on PostgreSQL with a Redis Cluster, and the tests
marked ``redis_server`` once more on one Redis server (``make test-redis-server``): each test
below runs in one of them."""
from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar

import pytest

from config import REDIS_CLUSTER_SCHEME

T = TypeVar("T", bound=Callable[..., Any])

REDIS_URL = os.environ.get("REDIS_URL") or ""
ONE_SERVER = REDIS_URL.startswith(("redis://", "rediss://", "unix://"))
CLUSTER = REDIS_URL.startswith(REDIS_CLUSTER_SCHEME)


def one_redis_server(test: T) -> T:
    """A test of one Redis server's connections, round trips or network link."""
    return pytest.mark.redis_server(pytest.mark.skipif(
        not ONE_SERVER, reason="needs REDIS_URL naming one Redis server; CI runs it in its "
                               "Redis-server pass (make test-redis-server)")(test))


def redis_cluster(test: T) -> T:
    """A test of what a Redis Cluster changes (slots, hash tags)."""
    return pytest.mark.skipif(not CLUSTER, reason="needs REDIS_URL naming a Redis Cluster "
                                                  "(CI's PostgreSQL pass)")(test)
