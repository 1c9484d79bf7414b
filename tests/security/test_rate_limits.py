"""Rate limits of the authentication endpoints: per IP, per personal id, per device; fail closed.

The limits are read from the configuration at each request, so each test
lowers them with ``monkeypatch.setitem(app.config, ...)``. The limiter's
counters are emptied before and after each test (with the in-process store
they would otherwise outlive the test).
"""
from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask_migrate import upgrade
from limits import parse_many

from app import create_app
from identity.kept_redis import KeptRedis
from app.auth import _hashed_key, hash_tagged, limiter
from app.extensions import db
from config import load_config
from tests.redis_kinds import one_redis_server
from tests import flows
from tests.factories import add_citizen, personal_id_for

CHALLENGE = "/api/v1/auth/challenge"
LOGIN = "/api/v1/auth/login"
LIMIT = "3 per minute"


def reset_limits(application: Flask) -> None:
    """Empty the rate-limit counters of ``application``."""
    with application.app_context():
        limiter.reset()


@pytest.fixture(autouse=True)
def fresh_limits(app: Flask) -> Iterator[None]:
    reset_limits(app)
    yield
    reset_limits(app)


_serials = iter(range(500_000, 900_000))


def new_personal_id() -> str:
    """A well-formed personal id nobody else in the run uses (unknown ids answer the same)."""
    return personal_id_for(dt.date(1990, 5, 17), "M", next(_serials))


def new_device() -> str:
    return str(uuid.uuid4())


def challenge(client: Any, personal_id: str | None = None, device_id: str | None = None,
              **kwargs: Any) -> Any:
    return client.post(CHALLENGE, json={"personal_id": personal_id or new_personal_id(),
                                        "device_id": device_id or new_device()}, **kwargs)


def assert_rate_limited(answer: Any) -> None:
    """429 with the uniform body and a Retry-After."""
    body = answer.get_json()
    assert answer.status_code == 429, body
    assert body == {"status": 429, "code": "rate_limited", "message": body["message"],
                    "errors": {}}
    assert isinstance(body["message"], str) and body["message"]
    assert int(answer.headers["Retry-After"]) >= 0


def assert_passes(answer: Any) -> None:
    assert answer.status_code == 200, answer.get_json()


def other_app(tmp_path: Any, **settings: Any) -> Flask:
    """A separate application of the testing configuration on its own migrated SQLite file."""
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'other.sqlite3'}"}
    application = create_app({**load_config("testing", env), **settings})
    with application.app_context():
        upgrade()
    return application


def dispose(application: Flask) -> None:
    with application.app_context():
        db.engine.dispose()


# --- Per personal id, per device, per IP -----------------------------------------------------

def test_the_fourth_challenge_for_one_personal_id_is_refused(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "AUTH_LIMIT_PER_ID", LIMIT)
    target = new_personal_id()
    for _ in range(3):
        assert_passes(challenge(client, target))  # a fresh device each time
    assert_rate_limited(challenge(client, target))
    assert_passes(challenge(client, new_personal_id()))


def test_the_personal_id_budget_is_shared_by_every_authentication_endpoint(
        app, client, db_session, protector, monkeypatch):
    citizen = add_citizen(db_session, protector)
    phone = flows.Phone()
    flows.register(client, citizen, phone)
    monkeypatch.setitem(app.config, "AUTH_LIMIT_PER_ID", LIMIT)
    held = flows.challenge(client, citizen.personal_id, phone)
    flows.challenge(client, citizen.personal_id, phone)
    flows.challenge(client, citizen.personal_id, phone)
    # Even the right password and signature are refused once the id's budget is spent.
    answer = client.post(LOGIN, json={
        "personal_id": citizen.personal_id, "password": flows.PASSWORD,
        "device_id": phone.device_id, "challenge_id": held["challenge_id"],
        "signature": phone.sign(held["nonce"])})
    assert_rate_limited(answer)
    unlock = client.post("/api/v1/auth/unlock", json={"personal_id": citizen.personal_id,
                                                      "password": flows.PASSWORD})
    assert_rate_limited(unlock)


def test_the_fourth_attempt_from_one_device_is_refused(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "AUTH_LIMIT_PER_DEVICE", LIMIT)
    device = new_device()
    for _ in range(3):
        assert_passes(challenge(client, device_id=device))  # a different id each time
    assert_rate_limited(challenge(client, device_id=device))
    assert_passes(challenge(client, device_id=new_device()))


