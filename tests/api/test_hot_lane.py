"""The hot lane (app/hot_lane.py): the online verification, the match, the refresh, a citizen's
QR and report answered in front of Flask, exactly as their routes answer them, and every
request it cannot answer so handed to the route (payments: test_hot_lane_payments.py)."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from hypothesis import given, settings
from hypothesis import strategies as st
from werkzeug.middleware.proxy_fix import ProxyFix

from app import create_app
from app.api import HOT_ROUTES, credentials
from app.auth import auth_limits, count_from_environ
from app.hot_lane import HotLane, register_hot_lane
from app.security_headers import api_headers, set_security_headers
from config import load_config
from identity.accounts import officers
from identity.audit.models import AuditEvent
from identity.audit.service import Actor
from identity.errors import Unavailable
from tests.redis_kinds import CLUSTER, ONE_SERVER, one_redis_server, redis_cluster
from tests import flows
from tests.api.helpers import Bank, Citizen
from tests.flows import assert_error, bearer, logged_in_officer
from tests.utilities.reports.helpers import report_body

PATH = "/api/v1/credentials/verify"
MATCH = "/api/v1/rp/identity-match"
REFRESH = "/api/v1/auth/refresh"
ISSUE = "/api/v1/credentials"
FILE = "/api/v1/reports"
PAY = "/api/v1/payments/<int:order_id>/attempts"
CALLBACK = "/api/v1/payments/callbacks/<string:provider_name>"
OPERATOR = Actor(type="operator", id="test")


@pytest.fixture()
def lane(app: Flask) -> Iterator[HotLane]:
    """The app's lane, its routes restored after the test (:func:`both` takes them away)."""
    found: HotLane = app.extensions["hot_lane"]
    routes = found.routes
    yield found
    found.routes = routes


@pytest.fixture()
def officer(client, db_session, protector):
    return logged_in_officer(client, db_session, protector, username="officer.lane")


@pytest.fixture()
def holder(client, db_session, protector, issuer_key):
    return flows.Holder.make(client, db_session, protector)


def _issued(holder: flows.Holder) -> dict[str, Any]:
    answer = holder.client.post("/api/v1/credentials", headers=bearer(holder.token),
                                json={"type": "identity_basic", "passcode": flows.PASSCODE})
    assert answer.status_code == 201, answer.get_json()
    return dict(answer.get_json())


def _events(db_session: Any, count: int, action: str = "credential.verified") -> list[Any]:
    """The last ``count`` events of ``action``, without what differs between two writes."""
    rows = db_session.execute(
        sa.select(AuditEvent).where(AuditEvent.action == action)
        .order_by(AuditEvent.id.desc()).limit(count)).scalars().all()
    return [{"actor": (row.actor_type, row.actor_id), "source": row.source,
             "request_id": row.request_id, "subject": (row.subject_type, row.subject_id),
             "details": row.details} for row in reversed(rows)]


def both(client: Any, lane: HotLane, db_session: Any, *, headers: dict[str, str],
         served: bool, path: str = PATH, **request: Any) -> Any:
    """Send the request through the lane, then through Flask alone (the lane's routes taken
    away); assert the two answers, and the access-log rows they left, are the same; whether
    the lane ``served`` the first. The answer."""
    headers = {"X-Request-Id": "lane-parity-0001", **headers}
    before = lane.served
    events = db_session.execute(sa.select(sa.func.count()).select_from(AuditEvent)).scalar()
    through_lane = client.post(path, headers=headers, **request)
    assert lane.served - before == (1 if served else 0)
    routes, lane.routes = lane.routes, {}
    try:
        through_flask = client.post(path, headers=headers, **request)
    finally:
        lane.routes = routes
    assert lane.served - before == (1 if served else 0)
    assert (through_lane.status_code, through_lane.get_json()) == \
        (through_flask.status_code, through_flask.get_json())
    assert through_lane.data == through_flask.data  # the same bytes, key order and newline
    assert sorted(through_lane.headers.items()) == sorted(through_flask.headers.items())
    written = db_session.execute(sa.select(sa.func.count()).select_from(AuditEvent)).scalar()
    if written > events:  # one row for each answer, the same but for their place in the chain
        assert written - events == 2
        action = db_session.execute(sa.select(AuditEvent.action)
                                    .order_by(AuditEvent.id.desc()).limit(1)).scalar()
        first, second = _events(db_session, 2, action)
        assert first == second
    return through_lane


def test_the_service_installs_the_lane_for_its_seven_routes(app):
    assert set(app.extensions["hot_lane"].routes) == {PATH, MATCH, REFRESH, ISSUE, FILE, PAY,
                                                      CALLBACK}


