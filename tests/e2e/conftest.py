"""Fixtures of the end-to-end tests."""
from __future__ import annotations

import pytest

from tests.e2e.browser import MISSING


@pytest.fixture(scope="module")
def browser_ready() -> None:
    """Fails (not skips) a browser test when Chromium is missing: see :mod:`tests.e2e.browser`."""
    if MISSING is not None:
        pytest.fail(f"VNID_REQUIRE_BROWSER=1 but the browser is unavailable: {MISSING}")
