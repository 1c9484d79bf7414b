"""Unknown query parameters are refused on every operation of the OpenAPI document.

``?personal_id=...&phone=...`` must never be silently ignored (a 2xx would
tell a caller the filter applied); the answer is the uniform 422
``request.invalid`` naming the parameters, never their values.
"""
from __future__ import annotations

from typing import Any

from app.auth import limiter
from tests import logcheck
from tests.security.test_authorisation_matrix import HEADERS, World, _document, _url

HOSTILE = "personal_id=079190012345&phone=0912345678"


def _open(client: Any, method: str, url: str, headers: dict[str, str]) -> Any:
    return client.open(url, method=method, headers=headers, json={})


def test_every_operation_refuses_unknown_query_parameters(app, client, db_session, protector):
    with app.app_context():
        limiter.reset()
    world = World(client, db_session, protector)
    before = len(logcheck.CAPTURE.raw)
    wrong: list[str] = []
    cells = 0
    for method, path, key in _document(client):
        for caller in world.callers():
            url = _url(path, {})
            answer = _open(client, method, f"{url}?{HOSTILE}",
                           {**caller.headers, **HEADERS.get(key, {})})
            cells += 1
            body = answer.get_json(silent=True) or {}
            if answer.status_code == 422:
                if body.get("code") != "request.invalid" or set(body.get("errors", {})) != {
                        "personal_id", "phone"}:
                    wrong.append(f"{key} as {caller.name}: 422 {body}")
                elif "079190012345" in answer.get_data(as_text=True):
                    wrong.append(f"{key} as {caller.name}: the value is echoed")
            elif answer.status_code not in (401, 403):
                wrong.append(f"{key} as {caller.name}: {answer.status_code}")
    assert not wrong, f"{len(wrong)} of {cells}:\n" + "\n".join(wrong)
    raw = "\n".join(logcheck.CAPTURE.raw[before:])
    assert "079190012345" not in raw and "0912345678" not in raw


def test_declared_query_parameters_still_work(app, client, db_session, protector):
    world = World(client, db_session, protector)
    citizen = world.citizen_a[1]
    assert client.get("/api/v1/payments?status=pending&page=1", headers=citizen).status_code \
        == 200
    assert client.get("/api/v1/stats/overview?days=7&months=3",
                      headers=world.operator).status_code == 200
    assert client.get("/api/v1/police/reports?page=1&per_page=5",
                      headers=world.officer).status_code == 200
    refused = client.get("/api/v1/me?page=1", headers=citizen)
    assert refused.status_code == 422 and refused.get_json()["errors"] == {
        "page": ["Unknown field."]}
    refused = client.get("/api/v1/payments?status=pending&phone=0912345678", headers=citizen)
    assert refused.status_code == 422 and set(refused.get_json()["errors"]) == {"phone"}


def test_the_nine_plain_gets_of_the_issue(client, db_session, protector):
    """/api/v1/me and the other GETs without a query schema answered 200 to these before."""
    world = World(client, db_session, protector)
    for path in ("/api/v1/me", "/api/v1/me/notifications", "/api/v1/credentials",
                 "/api/v1/residence/current", "/api/v1/me/documents"):
        answer = client.get(f"{path}?{HOSTILE}", headers=world.citizen_a[1])
        assert answer.status_code == 422 and answer.get_json()["code"] == "request.invalid", path
    assert client.get(f"/api/v1/admin-units/provinces?{HOSTILE}").status_code == 422
    assert client.get(f"/.well-known/vnid-keys.json?{HOSTILE}").status_code == 422
