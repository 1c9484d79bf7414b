"""``flask demo seed``: synthetic citizens for a first start."""
from __future__ import annotations

import csv
import tempfile
from pathlib import Path

import click
from flask.cli import with_appcontext

from app.cli.common import OperatorGroup, console, operator_actor, session_factory
from app.cli.demo_monitoring import seed_rollout
from app.extensions import db, get_protector
from identity.credentials import keys
from identity.registry.generator import generate_citizens
from identity.registry.importer import import_citizens
from identity.registry.service import count_citizens, get_citizen

group = OperatorGroup("demo", help="Demo data for development.")

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
