"""Data coordination through the HTTP API: deliveries, the review queue, the SIM report, wallet."""
from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest
import sqlalchemy as sa

from identity.audit.models import AuditEvent
from identity.audit.service import Actor
from identity.coordination import sources
from identity.coordination.models import SourceDailyCount, SourceRecord
from identity.credentials import vn1
from tests.factories import add_citizen
from tests.flows import (PASSCODE, Holder, assert_error, bearer, create_party, logged_in_officer,
                         party_token)
from tests.identity.monitoring.helpers import new_operator

OPERATOR = Actor(type="operator", id="test")


class Source:
    """A registered source and an access token of its party."""

    def __init__(self, client: Any, db_session: Any, protector: Any, name: str,
                 kind: str) -> None:
        created = sources.create_source(db_session=db_session, protector=protector,
                                        actor=OPERATOR, name=name, kind=kind)
        self.client, self.name = client, name
        self.client_id, self.secret = created.party.client_id, created.client_secret
        answer = client.post("/api/v1/oauth/token", data={"grant_type": "client_credentials"},
                             auth=(self.client_id, self.secret))
        assert answer.status_code == 200, answer.get_json()
        self.token = answer.get_json()["access_token"]

    def deliver(self, records: list[dict[str, Any]], token: str | None = None) -> Any:
        return self.client.post(f"/api/v1/sources/{self.name}/records",
                                headers=bearer(token or self.token), json={"records": records})

    def delivered(self, records: list[dict[str, Any]]) -> dict[str, Any]:
        answer = self.deliver(records)
        assert answer.status_code == 200, answer.get_json()
        return dict(answer.get_json())


def licence(citizen: Any, n: int = 1, **overrides: Any) -> dict[str, Any]:
    """A driving licence record of a registry citizen."""
    return {"record_id": f"GPLX-{n:06d}", "personal_id": citizen.personal_id,
            "full_name": citizen.full_name, "date_of_birth": citizen.date_of_birth.isoformat(),
            "gender": citizen.gender, "document_number": f"79000000{n:04d}",
            "licence_class": "B2", "valid_from": "2024-01-10", "valid_until": "2034-01-10",
            **overrides}


def subscription(citizen: Any, n: int, **overrides: Any) -> dict[str, Any]:
    """A telecom subscription record of a registry citizen."""
    return {"record_id": f"SUB-{n:06d}", "personal_id": citizen.personal_id,
            "full_name": citizen.full_name, "date_of_birth": citizen.date_of_birth.isoformat(),
            "phone": f"09120{n:05d}", **overrides}


@pytest.fixture()
def gplx(client, db_session, protector):
    return Source(client, db_session, protector, "csgt-gplx", "driving_licence")


@pytest.fixture()
def citizen(db_session, protector):
    return add_citizen(db_session, protector, serial=700001, full_name="Nguyễn Văn An")


@pytest.fixture()
def operator_token(db_session):
    return new_operator(db_session)


# --- Deliveries -----------------------------------------------------------------------------------

def test_a_resent_batch_changes_nothing(client, db_session, protector, gplx, citizen):
    other = add_citizen(db_session, protector, serial=700002)
    batch = [licence(citizen, 1), licence(other, 2)]
    first = gplx.delivered(batch)
    assert (first["written"], first["unchanged"]) == (2, 0)
    again = gplx.delivered(batch)
    assert (again["written"], again["unchanged"]) == (0, 2)
    assert db_session.scalar(sa.select(sa.func.count()).select_from(SourceRecord)) == 2
    counts = db_session.scalars(sa.select(SourceDailyCount)).one()
    assert (counts.received, counts.linked, counts.rejected) == (2, 2, 0)
    changed = gplx.delivered([licence(citizen, 1, licence_class="C")])
    assert (changed["written"], changed["unchanged"]) == (1, 0)
    assert db_session.scalar(sa.select(sa.func.count()).select_from(SourceRecord)) == 2


def test_personal_data_is_not_stored_in_clear(client, db_session, gplx, citizen):
    gplx.delivered([licence(citizen, 1)])
    record = db_session.scalars(sa.select(SourceRecord)).one()
    stored = b"".join(bytes(v) if isinstance(v, (bytes, memoryview)) else str(v).encode()
                      for v in db_session.execute(sa.select(SourceRecord.__table__)).one())
    assert citizen.personal_id.encode() not in stored
    assert citizen.full_name.encode() not in stored
    assert record.citizen_id == citizen.id and record.link_state == "linked"


