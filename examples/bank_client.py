#!/usr/bin/env python3
"""A reference relying party: what a bank's eKYC back office does with the VNID API.

It gets an OAuth 2 access token with its client credentials, matches a
customer's data against the registry without learning anything else, asks
the citizen for consent to receive some attributes, waits for the decision,
fetches the signed ``consent`` credential once, and verifies it offline
against the service's published trust list (signature, expiry, and that its
audience is this bank).

    export VNID_CLIENT_ID=... VNID_CLIENT_SECRET=...     # from `flask rp create`
    B=".venv/bin/python examples/bank_client.py"
    $B match --personal-id 001090012345 \\
        --full-name "Nguyễn Văn An" --date-of-birth 1990-05-12
    $B kyc --personal-id 001090012345 \\
        --attributes full_name,date_of_birth,permanent_address \\
        --purpose "Mở tài khoản thanh toán" --wait 300
    $B erasures

The server is ``--server URL`` (or ``$VNID_URL``, default
http://127.0.0.1:5000; ``$VNID_SERVER`` is read too). The client secret is
read from ``$VNID_CLIENT_SECRET`` (never from the command line, where other
users of the machine could read it) and never printed; neither is the access
token. Errors of the server are printed as ``error <status> <code>:
<message>`` and exit with 1.

Offline verification uses the service's own verifier package
(``identity.credentials``), which needs no server and no database: a bank
ships it inside its own systems with a copy of the trust list. Run the
client with the repository's ``.venv/bin/python``, where that package is
installed: without it, the commands that verify (``kyc``, ``fetch``) stop
before they send anything, since a consent's credential can be fetched only
once.
"""
from __future__ import annotations

import argparse
import base64
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

DEFAULT_SERVER = "http://127.0.0.1:5000"
#: The commands that verify a credential offline, with the ``identity`` package.
VERIFYING_COMMANDS = ("kyc", "fetch")
TIMEOUT_SECONDS = 30


class ApiError(Exception):
    """An error answer of the server, from its uniform body."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"error {status} {code}: {message}")
        self.status, self.code, self.message = status, code, message


class Bank:
    """A relying party's session with the service: its token, renewed when it expires."""

    def __init__(self, server: str, client_id: str, client_secret: str) -> None:
        self.server = server.rstrip("/")
        self.client_id = client_id
        self._secret = client_secret
        self._token: str | None = None
        self._token_until = 0.0
        self.scopes: list[str] = []

    def _send(self, method: str, path: str, *, data: bytes | None = None,
              headers: dict[str, str] | None = None) -> Any:
        request = urllib.request.Request(self.server + path, data=data, method=method,
                                         headers={"Accept": "application/json",
                                                  **(headers or {})})
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as answer:
                raw = answer.read()
        except urllib.error.HTTPError as error:
            with error:
                try:
                    body = json.loads(error.read())
                except ValueError:
                    body = {}
            raise ApiError(error.code, body.get("code", f"http.{error.code}"),
                           body.get("message", error.reason)) from None
        except urllib.error.URLError as error:
            raise ApiError(0, "client.unreachable", f"cannot reach {self.server}: "
                                                    f"{error.reason}") from None
        return json.loads(raw) if raw else None

    def token(self) -> str:
        """A current access token (client credentials, HTTP Basic), renewed a minute early."""
        if self._token is None or time.time() > self._token_until - 60:
            basic = base64.b64encode(f"{self.client_id}:{self._secret}".encode()).decode()
            form = urllib.parse.urlencode({"grant_type": "client_credentials"}).encode()
            answer = self._send("POST", "/api/v1/oauth/token", data=form, headers={
                "Authorization": f"Basic {basic}",
                "Content-Type": "application/x-www-form-urlencoded"})
            self._token = answer["access_token"]
            self._token_until = time.time() + answer["expires_in"]
            self.scopes = answer["scope"].split()
        assert self._token is not None
        return self._token

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """One API call with the party's token; a JSON body when given."""
        headers = {"Authorization": f"Bearer {self.token()}"}
        data = None
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        return self._send(method, path, data=data, headers=headers)

    def match(self, personal_id: str, full_name: str, date_of_birth: str,
              phone: str | None = None) -> dict[str, Any]:
        """Whether the customer's data agree with the registry, field by field."""
        body = {"personal_id": personal_id, "full_name": full_name,
                "date_of_birth": date_of_birth}
        if phone:
            body["phone"] = phone
        return dict(self.call("POST", "/api/v1/rp/identity-match", body))

    def ask(self, personal_id: str, attributes: list[str], purpose: str,
            callback: bool = False) -> dict[str, Any]:
        """A consent request; the citizen answers in their app."""
        return dict(self.call("POST", "/api/v1/rp/consent-requests", {
            "personal_id": personal_id, "attributes": attributes, "purpose": purpose,
            "callback": callback}))

    def wait(self, consent_id: str, seconds: float, every: float = 2.0) -> dict[str, Any]:
        """Poll the request until it is decided or expired (or ``seconds`` pass)."""
        deadline = time.time() + seconds
        while True:
            state = dict(self.call("GET", f"/api/v1/rp/consent-requests/{consent_id}"))
            if state["status"] != "pending" or time.time() >= deadline:
                return state
            time.sleep(every)

    def trust_list(self) -> dict[str, Any]:
        """The service's published verification keys (cache it; refresh daily)."""
        return dict(self._send("GET", "/.well-known/vnid-keys.json"))


