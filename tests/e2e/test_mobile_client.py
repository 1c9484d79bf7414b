"""The reference mobile client (``examples/mobile_client.py``).

Its pure pieces are tested in-process (encoding, device key, signature, SMS
code look-up) and against a tiny stub server (error line, refresh on 401).
The end-to-end test starts the real service in a subprocess on a fresh SQLite
database and drives the client as the phone app would.
"""
from __future__ import annotations

import importlib.util
import json
import os
import stat
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.e2e.live import CLIENT, ROOT, run_client, running_server

# The fixed walkthrough citizen that `flask demo seed` always includes.
CITIZEN = {"personal_id": "001090012345", "full_name": "Nguyễn Văn An",
           "date_of_birth": "1990-05-12", "phone": "0912345678"}
PASSWORD = "correct horse battery staple"
PASSCODE = "246810"


def _load_client() -> ModuleType:
    """Import the example script as a module (``examples/`` is not a package)."""
    spec = importlib.util.spec_from_file_location("mobile_client", CLIENT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


mc = _load_client()


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Loopback requests must not go through a proxy of the environment."""
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


# --- pure pieces --------------------------------------------------------------

@pytest.mark.parametrize("data", [b"", b"\x00", b"ab", b"abc", b"\xfb\xff", os.urandom(33)])
def test_b64url_has_no_padding_and_round_trips(data: bytes) -> None:
    text = mc.b64url_encode(data)
    assert "=" not in text and "+" not in text and "/" not in text
    assert mc.b64url_decode(text) == data


def test_b64url_uses_the_url_alphabet() -> None:
    assert mc.b64url_encode(b"\xfb\xff") == "-_8"


def test_device_is_created_once_with_a_private_key_file(tmp_path: Path) -> None:
    home = tmp_path / "home"
    device = mc.load_or_create_device(home)
    key_file = home / "device-key.pem"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert key_file.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")  # PKCS8
    assert uuid.UUID(device.device_id).version == 4
    again = mc.load_or_create_device(home)
    assert again.device_id == device.device_id
    assert again.public_key_b64 == device.public_key_b64
    assert isinstance(device.key.curve, ec.SECP256R1)
    assert device.device_id != mc.load_or_create_device(tmp_path / "other").device_id


def test_public_key_is_der_subject_public_key_info(tmp_path: Path) -> None:
    device = mc.load_or_create_device(tmp_path)
    public = serialization.load_der_public_key(mc.b64url_decode(device.public_key_b64))
    assert isinstance(public, ec.EllipticCurvePublicKey)
    assert public.public_numbers() == device.key.public_key().public_numbers()


def test_nonce_signature_verifies_with_the_public_key(tmp_path: Path) -> None:
    device = mc.load_or_create_device(tmp_path)
    nonce = os.urandom(32)
    signature = mc.sign_nonce(device.key, mc.b64url_encode(nonce))
    assert "=" not in signature
    public = serialization.load_der_public_key(mc.b64url_decode(device.public_key_b64))
    assert isinstance(public, ec.EllipticCurvePublicKey)
    public.verify(mc.b64url_decode(signature), nonce, ec.ECDSA(hashes.SHA256()))
    with pytest.raises(InvalidSignature):
        public.verify(mc.b64url_decode(signature), nonce + b"x", ec.ECDSA(hashes.SHA256()))


def test_a_key_file_that_is_not_p256_is_refused(tmp_path: Path) -> None:
    other = ec.generate_private_key(ec.SECP384R1())
    (tmp_path / "device-key.pem").write_bytes(other.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    with pytest.raises(mc.ClientError, match="P-256"):
        mc.load_or_create_device(tmp_path)


def test_session_file_is_private(tmp_path: Path) -> None:
    mc.save_session(tmp_path, "001090012345", {"access_token": "a", "refresh_token": "r",
                                               "expires_in": 900})
    path = tmp_path / "session.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert mc.load_session(tmp_path) == {"personal_id": "001090012345",
                                         "access_token": "a", "refresh_token": "r"}


def test_sms_code_is_the_newest_message_to_that_phone() -> None:
    messages = [
        {"phone": "0987654321", "text": "VNID: your code is 111111", "sent_at": "3"},
        {"phone": "0912 345 678", "text": "VNID code 222222, valid 5 min", "sent_at": "2"},
        {"phone": "0912345678", "text": "VNID code 333333", "sent_at": "1"},
    ]
    assert mc.find_sms_code(messages, "0912345678") == "222222"
    assert mc.find_sms_code(messages, "+84 912 345 678") == "222222"
    assert mc.find_sms_code(messages, "0900000000") is None
    assert mc.find_sms_code([], "0912345678") is None


def test_help_works() -> None:
    result = subprocess.run([sys.executable, str(CLIENT), "--help"], capture_output=True,
                            text=True, timeout=60, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    for command in ("register", "login", "me", "refresh", "logout"):
        assert command in result.stdout


# --- against a stub server ----------------------------------------------------

Route = Callable[[dict[str, str]], tuple[int, Any]]


class _StubHandler(BaseHTTPRequestHandler):
    """Answers from ``server.routes[(method, path)]``; records each request and JSON body."""

    server: Any

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.server.bodies[self.path] = json.loads(self.rfile.read(length))
        self.server.seen.append((self.command, self.path, self.headers.get("Authorization")))
        route = self.server.routes.get((self.command, self.path))
        status, body = route(dict(self.headers)) if route else (
            404, {"status": 404, "code": "not_found", "message": "Not found.", "errors": {}})
        raw = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    do_GET = do_POST = _answer

    def log_message(self, format: str, *args: Any) -> None:
        """Keep the test output quiet."""


@pytest.fixture()
def stub() -> Iterator[Any]:
    """A local HTTP server with settable routes; ``stub.url`` is its base URL."""
    server: Any = ThreadingHTTPServer(("127.0.0.1", 0), _StubHandler)
    server.routes, server.seen, server.bodies = {}, [], {}
    server.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _error(status: int, code: str, message: str) -> tuple[int, Any]:
    return status, {"status": status, "code": code, "message": message, "errors": {}}


def test_error_answer_is_printed_as_one_line_and_exits_1(
        stub: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stub.routes[("POST", "/api/v1/auth/challenge")] = lambda h: _error(
        401, "auth.failed", "Wrong personal id, password or device.")
    code = mc.main(["--server", stub.url, "--home", str(tmp_path), "login",
                    "--personal-id", "001090012345", "--password", PASSWORD])
    out, err = capsys.readouterr()
    assert code == 1 and out == ""
    assert err.strip() == "error 401 auth.failed: Wrong personal id, password or device."


def test_me_refreshes_once_on_401_and_saves_the_new_tokens(
        stub: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    mc.save_session(tmp_path, "001090012345", {"access_token": "old-a", "refresh_token": "old-r"})

    def me(headers: dict[str, str]) -> tuple[int, Any]:
        if headers.get("Authorization") == "Bearer new-a":
            return 200, {"full_name": "Nguyễn Văn An", "level": 1}
        return _error(401, "auth.token_expired", "The access token has expired.")

    stub.routes[("GET", "/api/v1/me")] = me
    stub.routes[("POST", "/api/v1/auth/refresh")] = lambda h: (
        200, {"access_token": "new-a", "refresh_token": "new-r", "expires_in": 900})
    assert mc.main(["--server", stub.url, "--home", str(tmp_path), "me"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out) == {"full_name": "Nguyễn Văn An", "level": 1}
    assert "new-a" not in out + err and "new-r" not in out + err
    assert stub.seen == [("GET", "/api/v1/me", "Bearer old-a"),
                         ("POST", "/api/v1/auth/refresh", "Bearer old-r"),
                         ("GET", "/api/v1/me", "Bearer new-a")]
    assert mc.load_session(tmp_path)["refresh_token"] == "new-r"


def test_register_reads_the_code_from_the_dev_outbox(
        stub: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stub.routes[("POST", "/api/v1/accounts/registrations")] = lambda h: (
        202, {"registration_id": "r/1", "phone_masked": "091****678"})
    stub.routes[("GET", "/api/v1/dev/sms-outbox")] = lambda h: (200, {"messages": [
        {"phone": "0912345678", "text": "VNID: 135790 is your code", "sent_at": "2"},
        {"phone": "0912345678", "text": "VNID: 000000 is your code", "sent_at": "1"}]})
    stub.routes[("POST", "/api/v1/accounts/registrations/r%2F1/confirm")] = lambda h: (
        201, {"account_id": "a1", "level": 1, "status": "active"})
    code = mc.main(["--server", stub.url, "--home", str(tmp_path), "register",
                    *(f"--{k.replace('_', '-')}={v}" for k, v in CITIZEN.items()),
                    "--password", PASSWORD, "--passcode", PASSCODE])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert json.loads(out) == {"account_id": "a1", "level": 1, "status": "active"}
    device = mc.load_or_create_device(tmp_path)
    assert stub.bodies["/api/v1/accounts/registrations"] == {
        **CITIZEN, "device_id": device.device_id, "device_public_key": device.public_key_b64}
    assert stub.bodies["/api/v1/accounts/registrations/r%2F1/confirm"] == {
        "otp": "135790", "password": PASSWORD, "passcode": PASSCODE}
    assert PASSWORD not in out + err and PASSCODE not in out + err


def test_register_without_an_outbox_asks_for_the_code(
        stub: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    stub.routes[("POST", "/api/v1/accounts/registrations")] = lambda h: (
        202, {"registration_id": "r1", "phone_masked": "091****678"})
    stub.routes[("POST", "/api/v1/accounts/registrations/r1/confirm")] = lambda h: _error(
        400, "otp.invalid", "The code is wrong or has expired.")
    monkeypatch.setattr("builtins.input", lambda prompt: "123456")
    code = mc.main(["--server", stub.url, "--home", str(tmp_path), "register",
                    *(f"--{k.replace('_', '-')}={v}" for k, v in CITIZEN.items()),
                    "--password", PASSWORD, "--passcode", PASSCODE])
    err = capsys.readouterr().err
    assert code == 1
    assert "sent by SMS to 091****678" in err
    assert err.splitlines()[-1] == "error 400 otp.invalid: The code is wrong or has expired."
    assert stub.bodies["/api/v1/accounts/registrations/r1/confirm"]["otp"] == "123456"


def test_secrets_come_from_the_environment_when_not_given(
        stub: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A walkthrough runs without prompts: VNID_PASSWORD, VNID_PASSCODE; options still win."""
    stub.routes[("POST", "/api/v1/accounts/registrations")] = lambda h: (
        202, {"registration_id": "r1", "phone_masked": "091****678"})
    stub.routes[("GET", "/api/v1/dev/sms-outbox")] = lambda h: (200, {"messages": [
        {"phone": "0912345678", "text": "VNID: 135790 is your code", "sent_at": "1"}]})
    stub.routes[("POST", "/api/v1/accounts/registrations/r1/confirm")] = lambda h: (
        201, {"account_id": "a1", "level": 1, "status": "active"})
    monkeypatch.setenv("VNID_PASSWORD", PASSWORD)
    monkeypatch.setenv("VNID_PASSCODE", PASSCODE)
    monkeypatch.setattr("getpass.getpass", lambda prompt: pytest.fail(f"asked: {prompt}"))
    args = ["--server", stub.url, "--home", str(tmp_path), "register",
            *(f"--{k.replace('_', '-')}={v}" for k, v in CITIZEN.items())]
    assert mc.main(args) == 0
    assert stub.bodies["/api/v1/accounts/registrations/r1/confirm"] == {
        "otp": "135790", "password": PASSWORD, "passcode": PASSCODE}
    assert mc.main([*args, "--passcode", "975310"]) == 0
    assert stub.bodies["/api/v1/accounts/registrations/r1/confirm"]["passcode"] == "975310"


def test_the_server_comes_from_vnid_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VNID_SERVER", raising=False)
    monkeypatch.setenv("VNID_URL", "http://127.0.0.1:5001")
    assert mc.build_parser().parse_args(["me"]).server == "http://127.0.0.1:5001"
    monkeypatch.delenv("VNID_URL")
    assert mc.build_parser().parse_args(["me"]).server == "http://127.0.0.1:5000"


def test_me_without_a_session_says_so(tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    assert mc.main(["--server", "http://127.0.0.1:9", "--home", str(tmp_path), "me"]) == 1
    assert "not logged in" in capsys.readouterr().err


# --- end to end, against the real service -------------------------------------

@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """The service on a free port, migrated and seeded; yields its URL and a scratch folder."""
    with running_server(tmp_path_factory.mktemp("e2e")) as server:
        yield server.url, server.tmp


def _run_client(url: str, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_client(url, home, *args)


def _tokens(home: Path) -> list[str]:
    session = json.loads((home / "session.json").read_text(encoding="utf-8"))
    return [session["access_token"], session["refresh_token"]]


@pytest.mark.slow
def test_register_login_me_on_a_live_server(live_server: tuple[str, Path]) -> None:
    url, tmp = live_server
    phone_home, other_home = tmp / "phone", tmp / "other-phone"
    outputs: list[str] = []

    def ok(home: Path, *args: str) -> str:
        result = _run_client(url, home, *args)
        outputs.append(result.stdout + result.stderr)
        assert result.returncode == 0, f"{args[0]}: {result.stderr}\nserver log:\n" + (
            (tmp / "server.log").read_text(errors="replace")[-4000:])
        return result.stdout

    account = json.loads(ok(phone_home, "register", "--personal-id", CITIZEN["personal_id"],
                            "--full-name", CITIZEN["full_name"],
                            "--date-of-birth", CITIZEN["date_of_birth"],
                            "--phone", CITIZEN["phone"],
                            "--password", PASSWORD, "--passcode", PASSCODE))
    assert account["level"] == 1 and account["status"] == "active"
    assert stat.S_IMODE((phone_home / "device-key.pem").stat().st_mode) == 0o600

    assert ok(phone_home, "login", "--personal-id", CITIZEN["personal_id"],
              "--password", PASSWORD).strip() == "logged in"
    assert stat.S_IMODE((phone_home / "session.json").stat().st_mode) == 0o600
    secrets = [PASSWORD, PASSCODE, *_tokens(phone_home)]

    me = ok(phone_home, "me")
    assert CITIZEN["full_name"] in me
    assert '"level": 1' in me and '"status": "active"' in me
    assert json.loads(me)["personal_id"] == CITIZEN["personal_id"]

    # Another phone (a new key and device id) cannot log in: the account is bound to the first.
    other = _run_client(url, other_home, "login", "--personal-id", CITIZEN["personal_id"],
                        "--password", PASSWORD)
    outputs.append(other.stdout + other.stderr)
    assert other.returncode == 1, other.stdout
    assert other.stderr.startswith("error 401 "), other.stderr

    assert ok(phone_home, "refresh").strip() == "refreshed"
    secrets += _tokens(phone_home)
    assert ok(phone_home, "logout").strip() == "logged out"
    assert not (phone_home / "session.json").exists()

    for output in outputs:
        for secret in secrets:
            assert secret not in output