def test_a_valid_credential_is_answered_by_the_lane_as_by_the_route(client, lane, db_session,
                                                                    holder, officer):
    qr = _issued(holder)["qr"]
    answer = both(client, lane, db_session, headers=bearer(officer.token), served=True,
                  json={"qr": qr})
    assert answer.get_json()["valid"] is True
    assert answer.headers["X-Request-Id"] == "lane-parity-0001"
    assert answer.headers["Content-Security-Policy"].startswith("default-src 'none'")
    assert answer.headers["Cache-Control"] == "no-store"
    log = [entry for entry in holder.access_log() if entry["action"] == "credential.verified"]
    assert len(log) == 2  # one row for each of the two answers, the lane's and the route's


@pytest.mark.parametrize("qr", ["VN1:AAAA", "hello"])
def test_an_unreadable_credential_is_answered_by_the_lane_too(client, lane, db_session,
                                                              officer, issuer_key, qr):
    answer = both(client, lane, db_session, headers=bearer(officer.token), served=True,
                  json={"qr": qr})
    assert answer.get_json() == {"valid": False, "reason": "malformed", "type": None,
                                 "claims": None, "expires_at": None, "credential_id": None}


def test_a_revoked_credential_is_refused_by_the_lane_as_by_the_route(client, lane, db_session,
                                                                     holder, officer):
    issued = _issued(holder)
    revoked = client.post(f"/api/v1/credentials/{issued['credential_id']}/revoke",
                          headers=bearer(holder.token))
    assert revoked.status_code == 200, revoked.get_json()
    answer = both(client, lane, db_session, headers=bearer(officer.token), served=True,
                  json={"qr": issued["qr"]})
    assert answer.get_json()["reason"] == "revoked"


@pytest.mark.parametrize("request_", [
    {"json": {"qr": "VN1:AAAA", "extra": 1}},  # a field the schema does not know: 422
    {"json": {"qr": "x" * 9000}},  # too long: 422
    {"json": {"qr": 42}},
    {"json": ["VN1:AAAA"]},
    {"data": '{"qr": "VN1:AAAA", "qr": "VN1:BBBB"}', "content_type": "application/json"},
    {"data": '{"qr": NaN}', "content_type": "application/json"},
    {"data": "not json", "content_type": "application/json"},
    {"data": '{"qr": "VN1:AAAA"}', "content_type": "text/plain"},
    {"data": b'{"qr": "\xff"}', "content_type": "application/json"},
    {"json": {}},
], ids=["unknown-field", "too-long", "not-a-string", "a-list", "duplicate-key", "nan",
        "not-json", "text-plain", "not-utf8", "empty-object"])
def test_a_body_the_route_refuses_goes_to_the_route(client, lane, db_session, officer,
                                                    issuer_key, request_):
    answer = both(client, lane, db_session, headers=bearer(officer.token), served=False,
                  **request_)
    assert 400 <= answer.status_code < 500 and set(answer.get_json()) == {
        "status", "code", "message", "errors"}


@pytest.mark.parametrize("authorization", [
    None, "", "Bearer", "Bearer ", "bearer {token}", "Bearer  {token}", "Bearer {token} x",
    "Bearer {token},", "Basic {token}", "Bearer not.a.token", "Bearer {token}\t"])
def test_a_token_the_route_refuses_or_reads_otherwise_goes_to_the_route(
        client, lane, db_session, officer, issuer_key, authorization):
    headers = {} if authorization is None else {
        "Authorization": authorization.format(token=officer.token)}
    answer = both(client, lane, db_session, headers=headers, served=False,
                  json={"qr": "VN1:AAAA"})
    assert answer.status_code in (200, 401, 422), answer.get_json()


def test_a_citizens_token_goes_to_the_route_and_hears_403(client, lane, db_session, holder):
    answer = both(client, lane, db_session, headers=bearer(holder.token), served=False,
                  json={"qr": _issued(holder)["qr"]})
    assert_error(answer, 403, "auth.officer_only")


def test_a_query_string_goes_to_the_route(client, lane, db_session, officer, issuer_key):
    answer = both(client, lane, db_session, headers=bearer(officer.token), served=False,
                  path=f"{PATH}?personal_id=1", json={"qr": "VN1:AAAA"})
    assert_error(answer, 422, "request.invalid")


def test_a_deactivated_officer_hears_the_routes_401_from_the_lane_and_nothing_is_recorded(
        client, lane, db_session, protector, holder):
    officer = logged_in_officer(client, db_session, protector, username="officer.lane.gone")
    qr = _issued(holder)["qr"]
    checks = len(_events(db_session, 100))
    officers.deactivate_officer(db_session=db_session, actor=OPERATOR, username=officer.username)
    answer = both(client, lane, db_session, headers=bearer(officer.token), served=True,
                  json={"qr": qr})
    assert_error(answer, 401, "auth.invalid_token")
    assert len(_events(db_session, 100)) == checks


@pytest.mark.parametrize("raised, status, code", [
    (Unavailable("The database is away.", code="service.unavailable"), 503,
     "service.unavailable"),
    (RuntimeError("a bug"), 500, "server.error")])