def verify_offline(credential: str, trust_list: dict[str, Any], client_id: str) -> dict[str, Any]:
    """Verify a ``consent`` credential with no server: signature, times, our audience."""
    from identity.credentials import VerificationError, verify
    try:
        verified = verify(credential, trust_list, audience=f"rp:{client_id}")
    except VerificationError as error:
        return {"valid": False, "reason": error.reason}
    return {"valid": True, "type": verified.credential_type, "claims": verified.claims,
            "expires_at": verified.expires_at}


def verifier_available() -> bool:
    """Whether the offline verifier imports; if not, say how to run the client (stderr)."""
    try:
        import identity.credentials  # noqa: F401
    except ImportError as error:
        print(f"error: the offline verifier does not import ({error}); run this client "
              "with the repository's .venv/bin/python (make install). Nothing was sent.",
              file=sys.stderr)
        return False
    return True


def _print(data: Any) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def cmd_token(bank: Bank, args: argparse.Namespace) -> None:
    """Get a token and print what it allows (never the token itself)."""
    bank.token()
    _print({"client_id": bank.client_id, "scopes": bank.scopes})


def cmd_match(bank: Bank, args: argparse.Namespace) -> None:
    """Match a customer's data against the registry."""
    _print(bank.match(args.personal_id, args.full_name, args.date_of_birth, args.phone))


