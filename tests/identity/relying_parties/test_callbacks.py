"""Callback URLs: checked at registration and again before each send, to the checked address.

The resolver (``callbacks.resolve_host``) and the connector
(``callbacks.connect``) are replaced, so the tests decide what a host
resolves to at each moment and see where the service connects.
"""
from __future__ import annotations

import http.server
import ipaddress
import os
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from unittest.mock import patch

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.extensions import db, get_protector

from identity.audit.service import Actor
from identity.errors import InvalidInput
from identity.relying_parties import callbacks, consents
from identity.relying_parties.callbacks import STRICT, CallbackPolicy
from identity.relying_parties.errors import CallbackFailed
from identity.relying_parties.models import ConsentRequest
from tests.api.helpers import Receiver
from tests.factories import RelyingPartyFactory, add_active_account
from tests.flows import PASSCODE, at_once

ACTOR = Actor(type="test", id="callbacks")
PUBLIC = "93.184.215.14"
LOCAL = CallbackPolicy(https_only=False, allow_private=True)
#: Production's address rules, with plain http so that a local receiver can stand in.
STRICT_HTTP = CallbackPolicy(https_only=False, allow_private=False)

NEVER = ["169.254.169.254", "fe80::1", "224.0.0.1", "ff02::1", "0.0.0.0", "::",
         "255.255.255.255", "240.0.0.1", "::ffff:169.254.169.254", "0.1.2.3"]
PRIVATE = ["127.0.0.1", "127.8.9.10", "10.0.0.1", "10.255.1.2", "172.16.5.4", "192.168.1.1",
           "100.64.0.1", "::1", "fc00::1", "fd12:3456::1", "::ffff:127.0.0.1",
           "::ffff:10.0.0.1", "2002:7f00:1::1", "2002:a00:1::1"]
GLOBAL = [PUBLIC, "8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8"]


@pytest.mark.parametrize("text", NEVER + PRIVATE)
def test_production_refuses_every_internal_address(text):
    assert not callbacks.address_allowed(ipaddress.ip_address(text), STRICT)


@pytest.mark.parametrize("text", NEVER)
def test_link_local_multicast_and_reserved_are_refused_even_for_local_receivers(text):
    assert not callbacks.address_allowed(ipaddress.ip_address(text), LOCAL)


@pytest.mark.parametrize("text", PRIVATE)
def test_local_receivers_may_use_loopback_and_private_when_allowed(text):
    assert callbacks.address_allowed(ipaddress.ip_address(text), LOCAL)


@pytest.mark.parametrize("text", GLOBAL)
def test_public_addresses_are_allowed(text):
    assert callbacks.address_allowed(ipaddress.ip_address(text), STRICT)


@pytest.fixture()
def dns(monkeypatch) -> dict[str, list[str]]:
    """name -> addresses, as the test says at each moment (unknown names do not resolve)."""
    answers: dict[str, list[str]] = {"bank.example": [PUBLIC]}

    def resolve(host: str, port: int) -> list[str]:
        if host not in answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return list(answers[host])
    monkeypatch.setattr(callbacks, "resolve_host", resolve)
    return answers


@pytest.mark.parametrize("url", [
    "https://127.0.0.1/cb", "https://10.1.2.3/cb", "https://169.254.169.254/latest/meta-data",
    "https://[::1]/cb", "https://[::ffff:127.0.0.1]/cb", "https://0x7f000001/cb",
    "https://2130706433/cb", "https://0177.0.0.1/cb", "https://127.1/cb",
    "https://[fe80::1%25eth0]/cb", "ftp://bank.example/cb", "http://bank.example/cb",
    "https://u:p@bank.example/cb", "https://bank.example:99999/cb", "https:///cb",
])
def test_registration_refuses_internal_or_malformed_urls(url):
    with pytest.raises(InvalidInput) as refused:
        callbacks.check(url, STRICT)
    assert refused.value.code == "rp.callback_url" and refused.value.field == "callback_url"


def test_every_address_of_a_name_is_checked(dns):
    dns["mixed.example"] = [PUBLIC, "10.0.0.7"]
    with pytest.raises(InvalidInput):
        callbacks.check("https://mixed.example/cb", STRICT)
    target = callbacks.check("https://bank.example:8443/vnid?x=1", STRICT)
    assert (target.host, target.port, target.address, target.path) == (
        "bank.example", 8443, PUBLIC, "/vnid?x=1")


# --- Before each send -----------------------------------------------------------------------------

