"""``flask officers``: police officers' accounts, and ``flask sms``: the development outbox."""
from __future__ import annotations

import json
import sys

import click
import segno
from flask import current_app
from flask.cli import with_appcontext

from app import context as ctx
from app.cli.common import OperatorGroup, console, fail, operator_actor
from app.extensions import db, get_protector
from identity.accounts import officers
from identity.accounts.sms import OutboxGateway
from identity.registry.normalise import normalise_phone

group = OperatorGroup("officers", help="Police officers' accounts.")
sms_group = OperatorGroup("sms", help="Text messages (development outbox).")


@group.command("create")
@click.option("--username", required=True)
@click.option("--full-name", required=True)
@click.option("--province", "province_code", required=True, help="Two-digit province code.")
@click.option("--commune", "commune_code", default=None, help="Five-digit commune code.")
@click.option("--role", type=click.Choice(officers.ROLES), default="officer", show_default=True)
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@with_appcontext
def create_command(username: str, full_name: str, province_code: str, commune_code: str | None,
                   role: str, password_stdin: bool) -> None:
    """Create an officer; print JSON with the TOTP provisioning URI and show its QR code.

    The URI is shown once: the officer scans it into an authenticator app.
    """
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True,
                                err=True)
    officer, uri = officers.create_officer(
        db_session=db.session(), protector=get_protector(), actor=operator_actor(),
        username=username, full_name=full_name, password=password,
        province_code=province_code, commune_code=commune_code, role=role)
    if sys.stderr.isatty():
        segno.make(uri, error="m").terminal(out=sys.stderr, compact=True)
    click.echo(json.dumps({"username": officer.username, "officer_id": officer.id,
                           "role": officer.role, "province": officer.province_code,
                           "commune": officer.commune_code, "totp_uri": uri}))


@group.command("reassign")
@click.argument("username")
@click.option("--province", "province_code", required=True)
@click.option("--commune", "commune_code", default=None)
@click.option("--role", type=click.Choice(officers.ROLES), default=None)
@with_appcontext
def reassign_command(username: str, province_code: str, commune_code: str | None,
                     role: str | None) -> None:
    """Move an officer to another jurisdiction (applies on their next request)."""
    officers.reassign_officer(db_session=db.session(), actor=operator_actor(),
                              username=username, province_code=province_code,
                              commune_code=commune_code, role=role)
    console.print(f"Officer {username} now acts in {province_code} {commune_code or ''}")


@group.command("deactivate")
@click.argument("username")
@with_appcontext
def deactivate_command(username: str) -> None:
    """Stop an officer from acting (applies on their next request)."""
    officers.deactivate_officer(db_session=db.session(), actor=operator_actor(),
                                username=username)
    console.print(f"Officer {username} deactivated.")


@sms_group.command("outbox")
@click.option("--phone", default=None, help="Only the messages to this phone.")
@click.option("--limit", type=click.IntRange(1, 1000), default=10, show_default=True)
@with_appcontext
def outbox_command(phone: str | None, limit: int) -> None:
    """Print the latest messages of the development outbox, newest first."""
    gateway = ctx.sms()
    if not isinstance(gateway, OutboxGateway) or current_app.config["ENV_NAME"] == "production":
        fail("sms.no_outbox", "the SMS backend is not the outbox.")
    phone = normalise_phone(phone) if phone else None
    for message in gateway.messages(db_session=db.session(), phone=phone, limit=limit):
        click.echo(f"{message['sent_at']:%Y-%m-%d %H:%M:%S}  {message['phone']}  "
                   f"{message['text']}")
