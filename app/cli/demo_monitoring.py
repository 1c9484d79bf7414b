"""Demo data for the monitoring dashboard (``flask demo seed``): DEMO ONLY, never in production.

Gives about 80 % of the demo citizens an account created over the last
twelve months, growing 4 to 9 % a month, at both levels and every status,
with the daily counters of their creation days, and a few months of
utilities' usage, so ``make run`` shows a dashboard worth reading. Demo
accounts have no password (``password_hash = "demo"``): nobody can log in
with them; the walkthrough's citizen never gets one (they register
themselves). Idempotent: nothing is added once demo accounts exist.
"""
from __future__ import annotations

import datetime as dt
import random
from collections import Counter
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from identity import clock
from identity.accounts.models import Account
from identity.monitoring.accounts import rebuild_account_counts
from identity.monitoring.models import UsageCounter
from identity.monitoring.statistics import roll_up
from identity.registry.models import Citizen

DEMO_HASH = "demo"
MONTHS = 12
USAGE = {"reports.filed": 0.02, "residence.temporary_stay.declared": 0.03,
         "residence.absence.declared": 0.005, "residence.lodging.notified": 0.04,
         "credentials.issued": 0.05, "credentials.verified": 0.12}
_INSERTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


def _creation_days(rng: random.Random, count: int, today: dt.date) -> list[dt.date]:
    """``count`` days over the last twelve months, each month 4-9 % above the last total."""
    weights, total = [], 1.0
    for _ in range(MONTHS - 1):
        grown = total * rng.uniform(0.04, 0.09)
        weights.append(grown)
        total += grown
    weights = [1.0, *weights]  # the first month holds the accounts made before
    scale = count / sum(weights)
    days: list[dt.date] = []
    for month, weight in enumerate(weights):
        start = today - dt.timedelta(days=30 * (MONTHS - month))
        for _ in range(round(weight * scale)):
            days.append(start + dt.timedelta(days=rng.randrange(30)))
    return sorted(min(day, today) for day in days[:count])


def _add_counters(db_session: Session, rows: Counter[tuple[dt.date, str, str, str]]) -> None:
    insert = _INSERTS[db_session.get_bind().dialect.name]
    for (day, metric, province, commune), amount in rows.items():
        statement: Any = insert(UsageCounter).values(day=day, metric=metric,
                                                     province_code=province,
                                                     commune_code=commune, count=amount)
        db_session.execute(statement.on_conflict_do_update(
            index_elements=["day", "metric", "province_code", "commune_code", "slot"],
            set_={"count": UsageCounter.count + amount}))


def seed_rollout(db_session: Session, *, exclude_personal_id: str) -> int:
    """Add the demo accounts and counters once; returns how many accounts were added."""
    if db_session.scalar(sa.select(Account.id).where(Account.password_hash == DEMO_HASH)
                         .limit(1)) is not None:
        return 0
    citizens = db_session.execute(
        sa.select(Citizen.id, Citizen.province_code, Citizen.commune_code)
        .outerjoin(Account, Account.citizen_id == Citizen.id)
        .where(Account.id.is_(None), Citizen.personal_id != exclude_personal_id)
        .order_by(Citizen.personal_id)).all()  # not id: ids follow each install's key
    rng = random.Random(2026)
    chosen = rng.sample(citizens, k=int(len(citizens) * 0.8))
    today = clock.today()
    days = _creation_days(rng, len(chosen), today)
    counters: Counter[tuple[dt.date, str, str, str]] = Counter()
    rows = []
    for (citizen_id, province, commune), day in zip(chosen, days):
        status = rng.choices(["active", "pending_review", "locked", "rejected"],
                             [88, 7, 3, 2])[0]
        level = 2 if status == "active" and rng.random() < 0.35 else 1
        created = dt.datetime.combine(day, dt.time(9), dt.timezone.utc)
        rows.append({"citizen_id": citizen_id, "level": level, "status": status,
                     "lock_reason": "self" if status == "locked" else None,
                     "status_before_lock": "active" if status == "locked" else None,
                     "phone_encrypted": b"demo", "phone_hash": rng.randbytes(32),
                     "password_hash": DEMO_HASH, "passcode_hash": DEMO_HASH,
                     "failed_passcodes": 0, "token_version": 1, "created_at": created,
                     "updated_at": created})
        counters[(day, "accounts.registered", province, commune)] += 1
        if status in ("active", "locked"):
            counters[(day, "accounts.activated", province, commune)] += 1
        if level == 2:
            counters[(day, "accounts.level2", province, commune)] += 1
        for metric, rate in USAGE.items():
            if rng.random() < rate * 4:
                usage_day = today - dt.timedelta(days=rng.randrange(90))
                counters[(usage_day, metric, province, commune)] += rng.randint(1, 3)
    # Core insert: the creation days are in the past, so the counters are written above and
    # the summary recounted below (as after any bulk load).
    for start in range(0, len(rows), 1000):
        db_session.execute(sa.insert(Account), rows[start:start + 1000])
    _add_counters(db_session, counters)
    rebuild_account_counts(db_session)
    roll_up(db_session, rebuild=True)
    db_session.commit()
    return len(rows)
