"""/metrics: Prometheus text read back by prometheus_client's own parser; who may scrape it."""
from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from app.auth import limiter
from app.metrics import CREDENTIAL_VERIFICATIONS, UNMATCHED
from identity.monitoring import queues
from tests.factories import personal_id_for
from tests.flows import bearer
from tests.identity.monitoring.helpers import fixed_queue


def scrape(client: Any, **kwargs: Any) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    answer = client.get("/metrics", **kwargs)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert answer.content_type.startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(answer.get_data(as_text=True)):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_requests_are_counted_and_timed_by_route_not_by_path(client):
    before = scrape(client)
    for code in ("01", "79"):
        assert client.get(f"/api/v1/admin-units/provinces/{code}/communes").status_code == 200
    after = scrape(client)
    route = "/api/v1/admin-units/provinces/<string:province_code>/communes"
    labels = {"endpoint": route, "method": "GET", "status": "200"}
    assert value(after, "vnid_http_requests_total", **labels) - \
        value(before, "vnid_http_requests_total", **labels) == 2
    timing = {"endpoint": route, "method": "GET"}
    assert value(after, "vnid_http_request_duration_seconds_count", **timing) - \
        value(before, "vnid_http_request_duration_seconds_count", **timing) == 2
    assert not any("/provinces/01" in str(key) for key in after)


def test_401_and_429_answers_are_counted(client, app):
    before = scrape(client)
    assert client.get("/api/v1/me", headers=bearer("nonsense")).status_code == 401
    app.config["AUTH_LIMIT_PER_IP"] = "1 per minute"
    body = {"personal_id": personal_id_for(dt.date(1990, 5, 17), "M", 777_001),
            "device_id": str(uuid.uuid4())}
    try:
        statuses = [client.post("/api/v1/auth/challenge", json=body).status_code
                    for _ in range(2)]
    finally:
        app.config["AUTH_LIMIT_PER_IP"] = "600 per minute"
        with app.app_context():
            limiter.reset()
    assert statuses[-1] == 429
    after = scrape(client)
    assert value(after, "vnid_auth_failures_total", endpoint="/api/v1/me") - \
        value(before, "vnid_auth_failures_total", endpoint="/api/v1/me") == 1
    assert value(after, "vnid_rate_limited_total", endpoint="/api/v1/auth/challenge") - \
        value(before, "vnid_rate_limited_total", endpoint="/api/v1/auth/challenge") == 1


def test_credential_verifications_by_result(client):
    CREDENTIAL_VERIFICATIONS.labels("valid").inc()
    samples = scrape(client)
    assert value(samples, "vnid_credential_verifications_total", result="valid") >= 1


def test_queue_sizes_are_read_at_scrape_time(client, monkeypatch):
    monkeypatch.setattr(queues, "_QUEUES", {})
    queues.register_queue("test.queue", fixed_queue([("01", "00070", 3, 1), ("01", None, 2, 2),
                                                     ("79", None, 5, 0)]))
    samples = scrape(client)
    assert value(samples, "vnid_queue_open", queue="test.queue", province="01") == 5
    assert value(samples, "vnid_queue_overdue", queue="test.queue", province="01") == 3
    assert value(samples, "vnid_queue_open", queue="test.queue", province="79") == 5
    assert value(samples, "vnid_queue_scrape_success") == 1


def test_a_broken_queue_does_not_break_the_scrape(client, monkeypatch):
    def broken(db_session: Any, now: Any) -> list[Any]:
        raise RuntimeError("boom")
    monkeypatch.setattr(queues, "_QUEUES", {"broken": broken})
    samples = scrape(client)
    assert value(samples, "vnid_queue_scrape_success") == 0
    assert any(name == "vnid_http_requests_total" for name, _ in samples)


def test_scraping_needs_an_allowed_network_or_the_token(client, app):
    networks = app.extensions["metrics_networks"]
    app.extensions["metrics_networks"] = []
    try:
        answer = client.get("/metrics")
        assert (answer.status_code, answer.get_json()["code"]) == (403, "metrics.forbidden")
        app.config["METRICS_TOKEN"] = "scrape-token-0123456789"
        answer = client.get("/metrics", headers=bearer("wrong"))
        assert (answer.status_code, answer.get_json()["code"]) == (401, "metrics.unauthorized")
        assert scrape(client, headers=bearer("scrape-token-0123456789"))
    finally:
        app.extensions["metrics_networks"] = networks
        app.config["METRICS_TOKEN"] = ""
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "10.1.2.3"}).status_code == 403


def test_in_multiprocess_mode_the_scrape_reads_the_workers_files(client, monkeypatch, tmp_path):
    from prometheus_client import Counter, CollectorRegistry, values

    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    monkeypatch.setattr(values, "ValueClass", values.MultiProcessValue())
    worker = Counter("vnid_worker_test_total", "a worker's counter", registry=CollectorRegistry())
    worker.inc(3)
    samples = scrape(client)
    assert value(samples, "vnid_worker_test_total") == 3
    assert value(samples, "vnid_queue_scrape_success") == 1


def test_production_refuses_to_start_with_nobody_allowed_to_scrape():
    import pytest

    from config import ConfigError, load_config
    from tests.test_config import PRODUCTION

    env = {key: value for key, value in PRODUCTION.items() if key != "METRICS_ALLOWED_NETWORKS"}
    with pytest.raises(ConfigError, match="METRICS_TOKEN or METRICS_ALLOWED_NETWORKS"):
        load_config("production", env)
    assert load_config("production", {**env, "METRICS_TOKEN": "t" * 32})["METRICS_TOKEN"]
    with pytest.raises(ConfigError, match="METRICS_TOKEN, when set, of at least 32"):
        load_config("production", {**env, "METRICS_TOKEN": "CHANGE_ME"})


def test_a_malformed_network_list_fails_fast():
    import pytest

    from app.metrics import parse_networks
    from config import ConfigError

    assert [str(n) for n in parse_networks("10.0.0.0/8, ::1/128")] == ["10.0.0.0/8", "::1/128"]
    with pytest.raises(ConfigError, match="METRICS_ALLOWED_NETWORKS"):
        parse_networks("10.0.0.0/8,not-a-network")


def test_a_made_up_method_is_counted_as_other(client):
    # The method is the client's token: counted by name, it would grow the label sets at will.
    before = scrape(client)
    for method in ("BREW", "PROPFIND-" + uuid.uuid4().hex[:8]):
        assert client.open("/api/v1/admin-units/provinces", method=method).status_code == 405
    after = scrape(client)
    assert not any("BREW" in str(key) or "PROPFIND" in str(key) for key in after)
    labels = {"endpoint": UNMATCHED, "method": "OTHER", "status": "405"}
    assert value(after, "vnid_http_requests_total", **labels) - \
        value(before, "vnid_http_requests_total", **labels) == 2