def test_an_error_of_the_use_case_is_the_apps_own_answer(client, lane, db_session, officer,
                                                         issuer_key, monkeypatch, raised,
                                                         status, code):
    def failing(**_kwargs: Any) -> Any:
        raise raised

    monkeypatch.setattr(credentials.online, "verify_online", failing)
    answer = both(client, lane, db_session, headers=bearer(officer.token), served=True,
                  json={"qr": "VN1:AAAA"})
    assert_error(answer, status, code)


def test_the_lanes_headers_are_the_security_hook_s_of_an_api_answer(app):
    for production in (False, True):
        with app.test_request_context(PATH, method="POST"):
            app.config["ENV_NAME"] = "production" if production else "testing"
            try:
                response = set_security_headers(app.response_class("{}",
                                                                   mimetype="application/json"))
            finally:
                app.config["ENV_NAME"] = "testing"
        expected = dict(api_headers(production))
        assert {name: response.headers[name] for name in expected} == expected
        assert {name for name, _ in response.headers} - set(expected) == {"Content-Type",
                                                                          "Content-Length"}


@settings(max_examples=200, deadline=None)
@given(trusted=st.integers(1, 3),
       forwarded=st.none() | st.lists(st.sampled_from(
           ["203.0.113.7", "198.51.100.2", " 192.0.2.1", "", "unknown", "2001:db8::1"]),
           max_size=5).map(",".join))
def test_the_lane_reads_the_client_address_as_the_proxy_fix_does(trusted, forwarded):
    environ = {"REMOTE_ADDR": "10.0.0.1"}
    if forwarded is not None:
        environ["HTTP_X_FORWARDED_FOR"] = forwarded
    seen: dict[str, Any] = {}
    ProxyFix(lambda env, _start: seen.update(env) or [], x_for=trusted)(dict(environ), None)
    lane = HotLane.__new__(HotLane)
    lane.trusted_proxies, lane._proxy_fix = trusted, ProxyFix(None, x_for=trusted)
    assert lane._client(environ)["REMOTE_ADDR"] == seen["REMOTE_ADDR"]


def _fresh_app(**settings_: str) -> Flask:
    return create_app(load_config("testing", dict(settings_)))


def test_the_lane_stays_off_where_it_would_skip_something(app, monkeypatch):
    assert "hot_lane" not in _fresh_app(HOT_LANE="0").extensions
    fresh = _fresh_app()
    assert register_hot_lane(fresh, HOT_ROUTES) is not None
    fresh.before_request(lambda: None)  # a hook the lane does not know
    assert register_hot_lane(fresh, HOT_ROUTES) is None
    limited = _fresh_app()
    manager = next(iter(limited.extensions["limiter"])).limit_manager  # shared by every app
    for limits in ("_default_limits", "_application_limits"):  # a limit that may apply
        with monkeypatch.context() as patch:
            patch.setattr(manager, limits, [object()])
            assert register_hot_lane(limited, HOT_ROUTES) is None
    name = f"{credentials.verify.__module__}.{credentials.verify.__name__}"  # the limiter's
    monkeypatch.setattr(manager, "decorated_limits", lambda callable_name: (
        [object()] if callable_name == name else []))  # a limit declared on the route
    served = register_hot_lane(limited, HOT_ROUTES)
    assert served is not None
    assert set(served.routes) == {MATCH, REFRESH, ISSUE, FILE, PAY, CALLBACK}  # the others are


# --- The identity match -----------------------------------------------------------------------

def _match_body(citizen: Any, **overrides: Any) -> dict[str, Any]:
    return {"personal_id": citizen.record.personal_id, "full_name": citizen.record.full_name,
            "date_of_birth": citizen.record.date_of_birth.isoformat(), **overrides}


@pytest.fixture()
def citizen(client, db_session, protector):
    return Citizen.make(client, db_session, protector)


@pytest.mark.parametrize("overrides, match", [
    ({}, True), ({"full_name": "Trần Thị Khác"}, False),
    ({"personal_id": "001099000999"}, False)], ids=["match", "another-name", "unknown-id"])
def test_an_identity_match_is_answered_by_the_lane_as_by_the_route(client, lane, db_session, bank,
                                                                   citizen, overrides, match):
    answer = both(client, lane, db_session, headers=bearer(bank.token), served=True,
                  path=MATCH, json=_match_body(citizen, **overrides))
    assert answer.get_json()["match"] is match


def test_a_party_without_the_scope_hears_the_routes_403_from_the_lane(
        client, lane, db_session, protector, citizen):
    hotel = Bank(client, db_session, protector, name="Khách sạn Lane", kind="hotel",
                 scopes=("lodging.notify",))
    answer = both(client, lane, db_session, headers=bearer(hotel.token), served=True,
                  path=MATCH, json=_match_body(citizen))
    assert_error(answer, 403, "rp.scope_missing")


