"""The hot routes that read and then write one statement run in autocommit on PostgreSQL.

An officer's online verification, a party's identity match, SIM check and online
verification: every statement of the request (the caller's row, the looked-up row, the
access-log write) runs on a connection in autocommit, so no ``BEGIN`` and no ``COMMIT``
go to the server, no ORM session transaction begins, and the act's row is committed by its
own statement before the answer.
A one-time credential's first use is the exception: its ``UPDATE`` and its row commit
together in one transaction. A payment's last steps (the bank's answer, the stored answer)
are such a statement too; its key's claim and the payment are one transaction. The suite's
other tests share one rolled-back transaction and never take
this way; these run on a database of their own (``own_database_app``).
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.extensions import db, get_protector
from identity.audit.models import AuditEvent
from tests import flows
from tests.factories import add_issuer_key
from tests.faults.helpers import new_person, registered
from tests.utilities.payments.live import live

pytestmark = pytest.mark.skipif(
    not (os.environ.get("DATABASE_URL") or "").startswith("postgres"),
    reason="autocommit is PostgreSQL's way; SQLite keeps its BEGIN IMMEDIATE")


@contextmanager
def _statements(app: Any) -> Iterator[list[tuple[str, bool]]]:
    """Each statement sent meanwhile: its first words and whether it ran in autocommit; and
    each ORM session transaction begun, as ``("session transaction", False)``."""
    seen: list[tuple[str, bool]] = []

    def statement(conn: Any, cursor: Any, text: str, *args: Any) -> None:
        seen.append((" ".join(text.split()[:4]),
                     bool(conn.connection.dbapi_connection.autocommit)))

    def begun(_session: Session, transaction: Any) -> None:
        if transaction.parent is None:
            seen.append(("session transaction", False))

    with app.app_context():
        engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", statement)
    sa.event.listen(Session, "after_transaction_create", begun)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", statement)
        sa.event.remove(Session, "after_transaction_create", begun)


def _logged(app: Any, action: str) -> int:
    with app.app_context():
        return int(db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)
                                     .where(AuditEvent.action == action)) or 0)


def _issued(app: Any, client: Any, credential_type: str) -> str:
    """A new holder's credential of ``credential_type``, under a new issuer key: its QR."""
    with app.app_context():
        add_issuer_key(db.session(), get_protector())
        db.session.commit()
    token = registered(app, client).log_in()["access_token"]
    issued = client.post("/api/v1/credentials", headers=flows.bearer(token),
                         json={"type": credential_type, "passcode": flows.PASSCODE})
    assert issued.status_code == 201, issued.get_json()
    return str(issued.get_json()["qr"])


def _officer_token(app: Any, client: Any) -> str:
    with app.app_context():
        officer = flows.create_officer(db.session(), get_protector(), username="officer.ac")
    return officer.log_in(client)


def _writes(seen: list[tuple[str, bool]]) -> list[tuple[str, bool]]:
    return [(text, autocommit) for text, autocommit in seen
            if text.startswith(("INSERT", "UPDATE", "WITH"))]


def test_an_officers_verification_is_reads_and_one_autocommitted_write(own_database_app):
    app = own_database_app
    client = app.test_client()
    qr = _issued(app, client, "identity_basic")
    token = _officer_token(app, client)
    before = _logged(app, "credential.verified")
    with _statements(app) as seen:  # the QR's key is new to this process: the trust list is
        first = client.post("/api/v1/credentials/verify", json={"qr": qr},  # read again
                            headers=flows.bearer(token))
    assert first.status_code == 200 and first.get_json()["valid"] is True, first.get_json()
    # on the held connection too: every statement in autocommit, no session transaction.
    assert seen[0][0].startswith("SELECT issuer_keys"), seen
    assert all(autocommit for _text, autocommit in seen) and len(_writes(seen)) == 1, seen
    assert _logged(app, "credential.verified") == before + 1
    before += 1
    with _statements(app) as seen:
        answer = client.post("/api/v1/credentials/verify", json={"qr": qr},
                             headers=flows.bearer(token))
    assert answer.status_code == 200 and answer.get_json()["valid"] is True, answer.get_json()
    # No session transaction either (identity.autocommit.autocommit_statements).
    assert all(autocommit for _text, autocommit in seen), seen
    # Two statements: the officer's row with the credential's (identity.credentials.online),
    # then the access-log row with its chain head and its counter.
    assert len(seen) == 2 and seen[0][0].startswith("SELECT officers.id AS"), seen
    assert len(_writes(seen)) == 1
    assert _logged(app, "credential.verified") == before + 1


