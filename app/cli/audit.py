"""``flask audit``: verify the hash chains of the audit log."""
from __future__ import annotations

import click
from flask.cli import with_appcontext
from rich.progress import Progress

from app.cli.common import OperatorGroup, console
from app.extensions import db
from identity.audit import service
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
    console.print(f"[bold green]OK[/]: {report.events:,} events in {report.shards} shards verify.")


@group.command("add-shards")
@click.option("--count", type=click.IntRange(1, 4096), required=True,
              help="The number of shards there should be at least.")
@with_appcontext
def add_shards_command(count: int) -> None:
    """Add shards so that more transactions can write the log at once."""
    added = service.add_shards(db_session=db.session(), count=count)
    console.print(f"Added {added} shard(s).")