@pytest.fixture()
def receiver() -> Iterator[Receiver]:
    held = Receiver(failures=0)
    yield held
    held.close()


@pytest.fixture()
def connections(monkeypatch, receiver) -> list[tuple[str, int]]:
    """Where the service connects; every connection really goes to the local receiver."""
    made: list[tuple[str, int]] = []

    def connect(address: tuple[str, int], timeout: float | None) -> socket.socket:
        made.append(address)
        return socket.create_connection(("127.0.0.1", receiver.server.server_port), timeout)
    monkeypatch.setattr(callbacks, "connect", connect)
    return made


def _owed_callback(db_session: Any, protector: Any, port: int) -> str:
    """An approved consent whose callback (to bank.example) is owed."""
    account = add_active_account(db_session, protector)
    party = RelyingPartyFactory(db_session=db_session, protector=protector,
                                name="Ngân hàng Gọi lại", scopes=["identity.consent"],
                                callback_policy=STRICT_HTTP,
                                callback_url=f"http://bank.example:{port}/vnid/consents")
    request = consents.create_consent_request(
        db_session=db_session, actor=ACTOR, party=party,
        personal_id=account.citizen.personal_id, attributes=["full_name"], purpose="eKYC",
        callback=True, lifetime=600)
    consents.decide(db_session=db_session, actor=ACTOR, account=account, consent_id=request.id,
                    approve=True, passcode=PASSCODE)
    return request.id


def test_the_send_connects_to_the_address_it_checked(db_session, protector, dns, receiver,
                                                     connections):
    consent_id = _owed_callback(db_session, protector, receiver.server.server_port)
    assert callbacks.deliver_callback(db_session=db_session, protector=protector,
                                      consent_id=consent_id, policy=STRICT_HTTP) == "delivered"
    port = receiver.server.server_port
    assert connections == [(PUBLIC, port)]
    headers, _body = receiver.calls[0]
    assert headers["host"] == f"bank.example:{port}"
    assert headers[callbacks.SIGNATURE_HEADER.lower()].startswith("sha256=")


@pytest.mark.parametrize("address", ["127.0.0.1", "10.0.0.5", "169.254.169.254", "::1",
                                     "::ffff:127.0.0.1", "fd00::5"])
def test_a_name_that_turns_internal_after_registration_gets_nothing(
        db_session, protector, dns, receiver, connections, address):
    consent_id = _owed_callback(db_session, protector, receiver.server.server_port)
    dns["bank.example"] = [address]  # DNS rebinding: public at registration, internal now
    with pytest.raises(CallbackFailed):
        callbacks.deliver_callback(db_session=db_session, protector=protector,
                                   consent_id=consent_id, policy=STRICT_HTTP)
    assert connections == [] and receiver.calls == []
    request = db_session.get(ConsentRequest, consent_id)
    assert (request.callback_state, request.callback_attempts) == ("pending", 1)


def test_one_look_up_per_send_so_a_rebinding_cannot_slip_in(
        db_session, protector, monkeypatch, receiver, connections):
    answers = iter([[PUBLIC], [PUBLIC], ["127.0.0.1"], ["127.0.0.1"]])
    lookups: list[str] = []

    def flipping(host: str, port: int) -> list[str]:
        lookups.append(host)
        return next(answers)
    monkeypatch.setattr(callbacks, "resolve_host", flipping)
    consent_id = _owed_callback(db_session, protector, receiver.server.server_port)  # look-up 1
    assert callbacks.deliver_callback(db_session=db_session, protector=protector,
                                      consent_id=consent_id, policy=STRICT_HTTP) == "delivered"
    assert lookups == ["bank.example", "bank.example"]  # registration, then this send: once
    assert [address for address, _port in connections] == [PUBLIC]


class _Redirector:
    """A callback endpoint that answers 307 towards another server."""

    def __init__(self, location: str) -> None:
        self.calls = 0
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
                self.rfile.read(int(self.headers["Content-Length"]))
                outer.calls += 1
                self.send_response(307)
                self.send_header("Location", location)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def test_a_redirect_is_a_failure_never_followed(db_session, protector, dns, monkeypatch,
                                                receiver):
    redirector = _Redirector(location=receiver.url)
    try:
        port = redirector.server.server_port

        def to_redirector(address: tuple[str, int], timeout: float | None) -> socket.socket:
            return socket.create_connection(("127.0.0.1", port), timeout)
        monkeypatch.setattr(callbacks, "connect", to_redirector)
        consent_id = _owed_callback(db_session, protector, redirector.server.server_port)
        with pytest.raises(CallbackFailed):
            callbacks.deliver_callback(db_session=db_session, protector=protector,
                                       consent_id=consent_id, policy=LOCAL)
    finally:
        redirector.server.shutdown()
        redirector.server.server_close()
    assert redirector.calls == 1 and receiver.calls == []


