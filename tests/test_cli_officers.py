"""``flask officers`` and ``flask sms outbox`` on their own SQLite database (they commit)."""
from __future__ import annotations

import json
import re
import urllib.parse

import pyotp
import pytest
import sqlalchemy as sa

from app import context as ctx
from app.extensions import db
from identity.accounts.models import Officer
from identity.audit.models import AuditEvent

PASSWORD = "correct horse battery staple"


class NullGateway:
    """An SMS backend that is not the outbox (as a telecom operator's gateway would be)."""

    def __init__(self, config: object) -> None:
        self.config = config

    def send(self, **kwargs: object) -> None:
        """Drop the message."""


def create(cli_app, username="officer.hn", province="01", password=PASSWORD, *extra: str):
    """Run ``flask officers create`` with the password on standard input."""
    return cli_app.test_cli_runner().invoke(args=[
        "officers", "create", "--username", username, "--full-name", "Trần Thị Bình",
        "--province", province, "--role", "supervisor", "--password-stdin", *extra],
        input=password + "\n")


def officer_row(cli_app, username: str) -> Officer:
    """The officer as stored."""
    with cli_app.app_context():
        officer = db.session.scalars(sa.select(Officer).where(Officer.username == username)).one()
        db.session.expunge(officer)
        return officer


def totp_secret(uri: str) -> str:
    """The secret inside a TOTP provisioning URI."""
    return urllib.parse.parse_qs(urllib.parse.urlparse(uri).query)["secret"][0]


# --- officers create ---------------------------------------------------------------------------

def test_create_prints_one_json_object_with_the_totp_uri(cli_app):
    result = create(cli_app, "officer.hn")
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)  # stdout holds the JSON object and nothing else
    assert printed["username"] == "officer.hn"
    assert printed["role"] == "supervisor" and printed["province"] == "01"
    assert printed["commune"] is None
    uri = printed["totp_uri"]
    assert uri.startswith("otpauth://totp/")
    parsed = pyotp.parse_uri(uri)
    assert parsed.issuer == "VNeID Police" and parsed.name == "officer.hn"
    # The password is never echoed.
    assert PASSWORD not in result.output
    officer = officer_row(cli_app, "officer.hn")
    assert officer.id == printed["officer_id"] and officer.active
    assert officer.role == "supervisor"
    assert officer.password_hash.startswith("$argon2id$")
    assert totp_secret(uri).encode() not in officer.totp_secret_encrypted


def test_the_created_officer_logs_in_with_the_printed_uri(cli_app):
    printed = json.loads(create(cli_app, "officer.hn").stdout)
    answer = cli_app.test_client().post("/api/v1/auth/officer-login", json={
        "username": "officer.hn", "password": PASSWORD,
        "totp": pyotp.parse_uri(printed["totp_uri"]).now()})
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["access_token"]


def test_create_with_a_commune(cli_app):
    result = create(cli_app, "officer.commune", "01", PASSWORD, "--commune", "00070")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["commune"] == "00070"
    assert officer_row(cli_app, "officer.commune").commune_code == "00070"


def test_create_is_audited_as_the_operator(cli_app):
    assert create(cli_app, "officer.hn").exit_code == 0
    with cli_app.app_context():
        [event] = db.session.scalars(sa.select(AuditEvent).where(
            AuditEvent.action == "officer.created")).all()
        assert event.actor_type == "operator" and event.source == "cli"
        assert event.details == {"role": "supervisor", "province": "01", "commune": None}


def test_create_in_an_unknown_province_fails(cli_app):
    result = create(cli_app, "officer.x", "99")
    assert result.exit_code == 1
    assert "province.unknown" in result.stderr
    assert result.stdout == ""
    with cli_app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Officer)) == 0


def test_create_with_a_commune_of_another_province_fails(cli_app):
    result = create(cli_app, "officer.x", "79", PASSWORD, "--commune", "00070")
    assert result.exit_code == 1
    assert "commune.unknown" in result.stderr


@pytest.mark.parametrize("password", ["short", "password", "12345678"])
def test_create_with_a_weak_password_fails(cli_app, password):
    result = create(cli_app, "officer.x", "01", password)
    assert result.exit_code == 1
    assert re.search(r"\bpassword\.\w+", result.stderr), result.stderr
    assert result.stdout == ""


def test_create_twice_with_one_username_fails(cli_app):
    assert create(cli_app, "officer.hn").exit_code == 0
    result = create(cli_app, "officer.hn")
    assert result.exit_code == 1
    assert "officer.exists" in result.stderr
    assert result.stdout == ""


def test_create_with_an_unknown_role_is_a_usage_error(cli_app):
    result = cli_app.test_cli_runner().invoke(args=[
        "officers", "create", "--username", "u.x", "--full-name", "N", "--province", "01",
        "--role", "chief", "--password-stdin"], input=PASSWORD + "\n")
    assert result.exit_code == 2


# --- officers reassign, deactivate -------------------------------------------------------------

def test_reassign_moves_the_officer(cli_app):
    assert create(cli_app, "officer.hn").exit_code == 0
    result = cli_app.test_cli_runner().invoke(args=["officers", "reassign", "officer.hn",
                                                    "--province", "79"])
    assert result.exit_code == 0, result.output
    officer = officer_row(cli_app, "officer.hn")
    assert (officer.province_code, officer.commune_code) == ("79", None)
    with cli_app.app_context():
        [event] = db.session.scalars(sa.select(AuditEvent).where(
            AuditEvent.action == "officer.reassigned")).all()
        assert event.actor_type == "operator"
        assert event.details["before"] == {"province": "01", "commune": None}


