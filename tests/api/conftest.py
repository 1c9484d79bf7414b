"""Fixtures of the HTTP API tests."""
from __future__ import annotations

import pytest

from app.auth import limiter
from tests.api.helpers import Bank


@pytest.fixture(autouse=True)
def fresh_rate_limits(app):
    """Rate-limit counters start at zero: the in-process limiter storage outlives a test."""
    with app.app_context():
        limiter.reset()


@pytest.fixture()
def bank(client, db_session, protector) -> Bank:
    """A relying party with every scope and an access token."""
    return Bank(client, db_session, protector)
