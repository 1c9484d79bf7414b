"""Fixtures of the residence use cases' tests."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import time_machine

from tests.utilities.residence.helpers import TUESDAY


@pytest.fixture()
def tuesday() -> Iterator[Any]:
    """Tuesday 2026-12-01, 10:00 in Hanoi, the clock standing still: the use cases' deadlines
    are worked from this moment exactly. ``tuesday.move_to`` moves it."""
    with time_machine.travel(TUESDAY, tick=False) as traveller:
        yield traveller