def test_the_fourth_attempt_from_one_address_is_refused(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "AUTH_LIMIT_PER_IP", LIMIT)
    here, there = {"REMOTE_ADDR": "203.0.113.7"}, {"REMOTE_ADDR": "203.0.113.8"}
    for _ in range(3):
        assert_passes(challenge(client, environ_base=here))  # new id and device each time
    assert_rate_limited(challenge(client, environ_base=here))
    assert_passes(challenge(client, environ_base=there))


def test_the_address_budget_covers_the_refresh_endpoint(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "AUTH_LIMIT_PER_IP", LIMIT)
    here = {"REMOTE_ADDR": "203.0.113.9"}
    for _ in range(3):
        # Refused as unauthenticated, but counted: guessing refresh tokens is limited too.
        answer = client.post("/api/v1/auth/refresh", headers=flows.bearer("x.y.z"),
                             environ_base=here)
        assert answer.status_code == 401
    assert_rate_limited(client.post("/api/v1/auth/refresh", headers=flows.bearer("x.y.z"),
                                    environ_base=here))


def _remaining(app: Flask, setting: str, key: str, scope: str) -> list[int]:
    """What is left in each window of ``setting`` for ``key`` in ``scope``."""
    _storage, strategy = app.extensions["ratelimit_backend"]
    with app.test_request_context():
        return [strategy.get_window_stats(item, hash_tagged(key), scope).remaining
                for item in parse_many(app.config[setting])]


def test_a_refused_request_is_not_charged_to_the_windows_after_the_one_that_refused(
        app, client, monkeypatch):
    """The address's window is counted first; past it, the id's and the device's are left as
    they were (a stranger refused by address spends nothing of the citizen's budget)."""
    monkeypatch.setitem(app.config, "AUTH_LIMIT_PER_IP", "1 per minute")
    here = {"REMOTE_ADDR": "203.0.113.30"}
    assert_passes(challenge(client, environ_base=here))
    target, device = new_personal_id(), new_device()
    assert_rate_limited(challenge(client, target, device, environ_base=here))
    with app.test_request_context():
        id_key, device_key = _hashed_key("personal_id", target), _hashed_key("device_id", device)
    assert _remaining(app, "AUTH_LIMIT_PER_ID", id_key, "auth:id") == [20, 100]
    assert _remaining(app, "AUTH_LIMIT_PER_DEVICE", device_key, "auth:device") == [30]
    assert_passes(challenge(client, target, device))  # from elsewhere: counted everywhere
    assert _remaining(app, "AUTH_LIMIT_PER_ID", id_key, "auth:id") == [19, 99]


@one_redis_server
def test_on_redis_every_window_of_a_request_is_counted_in_one_round_trip(app, client,
                                                                         monkeypatch):
    storage, _strategy = app.extensions["ratelimit_backend"]
    connection = storage.get_connection()
    sent: list[Any] = []
    real = KeptRedis._exchange

    def counting(self: KeptRedis, commands: Any) -> Any:  # one write, its replies read
        sent.append([command[0] for command in commands])
        return real(self, commands)

    monkeypatch.setattr(KeptRedis, "_exchange", counting)
    target, device = new_personal_id(), new_device()
    assert_passes(challenge(client, target, device))
    assert sent in ([["EVALSHA"]], [["EVALSHA"], ["EVAL"]])  # the script's text sent once
    with app.test_request_context():
        id_key, device_key = _hashed_key("personal_id", target), _hashed_key("device_id", device)
    assert _remaining(app, "AUTH_LIMIT_PER_ID", id_key, "auth:id") == [19, 99]
    assert _remaining(app, "AUTH_LIMIT_PER_DEVICE", device_key, "auth:device") == [29]
    # Each window's key expires with its window, as flask-limiter's own counters do.
    keys = [key for key in connection.scan_iter("LIMITS:LIMITER/*")
            if id_key.encode() in key or device_key.encode() in key]
    assert sorted(0 < connection.ttl(key) <= 3600 for key in keys) == [True] * 3


