"""A Redis Cluster as the service's Redis (``REDIS_URL=redis+cluster://host:port[,...]``).

redis-py's ``RedisCluster`` reads the cluster's slot map from a node when it is made, and so
does flask-limiter's cluster storage, which makes one: an app built while no node answers
would not start at all, and ``flask db upgrade`` would need Redis. The clients here read the
slot map on their first command instead, as a one-server client connects on first use: the app
starts, and a request that needs Redis while the cluster is unreachable is answered 503
(``service.unavailable``), as with one server.

What a cluster changes for the service's keys: a script or ``MULTI`` must keep to one slot. The
rate limits' script counts the windows of one key with the caller's daily quota; their keys are
hash-tagged by that key (:func:`app.auth.hash_tagged`), and windows of different keys are
counted by one script call per slot (:func:`app.auth.slot_runs`). Every other command of the
service takes one key, or pipelines commands without a transaction. RQ keeps a job, its queue
and its registries in one ``MULTI`` and has no cluster support: its queue is on one server
(``JOB_REDIS_URL``).
"""
from __future__ import annotations

import threading
import types
from typing import Any
from urllib.parse import unquote

import redis
from limits.storage import RedisClusterStorage
from redis.cluster import ClusterNode, RedisCluster

from config import REDIS_CLUSTER_SCHEME


class LazyRedisCluster(RedisCluster):
    """A ``RedisCluster`` that reads the slot map on its first use, not when made."""

    def __init__(self, **options: Any) -> None:  # pylint: disable=super-init-not-called
        self.__dict__["_vnid_pending"] = options
        self.__dict__["_vnid_lock"] = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        # Only for what the instance lacks: before the first use, everything RedisCluster's
        # __init__ sets (its nodes manager, its command flags...).
        lock = self.__dict__.get("_vnid_lock")
        if lock is None or name.startswith("_vnid_"):
            raise AttributeError(name)
        with lock:
            pending = self.__dict__.get("_vnid_pending")
            if pending is not None:
                try:
                    RedisCluster.__init__(self, **pending)
                except BaseException:
                    kept = {key: self.__dict__[key] for key in ("_vnid_pending", "_vnid_lock")}
                    self.__dict__.clear()  # nothing half-made is used: the next use tries again
                    self.__dict__.update(kept)
                    raise
                del self.__dict__["_vnid_pending"]
        if name in self.__dict__ or hasattr(type(self), name):
            return object.__getattribute__(self, name)
        raise AttributeError(name)

    def __del__(self) -> None:
        if "_vnid_pending" not in self.__dict__:  # a client never used has nothing to close
            super().__del__()


class LazyClusterStorage(RedisClusterStorage):
    """flask-limiter's storage for ``redis+cluster://`` (this class takes the scheme over in
    this process), on a :class:`LazyRedisCluster`."""

    STORAGE_SCHEME = ["redis+cluster"]

    @property
    def dependencies(self) -> Any:
        # redis-py, as the parent class reaches it, but for the cluster client it makes.
        shim = types.SimpleNamespace(**vars(super().dependencies["redis"].module))
        shim.cluster = types.SimpleNamespace(RedisCluster=LazyRedisCluster,
                                             ClusterNode=ClusterNode)
        return {"redis": types.SimpleNamespace(module=shim)}


def cluster_parts(url: str) -> tuple[list[tuple[str, int]], str | None, str | None]:
    """The nodes, user and password of a ``redis+cluster://`` URL."""
    auth, _, hosts = url[len(REDIS_CLUSTER_SCHEME):].rpartition("@")
    user, _, password = auth.partition(":")
    nodes = []
    for host in hosts.split("/")[0].split(","):
        name, _, port = host.rpartition(":")
        nodes.append((name, int(port)))
    return nodes, unquote(user) or None, unquote(password) or None


def redis_for(url: str) -> redis.Redis:
    """A client of the Redis ``url`` names: one server (``redis://``, ``rediss://``,
    ``unix://``), or a Redis Cluster (``redis+cluster://[[user]:password@]host:port[,...]``,
    as flask-limiter's storage takes it: any node, the others are found)."""
    options: dict[str, Any] = {"socket_connect_timeout": 2, "socket_timeout": 2,
                               "health_check_interval": 30}
    if not url.startswith(REDIS_CLUSTER_SCHEME):
        return redis.Redis.from_url(url, **options)
    nodes, user, password = cluster_parts(url)
    # A Redis client for every command the service sends (a cluster's client routes each to
    # its slot's node).
    client: Any = LazyRedisCluster(
        startup_nodes=[ClusterNode(host, port) for host, port in nodes], username=user,
        password=password, **options)
    return client
