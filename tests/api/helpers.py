"""Helpers of the tests of relying parties: a bank with its token, a citizen who answers its
consent requests, and a callback endpoint that receives what the service sends it."""
from __future__ import annotations

import http.server
import threading
import time
from typing import Any

from identity.relying_parties.callbacks import CallbackPolicy
from tests import flows
from tests.flows import PASSCODE, bearer, create_party, party_token

#: The callback policy of the test suite's local receivers (on 127.0.0.1, plain http).
LOCAL = CallbackPolicy(https_only=False, allow_private=True)
ALL_SCOPES = ("identity.match", "identity.consent", "credentials.verify", "sim.verify",
              "lodging.notify")


class Citizen(flows.Holder):
    """A registered citizen with a logged-in phone, who decides on consent requests."""

    def decide(self, consent_id: str, approve: bool, passcode: str = PASSCODE) -> Any:
        """Approve or refuse a request, confirmed with ``passcode``; the answer."""
        return self.client.post(f"/api/v1/me/consent-requests/{consent_id}/decision",
                                headers=self.headers,
                                json={"approve": approve, "passcode": passcode})


class Bank:
    """A relying party (every scope unless told) with an access token."""

    def __init__(self, client: Any, db_session: Any, protector: Any, *,
                 name: str = "Ngân hàng Thử nghiệm", scopes: tuple[str, ...] = ALL_SCOPES,
                 **options: Any) -> None:
        self.client = client
        if "callback_url" in options:  # a local receiver: the policy that allows loopback
            options["callback_policy"] = LOCAL
        self.party = create_party(db_session, protector, name=name, scopes=scopes, **options)
        self.token = party_token(client, self.party)

    def post(self, path: str, body: dict[str, Any]) -> Any:
        """A POST to ``/api/v1/rp/<path>`` with the party's token."""
        return self.client.post(f"/api/v1/rp/{path}", json=body, headers=bearer(self.token))

    def get(self, path: str) -> Any:
        """A GET of ``/api/v1/rp/<path>`` with the party's token."""
        return self.client.get(f"/api/v1/rp/{path}", headers=bearer(self.token))

    def ask(self, citizen: flows.Holder, attributes: list[str], **extra: Any) -> dict[str, Any]:
        """Ask ``citizen`` for ``attributes``; the new consent request."""
        answer = self.post("consent-requests", {"personal_id": citizen.personal_id,
                                                "attributes": attributes,
                                                "purpose": "Mở tài khoản thanh toán", **extra})
        assert answer.status_code == 201, answer.get_json()
        return dict(answer.get_json())


class Receiver:
    """A party's callback endpoint on 127.0.0.1 that fails its first ``failures`` calls.

    ``delay``: seconds each answer takes. ``hold_first``: the first call, once received
    (``arrived`` set), waits for ``release`` before it is answered (a sender that died
    meanwhile gets nothing)."""

    def __init__(self, failures: int, *, delay: float = 0.0, hold_first: bool = False) -> None:
        self.failures = failures
        self.calls: list[tuple[dict[str, str], bytes]] = []
        self.arrived, self.release = threading.Event(), threading.Event()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.calls.append(({k.lower(): v for k, v in self.headers.items()}, body))
                status = 500 if len(receiver.calls) <= receiver.failures else 204
                if hold_first and len(receiver.calls) == 1:
                    receiver.arrived.set()
                    receiver.release.wait(60)
                time.sleep(delay)
                try:
                    self.send_response(status)
                    self.end_headers()
                except OSError:  # the sender is gone
                    pass

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/vnid/consents"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        """Stop listening (a held call is released)."""
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
