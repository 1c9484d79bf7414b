"""HTTP flows the tests share: a phone's device key, registering, logging in, officers."""
from __future__ import annotations

import base64
import re
import threading
import urllib.parse
import uuid
from dataclasses import dataclass, field
from typing import Any

import pyotp
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from flask.testing import FlaskClient

from identity import clock
from identity.accounts import officers

PASSWORD = "correct horse battery staple"
PASSCODE = "246810"


def b64(raw: bytes) -> str:
    """base64url without padding."""
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def unb64(text: str) -> bytes:
    """Inverse of :func:`b64`."""
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Phone:
    """A phone with its own P-256 device key, as the app keeps it in the key store."""

    device_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))

    @property
    def public_key(self) -> str:
        """The public key as base64url DER SubjectPublicKeyInfo."""
        return b64(self.key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo))

    def sign(self, nonce: str) -> str:
        """DER ECDSA P-256 SHA-256 over the nonce's bytes."""
        return b64(self.key.sign(unb64(nonce), ec.ECDSA(hashes.SHA256())))


def assert_error(answer: Any, status: int, code: str) -> dict[str, Any]:
    """The answer is the uniform error body with this status and code; the body."""
    body = answer.get_json()
    assert answer.status_code == status, body
    assert set(body) == {"status", "code", "message", "errors"}, body
    assert (body["status"], body["code"]) == (status, code), body
    assert isinstance(body["message"], str) and body["message"], body
    assert isinstance(body["errors"], dict), body
    return dict(body)


def bearer(token: str) -> dict[str, str]:
    """The Authorization header of a bearer token."""
    return {"Authorization": f"Bearer {token}"}


def latest_code(client: FlaskClient, phone: str) -> str:
    """The code of the newest SMS to ``phone`` in the development outbox."""
    messages = client.get("/api/v1/dev/sms-outbox").get_json()["messages"]
    for message in messages:
        if message["phone"] == phone:
            return re.findall(r"\b\d{6}\b", message["text"])[0]
    raise AssertionError(f"no SMS in the outbox for {phone}")


def outbox(client: FlaskClient, number: str) -> list[dict[str, Any]]:
    """The development outbox's messages to ``number``, newest first."""
    messages = client.get("/api/v1/dev/sms-outbox").get_json()["messages"]
    return [message for message in messages if message["phone"] == number]


def sent_codes(client: FlaskClient, number: str) -> list[str]:
    """The codes sent to ``number``, oldest first."""
    return [re.findall(r"\b\d{6}\b", message["text"])[0]
            for message in outbox(client, number)][::-1]


def committed_citizen(app: Any, protector: Any, **citizen: Any) -> Any:
    """A citizen committed for real in ``app``'s own database (``own_database_app``), with its
    Redis and rate limits emptied: the start of a race test."""
    from sqlalchemy.orm import Session

    from app.auth import limiter
    from app.extensions import db
    from tests.factories import add_citizen

    with app.app_context():
        app.extensions["redis"].flushdb()
        limiter.reset()
        with Session(bind=db.engine, expire_on_commit=False) as session:
            row = add_citizen(session, protector, **citizen)
            session.commit()
    return row


