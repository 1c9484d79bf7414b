"""The issuer's signing key unreadable, or lost in the middle of issuing: 503, nothing unsigned.

A sealed private key whose ``PERSONAL_DATA_KEYS`` version the service no
longer holds (a key version dropped too early), a key ring that raises, and
Redis going away between the signature and the commit: each answers 503 with
``Retry-After``; no credential text goes out, no credential row, audit event
or counter is committed, the passcode's failure counter does not move; and
once the fault is gone, issuing gives exactly one credential.
"""
from __future__ import annotations

import base64
from typing import Any

import sqlalchemy as sa

from app.extensions import db
from identity.accounts.models import Account
from identity.credentials import keys, service
from identity.credentials.errors import SigningUnavailable
from identity.credentials.keys import KeyRing
from identity.credentials.models import Credential
from identity.monitoring.counters import total
from identity.protection import Protector
from tests import flows
from tests.faults.helpers import OPERATOR, assert_unavailable, events, issuer_key, registered

ISSUE = "/api/v1/credentials"
BODY = {"type": "identity_basic", "passcode": flows.PASSCODE}


def _nothing_issued(faulty: Any, account_id: int) -> None:
    assert faulty.count(sa.select(Credential.id)) == 0
    assert events(faulty.app, "credential.issued") == 0
    with faulty.app.app_context():
        assert total(db.session(), metric="credentials.issued") == 0
        account = db.session.get(Account, account_id)
        assert account is not None and account.failed_passcodes == 0
    assert not list(faulty.redis.scan_iter("credential:*"))


def _issues_once(faulty: Any, client: Any, token: str) -> None:
    answer = client.post(ISSUE, headers=flows.bearer(token), json=BODY)
    assert answer.status_code == 201, answer.get_json()
    assert faulty.count(sa.select(Credential.id)) == 1
    assert events(faulty.app, "credential.issued") == 1
    assert faulty.audit_chain_events() > 0


def _fresh_key_ring(faulty: Any) -> None:
    """A new process: nothing decrypted yet (the cached key would hide the fault)."""
    faulty.app.extensions["key_ring"] = KeyRing(faulty.app.config["CREDENTIAL_ISSUER"])


def test_a_key_sealed_with_a_dropped_key_version_never_signs(faulty):
    # The key was sealed under PERSONAL_DATA_KEYS version 3, which this service does not hold.
    newer = Protector.from_settings(
        faulty.app.config["PERSONAL_DATA_KEYS"] + ",3:"
        + base64.urlsafe_b64encode(b"\x03" * 32).decode().rstrip("="),
        faulty.app.config["LOOKUP_HASH_KEY"])
    with faulty.app.app_context():
        keys.rotate_keys(db_session=db.session(), protector=newer, actor=OPERATOR)
    _fresh_key_ring(faulty)
    client = faulty.app.test_client()
    citizen = registered(faulty.app, client)
    token = citizen.log_in()["access_token"]
    answer = client.post(ISSUE, headers=flows.bearer(token), json=BODY)
    assert_unavailable(answer)
    assert answer.get_json()["code"] == "credential.signing_unavailable"
    _nothing_issued(faulty, citizen.account_id)
    issuer_key(faulty.app)  # the operator rotates in a key the service can read
    _issues_once(faulty, client, token)


def test_a_key_ring_that_raises_never_signs(faulty, monkeypatch):
    issuer_key(faulty.app)
    client = faulty.app.test_client()
    citizen = registered(faulty.app, client)
    token = citizen.log_in()["access_token"]

    def hsm_gone(self: KeyRing, db_session: Any, protector: Any) -> Any:
        raise SigningUnavailable()

    monkeypatch.setattr(KeyRing, "signing_key", hsm_gone)
    assert_unavailable(client.post(ISSUE, headers=flows.bearer(token), json=BODY))
    _nothing_issued(faulty, citizen.account_id)
    monkeypatch.undo()
    _issues_once(faulty, client, token)


def test_redis_lost_between_signature_and_commit(faulty, monkeypatch):
    issuer_key(faulty.app)
    client = faulty.app.test_client()
    citizen = registered(faulty.app, client)
    token = citizen.log_in()["access_token"]
    original = service.bump

    def redis_dies_after_the_rows(db_session: Any, **kwargs: Any) -> None:
        original(db_session, **kwargs)  # the credential row and its event are written by now
        faulty.redis_down()

    monkeypatch.setattr(service, "bump", redis_dies_after_the_rows)
    assert_unavailable(client.post(ISSUE, headers=flows.bearer(token), json=BODY))
    monkeypatch.setattr(service, "bump", original)
    faulty.redis_up()
    _nothing_issued(faulty, citizen.account_id)
    _issues_once(faulty, client, token)


def test_a_wrong_passcode_still_counts_when_signing_is_down(faulty):
    """The passcode is checked before the key: a guess is counted whatever the key's state."""
    client = faulty.app.test_client()
    citizen = registered(faulty.app, client)
    token = citizen.log_in()["access_token"]  # no issuer key at all
    answer = client.post(ISSUE, headers=flows.bearer(token),
                         json={**BODY, "passcode": "135799"})
    flows.assert_error(answer, 401, "passcode.wrong")
    with faulty.app.app_context():
        assert db.session.get(Account, citizen.account_id).failed_passcodes == 1
    assert_unavailable(client.post(ISSUE, headers=flows.bearer(token), json=BODY))
    assert faulty.count(sa.select(Credential.id)) == 0
    with faulty.app.app_context():  # the refused act cleared nothing either
        assert db.session.get(Account, citizen.account_id).failed_passcodes == 1