@pytest.mark.parametrize("change", ["disable_party", "rotate_secret"])
def test_a_disabled_or_rotated_party_hears_the_routes_401_from_the_lane(
        client, lane, db_session, protector, citizen, change):
    """The lane reads the party's row with the citizen's (one statement) and refuses it, as
    the route does, before anything of the citizen's is used: no access-log row."""
    from identity.relying_parties import parties
    bank = Bank(client, db_session, protector, name="Ngân hàng Đóng")

    def looks() -> int:
        return len([entry for entry in citizen.access_log()
                    if entry["action"] == "rp.identity_match"])
    assert client.post(MATCH, headers=bearer(bank.token),
                       json=_match_body(citizen)).status_code == 200
    assert looks() == 1
    getattr(parties, change)(db_session=db_session, actor=OPERATOR, name=bank.party.name)
    answer = both(client, lane, db_session, headers=bearer(bank.token), served=True,
                  path=MATCH, json=_match_body(citizen))
    assert_error(answer, 401, "auth.invalid_token")
    assert looks() == 1


def test_the_lane_meters_the_party_as_the_route_does(client, lane, db_session, protector,
                                                     citizen):
    """Each answer counts one unit of the day's quota, through the lane or the route: two
    pairs of requests against a quota of 2 answer 200, 200, then 429, 429."""
    bank = Bank(client, db_session, protector, name="Ngân hàng Lane",
                quotas={"identity.match": 2})
    for status in (200, 429):
        answer = both(client, lane, db_session, headers=bearer(bank.token), served=True,
                      path=MATCH, json=_match_body(citizen))
        assert answer.status_code == status
    assert_error(answer, 429, "rp.quota_exhausted")


@pytest.mark.parametrize("body", [{"personal_id": "123"}, {"full_name": 7}],
                         ids=["short-id", "not-a-name"])
def test_a_match_the_route_refuses_for_its_body_goes_to_the_route(client, lane, db_session,
                                                                  bank, citizen, body):
    answer = both(client, lane, db_session, headers=bearer(bank.token), served=False,
                  path=MATCH, json=_match_body(citizen, **body))
    assert answer.status_code == 422


def test_a_citizens_token_on_the_match_goes_to_the_route(client, lane, db_session, citizen):
    answer = both(client, lane, db_session, headers=bearer(citizen.token), served=False,
                  path=MATCH, json=_match_body(citizen))
    assert_error(answer, 403, "auth.rp_only")


# --- The refresh -------------------------------------------------------------------------------

def _one_way(client: Any, lane: HotLane, path: str, token: str, *, through_lane: bool,
             **request: Any) -> Any:
    """A ``POST`` of ``path`` with ``token`` through the lane (which must serve it) or through
    Flask alone (the lane's routes taken away); the answer."""
    before, routes = lane.served, lane.routes
    if not through_lane:
        lane.routes = {}
    try:
        answer = client.post(path, headers={"X-Request-Id": "lane-parity-0002", **bearer(token)},
                             **request)
    finally:
        lane.routes = routes
    assert lane.served - before == (1 if through_lane else 0)
    return answer


def _refreshed(client: Any, lane: HotLane, token: str, *, through_lane: bool) -> Any:
    return _one_way(client, lane, REFRESH, token, through_lane=through_lane)


def test_a_refresh_is_answered_by_the_lane_as_by_the_route(client, lane, holder):
    """Two sessions of one citizen, one refreshed through the lane and one through the route:
    the same answer but for the tokens, each of which works."""
    first, second = holder.tokens["refresh_token"], holder.log_in()["refresh_token"]
    answers = [_refreshed(client, lane, first, through_lane=True),
               _refreshed(client, lane, second, through_lane=False)]
    bodies = [answer.get_json() for answer in answers]
    assert [answer.status_code for answer in answers] == [200, 200], bodies
    assert {key: value for key, value in bodies[0].items() if not key.endswith("_token")} == \
        {key: value for key, value in bodies[1].items() if not key.endswith("_token")}
    assert [sorted((name, value) for name, value in answer.headers.items()
                   if name != "Content-Length") for answer in answers][0] == \
        sorted((name, value) for name, value in answers[1].headers.items()
               if name != "Content-Length")
    for body in bodies:
        assert client.get("/api/v1/me", headers=bearer(body["access_token"])).status_code == 200


@pytest.mark.parametrize("through_lane", [True, False], ids=["lane", "route"])
def test_a_reused_refresh_token_ends_its_session_through_the_lane_as_through_the_route(
        client, lane, holder, through_lane):
    old = holder.tokens["refresh_token"]
    renewed = _refreshed(client, lane, old, through_lane=True).get_json()
    assert_error(_refreshed(client, lane, old, through_lane=through_lane), 401,
                 "auth.invalid_token")
    # The whole family is revoked: the token the rotation gave no longer refreshes.
    assert_error(_refreshed(client, lane, renewed["refresh_token"], through_lane=True), 401,
                 "auth.invalid_token")


