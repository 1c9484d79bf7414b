"""``flask demo seed``: synthetic citizens for a first start; ``flask demo citizen``: one of them.

The walkthroughs (``docs/walkthroughs/``) each take citizens nobody has used
yet from ``flask demo citizen --fresh``, so that they run on the data ``make
run`` seeds, twice, in any order.
"""
from __future__ import annotations

import csv
import datetime as dt
import shlex
import tempfile
from pathlib import Path

import click
import sqlalchemy as sa
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy.orm import Session

from app.cli.common import OperatorGroup, console, fail, operator_actor, session_factory
from app.cli.demo_monitoring import seed_rollout
from app.extensions import db, get_protector
from identity import clock
from identity.accounts.models import Account
from identity.audit.models import AuditEvent
from identity.audit.service import record_event
from identity.credentials import keys
from identity.registry.generator import generate_citizens
from identity.registry.importer import import_citizens
from identity.registry.models import Citizen
from identity.registry.service import citizen_phone, count_citizens, get_citizen


@with_appcontext
def _development_only() -> None:
    """Demo data never enters a production registry, and a real citizen is never handed out."""
    if current_app.config["ENV_NAME"] == "production":
        fail("demo.production", "demo data is for development and tests: the production "
             "configuration refuses every flask demo command")


group = OperatorGroup("demo", help="Demo data for development (refused in production).",
                      callback=_development_only)

#: The citizen of the README's walkthrough (examples/mobile_client.py registers them).
WALKTHROUGH_CITIZEN = {
    "personal_id": "001090012345", "full_name": "Nguyễn Văn An", "date_of_birth": "1990-05-12",
    "gender": "M", "phone": "0912345678", "province_code": "01", "commune_code": "00004",
    "address": "Số 1, phố Điện Biên Phủ, Phường Ba Đình", "household_id": "HH-WALKTHROUGH",
    "relation_to_head": "head", "nationality": "VN", "ethnicity": "Kinh",
    "place_of_origin": "Hà Nội"}


def _ensure_issuer_key() -> None:
    """A signing key for VN1 credentials, so the walkthrough can issue one (``flask keys``)."""
    if not keys.list_keys(db_session=db.session()):
        key = keys.rotate_keys(db_session=db.session(), protector=get_protector(),
                               actor=operator_actor())
        console.print(f"Created the first credential issuer key {key.kid}.")


@group.command("seed")
@click.option("--count", type=click.IntRange(1, 1_000_000), default=3000, show_default=True)
@with_appcontext
def seed_command(count: int) -> None:
    """Import COUNT synthetic citizens into an empty registry, and the walkthrough's citizen.

    Run again, it adds nothing, except the walkthrough's citizen if a registry
    seeded before it existed lacks them.
    """
    _ensure_issuer_key()
    existing = count_citizens(db_session=db.session())
    has_walkthrough = get_citizen(db_session=db.session(),
                                  personal_id=WALKTHROUGH_CITIZEN["personal_id"]) is not None
    db.session.close()  # end the read transaction: the import writes through its own sessions
    if existing and has_walkthrough:
        console.print(f"Registry already holds {existing:,} citizens; no demo data added.")
        _seed_rollout()
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "demo-citizens.csv"
        generate_citizens(count=0 if existing else count, out=path)
        with path.open("r+", encoding="utf-8", newline="") as fh:
            header = next(csv.reader(fh))
            fh.seek(0, 2)
            csv.writer(fh).writerow([WALKTHROUGH_CITIZEN.get(column, "") for column in header])
        summary = import_citizens(session_factory=session_factory(), path=path,
                                  protector=get_protector(), actor=operator_actor())
    walkthrough = f"the walkthrough's {WALKTHROUGH_CITIZEN['full_name']} (see README)"
    if existing:
        console.print(f"Added {walkthrough} to the {existing:,} citizens of the registry.")
    else:
        console.print(f"Seeded {summary.rows_imported:,} demo citizens, among them {walkthrough}.")
    _seed_rollout()


