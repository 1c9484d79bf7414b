"""The hot lane (app/hot_lane.py) for payments: a citizen's payment behind its idempotency key
and the bank gateway's signed callback, answered in front of Flask exactly as their routes
answer them, and every request the lane cannot so answer handed to the route."""
from __future__ import annotations

import uuid
from typing import Any

import pytest
import sqlalchemy as sa

from app.hot_lane import HotLane, _pattern
from tests.api.test_hot_lane import both
from tests.api.test_payments import Citizen, fine_json, officer_headers
from tests.flows import PASSCODE, assert_error
from tests.utilities.payments.fakes import (CALLBACKS, FakeProvider, callback_body,
                                            signed_headers)
from utilities.payments.models import PaymentAttempt

PAYMENTS = "/api/v1/payments"
FINES = "/api/v1/police/fines"
#: What differs between two payments of two orders, however they were served.
OWN = frozenset({"id", "reference", "order_id", "provider_reference", "redirect_url",
                 "created_at"})


@pytest.fixture()
def lane(app: Any) -> Any:
    found: HotLane = app.extensions["hot_lane"]
    routes = found.routes
    yield found
    found.routes = routes


@pytest.fixture()
def provider(app: Any, monkeypatch: Any) -> FakeProvider:
    fake = FakeProvider()
    monkeypatch.setitem(app.extensions["payment_providers"], "banksim", fake)
    return fake


@pytest.fixture()
def citizen(client: Any, db_session: Any, protector: Any) -> Citizen:
    return Citizen.make(client, db_session, protector)


@pytest.fixture()
def fines(client: Any, db_session: Any, protector: Any, citizen: Citizen) -> list[int]:
    """Three open fines of the citizen's."""
    headers = officer_headers(client, db_session, protector, username="csgt.lane")
    made = [client.post(FINES, json=fine_json(citizen), headers=headers) for _ in range(3)]
    assert [answer.status_code for answer in made] == [201] * 3
    return [answer.get_json()["id"] for answer in made]


def _post(client: Any, lane: HotLane, path: str, *, through_lane: bool, served: bool = True,
          **request: Any) -> Any:
    """``POST path`` through the lane (which must serve it, when ``served``) or through Flask
    alone (the lane's routes taken away); the answer."""
    before, routes = lane.served, lane.routes
    if not through_lane:
        lane.routes = {}
    try:
        answer = client.post(path, **request)
    finally:
        lane.routes = routes
    assert lane.served - before == (1 if through_lane and served else 0)
    return answer


def _pay(citizen: Citizen, lane: HotLane, order_id: int, *, through_lane: bool,
         key: str | None = None, served: bool = True, **body: Any) -> Any:
    headers = {**citizen.headers, "X-Request-Id": "lane-pay-0001"}
    if key is not None:
        headers["Idempotency-Key"] = key
    return _post(citizen.client, lane, f"{PAYMENTS}/{order_id}/attempts",
                 through_lane=through_lane, served=served, headers=headers,
                 json={"bank": "VCB", "passcode": PASSCODE, **body})


def _headers(answer: Any) -> list[tuple[str, str]]:
    return sorted((name, value) for name, value in answer.headers.items()
                  if name != "Content-Length")


def _same_but_own(first: Any, second: Any) -> None:
    """Two answers alike but for what is each payment's own (:data:`OWN`)."""
    assert first.status_code == second.status_code
    assert _headers(first) == _headers(second)
    assert {k: v for k, v in first.get_json().items() if k not in OWN} == \
        {k: v for k, v in second.get_json().items() if k not in OWN}


def test_the_lane_takes_the_payment_and_the_callback(app):
    assert {f"{PAYMENTS}/<int:order_id>/attempts",
            f"{PAYMENTS}/callbacks/<string:provider_name>"} <= set(
        app.extensions["hot_lane"].routes)


def test_a_payment_and_its_replays_are_answered_by_the_lane_as_by_the_route(
        lane, provider, citizen, fines):
    """Two orders paid, one through each; each key given again through the other: the stored
    answer, byte for byte, with ``Idempotent-Replayed``."""
    keys = [str(uuid.uuid4()), str(uuid.uuid4())]
    paid = [_pay(citizen, lane, fines[0], key=keys[0], through_lane=True),
            _pay(citizen, lane, fines[1], key=keys[1], through_lane=False)]
    assert [answer.status_code for answer in paid] == [201, 201], paid[0].get_json()
    _same_but_own(*paid)
    assert paid[0].get_json()["status"] == "pending" and "Idempotent-Replayed" not in \
        paid[0].headers
    replays = [_pay(citizen, lane, fines[0], key=keys[0], through_lane=False),
               _pay(citizen, lane, fines[1], key=keys[1], through_lane=True)]
    for first, again in zip(paid, replays):
        assert again.data == first.data
        assert again.headers["Idempotent-Replayed"] == "true"
        assert _headers(again) == sorted([*_headers(first), ("Idempotent-Replayed", "true")])
    assert provider.creates == 2  # the replays ran nothing


