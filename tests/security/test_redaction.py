"""Logs never carry a personal id, phone number or token, even when an exception quotes one."""
from __future__ import annotations

import logging
import sys

import pytest

from app.logging_setup import RedactingFormatter, redact


@pytest.mark.parametrize("text, hidden", [
    ("Key (personal_id)=(001090012345) already exists", "001090012345"),
    ("sms to 0912345678 failed", "0912345678"),
    ("sms to +84912345678 failed", "+84912345678"),
    ("Authorization: Bearer abc.def-ghi", "abc.def-ghi"),
    ("token eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln", "eyJhbGciOiJFUzI1NiJ9"),
])
def test_redact_masks_personal_data(text, hidden):
    assert hidden not in redact(text)


def test_numbers_that_are_not_personal_data_stay():
    assert redact("imported 1000000 rows in 12.5 s, batch 17") == (
        "imported 1000000 rows in 12.5 s, batch 17")


def test_the_formatter_redacts_tracebacks_too():
    try:
        raise ValueError("citizen 079190012345 not found")
    except ValueError:
        record = logging.LogRecord("t", logging.ERROR, __file__, 1, "failed for %s",
                                   ("0987654321",), exc_info=sys.exc_info())
    text = RedactingFormatter("%(message)s").format(record)
    assert "079190012345" not in text and "0987654321" not in text
    assert "ValueError" in text
