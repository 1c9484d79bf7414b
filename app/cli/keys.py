"""``flask keys``: the issuer keys that sign VN1 credentials."""
from __future__ import annotations

import click
from flask.cli import with_appcontext
from rich.table import Table

from app.cli.common import OperatorGroup, console, operator_actor
from app.extensions import db, get_protector
from identity.credentials import keys

group = OperatorGroup("keys", help="Issuer keys of the VN1 credentials.")


@group.command("rotate")
@with_appcontext
def rotate_command() -> None:
    """Make a new active key; the active one is retired (its credentials live out their time)."""
    key = keys.rotate_keys(db_session=db.session(), protector=get_protector(),
                           actor=operator_actor())
    console.print(f"New active key [bold]{key.kid}[/]. Verifiers pick it up from "
                  "/.well-known/vnid-keys.json.")


@group.command("revoke")
@click.argument("kid")
@with_appcontext
def revoke_command(kid: str) -> None:
    """Revoke KID: everything it signed is invalid at once (rotate first if it is active)."""
    key = keys.revoke_key(db_session=db.session(), actor=operator_actor(), kid=kid)
    console.print(f"Key [bold]{key.kid}[/] revoked.")


@group.command("list")
@with_appcontext
def list_command() -> None:
    """Every key with its status and validity window."""
    table = Table("kid", "status", "not before", "not after")
    for key in keys.list_keys(db_session=db.session()):
        table.add_row(key.kid, key.status, key.not_before.isoformat(timespec="seconds"),
                      key.not_after.isoformat(timespec="seconds") if key.not_after else "")
    console.print(table)