def _attributes(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


def cmd_ask(bank: Bank, args: argparse.Namespace) -> None:
    """Ask a citizen for consent and print the request."""
    _print(bank.ask(args.personal_id, _attributes(args.attributes), args.purpose,
                    args.callback))


def _receive(bank: Bank, state: dict[str, Any]) -> dict[str, Any]:
    if state["status"] != "approved" or not state.get("credential"):
        return {"consent_request_id": state["id"], "status": state["status"]}
    checked = verify_offline(state["credential"], bank.trust_list(), bank.client_id)
    return {"consent_request_id": state["id"], "status": "approved", "offline": checked}


def cmd_fetch(bank: Bank, args: argparse.Namespace) -> None:
    """Wait for a decision; when approved, fetch the credential once and verify it offline."""
    _print(_receive(bank, bank.wait(args.consent_id, args.wait)))


def cmd_kyc(bank: Bank, args: argparse.Namespace) -> None:
    """The whole onboarding: ask, wait for the citizen, receive and verify."""
    asked = bank.ask(args.personal_id, _attributes(args.attributes), args.purpose)
    print(f"consent request {asked['id']}: waiting for the citizen to answer in the app",
          file=sys.stderr, flush=True)
    _print(_receive(bank, bank.wait(asked["id"], args.wait)))


def cmd_verify(bank: Bank, args: argparse.Namespace) -> None:
    """Verify a scanned VN1 text online (revocation and one-time use included)."""
    _print(bank.call("POST", "/api/v1/rp/credentials/verify", {"qr": args.qr}))


def cmd_erasures(bank: Bank, args: argparse.Namespace) -> None:
    """Citizens' requests that the bank delete data it received."""
    _print(bank.call("GET", "/api/v1/rp/erasure-requests"))


def cmd_erasure_ack(bank: Bank, args: argparse.Namespace) -> None:
    """Confirm that the data of an erasure request were deleted."""
    _print(bank.call("POST", f"/api/v1/rp/erasure-requests/{args.share_id}/acknowledgement",
                     {}))


def build_parser() -> argparse.ArgumentParser:
    """Global options, then one subcommand."""
    parser = argparse.ArgumentParser(description="Reference relying-party client (a bank).")
    parser.add_argument("--server", default=(os.environ.get("VNID_SERVER")
                                             or os.environ.get("VNID_URL") or DEFAULT_SERVER),
                        help="base URL of the server (env VNID_URL; default %(default)s)")
    parser.add_argument("--client-id", default=os.environ.get("VNID_CLIENT_ID"),
                        help="the client id (env VNID_CLIENT_ID); the secret comes from "
                             "$VNID_CLIENT_SECRET only")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser("token", help="get a token, show its scopes").set_defaults(run=cmd_token)
    match = commands.add_parser("match", help="match a customer against the registry")
    for name in ("--personal-id", "--full-name", "--date-of-birth"):
        match.add_argument(name, required=True)
    match.add_argument("--phone")
    match.set_defaults(run=cmd_match)
    for name, run, text in (("ask", cmd_ask, "ask a citizen for consent"),
                            ("kyc", cmd_kyc, "ask, wait, receive and verify offline")):
        command = commands.add_parser(name, help=text)
        command.add_argument("--personal-id", required=True)
        command.add_argument("--attributes", required=True,
                             help="comma-separated: full_name, date_of_birth, sex, "
                                  "permanent_address, phone, level, photo_reference, household")
        command.add_argument("--purpose", required=True, help="shown to the citizen")
        command.add_argument("--wait", type=float, default=300, help="seconds to wait")
        command.add_argument("--callback", action="store_true",
                             help="also notify the registered callback URL")
        command.set_defaults(run=run)
    fetch = commands.add_parser("fetch", help="wait for a decision, receive, verify offline")
    fetch.add_argument("consent_id")
    fetch.add_argument("--wait", type=float, default=0, help="seconds to wait (default: none)")
    fetch.set_defaults(run=cmd_fetch)
    verify = commands.add_parser("verify", help="verify a scanned VN1 text online")
    verify.add_argument("qr")
    verify.set_defaults(run=cmd_verify)
    commands.add_parser("erasures", help="pending erasure requests").set_defaults(
        run=cmd_erasures)
    ack = commands.add_parser("erasure-ack", help="confirm data were deleted")
    ack.add_argument("share_id", type=int)
    ack.set_defaults(run=cmd_erasure_ack)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; 0 on success, 1 on any error (printed to stderr)."""
    args = build_parser().parse_args(argv)
    secret = os.environ.get("VNID_CLIENT_SECRET")
    if not args.client_id or not secret:
        print("error: set VNID_CLIENT_ID (or --client-id) and VNID_CLIENT_SECRET",
              file=sys.stderr)
        return 1
    if args.command in VERIFYING_COMMANDS and not verifier_available():
        return 1
    try:
        args.run(Bank(args.server, args.client_id, secret), args)
    except ApiError as error:
        print(error, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
