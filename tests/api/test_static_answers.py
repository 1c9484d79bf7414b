"""The administrative units' answers: built once, ETag and 304, replayed in front of Flask."""
from __future__ import annotations

from typing import Any

import pytest

from tests.flows import assert_error
from tests.test_metrics import scrape, value

PROVINCES = "/api/v1/admin-units/provinces"
PATHS = [PROVINCES, "/api/v1/admin-units/former-provinces",
         "/api/v1/admin-units/provinces/79/communes"]


def _headers(answer: Any) -> dict[str, str]:
    return {name: value for name, value in answer.headers.items() if name != "X-Request-Id"}


@pytest.fixture()
def into_flask(app, monkeypatch) -> list[str]:
    """The paths of the requests that reached the application behind the replay."""
    middleware = app.extensions["static_answers"]
    inner, reached = middleware.wsgi_app, []

    def counting(environ: dict[str, Any], start_response: Any) -> Any:
        reached.append(environ["PATH_INFO"])
        return inner(environ, start_response)
    monkeypatch.setattr(middleware, "wsgi_app", counting)
    return reached


@pytest.mark.parametrize("path", PATHS)
def test_the_replayed_answer_is_the_applications_answer(client, into_flask, path):
    first, second = client.get(path), client.get(path)
    assert first.status_code == second.status_code == 200
    assert first.data == second.data and first.get_json()
    assert _headers(first) == _headers(second)
    assert first.headers["ETag"] and "public" in first.headers["Cache-Control"]
    assert first.headers["Content-Security-Policy"].startswith("default-src 'none'")
    assert first.headers["X-Request-Id"] != second.headers["X-Request-Id"]
    assert into_flask.count(path) <= 1  # once to record it (or not at all: recorded earlier)
    assert client.get(path).data == first.data and into_flask.count(path) <= 1


@pytest.mark.parametrize("replayed", [False, True], ids=["application", "replay"])
def test_if_none_match_is_304_without_a_body(client, app, replayed):
    if not replayed:
        app.extensions["static_answers"]._answers.clear()
    etag = client.get(PROVINCES).headers["ETag"]
    if not replayed:
        app.extensions["static_answers"]._answers.clear()
    again = client.get(PROVINCES, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""
    assert again.headers["ETag"] == etag and "Content-Type" not in again.headers
    assert again.headers["X-Request-Id"]
    other = client.get(PROVINCES, headers={"If-None-Match": '"not-this-one"'})
    assert other.status_code == 200 and len(other.get_json()) == 34


def test_the_callers_request_id_is_echoed_and_a_bad_one_replaced(client):
    client.get(PROVINCES)
    mine = "checkpoint-7f3a9c"
    assert client.get(PROVINCES, headers={"X-Request-Id": mine}).headers["X-Request-Id"] == mine
    replaced = client.get(PROVINCES, headers={"X-Request-Id": "0912345678901"})
    assert replaced.headers["X-Request-Id"] != "0912345678901"


def test_what_is_not_a_plain_get_still_goes_to_the_application(client, into_flask):
    client.get(PROVINCES)  # recorded now, or by an earlier test: either way replayed from here
    into_flask.clear()
    assert client.get(PROVINCES).status_code == 200 and into_flask == []
    assert_error(client.get(PROVINCES + "?personal_id=001090012345"), 422, "request.invalid")
    assert_error(client.delete(PROVINCES), 405, "method.not_allowed")
    assert client.head(PROVINCES).status_code == 200
    assert_error(client.get("/api/v1/admin-units/provinces/99/communes"), 404,
                 "province.not_found")
    assert into_flask.count(PROVINCES) == 3
    assert "/api/v1/admin-units/provinces/99/communes" in into_flask


def test_replayed_answers_are_counted_like_the_others(client):
    client.get(PROVINCES)
    before = scrape(client)
    for _ in range(3):
        assert client.get(PROVINCES).status_code == 200
    after = scrape(client)
    labels = {"endpoint": PROVINCES, "method": "GET", "status": "200"}
    assert value(after, "vnid_http_requests_total", **labels) - \
        value(before, "vnid_http_requests_total", **labels) == 3


def test_production_headers_are_not_replayed_into_another_configuration(client, app,
                                                                        monkeypatch):
    assert "Strict-Transport-Security" not in client.get(PROVINCES).headers
    monkeypatch.setitem(app.config, "ENV_NAME", "production")
    assert client.get(PROVINCES).headers["Strict-Transport-Security"]
    assert client.get(PROVINCES).headers["Strict-Transport-Security"]
