"""Configuration of the service, read from the environment.

Three configurations:

- ``development``: the embedded default used by ``make run``. A SQLite file
  under ``instance/`` and an in-process Redis stand-in (``memory://``); key
  material is generated once into ``instance/dev-keys.json``.
- ``testing``: like development, but with fixed keys, a temporary database
  unless ``DATABASE_URL`` is set, and ``REDIS_URL`` honoured when set.
- ``production``: everything comes from the environment, and the service
  refuses to start (one :class:`ConfigError` naming the missing setting) when
  a database, a real Redis or key material is missing.

Choose one with ``VNID_CONFIG`` (default ``development``). Everything is read
once, when :func:`load_config` is called by the application factory, so tests
build an application from a configuration instead of patching globals.
"""
from __future__ import annotations

import base64
import json
import math
import os
import secrets
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

BASE_DIR = Path(__file__).resolve().parent
INSTANCE_DIR = Path(os.environ.get("VNID_INSTANCE_DIR", BASE_DIR / "instance"))

#: The URL scheme of the in-process Redis stand-in (fakeredis).
#: How long a served process answers statistics from the protected tables it checked last.
STATS_FRESH_SECONDS_SERVED = 5.0
MEMORY_REDIS_URL = "memory://"
#: ``REDIS_URL`` naming a Redis Cluster: ``redis+cluster://[:password@]host:port[,host:port]``
#: (the scheme flask-limiter's storage takes; any node is enough, the others are found).
REDIS_CLUSTER_SCHEME = "redis+cluster://"
#: The key material every configuration needs.
#: ``PASSCODE_HMAC_KEYS`` (``VERSION:BASE64URL-32-BYTES[,...]``, the highest hashes) keys the
#: passcode hashes: the database holds no key, so a dump of it alone checks no passcode.
KEY_SETTINGS = ("SECRET_KEY", "PERSONAL_DATA_KEYS", "LOOKUP_HASH_KEY", "TOKEN_SIGNING_KEYS",
                "PASSCODE_HMAC_KEYS")


class ConfigError(RuntimeError):
    """A configuration that must not start: the message names the setting."""


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def token_signing_key(kid: str, private_value: int | None = None) -> str:
    """One ``TOKEN_SIGNING_KEYS`` entry: ``kid:`` and a P-256 private key (PKCS8 DER, base64url)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = (ec.generate_private_key(ec.SECP256R1()) if private_value is None
           else ec.derive_private_key(private_value, ec.SECP256R1()))
    der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    return f"{kid}:{_b64(der)}"


def generate_keys() -> dict[str, str]:
    """Fresh key material in the formats production expects (also used by the benches)."""
    return {
        "SECRET_KEY": secrets.token_urlsafe(48),
        "PERSONAL_DATA_KEYS": f"1:{_b64(secrets.token_bytes(32))}",
        "LOOKUP_HASH_KEY": _b64(secrets.token_bytes(32)),
        "TOKEN_SIGNING_KEYS": token_signing_key("t1"),
        "PASSCODE_HMAC_KEYS": passcode_key_entry(1),
    }


def passcode_key_entry(version: int) -> str:
    """A fresh ``PASSCODE_HMAC_KEYS`` entry: ``version:`` and 32 random bytes (base64url)."""
    return f"{version}:{_b64(secrets.token_bytes(32))}"


def _development_keys() -> dict[str, str]:
    """Key material kept in ``instance/dev-keys.json`` so data stays readable across restarts."""
    path = INSTANCE_DIR / "dev-keys.json"
    keys: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    missing = {k: v for k, v in generate_keys().items() if k not in keys}
    if missing:  # a new kind of key since the file was made: add it, keep the others
        keys.update(missing)
        INSTANCE_DIR.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(keys, fh)
        os.replace(tmp, path)
    return keys


def _engine_options(url: str) -> dict[str, Any]:
    if url.startswith("sqlite"):
        # One connection per thread; the begin-immediate recipe lives in identity.database.
        return {"connect_args": {"timeout": 30}}
    # No pre-ping per checkout: identity.database pings connections that sat idle only.
    return {"pool_pre_ping": False, "pool_size": 10, "max_overflow": 10,
            "connect_args": {"connect_timeout": 5}}


def _database_url(url: str) -> str:
    """Use psycopg 3 for every PostgreSQL URL, whatever the scheme written."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def _replica_urls(spec: str) -> list[str]:
    """``postgresql://...,postgresql://...`` -> the replicas' URLs, for psycopg 3."""
    urls = [_database_url(part.strip()) for part in spec.split(",") if part.strip()]
    for url in urls:
        if not url.startswith("postgresql+psycopg://"):
            raise ConfigError("DATABASE_REPLICA_URLS: each replica is a PostgreSQL URL")
    return urls