def test_a_locked_account_is_refused_by_the_route_and_claims_no_key(db_session, lane, provider,
                                                                    citizen, fines):
    """An account that is not active pays nothing through the lane: its token is the route's
    to refuse, before any key is claimed or any passcode counted."""
    citizen.lock()
    key = str(uuid.uuid4())
    answer = _pay(citizen, lane, fines[0], key=key, through_lane=True, served=False)
    assert answer.status_code in (401, 403), answer.get_json()
    assert db_session.execute(sa.text("SELECT count(*) FROM idempotency_keys WHERE key = :k"),
                              {"k": key}).scalar() == 0
    assert provider.creates == 0


def test_another_citizens_order_is_answered_as_an_unknown_one(client, db_session, protector,
                                                              lane, provider, citizen, fines):
    """Through the lane, a stranger's order and an order that does not exist give the same
    bytes: no oracle of which order ids exist."""
    other = Citizen.make(client, db_session, protector)
    answers = [_pay(other, lane, order, key=str(uuid.uuid4()), through_lane=True)
               for order in (fines[0], 9_999_999)]
    assert_error(answers[0], 404, "payment.order_not_found")
    assert answers[0].data == answers[1].data
    assert _headers(answers[0]) == _headers(answers[1])
    assert provider.creates == 0


@pytest.mark.parametrize("case, status, code", [
    ("no-key", 400, "idempotency.key_missing"),
    ("bad-key", 400, "idempotency.key_missing"),
    ("wrong-passcode", 401, "passcode.wrong"),
    ("unknown-order", 404, "payment.order_not_found"),
    ("paid-order", 409, "payment.attempt_pending"),
])
def test_a_refused_payment_is_the_routes_refusal(lane, provider, citizen, fines, case, status,
                                                 code):
    """The same refusal, byte for byte and header for header, through either, each with its
    own key (a refusal is kept with its key: the same key would be a replay)."""
    order = {"unknown-order": 9_999_999, "paid-order": fines[2]}.get(case, fines[0])
    if case == "paid-order":
        assert _pay(citizen, lane, order, key=str(uuid.uuid4()),
                    through_lane=True).status_code == 201
    body = {"passcode": "000000"} if case == "wrong-passcode" else {}
    answers = []
    for through_lane in (True, False):
        key = {"no-key": None, "bad-key": "k" * 256}.get(case, str(uuid.uuid4()))
        answers.append(_pay(citizen, lane, order, key=key, through_lane=through_lane, **body))
    assert_error(answers[0], status, code)
    assert _headers(answers[0]) == _headers(answers[1])
    if case == "wrong-passcode":  # each counted: the second tells one try less
        assert answers[0].data.replace(b"4 tries", b"3 tries") == answers[1].data
    else:
        assert answers[0].data == answers[1].data


def test_a_key_used_again_with_another_body_is_refused_alike(lane, provider, citizen, fines):
    key = str(uuid.uuid4())
    assert _pay(citizen, lane, fines[0], key=key, through_lane=True).status_code == 201
    answers = [_pay(citizen, lane, fines[0], key=key, through_lane=through_lane, bank="BIDV")
               for through_lane in (True, False)]
    assert_error(answers[0], 422, "idempotency.key_reused")
    assert answers[0].data == answers[1].data and _headers(answers[0]) == _headers(answers[1])


@pytest.mark.parametrize("request_", [
    {"json": {"bank": "XXX", "passcode": PASSCODE}},  # the schema's 422
    {"json": {"bank": "VCB", "passcode": PASSCODE, "extra": 1}},
    {"data": "not json", "content_type": "application/json"},
], ids=["unknown-bank", "unknown-field", "not-json"])
def test_a_payment_body_the_route_refuses_goes_to_the_route_and_claims_no_key(
        db_session, lane, provider, citizen, fines, request_):
    key = str(uuid.uuid4())
    answer = _post(citizen.client, lane, f"{PAYMENTS}/{fines[0]}/attempts", through_lane=True,
                   served=False, headers={**citizen.headers, "Idempotency-Key": key},
                   **request_)
    assert answer.status_code in (400, 422)
    assert db_session.execute(sa.text("SELECT count(*) FROM idempotency_keys WHERE key = :k"),
                              {"k": key}).scalar() == 0


@pytest.mark.parametrize("path", [f"{PAYMENTS}/0{{order}}/attempts",
                                  f"{PAYMENTS}/{{order}}/attempts/",
                                  f"{PAYMENTS}/{{order}}/attempts?x=1"],
                         ids=["leading-zero", "trailing-slash", "query"])