def test_the_lane_counts_a_refresh_in_the_routes_rate_limit(app, client, lane, holder,
                                                            monkeypatch):
    """Per IP, ``AUTH_LIMIT_PER_IP``: one count per request, through the lane or the route,
    in the same counter (the route's endpoint)."""
    monkeypatch.setitem(app.config, "AUTH_LIMIT_PER_IP", "3 per minute")
    statuses, token = [], holder.tokens["refresh_token"]
    for through_lane in (True, False, True, False, True):
        answer = _refreshed(client, lane, token, through_lane=through_lane)
        statuses.append(answer.status_code)
        if answer.status_code == 200:
            token = answer.get_json()["refresh_token"]
    assert statuses == [200, 200, 200, 429, 429]
    assert_error(answer, 429, "rate_limited")


@pytest.mark.parametrize("token", ["vnidrt_not.a.token", "not-a-token", "{officer}"])
def test_a_token_the_refresh_refuses_goes_to_the_route(client, lane, db_session, officer,
                                                       token):
    answer = both(client, lane, db_session, served=False, path=REFRESH,
                  headers=bearer(token.format(officer=officer.token)))
    assert_error(answer, 401, "auth.invalid_token")


def test_only_budgets_keyed_by_the_address_can_be_counted_without_the_request(app):
    with app.app_context():
        with pytest.raises(TypeError):
            count_from_environ(auth_limits(device=True).budgets, endpoint="auth.login",
                               environ={"REMOTE_ADDR": "203.0.113.7"})


def test_behind_a_proxy_the_lane_records_the_address_the_proxy_fix_reads(
        app, db_session, officer, issuer_key):
    """With ``TRUSTED_PROXY_COUNT=1``, the access-log row of a verification answered by the
    lane, and of one answered by Flask (its ProxyFix), carry the forwarded client address."""
    proxied = _fresh_app(TRUSTED_PROXY_COUNT="1")
    lane: HotLane = proxied.extensions["hot_lane"]
    client = proxied.test_client()
    headers = {**bearer(officer.token), "X-Forwarded-For": "198.51.100.9, 203.0.113.7"}
    answers = []
    for through_lane in (True, False):
        routes = lane.routes
        if not through_lane:
            lane.routes = {}
        try:
            answers.append(client.post(PATH, headers=headers, json={"qr": "VN1:AAAA"}))
        finally:
            lane.routes = routes
    assert lane.served == 1
    assert [answer.get_json()["reason"] for answer in answers] == ["malformed", "malformed"]
    assert [event["source"] for event in _events(db_session, 2)] == ["203.0.113.7"] * 2


# --- Issuing a QR --------------------------------------------------------------------------------

_ISSUE = {"type": "identity_basic", "passcode": flows.PASSCODE}


def _issue(client: Any, lane: HotLane, token: str, body: dict[str, Any], *,
           through_lane: bool) -> Any:
    return _one_way(client, lane, ISSUE, token, through_lane=through_lane, json=body)


def test_a_qr_is_issued_by_the_lane_as_by_the_route(client, lane, db_session, holder, officer):
    """The same answer but for what makes each credential itself (its id, its text, its expiry
    to the second), the same headers, the same access-log row, and each QR verifies."""
    answers = [_issue(client, lane, holder.token, _ISSUE, through_lane=through)
               for through in (True, False)]
    assert [answer.status_code for answer in answers] == [201, 201], answers[0].get_json()
    bodies = [answer.get_json() for answer in answers]
    assert [sorted(body) for body in bodies] == [["credential_id", "expires_at", "qr", "type"]] * 2
    assert [body["type"] for body in bodies] == ["identity_basic"] * 2
    assert bodies[0]["credential_id"] != bodies[1]["credential_id"]
    assert [sorted((name, value) for name, value in answer.headers.items()
                   if name != "Content-Length") for answer in answers][0] == \
        sorted((name, value) for name, value in answers[1].headers.items()
               if name != "Content-Length")
    first, second = _events(db_session, 2, "credential.issued")
    assert first["details"]["credential_id"] == bodies[0]["credential_id"]
    assert second["details"]["credential_id"] == bodies[1]["credential_id"]
    assert {**first, "details": None} == {**second, "details": None}
    assert first["actor"] == ("citizen", f"account:{holder.account_id}")
    for body in bodies:
        verified = client.post(PATH, headers=bearer(officer.token), json={"qr": body["qr"]})
        assert verified.get_json()["valid"] is True, verified.get_json()