def _lifetimes(spec: str) -> dict[str, int]:
    """``identity=120,age_over_18=60`` -> seconds per credential type (5 s to 1 day)."""
    lifetimes = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        name, _, seconds = item.partition("=")
        if not seconds.isdigit() or not 5 <= int(seconds) <= 86_400:
            raise ConfigError(f"CREDENTIAL_LIFETIMES: '{item}' is not type=seconds (5..86400)")
        lifetimes[name.strip()] = int(seconds)
    return lifetimes


#: Daily quotas of a relying party per scope, unless its registration says otherwise.
DEFAULT_RP_QUOTAS = {"identity.match": 10_000, "identity.consent": 10_000,
                     "credentials.verify": 100_000, "sim.verify": 100_000,
                     "lodging.notify": 10_000, "records.deliver": 10_000_000}


def _quotas(spec: str) -> dict[str, int]:
    """``identity.match=5000,...`` over the defaults."""
    quotas = dict(DEFAULT_RP_QUOTAS)
    for item in filter(None, (part.strip() for part in spec.split(","))):
        scope, _, limit = item.partition("=")
        if scope.strip() not in DEFAULT_RP_QUOTAS or not limit.strip().isdigit():
            raise ConfigError(f"RP_DAILY_QUOTAS: '{item}' is not scope=number")
        quotas[scope.strip()] = int(limit)
    return quotas


def _flag(text: str) -> bool:
    """A boolean setting: 1, true, yes or on (any case) is true; anything else false."""
    return text.strip().lower() in ("1", "true", "yes", "on")


def _bounded_ms(text: str, name: str, most: float) -> float:
    """Milliseconds from 0 to ``most``."""
    return _bounded(text, name, 0, most, "milliseconds")


