"""HTTP flows the tests share: a phone's device key, registering, logging in, officers, parties.

The rows behind them come from ``tests/factories.py``; what goes through the
API (a registration, a login, an officer's TOTP login) is here.
"""
from __future__ import annotations

import base64
import re
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Self

import pyotp
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from flask.testing import FlaskClient

from identity import clock
from identity.accounts import officers
from identity.accounts.models import Account
from tests.factories import (PASSCODE, PASSWORD, OfficerFactory, RelyingPartyFactory,
                             add_citizen)


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
    def public_der(self) -> bytes:
        """The public key as DER SubjectPublicKeyInfo (what a bound device row keeps)."""
        return self.key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)

    @property
    def public_key(self) -> str:
        """The public key as base64url DER SubjectPublicKeyInfo (what the app sends)."""
        return b64(self.public_der)

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

    with app.app_context():
        app.extensions["redis"].flushdb()
        limiter.reset()
        with Session(bind=db.engine, expire_on_commit=False) as session:
            row = add_citizen(session, protector, **citizen)
            session.commit()
    return row


def at_once(*calls: Callable[[Callable[[], object]], Any], timeout: float = 60) -> list[Any]:
    """Run ``calls`` from threads of their own, released together: real concurrency.

    Each call is given ``go``: it does what must come first (its own app
    context, session or client; the reads both sides make before either acts),
    then calls ``go()``, which waits until every call has got there. The
    results in the order given; a call that raised gives its exception.
    """
    barrier = threading.Barrier(len(calls), timeout=timeout)
    results: list[Any] = [None] * len(calls)

    def run(index: int) -> None:
        try:
            results[index] = calls[index](barrier.wait)
        except Exception as error:  # noqa: BLE001  (the result, for the test to look at)
            results[index] = error

    threads = [threading.Thread(target=run, args=(index,)) for index in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout * 2)
    assert not any(thread.is_alive() for thread in threads), "a call is still running"
    return results


def post_at_once(app: Any, requests: list[tuple[str, dict[str, Any]]]) -> list[Any]:
    """POST ``(url, json)`` requests from clients of their own, released together; the answers
    in the order given."""
    def poster(url: str, body: dict[str, Any]) -> Callable[[Callable[[], object]], Any]:
        def post(go: Callable[[], object]) -> Any:
            own_client = app.test_client()
            go()
            return own_client.post(url, json=body)
        return post
    return at_once(*(poster(url, body) for url, body in requests))


def confirm_at_once(app: Any, registration_ids: list[str], otps: list[str]) -> list[Any]:
    """Confirm registrations at once (each from a client of its own); the answers, in the
    order given."""
    return post_at_once(app, [
        (f"/api/v1/accounts/registrations/{registration_id}/confirm",
         {"otp": otp, "password": PASSWORD, "passcode": PASSCODE})
        for registration_id, otp in zip(registration_ids, otps)])


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


class LoggedIn:
    """Who holds the token pair of their last login in ``tokens``."""

    tokens: dict[str, Any]

    @property
    def token(self) -> str:
        """The access token of the last login."""
        return str(self.tokens["access_token"])

    @property
    def headers(self) -> dict[str, str]:
        """The Authorization header of the last login."""
        return bearer(self.token)