def test_a_wrong_passcode_through_the_lane_is_counted_as_through_the_route(
        client, lane, db_session, holder):
    """Tries through the lane and through the route count in the same row: the fifth wrong one
    locks the account, whichever way it came, and nothing is issued."""
    wrong = {**_ISSUE, "passcode": "000000" if flows.PASSCODE != "000000" else "111111"}
    left = []
    for through in (True, False, True, False):
        answer = _issue(client, lane, holder.token, wrong, through_lane=through)
        assert_error(answer, 401, "passcode.wrong")
        left.append(answer.get_json()["message"])
    assert [message.split(" tries left")[0][-1] for message in left] == ["4", "3", "2", "1"]
    locked = _issue(client, lane, holder.token, wrong, through_lane=True)
    assert_error(locked, 403, "account.locked")
    assert _events(db_session, 1, "credential.issued") == []
    # Locked: the token is refused by the lane's step, so the route answers it.
    assert_error(_issue(client, lane, holder.token, _ISSUE, through_lane=False), 401,
                 "auth.invalid_token")


@pytest.mark.parametrize("body, status, code", [
    ({**_ISSUE, "type": "identity"}, 403, "credential.level_too_low"),
    ({**_ISSUE, "type": "no_such_type"}, 422, "credential.type_unknown")])
def test_a_refusal_of_the_use_case_is_the_lanes_as_the_routes(client, lane, db_session, holder,
                                                              body, status, code):
    answer = both(client, lane, db_session, headers=bearer(holder.token), served=True,
                  path=ISSUE, json=body)
    assert_error(answer, status, code)


@pytest.mark.parametrize("body", [{**_ISSUE, "extra": 1}, {"type": "identity_basic"},
                                  {**_ISSUE, "passcode": 123456}])
def test_an_issue_the_route_refuses_for_its_body_goes_to_the_route(client, lane, db_session,
                                                                   holder, body):
    answer = both(client, lane, db_session, headers=bearer(holder.token), served=False,
                  path=ISSUE, json=body)
    assert_error(answer, 422, "request.invalid")


@pytest.mark.parametrize("state", ["pending_review", "locked"])
def test_an_account_that_is_not_active_goes_to_the_route_and_is_refused(
        client, lane, db_session, holder, state):
    """The lane's step is the route's (:func:`app.auth.citizen_for_act`): an account that may
    not issue is not served by the lane, and the route refuses it; nothing is issued."""
    from identity.accounts.models import Account

    db_session.expire_all()
    account = db_session.get(Account, holder.account_id)
    account.status = state
    account.lock_reason = "officer" if state == "locked" else None
    account.status_before_lock = "active" if state == "locked" else None
    db_session.commit()
    answer = both(client, lane, db_session, headers=bearer(holder.token), served=False,
                  path=ISSUE, json=_ISSUE)
    assert_error(answer, *{"pending_review": (403, "account.not_active"),
                           "locked": (401, "auth.invalid_token")}[state])
    assert _events(db_session, 1, "credential.issued") == []


def test_an_officers_token_on_the_issue_goes_to_the_route(client, lane, db_session, officer):
    answer = both(client, lane, db_session, headers=bearer(officer.token), served=False,
                  path=ISSUE, json=_ISSUE)
    assert_error(answer, 403, "auth.citizen_only")


# --- Filing a report ---------------------------------------------------------------------------

def _file(client: Any, lane: HotLane, token: str, body: dict[str, Any], *,
          through_lane: bool) -> Any:
    return _one_way(client, lane, FILE, token, through_lane=through_lane, json=body)


@pytest.mark.parametrize("anonymous", [False, True], ids=["named", "anonymous"])
def test_a_report_is_filed_by_the_lane_as_by_the_route(client, lane, db_session, holder,
                                                       anonymous):
    """The same answer but for what makes each case itself (its number, its reporter key), the
    same headers, and the same audit row but for the case it names."""
    body = report_body(anonymous=anonymous)
    answers = [_file(client, lane, holder.token, body, through_lane=through)
               for through in (True, False)]
    assert [answer.status_code for answer in answers] == [201, 201], answers[0].get_json()
    bodies = [answer.get_json() for answer in answers]
    assert bodies[0]["case_number"] != bodies[1]["case_number"]
    assert [bool(body["reporter_key"]) for body in bodies] == [anonymous] * 2

    def same(body: dict[str, Any]) -> dict[str, Any]:  # the second case counts the first
        own = {"case_number", "reporter_key", "created_at", "updated_at", "due_at"}
        return {**{key: value for key, value in body.items() if key not in own},
                "indicators": [(found["kind"], found["value"]) for found in body["indicators"]],
                "timeline": [entry["action"] for entry in body["timeline"]]}
    assert same(bodies[0]) == same(bodies[1])
    assert [sorted((name, value) for name, value in answer.headers.items()
                   if name != "Content-Length") for answer in answers][0] == \
        sorted((name, value) for name, value in answers[1].headers.items()
               if name != "Content-Length")
    first, second = _events(db_session, 2, "report.filed")
    assert {**first, "subject": None, "details": None} == \
        {**second, "subject": None, "details": None}


