"""``flask rp``: relying parties (banks, telcos, hotels, data sources) and their credentials."""
from __future__ import annotations

import json
from typing import IO

import click
from flask import current_app
from flask.cli import with_appcontext

from app.cli.common import OperatorGroup, console, operator_actor
from app.extensions import db, get_protector, get_redis
from app.rp_auth import callback_policy
from identity.relying_parties import parties
from identity.relying_parties.models import KINDS, SCOPES

group = OperatorGroup("rp", help="Relying parties: OAuth clients with scopes, quotas, callbacks.")


def _quota(text: str) -> tuple[str, int]:
    scope, _, limit = text.partition("=")
    if not limit.isdigit():
        raise click.BadParameter(f"{text!r} is not scope=number", param_hint="--quota")
    return scope, int(limit)


@group.command("create")
@click.option("--name", required=True, help="The party's name, shown to citizens (unique).")
@click.option("--kind", required=True, type=click.Choice(KINDS))
@click.option("--scopes", required=True,
              help=f"Comma- or space-separated, among: {', '.join(SCOPES)}.")
@click.option("--callback-url", default=None,
              help="Where consent decisions are notified (HMAC-signed); only this URL is used. "
                   "https only in production; refused when its host resolves to a loopback, "
                   "private, link-local, multicast or reserved address.")
@click.option("--public-key", "public_key", type=click.File("rb"), default=None,
              help="A P-256 public key (PEM) for private-key JWT client authentication.")
@click.option("--quota", "quotas", multiple=True,
              help="A daily quota, scope=number (repeatable); else RP_DAILY_QUOTAS.")
@with_appcontext
def create_command(name: str, kind: str, scopes: str, callback_url: str | None,
                   public_key: IO[bytes] | None, quotas: tuple[str, ...]) -> None:
    """Register a party; print its client id, secret and callback key once."""
    party, secret, callback_key = parties.create_party(
        db_session=db.session(), protector=get_protector(), actor=operator_actor(),
        name=name, kind=kind, scopes=scopes.replace(",", " ").split(),
        callback_url=callback_url, public_key_pem=public_key.read() if public_key else None,
        quotas=dict(_quota(q) for q in quotas), callback_policy=callback_policy())
    console.print("[bold]Keep the secret and callback key now: they are shown once.[/]")
    click.echo(json.dumps({"name": party.name, "kind": party.kind, "client_id": party.client_id,
                           "client_secret": secret, "scopes": party.scopes.split(),
                           "callback_url": party.callback_url, "callback_key": callback_key}))


@group.command("list")
@with_appcontext
def list_command() -> None:
    """Every party: client id, name, kind, state, scopes, today's use of each quota."""
    defaults = current_app.config["RP_DAILY_QUOTAS"]
    for party in parties.list_parties(db_session=db.session()):
        usage = parties.quota_status(redis_client=get_redis(), party=party, defaults=defaults)
        quota_text = " ".join(f"{scope}={u['used']}/{u['quota']}" for scope, u in usage.items())
        click.echo(f"{party.client_id}\t{party.name}\t{party.kind}\t"
                   f"{'active' if party.active else 'disabled'}\t{quota_text}")


@group.command("disable")
@click.argument("name")
@with_appcontext
def disable_command(name: str) -> None:
    """Refuse the party's tokens (from their next request) and its client authentication."""
    parties.disable_party(db_session=db.session(), actor=operator_actor(), name=name)
    console.print(f"Relying party {name} disabled.")


@group.command("rotate-secret")
@click.argument("name")
@with_appcontext
def rotate_command(name: str) -> None:
    """Give the party a new client secret (shown once); the old one stops working at once."""
    party, secret = parties.rotate_secret(db_session=db.session(), actor=operator_actor(),
                                          name=name)
    console.print("[bold]Keep the secret now: it is shown once.[/]")
    click.echo(json.dumps({"client_id": party.client_id, "client_secret": secret}))


@group.command("set-callback")
@click.argument("name")
@click.argument("url", required=False)
@with_appcontext
def set_callback_command(name: str, url: str | None) -> None:
    """Register or replace the party's callback URL (checked as at creation); none removes it."""
    party, key = parties.set_callback(db_session=db.session(), protector=get_protector(),
                                      actor=operator_actor(), name=name, callback_url=url,
                                      callback_policy=callback_policy())
    if key is not None:
        console.print("[bold]Keep the callback key now: it is shown once.[/]")
    click.echo(json.dumps({"client_id": party.client_id, "callback_url": party.callback_url,
                           "callback_key": key}))
