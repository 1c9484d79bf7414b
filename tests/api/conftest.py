"""Fixtures of the HTTP API tests."""
from __future__ import annotations

import pytest

from app.auth import limiter


@pytest.fixture(autouse=True)
def fresh_rate_limits(app):
    """Rate-limit counters start at zero: the in-process limiter storage outlives a test."""
    with app.app_context():
        limiter.reset()