def test_the_lane_counts_a_filing_in_the_routes_limit_and_the_days_quota(app, client, lane,
                                                                         holder, monkeypatch):
    """Per account, ``REPORT_LIMIT_PER_ACCOUNT``: one count per request, through the lane or the
    route, in the same counter; then the day's quota, counted the same way."""
    monkeypatch.setitem(app.config, "REPORT_LIMIT_PER_ACCOUNT", "3 per minute")
    statuses = [_file(client, lane, holder.token, report_body(), through_lane=through)
                for through in (True, False, True)]
    limited = [_file(client, lane, holder.token, report_body(), through_lane=through)
               for through in (True, False)]
    assert [answer.status_code for answer in statuses] == [201] * 3
    for answer in limited:
        assert_error(answer, 429, "rate_limited")
    assert limited[0].get_json() == limited[1].get_json()
    assert sorted(limited[0].headers.items()) == sorted(limited[1].headers.items())
    monkeypatch.setitem(app.config, "REPORT_LIMIT_PER_ACCOUNT", "100 per minute")
    monkeypatch.setitem(app.config, "REPORT_DAILY_PER_ACCOUNT", 4)
    assert _file(client, lane, holder.token, report_body(), through_lane=True).status_code == 201
    for through in (True, False):
        exhausted = _file(client, lane, holder.token, report_body(), through_lane=through)
        assert_error(exhausted, 429, "quota.exhausted")
        assert int(exhausted.headers["Retry-After"]) > 0


@one_redis_server
def test_on_redis_the_lane_counts_a_filings_limit_and_quota_in_one_round_trip(
        app, client, lane, holder, monkeypatch):
    """The route counts its limit (one script) and then the day's quota (one transaction); the
    lane both in one script, the quota only when the limit had room: the same counters."""
    from identity.kept_redis import KeptRedis

    sent: list[list[str]] = []
    real = KeptRedis._exchange

    def counting(self: KeptRedis, commands: Any) -> Any:
        sent.append([str(command[0]) for command in commands])
        return real(self, commands)

    monkeypatch.setattr(KeptRedis, "_exchange", counting)
    monkeypatch.setitem(app.config, "REPORT_LIMIT_PER_ACCOUNT", "2 per minute")
    assert _file(client, lane, holder.token, report_body(), through_lane=True).status_code == 201
    assert sent in ([["EVALSHA"]], [["EVALSHA"], ["EVAL"]])
    sent.clear()
    assert _file(client, lane, holder.token, report_body(), through_lane=False).status_code == 201
    assert sent == [["EVALSHA"], ["MULTI", "INCRBY", "PEXPIRE", "EXEC"]]
    quota = [key for key in app.extensions["redis"].scan_iter("quota:reports:*")]
    assert len(quota) == 1 and int(app.extensions["redis"].get(quota[0])) == 2
    assert 86_400 < app.extensions["redis"].ttl(quota[0]) <= 2 * 86_400
    assert_error(_file(client, lane, holder.token, report_body(), through_lane=True), 429,
                 "rate_limited")
    assert int(app.extensions["redis"].get(quota[0])) == 2  # refused by the limit: not charged


@redis_cluster
def test_on_a_cluster_the_lane_counts_a_filings_limit_and_quota_in_one_script_call(
        app, client, lane, holder, monkeypatch):
    """The caller's windows and the day's quota share the caller's hash tag, so one slot: one
    script counts them on a Redis Cluster too."""
    from redis.crc import key_slot

    from identity.kept_redis import KeptRedis

    calls: list[list[str]] = []
    real = KeptRedis.script

    def recording(self: KeptRedis, script: Any, keys: Any, args: Any) -> Any:
        calls.append([key.decode() if isinstance(key, bytes) else key for key in keys])
        return real(self, script, keys, args)

    monkeypatch.setattr(KeptRedis, "script", recording)
    monkeypatch.setitem(app.config, "REPORT_LIMIT_PER_ACCOUNT", "2 per minute;5 per hour")
    assert _file(client, lane, holder.token, report_body(), through_lane=True).status_code == 201
    [keys] = calls
    assert len(keys) == 3 and keys[-1].startswith("quota:reports:{")
    assert len({key_slot(key.encode()) for key in keys}) == 1
    assert _file(client, lane, holder.token, report_body(), through_lane=False).status_code == 201
    assert_error(_file(client, lane, holder.token, report_body(), through_lane=True), 429,
                 "rate_limited")
    [quota] = app.extensions["redis"].scan_iter("quota:reports:*")
    assert int(app.extensions["redis"].get(quota)) == 2  # refused by the limit: not charged


@pytest.mark.skipif(not (ONE_SERVER or CLUSTER),
                    reason="the in-process store has no script to share with the app's Redis")
