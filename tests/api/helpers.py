"""Helpers of the API tests of relying parties: a bank with its token, and a citizen who
answers its consent requests."""
from __future__ import annotations

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
