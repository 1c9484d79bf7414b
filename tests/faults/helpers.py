"""Flows of the fault tests on their own application (real commits, no shared transaction)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from app.extensions import db, get_protector
from identity.audit.models import AuditEvent
from identity.audit.service import Actor
from tests import flows
from tests.factories import add_citizen, add_issuer_key

OPERATOR = Actor(type="operator", id="test:faults")


@dataclass
class Person:
    """A registry citizen as the flows read them (detached from any session)."""

    personal_id: str
    full_name: str
    date_of_birth: Any
    test_phone: str
    citizen_id: int


def new_person(app: Flask, **overrides: Any) -> Person:
    """A citizen committed to the app's registry."""
    with app.app_context():
        citizen = add_citizen(db.session(), get_protector(), **overrides)
        person = Person(citizen.personal_id, citizen.full_name, citizen.date_of_birth,
                        citizen.test_phone, citizen.id)  # type: ignore[attr-defined]
        db.session.commit()
    return person


def registered(app: Flask, client: FlaskClient, **overrides: Any) -> flows.Holder:
    """A citizen with an active account bound to a new phone (not logged in yet)."""
    return flows.Holder.of(client, new_person(app, **overrides), log_in=False)


def locked_out(app: Flask, client: FlaskClient) -> flows.Holder:
    """A registered citizen who logged in and then locked the account (the phone is lost)."""
    citizen = registered(app, client)
    citizen.log_in()
    citizen.lock()
    return citizen


def signed_login_body(citizen: flows.Holder, held: dict[str, Any]) -> dict[str, Any]:
    """The body of ``POST /auth/login`` answering the challenge ``held``."""
    return {"personal_id": citizen.personal_id, "password": flows.PASSWORD,
            "device_id": citizen.phone.device_id, "challenge_id": held["challenge_id"],
            "signature": citizen.phone.sign(held["nonce"])}


def assert_unavailable(answer: Any) -> None:
    """``503 service.unavailable`` (or a domain 503) with the uniform body and a Retry-After."""
    body = answer.get_json()
    assert answer.status_code == 503, body
    assert set(body) == {"status", "code", "message", "errors"}, body
    assert body["status"] == 503 and body["code"].endswith("unavailable"), body
    assert int(answer.headers["Retry-After"]) > 0
    for secret in ("access_token", "refresh_token", "qr"):
        assert secret not in body


def events(app: Flask, action: str) -> int:
    """How many audit events of ``action`` are committed."""
    with app.app_context():
        return int(db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)
                                     .where(AuditEvent.action == action)) or 0)


def issuer_key(app: Flask) -> str:
    """Rotate in an active VN1 issuer key; its kid."""
    with app.app_context():
        return str(add_issuer_key(db.session(), get_protector()).kid)


def issued_credential(app: Flask, client: FlaskClient) -> tuple[str, dict[str, Any]]:
    """A new holder's access token and an ``identity_basic`` credential issued to them
    (``credential_id``, ``qr``, ...), under a new issuer key."""
    issuer_key(app)
    token = registered(app, client).log_in()["access_token"]
    issued = client.post("/api/v1/credentials", headers=flows.bearer(token),
                         json={"type": "identity_basic", "passcode": flows.PASSCODE})
    assert issued.status_code == 201, issued.get_json()
    return token, dict(issued.get_json())