def test_whether_the_limits_share_the_apps_redis_is_decided_again_for_another_client(
        app, monkeypatch):
    """A test that swaps in a broken Redis first (the quota failing closed) must not leave the
    decision "not the app's Redis" behind for the rest of the session."""
    import redis as redis_lib

    from app.auth import _limits_in_app_redis
    client = app.extensions["ratelimit_script"].registered_client
    with app.app_context():
        app.extensions.pop("ratelimit_in_app_redis", None)
        monkeypatch.setitem(app.extensions, "redis",
                            redis_lib.Redis.from_url("redis://127.0.0.1:1/0"))
        assert _limits_in_app_redis(client) is False
        monkeypatch.undo()
        assert _limits_in_app_redis(client) is True


@pytest.mark.parametrize("overrides, code", [
    ({"location_unknown": True}, "report.location_conflict"),
    ({"commune_code": "99999"}, "commune.unknown"),
    ({"address": None}, "report.address_required")])
def test_a_report_the_use_case_refuses_is_the_lanes_answer_as_the_routes(
        client, lane, db_session, holder, overrides, code):
    answer = both(client, lane, db_session, headers=bearer(holder.token), served=True,
                  path=FILE, json=report_body(**overrides))
    assert_error(answer, 422, code)


@pytest.mark.parametrize("body", [report_body(extra=1), {"category": "fraud"},
                                  report_body(category="no-such-category")],
                         ids=["unknown-field", "missing-fields", "unknown-category"])
def test_a_report_the_route_refuses_for_its_body_goes_to_the_route(client, lane, db_session,
                                                                   holder, body):
    answer = both(client, lane, db_session, headers=bearer(holder.token), served=False,
                  path=FILE, json=body)
    assert_error(answer, 422, "request.invalid")


def test_a_report_of_an_account_pending_review_goes_to_the_route_and_is_refused(
        client, lane, db_session, holder):
    from identity.accounts.models import Account

    db_session.expire_all()
    db_session.get(Account, holder.account_id).status = "pending_review"
    db_session.commit()
    answer = both(client, lane, db_session, headers=bearer(holder.token), served=False,
                  path=FILE, json=report_body())
    assert_error(answer, 403, "account.not_active")
    assert _events(db_session, 1, "report.filed") == []


# --- Its session -------------------------------------------------------------------------------

def test_a_threads_lane_requests_share_one_session_left_as_new_after_each(
        own_database_app, monkeypatch):
    """With no app context pushed (a server's thread), the lane serves the thread's requests on
    one ORM session, which every ``db.session()`` of the request is: after a refresh (Core
    statements only), after a reused token's refusal (entities loaded, a transaction committed)
    and after the next refresh, it holds nothing (no entity, no transaction, an empty
    ``info``) and is not counted as a request about to write."""
    from app.extensions import db
    from identity.autocommit import UNWRITTEN
    from tests.faults.helpers import registered

    app = own_database_app
    lane: HotLane = app.extensions["hot_lane"]
    client = app.test_client()
    holder = registered(app, client)
    first = holder.log_in()["refresh_token"]
    sessions: list[Any] = []
    seen_in_request: list[Any] = []

    def refresh(token: str) -> Any:
        before = lane.served
        answer = client.post(REFRESH, headers=bearer(token))
        assert lane.served == before + 1  # the lane's, not the route's
        session = lane._sessions.session
        sessions.append(session)
        assert not session.identity_map and not session.in_transaction()
        assert not session.new and not session.deleted and session.info == {}
        with app.app_context():
            assert UNWRITTEN.of(db.engine) == 0
        return answer

    def seen(*args: Any, **kwargs: Any) -> Any:
        seen_in_request.append(db.session())
        return rotate(*args, **kwargs)

    from app.api import auth as auth_api
    rotate = auth_api.sessions.refresh_session
    monkeypatch.setattr(auth_api.sessions, "refresh_session", seen)
    answer = refresh(first)
    assert answer.status_code == 200, answer.get_json()
    reused = refresh(first)  # the old token again: its family revoked, through the ORM
    assert_error(reused, 401, "auth.invalid_token")
    again = refresh(holder.log_in()["refresh_token"])
    assert again.status_code == 200, again.get_json()
    assert len({id(session) for session in sessions}) == 1  # one session for the thread
    assert [id(session) for session in seen_in_request] == [id(sessions[0])] * 3


def test_a_session_left_holding_something_is_closed_before_the_threads_next_request(
        own_database_app):
    """A request that ended with a transaction open or an entity pending (an error mid-way)
    leaves nothing to the next one: the session is closed, as the app context's teardown
    closes its own."""
    from app.extensions import db
    from identity.accounts.models import Officer

    with own_database_app.app_context():
        session = db.session.session_factory()
        session.execute(sa.text("SELECT 1"))
        pending = Officer(username="officer.pending")
        session.add(pending)
        session.info["vnid_autocommit_write"] = object()
        assert session.in_transaction() and session.new
        HotLane._reset(session)
        assert not session.in_transaction() and not session.new and session.info == {}
        assert pending not in session