def test_a_path_the_lane_does_not_take_goes_to_the_route(lane, provider, citizen, fines, path):
    answer = _post(citizen.client, lane, path.format(order=fines[0]), through_lane=True,
                   served=False, headers={**citizen.headers, "Idempotency-Key": "k-1"},
                   json={"bank": "VCB", "passcode": PASSCODE})
    assert answer.status_code in (201, 308, 404, 422), answer.get_json()


@pytest.mark.parametrize("rule, taken, refused", [
    ("/p/<int:n>/a", ["/p/1/a", "/p/999999999999999999/a"],
     ["/p/0/a", "/p/01/a", "/p/1234567890123456789/a", "/p/x/a", "/p/1/a/"]),
    ("/c/<string:name>", ["/c/banksim", "/c/a.b-c_d~e"], ["/c/", "/c/a b", "/c/a/b", "/c/é"]),
    ("/c/<name>", ["/c/banksim"], ["/c/a%2Fb"]),
])
def test_the_lane_takes_a_narrower_form_of_a_rules_arguments(rule, taken, refused):
    regex, _converters = _pattern(rule)
    assert all(regex.fullmatch(path) for path in taken)
    assert not any(regex.fullmatch(path) for path in refused)


@pytest.mark.parametrize("rule", ["/f/<path:rest>", "/u/<uuid:id>", "/n/<int(signed=True):n>"])
def test_a_rule_with_another_converter_is_not_taken(rule):
    assert _pattern(rule) is None


def test_the_lanes_paths_are_the_routes_paths(app):
    """Every path a lane pattern takes is its own route's in Flask's map (no other rule of
    the service matches it first)."""
    adapter = app.url_map.bind("")
    for path, endpoint in ((f"{PAYMENTS}/1/attempts", "payments.pay"),
                           (f"{PAYMENTS}/999999999999999999/attempts", "payments.pay"),
                           (f"{PAYMENTS}/callbacks/banksim", "payments.provider_callback"),
                           (f"{PAYMENTS}/callbacks/a.b-c_d~e", "payments.provider_callback")):
        route, arguments = app.extensions["hot_lane"]._route(path)
        assert route is not None and route.route.endpoint == endpoint
        assert adapter.match(path, "POST") == (endpoint, arguments)


# --- The callback ------------------------------------------------------------------------------

def _paid_attempt(lane: HotLane, citizen: Citizen, order_id: int) -> dict[str, Any]:
    answer = _pay(citizen, lane, order_id, key=str(uuid.uuid4()), through_lane=True)
    assert answer.status_code == 201, answer.get_json()
    return dict(answer.get_json())


def test_a_callback_is_applied_by_the_lane_and_its_duplicate_answered_alike(
        client, db_session, lane, provider, citizen, fines):
    attempt = _paid_attempt(lane, citizen, fines[0])
    body = callback_body(attempt["reference"], amount=attempt["amount"])
    applied = _post(client, lane, CALLBACKS, through_lane=True, data=body,
                    headers=signed_headers(body))
    assert applied.status_code == 200 and applied.get_json() == {
        "outcome": "applied", "attempt_reference": attempt["reference"]}
    assert db_session.execute(sa.select(PaymentAttempt.status).where(
        PaymentAttempt.reference == attempt["reference"])).scalar() == "succeeded"
    answer = both(client, lane, db_session, headers=signed_headers(body), served=True,
                  path=CALLBACKS, data=body)
    assert answer.get_json()["outcome"] == "duplicate"


@pytest.mark.parametrize("case, status, code", [
    ("forged", 401, "payment.callback_signature"),
    ("stale", 401, "payment.callback_stale"),
    ("unknown-attempt", 404, "payment.attempt_not_found"),
    ("unknown-provider", 404, "payment.provider_unknown"),
])
def test_a_refused_callback_is_the_routes_refusal_with_its_audit_row(
        client, db_session, lane, provider, citizen, fines, case, status, code):
    attempt = _paid_attempt(lane, citizen, fines[0])
    body = callback_body("pa_unknown" if case == "unknown-attempt" else attempt["reference"],
                         amount=attempt["amount"])
    headers = signed_headers(body, secret="another-secret-of-the-forger") if case == "forged" \
        else signed_headers(body, timestamp=1_000_000) if case == "stale" \
        else signed_headers(body)
    path = f"{PAYMENTS}/callbacks/nobank" if case == "unknown-provider" else CALLBACKS
    answer = both(client, lane, db_session, headers=headers, served=True, path=path, data=body)
    assert_error(answer, status, code)


def test_a_callback_not_sent_as_json_goes_to_the_route(client, lane, provider, citizen,
                                                       fines):
    attempt = _paid_attempt(lane, citizen, fines[0])
    body = callback_body(attempt["reference"], amount=attempt["amount"])
    answer = _post(client, lane, CALLBACKS, through_lane=True, served=False, data=body,
                   headers={**signed_headers(body), "Content-Type": "text/plain"})
    assert answer.status_code == 200 and answer.get_json()["outcome"] == "applied"
