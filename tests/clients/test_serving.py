"""The browser clients are served by the service, with their own strict Content-Security-Policy."""
from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from app.clients import CLIENT_POLICY


@pytest.mark.parametrize("path", ["/app/", "/police/", "/verify/"])
def test_each_client_opens_on_its_page(client: FlaskClient, path: str) -> None:
    answer = client.get(path)
    assert answer.status_code == 200
    assert answer.mimetype == "text/html"
    assert answer.headers["Content-Security-Policy"] == CLIENT_POLICY
    assert answer.headers["Cache-Control"] == "no-cache"
    assert answer.headers["X-Frame-Options"] == "DENY"


def test_the_policy_allows_nothing_inline_and_nothing_from_elsewhere() -> None:
    directives = dict(part.strip().split(" ", 1) for part in CLIENT_POLICY.split(";"))
    assert directives["default-src"] == "'none'"
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["connect-src"] == "'self'"
    assert "unsafe" not in CLIENT_POLICY and "http" not in CLIENT_POLICY


def test_vendored_modules_are_served_as_javascript_and_cached(client: FlaskClient) -> None:
    answer = client.get("/clients/vendor/cborg/cborg.js")
    assert answer.status_code == 200
    assert answer.mimetype in ("text/javascript", "application/javascript")
    assert answer.headers["Cache-Control"] == "public, max-age=300"
    assert answer.headers["Content-Security-Policy"] == CLIENT_POLICY


@pytest.mark.parametrize("path", ["/app/missing.js", "/app/../clients.py",
                                  "/app/%2e%2e/clients.py", "/clients/vendor/",
                                  "/police/../../config.py"])
def test_nothing_outside_a_client_folder_is_served(client: FlaskClient, path: str) -> None:
    answer = client.get(path)
    assert answer.status_code == 404
    assert answer.get_json()["code"] == "not_found"
    assert answer.headers["Cache-Control"] == "no-store"
