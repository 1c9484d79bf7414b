"""The operator commands of coordination on their own SQLite database (they commit for real)."""
from __future__ import annotations

import csv
import json

import sqlalchemy as sa

from app.extensions import db
from identity.coordination.models import DataSource, SourceRecord
from identity.relying_parties.models import RelyingParty


def _json(output: str) -> dict:
    return json.loads(next(line for line in output.splitlines() if line.startswith("{")))


def test_sources_from_creation_to_the_sim_report(cli_app, tmp_path):
    runner = cli_app.test_cli_runner()
    assert runner.invoke(args=["demo", "seed", "--count", "200"]).exit_code == 0
    made = runner.invoke(args=["sources", "create", "--name", "csgt-gplx", "--kind",
                               "driving_licence"])
    assert made.exit_code == 0, made.output
    assert _json(made.output)["client_secret"].startswith("vnidrp_")
    telco = runner.invoke(args=["rp", "create", "--name", "Viettel", "--kind", "telco",
                                "--scopes", "sim.verify"])
    client_id = _json(telco.output)["client_id"]
    joined = runner.invoke(args=["sources", "create", "--name", "viettel", "--kind", "telecom",
                                 "--party", client_id])
    assert joined.exit_code == 0, joined.output
    assert _json(joined.output)["client_secret"] is None
    assert _json(joined.output)["scopes"] == ["records.deliver", "sim.verify"]
    refused = runner.invoke(args=["sources", "create", "--name", "other", "--kind",
                                  "passport", "--party", client_id])
    assert refused.exit_code == 1 and "source.party" in refused.output

    licences, subscriptions = tmp_path / "gplx.csv", tmp_path / "viettel.csv"
    for kind, path in (("driving_licence", licences), ("telecom", subscriptions)):
        result = runner.invoke(args=["sources", "generate", "--kind", kind, "--rows", "200",
                                     str(path)])
        assert result.exit_code == 0, result.output
    with licences.open(encoding="utf-8") as fh:
        first = next(csv.DictReader(fh))
    assert first["personal_id"] == "001090012345"  # the walkthrough's citizen comes first
    for source, path in (("csgt-gplx", licences), ("viettel", subscriptions)):
        loaded = runner.invoke(args=["sources", "load", source, str(path)])
        assert loaded.exit_code == 0, loaded.output
        assert "completed" in loaded.output
    report = tmp_path / "sim.csv"
    result = runner.invoke(args=["coordination", "sim-report", "--operator", "viettel",
                                 "--out", str(report)])
    assert result.exit_code == 0, result.output
    with report.open(encoding="utf-8") as fh:
        assert next(csv.reader(fh))[:3] == ["record_id", "phone", "reasons"]
    listed = runner.invoke(args=["sources", "list"])
    assert "csgt-gplx" in listed.output and "viettel" in listed.output
    with cli_app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(SourceRecord)) == 400
        party = db.session.scalar(sa.select(RelyingParty).where(RelyingParty.name == "Viettel"))
        assert db.session.scalar(sa.select(DataSource.party_id).where(
            DataSource.name == "viettel")) == party.id
    wrong = runner.invoke(args=["coordination", "sim-report", "--operator", "csgt-gplx",
                                "--out", str(report)])
    assert wrong.exit_code == 1 and "source.not_telecom" in wrong.output