def test_officer_login_is_limited_per_username(app, client, db_session, protector, monkeypatch):
    officer = flows.create_officer(db_session, protector, username="officer.limits")
    monkeypatch.setitem(app.config, "AUTH_LIMIT_PER_ID", LIMIT)
    for _ in range(3):
        answer = client.post("/api/v1/auth/officer-login", json={
            "username": officer.username, "password": "wrong password here", "totp": "000000"})
        assert answer.status_code == 401
    assert_rate_limited(flows.officer_login(client, officer))


# --- X-Forwarded-For ---------------------------------------------------------------------------

def test_x_forwarded_for_is_ignored_without_trusted_proxies(app, client, monkeypatch):
    assert app.config["TRUSTED_PROXY_COUNT"] == 0
    monkeypatch.setitem(app.config, "AUTH_LIMIT_PER_IP", LIMIT)
    here = {"REMOTE_ADDR": "203.0.113.20"}
    for i in range(3):
        assert_passes(challenge(client, environ_base=here,
                                headers={"X-Forwarded-For": f"198.51.100.{i}"}))
    # A client rotating X-Forwarded-For is still limited by its real address.
    assert_rate_limited(challenge(client, environ_base=here,
                                  headers={"X-Forwarded-For": "198.51.100.99"}))


@pytest.fixture()
def proxied_app(app, tmp_path) -> Iterator[Flask]:
    """The service behind one reverse proxy (TRUSTED_PROXY_COUNT=1), on its own database."""
    application = other_app(tmp_path, TRUSTED_PROXY_COUNT=1, AUTH_LIMIT_PER_IP=LIMIT)
    reset_limits(application)
    yield application
    reset_limits(application)
    dispose(application)


def test_x_forwarded_for_is_honoured_behind_a_trusted_proxy(proxied_app):
    client = proxied_app.test_client()
    proxy = {"REMOTE_ADDR": "10.0.0.2"}  # every request comes through the proxy
    for _ in range(3):
        assert_passes(challenge(client, environ_base=proxy,
                                headers={"X-Forwarded-For": "198.51.100.1"}))
    assert_rate_limited(challenge(client, environ_base=proxy,
                                  headers={"X-Forwarded-For": "198.51.100.1"}))
    # A client forging its own X-Forwarded-For entry: the proxy appends the real address,
    # and only the entry the trusted proxy wrote counts.
    assert_rate_limited(challenge(client, environ_base=proxy,
                                  headers={"X-Forwarded-For": "6.6.6.6, 198.51.100.1"}))
    # Another client behind the same proxy has its own budget.
    assert_passes(challenge(client, environ_base=proxy,
                            headers={"X-Forwarded-For": "198.51.100.2"}))


def test_another_application_does_not_take_over_our_limits(app, client, monkeypatch, tmp_path):
    """Tests, benches and the CLI build several apps in one process: counters stay per app."""
    monkeypatch.setitem(app.config, "AUTH_LIMIT_PER_ID", LIMIT)
    target = new_personal_id()
    for _ in range(3):
        assert_passes(challenge(client, target))
    other = other_app(tmp_path, REDIS_URL="memory://")  # counts in a store of its own
    try:
        reset_limits(other)  # emptying the other app's counters leaves ours
        assert_rate_limited(challenge(client, target))
        assert_passes(other.test_client().post(CHALLENGE, json={
            "personal_id": target, "device_id": new_device()}))
    finally:
        dispose(other)


# --- Fail closed -----------------------------------------------------------------------------

@pytest.fixture()
def redis_down_app(app, tmp_path) -> Iterator[Flask]:
    """The service with its Redis unreachable (nothing listens on port 1)."""
    application = other_app(tmp_path, REDIS_URL="redis://127.0.0.1:1/0")
    yield application
    dispose(application)


def test_the_service_starts_without_redis(redis_down_app):
    assert redis_down_app.config["RATELIMIT_STORAGE_URI"] == "redis://127.0.0.1:1/0"
    client = redis_down_app.test_client()
    assert client.get("/api/v1/openapi.json").status_code == 200
    health = client.get("/healthz")
    assert health.status_code == 503 and "redis" in health.get_json()["errors"]


