"""Every date a client can send, at the far edge of the calendar: a 4xx, never a 5xx.

The test reads the OpenAPI document, finds every ``date`` and ``date-time``
field of every request body (nested lists included) and query, and sends an
otherwise valid request with that one field at 9999-12-31, in year 9998, or
in year 1, as the operation's own audience (so that no 401 or 403 answers
for it). A date field without a template below fails the test: a new
endpoint that takes a date is covered by writing its template.
"""
from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest

from tests.factories import add_citizen
from tests.flows import (Phone, bearer, create_officer, create_party, login, officer_login,
                         party_token, register, registration_body)
from tests.utilities.residence.helpers import STAY_COMMUNE

FAR_DATES = ("9999-12-31", "9998-06-01", "0001-01-01")
FAR_MOMENTS = ("9999-12-31T23:59:59+00:00", "9998-06-01T00:00:00+07:00",
               "9999-12-31T23:00:00-12:00", "0001-01-01T00:00:00+14:00")

GUEST = {"personal_id": "001099999997", "arrival": "2026-12-01", "departure": "2026-12-03",
         "full_name": "Trần Thị Bình", "date_of_birth": "1990-01-02"}
LODGING = {"commune_code": STAY_COMMUNE, "address": "Số 3, phố Huế", "guests": [GUEST]}
#: (audience, a valid body or query) of each operation that takes a date.
TEMPLATES: dict[str, tuple[str, dict[str, Any]]] = {
    "POST /api/v1/personal-ids/check": ("public", {"personal_id": "001090012345",
                                                   "date_of_birth": "1990-01-02"}),
    "POST /api/v1/accounts/registrations": ("public", {}),  # filled from a registry citizen
    "POST /api/v1/residence/stays": ("citizen", {
        "commune_code": STAY_COMMUNE, "address": "Số 12, phố Huế", "start_date": "2026-12-02",
        "end_date": "2027-11-30", "reason": "Đi làm", "host_personal_id": "001099999996"}),
    "POST /api/v1/residence/stays/{stay_id}/renew": ("citizen", {"end_date": "2027-12-31"}),
    "POST /api/v1/residence/absences": ("citizen", {
        "start_date": "2026-12-05", "end_date": "2027-03-01", "reason": "Đi học",
        "destination": "Thành phố Huế"}),
    "POST /api/v1/residence/lodging-notices": ("citizen", LODGING),
    "POST /api/v1/rp/lodging-notices": ("party", LODGING),
    "GET /api/v1/police/residence/lodging": ("officer", {"on": "2026-12-02"}),
    "POST /api/v1/reports": ("citizen", {
        "category": "fraud", "description": "Lừa đảo qua điện thoại.",
        "commune_code": STAY_COMMUNE, "address": "Số 1 phố Huế",
        "occurred_at": "2026-11-30T08:00:00+07:00"}),
    "GET /api/v1/police/reports": ("officer", {"filed_from": "2026-11-01",
                                               "filed_to": "2026-12-01"}),
    "POST /api/v1/rp/identity-match": ("party", {
        "personal_id": "001090012345", "full_name": "Nguyễn Văn An",
        "date_of_birth": "1990-01-02"}),
    "POST /api/v1/police/fines": ("officer", {
        "personal_id": "001090012345", "full_name": "Nguyễn Văn An",
        "date_of_birth": "1990-01-02", "legal_basis": "Nghị định 168/2024/NĐ-CP",
        "amount": 400_000, "due_date": "2026-12-31"}),
}


pytestmark = pytest.mark.usefixtures("tuesday")  # every test starts on Tuesday (conftest.py)


def _resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """A schema with its ``$ref`` followed."""
    while "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def _date_paths(doc: dict[str, Any], schema: dict[str, Any],
                path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], str]]:
    """(path in the body, format) of every date or date-time field, lists at index 0."""
    schema = _resolve(doc, schema)
    if schema.get("format") in ("date", "date-time"):
        yield path, schema["format"]
    for name, sub in (schema.get("properties") or {}).items():
        yield from _date_paths(doc, sub, (*path, name))
    if schema.get("type") == "array" and "items" in schema:
        yield from _date_paths(doc, schema["items"], (*path, 0))
    for sub in schema.get("allOf", []):
        yield from _date_paths(doc, sub, path)


def _date_fields(doc: dict[str, Any]) -> Iterator[tuple[str, str, str, tuple[Any, ...], str]]:
    """(key, method, path, field path, format) of every date of every request of the document;
    a query field's path starts with ``?``."""
    for url, operations in doc["paths"].items():
        for method, operation in operations.items():
            if method == "parameters":
                continue
            key = f"{method.upper()} {url}"
            for parameter in operation.get("parameters", []):
                schema = _resolve(doc, parameter.get("schema", {}))
                if parameter.get("in") == "query" and schema.get("format") in ("date",
                                                                               "date-time"):
                    yield key, method, url, ("?", parameter["name"]), schema["format"]
            content = operation.get("requestBody", {}).get("content", {})
            for media in content.values():
                for field_path, kind in _date_paths(doc, media.get("schema", {})):
                    yield key, method, url, field_path, kind


def _set(body: dict[str, Any], path: tuple[Any, ...], value: str) -> dict[str, Any]:
    """A copy of ``body`` with the field at ``path`` set to ``value``."""
    changed = copy.deepcopy(body)
    target: Any = changed
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return changed


