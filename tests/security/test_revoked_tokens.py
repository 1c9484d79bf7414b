"""A revoked access token is refused everywhere, logout included, and ends nothing.

The walk takes every operation of the OpenAPI document that asks for a bearer
token, so a new endpoint is covered the day it is added: a citizen's token
and an officer's token, each revoked by a logout while a newer session of the
same holder lives on, get ``401`` on every one of them, and the newer
sessions still work at the end.
"""
from __future__ import annotations

from typing import Any

import pytest

from app.auth import limiter
from identity.audit.service import Actor
from identity.credentials import keys
from tests.factories import add_citizen
from tests.flows import (Phone, assert_error, bearer, create_officer, login, officer_login,
                         register)
from tests.security.test_authorisation_matrix import (ENDPOINTS, HEADERS, VALID_BODIES, _call,
                                                      _url)

LOGOUT = "/api/v1/auth/logout"
#: The audiences (rows of the authorisation matrix) each kind of token is made for.
AUDIENCES = {"citizen": {"citizen", "user"}, "officer": {"officer", "supervisor", "user"}}


def _bearer_operations(client: Any) -> list[tuple[str, str, str]]:
    """Every operation whose OpenAPI security asks for ``bearerAuth``."""
    document = client.get("/api/v1/openapi.json").get_json()
    return [(method.upper(), path, f"{method.upper()} {path}")
            for path, operations in document["paths"].items()
            for method, operation in operations.items() if method != "parameters"
            if any("bearerAuth" in requirement for requirement in operation.get("security", []))]


class Holder:
    """A citizen or an officer with a revoked access token and a current session."""

    def __init__(self, revoked: dict[str, Any], current: dict[str, Any]) -> None:
        self.revoked, self.current = revoked, current


@pytest.fixture()
def holders(app, client, db_session, protector) -> dict[str, Holder]:
    with app.app_context():
        limiter.reset()
    keys.rotate_keys(db_session=db_session, protector=protector, actor=Actor(type="operator"))
    row, phone = add_citizen(db_session, protector), Phone()
    register(client, row, phone)
    old = login(client, row.personal_id, phone)
    assert client.post(LOGOUT, headers=bearer(old["access_token"])).status_code == 204
    citizen = Holder(old, login(client, row.personal_id, phone))
    officer_row = create_officer(db_session, protector, username="revoked.officer")
    old_officer = officer_login(client, officer_row).get_json()
    assert client.post(LOGOUT, headers=bearer(old_officer["access_token"])).status_code == 204
    fresh = officer_login(client, officer_row, offset_steps=1)
    assert fresh.status_code == 200, fresh.get_json()
    return {"citizen": citizen, "officer": Holder(old_officer, fresh.get_json())}


def test_logout_with_a_revoked_token_is_refused_and_ends_nothing(client, holders):
    citizen = holders["citizen"]
    assert_error(client.post(LOGOUT, headers=bearer(citizen.revoked["access_token"])), 401,
                 "auth.invalid_token")
    # The fresh session lives on: its access token reads, its refresh token rotates.
    assert client.get("/api/v1/me", headers=bearer(citizen.current["access_token"])) \
        .status_code == 200
    rotated = client.post("/api/v1/auth/refresh",
                          headers=bearer(citizen.current["refresh_token"]))
    assert rotated.status_code == 200, rotated.get_json()


def test_an_officer_logout_with_a_revoked_token_is_refused(client, holders):
    officer = holders["officer"]
    assert_error(client.post(LOGOUT, headers=bearer(officer.revoked["access_token"])), 401,
                 "auth.invalid_token")
    assert client.get("/api/v1/police/accounts/pending",
                      headers=bearer(officer.current["access_token"])).status_code == 200


def test_a_refresh_token_does_not_log_out(client, holders):
    citizen = holders["citizen"]
    assert_error(client.post(LOGOUT, headers=bearer(citizen.current["refresh_token"])), 401,
                 "auth.invalid_token")
    assert client.get("/api/v1/me", headers=bearer(citizen.current["access_token"])) \
        .status_code == 200


def test_a_logout_with_a_current_token_ends_the_session(client, holders):
    citizen = holders["citizen"]
    token = citizen.current["access_token"]
    assert client.post(LOGOUT, headers=bearer(token)).status_code == 204
    assert_error(client.get("/api/v1/me", headers=bearer(token)), 401, "auth.invalid_token")
    assert_error(client.post(LOGOUT, headers=bearer(token)), 401, "auth.invalid_token")


def test_every_bearer_operation_refuses_revoked_tokens(client, holders):
    operations = _bearer_operations(client)
    # Every operation the matrix knows to take a bearer token is in the walk.
    walked = {key for _m, _p, key in operations}
    assert {key for key, (audience, _k) in ENDPOINTS.items()
            if audience in ("citizen", "officer", "supervisor", "user")} <= walked
    wrong = []
    for method, path, key in operations:
        audience = ENDPOINTS.get(key, ("unknown", None))[0]  # a missing row fails the matrix
        for name, holder in holders.items():
            status = _call(client, method, _url(path, {}),
                           {**bearer(holder.revoked["access_token"]), **HEADERS.get(key, {})},
                           VALID_BODIES.get(key, {}))
            # Where the token's kind is asked for, 401; elsewhere it is refused for its kind
            # (403 auth.citizen_only, auth.officer_only) before its version is read: refused.
            expected = {401} if audience in AUDIENCES[name] else {401, 403}
            if status not in expected:
                wrong.append(f"{key} with a revoked {name} token: {status}")
    assert not wrong, "\n".join(wrong)
    # Nothing of the walk ended the holders' current sessions.
    assert client.get("/api/v1/me", headers=bearer(holders["citizen"].current["access_token"])) \
        .status_code == 200
    assert client.get("/api/v1/police/accounts/pending", headers=bearer(
        holders["officer"].current["access_token"])).status_code == 200