@dataclass
class Holder(LoggedIn):
    """A registry citizen registered from their phone through the API and, unless told, logged
    in on it: what most API tests start from. Test files subclass it with their own acts.

    ``record``: the registry citizen (``tests.factories.add_citizen``), or anything with its
    fields (``personal_id``, ``full_name``, ``date_of_birth``, ``test_phone``).
    ``account``: the registration's answer. ``db_session``: the session the citizen was
    made in, to read the account back.
    """

    client: FlaskClient
    record: Any
    phone: Phone
    account: dict[str, Any]
    tokens: dict[str, Any] = field(default_factory=dict)
    db_session: Any = None

    @classmethod
    def of(cls, client: FlaskClient, record: Any, *, phone_number: str | None = None,
           log_in: bool = True, db_session: Any = None) -> Self:
        """Register ``record`` from a new phone (with the registry's number unless told)."""
        phone = Phone()
        held = cls(client, record, phone, register(client, record, phone,
                                                   phone_number=phone_number),
                   db_session=db_session)
        if log_in:
            held.log_in()
        return held

    @classmethod
    def make(cls, client: FlaskClient, db_session: Any, protector: Any, *,
             phone_number: str | None = None, log_in: bool = True, **citizen: Any) -> Self:
        """A new registry citizen (``citizen``: its fields), registered and logged in."""
        return cls.of(client, add_citizen(db_session, protector, **citizen),
                      phone_number=phone_number, log_in=log_in, db_session=db_session)

    @property
    def account_id(self) -> int:
        """The account's id."""
        return int(self.account["account_id"])

    @property
    def personal_id(self) -> str:
        """The citizen's personal id."""
        return str(self.record.personal_id)

    @property
    def phone_number(self) -> str:
        """The citizen's phone number in the registry."""
        return citizen_phone_number(self.record)

    def log_in(self) -> dict[str, Any]:
        """Log in again from the bound phone; the new token pair (kept)."""
        self.tokens = login(self.client, self.personal_id, self.phone)
        return self.tokens

    def get(self, path: str) -> Any:
        """A GET with the citizen's token."""
        return self.client.get(path, headers=self.headers)

    def access_log(self) -> list[dict[str, Any]]:
        """The newest hundred entries of the citizen's access log."""
        answer = self.get("/api/v1/me/access-log?per_page=100")
        assert answer.status_code == 200, answer.get_json()
        return list(answer.get_json()["items"])

    def lock(self) -> None:
        """Lock the account from the app (the phone is lost)."""
        answer = self.client.post("/api/v1/me/lock", headers=self.headers)
        assert answer.status_code == 200, answer.get_json()

    def start_unlock(self) -> tuple[str, str]:
        """Ask to unlock with the password; the unlock's id and the code sent by SMS."""
        started = self.client.post("/api/v1/auth/unlock", json={
            "personal_id": self.personal_id, "password": PASSWORD})
        assert started.status_code == 202, started.get_json()
        return str(started.get_json()["unlock_id"]), latest_code(self.client, self.phone_number)

    def account_row(self) -> Account:
        """The account's row, read afresh from the database."""
        row = self.db_session.get(Account, self.account_id)
        self.db_session.refresh(row)
        return row


@dataclass
class OfficerLogin(LoggedIn):
    """An officer, what they log in with, and once logged in their tokens."""

    username: str
    password: str
    totp_secret: str
    officer_id: int
    tokens: dict[str, Any] = field(default_factory=dict)

    def code(self, offset_steps: int = 0) -> str:
        """The TOTP code of the current step (or one near it)."""
        at = int(clock.now().timestamp()) + offset_steps * officers.TOTP_STEP_SECONDS
        return pyotp.TOTP(self.totp_secret).at(at)

    def log_in(self, client: FlaskClient, offset_steps: int = 0) -> str:
        """Log in (with the TOTP code of the current step unless told); the access token."""
        answer = officer_login(client, self, offset_steps)
        assert answer.status_code == 200, answer.get_json()
        self.tokens = dict(answer.get_json())
        return self.token


def create_officer(db_session: Any, protector: Any, *, username: str = "officer.hn",
                   province_code: str = "01", commune_code: str | None = None,
                   role: str = "officer") -> OfficerLogin:
    """An officer through the service (``tests.factories.OfficerFactory``), and their login."""
    officer = OfficerFactory(db_session=db_session, protector=protector, username=username,
                             province_code=province_code, commune_code=commune_code, role=role)
    return OfficerLogin(username=username, password=officer.test_password,
                        totp_secret=officer.test_totp_secret, officer_id=officer.id)


def logged_in_officer(client: FlaskClient, db_session: Any, protector: Any,
                      **officer: Any) -> OfficerLogin:
    """An officer (``officer``: :func:`create_officer`'s options), logged in."""
    made = create_officer(db_session, protector, **officer)
    made.log_in(client)
    return made


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


def create_party(db_session: Any, protector: Any, **options: Any) -> Party:
    """Register a relying party as ``flask rp create`` does (``tests.factories.
    RelyingPartyFactory``: name, kind, scopes, callback URL and policy, key, quotas)."""
    party = RelyingPartyFactory(db_session=db_session, protector=protector, **options)
    return Party(name=party.name, client_id=party.client_id, secret=party.test_secret,
                 callback_key=party.test_callback_key)


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