def _self_signed(tmp_path: Any) -> tuple[str, str]:
    """A certificate for bank.example that no authority signed, and its key (PEM files)."""
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bank.example")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1)
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("bank.example")]),
                           critical=False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_path), str(key_path)


def test_https_callbacks_verify_the_certificate_of_the_host_name(tmp_path, dns, monkeypatch):
    import ssl
    cert, key = _self_signed(tmp_path)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    server.socket = tls.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_port
    made: list[tuple[str, int]] = []

    def to_server(address: tuple[str, int], timeout: float | None) -> socket.socket:
        made.append(address)
        return socket.create_connection(("127.0.0.1", port), timeout)
    monkeypatch.setattr(callbacks, "connect", to_server)
    try:
        with pytest.raises(ssl.SSLCertVerificationError):
            callbacks.post(f"https://bank.example:{port}/cb", body=b"{}", headers={},
                           policy=STRICT, timeout=5)
    finally:
        server.shutdown()
        server.server_close()
    assert made == [(PUBLIC, port)]


@contextmanager
def _owed_to(app: Any, receiver: Receiver) -> Iterator[str]:
    """A decision whose callback is owed, committed, every send of it going to ``receiver``;
    its consent id (inside the app's context)."""
    with app.app_context():
        with Session(db.engine, expire_on_commit=False) as session:
            consent_id = _owed_callback(session, get_protector(), receiver.server.server_port)
            session.commit()

        def to_receiver(address: tuple[str, int], timeout: float | None) -> socket.socket:
            return socket.create_connection(("127.0.0.1", receiver.server.server_port), timeout)
        with patch.object(callbacks, "connect", to_receiver):
            yield consent_id


def _deliver(app: Any, consent_id: str) -> str:
    """One delivery of the decision, on a session of its own (as a job's)."""
    with app.app_context(), Session(db.engine) as own:
        return callbacks.deliver_callback(db_session=own, protector=get_protector(),
                                          consent_id=consent_id, policy=STRICT_HTTP)


def test_two_deliveries_of_one_decision_at_once_send_it_once(own_database_app, dns):
    """A retry and the sweep (or two workers) deliver the same decision at the same moment:
    one sends, the other waits for its outcome and finds it delivered."""
    app, receiver = own_database_app, Receiver(failures=0, delay=0.3)
    try:
        with _owed_to(app, receiver) as consent_id:
            def deliver(go: Callable[[], object]) -> str:
                go()
                return _deliver(app, consent_id)
            assert at_once(deliver, deliver) == ["delivered", "delivered"]
            assert len(receiver.calls) == 1
            with Session(db.engine) as session:
                request = session.get(ConsentRequest, consent_id)
                assert (request.callback_state, request.callback_attempts) == ("delivered", 1)
    finally:
        receiver.close()


@pytest.mark.skipif(not (os.environ.get("DATABASE_URL") or "").startswith("postgres"),
                    reason="SQLite's transaction holds the database's write lock for the send")
def test_a_party_that_fetches_from_its_callback_handler_is_not_kept_waiting(own_database_app,
                                                                            dns):
    """While a send is under way, the consent request's row stays free: the party's fetch
    (which locks it) from inside its handler does not wait for the send it is answering."""
    app, receiver = own_database_app, Receiver(failures=0, hold_first=True)
    try:
        with _owed_to(app, receiver) as consent_id:
            outcome: list[str] = []
            sending = threading.Thread(target=lambda: outcome.append(_deliver(app, consent_id)))
            sending.start()
            assert receiver.arrived.wait(10)
            with Session(db.engine) as session:  # what consents.fetch does first
                session.execute(sa.text("SET LOCAL lock_timeout = '2s'"))
                locked = session.scalar(sa.select(ConsentRequest).where(
                    ConsentRequest.id == consent_id).with_for_update(of=ConsentRequest))
                assert locked is not None and locked.callback_state == "pending"
                session.commit()
            receiver.release.set()
            sending.join(10)
            assert outcome == ["delivered"]
    finally:
        receiver.close()
