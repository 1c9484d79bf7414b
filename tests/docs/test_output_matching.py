"""How a ``text`` block is compared with a command block's output (tests/docs/blocks.py)."""
from __future__ import annotations

import pytest

from tests.docs.blocks import missing_output

OUTPUT = """{
  "account_id": 2401,
  "level": 1,
  "status": "active"
}
logged in
"""


@pytest.mark.parametrize("expected", [
    "logged in",
    '"level": 1,\n"status": "active"\nlogged in',
    '{\n  "account_id": …,\n…\nlogged in',
    "  logged in  ",
    "",
])
def test_expected_lines_found_in_order(expected: str) -> None:
    assert missing_output(expected, OUTPUT) is None


@pytest.mark.parametrize("expected, missing", [
    ("logged out", "logged out"),
    ('logged in\n"level": 1,', '"level": 1,'),  # out of order
    ('"level": 2,', '"level": 2,'),
    ("logged", "logged"),  # a whole line, not a part of one
    ('"account_id": 24', '"account_id": 24'),
])
def test_a_line_not_there_is_named(expected: str, missing: str) -> None:
    assert missing_output(expected, OUTPUT) == missing