def test_reassign_with_a_commune_and_role(cli_app):
    assert create(cli_app, "officer.hn").exit_code == 0
    result = cli_app.test_cli_runner().invoke(args=[
        "officers", "reassign", "officer.hn", "--province", "01", "--commune", "00070",
        "--role", "officer"])
    assert result.exit_code == 0, result.output
    officer = officer_row(cli_app, "officer.hn")
    assert (officer.province_code, officer.commune_code, officer.role) == ("01", "00070",
                                                                           "officer")


def test_reassign_failures(cli_app):
    assert create(cli_app, "officer.hn").exit_code == 0
    runner = cli_app.test_cli_runner()
    unknown = runner.invoke(args=["officers", "reassign", "nobody", "--province", "79"])
    assert unknown.exit_code == 1 and "officer.not_found" in unknown.stderr
    province = runner.invoke(args=["officers", "reassign", "officer.hn", "--province", "99"])
    assert province.exit_code == 1 and "province.unknown" in province.stderr
    assert officer_row(cli_app, "officer.hn").province_code == "01"


def test_deactivate_stops_the_officer(cli_app):
    printed = json.loads(create(cli_app, "officer.hn").stdout)
    client = cli_app.test_client()
    tokens = client.post("/api/v1/auth/officer-login", json={
        "username": "officer.hn", "password": PASSWORD,
        "totp": pyotp.parse_uri(printed["totp_uri"]).now()}).get_json()
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert client.get("/api/v1/police/accounts/pending", headers=headers).status_code == 200
    result = cli_app.test_cli_runner().invoke(args=["officers", "deactivate", "officer.hn"])
    assert result.exit_code == 0, result.output
    assert not officer_row(cli_app, "officer.hn").active
    refused = client.get("/api/v1/police/accounts/pending", headers=headers)
    assert refused.status_code == 401
    assert refused.get_json()["code"] == "auth.invalid_token"


def test_deactivate_an_unknown_officer_fails(cli_app):
    result = cli_app.test_cli_runner().invoke(args=["officers", "deactivate", "nobody"])
    assert result.exit_code == 1 and "officer.not_found" in result.stderr


# --- sms outbox --------------------------------------------------------------------------------

def send(cli_app, phone: str, text: str) -> None:
    """Put a message in the outbox, as the service sends one."""
    with cli_app.app_context():
        ctx.sms().send(db_session=db.session(), phone=phone, text=text)
        db.session.commit()


def test_sms_outbox_prints_the_messages_of_one_phone(cli_app):
    send(cli_app, "0912345678", "VNeID: ma xac thuc la 111111.")
    send(cli_app, "0987654321", "VNeID: ma xac thuc la 222222.")
    send(cli_app, "0912345678", "VNeID: ma xac thuc la 333333.")
    runner = cli_app.test_cli_runner()
    result = runner.invoke(args=["sms", "outbox", "--phone", "0912345678"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 2
    assert "333333" in lines[0] and "111111" in lines[1]  # newest first
    assert all("0912345678" in line for line in lines)
    assert "222222" not in result.stdout
    # The phone may be given in international form.
    again = runner.invoke(args=["sms", "outbox", "--phone", "+84 912 345 678"])
    assert again.stdout == result.stdout
    everything = runner.invoke(args=["sms", "outbox"])
    assert len(everything.stdout.splitlines()) == 3
    assert len(runner.invoke(args=["sms", "outbox", "--limit", "1"]).stdout.splitlines()) == 1


def test_sms_outbox_shows_a_registration_code(cli_app):
    from tests.factories import add_citizen
    from tests.flows import Phone, registration_body

    with cli_app.app_context():
        from app.extensions import get_protector
        citizen = add_citizen(db.session(), get_protector())
        db.session.commit()
        number = citizen.test_phone
        body = registration_body(citizen, Phone(), phone_number=number)
    answer = cli_app.test_client().post("/api/v1/accounts/registrations", json=body)
    assert answer.status_code == 202, answer.get_json()
    result = cli_app.test_cli_runner().invoke(args=["sms", "outbox", "--phone", number])
    assert result.exit_code == 0, result.output
    [line] = result.stdout.splitlines()
    assert number in line and len(re.findall(r"\b\d{6}\b", line)) == 1


def test_sms_outbox_of_an_unknown_phone_prints_nothing(cli_app):
    send(cli_app, "0912345678", "VNeID: ma xac thuc la 111111.")
    result = cli_app.test_cli_runner().invoke(args=["sms", "outbox", "--phone", "0987654321"])
    assert result.exit_code == 0 and result.stdout == ""


def test_sms_outbox_with_a_malformed_phone_fails(cli_app):
    result = cli_app.test_cli_runner().invoke(args=["sms", "outbox", "--phone", "12"])
    assert result.exit_code == 1
    assert "phone." in result.stderr


def test_sms_outbox_needs_the_outbox_backend(migrated_app):
    app = migrated_app(SMS_BACKEND=f"{__name__}:NullGateway")
    result = app.test_cli_runner().invoke(args=["sms", "outbox"])
    assert result.exit_code == 1
    assert "sms.no_outbox" in result.stderr
