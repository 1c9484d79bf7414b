"""``flask audit``: verify the hash chains of the audit log; its monthly partitions."""
from __future__ import annotations

import datetime as dt

import click
from flask.cli import with_appcontext
from rich.progress import Progress
from rich.table import Table

from app.cli.common import OperatorGroup, console, operator_actor
from app.extensions import db
from identity.audit import partitions, service
from identity.audit.errors import AuditChainBroken

group = OperatorGroup("audit", help="The append-only audit log.")


@group.command("verify")
@with_appcontext
def verify_command() -> None:
    """Check every shard's chain; name the first broken row and exit 1 if any."""
    total = service.count_events(db_session=db.session())
    with Progress(console=console) as progress:
        task = progress.add_task("Verifying audit chain", total=total)
        try:
            report = service.verify_chain(db_session=db.session(),
                                          progress=lambda n: progress.advance(task, n))
        except AuditChainBroken as exc:
            progress.stop()
            console.print(f"[bold red]BROKEN[/]: {exc.message}")
            raise SystemExit(1)
    detached = (f" (and {report.detached:,} detached with old months, by their runs)"
                if report.detached else "")
    console.print(f"[bold green]OK[/]: {report.events:,} events in {report.shards} shards "
                  f"verify{detached}.")


@group.command("add-shards")
@click.option("--count", type=click.IntRange(1, 4096), required=True,
              help="The number of shards there should be at least.")
@with_appcontext
def add_shards_command(count: int) -> None:
    """Add shards so that more transactions can write the log at once."""
    added = service.add_shards(db_session=db.session(), count=count)
    console.print(f"Added {added} shard(s).")


@group.command("partitions")
@with_appcontext
def partitions_command() -> None:
    """Make the monthly partitions ahead (as the daily job does) and list them."""
    made = service.ensure_partitions(db_session=db.session(), actor=operator_actor())
    connection = db.session().connection()
    if not partitions.partitioned(connection):
        console.print("The audit log is one table here (partitions: PostgreSQL only).")
        return
    for name in made:
        console.print(f"Made {name}.")
    table = Table("partition", "from", "to", "rows (estimate)")
    for part in partitions.partitions(connection):
        table.add_row(part.name, _bound(part.lower, part.is_default),
                      _bound(part.upper, part.is_default), f"{part.rows:,}")
    console.print(table)


def _bound(moment: dt.datetime | None, is_default: bool) -> str:
    return "(default)" if is_default else "(start)" if moment is None else f"{moment:%Y-%m-%d}"


@group.command("detach")
@click.option("--before", "before", required=True, type=click.DateTime(formats=["%Y-%m"]),
              help="YYYY-MM: the months before this one leave the log.")
@with_appcontext
def detach_command(before: dt.datetime) -> None:
    """Take old months out of the log, for cold storage: their links checked and their runs
    kept, so the chain of the rest still verifies. The detached tables stay in the database
    until the operator has dumped and dropped them."""
    try:
        taken = service.detach_months(db_session=db.session(), actor=operator_actor(),
                                      before=before.replace(tzinfo=dt.timezone.utc))
    except partitions.PartitionError as exc:
        console.print(f"[bold red]Refused[/]: {exc}")
        raise SystemExit(2)
    except AuditChainBroken as exc:
        console.print(f"[bold red]BROKEN[/]: {exc.message}; nothing was detached.")
        raise SystemExit(1)
    for name, rows in taken:
        console.print(f"Detached {name} ({rows:,} events): dump it "
                      f"(pg_dump --table={name}), then DROP TABLE {name}.")
    if not taken:
        console.print("No month to detach before that one.")