def test_a_one_time_credentials_first_use_and_its_row_commit_together(own_database_app):
    app = own_database_app
    client = app.test_client()
    qr = _issued(app, client, "age_over_18")
    token = _officer_token(app, client)
    with _statements(app) as seen:
        first = client.post("/api/v1/credentials/verify", json={"qr": qr},
                            headers=flows.bearer(token))
        second = client.post("/api/v1/credentials/verify", json={"qr": qr},
                             headers=flows.bearer(token))
    assert first.get_json()["valid"] is True, first.get_json()
    assert second.get_json()["reason"] == "already_used"
    used = [(text, autocommit) for text, autocommit in seen if text.startswith("UPDATE")]
    assert used and not any(autocommit for _text, autocommit in used)  # in a transaction
    # Each answer's row went with its own request's writes, in a transaction too.
    assert [autocommit for _text, autocommit in _writes(seen)
            if not _text.startswith("UPDATE")] == [False, False]


def test_a_partys_match_sim_check_and_verification_run_in_autocommit(own_database_app):
    app = own_database_app
    client = app.test_client()
    qr = _issued(app, client, "identity_basic")
    person = new_person(app)
    with app.app_context():
        party = flows.create_party(db.session(), get_protector(), name="Ngân hàng Tự Động",
                                   scopes=("identity.match", "sim.verify",
                                           "credentials.verify"))
    token = flows.party_token(client, party)
    requests = {
        "/api/v1/rp/identity-match": {"personal_id": person.personal_id,
                                      "full_name": person.full_name,
                                      "date_of_birth": person.date_of_birth.isoformat()},
        "/api/v1/rp/sim-ownership": {"personal_id": person.personal_id,
                                     "phone": person.test_phone},
        "/api/v1/rp/credentials/verify": {"qr": qr},
    }
    for path, body in requests.items():
        with _statements(app) as seen:
            answer = client.post(path, json=body, headers=flows.bearer(token))
        assert answer.status_code == 200, (path, answer.get_json())
        assert answer.get_json().get("match", answer.get_json().get("valid")) is True
        assert seen and all(autocommit for _text, autocommit in seen), (path, seen)
        assert len(_writes(seen)) == 1, (path, seen)
        if path == "/api/v1/rp/identity-match":  # the hot lane's: the party's row with the
            # citizen's (matching.party_and_citizen), then the write (and, once in a while,
            # the writer's count of shards, identity.audit.writer._start).
            sent = [text for text, _autocommit in seen if not text.startswith("SELECT count")]
            assert len(sent) == 2, seen
            assert sent[0].startswith("SELECT relying_parties.id AS"), seen


def test_a_payment_commits_twice_its_claim_with_the_attempt_and_its_answers_alone(
        own_database_app):
    """Authentication's read, the key's claim and the payment (order, passcode, attempt,
    audit) in one transaction; then the bank's answer with the stored answer, one statement
    in autocommit: two commits (the claim was a commit of its own before, and the last two a
    statement each: a round trip and a commit more)."""
    made = live(own_database_app, mode="never")
    commits: list[str] = []

    def committed(_conn: Any) -> None:
        commits.append("COMMIT")

    with own_database_app.app_context():
        engine = db.engine
    sa.event.listen(engine, "commit", committed)
    try:
        with _statements(own_database_app) as seen:
            answer = made.client().post(f"/api/v1/payments/{made.order_id}/attempts",
                                        headers={**made.headers, "Idempotency-Key": "ac-1"},
                                        json={"bank": "VCB", "passcode": flows.PASSCODE})
        assert answer.status_code == 201, answer.get_json()
        texts = [text for text, _auto in seen]
        claim = [auto for text, auto in seen if text.startswith("INSERT INTO idempotency_keys")]
        attempt = [auto for text, auto in seen if text.startswith("WITH attempt AS")]
        answers = [auto for text, auto in seen if text.startswith("WITH answered AS")]
        alone = [text for text in texts
                 if text.startswith(("UPDATE payment_attempts", "UPDATE idempotency_keys"))]
        assert (claim, attempt, answers, alone) == ([False], [False], [True], []), seen
        first = next(i for i, text in enumerate(texts) if text.startswith("INSERT INTO idem"))
        last = next(i for i, text in enumerate(texts) if text.startswith("WITH attempt AS"))
        assert first < last and "session transaction" not in texts[first:last], seen
        assert commits == ["COMMIT"], seen  # the payment's; the answers' is autocommitted
    finally:
        sa.event.remove(engine, "commit", committed)
        made.close()