def _seed_rollout() -> None:
    """Demo accounts and counters for the monitoring dashboard (app/cli/demo_monitoring.py)."""
    added = seed_rollout(db.session(), exclude_personal_id=WALKTHROUGH_CITIZEN["personal_id"])
    if added:
        console.print(f"Added {added:,} demo accounts and a year of counters for /dashboard "
                      "(log in with a token from `flask admins create --name <you>`).")


#: Printed by ``flask demo citizen``: shell variable -> the citizen's attribute.
CITIZEN_VARIABLES = {"PERSONAL_ID": "personal_id", "FULL_NAME": "full_name",
                     "DATE_OF_BIRTH": "date_of_birth", "GENDER": "gender", "PHONE": "phone",
                     "PROVINCE": "province_code", "COMMUNE": "commune_code",
                     "ADDRESS": "address"}
#: The audit action that hands a demo citizen out (and so makes them no longer fresh).
HANDED_OUT = "demo.citizen_handed_out"


def fresh_citizen(db_session: Session) -> Citizen | None:
    """The adult demo citizen with a phone whom nobody has used yet of the lowest personal id
    (not id: ids follow a key that differs from one install to the next), or None.

    Unused: no account in any state, and nothing in their access log (no
    registration started, no earlier hand-out), so a walkthrough that takes
    one can register them whatever ran before it.
    """
    today = clock.today()
    adult_before = dt.date(today.year - 18, today.month, min(today.day, 28))
    has_account = sa.exists().where(Account.citizen_id == Citizen.id)
    touched = sa.exists().where(AuditEvent.subject_type == "citizen",
                                AuditEvent.subject_id == sa.cast(Citizen.id, sa.String))
    return db_session.scalars(
        sa.select(Citizen)
        .where(Citizen.phone_encrypted.is_not(None), Citizen.date_of_birth <= adult_before,
               Citizen.personal_id != WALKTHROUGH_CITIZEN["personal_id"],
               ~has_account, ~touched)
        .order_by(Citizen.personal_id).limit(1)).first()


@group.command("citizen")
@click.option("--fresh", is_flag=True,
              help="A demo citizen nobody has used yet (no account, empty access log), "
                   "handed out once; default: the README's Nguyễn Văn An.")
@click.option("--prefix", default="", show_default=False,
              help="Put this before each variable's name, e.g. HOST_.")
@with_appcontext
def citizen_command(fresh: bool, prefix: str) -> None:
    """Print a demo citizen as shell assignments: eval "$(flask demo citizen --fresh)".

    Sets PERSONAL_ID, FULL_NAME, DATE_OF_BIRTH, GENDER, PHONE, PROVINCE,
    COMMUNE and ADDRESS (after PREFIX). Printing a citizen's data is a
    read of it: the hand-out is audited, in their access log.
    """
    if prefix and not prefix.replace("_", "").isalnum():
        raise click.BadParameter("letters, digits and _ only", param_hint="--prefix")
    session = db.session()
    citizen = (fresh_citizen(session) if fresh else
               get_citizen(db_session=session, personal_id=WALKTHROUGH_CITIZEN["personal_id"]))
    if citizen is None:
        fail("demo.no_citizen", "every adult demo citizen with a phone has been used; start "
             "again from an empty database (rm instance/vnid.sqlite3; make run)" if fresh else
             "the walkthrough's citizen is not in the registry: run flask demo seed")
    phone = citizen_phone(protector=get_protector(), citizen=citizen) or ""
    record_event(db_session=session, actor=operator_actor(), action=HANDED_OUT,
                 subject_type="citizen", subject_id=citizen.id, details={"fresh": fresh})
    session.commit()
    for variable, attribute in CITIZEN_VARIABLES.items():
        value = phone if attribute == "phone" else getattr(citizen, attribute)
        click.echo(f"{prefix.upper()}{variable}={shlex.quote(str(value))}")
