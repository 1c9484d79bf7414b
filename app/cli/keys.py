"""``flask keys``: the issuer keys that sign VN1 credentials."""
from __future__ import annotations

import click
from flask.cli import with_appcontext
from rich.table import Table

from app.cli.common import OperatorGroup, console, operator_actor
from app.extensions import db, get_protector
from config import passcode_key_entry
from identity.accounts.passcode import passcode_hashes_by_key
from identity.accounts.secrets import passcode_keys
from identity.credentials import keys

group = OperatorGroup("keys", help="Issuer keys of the VN1 credentials; passcode hash keys.")


@group.command("rotate")
@with_appcontext
def rotate_command() -> None:
    """Make a new active key; the active one is retired (its credentials live out their time)."""
    key = keys.rotate_keys(db_session=db.session(), protector=get_protector(),
                           actor=operator_actor())
    console.print(f"New active key [bold]{key.kid}[/]. Verifiers pick it up from "
                  "/.well-known/vnid-keys.json.")


# A kid is base64url: one in 64 begins with "-", which is a kid here, never an option.
@group.command("revoke", context_settings={"ignore_unknown_options": True})
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


@group.command("passcodes")
@click.option("--new-key", is_flag=True,
              help="Also print a PASSCODE_HMAC_KEYS entry for the next version.")
@with_appcontext
def passcodes_command(new_key: bool) -> None:
    """Passcode hashes per PASSCODE_HMAC_KEYS version: a version with none left may go."""
    ring = passcode_keys()
    table = Table("made by", "hashes")
    for made_by, count in passcode_hashes_by_key(db_session=db.session()).items():
        active = " (active)" if made_by == f"v{ring.active_version}" else ""
        table.add_row(made_by + active, str(count))
    console.print(table)
    if new_key:
        entry = passcode_key_entry(ring.active_version + 1)
        console.print("Put this entry in PASSCODE_HMAC_KEYS on every server, beside the others; "
                      "it hashes from the restart on, and each older hash is re-keyed on its "
                      "next right passcode:")
        click.echo(entry)
