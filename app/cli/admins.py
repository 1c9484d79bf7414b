"""``flask admins``: ministry operators' admin tokens; ``flask stats``: the summary tables."""
from __future__ import annotations

import json

import click
from flask.cli import with_appcontext

from app.cli.common import OperatorGroup, console, operator_actor
from app.extensions import db
from identity.monitoring import operators, statistics
from identity.monitoring.accounts import rebuild_account_counts

group = OperatorGroup("admins", help="Operators who read the statistics API and the dashboard.")
stats_group = OperatorGroup("stats", help="The statistics' summary tables.")


@group.command("create")
@click.option("--name", required=True, help="Who the operator is (unique).")
@with_appcontext
def create_command(name: str) -> None:
    """Create an operator and print their admin token, once (only its digest is kept)."""
    operator, token = operators.create_operator(db_session=db.session(),
                                                actor=operator_actor(), name=name)
    console.print("[bold]Keep this token now: it is shown once and cannot be recovered.[/]")
    click.echo(json.dumps({"name": operator.name, "operator_id": operator.id, "token": token}))


@group.command("list")
@with_appcontext
def list_command() -> None:
    """Every operator: name, active, created (never the token)."""
    for operator in operators.list_operators(db_session=db.session()):
        click.echo(f"{operator.name}\t{'active' if operator.active else 'disabled'}\t"
                   f"{operator.created_at:%Y-%m-%d %H:%M}")


@group.command("disable")
@click.argument("name")
@with_appcontext
def disable_command(name: str) -> None:
    """Stop an operator's token and dashboard sessions (on their next request)."""
    operators.disable_operator(db_session=db.session(), actor=operator_actor(), name=name)
    console.print(f"Operator {name} disabled.")


@stats_group.command("rebuild")
@with_appcontext
def rebuild_command() -> None:
    """Recount accounts by place, level and status, and re-sum the daily rollups.

    For accounts loaded outside the service (bulk loads), or to check the
    summaries: two GROUP BY queries over the accounts and the usage counters.
    """
    session = db.session()
    rows = rebuild_account_counts(session)
    through = statistics.roll_up(session, rebuild=True)
    session.commit()
    console.print(f"account_counts: {rows:,} rows; usage rolled up through {through}.")
