#!/usr/bin/env python3
"""A reference command-line mobile client: what the citizen's phone app does.

It registers a citizen, binds this "phone" (a P-256 device key kept in a state
directory) to the account, logs in by signing the server's challenge with that
key, and reads the account. Only the standard library and ``cryptography``:
run it with the repository's ``.venv/bin/python`` (``make install``).

    C=".venv/bin/python examples/mobile_client.py --home /tmp/my-phone"
    $C register --personal-id 001090012345 \\
        --full-name "Nguyễn Văn An" --date-of-birth 1990-05-12 --phone 0912345678
    $C login --personal-id 001090012345
    $C me
    $C logout

The server is ``--server URL`` (or ``$VNID_URL``, default
http://127.0.0.1:5000; ``$VNID_SERVER`` is read too); the state directory is
``--home DIR`` (or ``$VNID_CLIENT_HOME``, default ``~/.vnid-client``: one
phone, so give every person of a walkthrough a directory of their own) and
holds:

- ``device-key.pem``: the device's private key (PKCS8 PEM, mode 0600);
- ``device.json``: the device id, a random UUID made once;
- ``session.json``: the personal id and the tokens of the last login (mode 0600).

The password and the passcode come from ``--password`` / ``--passcode``,
else from ``$VNID_PASSWORD`` / ``$VNID_PASSCODE``, else they are asked for
without echo. Tokens, passwords and passcodes are never printed. Every error
answer of the server is printed as ``error <status> <code>: <message>`` and
exits with 1.
"""
from __future__ import annotations

import argparse
import base64
import datetime
import getpass
import json
import os
import re
import sys
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

try:
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
except ImportError:  # before anything is sent: a half-done registration helps nobody
    sys.exit("error: this client needs the 'cryptography' package; run it with the "
             "repository's .venv/bin/python (make install)")

DEFAULT_SERVER = "http://127.0.0.1:5000"
PASSWORD_HELP = "password (default: $VNID_PASSWORD, else asked)"
PASSCODE_HELP = "6-digit passcode (default: $VNID_PASSCODE, else asked)"
DEFAULT_HOME = "~/.vnid-client"
KEY_FILE = "device-key.pem"
DEVICE_FILE = "device.json"
SESSION_FILE = "session.json"
#: Anonymous reports' keys (case number -> reporter key): only the phone holds them.
REPORT_KEYS_FILE = "report-keys.json"
TIMEOUT_SECONDS = 30


class ClientError(Exception):
    """A problem on this side: no session, unreachable server, unusable key file."""


