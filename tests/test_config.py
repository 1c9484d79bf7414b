"""Configuration: the embedded default, and a production that refuses to start half-configured."""
from __future__ import annotations

import json

import pytest

import config
from app import create_app
from config import ConfigError, load_config
from tests.flows import assert_error

PRODUCTION = {
    "DATABASE_URL": "postgresql://vnid@db.internal/vnid",
    "REDIS_URL": "redis://cache.internal:6379/0",
    "SECRET_KEY": "s" * 40,
    "PERSONAL_DATA_KEYS": config.TEST_KEYS["PERSONAL_DATA_KEYS"],
    "LOOKUP_HASH_KEY": config.TEST_KEYS["LOOKUP_HASH_KEY"],
    "TOKEN_SIGNING_KEYS": config.TEST_KEYS["TOKEN_SIGNING_KEYS"],
    "PASSCODE_HMAC_KEYS": config.TEST_KEYS["PASSCODE_HMAC_KEYS"],
    "SMS_BACKEND": "vnid_sms.gateway:OperatorGateway",
    "METRICS_ALLOWED_NETWORKS": "10.0.0.0/8",
    "OAUTH_TOKEN_URL": "https://id.example.gov.vn/api/v1/oauth/token",
}


def test_production_starts_with_everything_set():
    settings = load_config("production", PRODUCTION)
    assert settings["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://vnid@db.internal/vnid"
    assert settings["REDIS_URL"] == PRODUCTION["REDIS_URL"]


@pytest.mark.parametrize("missing", sorted(PRODUCTION))
def test_production_names_the_missing_setting(missing):
    env = {k: v for k, v in PRODUCTION.items() if k != missing}
    with pytest.raises(ConfigError, match=missing):
        load_config("production", env)


@pytest.mark.parametrize("name, value, words", [
    ("DATABASE_URL", "sqlite:///instance/vnid.sqlite3", "PostgreSQL"),
    ("REDIS_URL", "memory://", "real Redis"),
    ("SECRET_KEY", "short", "32 characters"),
    ("SMS_BACKEND", "outbox", "real SMS gateway"),
])
def test_production_refuses_the_embedded_stand_ins(name, value, words):
    with pytest.raises(ConfigError, match=words):
        load_config("production", {**PRODUCTION, name: value})


def test_malformed_token_signing_keys_refuse_to_start():
    settings = load_config("testing", {})
    with pytest.raises(ValueError, match="TOKEN_SIGNING_KEYS"):
        create_app({**settings, "TOKEN_SIGNING_KEYS": "k1:bm90LWEta2V5"})


def test_production_refuses_malformed_key_material():
    from identity.protection import KeyMaterialError
    settings = load_config("production", {**PRODUCTION, "PERSONAL_DATA_KEYS": "1:tooshort"})
    with pytest.raises(KeyMaterialError):
        create_app(settings)


def test_unknown_configuration_name():
    with pytest.raises(ConfigError, match="VNID_CONFIG"):
        load_config("staging", {})


def test_development_is_the_embedded_default(tmp_path, monkeypatch):
    monkeypatch.setattr(config, "INSTANCE_DIR", tmp_path)
    settings = load_config(None, {})
    assert settings["ENV_NAME"] == "development"
    assert settings["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path / 'vnid.sqlite3'}"
    assert settings["REDIS_URL"] == "memory://"
    keys = json.loads((tmp_path / "dev-keys.json").read_text())
    assert oct((tmp_path / "dev-keys.json").stat().st_mode & 0o777) == "0o600"
    again = load_config("development", {})
    assert again["PERSONAL_DATA_KEYS"] == keys["PERSONAL_DATA_KEYS"]  # stable across restarts


def test_development_adds_a_new_kind_of_key_and_keeps_the_others(tmp_path, monkeypatch):
    """An instance made before token signing keys existed gets one; its data keys stay."""
    monkeypatch.setattr(config, "INSTANCE_DIR", tmp_path)
    older = {k: v for k, v in config.generate_keys().items() if k != "TOKEN_SIGNING_KEYS"}
    (tmp_path / "dev-keys.json").write_text(json.dumps(older))
    settings = load_config("development", {})
    assert settings["PERSONAL_DATA_KEYS"] == older["PERSONAL_DATA_KEYS"]
    assert settings["TOKEN_SIGNING_KEYS"].startswith("t1:")
    kept = json.loads((tmp_path / "dev-keys.json").read_text())
    assert kept["TOKEN_SIGNING_KEYS"] == settings["TOKEN_SIGNING_KEYS"]
    assert oct((tmp_path / "dev-keys.json").stat().st_mode & 0o777) == "0o600"


def test_testing_honours_real_backends_when_given():
    settings = load_config("testing", {"DATABASE_URL": "postgres://u@h/d", "REDIS_URL":
                                       "redis://127.0.0.1:6379/3"})
    assert settings["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u@h/d"
    assert settings["REDIS_URL"] == "redis://127.0.0.1:6379/3"


def test_load_shedding_runs_two_requests_per_worker_in_production_and_more_elsewhere():
    """Production: 2 in flight per worker, a second's wait for a slot (docs/operations.md);
    `flask run` serves a browser's page of modules at once, and the race tests meet in the
    database: both keep a wide bound. The environment overrides either."""
    production = load_config("production", PRODUCTION)
    assert (production["MAX_IN_FLIGHT"], production["IN_FLIGHT_WAIT_MS"]) == (2, 1000)
    for name in ("development", "testing"):
        assert load_config(name, {})["MAX_IN_FLIGHT"] == 64
    assert load_config("production", {**PRODUCTION, "MAX_IN_FLIGHT": "8"})["MAX_IN_FLIGHT"] == 8


def test_the_group_commit_waits_two_milliseconds_at_most_and_is_set_on_the_app():
    from identity.audit import group_commit
    assert load_config("production", PRODUCTION)["GROUP_COMMIT_WAIT_MS"] == 2
    assert load_config("testing", {"GROUP_COMMIT_WAIT_MS": "0.5"})["GROUP_COMMIT_WAIT_MS"] == 0.5
    for bad in ("-1", "51", "soon", "nan"):
        with pytest.raises(ConfigError, match="GROUP_COMMIT_WAIT_MS"):
            load_config("testing", {"GROUP_COMMIT_WAIT_MS": bad})
    before = group_commit.WAIT_SECONDS
    try:
        create_app(load_config("testing", {"GROUP_COMMIT_WAIT_MS": "7"}))
        assert group_commit.WAIT_SECONDS == 0.007
    finally:
        group_commit.WAIT_SECONDS = before


def test_read_replicas_are_postgresql_urls_with_bounded_lag_and_checks():
    """No replica by default; each one a PostgreSQL URL (for psycopg 3); the lag bound and
    the check's period in range; a SQLite primary takes no replica."""
    settings = load_config("production", PRODUCTION)
    assert settings["DATABASE_REPLICA_URLS"] == []
    assert (settings["REPLICA_MAX_LAG_SECONDS"], settings["REPLICA_CHECK_SECONDS"]) == (5, 1)
    two = load_config("testing", {"DATABASE_REPLICA_URLS":
                                  "postgresql://r1/vnid, postgres://r2:5433/vnid"})
    assert two["DATABASE_REPLICA_URLS"] == ["postgresql+psycopg://r1/vnid",
                                            "postgresql+psycopg://r2:5433/vnid"]
    with pytest.raises(ConfigError, match="DATABASE_REPLICA_URLS"):
        load_config("testing", {"DATABASE_REPLICA_URLS": "sqlite:///replica.db"})
    for name, bad in (("REPLICA_MAX_LAG_SECONDS", "-1"), ("REPLICA_MAX_LAG_SECONDS", "301"),
                      ("REPLICA_CHECK_SECONDS", "0"), ("REPLICA_CHECK_SECONDS", "soon")):
        with pytest.raises(ConfigError, match=name):
            load_config("testing", {name: bad})
    with pytest.raises(ConfigError, match="needs DATABASE_URL to be PostgreSQL"):
        create_app(load_config("testing", {"DATABASE_URL": "sqlite://",
                                           "DATABASE_REPLICA_URLS": "postgresql://r1/vnid"}))


def test_a_job_may_run_two_minutes_by_default_and_one_hour_at_most():
    assert load_config("production", PRODUCTION)["JOB_TIMEOUT_SECONDS"] == 120
    assert load_config("testing", {"JOB_TIMEOUT_SECONDS": "5"})["JOB_TIMEOUT_SECONDS"] == 5
    for bad in ("0", "3601", "soon"):
        with pytest.raises(ConfigError, match="JOB_TIMEOUT_SECONDS"):
            load_config("testing", {"JOB_TIMEOUT_SECONDS": bad})


def test_a_redis_cluster_takes_a_plain_redis_for_the_job_queue():
    cluster = "redis+cluster://:s%40cret@10.0.0.5:7001,10.0.0.6:7001"
    settings = load_config("production", {**PRODUCTION, "REDIS_URL": cluster,
                                          "JOB_REDIS_URL": "redis://queue.internal:6379/0"})
    assert settings["REDIS_URL"] == cluster
    assert settings["JOB_REDIS_URL"] == "redis://queue.internal:6379/0"
    assert load_config("production", PRODUCTION)["JOB_REDIS_URL"] == PRODUCTION["REDIS_URL"]
    for name in ("production", "testing", "development"):
        with pytest.raises(ConfigError, match="JOB_REDIS_URL must name one Redis server"):
            load_config(name, {**PRODUCTION, "REDIS_URL": cluster})
        with pytest.raises(ConfigError, match="JOB_REDIS_URL must name one Redis server"):
            load_config(name, {**PRODUCTION, "REDIS_URL": cluster, "JOB_REDIS_URL": cluster})


def test_a_cluster_url_names_its_nodes_and_credentials():
    from app.redis_cluster import cluster_parts

    assert cluster_parts("redis+cluster://vnid:s%40cret@10.0.0.5:7001,10.0.0.6:7002/0") == (
        [("10.0.0.5", 7001), ("10.0.0.6", 7002)], "vnid", "s@cret")
    assert cluster_parts("redis+cluster://127.0.0.1:7001") == ([("127.0.0.1", 7001)], None, None)


def test_an_app_on_an_unreachable_cluster_starts_and_answers_503_until_it_answers(tmp_path):
    """The cluster's clients read its slot map on first use, not when made: the app (and
    `flask db upgrade`) starts without Redis, and what needs Redis answers 503 meanwhile."""
    from redis.exceptions import RedisClusterUnreachableError

    from app.redis_cluster import LazyRedisCluster, redis_for

    client = redis_for("redis+cluster://127.0.0.1:1,127.0.0.1:2")
    assert isinstance(client, LazyRedisCluster)
    for _ in range(2):  # a failed first use leaves it ready to try again
        with pytest.raises(RedisClusterUnreachableError):
            client.ping()
    app = create_app(load_config("testing", {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'cluster.db'}",
        "REDIS_URL": "redis+cluster://127.0.0.1:1", "JOB_REDIS_URL": "redis://127.0.0.1:1/0"}))
    answer = app.test_client().get("/healthz")
    assert answer.status_code == 503 and "redis" in answer.get_data(as_text=True)
    challenge = app.test_client().post("/api/v1/auth/challenge", json={
        "personal_id": "001090000001", "device_id": "0f8fad5b-d9cb-469f-a165-70867728950e"})
    assert_error(challenge, 503, "service.unavailable")
    assert challenge.headers["Retry-After"] == "5"