@pytest.mark.parametrize("path, body", [
    (CHALLENGE, {"personal_id": "001090012345", "device_id": "device-0001"}),
    (LOGIN, {"personal_id": "001090012345", "password": flows.PASSWORD,
             "device_id": "device-0001", "challenge_id": "c" * 22, "signature": "AAAA"}),
    ("/api/v1/auth/unlock", {"personal_id": "001090012345", "password": flows.PASSWORD}),
    ("/api/v1/auth/password-reset", {"personal_id": "001090012345", "device_id": "device-0001",
                                     "challenge_id": "c" * 22, "signature": "AAAA"}),
    ("/api/v1/auth/officer-login", {"username": "someone", "password": flows.PASSWORD,
                                    "totp": "123456"}),
])
def test_authentication_fails_closed_when_redis_is_down(redis_down_app, path, body):
    answer = redis_down_app.test_client().post(path, json=body)
    assert answer.status_code == 503, answer.get_json()
    assert answer.get_json() == {"status": 503, "code": "service.unavailable",
                                 "message": answer.get_json()["message"], "errors": {}}
    assert int(answer.headers["Retry-After"]) > 0


def test_refresh_fails_closed_when_redis_is_down(redis_down_app):
    answer = redis_down_app.test_client().post("/api/v1/auth/refresh",
                                               headers=flows.bearer("x.y.z"))
    assert answer.status_code == 503, answer.get_json()
    assert answer.get_json()["code"] == "service.unavailable"
    assert "Retry-After" in answer.headers


def test_a_dead_redis_elsewhere_does_not_stop_our_logins(app, client, db_session, protector,
                                                         redis_down_app):
    """Building an app whose Redis is down leaves the running one working."""
    assert redis_down_app.test_client().post(CHALLENGE, json={
        "personal_id": new_personal_id(), "device_id": new_device()}).status_code == 503
    citizen = add_citizen(db_session, protector)
    phone = flows.Phone()
    flows.register(client, citizen, phone)
    assert flows.login_answer(client, citizen.personal_id, phone).status_code == 200


def test_flask_limiters_after_request_work_runs_only_where_a_limit_ran(
        app, client, monkeypatch):
    """Its hooks skip an answer no limit counted (app.auth.AppLimiter); a limited one keeps
    them, and its limit still refuses."""
    from flask_limiter import Limiter
    ran: list[int] = []
    original = Limiter._Limiter__check_conditional_deductions  # type: ignore[attr-defined]

    def deductions(self: Any, response: Any) -> None:
        ran.append(response.status_code)
        original(self, response)

    monkeypatch.setattr(Limiter, "_Limiter__check_conditional_deductions", deductions)
    assert client.get("/.well-known/vnid-keys.json").status_code == 200
    assert client.get("/healthz").status_code == 200
    assert ran == []
    monkeypatch.setitem(app.config, "AUTH_LIMIT_PER_IP", "2 per minute")
    token = "/api/v1/oauth/token"
    answers = [client.post(token, data={"grant_type": "client_credentials"}) for _ in range(3)]
    assert [a.status_code for a in answers[:2]] == [401, 401], answers[0].get_json()
    assert_rate_limited(answers[2])
    assert len(ran) == 3


def test_on_a_cluster_a_requests_windows_are_counted_in_runs_of_one_slot_in_their_order():
    """A script's keys must share a slot: consecutive windows of one key (one hash tag) go in
    one call, the order kept (the count stops at the first window past its amount); a quota
    in the last run's slot is counted with it, else apart."""
    from redis.crc import key_slot

    from app.auth import slot_runs

    def key(subject: str, window: str) -> str:
        return f"LIMITS:LIMITER/{hash_tagged(subject)}/auth:id/{window}"

    address, caller = "203.0.113.7", "account:12"
    keys = [key(address, "1/1/minute"), key(caller, "1/1/minute"), key(caller, "1/1/hour")]
    assert key_slot(keys[0].encode()) != key_slot(keys[1].encode())  # else the test says less
    quota = (f"quota:reports:{hash_tagged(caller)}:20261207", 1, 1000)
    assert slot_runs(keys, quota, cluster=True) == [([keys[0]], False), (keys[1:], True)]
    elsewhere = (f"quota:reports:{hash_tagged('account:13')}:20261207", 1, 1000)
    if key_slot(elsewhere[0].encode()) != key_slot(keys[1].encode()):
        assert slot_runs(keys, elsewhere, cluster=True)[-1] == (keys[1:], False)
    assert slot_runs(keys, quota, cluster=False) == [(keys, True)]
    assert slot_runs(keys, None, cluster=False) == [(keys, False)]
    assert hash_tagged("a{b}c") == "{a(b)c}"