class ApiError(Exception):
    """An error answer of the server, from its uniform body ``{status, code, message, errors}``."""

    def __init__(self, status: int, code: str, message: str,
                 errors: dict[str, Any] | None = None) -> None:
        super().__init__(f"error {status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors or {}


# --- encoding ---------------------------------------------------------------

def b64url_encode(data: bytes) -> str:
    """Base64url without padding, the encoding of every binary value in the API."""
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def b64url_decode(text: str) -> bytes:
    """Decode base64url, with or without its padding."""
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# --- the device -------------------------------------------------------------

@dataclass(frozen=True)
class Device:
    """This phone: its id and the private key bound to the account at registration."""

    device_id: str
    key: ec.EllipticCurvePrivateKey = field(repr=False)

    @property
    def public_key_b64(self) -> str:
        """The public key as DER SubjectPublicKeyInfo, base64url: what the server stores."""
        der = self.key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        return b64url_encode(der)


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` readable by the owner only (0600), replacing it atomically."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        os.fchmod(fh.fileno(), 0o600)  # in case a stale .tmp existed with other bits
        fh.write(data)
    os.replace(tmp, path)


def load_or_create_device(home: Path) -> Device:
    """The device of state directory ``home``: its key and id, made on first use."""
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    key_path = home / KEY_FILE
    if key_path.exists():
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        if not (isinstance(key, ec.EllipticCurvePrivateKey)
                and isinstance(key.curve, ec.SECP256R1)):
            raise ClientError(f"{key_path} does not hold a P-256 private key")
    else:
        key = ec.generate_private_key(ec.SECP256R1())
        write_private(key_path, key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()))
    device_path = home / DEVICE_FILE
    if device_path.exists():
        device_id = json.loads(device_path.read_text(encoding="utf-8"))["device_id"]
    else:
        device_id = str(uuid.uuid4())
        device_path.write_text(json.dumps({"device_id": device_id}) + "\n", encoding="utf-8")
    return Device(device_id=device_id, key=key)


def sign_nonce(key: ec.EllipticCurvePrivateKey, nonce_b64: str) -> str:
    """Prove possession of the device key: ECDSA P-256 SHA-256 (DER) over the nonce's bytes."""
    signature = key.sign(b64url_decode(nonce_b64), ec.ECDSA(hashes.SHA256()))
    return b64url_encode(signature)


# --- the session ------------------------------------------------------------

def save_session(home: Path, personal_id: str, tokens: dict[str, Any]) -> None:
    """Keep the tokens of a login or refresh in ``session.json`` (mode 0600)."""
    session = {"personal_id": personal_id,
               "access_token": tokens["access_token"],
               "refresh_token": tokens["refresh_token"]}
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    write_private(home / SESSION_FILE, json.dumps(session).encode("utf-8"))


def load_session(home: Path) -> dict[str, str]:
    """The saved session, or :class:`ClientError` when there is none."""
    path = home / SESSION_FILE
    if not path.exists():
        raise ClientError("not logged in: run the login command first")
    session: dict[str, str] = json.loads(path.read_text(encoding="utf-8"))
    return session


# --- SMS codes in development -------------------------------------------------

def normalise_phone(phone: str) -> str:
    """Compare phone numbers without spaces, dots or dashes, and +84 written as 0."""
    digits = re.sub(r"[\s.\-]", "", phone)
    return "0" + digits[3:] if digits.startswith("+84") else digits


def find_sms_code(messages: list[dict[str, Any]], phone: str) -> str | None:
    """The 6-digit code of the newest message sent to ``phone`` (messages come newest first)."""
    wanted = normalise_phone(phone)
    for message in messages:
        if normalise_phone(str(message.get("phone", ""))) == wanted:
            codes = re.findall(r"(?<!\d)\d{6}(?!\d)", str(message.get("text", "")))
            return codes[0] if codes else None
    return None


# --- the HTTP client --------------------------------------------------------

class Client:
    """The API calls of the mobile app, one method each; errors raise :class:`ApiError`."""

    def __init__(self, server: str = DEFAULT_SERVER) -> None:
        self.server = server.rstrip("/")
        # An opener of our own honours the proxy settings of the environment as it is now.
        self._opener = urllib.request.build_opener()

    def request(self, method: str, path: str, body: dict[str, Any] | None = None,
                token: str | None = None, extra_headers: dict[str, str] | None = None) -> Any:
        """Send one JSON request; return the decoded answer (None when it has no body)."""
        headers = {"Accept": "application/json", **(extra_headers or {})}
        data = None
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        req = urllib.request.Request(self.server + path, data=data, headers=headers,
                                     method=method)
        try:
            with self._opener.open(req, timeout=TIMEOUT_SECONDS) as response:
                raw = response.read()
        except urllib.error.HTTPError as error:
            with error:
                raise _api_error(error.code, error.reason, error.read()) from None
        except urllib.error.URLError as error:
            raise ClientError(f"cannot reach {self.server}: {error.reason}") from None
        return json.loads(raw) if raw else None

    def start_registration(self, *, personal_id: str, full_name: str, date_of_birth: str,
                           phone: str, device: Device) -> dict[str, Any]:
        """Ask for an account; the server sends a one-time code to the phone."""
        return self.request("POST", "/api/v1/accounts/registrations", {
            "personal_id": personal_id, "full_name": full_name,
            "date_of_birth": date_of_birth, "phone": phone,
            "device_id": device.device_id, "device_public_key": device.public_key_b64})

    def confirm_registration(self, *, registration_id: str, otp: str, password: str,
                             passcode: str) -> dict[str, Any]:
        """Confirm the registration with the SMS code; choose the password and passcode."""
        path = ("/api/v1/accounts/registrations/"
                f"{urllib.parse.quote(registration_id, safe='')}/confirm")
        return self.request("POST", path, {"otp": otp, "password": password,
                                           "passcode": passcode})

    def login(self, *, personal_id: str, password: str, device: Device) -> dict[str, Any]:
        """Ask for a challenge, sign its nonce with the device key, and log in."""
        challenge = self.request("POST", "/api/v1/auth/challenge",
                                 {"personal_id": personal_id, "device_id": device.device_id})
        return self.request("POST", "/api/v1/auth/login", {
            "personal_id": personal_id, "password": password, "device_id": device.device_id,
            "challenge_id": challenge["challenge_id"],
            "signature": sign_nonce(device.key, challenge["nonce"])})

    def refresh(self, refresh_token: str) -> dict[str, Any]:
        """New tokens for a refresh token."""
        return self.request("POST", "/api/v1/auth/refresh", token=refresh_token)

    def logout(self, access_token: str) -> None:
        """End the session of this access token."""
        self.request("POST", "/api/v1/auth/logout", token=access_token)

    def me(self, access_token: str) -> dict[str, Any]:
        """The account and citizen of this access token."""
        return self.request("GET", "/api/v1/me", token=access_token)

    def download(self, path: str, access_token: str) -> bytes:
        """GET a binary answer (an image) with the access token."""
        req = urllib.request.Request(self.server + path, method="GET",
                                     headers={"Authorization": f"Bearer {access_token}"})
        try:
            with self._opener.open(req, timeout=TIMEOUT_SECONDS) as response:
                return bytes(response.read())
        except urllib.error.HTTPError as error:
            with error:
                raise _api_error(error.code, error.reason, error.read()) from None
        except urllib.error.URLError as error:
            raise ClientError(f"cannot reach {self.server}: {error.reason}") from None

    def issue_credential(self, access_token: str, *, credential_type: str, passcode: str,
                         audience: str | None = None,
                         nonce: str | None = None) -> dict[str, Any]:
        """A signed VN1 credential (its ``qr`` text), confirmed with the passcode."""
        body: dict[str, Any] = {"type": credential_type, "passcode": passcode}
        body.update({k: v for k, v in (("audience", audience), ("nonce", nonce)) if v})
        return self.request("POST", "/api/v1/credentials", body, token=access_token)

    def sms_outbox(self) -> list[dict[str, Any]]:
        """The SMS messages the server has sent, newest first (development servers only)."""
        return self.request("GET", "/api/v1/dev/sms-outbox")["messages"]

    # Residence declarations (tạm trú): the declarant's form and the host's answer.

    def declare_stay(self, access_token: str, *, commune_code: str, address: str,
                     start_date: str, end_date: str, reason: str,
                     host_personal_id: str) -> dict[str, Any]:
        """Declare a temporary stay; the host's personal id travels in the body only."""
        return self.request("POST", "/api/v1/residence/stays", {
            "commune_code": commune_code, "address": address, "start_date": start_date,
            "end_date": end_date, "reason": reason, "host_personal_id": host_personal_id},
            token=access_token)

    def stays(self, access_token: str) -> dict[str, Any]:
        """The citizen's temporary stays, newest first (first page)."""
        return self.request("GET", "/api/v1/residence/stays?per_page=100", token=access_token)

    def host_confirmations(self, access_token: str) -> dict[str, Any]:
        """The stays that name this citizen as host and wait for their answer."""
        return self.request("GET", "/api/v1/residence/host-confirmations?per_page=100",
                            token=access_token)

    def answer_as_host(self, access_token: str, *, stay_id: int, confirm: bool,
                       passcode: str) -> dict[str, Any]:
        """Confirm or refuse a stay as its host, with the passcode."""
        return self.request("POST", f"/api/v1/residence/host-confirmations/{int(stay_id)}",
                            {"decision": "confirm" if confirm else "refuse",
                             "passcode": passcode}, token=access_token)


def _api_error(status: int, reason: str, raw: bytes) -> ApiError:
    """An :class:`ApiError` from an error answer, uniform body or not (e.g. from a proxy)."""
    try:
        body = json.loads(raw)
        return ApiError(int(body["status"]), str(body["code"]), str(body["message"]),
                        body.get("errors"))
    except (ValueError, KeyError, TypeError):
        return ApiError(status, "http.error", reason or "unexpected answer")


# --- commands ---------------------------------------------------------------

def _secret(value: str | None, variable: str, prompt: str) -> str:
    """A secret from its option, else from the environment variable, else asked without echo."""
    if value is not None:
        return value
    return os.environ.get(variable) or getpass.getpass(prompt)


def _password(value: str | None) -> str:
    """The password: ``--password``, else ``$VNID_PASSWORD``, else asked."""
    return _secret(value, "VNID_PASSWORD", "Password: ")


def _passcode(value: str | None) -> str:
    """The 6-digit passcode: ``--passcode``, else ``$VNID_PASSCODE``, else asked."""
    return _secret(value, "VNID_PASSCODE", "Passcode (6 digits): ")


def _sms_code(client: Client, phone: str, phone_masked: str) -> str:
    """The one-time code: from a development server's SMS outbox, else typed by the user."""
    try:
        code = find_sms_code(client.sms_outbox(), phone)
    except (ApiError, ClientError, KeyError, TypeError):
        code = None  # no outbox: a production server sends real SMS
    if code is not None:
        return code
    print(f"A code was sent by SMS to {phone_masked}.", file=sys.stderr)
    try:
        return input("SMS code: ").strip()
    except EOFError:
        raise ClientError("no SMS code given") from None


def cmd_register(client: Client, home: Path, args: argparse.Namespace) -> None:
    """Register, confirm with the SMS code, and print the new account."""
    device = load_or_create_device(home)
    started = client.start_registration(
        personal_id=args.personal_id, full_name=args.full_name,
        date_of_birth=args.date_of_birth, phone=args.phone, device=device)
    otp = args.otp or _sms_code(client, args.phone, started.get("phone_masked", "your phone"))
    password = _password(args.password)
    passcode = _passcode(args.passcode)
    account = client.confirm_registration(registration_id=started["registration_id"],
                                          otp=otp, password=password, passcode=passcode)
    print(json.dumps(account, indent=2, ensure_ascii=False))


def cmd_login(client: Client, home: Path, args: argparse.Namespace) -> None:
    """Log in with password and device key; keep the tokens."""
    device = load_or_create_device(home)
    password = _password(args.password)
    tokens = client.login(personal_id=args.personal_id, password=password, device=device)
    save_session(home, args.personal_id, tokens)
    print("logged in")


def cmd_me(client: Client, home: Path, args: argparse.Namespace) -> None:
    """Print the account, refreshing the tokens once if the access token has expired."""
    session = load_session(home)
    try:
        me = client.me(session["access_token"])
    except ApiError as error:
        if error.status != 401:
            raise
        tokens = client.refresh(session["refresh_token"])
        save_session(home, session["personal_id"], tokens)
        me = client.me(tokens["access_token"])
    print(json.dumps(me, indent=2, ensure_ascii=False))


def cmd_refresh(client: Client, home: Path, args: argparse.Namespace) -> None:
    """Exchange the refresh token for new tokens."""
    session = load_session(home)
    save_session(home, session["personal_id"], client.refresh(session["refresh_token"]))
    print("refreshed")


def cmd_logout(client: Client, home: Path, args: argparse.Namespace) -> None:
    """End the session on the server, then forget it here."""
    session = load_session(home)
    try:
        client.logout(session["access_token"])
    except ApiError as error:
        if error.status != 401:  # 401: the server has already ended it
            raise
    (home / SESSION_FILE).unlink()
    print("logged out")


# --- residence commands (tạm trú) ----------------------------------------------

def _with_session(client: Client, home: Path, call: Any) -> Any:
    """``call(access_token)``, refreshing the tokens once if the access token has expired."""
    session = load_session(home)
    try:
        return call(session["access_token"])
    except ApiError as error:
        if error.status != 401 or error.code == "passcode.wrong":
            raise
    tokens = client.refresh(session["refresh_token"])
    save_session(home, session["personal_id"], tokens)
    return call(tokens["access_token"])


def _print(data: Any) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False))


def cmd_stay_declare(client: Client, home: Path, args: argparse.Namespace) -> None:
    """Declare a temporary stay and print it (with its status and deadline)."""
    _print(_with_session(client, home, lambda token: client.declare_stay(
        token, commune_code=args.commune, address=args.address, start_date=args.start,
        end_date=args.end, reason=args.reason, host_personal_id=args.host_personal_id)))


def cmd_stays(client: Client, home: Path, args: argparse.Namespace) -> None:
    """Print the citizen's temporary stays."""
    _print(_with_session(client, home, client.stays))


def cmd_host_confirmations(client: Client, home: Path, args: argparse.Namespace) -> None:
    """Print the stays waiting for this citizen's answer as host."""
    _print(_with_session(client, home, client.host_confirmations))


def cmd_host_confirm(client: Client, home: Path, args: argparse.Namespace) -> None:
    """Confirm (or, with --refuse, refuse) a stay as its host, with the passcode."""
    passcode = _passcode(args.passcode)
    _print(_with_session(client, home, lambda token: client.answer_as_host(
        token, stay_id=args.stay_id, confirm=not args.refuse, passcode=passcode)))


def add_residence_commands(commands: Any) -> None:
    """The residence subcommands of the command line."""
    declare = commands.add_parser("stay-declare", help="declare a temporary stay (tạm trú)")
    declare.add_argument("--commune", required=True, help="5-digit commune code of the place")
    declare.add_argument("--address", required=True)
    declare.add_argument("--start", required=True, metavar="YYYY-MM-DD")
    declare.add_argument("--end", required=True, metavar="YYYY-MM-DD",
                         help="at most 2 years after the start")
    declare.add_argument("--reason", required=True)
    declare.add_argument("--host-personal-id", required=True,
                         help="the owner or host of the place (your own id if you own it)")
    declare.set_defaults(run=cmd_stay_declare)
    commands.add_parser("stays", help="list your temporary stays").set_defaults(run=cmd_stays)
    commands.add_parser("host-confirmations", help="stays waiting for your answer as host"
                        ).set_defaults(run=cmd_host_confirmations)
    confirm = commands.add_parser("host-confirm", help="confirm a stay as its host")
    confirm.add_argument("--stay-id", required=True, type=int)
    confirm.add_argument("--refuse", action="store_true", help="refuse instead of confirming")
    confirm.add_argument("--passcode", help=PASSCODE_HELP)
    confirm.set_defaults(run=cmd_host_confirm)


# --- incident report commands (tố giác tội phạm) ---------------------------------

def _report_path(case_number: str, suffix: str = "") -> str:
    return f"/api/v1/reports/{urllib.parse.quote(case_number, safe='')}{suffix}"


def _report_keys(home: Path) -> dict[str, str]:
    """The anonymous reports' keys this phone holds (none on the server)."""
    path = home / REPORT_KEYS_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def _key_header(home: Path, case_number: str) -> dict[str, str]:
    """The X-Reporter-Key header of an anonymous case this phone filed (else nothing)."""
    key = _report_keys(home).get(case_number)
    return {"X-Reporter-Key": key} if key else {}


def cmd_report_file(client: Client, home: Path, args: argparse.Namespace) -> None:
    """File a report and print its case number, status and unit (anonymous with --anonymous)."""
    when = args.when or datetime.datetime.now(datetime.timezone.utc).isoformat(
        timespec="seconds")
    body: dict[str, Any] = {"category": args.category, "description": args.description,
                            "occurred_at": when, "anonymous": args.anonymous,
                            "scam_phones": args.scam_phone or [],
                            "scam_links": args.scam_link or []}
    if args.location_unknown:
        body["location_unknown"] = True
    else:
        body.update(commune_code=args.commune, address=args.address)
    filed = _with_session(client, home, lambda token: client.request(
        "POST", "/api/v1/reports", body, token=token))
    if filed.get("reporter_key"):  # the only way back to an anonymous case: kept on the phone
        keys = _report_keys(home) | {filed["case_number"]: filed["reporter_key"]}
        write_private(home / REPORT_KEYS_FILE, json.dumps(keys).encode("utf-8"))
    _print({key: filed[key] for key in ("case_number", "status", "anonymous", "province_code",
                                        "commune_code", "indicators")})


def cmd_reports(client: Client, home: Path, args: argparse.Namespace) -> None:
    """Print the citizen's own named reports, then the anonymous ones this phone holds."""
    _print(_with_session(client, home, lambda token: client.request(
        "GET", "/api/v1/reports", token=token)))
    if _report_keys(home):
        _print({"anonymous_on_this_phone": sorted(_report_keys(home))})


def print_timeline(report: dict[str, Any]) -> None:
    """The case as the citizen reads it: status, then one line per event of its timeline."""
    print(f"{report['case_number']}  {report['category']}  status: {report['status']}")
    if report.get("resolution"):
        print(f"  outcome: {report['resolution']}")
    for event in report["timeline"]:
        who = event.get("by") or "you"
        line = f"  {event['at']}  {event['action']:<12} {event['status']:<13} {who}"
        print(line + (f": {event['text']}" if event.get("text") else ""))


def cmd_report(client: Client, home: Path, args: argparse.Namespace) -> None:
    """Print one case and its timeline (status changes, questions, answers)."""
    report = _with_session(client, home, lambda token: client.request(
        "GET", _report_path(args.case_number), token=token,
        extra_headers=_key_header(home, args.case_number)))
    if args.json:
        _print(report)
    else:
        print_timeline(report)


def cmd_report_answer(client: Client, home: Path, args: argparse.Namespace) -> None:
    """Answer the officers' question (or write to them) and print the timeline."""
    print_timeline(_with_session(client, home, lambda token: client.request(
        "POST", _report_path(args.case_number, "/messages"), {"text": args.text},
        token=token, extra_headers=_key_header(home, args.case_number))))


def add_report_commands(commands: Any) -> None:
    """The incident report subcommands of the command line."""
    file = commands.add_parser("report-file", help="file an incident report (tố giác)")
    file.add_argument("--category", required=True,
                      choices=["crime", "fraud", "fire_hazard", "traffic", "environment",
                               "other"])
    file.add_argument("--description", required=True)
    file.add_argument("--commune", help="5-digit commune code of where it happened")
    file.add_argument("--address", help="where it happened")
    file.add_argument("--location-unknown", action="store_true",
                      help="the place is not known (an online or phone scam)")
    file.add_argument("--when", help="when it happened, ISO 8601 (default: now)")
    file.add_argument("--scam-phone", action="append", help="a scammer's phone (repeatable)")
    file.add_argument("--scam-link", action="append", help="a scam web link (repeatable)")
    file.add_argument("--anonymous", action="store_true",
                      help="no officer will see who you are; you still follow the case")
    file.set_defaults(run=cmd_report_file)
    commands.add_parser("reports", help="list your reports").set_defaults(run=cmd_reports)
    show = commands.add_parser("report", help="show a report and its timeline")
    show.add_argument("case_number")
    show.add_argument("--json", action="store_true", help="print the whole answer")
    show.set_defaults(run=cmd_report)
    answer = commands.add_parser("report-answer", help="answer the officers of a report")
    answer.add_argument("case_number")
    answer.add_argument("--text", required=True)
    answer.set_defaults(run=cmd_report_answer)


def cmd_credential(client: Client, home: Path, args: argparse.Namespace) -> None:
    """Issue a credential, save its QR image and print its text.

    A real app draws the QR from the ``qr`` text itself (alphanumeric mode,
    error correction M); this client has only the standard library, so it
    saves the server's rendering instead.
    """
    session = load_session(home)
    passcode = _passcode(args.passcode)
    issued = client.issue_credential(session["access_token"], credential_type=args.type,
                                     passcode=passcode, audience=args.audience,
                                     nonce=args.nonce)
    image = client.download(f"/api/v1/credentials/{issued['credential_id']}/qr.png",
                            session["access_token"])
    out = Path(args.out) if args.out else home / f"credential-{args.type}.png"
    out.write_bytes(image)
    print(json.dumps({**issued, "image": str(out)}, indent=2, ensure_ascii=False))


# --- consent and data sharing (relying parties) -----------------------------------

def cmd_consents(client: Client, home: Path, args: argparse.Namespace) -> None:
    """Print the consent requests of banks, telcos and hotels: who, what, why, status."""
    query = "?status=pending" if args.pending else ""
    _print(_with_session(client, home, lambda token: client.request(
        "GET", f"/api/v1/me/consent-requests{query}", token=token)))


def cmd_consent_decide(client: Client, home: Path, args: argparse.Namespace) -> None:
    """Approve (or, with --refuse, refuse) a consent request, with the passcode."""
    passcode = _passcode(args.passcode)
    _print(_with_session(client, home, lambda token: client.request(
        "POST", f"/api/v1/me/consent-requests/{args.consent_id}/decision",
        {"approve": not args.refuse, "passcode": passcode}, token=token)))


def cmd_data_sharing(client: Client, home: Path, args: argparse.Namespace) -> None:
    """Print every party that received this citizen's data: what, when, why."""
    _print(_with_session(client, home, lambda token: client.request(
        "GET", "/api/v1/me/data-sharing", token=token)))


def cmd_erasure_request(client: Client, home: Path, args: argparse.Namespace) -> None:
    """Ask the party that received a share of data to delete it."""
    _print(_with_session(client, home, lambda token: client.request(
        "POST", f"/api/v1/me/data-sharing/{args.share_id}/erasure-request", token=token)))


def cmd_access_log(client: Client, home: Path, args: argparse.Namespace) -> None:
    """Print who did what with this citizen's identity, newest first."""
    _print(_with_session(client, home, lambda token: client.request(
        "GET", f"/api/v1/me/access-log?per_page={args.limit}", token=token)))


def add_consent_commands(commands: Any) -> None:
    """The consent and data-sharing subcommands of the command line."""
    consents = commands.add_parser("consents", help="consent requests of relying parties")
    consents.add_argument("--pending", action="store_true", help="only those to answer")
    consents.set_defaults(run=cmd_consents)
    decide = commands.add_parser("consent-approve", help="approve a consent request")
    decide.add_argument("consent_id")
    decide.add_argument("--refuse", action="store_true", help="refuse it instead")
    decide.add_argument("--passcode", help=PASSCODE_HELP)
    decide.set_defaults(run=cmd_consent_decide)
    commands.add_parser("data-sharing", help="who received your data").set_defaults(
        run=cmd_data_sharing)
    erasure = commands.add_parser("erasure-request", help="ask a party to delete your data")
    erasure.add_argument("share_id", type=int)
    erasure.set_defaults(run=cmd_erasure_request)
    log = commands.add_parser("access-log", help="who looked at your identity")
    log.add_argument("--limit", type=int, default=20)
    log.set_defaults(run=cmd_access_log)


# --- payments: fees and fines (lệ phí, tiền phạt) ------------------------------------
# Paying sends an Idempotency-Key, one per intended payment, kept in the state directory
# until the server answers: a retry after a lost answer reuses it and cannot pay twice.

PAYMENT_KEYS_FILE = "payment-keys.json"


def _payment_key(home: Path, order_id: int, *, forget: bool = False) -> str:
    """The Idempotency-Key of the payment of ``order_id`` in progress (made once)."""
    path = home / PAYMENT_KEYS_FILE
    keys: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    key = keys.setdefault(str(order_id), str(uuid.uuid4()))
    if forget:
        keys.pop(str(order_id), None)
    home.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(keys))
    return key


def _pay_request(client: Client, token: str, order_id: int, body: dict[str, Any],
                 key: str) -> Any:
    """``POST /payments/<id>/attempts`` with the Idempotency-Key header."""
    req = urllib.request.Request(
        f"{client.server}/api/v1/payments/{order_id}/attempts", method="POST",
        data=json.dumps(body).encode("utf-8"),
        headers={"Accept": "application/json", "Content-Type": "application/json",
                 "Authorization": f"Bearer {token}", "Idempotency-Key": key})
    try:
        with client._opener.open(req, timeout=TIMEOUT_SECONDS) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as error:
        with error:
            raise _api_error(error.code, error.reason, error.read()) from None
    except urllib.error.URLError as error:
        raise ClientError(f"cannot reach {client.server}: {error.reason}") from None


def cmd_payments(client: Client, home: Path, args: argparse.Namespace) -> None:
    """Print the citizen's orders: fees and fines, amount in đồng, status."""
    query = f"?status={args.status}" if args.status else ""
    _print(_with_session(client, home, lambda token: client.request(
        "GET", f"/api/v1/payments{query}", token=token)))


def cmd_pay(client: Client, home: Path, args: argparse.Namespace) -> None:
    """Pay an order with a bank, confirmed with the passcode; wait for the bank's answer."""
    import time
    passcode = _passcode(args.passcode)
    key = _payment_key(home, args.order_id)
    try:
        attempt = _with_session(client, home, lambda token: _pay_request(
            client, token, args.order_id, {"bank": args.bank, "passcode": passcode}, key))
    except ApiError as error:
        if error.status < 500 and error.code != "idempotency.in_progress":
            _payment_key(home, args.order_id, forget=True)  # answered: the next try is new
        raise
    _payment_key(home, args.order_id, forget=True)
    _print(attempt)
    if attempt.get("redirect_url"):
        print(f"Confirm at your bank: {attempt['redirect_url']}", file=sys.stderr)
    deadline = time.monotonic() + args.wait
    while time.monotonic() < deadline:
        order = _with_session(client, home, lambda token: client.request(
            "GET", f"/api/v1/payments/{args.order_id}", token=token))
        if order["status"] != "pending":
            print(f"order {args.order_id}: {order['status']}", file=sys.stderr)
            return
        time.sleep(0.5)


def cmd_receipt(client: Client, home: Path, args: argparse.Namespace) -> None:
    """Print the receipt of a paid order and, with the passcode, its signed QR (receipt)."""
    _print(_with_session(client, home, lambda token: client.request(
        "GET", f"/api/v1/payments/{args.order_id}/receipt", token=token)))
    if args.no_qr:
        return
    passcode = _passcode(args.passcode)
    issued = _with_session(client, home, lambda token: client.request(
        "POST", f"/api/v1/payments/{args.order_id}/receipt/credential", {"passcode": passcode},
        token=token))
    print(issued["qr"])


def add_payment_commands(commands: Any) -> None:
    """The payment subcommands of the command line."""
    orders = commands.add_parser("payments", help="your fees and fines to pay, and paid")
    orders.add_argument("--status", choices=("open", "pending", "paid", "refunded"))
    orders.set_defaults(run=cmd_payments)
    pay = commands.add_parser("pay", help="pay a fee or fine through your bank")
    pay.add_argument("order_id", type=int)
    pay.add_argument("--bank", default="VCB", help="bank code (GET /api/v1/payments/banks)")
    pay.add_argument("--passcode", help=PASSCODE_HELP)
    pay.add_argument("--wait", type=float, default=15.0,
                     help="seconds to wait for the bank's answer (default %(default)s)")
    pay.set_defaults(run=cmd_pay)
    receipt = commands.add_parser("receipt", help="the receipt of a paid order, with its QR")
    receipt.add_argument("order_id", type=int)
    receipt.add_argument("--passcode", help=PASSCODE_HELP)
    receipt.add_argument("--no-qr", action="store_true", help="the receipt only, no QR")
    receipt.set_defaults(run=cmd_receipt)
# --- end of payments -------------------------------------------------------------------


# --- document wallet commands (ví giấy tờ) -------------------------------------------------
# Added by the data coordination feature (identity/coordination): the documents linked to the
# citizen by the ministries' sources, and one of them shown as a signed QR credential.

def cmd_documents(client: Client, home: Path, args: argparse.Namespace) -> None:
    """List the documents linked to the citizen (licences, cards, passports...)."""
    _print(_with_session(client, home,
                         lambda token: client.request("GET", "/api/v1/me/documents",
                                                      token=token)))


def cmd_document_qr(client: Client, home: Path, args: argparse.Namespace) -> None:
    """Show a document (by id, or the first valid one of a type) as a VN1 QR credential."""
    def issue(token: str) -> dict[str, Any]:
        document_id = args.id
        if document_id is None:
            items = client.request("GET", "/api/v1/me/documents", token=token)["items"]
            found = [d for d in items if d["type"] == args.type and d["status"] == "valid"]
            if not found:
                raise ClientError(f"no valid {args.type} document is linked to you")
            document_id = found[0]["id"]
        passcode = _passcode(args.passcode)
        issued: dict[str, Any] = client.request(
            "POST", f"/api/v1/me/documents/{int(document_id)}/credential",
            {"passcode": passcode, "audience": args.audience, "nonce": args.nonce}, token=token)
        image = client.download(f"/api/v1/credentials/{issued['credential_id']}/qr.png", token)
        out = Path(args.out) if args.out else home / f"document-{issued['type']}.png"
        out.write_bytes(image)
        return {**issued, "image": str(out)}

    _print(_with_session(client, home, issue))


def add_document_commands(commands: Any) -> None:
    """The document wallet's subcommands."""
    commands.add_parser("documents", help="list your linked documents (document wallet)"
                        ).set_defaults(run=cmd_documents)
    qr = commands.add_parser("document-qr", help="show a document as a signed QR credential")
    qr.add_argument("--id", type=int, help="the document's id (from `documents`)")
    qr.add_argument("--type", default="driving_licence",
                    help="without --id: the first valid document of this type "
                         "(driving_licence, health_insurance, passport, education, vehicle)")
    qr.add_argument("--audience", help="the verifier it is for, e.g. rp:vcb01")
    qr.add_argument("--nonce", help="the verifier's nonce (8-12 characters)")
    qr.add_argument("--passcode", help=PASSCODE_HELP)
    qr.add_argument("--out", help="where to save the QR image (PNG)")
    qr.set_defaults(run=cmd_document_qr)

# --- end of document wallet commands ------------------------------------------------------


def default_server() -> str:
    """``$VNID_SERVER``, else ``$VNID_URL`` (the walkthroughs' variable), else port 5000."""
    return os.environ.get("VNID_SERVER") or os.environ.get("VNID_URL") or DEFAULT_SERVER


def build_parser() -> argparse.ArgumentParser:
    """The command line: global options, then one subcommand."""
    parser = argparse.ArgumentParser(description="Reference mobile client of the VNID API.")
    parser.add_argument("--server", default=default_server(),
                        help="base URL of the server (env VNID_URL; default %(default)s)")
    parser.add_argument("--home", default=os.environ.get("VNID_CLIENT_HOME", DEFAULT_HOME),
                        help="state directory: device key, device id, session "
                             "(env VNID_CLIENT_HOME; default %(default)s)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    register = commands.add_parser("register", help="register an account bound to this device")
    register.add_argument("--personal-id", required=True, help="12-digit personal id")
    register.add_argument("--full-name", required=True)
    register.add_argument("--date-of-birth", required=True, metavar="YYYY-MM-DD")
    register.add_argument("--phone", required=True, help="phone number held in the registry")
    register.add_argument("--otp", help="SMS code (default: development outbox, else asked)")
    register.add_argument("--password", help="new " + PASSWORD_HELP)
    register.add_argument("--passcode", help="new " + PASSCODE_HELP)
    register.set_defaults(run=cmd_register)

    login = commands.add_parser("login", help="log in with password and device key")
    login.add_argument("--personal-id", required=True)
    login.add_argument("--password", help=PASSWORD_HELP)
    login.set_defaults(run=cmd_login)

    credential = commands.add_parser("credential", help="issue a signed QR credential")
    credential.add_argument("--type", default="identity",
                            help="identity (level 2), identity_basic, age_over_18, residence")
    credential.add_argument("--audience", help="the verifier it is for, e.g. rp:vcb01")
    credential.add_argument("--nonce", help="the verifier's nonce (8-12 characters)")
    credential.add_argument("--passcode", help=PASSCODE_HELP)
    credential.add_argument("--out", help="where to save the QR image (PNG)")
    credential.set_defaults(run=cmd_credential)

    for name, run, text in (("me", cmd_me, "show the account"),
                            ("refresh", cmd_refresh, "get new tokens"),
                            ("logout", cmd_logout, "end the session")):
        commands.add_parser(name, help=text).set_defaults(run=run)
    add_residence_commands(commands)
    add_report_commands(commands)
    add_document_commands(commands)
    add_consent_commands(commands)
    add_payment_commands(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; 0 on success, 1 on any error (printed to stderr)."""
    args = build_parser().parse_args(argv)
    client = Client(args.server)
    try:
        args.run(client, Path(args.home).expanduser(), args)
    except (ApiError, ClientError) as error:
        print(error if isinstance(error, ApiError) else f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
