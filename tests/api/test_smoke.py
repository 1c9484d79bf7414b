"""The skeleton through HTTP: health, OpenAPI, docs, the uniform error body."""
from __future__ import annotations

import logging

import pytest
import redis as redis_lib
import sqlalchemy as sa

from app import create_app
from app.logging_setup import RedactingFormatter
from config import load_config
from tests.flows import assert_error


def test_healthz_ok(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok", "checks": {"database": "ok", "redis": "ok"}}
    assert response.headers["Cache-Control"] == "no-store"


def test_healthz_names_redis_when_it_is_down(client, app, monkeypatch):
    def refuse():
        raise redis_lib.ConnectionError("connection refused")

    monkeypatch.setattr(app.extensions["redis"], "ping", refuse)
    response = client.get("/healthz")
    body = assert_error(response, 503, "health.unavailable")
    assert list(body["errors"]) == ["redis"]
    assert response.headers["Retry-After"] == "5"


def test_healthz_names_the_database_when_it_is_down(tmp_path):
    settings = load_config("testing", {"DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"})
    app = create_app(settings)
    response = app.test_client().get("/healthz")
    body = assert_error(response, 503, "health.unavailable")
    assert list(body["errors"]) == ["database"]


def test_unknown_route_has_the_uniform_error_body(client):
    assert_error(client.get("/api/v1/nothing-here"), 404, "not_found")


def test_wrong_method_has_the_uniform_error_body(client):
    response = client.delete("/api/v1/admin-units/provinces")
    assert_error(response, 405, "method.not_allowed")
    assert "GET" in response.headers["Allow"]


def test_openapi_document_lists_the_api(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    assert spec["openapi"] == "3.0.3"  # Swagger UI 4, served locally, does not render 3.1
    error_body = spec["components"]["schemas"]["ErrorBody"]
    assert sorted(error_body["required"]) == ["code", "errors", "message", "status"]
    assert "/api/v1/personal-ids/check" in spec["paths"]
    assert "/api/v1/admin-units/provinces/{province_code}/communes" in spec["paths"]


def test_docs_are_served_without_internet(client):
    page = client.get("/docs")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "/docs/static/swagger-ui-bundle.js" in html and "/api/v1/openapi.json" in html
    assert "cdn" not in html.lower()
    script = client.get("/docs/static/swagger-ui-bundle.js")
    assert script.status_code == 200 and len(script.data) > 100_000
    script.close()


def test_unexpected_errors_are_a_generic_500_and_logged_without_personal_data(caplog):
    app = create_app("testing")

    @app.get("/boom")
    def boom():
        raise RuntimeError("duplicate key personal_id=001090012345 phone 0912345678")

    with caplog.at_level(logging.ERROR):
        response = app.test_client().get("/boom")
    body = assert_error(response, 500, "server.error")
    assert "001090012345" not in body["message"]
    text = RedactingFormatter().format(caplog.records[-1])
    assert "RuntimeError" in text
    assert "001090012345" not in text and "0912345678" not in text
    assert "[personal-id]" in text and "[phone]" in text


@pytest.mark.parametrize("path", ["/api/v1/admin-units/provinces", "/healthz"])
def test_answers_are_json(client, path):
    assert client.get(path).content_type == "application/json"


def test_database_is_migrated_not_created(app, db_session):
    version = db_session.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
    assert version is not None


def test_every_answer_carries_a_request_id(client):
    """The caller's well-formed X-Request-Id is echoed (and audited); anything else is replaced."""
    given = client.get("/healthz", headers={"X-Request-Id": "app-7f3a9c21"})
    assert given.headers["X-Request-Id"] == "app-7f3a9c21"
    made = client.get("/healthz", headers={"X-Request-Id": "bad id\u202e with spaces"})
    assert len(made.headers["X-Request-Id"]) == 32 and made.headers["X-Request-Id"].isalnum()
    assert client.get("/healthz").headers["X-Request-Id"] != made.headers["X-Request-Id"]