def test_unknown_ids_and_bad_records_are_kept_apart_never_dropped(
        client, db_session, gplx, citizen, operator_token):
    stranger = licence(citizen, 2, personal_id="001090999999")
    broken = licence(citizen, 3, personal_id="12345")
    no_class = {k: v for k, v in licence(citizen, 4).items() if k != "licence_class"}
    body = gplx.delivered([licence(citizen, 1), stranger, broken, no_class,
                           licence(citizen, 1)])
    assert body["written"] == 2
    assert [(r["position"], r["code"]) for r in body["rejected"]] == [
        (2, "personal_id.length"), (3, "record.missing"), (4, "record.duplicate")]
    queue = client.get("/api/v1/coordination/mismatches", headers=bearer(operator_token))
    assert queue.status_code == 200
    items = queue.get_json()["items"]
    assert [(i["record_id"], i["reason"], i["registry_values"]) for i in items] == [
        ("GPLX-000002", "unknown_id", None)]
    counts = db_session.scalars(sa.select(SourceDailyCount)).one()
    assert (counts.received, counts.linked, counts.unknown_id, counts.rejected) == (5, 1, 1, 3)


def test_a_delivery_answer_does_not_tell_how_records_linked(client, db_session, protector, gplx,
                                                            citizen):
    """One-record batches must not work as an identity match: the answers for a citizen's
    right data, their wrong name and an unknown id are the same."""
    right = gplx.delivered([licence(citizen, 1)])
    wrong_name = gplx.delivered([licence(citizen, 2, full_name="Trần Thị Sai")])
    unknown = gplx.delivered([licence(citizen, 3, personal_id="001090999999")])
    assert right == wrong_name == unknown == {"received": 1, "written": 1, "unchanged": 0,
                                              "rejected": []}
    states = db_session.scalars(sa.select(SourceRecord.link_state)
                                .order_by(SourceRecord.id)).all()
    assert states == ["linked", "mismatch", "unknown_id"]


def test_a_batch_over_1000_records_is_refused(client, gplx, citizen):
    answer = gplx.deliver([licence(citizen, n) for n in range(1001)])
    assert_error(answer, 422, "records.batch_too_large")


def test_a_source_cannot_deliver_to_another_sources_endpoint(client, db_session, protector,
                                                             gplx, citizen):
    bhyt = Source(client, db_session, protector, "bhxh-bhyt", "health_insurance")
    answer = gplx.deliver([licence(citizen)], token=bhyt.token)
    assert_error(answer, 403, "source.forbidden")
    bank = create_party(db_session, protector, scopes=("identity.match",))
    assert_error(gplx.deliver([licence(citizen)], token=party_token(client, bank)), 403,
                 "rp.scope_missing")
    assert_error(client.post("/api/v1/sources/nope/records", headers=bearer(gplx.token),
                             json={"records": [licence(citizen)]}), 404, "source.not_found")
    assert db_session.scalar(sa.select(sa.func.count()).select_from(SourceRecord)) == 0


# --- The review queue -----------------------------------------------------------------------------

def _queue(client: Any, token: str, **args: Any) -> list[dict[str, Any]]:
    answer = client.get("/api/v1/coordination/mismatches", headers=bearer(token),
                        query_string=args)
    assert answer.status_code == 200, answer.get_json()
    return list(answer.get_json()["items"])


def _resolve(client: Any, token: str, item_id: int, resolution: str) -> Any:
    return client.post(f"/api/v1/coordination/mismatches/{item_id}/resolve",
                       headers=bearer(token), json={"resolution": resolution})


def test_mismatch_resolution_paths(client, db_session, protector, gplx, operator_token):
    people = [add_citizen(db_session, protector, serial=700100 + n) for n in range(3)]
    body = gplx.delivered([licence(p, n, full_name="Trần Thị Sai") for n, p in enumerate(people)])
    assert body["written"] == 3
    items = _queue(client, operator_token, reason="data_mismatch")
    assert [i["fields"] for i in items] == [["full_name"]] * 3
    assert items[0]["source_values"]["full_name"] == "Trần Thị Sai"
    assert items[0]["registry_values"]["full_name"] == people[0].full_name
    assert "personal_id" not in json.dumps(items)
    registry_right, source_right, not_this = (i["id"] for i in items)

    done = _resolve(client, operator_token, registry_right, "registry_right")
    assert done.status_code == 200 and done.get_json()["resolution"] == "registry_right"
    assert_error(_resolve(client, operator_token, registry_right, "source_right"), 409,
                 "mismatch.resolved")
    assert _resolve(client, operator_token, source_right, "source_right").status_code == 200
    assert _resolve(client, operator_token, not_this, "not_this_citizen").status_code == 200
    assert _queue(client, operator_token) == []
    states = dict(db_session.execute(sa.select(SourceRecord.id, SourceRecord.link_state)).all())
    assert states == {registry_right: "linked", source_right: "linked", not_this: "unlinked"}
    assert db_session.get(SourceRecord, not_this).citizen_id is None
    actions = db_session.scalars(sa.select(AuditEvent.details).where(
        AuditEvent.action == "coordination.mismatch_resolved")).all()
    assert sorted(d["resolution"] for d in actions) == ["not_this_citizen", "registry_right",
                                                        "source_right"]

    # "Source right" is forwarded to the registry's officers of the citizen's province only.
    token = logged_in_officer(client, db_session, protector, province_code="01").token
    forwarded = client.get("/api/v1/police/coordination/corrections", headers=bearer(token))
    assert [(i["id"], i["personal_id"], i["fields"]) for i in forwarded.get_json()["items"]] == [
        (source_right, people[1].personal_id, ["full_name"])]
    far_token = logged_in_officer(client, db_session, protector, username="officer.hcm",
                                  province_code="79").token
    assert client.get("/api/v1/police/coordination/corrections",
                      headers=bearer(far_token)).get_json()["items"] == []


