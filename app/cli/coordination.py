"""``flask sources`` and ``flask coordination``: connected data sources, loads, the SIM report."""
from __future__ import annotations

import json
import time
from pathlib import Path

import click
import sqlalchemy as sa
from flask import current_app
from flask.cli import with_appcontext
from rich.progress import Progress
from rich.table import Table

from app.cli.common import (OperatorGroup, byte_progress, console, operator_actor,
                            print_run, session_factory)
from app.extensions import db, get_protector
from identity.coordination import sim_report, sources
from identity.coordination.generator import Holder, generate_records
from identity.coordination.loader import load_file
from identity.coordination.models import SOURCE_KINDS
from identity.registry.models import Citizen

group = OperatorGroup("sources", help="Connected data sources (ministries, telecom operators).")
coordination_group = OperatorGroup("coordination", help="Data coordination: the junk-SIM report.")

#: The walkthrough's citizen (app/cli/demo.py) comes first in generated files, when registered.
WALKTHROUGH_PERSONAL_ID = "001090012345"


@group.command("create")
@click.option("--name", required=True, help="A short code, e.g. csgt-gplx or viettel (unique).")
@click.option("--kind", required=True, type=click.Choice(SOURCE_KINDS))
@click.option("--party", default=None,
              help="telecom only: the client id (or name) of the telco's existing relying "
                   "party; the source becomes that party's. Default: a new party.")
@with_appcontext
def create_command(name: str, kind: str, party: str | None) -> None:
    """Register a source; print its party's client id (and secret, once, if new)."""
    created = sources.create_source(db_session=db.session(), protector=get_protector(),
                                    actor=operator_actor(), name=name, kind=kind,
                                    party=party)
    if created.client_secret:
        console.print("[bold]Keep the secret now: it is shown once.[/]")
    click.echo(json.dumps({"source": created.source.name, "kind": created.source.kind,
                           "party": created.party.name, "client_id": created.party.client_id,
                           "client_secret": created.client_secret,
                           "scopes": created.party.scopes.split()}, ensure_ascii=False))


@group.command("list")
@with_appcontext
def list_command() -> None:
    """Every source with its party and today's counts."""
    counts = dict(sources.daily_counts(db_session=db.session(), days=1))
    table = Table(title="Data sources (today: received, linked, mismatched, unknown id, "
                        "rejected)")
    for heading in ("source", "kind", "client id"):
        table.add_column(heading, no_wrap=True)
    for heading in ("recv", "link", "mism", "unkn", "rej"):
        table.add_column(heading, justify="right")
    for source in sources.list_sources(db_session=db.session()):
        c = counts.get(source.name)
        table.add_row(source.name, source.kind, source.party.client_id,
                      *(f"{getattr(c, f, 0) if c else 0:,}" for f in
                        ("received", "linked", "mismatched", "unknown_id", "rejected")))
    console.print(table)


@group.command("load")
@click.argument("source")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--report", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Where to write rejected rows (default: FILE.rejected.csv).")
@click.option("--batch-size", type=click.IntRange(1, 100_000), default=None,
              help="Rows per transaction (default: IMPORT_BATCH_SIZE).")
@click.option("--restart", is_flag=True, help="Ignore an unfinished earlier run of this file.")
@with_appcontext
def load_command(source: str, file: Path, report: Path | None, batch_size: int | None,
                 restart: bool) -> None:
    """Load a source's CSV or JSON-lines FILE: link, check, write (resumes an unfinished run)."""
    found = sources.find_source(db.session(), source)
    db.session.close()
    started = time.perf_counter()
    with byte_progress() as progress:
        task = progress.add_task(f"Loading {file.name}", total=file.stat().st_size, rows=0)
        summary = load_file(
            session_factory=session_factory(), source=found, path=file,
            protector=get_protector(), actor=operator_actor(), report_path=report,
            batch_size=batch_size or current_app.config["IMPORT_BATCH_SIZE"], restart=restart,
            progress=lambda done, rows: progress.update(task, completed=done, rows=rows))
    seconds = time.perf_counter() - started
    resumed = ([("resumed after", f"{summary.resumed_from_line:,} lines")]
               if summary.resumed_from_line else [])
    print_run(f"Load run {summary.run_id}: {summary.status}", [*resumed, *(
        ("rows read", summary.rows_read), ("written", summary.written),
        ("unchanged", summary.unchanged), ("  linked", summary.linked),
        ("  mismatched", summary.mismatched), ("  unknown id", summary.unknown_id),
        ("rejected", summary.rejected), ("credentials revoked", summary.credentials_revoked),
        ("batches", summary.batches))], seconds=seconds, rows_read=summary.rows_read,
        rejection_codes=summary.rejection_codes, report_path=summary.report_path)


@group.command("generate")
@click.option("--kind", required=True, type=click.Choice(SOURCE_KINDS))
@click.option("--rows", type=click.IntRange(1, 50_000_000), required=True)
@click.option("--seed", type=int, default=2026, show_default=True)
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@with_appcontext
def generate_command(kind: str, rows: int, seed: int, file: Path) -> None:
    """Write a demo FILE of ROWS records of the registry's citizens, some of them junk."""
    session = db.session()
    first = session.execute(sa.select(Citizen.personal_id, Citizen.full_name,
                                      Citizen.date_of_birth, Citizen.gender)
                            .where(Citizen.personal_id == WALKTHROUGH_PERSONAL_ID)).all()
    others = session.execute(sa.select(Citizen.personal_id, Citizen.full_name,
                                       Citizen.date_of_birth, Citizen.gender)
                             .where(Citizen.personal_id != WALKTHROUGH_PERSONAL_ID)
                             .order_by(Citizen.personal_id).limit(rows)
                             .execution_options(yield_per=10_000))
    holders = (Holder(*row) for rows_ in (first, others) for row in rows_)
    with Progress(console=console) as progress:
        task = progress.add_task(f"Generating {file.name}", total=rows)
        # The walkthrough's citizen stays clean: junk is drawn for the others only.
        written = generate_records(kind=kind, holders=holders, rows=rows, out=file, seed=seed,
                                   clean=len(first),
                                   progress=lambda n: progress.update(task, completed=n))
    console.print(f"Wrote {written:,} {kind} records to {file}")


@coordination_group.command("sim-report")
@click.option("--operator", required=True, help="The telecom source's name.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Where to write the CSV (default: sim-report-OPERATOR.csv).")
@with_appcontext
def sim_report_command(operator: str, out: Path | None) -> None:
    """Write the operator's junk-SIM list (unknown ids, mismatches, over the legal maximum)."""
    out = out or Path(f"sim-report-{operator}.csv")
    limit = current_app.config["SIM_MAX_PER_ID"]
    counts = sim_report.write_sim_report(db_session=db.session(), protector=get_protector(),
                                         operator=operator, max_per_id=limit, out=out)
    console.print(f"{counts['subscriptions']:,} subscriptions to check written to {out} "
                  f"(unknown id {counts['unknown_id']:,}, data mismatch "
                  f"{counts['data_mismatch']:,}, over {limit} per id {counts['over_limit']:,})")
