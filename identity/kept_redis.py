"""Redis commands of the hot paths, sent on connections a process keeps, past redis-py's layers.

A command through a ``redis.Redis`` client goes through its retry wrapper, its
observability hooks, the connection pool's checkout (a lock, a process id check, a
``poll`` of the socket for stale data) and check-in, and the reply's callback: on this
machine kind a ``SET`` cost 135 µs that way against 58 µs sent on a connection held
(``send_command`` and ``read_response``), the round trip included, and a script call
155 µs against 69 (``docs/benchmarks.md``, run Z). The rate limits' script, the daily
quotas' count and the QR text of an issued credential are on requests that a country makes
at once, so :func:`kept_for` gives them :class:`KeptRedis`, which:

- **keeps** up to :data:`KEEP` of the pool's connections checked out between commands, in a
  C queue shared by the process's threads (a connection is one thread's at a time); any
  other goes back to the pool;
- **sends** on such a connection with redis-py's own ``Connection``: its health check
  (a ``PING`` before a command on a connection idle past the client's
  ``health_check_interval``), its encoding and its reply parser; a reply that is an error
  (``ResponseError``) is raised after it was read whole, the connection still clean;
- **fails as the client does**: on a connection or timeout error the connection is closed
  and given back to the pool, and the command is sent again through the client, whose
  retry policy then applies (as it did before); Redis down is the client's error, which the
  service answers with 503;
- **is not used** where the client is not a plain ``redis.Redis`` on a TCP or Unix socket
  connection pool (the in-process stand-in of ``make run`` and of the tests, a Redis
  Cluster's client, which routes each command to its slot's node): every call then goes
  through the client, with the same replies.

Replies are Redis's own (``b"OK"``, integers, lists), without the client's callbacks.
"""
from __future__ import annotations

import os
import queue
from collections.abc import Sequence
from typing import Any

import redis
from redis.commands.core import Script
from redis.exceptions import NoScriptError, ResponseError

#: Connections a process keeps checked out between commands, per client.
KEEP = 4
_PLAIN = (redis.Connection, redis.UnixDomainSocketConnection)
_FAILED = (redis.ConnectionError, redis.TimeoutError, OSError)


class KeptRedis:
    """The hot paths' commands of one ``redis.Redis`` client (see the module's text)."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        pool = getattr(client, "connection_pool", None)  # a cluster's client has none
        self.usable = (type(pool) is redis.ConnectionPool and pool.connection_class in _PLAIN
                       and client.connection is None)  # not a single-connection client
        self._pid = os.getpid()
        self._kept: queue.SimpleQueue[Any] = queue.SimpleQueue()

    def kept(self) -> int:
        """How many connections are kept now (the tests read it)."""
        return self._kept.qsize()

    def _take(self) -> Any:
        if self._pid != os.getpid():  # a forked child: the parent's sockets are not its own
            self._pid, self._kept = os.getpid(), queue.SimpleQueue()
        try:
            return self._kept.get_nowait()
        except queue.Empty:
            return self.client.connection_pool.get_connection()

    def _give_back(self, connection: Any) -> None:
        if self._kept.qsize() < KEEP:
            self._kept.put(connection)
        else:
            self.client.connection_pool.release(connection)

    def _drop(self, connection: Any) -> None:
        connection.disconnect()
        self.client.connection_pool.release(connection)

    def _exchange(self, commands: Sequence[Sequence[Any]]) -> list[Any]:
        """Send ``commands`` in one write and read their replies, on a kept connection."""
        connection = self._take()
        try:
            if len(commands) == 1:
                connection.send_command(*commands[0])
            else:
                connection.send_packed_command(connection.pack_commands(commands))
            replies: list[Any] = []
            error: ResponseError | None = None
            for _ in commands:
                try:
                    replies.append(connection.read_response())
                except ResponseError as refused:  # read whole: the connection is clean
                    error = error or refused
                    replies.append(refused)
        except BaseException:
            self._drop(connection)
            raise
        self._give_back(connection)
        if error is not None:
            raise error
        return replies

    def command(self, *args: Any) -> Any:
        """One command's reply (e.g. ``command("SET", key, value, "EXAT", at)``)."""
        if not self.usable:
            return self.client.execute_command(*args)
        try:
            return self._exchange((args,))[0]
        except _FAILED:
            return self.client.execute_command(*args)

    def script(self, script: Script, keys: Sequence[Any], args: Sequence[Any]) -> Any:
        """A registered script's reply: ``EVALSHA``, its text sent once when Redis lacks it."""
        if not self.usable:
            return script(keys=list(keys), args=list(args))
        try:
            return self.command("EVALSHA", script.sha, len(keys), *keys, *args)
        except NoScriptError:
            return self.command("EVAL", script.script, len(keys), *keys, *args)

    def pipeline(self, *commands: Sequence[Any]) -> list[Any]:
        """``commands`` sent in one write, not as a transaction; their replies."""
        if not self.usable:
            return self._client_pipeline(commands, transaction=False)
        try:
            return self._exchange(commands)
        except _FAILED:
            return self._client_pipeline(commands, transaction=False)

    def transaction(self, *commands: Sequence[Any]) -> list[Any]:
        """``commands`` in ``MULTI``/``EXEC``, sent in one write; their replies."""
        if not self.usable:
            return self._client_pipeline(commands)
        try:
            replies = self._exchange([("MULTI",), *commands, ("EXEC",)])[-1]
        except _FAILED:
            return self._client_pipeline(commands)
        for reply in replies:
            if isinstance(reply, ResponseError):
                raise reply
        return list(replies)

    def _client_pipeline(self, commands: Sequence[Sequence[Any]], *,
                         transaction: bool = True) -> list[Any]:
        """:meth:`transaction` (or :meth:`pipeline`) through the client's own pipeline (its
        retries, its callbacks)."""
        pipe = self.client.pipeline(transaction=transaction)
        for command in commands:
            pipe.execute_command(*command)
        return list(pipe.execute())


def kept_for(client: redis.Redis) -> KeptRedis:
    """The :class:`KeptRedis` of ``client``, made on first use and kept on it."""
    found: KeptRedis | None = client.__dict__.get("_vnid_kept")
    if found is None:
        found = client.__dict__["_vnid_kept"] = KeptRedis(client)
    return found