def test_an_unknown_id_can_only_be_set_aside(client, gplx, citizen, operator_token):
    gplx.delivered([licence(citizen, 1, personal_id="001090999999")])
    (item,) = _queue(client, operator_token, reason="unknown_id")
    assert_error(_resolve(client, operator_token, item["id"], "registry_right"), 409,
                 "mismatch.resolution_not_allowed")
    assert_error(_resolve(client, operator_token, item["id"], "maybe"), 422, "request.invalid")
    assert_error(_resolve(client, operator_token, 999999, "not_this_citizen"), 404,
                 "mismatch.not_found")
    assert _resolve(client, operator_token, item["id"], "not_this_citizen").status_code == 200


def test_the_queue_needs_an_admin_token(client, gplx):
    assert_error(client.get("/api/v1/coordination/mismatches"), 401, "auth.required")
    assert_error(client.get("/api/v1/coordination/mismatches", headers=bearer(gplx.token)),
                 401, "operator.invalid_token")


# --- The junk-SIM report --------------------------------------------------------------------------

def test_the_telco_fetches_its_junk_sim_report(client, db_session, protector, operator_token):
    telco = create_party(db_session, protector, name="Viettel", kind="telco",
                         scopes=("sim.verify",))
    sources.create_source(db_session=db_session, protector=protector, actor=OPERATOR,
                          name="viettel", kind="telecom", party=telco.client_id)
    token = party_token(client, telco)
    heavy = add_citizen(db_session, protector, serial=700201)
    fine = add_citizen(db_session, protector, serial=700202)
    records = [subscription(heavy, n) for n in range(4)]
    records += [subscription(fine, 10), subscription(fine, 11, full_name="Lê Văn Khác"),
                subscription(fine, 12, personal_id="001090999999")]
    answer = client.post("/api/v1/sources/viettel/records", headers=bearer(token),
                         json={"records": records})
    assert answer.status_code == 200, answer.get_json()
    report = client.get("/api/v1/telco/sim-report", headers=bearer(token))
    assert report.status_code == 200, report.get_json()
    body = report.get_json()
    assert (body["operator"], body["max_per_id"], body["total"]) == ("viettel", 3, 6)
    reasons = {item["record_id"]: item["reasons"] for item in body["items"]}
    assert reasons == {**{f"SUB-{n:06d}": ["over_limit"] for n in range(4)},
                       "SUB-000011": ["data_mismatch"], "SUB-000012": ["unknown_id"]}
    assert {i["phone"] for i in body["items"]} >= {"0912000011", "0912000012"}
    # Another party (a plain source) may not read it.
    gplx = Source(client, db_session, protector, "csgt-gplx", "driving_licence")
    assert_error(client.get("/api/v1/telco/sim-report", headers=bearer(gplx.token)), 403,
                 "rp.scope_missing")


# --- The document wallet --------------------------------------------------------------------------

def _wallet(client: Any, token: str) -> list[dict[str, Any]]:
    answer = client.get("/api/v1/me/documents", headers=bearer(token))
    assert answer.status_code == 200, answer.get_json()
    return list(answer.get_json()["items"])


def _show(client: Any, token: str, document_id: int) -> Any:
    return client.post(f"/api/v1/me/documents/{document_id}/credential", headers=bearer(token),
                       json={"passcode": PASSCODE})