def _bounded(text: str, name: str, low: float, high: float, unit: str) -> float:
    """A number from ``low`` to ``high`` (of ``unit``), or a :class:`ConfigError` naming it."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not low <= value <= high:
        raise ConfigError(f"{name} must be a number of {unit} from {low:g} to {high:g}, "
                          f"not {text!r}")
    return value


def _common(env: Mapping[str, str]) -> dict[str, Any]:
    return {
        "API_TITLE": "VNID national digital identity",
        "API_VERSION": "v1",
        "API_SPEC_OPTIONS": {"info": {"description": (
            "National digital identity service. Every error answers the uniform body "
            "`{status, code, message, errors}`; clients rely on `code`. Personal ids, phone "
            "numbers and tokens never travel in URLs: they go in JSON bodies or headers.")}},
        "OPENAPI_VERSION": "3.0.3",  # Swagger UI 4 (swagger-ui-bundle) renders 3.0, not 3.1
        "OPENAPI_URL_PREFIX": "/",
        "OPENAPI_JSON_PATH": "api/v1/openapi.json",
        "OPENAPI_SWAGGER_UI_PATH": "docs",
        # Served from the swagger-ui-bundle package: the docs work with no internet.
        "OPENAPI_SWAGGER_UI_URL": "/docs/static/",
        "MAX_CONTENT_LENGTH": int(env.get("MAX_CONTENT_LENGTH", 1024 * 1024)),
        "JSON_SORT_KEYS": False,
        "AUDIT_SHARDS": int(env.get("AUDIT_SHARDS", 32)),
        "IMPORT_BATCH_SIZE": int(env.get("IMPORT_BATCH_SIZE", 10_000)),
        "LOG_LEVEL": env.get("LOG_LEVEL", "INFO"),
        # Accounts and authentication.
        "ACCESS_TOKEN_SECONDS": min(int(env.get("ACCESS_TOKEN_SECONDS", 600)), 600),
        #: An officer's session (its refresh tokens) lasts one shift at most; then a new
        #: login with password and TOTP. Capped at 12 hours whatever the environment says.
        "OFFICER_SESSION_HOURS": max(1, min(int(env.get("OFFICER_SESSION_HOURS", 12)), 12)),
        "SMS_BACKEND": env.get("SMS_BACKEND", "outbox"),
        #: How many reverse proxies in front set X-Forwarded-For; 0 trusts none.
        "TRUSTED_PROXY_COUNT": int(env.get("TRUSTED_PROXY_COUNT", 0)),
        # Rate limits of the authentication endpoints (flask-limiter notation). Per IP is
        # generous: mobile carriers put many phones behind one address (CGNAT).
        "AUTH_LIMIT_PER_IP": env.get("AUTH_LIMIT_PER_IP", "600 per minute"),
        "AUTH_LIMIT_PER_ID": env.get("AUTH_LIMIT_PER_ID", "20 per minute;100 per hour"),
        "AUTH_LIMIT_PER_DEVICE": env.get("AUTH_LIMIT_PER_DEVICE", "30 per minute"),
        # Residence declarations: working days (Mon-Fri) the commune police have to decide.
        "RESIDENCE_DECISION_DAYS": int(env.get("RESIDENCE_DECISION_DAYS", 3)),
        # Lodging notices of a citizen host (each lists up to 50 personal ids): notices per
        # account (flask-limiter notation), and guests per account and UTC day. A hotel's are
        # bounded by RP_LIMIT_PER_PARTY and its lodging.notify quota (one unit per guest).
        "LODGING_LIMIT_PER_ACCOUNT": env.get("LODGING_LIMIT_PER_ACCOUNT",
                                             "5 per minute;30 per hour"),
        "LODGING_DAILY_GUESTS_PER_ACCOUNT": int(env.get("LODGING_DAILY_GUESTS_PER_ACCOUNT", 200)),
        # Endpoints that take one personal id a request: stay declarations (the host's id) per
        # citizen account, fines per officer (flask-limiter notation; the day part is the quota).
        "STAY_LIMIT_PER_ACCOUNT": env.get("STAY_LIMIT_PER_ACCOUNT", "10 per minute;30 per day"),
        "FINE_LIMIT_PER_OFFICER": env.get("FINE_LIMIT_PER_OFFICER",
                                          "30 per minute;500 per day"),
        # Incident reports: evidence files (one file per upload, at most this many bytes) kept
        # content-addressed under EVIDENCE_DIR; hours each open state may last before overdue.
        "EVIDENCE_DIR": env.get("EVIDENCE_DIR", str(INSTANCE_DIR / "evidence")),
        "EVIDENCE_MAX_BYTES": int(env.get("EVIDENCE_MAX_BYTES", 20 * 1024 * 1024)),
        "REPORT_DEADLINE_HOURS": float(env.get("REPORT_DEADLINE_HOURS", 24)),
        "REPORT_VERIFY_HOURS": float(env.get("REPORT_VERIFY_HOURS", 72)),
        "REPORT_INVESTIGATE_HOURS": float(env.get("REPORT_INVESTIGATE_HOURS", 720)),
        # Per account (anonymous filings included, keyed by a hash of the account): reports
        # and evidence uploads (flask-limiter notation; short windows only, as a window's key
        # tells when it began), and per UTC day reports filed, evidence files and evidence
        # bytes. Past them 429 (rate_limited, or quota.exhausted), with Retry-After.
        "REPORT_LIMIT_PER_ACCOUNT": env.get("REPORT_LIMIT_PER_ACCOUNT", "5 per minute"),
        "REPORT_DAILY_PER_ACCOUNT": int(env.get("REPORT_DAILY_PER_ACCOUNT", 20)),
        "EVIDENCE_LIMIT_PER_ACCOUNT": env.get("EVIDENCE_LIMIT_PER_ACCOUNT", "20 per minute"),
        "EVIDENCE_DAILY_FILES_PER_ACCOUNT": int(env.get("EVIDENCE_DAILY_FILES_PER_ACCOUNT", 100)),
        "EVIDENCE_DAILY_BYTES_PER_ACCOUNT": int(env.get("EVIDENCE_DAILY_BYTES_PER_ACCOUNT",
                                                        1024 * 1024 * 1024)),
        # VN1 credentials: the issuer code, lifetimes per type ("type=seconds,..."; default
        # 120 s each) and the clock leeway of verification (the spec allows at most 30 s).
        "CREDENTIAL_ISSUER": env.get("CREDENTIAL_ISSUER", "VN"),
        "CREDENTIAL_LIFETIMES": _lifetimes(env.get("CREDENTIAL_LIFETIMES", "")),
        "CREDENTIAL_LEEWAY_SECONDS": min(int(env.get("CREDENTIAL_LEEWAY_SECONDS", 30)), 30),
        # Monitoring: the monthly growth the rollout is judged against, and who may scrape
        # /metrics (a bearer token and/or source networks in CIDR, comma-separated).
        "ROLLOUT_MONTHLY_GROWTH_TARGET": float(env.get("ROLLOUT_MONTHLY_GROWTH_TARGET", 0.05)),
        "METRICS_TOKEN": env.get("METRICS_TOKEN", ""),
        "METRICS_ALLOWED_NETWORKS": env.get("METRICS_ALLOWED_NETWORKS", "127.0.0.1/32,::1/128"),
        # Relying parties: access token life, default daily quota per scope ("scope=n,..."),
        # per-party rate limit, consent request life, attributes a consent may ask for.
        "RP_TOKEN_SECONDS": min(int(env.get("RP_TOKEN_SECONDS", 300)), 600),
        "RP_DAILY_QUOTAS": _quotas(env.get("RP_DAILY_QUOTAS", "")),
        "RP_LIMIT_PER_PARTY": env.get("RP_LIMIT_PER_PARTY", "600 per minute"),
        "CONSENT_REQUEST_SECONDS": int(env.get("CONSENT_REQUEST_SECONDS", 600)),
        # The token endpoint's public URL: the one `aud` a private-key JWT client assertion
        # (RFC 7523) may name. Never derived from the request's Host header, which the client
        # chooses. Development and testing default to the local URL; production requires it.
        "OAUTH_TOKEN_URL": env.get("OAUTH_TOKEN_URL", "http://localhost/api/v1/oauth/token"),
        # Consent callbacks (identity/relying_parties/callbacks.py): https only when true
        # (always in production); loopback and private addresses (RFC 1918, ULA, CGNAT) only
        # when RP_CALLBACKS_ALLOW_PRIVATE is true: never in production, off by default in
        # development and testing (the tests that run a local receiver turn it on for
        # themselves; set RP_CALLBACKS_ALLOW_PRIVATE=1 for a receiver on this machine).
        # Link-local (cloud metadata), multicast, reserved and unspecified are always refused.
        "RP_CALLBACKS_HTTPS_ONLY": _flag(env.get("RP_CALLBACKS_HTTPS_ONLY", "0")),
        "RP_CALLBACKS_ALLOW_PRIVATE": _flag(env.get("RP_CALLBACKS_ALLOW_PRIVATE", "0")),
        # The hot lane (app/hot_lane.py): the online verification, the identity match and the
        # token refresh answered in front of Flask's request pipeline; 0: through Flask.
        "HOT_LANE": _flag(env.get("HOT_LANE", "1")),
        # Load shedding (app/load_shedding.py): requests in flight per worker process (0: no
        # bound), how long one may wait for a slot before 503 service.overloaded, Retry-After.
        "MAX_IN_FLIGHT": int(env.get("MAX_IN_FLIGHT", 2)),
        "IN_FLIGHT_WAIT_MS": int(env.get("IN_FLIGHT_WAIT_MS", 1000)),
        "SHED_RETRY_AFTER": int(env.get("SHED_RETRY_AFTER", 2)),
        # Group commit (identity/audit/group_commit.py): how long, at most, the request that
        # writes first waits for the one-event writes of the other requests in flight of its
        # process, to send them all as one statement (0: never; 0..50).
        "GROUP_COMMIT_WAIT_MS": _bounded_ms(env.get("GROUP_COMMIT_WAIT_MS", "2"),
                                            "GROUP_COMMIT_WAIT_MS", 50),
        # Read replicas (identity/replicas.py, app/replica_reads.py): PostgreSQL streaming
        # replicas of DATABASE_URL, comma-separated, for the reads that tolerate lag (the
        # police queues); the most lag such a read may see, in seconds, before it goes to the
        # primary; how often a process checks each replica's lag (seconds).
        "DATABASE_REPLICA_URLS": _replica_urls(env.get("DATABASE_REPLICA_URLS", "")),
        "REPLICA_MAX_LAG_SECONDS": _bounded(env.get("REPLICA_MAX_LAG_SECONDS", "5"),
                                            "REPLICA_MAX_LAG_SECONDS", 0, 300, "seconds"),
        "REPLICA_CHECK_SECONDS": _bounded(env.get("REPLICA_CHECK_SECONDS", "1"),
                                          "REPLICA_CHECK_SECONDS", 0.1, 60, "seconds"),
        # Background jobs (app/jobs.py): rq, thread or inline, and the RQ queue's name.
        "JOB_QUEUE_NAME": env.get("JOB_QUEUE_NAME", "vnid"),
        # How long a job may run before RQ stops it (a consent callback's send is 5 s at
        # most); a job whose worker died is taken as abandoned this long plus the worker's TTL
        # after it started, and retried.
        "JOB_TIMEOUT_SECONDS": int(_bounded(env.get("JOB_TIMEOUT_SECONDS", "120"),
                                            "JOB_TIMEOUT_SECONDS", 1, 3600, "seconds")),
        # Payments (utilities/payments): the bank gateway (by default the simulator of
        # `flask payments gateway-sim`), the HMAC secret it shares with us (in production,
        # payments stay off, 503, with the development default: app/api/payments.py), the base
        # URL it calls back, and how long an attempt stays pending before reconciliation asks.
        "PAYMENT_PROVIDER": env.get("PAYMENT_PROVIDER", "banksim"),
        "PAYMENT_GATEWAY_URL": env.get("PAYMENT_GATEWAY_URL", "http://127.0.0.1:5055"),
        "PAYMENT_GATEWAY_SECRET": env.get("PAYMENT_GATEWAY_SECRET",
                                          "dev-payment-gateway-secret"),
        "PAYMENT_GATEWAY_TIMEOUT": float(env.get("PAYMENT_GATEWAY_TIMEOUT", 5)),
        "PAYMENT_CALLBACK_BASE_URL": env.get("PAYMENT_CALLBACK_BASE_URL",
                                             "http://127.0.0.1:5000"),
        "PAYMENT_RECONCILE_AFTER_SECONDS": int(env.get("PAYMENT_RECONCILE_AFTER_SECONDS", 60)),
        "PAYMENT_RECEIPT_SECONDS": min(int(env.get("PAYMENT_RECEIPT_SECONDS", 86_400)), 604_800),
        # Data coordination (identity/coordination): aggregated counts below this are hidden;
        # the most active SIM subscriptions one personal id may hold at one operator.
        "COORDINATION_MIN_COUNT": int(env.get("COORDINATION_MIN_COUNT", 10)),
        # Rollout statistics and the dashboard: counts below this are hidden, with every count
        # that would give one back by subtraction (identity/monitoring/disclosure.py).
        "STATS_MIN_COUNT": int(env.get("STATS_MIN_COUNT", 10)),
        # How long a process answers from its protected statistics tables before it checks,
        # again, that the summary tables have not changed (seconds; 0: on every request).
        "STATS_FRESH_SECONDS": max(float(env.get("STATS_FRESH_SECONDS",
                                                 STATS_FRESH_SECONDS_SERVED)), 0.0),
        "SIM_MAX_PER_ID": int(env.get("SIM_MAX_PER_ID", 3)),
        #: Multiplies every retry delay (0 in the tests: retries run at once).
        "JOB_RETRY_SCALE": float(env.get("JOB_RETRY_SCALE", 1)),
    }


def _job_queue(env: Mapping[str, str], redis_url: str, embedded: str) -> str:
    """RQ on a real Redis; ``embedded`` (thread or inline) on the in-process stand-in."""
    return env.get("JOB_QUEUE") or ("rq" if redis_url != MEMORY_REDIS_URL else embedded)


def _job_redis_url(env: Mapping[str, str], redis_url: str) -> str:
    """The Redis of the job queue: ``JOB_REDIS_URL``, else ``REDIS_URL``. RQ keeps a job, its
    queue and its registries in one ``MULTI`` and has no cluster support, so a cluster's
    ``REDIS_URL`` needs a plain Redis server named here."""
    url = env.get("JOB_REDIS_URL") or redis_url
    if url.startswith(REDIS_CLUSTER_SCHEME):
        raise ConfigError("JOB_REDIS_URL must name one Redis server (redis://...) when "
                          "REDIS_URL names a Redis Cluster: RQ, the job queue, runs on one "
                          "server")
    return url


def development(env: Mapping[str, str]) -> dict[str, Any]:
    """The embedded default: SQLite under instance/, in-process Redis."""
    INSTANCE_DIR.mkdir(parents=True, exist_ok=True)
    keys = {**_development_keys(), **{k: env[k] for k in KEY_SETTINGS if k in env}}
    url = _database_url(env.get("DATABASE_URL", f"sqlite:///{INSTANCE_DIR / 'vnid.sqlite3'}"))
    return {
        **_common(env),
        "ENV_NAME": "development",
        "SQLALCHEMY_DATABASE_URI": url,
        "SQLALCHEMY_ENGINE_OPTIONS": _engine_options(url),
        "REDIS_URL": env.get("REDIS_URL", MEMORY_REDIS_URL),
        "JOB_REDIS_URL": _job_redis_url(env, env.get("REDIS_URL", MEMORY_REDIS_URL)),
        "JOB_QUEUE": _job_queue(env, env.get("REDIS_URL", MEMORY_REDIS_URL), "thread"),
        # `make run` serves on 127.0.0.1:5000 (the testing default is the test client's).
        "OAUTH_TOKEN_URL": env.get("OAUTH_TOKEN_URL",
                                   "http://127.0.0.1:5000/api/v1/oauth/token"),
        # `flask run` is one process serving one person's browser, which asks for a page's
        # twenty modules at once: the production bound of 2 would only make it wait.
        "MAX_IN_FLIGHT": int(env.get("MAX_IN_FLIGHT", 64)),
        **keys,
    }


#: Fixed, public test keys: never used outside the test suite.
TEST_KEYS = {
    "SECRET_KEY": "test-secret-key-not-for-production",
    "PERSONAL_DATA_KEYS": "2:" + _b64(b"\x02" * 32) + ",1:" + _b64(b"\x01" * 32),
    "LOOKUP_HASH_KEY": _b64(b"\x07" * 32),
    "TOKEN_SIGNING_KEYS": ",".join([token_signing_key("test-2", 0x2222),
                                    token_signing_key("test-1", 0x1111)]),
    "PASSCODE_HMAC_KEYS": "2:" + _b64(b"\x0b" * 32) + ",1:" + _b64(b"\x0a" * 32),
}


def testing(env: Mapping[str, str]) -> dict[str, Any]:
    """The test suite's configuration: SQLite in a temporary folder unless DATABASE_URL is set."""
    default_db = f"sqlite:///{Path(tempfile.mkdtemp(prefix='vnid-test-')) / 'test.sqlite3'}"
    url = _database_url(env.get("DATABASE_URL") or default_db)
    return {
        **_common(env),
        "ENV_NAME": "testing",
        "TESTING": True,
        # The tests see every change of the counts at once.
        "STATS_FRESH_SECONDS": max(float(env.get("STATS_FRESH_SECONDS", 0)), 0.0),
        "SQLALCHEMY_DATABASE_URI": url,
        "SQLALCHEMY_ENGINE_OPTIONS": _engine_options(url),
        "REDIS_URL": env.get("REDIS_URL") or MEMORY_REDIS_URL,
        "JOB_REDIS_URL": _job_redis_url(env, env.get("REDIS_URL") or MEMORY_REDIS_URL),
        "JOB_QUEUE": _job_queue(env, env.get("REDIS_URL") or MEMORY_REDIS_URL, "inline"),
        "JOB_QUEUE_NAME": "vnid-test",
        "JOB_RETRY_SCALE": 0.0,
        "AUDIT_SHARDS": 4,
        # The race tests send many requests at once to one process, to meet in the database:
        # the production bound of 2 would let them in two by two (tests/faults/
        # test_load_shedding.py tests the bound itself).
        "MAX_IN_FLIGHT": int(env.get("MAX_IN_FLIGHT", 64)),
        "IMPORT_BATCH_SIZE": 50,
        "EVIDENCE_DIR": env.get("EVIDENCE_DIR") or tempfile.mkdtemp(prefix="vnid-evidence-"),
        **TEST_KEYS,
    }