def confirm_at_once(app: Any, registration_ids: list[str], otps: list[str]) -> list[Any]:
    """Confirm registrations from threads released together (real concurrency: each thread
    has its own client, app context and connection); the answers, in the order given."""
    barrier = threading.Barrier(len(registration_ids))
    answers: list[Any] = [None] * len(registration_ids)

    def confirm(index: int) -> None:
        own_client = app.test_client()
        barrier.wait()
        answers[index] = own_client.post(
            f"/api/v1/accounts/registrations/{registration_ids[index]}/confirm",
            json={"otp": otps[index], "password": PASSWORD, "passcode": PASSCODE})

    threads = [threading.Thread(target=confirm, args=(i,)) for i in range(len(otps))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return answers


def registration_body(citizen: Any, phone: Phone, **overrides: Any) -> dict[str, Any]:
    """A registration request matching a registry citizen."""
    return {"personal_id": citizen.personal_id, "full_name": citizen.full_name,
            "date_of_birth": citizen.date_of_birth.isoformat(), "phone": overrides.pop(
                "phone_number", "0912345678"),
            "device_id": phone.device_id, "device_public_key": phone.public_key, **overrides}


def start_registration(client: FlaskClient, citizen: Any, phone: Phone,
                       phone_number: str) -> str:
    """Start a registration; returns its id."""
    answer = client.post("/api/v1/accounts/registrations",
                         json=registration_body(citizen, phone, phone_number=phone_number))
    assert answer.status_code == 202, answer.get_json()
    return str(answer.get_json()["registration_id"])


def register(client: FlaskClient, citizen: Any, phone: Phone, *,
             phone_number: str | None = None, password: str = PASSWORD,
             passcode: str = PASSCODE) -> dict[str, Any]:
    """Register a citizen from ``phone`` (with the registry's phone unless told); the account."""
    number = phone_number or citizen_phone_number(citizen)
    registration_id = start_registration(client, citizen, phone, number)
    answer = client.post(f"/api/v1/accounts/registrations/{registration_id}/confirm",
                         json={"otp": latest_code(client, number), "password": password,
                               "passcode": passcode})
    assert answer.status_code == 201, answer.get_json()
    return dict(answer.get_json())


def citizen_phone_number(citizen: Any) -> str:
    """The phone of a citizen made by ``tests.factories.add_citizen`` (kept on the object)."""
    return str(citizen.test_phone)


def challenge(client: FlaskClient, personal_id: str, phone: Phone) -> dict[str, Any]:
    """A login challenge."""
    answer = client.post("/api/v1/auth/challenge",
                         json={"personal_id": personal_id, "device_id": phone.device_id})
    assert answer.status_code == 200, answer.get_json()
    return dict(answer.get_json())


def login_answer(client: FlaskClient, personal_id: str, phone: Phone,
                 password: str = PASSWORD, signer: Phone | None = None) -> Any:
    """The raw answer of a full login (challenge, then signed login)."""
    held = challenge(client, personal_id, phone)
    return client.post("/api/v1/auth/login", json={
        "personal_id": personal_id, "password": password, "device_id": phone.device_id,
        "challenge_id": held["challenge_id"], "signature": (signer or phone).sign(held["nonce"])})


def login(client: FlaskClient, personal_id: str, phone: Phone,
          password: str = PASSWORD) -> dict[str, Any]:
    """Log in; the token pair."""
    answer = login_answer(client, personal_id, phone, password)
    assert answer.status_code == 200, answer.get_json()
    return dict(answer.get_json())


@dataclass
class OfficerLogin:
    """An officer and what they log in with."""

    username: str
    password: str
    totp_secret: str
    officer_id: int

    def code(self, offset_steps: int = 0) -> str:
        """The TOTP code of the current step (or one near it)."""
        at = int(clock.now().timestamp()) + offset_steps * officers.TOTP_STEP_SECONDS
        return pyotp.TOTP(self.totp_secret).at(at)


def create_officer(db_session: Any, protector: Any, *, username: str = "officer.hn",
                   province_code: str = "01", commune_code: str | None = None,
                   role: str = "officer") -> OfficerLogin:
    """An officer through the service (as ``flask officers create`` makes them)."""
    from identity.audit.service import Actor
    officer, uri = officers.create_officer(
        db_session=db_session, protector=protector, actor=Actor(type="operator", id="test"),
        username=username, full_name="Trần Thị Bình", password=PASSWORD,
        province_code=province_code, commune_code=commune_code, role=role)
    secret = urllib.parse.parse_qs(urllib.parse.urlparse(uri).query)["secret"][0]
    return OfficerLogin(username=username, password=PASSWORD, totp_secret=secret,
                        officer_id=officer.id)


def officer_login(client: FlaskClient, officer: OfficerLogin, offset_steps: int = 0) -> Any:
    """The raw answer of an officer's login."""
    return client.post("/api/v1/auth/officer-login", json={
        "username": officer.username, "password": officer.password,
        "totp": officer.code(offset_steps)})


@dataclass
class Party:
    """A registered relying party: its row's name, client id, secret and callback key."""

    name: str
    client_id: str
    secret: str
    callback_key: str | None = None


def create_party(db_session: Any, protector: Any, *, name: str = "Ngân hàng Thử nghiệm",
                 kind: str = "bank", scopes: tuple[str, ...] = ("identity.match",),
                 callback_url: str | None = None, public_key_pem: bytes | None = None,
                 quotas: dict[str, int] | None = None) -> Party:
    """Register a relying party as ``flask rp create`` does."""
    from identity.audit.service import Actor
    from identity.relying_parties import parties
    party, secret, key = parties.create_party(
        db_session=db_session, protector=protector, actor=Actor(type="operator", id="test"),
        name=name, kind=kind, scopes=scopes, callback_url=callback_url,
        public_key_pem=public_key_pem, quotas=quotas)
    return Party(name=party.name, client_id=party.client_id, secret=secret, callback_key=key)


def party_token(client: FlaskClient, party: Party, scope: str | None = None) -> str:
    """An access token of the party (client credentials with HTTP Basic)."""
    form = {"grant_type": "client_credentials", **({"scope": scope} if scope else {})}
    answer = client.post("/api/v1/oauth/token", data=form,
                         auth=(party.client_id, party.secret))
    assert answer.status_code == 200, answer.get_json()
    return str(answer.get_json()["access_token"])


def run_jobs(app: Any) -> int:
    """Run the background jobs queued so far (RQ on CI's Redis; inline jobs already ran)."""
    with app.app_context():
        return int(app.extensions["jobs"].run_pending())
