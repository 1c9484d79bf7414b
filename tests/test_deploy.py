"""``deploy/``: the Compose file an operator starts, checked against the code it runs.

- ``docker-compose config`` accepts the file (Debian's docker-compose, which CI installs;
  skipped on a machine without it unless ``VNID_REQUIRE_COMPOSE=1``, which CI sets);
- the settings it gives the containers, with the keys an operator generates, start the
  production configuration, and the example's placeholders do not (nothing starts on them);
- every command of its containers is a command of the service, one scheduler runs, and
  Prometheus scrapes the port the app servers listen on.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from app import create_app
from config import ConfigError, generate_keys, load_config
from identity.protection import KeyMaterialError

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
COMPOSE = DEPLOY / "compose.yaml"
ENV_EXAMPLE = DEPLOY / "vnid.env.example"
IMAGE_SERVICES = ("migrate", "app", "worker", "cron")
#: How the Compose file asks for the database's password: it will not start without one.
POSTGRES_PASSWORD = "${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD}"


def compose() -> dict[str, Any]:
    return dict(yaml.safe_load(COMPOSE.read_text()))


def example_env() -> dict[str, str]:
    pairs = (line.split("=", 1) for line in ENV_EXAMPLE.read_text().splitlines()
             if line.strip() and not line.startswith("#"))
    return {name: value for name, value in pairs}


def container_env(service: str, overrides: dict[str, str]) -> dict[str, str]:
    """What a container of ``service`` gets: the env file, then its ``environment``."""
    environment = {name: str(value).replace(POSTGRES_PASSWORD, "pw")
                   for name, value in compose()["services"][service]["environment"].items()}
    return {**example_env(), **overrides, **environment}


COMPOSE_COMMAND = shutil.which("docker-compose")


@pytest.mark.skipif(COMPOSE_COMMAND is None and os.environ.get("VNID_REQUIRE_COMPOSE") != "1",
                    reason="docker-compose is not installed (apt-get install docker-compose)")
def test_docker_compose_accepts_the_file_given_the_passwords() -> None:
    assert COMPOSE_COMMAND is not None, "VNID_REQUIRE_COMPOSE=1 but docker-compose is missing"
    passwords = {"POSTGRES_PASSWORD": "p" * 24, "REPLICATION_PASSWORD": "r" * 24}
    done = subprocess.run([COMPOSE_COMMAND, "-f", str(COMPOSE), "config", "-q"],
                          capture_output=True, text=True, timeout=60, check=False,
                          env={**os.environ, **passwords})
    assert done.returncode == 0, done.stderr
    without = {k: v for k, v in os.environ.items() if k not in passwords}
    refused = subprocess.run([COMPOSE_COMMAND, "-f", str(COMPOSE), "config", "-q"],
                             capture_output=True, text=True, timeout=60, check=False,
                             env=without)
    assert refused.returncode != 0 and "POSTGRES_PASSWORD" in refused.stderr


FILLED = {**generate_keys(), "SMS_BACKEND": "identity.accounts.sms:OutboxGateway",
          "OAUTH_TOKEN_URL": "https://id.example.vn/api/v1/oauth/token",
          "METRICS_TOKEN": "m" * 40, "PAYMENT_GATEWAY_URL": "https://bank.example.vn",
          "PAYMENT_GATEWAY_SECRET": "s" * 40, "PAYMENT_CALLBACK_BASE_URL": "https://id.example.vn"}
#: Placeholders that leave the service running with payments off (503 payment.unconfigured).
PAYMENTS_ONLY = {"PAYMENT_GATEWAY_URL", "PAYMENT_GATEWAY_SECRET", "PAYMENT_CALLBACK_BASE_URL"}


PLACEHOLDERS = sorted(name for name, value in example_env().items() if value == "CHANGE_ME")


@pytest.mark.parametrize("left", PLACEHOLDERS)
def test_the_service_does_not_start_on_a_placeholder_left_in(left: str) -> None:
    """Each CHANGE_ME left alone (the others filled in) stops the app from starting, but for
    the payment gateway's, which starts it with payments off."""
    env = container_env("app", {**FILLED, left: "CHANGE_ME"})
    if left in PAYMENTS_ONLY:
        app = create_app(load_config("production", env))
        assert app.extensions["payment_providers"] == {}
        return
    with pytest.raises((ConfigError, KeyMaterialError, ValueError)):
        create_app(load_config("production", env))


def test_the_containers_settings_with_real_keys_start_the_production_configuration() -> None:
    """Every placeholder replaced as the example says: the production configuration takes the
    Compose file's database, replica and Redis URLs."""
    for service in IMAGE_SERVICES:
        settings = load_config("production", container_env(service, FILLED))
        assert settings["SQLALCHEMY_DATABASE_URI"] == (
            "postgresql+psycopg://vnid:pw@postgres:5432/vnid")
        assert settings["DATABASE_REPLICA_URLS"] == [
            "postgresql+psycopg://vnid:pw@postgres-replica:5432/vnid"]
        assert settings["REDIS_URL"] == ("redis+cluster://redis-cluster-1:6379,"
                                         "redis-cluster-2:6379,redis-cluster-3:6379")
        assert settings["JOB_REDIS_URL"] == "redis://redis:6379/0"


def test_every_variable_of_the_example_is_a_setting_of_the_service() -> None:
    source = (Path(__file__).resolve().parent.parent / "config.py").read_text()
    read = set(re.findall(r"""env(?:\.get\(|\[)"([A-Z_]+)\"""", source))
    read |= set(re.findall(r'"([A-Z_]+)"', source.split("KEY_SETTINGS = ", 1)[1][:300]))
    assert set(example_env()) <= read


def test_each_container_runs_a_command_of_the_service_and_one_scheduler_runs() -> None:
    services = compose()["services"]
    app = create_app("testing")
    commands = {name: set(getattr(command, "commands", {}))
                for name, command in app.cli.commands.items()}
    assert services["migrate"]["command"] == ["flask", "db", "upgrade"]
    assert "upgrade" in commands["db"]
    for service, sub in (("worker", "worker"), ("cron", "cron")):
        assert services[service]["command"] == ["flask", "jobs", sub]
        assert sub in commands["jobs"]
    assert "deploy" not in services["cron"]  # never scaled: periodic jobs enqueued once
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert '"--port", "8000"' in dockerfile and "wsgi:app" in dockerfile
    assert services["app"]["environment"]["PROMETHEUS_MULTIPROC_DIR"] in " ".join(
        services["app"]["tmpfs"])


def test_prometheus_scrapes_the_app_servers_metrics_with_a_token() -> None:
    scrape = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())["scrape_configs"][0]
    assert scrape["metrics_path"] == "/metrics"
    assert scrape["dns_sd_configs"][0] == {"names": ["app"], "type": "A", "port": 8000}
    assert scrape["authorization"]["type"] == "Bearer"
