"""Schemathesis against the service's own OpenAPI document, with a principal for each role.

Every operation of ``/api/v1/openapi.json`` gets ``VNID_FUZZ_EXAMPLES``
examples per generation phase (70: about 11,000 requests in all), positive
and negative, derandomised so a run is repeatable, each sent as the role
its security scheme names (a citizen, an officer for ``/police`` and the
online verifier, a relying party with every scope, an operator, the party's
client credentials). The checks
are the issue's: no server error, answers as documented, schema-violating
input refused, authentication never ignored. The suite's rolled-back
transaction holds whatever the requests write.

The document is read at collection from an app of the testing configuration
(schemathesis' lazy fixture loader does not run on pytest 9); the requests go
to the suite's app.
"""
from __future__ import annotations

import base64
import os
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from app.auth import limiter
from identity.audit.service import Actor
from identity.credentials import keys
from identity.monitoring import operators
from tests.factories import add_citizen
from tests.flows import (Phone, create_officer, create_party, login, officer_login, party_token,
                         register)

from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (ignored_auth, negative_data_rejection,
                                               response_schema_conformance)

#: What the issue asks of the fuzzing: no server error, answers as documented, invalid input
#: refused, authentication never ignored.
CHECKS = [not_a_server_error, response_schema_conformance, negative_data_rejection,
          ignored_auth]
#: The operation of every request sent (the run's count is checked at the end).
SENT: list[str] = []
EXAMPLES = int(os.environ.get("VNID_FUZZ_EXAMPLES", "70"))
FUZZ_TEST = "test_the_api_holds_under_generated_requests"


@pytest.fixture()
def principals(app, client, db_session, protector) -> dict[str, dict[str, str]]:
    with app.app_context():
        limiter.reset()
    app.config["RP_LIMIT_PER_PARTY"] = "1000000 per minute"
    for name in ("LODGING_LIMIT_PER_ACCOUNT", "STAY_LIMIT_PER_ACCOUNT", "FINE_LIMIT_PER_OFFICER",
                 "REPORT_LIMIT_PER_ACCOUNT", "EVIDENCE_LIMIT_PER_ACCOUNT"):
        app.config[name] = "1000000 per minute"  # fuzzed requests reach the endpoints' checks
    for name in ("LODGING_DAILY_GUESTS_PER_ACCOUNT", "REPORT_DAILY_PER_ACCOUNT",
                 "EVIDENCE_DAILY_FILES_PER_ACCOUNT", "EVIDENCE_DAILY_BYTES_PER_ACCOUNT"):
        app.config[name] = 10**12
    keys.rotate_keys(db_session=db_session, protector=protector, actor=Actor(type="operator"))
    citizen = add_citizen(db_session, protector)
    phone = Phone()
    register(client, citizen, phone)
    citizen_token = login(client, citizen.personal_id, phone)["access_token"]
    officer = officer_login(client, create_officer(db_session, protector,
                                                   username="fuzz.officer")).get_json()
    party = create_party(db_session, protector, scopes=(
        "identity.match", "identity.consent", "credentials.verify", "sim.verify",
        "lodging.notify", "records.deliver"))
    rp_token = party_token(client, party)
    _operator, admin_token = operators.create_operator(db_session=db_session,
                                                       actor=Actor(type="operator"),
                                                       name="Fuzz operator")
    return {"citizen": {"Authorization": f"Bearer {citizen_token}"},
            "officer": {"Authorization": f"Bearer {officer['access_token']}"},
            "rp": {"Authorization": f"Bearer {rp_token}"},
            "operator": {"Authorization": f"Bearer {admin_token}"},
            "rpBasic": {"Authorization": "Basic " + base64.b64encode(
                f"{party.client_id}:{party.secret}".encode()).decode()}}


def _document() -> dict[str, Any]:
    """The OpenAPI document, read at collection from an app of the testing configuration."""
    from app import create_app
    return dict(create_app("testing").test_client().get("/api/v1/openapi.json").get_json())


schema = schemathesis.openapi.from_dict(_document())


def _headers(case: Any, principals: dict[str, dict[str, str]]) -> dict[str, str]:
    security = case.operation.definition.raw.get("security") or []
    names = {name for requirement in security for name in requirement}
    path = case.operation.path
    if "rpToken" in names:
        return principals["rp"]
    if "operatorToken" in names:
        return principals["operator"]
    if "rpBasic" in names:
        return principals["rpBasic"]
    if "bearerAuth" in names:
        police = "/police" in path or path.endswith("/credentials/verify")
        return principals["officer" if police else "citizen"]
    return {}


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_the_api_holds_under_generated_requests(app, case, principals):
    case.operation.schema.app = app  # the suite's app, on the test's rolled-back transaction
    generated = {name.lower() for name in (case.headers or {})}
    # A generated Authorization header (a negative case of it) is sent as generated.
    headers = {} if "authorization" in generated else _headers(case, principals)
    case.call_and_validate(headers=headers, app=app, checks=CHECKS)
    SENT.append(case.operation.label)


@pytest.fixture(scope="module", autouse=True)
def enough_requests(request: pytest.FixtureRequest):
    """After the module's last test, whatever the order: the run's request count meets its floor.

    Checked when the run selected every operation of the document (a run of a few of them,
    with ``-k``, has nothing to prove here).
    """
    yield
    selected = [item for item in request.session.items if item.module is request.module
                and getattr(item, "originalname", "") == FUZZ_TEST]
    if len(selected) < len(list(schema.get_all_operations())):
        return
    floor = int(os.environ.get("VNID_FUZZ_MIN_REQUESTS", "10000"))
    assert len(SENT) >= floor, f"{len(SENT)} requests sent, fewer than {floor}"
    print(f"fuzzing: {len(SENT)} requests over {len(set(SENT))} operations")
