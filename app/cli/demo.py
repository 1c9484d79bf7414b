"""``flask demo seed``: synthetic citizens for a first start."""
from __future__ import annotations

import tempfile
from pathlib import Path

import click
from flask.cli import with_appcontext

from app.cli.common import console, operator_actor, session_factory
from app.extensions import db, get_protector
from identity.registry.generator import generate_citizens
from identity.registry.importer import import_citizens
from identity.registry.service import count_citizens

group = click.Group("demo", help="Demo data for development.")


@group.command("seed")
@click.option("--count", type=click.IntRange(1, 1_000_000), default=3000, show_default=True)
@with_appcontext
def seed_command(count: int) -> None:
    """Import COUNT synthetic citizens, once: does nothing if the registry has citizens."""
    existing = count_citizens(db_session=db.session())
    db.session.close()  # end the read transaction: the import writes through its own sessions
    if existing:
        console.print(f"Registry already holds {existing:,} citizens; no demo data added.")
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "demo-citizens.csv"
        generate_citizens(count=count, out=path)
        summary = import_citizens(session_factory=session_factory(), path=path,
                                  protector=get_protector(), actor=operator_actor())
    console.print(f"Seeded {summary.rows_imported:,} demo citizens.")
