"""Password guesses are counted before the password is compared, races included.

The counter of a citizen's password tries is the shared per-personal-id rate
limit of the authentication endpoints (``auth_limits`` in ``app/auth.py``):
flask-limiter increments it in Redis (one ``INCR``, atomic) before the view
runs, so the number it returns is the try's place in line and a try past the
budget never reaches the password check. Fifty parallel logins with wrong
passwords, on a database with real commits and the configured Redis (real on
CI), compare exactly the budget and refuse the rest with 429. An officer's
password (and the TOTP checked after it) has the same guard, per username.
"""
from __future__ import annotations

import os
import threading
import uuid
from typing import Any

import pytest
from sqlalchemy.orm import Session

from app.auth import limiter
from app.extensions import db, get_protector
from identity.accounts import officers, sessions
from tests.factories import add_active_account
from tests.flows import create_officer, post_at_once

ON_POSTGRES = (os.environ.get("DATABASE_URL") or "").startswith("postgres")
WIDTH = 50 if ON_POSTGRES else 20
BUDGET = 7


def _race(app: Any, requests: list[tuple[str, dict[str, Any]]]) -> list[int]:
    """Send the requests from parallel threads released together; their statuses."""
    statuses = [answer.status_code for answer in post_at_once(app, requests)]
    assert len(statuses) == len(requests)
    return statuses


def _count_compared(monkeypatch: Any, module: Any) -> list[str]:
    """Every secret ``module`` compares from now on (its ``verify_secret``, counted)."""
    compared: list[str] = []
    guard = threading.Lock()
    real = module.verify_secret

    def counting_verify(stored_hash: str, secret: str) -> bool:
        with guard:
            compared.append(secret)
        return real(stored_hash, secret)

    monkeypatch.setattr(module, "verify_secret", counting_verify)
    return compared


def _assert_budget_held(statuses: list[int], compared: list[str]) -> None:
    """Exactly the budget was compared (401); every other try was refused before it."""
    assert statuses.count(401) == BUDGET and len(compared) == BUDGET, statuses
    # 429 from the limiter; 503 from load shedding (MAX_IN_FLIGHT), which refuses earlier still.
    assert 429 in statuses and set(statuses) <= {401, 429, 503}, statuses


@pytest.fixture()
def raced(own_database_app, monkeypatch) -> tuple[Any, Any, list[str]]:
    """The app with a small per-id budget, an account, and a record of every password compared."""
    app = own_database_app
    monkeypatch.setitem(app.config, "AUTH_LIMIT_PER_ID", f"{BUDGET} per minute")
    compared = _count_compared(monkeypatch, sessions)
    with app.app_context():
        limiter.reset()
        with Session(db.engine, expire_on_commit=False) as session:
            account = add_active_account(session, get_protector())
            personal_id = account.citizen.personal_id
    return app, personal_id, compared


def test_fifty_parallel_wrong_passwords_compare_only_the_budget(raced):
    app, personal_id, compared = raced
    statuses = _race(app, [("/api/v1/auth/login", {
        "personal_id": personal_id, "password": f"wrong password {n}",
        "device_id": str(uuid.uuid4()), "challenge_id": "no-such-challenge",
        "signature": "AAAA"}) for n in range(WIDTH)])
    _assert_budget_held(statuses, compared)


def test_the_budget_is_shared_by_every_endpoint_that_takes_the_password(raced):
    app, personal_id, compared = raced
    # Unlock and device rebind also check the password: one budget for all of them.
    requests = [("/api/v1/auth/unlock", {"personal_id": personal_id,
                                         "password": f"wrong password {n}"})
                for n in range(WIDTH // 2)]
    requests += [("/api/v1/auth/login", {
        "personal_id": personal_id, "password": f"wrong password {n}",
        "device_id": str(uuid.uuid4()), "challenge_id": "x", "signature": "AAAA"})
        for n in range(WIDTH - WIDTH // 2)]
    _assert_budget_held(_race(app, requests), compared)


def test_fifty_parallel_officer_logins_compare_only_the_budget(raced, monkeypatch):
    """Officers: the per-username budget counts (Redis INCR) before password and TOTP."""
    app, _personal_id, _compared = raced
    compared = _count_compared(monkeypatch, officers)
    with app.app_context(), Session(db.engine, expire_on_commit=False) as session:
        made = create_officer(session, get_protector(), username="race.officer")
    statuses = _race(app, [("/api/v1/auth/officer-login", {
        "username": made.username, "password": f"wrong password {n}", "totp": "000000"})
        for n in range(WIDTH)])
    _assert_budget_held(statuses, compared)