class Callers:
    """A token per audience, made once per test."""

    def __init__(self, client: Any, db_session: Any, protector: Any) -> None:
        self.client, self.db_session, self.protector = client, db_session, protector
        citizen = add_citizen(db_session, protector)
        phone = Phone()
        register(client, citizen, phone)
        self.headers = {"public": {}, "citizen": bearer(str(login(
            client, citizen.personal_id, phone)["access_token"]))}
        officer = create_officer(db_session, protector, username="far.future",
                                 commune_code=STAY_COMMUNE)
        self.headers["officer"] = bearer(officer_login(client, officer).get_json()
                                         ["access_token"])
        party = create_party(db_session, protector, name="Khách sạn Xa", kind="hotel",
                             scopes=("identity.match", "lodging.notify"))
        self.headers["party"] = bearer(party_token(client, party))
        self.stranger = add_citizen(db_session, protector)

    def template(self, key: str) -> tuple[dict[str, str], dict[str, Any]]:
        """The headers and valid body of one operation."""
        audience, body = TEMPLATES[key]
        if key == "POST /api/v1/accounts/registrations":
            body = registration_body(self.stranger, Phone())
        return self.headers[audience], body


def _send(client: Any, method: str, url: str, headers: dict[str, str], body: dict[str, Any],
          query: bool) -> Any:
    """Send the request, ``body`` as the query string or as JSON."""
    url = url.replace("{stay_id}", "999999")
    if query:
        return client.open(url, method=method.upper(), headers=headers, query_string=body)
    return client.open(url, method=method.upper(), headers=headers, json=body)


def test_every_request_date_has_a_template(client: Any) -> None:
    doc = client.get("/api/v1/openapi.json").get_json()
    missing = sorted({key for key, *_rest in _date_fields(doc) if key not in TEMPLATES})
    assert not missing, f"operations that take a date without a template here: {missing}"


def test_far_future_and_far_past_dates_are_a_4xx_never_a_5xx(
        app: Any, client: Any, db_session: Any, protector: Any, redis: Any) -> None:
    app.config["RP_LIMIT_PER_PARTY"] = "100000 per minute"
    app.config["LODGING_LIMIT_PER_ACCOUNT"] = "100000 per minute"
    doc = client.get("/api/v1/openapi.json").get_json()
    callers = Callers(client, db_session, protector)
    wrong: list[str] = []
    tried = 0
    for key, method, url, field_path, kind in _date_fields(doc):
        headers, body = callers.template(key)
        query = field_path[0] == "?"
        path = field_path[1:] if query else field_path
        for value in FAR_DATES if kind == "date" else FAR_MOMENTS:
            answer = _send(client, method, url, headers, _set(body, path, value), query)
            tried += 1
            status = answer.status_code
            error = answer.get_json() or {}
            if not (400 <= status < 500) or status in (401, 403) or \
                    set(error) != {"status", "code", "message", "errors"}:
                wrong.append(f"{key} {'.'.join(map(str, path))}={value}: {status} "
                             f"{error.get('code')}")
    assert tried >= 50
    assert not wrong, "\n".join(wrong)


def test_the_bound_names_the_field(client: Any, db_session: Any, protector: Any) -> None:
    callers = Callers(client, db_session, protector)
    answer = client.get("/api/v1/police/reports", headers=callers.headers["officer"],
                        query_string={"filed_to": "9999-12-31"})
    assert answer.status_code == 422
    assert answer.get_json()["code"] == "date.out_of_range"
    assert "filed_to" in answer.get_json()["errors"]
    headers, body = callers.template("POST /api/v1/residence/stays")
    answer = client.post("/api/v1/residence/stays", headers=headers,
                         json={**body, "start_date": "9998-06-01", "end_date": "9999-06-01"})
    assert answer.status_code == 422
    assert answer.get_json()["code"] == "date.out_of_range"


def test_the_error_net_answers_an_arithmetic_overflow_422_and_a_real_bug_500(app: Any) -> None:
    """What slips past the bounded fields (an OverflowError, or the ValueError of a date out of
    datetime's range) is the client's 422 with the uniform body; another ValueError stays a
    logged 500."""
    import datetime as dt

    from app.errors import handle_out_of_range
    errors: list[Exception] = []
    for make in (lambda: dt.date(9999, 12, 31) + dt.timedelta(days=1),
                 lambda: dt.date(9998, 6, 1).replace(year=10_000),
                 lambda: dt.date(2026, 2, 1).replace(day=30), lambda: int("not a number")):
        try:
            make()
        except (OverflowError, ValueError) as error:
            errors.append(error)
    with app.test_request_context():
        answers = [handle_out_of_range(error) for error in errors]
    assert [a.status_code for a in answers] == [422, 422, 422, 500]
    assert answers[0].get_json() == {
        "status": 422, "code": "request.out_of_range",
        "message": "A date or number of the request is out of the supported range.",
        "errors": {}}
    assert answers[3].get_json()["code"] == "server.error"
    # The handlers are those of the application, for every request.
    spec = app.error_handler_spec[None][None]
    assert spec[OverflowError] is handle_out_of_range and spec[ValueError] is handle_out_of_range