def production(env: Mapping[str, str]) -> dict[str, Any]:
    """Production: every setting from the environment, no embedded stand-ins."""
    required = ("DATABASE_URL", "REDIS_URL", *KEY_SETTINGS)
    for name in required:
        if not env.get(name):
            raise ConfigError(f"production configuration needs {name} in the environment")
    url = _database_url(env["DATABASE_URL"])
    if not url.startswith("postgresql"):
        raise ConfigError("production configuration needs DATABASE_URL to be a PostgreSQL URL, "
                          "not the embedded SQLite default")
    if not env["REDIS_URL"].startswith(("redis://", "rediss://", "unix://",
                                        REDIS_CLUSTER_SCHEME)):
        raise ConfigError("production configuration needs REDIS_URL to be a real Redis "
                          "(redis://, rediss://, unix:// or redis+cluster://), not the "
                          "in-process stand-in")
    if len(env["SECRET_KEY"]) < 32:
        raise ConfigError("production configuration needs SECRET_KEY of at least 32 characters")
    if env.get("METRICS_TOKEN") and len(env["METRICS_TOKEN"]) < 32:
        raise ConfigError("production configuration needs METRICS_TOKEN, when set, of at least "
                          "32 characters (a bearer token guessed is a scrape anyone can make)")
    if not env.get("METRICS_TOKEN") and not env.get("METRICS_ALLOWED_NETWORKS"):
        raise ConfigError("production configuration needs METRICS_TOKEN or "
                          "METRICS_ALLOWED_NETWORKS: who may scrape /metrics")
    if env.get("SMS_BACKEND", "outbox") == "outbox":
        raise ConfigError("production configuration needs SMS_BACKEND to name a real SMS gateway "
                          "class (module:Class), not the development outbox")
    if not env.get("OAUTH_TOKEN_URL", "").startswith("https://"):
        raise ConfigError("production configuration needs OAUTH_TOKEN_URL: the token "
                          "endpoint's public https URL, the audience of client assertions")
    if _flag(env.get("RP_CALLBACKS_ALLOW_PRIVATE", "0")):
        raise ConfigError("production configuration refuses RP_CALLBACKS_ALLOW_PRIVATE: "
                          "callbacks never go to loopback or private addresses")
    return {
        **_common(env),
        "ENV_NAME": "production",
        "OAUTH_TOKEN_URL": env["OAUTH_TOKEN_URL"],
        "RP_CALLBACKS_HTTPS_ONLY": True,
        "RP_CALLBACKS_ALLOW_PRIVATE": False,
        "SQLALCHEMY_DATABASE_URI": url,
        "SQLALCHEMY_ENGINE_OPTIONS": _engine_options(url),
        "REDIS_URL": env["REDIS_URL"],
        "JOB_REDIS_URL": _job_redis_url(env, env["REDIS_URL"]),
        "JOB_QUEUE": "rq",
        "SECRET_KEY": env["SECRET_KEY"],
        "PERSONAL_DATA_KEYS": env["PERSONAL_DATA_KEYS"],
        "LOOKUP_HASH_KEY": env["LOOKUP_HASH_KEY"],
        "TOKEN_SIGNING_KEYS": env["TOKEN_SIGNING_KEYS"],
        "PASSCODE_HMAC_KEYS": env["PASSCODE_HMAC_KEYS"],
        "PREFERRED_URL_SCHEME": "https",
        "METRICS_ALLOWED_NETWORKS": env.get("METRICS_ALLOWED_NETWORKS", ""),
    }


CONFIGS = {"development": development, "testing": testing, "production": production}


def load_config(name: str | None = None, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Build the named configuration (default: ``$VNID_CONFIG`` or development) from ``env``."""
    env = os.environ if env is None else env
    name = name or env.get("VNID_CONFIG", "development")
    try:
        build = CONFIGS[name]
    except KeyError:
        choices = ", ".join(CONFIGS)
        raise ConfigError(f"VNID_CONFIG must be one of {choices}, not {name!r}") from None
    return build(env)
