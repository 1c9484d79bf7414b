"""The database connection killed in the middle of a residence declaration and of an import.

Nothing half-written: the transaction under way vanishes whole, what was
committed before stays, the client is told to come back (503 with
``Retry-After``), the retry gives exactly one result, and every audit chain
verifies afterwards. On PostgreSQL the connection is reset by the TCP proxy
between the app and the server; on SQLite the session's DBAPI connection is
closed under it (``tests/faults/conftest.py``).
"""
from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import sessionmaker

from app.extensions import db, get_protector
from identity import clock
from identity.registry import import_writes, importer
from identity.registry.models import Citizen, ImportRun
from tests import flows
from tests.factories import CitizenRowFactory, write_registry_csv
from tests.faults.conftest import ON_POSTGRES
from tests.faults.helpers import OPERATOR, assert_unavailable, events, registered
from tests.utilities.residence.helpers import STAY_COMMUNE
from utilities.residence import stays as residence
from utilities.residence.models import TemporaryStay

STAYS = "/api/v1/residence/stays"


def _stay_body(host_personal_id: str) -> dict[str, Any]:
    today = clock.today()
    return {"commune_code": STAY_COMMUNE, "address": "Số 12, ngõ 5, phố Huế",
            "start_date": today.isoformat(),
            "end_date": (today + dt.timedelta(days=300)).isoformat(), "reason": "Đi làm",
            "host_personal_id": host_personal_id}


def _stays(faulty: Any) -> int:
    return faulty.count(sa.select(TemporaryStay.id))


def test_connection_killed_inside_a_residence_declaration(faulty, monkeypatch):
    client = faulty.app.test_client()
    declarant, host = registered(faulty.app, client), registered(faulty.app, client)
    token = declarant.log_in()["access_token"]
    before = faulty.audit_chain_events()
    bump = residence.bump

    def killed_before_the_counter(db_session: Any, **kwargs: Any) -> None:
        # The stay, its history, its audit event and the host's notification are written
        # (not committed) by now; the counter and the commit are still to come.
        faulty.kill_db(db_session)
        bump(db_session, **kwargs)

    monkeypatch.setattr(residence, "bump", killed_before_the_counter)
    answer = client.post(STAYS, headers=flows.bearer(token),
                         json=_stay_body(host.record.personal_id))
    assert_unavailable(answer)
    monkeypatch.setattr(residence, "bump", bump)
    assert _stays(faulty) == 0
    assert events(faulty.app, "residence.stay_declared") == 0
    assert faulty.audit_chain_events() == before
    retry = client.post(STAYS, headers=flows.bearer(token),
                        json=_stay_body(host.record.personal_id))
    assert retry.status_code == 201, retry.get_json()
    again = client.post(STAYS, headers=flows.bearer(token),
                        json=_stay_body(host.record.personal_id))
    flows.assert_error(again, 409, "residence.period_overlap")
    assert _stays(faulty) == 1
    assert events(faulty.app, "residence.stay_declared") == 1
    assert faulty.audit_chain_events() > before  # every chain verifies, with the stay's event


@pytest.mark.skipif(not ON_POSTGRES, reason=(
    "needs PostgreSQL: a lost COMMIT reply needs a network between the app and the database"))
def test_commit_done_but_its_answer_lost(faulty):
    """The COMMIT reached the server, the reply never came back: the retry finds the stay."""
    client = faulty.app.test_client()
    declarant, host = registered(faulty.app, client), registered(faulty.app, client)
    token = declarant.log_in()["access_token"]
    before = faulty.audit_chain_events()
    faulty.db_proxy.cut_after(b"COMMIT")
    assert_unavailable(client.post(STAYS, headers=flows.bearer(token),
                                   json=_stay_body(host.record.personal_id)))
    assert _stays(faulty) == 1  # committed, though the client was told to retry
    retry = client.post(STAYS, headers=flows.bearer(token),
                        json=_stay_body(host.record.personal_id))
    flows.assert_error(retry, 409, "residence.period_overlap")
    listed = client.get(STAYS, headers=flows.bearer(token)).get_json()
    assert listed["total"] == 1
    assert events(faulty.app, "residence.stay_declared") == 1
    assert faulty.audit_chain_events() > before  # every chain verifies, with the stay's event


@pytest.mark.skipif(not ON_POSTGRES, reason="needs PostgreSQL: SQLite has no server to lose")
def test_database_unreachable_answers_503_then_recovers(faulty):
    client = faulty.app.test_client()
    citizen = registered(faulty.app, client)
    token = citizen.log_in()["access_token"]
    faulty.db_down()
    assert_unavailable(client.get("/api/v1/me", headers=flows.bearer(token)))
    assert_unavailable(flows.login_answer(client, citizen.record.personal_id, citizen.phone))
    assert client.get("/healthz").status_code == 503
    faulty.db_up()
    assert client.get("/api/v1/me", headers=flows.bearer(token)).status_code == 200
    assert faulty.audit_chain_events() > 0


def test_connection_killed_inside_an_import_batch(faulty, tmp_path, monkeypatch):
    rows = CitizenRowFactory.build_batch(25)
    ids = [row["personal_id"] for row in rows]
    path = write_registry_csv(tmp_path / "killed.csv", rows)
    original = import_writes.record_event
    batches = {"n": 0}

    def killed_in_the_second_batch(**kwargs: Any) -> Any:
        if kwargs["action"] == "registry.import_batch":
            batches["n"] += 1
            if batches["n"] == 2:
                faulty.kill_db(kwargs["db_session"])
        return original(**kwargs)

    def imported() -> int:
        return faulty.count(sa.select(Citizen.id).where(Citizen.personal_id.in_(ids)))

    with faulty.app.app_context():
        factory = sessionmaker(bind=db.engine, expire_on_commit=False)
        protector = get_protector()
        monkeypatch.setattr(import_writes, "record_event", killed_in_the_second_batch)
        with pytest.raises(sa.exc.DBAPIError):
            importer.import_citizens(session_factory=factory, path=path, protector=protector,
                                     actor=OPERATOR, batch_size=10)
        monkeypatch.setattr(import_writes, "record_event", original)
        assert imported() == 10  # the first batch, whole; nothing of the second
        with factory() as session:
            run = session.scalars(sa.select(ImportRun).order_by(ImportRun.id.desc())).first()
            assert (run.status, run.batches_committed, run.rows_imported) == ("failed", 1, 10)
        retry = importer.import_citizens(session_factory=factory, path=path,
                                         protector=protector, actor=OPERATOR, batch_size=10)
    assert (retry.rows_imported, imported()) == (25, 25)
    assert faulty.count(sa.select(Citizen.personal_id).distinct()) == faulty.count(
        sa.select(Citizen.id))
    assert events(faulty.app, "registry.import_batch") == 1 + 3
    assert faulty.audit_chain_events() > 0