def test_the_driving_licence_is_a_credential_the_offline_verifier_accepts(
        client, db_session, gplx, citizen, issuer_key, tmp_path):
    token = Holder.of(client, citizen).token
    gplx.delivered([licence(citizen, 1)])
    (document,) = _wallet(client, token)
    assert (document["type"], document["status"], document["fields"]["licence_class"]) == (
        "driving_licence", "valid", "B2")
    issued = _show(client, token, document["id"])
    assert issued.status_code == 201, issued.get_json()
    trust = client.get("/.well-known/vnid-keys.json").get_json()
    verified = vn1.verify(issued.get_json()["qr"], vn1.TrustList.from_json(trust))
    assert verified.credential_type == "driving_licence"
    assert verified.claims == {"id": citizen.personal_id, "nm": citizen.full_name,
                               "no": "790000000001", "cls": "B2", "vf": "2024-01-10",
                               "vu": "2034-01-10"}
    keys_file = tmp_path / "keys.json"
    keys_file.write_text(json.dumps(trust))
    cli = subprocess.run([sys.executable, "-m", "identity.credentials", "verify", "--keys",
                          str(keys_file), issued.get_json()["qr"]], capture_output=True,
                         text=True, check=False)
    assert cli.returncode == 0, cli.stderr
    assert json.loads(cli.stdout)["claims"]["cls"] == "B2"


def test_a_revoked_driving_licence_is_no_longer_issued(client, db_session, protector, gplx,
                                                       citizen, issuer_key):
    token = Holder.of(client, citizen).token
    gplx.delivered([licence(citizen, 1)])
    (document,) = _wallet(client, token)
    earlier = _show(client, token, document["id"]).get_json()
    gplx.delivered([licence(citizen, 1, status="revoked")])
    assert _wallet(client, token)[0]["status"] == "revoked"
    assert_error(_show(client, token, document["id"]), 409, "document.revoked")
    # The credential shown before the revocation is refused online from now on.
    officer_token = logged_in_officer(client, db_session, protector).token
    check = client.post("/api/v1/credentials/verify", headers=bearer(officer_token),
                        json={"qr": earlier["qr"]})
    assert check.get_json() == {**check.get_json(), "valid": False, "reason": "revoked"}


def test_an_expired_or_foreign_document_is_refused(client, db_session, protector, gplx, citizen,
                                                   issuer_key):
    token = Holder.of(client, citizen).token
    someone = add_citizen(db_session, protector, serial=700301)
    gplx.delivered([licence(citizen, 1, valid_until="2020-01-01", valid_from="2010-01-01"),
                    licence(someone, 2)])
    (document,) = _wallet(client, token)
    assert document["status"] == "expired"
    assert_error(_show(client, token, document["id"]), 409, "document.expired")
    theirs = db_session.scalar(sa.select(SourceRecord.id).where(
        SourceRecord.citizen_id == someone.id))
    assert_error(_show(client, token, theirs), 404, "document.not_found")


# --- The aggregated feed --------------------------------------------------------------------------

def test_small_counts_are_suppressed(app, client, db_session, protector, gplx, operator_token):
    crowd = [add_citizen(db_session, protector, serial=700400 + n, province_code="01")
             for n in range(12)]
    few = [add_citizen(db_session, protector, serial=700500 + n, province_code="79",
                       commune_code="25747") for n in range(2)]
    gplx.delivered([licence(c, n) for n, c in enumerate(crowd + few)])
    answer = client.get("/api/v1/coordination/aggregates", headers=bearer(operator_token))
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    assert body["min_count"] == app.config["COORDINATION_MIN_COUNT"] == 10
    by_province: dict[str, list[dict[str, Any]]] = {}
    for cell in body["by_province_age_sex"]:
        by_province.setdefault(cell["province_code"], []).append(cell)
    assert all(c["suppressed"] and c["count"] is None for c in by_province["79"])
    shown = [c for c in by_province["01"] if not c["suppressed"]]
    assert sum(c["count"] for c in shown) + sum(
        1 for c in by_province["01"] if c["suppressed"]) <= 12
    assert all(c["count"] >= 10 for c in shown)
    assert body["by_source"] == [{"source": "csgt-gplx", "kind": "driving_licence",
                                  "count": 14, "suppressed": False}]
    text = json.dumps(body, ensure_ascii=False)
    assert crowd[0].full_name not in text and crowd[0].personal_id not in text


def test_a_telco_without_that_operator_is_told_nothing(client, db_session, protector):
    telco = create_party(db_session, protector, name="Mobifone", kind="telco",
                         scopes=("sim.verify",))
    sources.create_source(db_session=db_session, protector=protector, actor=OPERATOR,
                          name="viettel", kind="telecom")
    token = party_token(client, telco)
    for query in ({}, {"operator": "viettel"}):
        assert_error(client.get("/api/v1/telco/sim-report", headers=bearer(token),
                                query_string=query), 404, "source.not_found")
