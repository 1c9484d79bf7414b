"""identity.kept_redis: the hot paths' commands on kept connections, answering as the client
does, failing as it does, and never leaving a connection with a reply unread."""
from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import fakeredis
import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from identity.kept_redis import KEEP, KeptRedis, kept_for
from tests.redis_kinds import one_redis_server

REDIS_URL = os.environ.get("REDIS_URL") or ""
real = one_redis_server


@pytest.fixture()
def client() -> Iterator[redis.Redis]:
    found = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2, socket_timeout=2,
                                 health_check_interval=30)
    yield found
    found.close()


@pytest.fixture()
def key(client: redis.Redis) -> Iterator[str]:
    name = f"test:kept:{uuid.uuid4().hex}"
    yield name
    client.delete(name)


def _checkouts(monkeypatch: Any, client: redis.Redis) -> list[int]:
    """Count the pool's checkouts from now on."""
    counted: list[int] = []
    take = client.connection_pool.get_connection

    def counting(*args: Any, **kwargs: Any) -> Any:
        counted.append(1)
        return take(*args, **kwargs)
    monkeypatch.setattr(client.connection_pool, "get_connection", counting)
    return counted


@real
def test_commands_reuse_one_kept_connection(client, key, monkeypatch):
    kept = KeptRedis(client)
    assert kept.usable
    checkouts = _checkouts(monkeypatch, client)
    assert kept.command("SET", key, b"v" * 300, "EXAT", 4_000_000_000) in (b"OK", "OK", True)
    assert kept.command("GET", key) == b"v" * 300
    assert len(checkouts) == 1 and kept.kept() == 1
    assert client.ttl(key) > 0
    assert kept_for(client) is kept_for(client)


@real
def test_no_more_than_keep_connections_are_kept(client):
    kept = KeptRedis(client)
    taken = [kept._take() for _ in range(KEEP + 2)]
    for connection in taken:
        kept._give_back(connection)
    assert kept.kept() == KEEP
    assert len(client.connection_pool._available_connections) >= 2  # the others: the pool's


@real
def test_a_script_redis_lacks_is_sent_whole_once(client, key):
    kept = KeptRedis(client)
    script = client.register_script("return redis.call('incrby', KEYS[1], ARGV[1])")
    client.script_flush()
    assert kept.script(script, [key], [5]) == 5
    assert client.script_exists(script.sha) == [True]
    assert kept.script(script, [key], [2]) == 7


@real
def test_an_error_reply_is_raised_and_the_connection_stays_clean(client, key):
    kept = KeptRedis(client)
    client.set(key, "not a number")
    with pytest.raises(redis.ResponseError):
        kept.command("INCRBY", key, 1)
    assert kept.kept() == 1  # read whole: kept
    assert kept.command("GET", key) == b"not a number"  # the next reply is its own


@real
def test_a_transaction_answers_every_reply_and_raises_a_failed_one(client, key):
    kept = KeptRedis(client)
    assert kept.transaction(("INCRBY", key, 3), ("PEXPIRE", key, 60_000)) == [3, 1]
    assert 0 < client.pttl(key) <= 60_000
    client.set(key, "not a number")
    with pytest.raises(redis.ResponseError):
        kept.transaction(("INCRBY", key, 1), ("PEXPIRE", key, 60_000))
    assert kept.command("GET", key) == b"not a number"
    with pytest.raises(redis.ResponseError):  # refused when queued: EXECABORT
        kept.transaction(("INCRBY", key), ("PEXPIRE", key, 60_000))
    assert kept.command("GET", key) == b"not a number"


@real
def test_a_pipeline_answers_every_reply_in_one_write_and_raises_a_failed_one(
        client, key, monkeypatch):
    kept = KeptRedis(client)
    checkouts = _checkouts(monkeypatch, client)
    assert kept.pipeline(("INCR", key), ("EXPIRE", key, 60), ("INCRBY", key, 4)) == [1, 1, 5]
    assert len(checkouts) == 1 and kept.kept() == 1
    assert 0 < client.ttl(key) <= 60
    client.set(key, "not a number")
    with pytest.raises(redis.ResponseError):  # not a transaction: the others ran
        kept.pipeline(("INCR", key), ("EXPIRE", key, 30))
    assert 0 < client.ttl(key) <= 30
    assert kept.command("GET", key) == b"not a number"  # the connection read clean


@real
def test_a_connection_the_server_closed_is_replaced_and_the_command_answered(client, key):
    kept = KeptRedis(client)
    kept.command("CLIENT", "SETNAME", "kept-to-kill")
    assert kept.kept() == 1
    victims = [c["id"] for c in client.client_list() if c.get("name") == "kept-to-kill"]
    assert victims
    for victim in victims:
        client.execute_command("CLIENT", "KILL", "ID", victim)
    assert kept.command("SET", key, "after", "EX", 60) in (b"OK", "OK", True)
    assert client.get(key) == b"after"


def test_redis_down_is_the_clients_error(monkeypatch):
    down = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2,
                       retry=Retry(NoBackoff(), 0))  # the client's own retries: not this test's
    kept = KeptRedis(down)
    assert kept.usable
    with pytest.raises(redis.ConnectionError):
        kept.command("GET", "anything")
    with pytest.raises(redis.ConnectionError):
        kept.transaction(("INCRBY", "anything", 1), ("PEXPIRE", "anything", 1000))
    with pytest.raises(redis.ConnectionError):
        kept.pipeline(("INCR", "anything"), ("EXPIRE", "anything", 1))
    assert kept.kept() == 0


@real
def test_a_forked_process_keeps_none_of_its_parents_connections(client, key):
    kept = KeptRedis(client)
    kept.command("GET", key)
    assert kept.kept() == 1
    kept._pid = -1  # as in a child after fork
    kept.command("GET", key)
    assert kept.kept() == 1 and kept._pid == os.getpid()


def test_the_in_process_stand_in_goes_through_its_client():
    stand_in = fakeredis.FakeRedis(server=fakeredis.FakeServer())
    kept = kept_for(stand_in)
    assert not kept.usable
    assert kept.command("SET", "k", "v", "EXAT", 4_000_000_000) is True
    assert kept.transaction(("INCRBY", "n", 2), ("PEXPIRE", "n", 60_000)) == [2, True]
    assert kept.command("INCRBY", "n", 3) == 5
    assert kept.pipeline(("INCR", "n"), ("EXPIRE", "n", 60)) == [6, True]
    assert kept.kept() == 0


def test_only_a_plain_client_on_a_socket_pool_is_sent_to_directly():
    assert KeptRedis(redis.Redis(host="127.0.0.1", port=1)).usable
    blocking = redis.Redis(connection_pool=redis.BlockingConnectionPool(host="127.0.0.1",
                                                                        port=1))
    assert not KeptRedis(blocking).usable


@real
def test_a_single_connection_client_is_not_sent_to_directly():
    single = redis.Redis.from_url(REDIS_URL, single_connection_client=True)
    try:
        kept = KeptRedis(single)
        assert not kept.usable
        assert kept.command("PING") is True  # the client's reply, callbacks applied
    finally:
        single.close()
