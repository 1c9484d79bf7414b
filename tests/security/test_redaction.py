"""Logs never carry a personal id, phone number or token, even when an exception quotes one."""
from __future__ import annotations

import datetime as dt
import json
import logging
import sys

import pytest

from app.logging_setup import JsonFormatter, RedactingFormatter, redact


@pytest.mark.parametrize("text, hidden", [
    ("Key (personal_id)=(001090012345) already exists", "001090012345"),
    ("sms to 0912345678 failed", "0912345678"),
    ("sms to +84912345678 failed", "+84912345678"),
    ("Authorization: Bearer abc.def-ghi", "abc.def-ghi"),
    ("token eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln", "eyJhbGciOiJFUzI1NiJ9"),
    ("refresh with vnidrt_t1.Ab-c_d.7.Q2xvc2UgZW5vdWdoIHRvIGEgdGFnIG9mIDQzIGNoYXJz no",
     "Ab-c_d.7"),
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


#: A phone and a personal id in every common written form (issue 16, item 7).
WRITTEN_NUMBERS = [
    "0912345678", "0912.345.678", "0912 345 678", "091-234-5678", "(091) 234 5678",
    "+84912345678", "84912345678", "0084912345678", "+84 912 345 678", "+84-912-345-678",
    "(+84) 912.345.678", "0084 912 345 678", "84 912 345 678", "+84 (0) 912 345 678",
    "0912%20345%20678", "0912+345+678", "%2B84%20912%20345%20678", "%2B84912345678",
    "0912\u00a0345\u00a0678", "(024) 3825 1234", "024.3825.1234", "02438251234",
    "079190012345", "079 190 012 345", "0791-9001-2345", "079.190.012.345", "079190 012345",
    "079190-012345", "0791%209001%202345",
]
#: Ordinary values that must come through whole.
ORDINARY = [
    "2026-12-05T07:45:03.123456+00:00", "2026-12-05 07:45:03,123", "07:45:03.0912345",
    "took 0.012345678 s", "took 0.912345678 s", "duration_ms 1234.5678",
    "client 192.168.100.123", "client 10.0.0.1", "request 4f1c2a9be3d94f0a9c1e2b3a4d5e6f70",
    "imported 1000000 rows in 12.5 s, batch 17", "rows 100 200 300 400",
    "/api/v1/reports/TG-2026-00000123", "status 200 in 15 ms", "version 3.11.6",
    "order 12345 amount 400000", "from 2026-12-05 to 2026-12-31",
]


@pytest.mark.parametrize("written", WRITTEN_NUMBERS)
def test_numbers_in_every_written_form_are_redacted(written):
    for text in (f"sms to {written} failed", f"GET /x?phone={written}&a=1", f"'{written}'",
                 written):
        out = redact(text)
        assert "[phone]" in out or "[personal-id]" in out, out
        digits = "".join(ch for ch in out if ch.isdigit())
        assert len(digits) < 9, out  # no trace of the number left


@pytest.mark.parametrize("text", ORDINARY)
def test_ordinary_values_are_left_alone(text):
    assert redact(text) == text


@pytest.mark.parametrize("written", WRITTEN_NUMBERS)
def test_the_log_check_sees_the_common_written_forms_the_redactor_hides(written):
    """tests/logcheck.py reads the usual layouts on its own: were the redactor to miss one
    of them, the whole-run check would fail the suite."""
    from tests.logcheck import WRITTEN_PATTERNS

    common = not any(mark in written for mark in ("(024)", "024.", "0791%20", "02438"))
    if common:
        assert any(pattern.search(written) for pattern in WRITTEN_PATTERNS.values()), written
    line = redact(f'{{"message": "to {written}"}}')
    assert not [name for name, pattern in WRITTEN_PATTERNS.items() if pattern.search(line)]


@pytest.mark.parametrize("text, hidden", [
    ("Bearer abc.def", "abc.def"), ("BEARER abc", "abc"), ("header basic dXNlcjpw", "dXNlcjpw"),
    ("(Basic dXNlcjpw)", "dXNlcjpw"), ("auth=bearer\tabc", "abc"), ("BaſIc dXNlcjpw", "dXNlcjpw"),
])
def test_credentials_after_any_non_word_character_are_redacted(text, hidden):
    assert hidden not in redact(text)


@pytest.mark.parametrize("text", ["xbearer abc", "subasic abc", "_Bearer abc", "bearers abc"])
def test_the_credential_words_inside_a_word_are_left_alone(text):
    assert redact(text) == text


@pytest.mark.parametrize("text", [
    "2026-12-05T07:45:03Z 0912345678", "07:45:03 0912345678 07:45:04",
    "07:45:03.123+00:000912345678", '{"ts": "2026-12-05T07:45:03.123+00:00", "to": "0912345678"}',
])
def test_numbers_beside_timestamps_are_redacted(text):
    assert "0912345678" not in redact(text) and "[phone]" in redact(text)


@pytest.mark.parametrize("text", ["batch 123456789", "ids 12345-6789", "a 1 2 3 4 5 6 7 8 9 b",
                                  "0.123456789", "run 0912-345"])
def test_runs_of_fewer_than_ten_digits_are_left_alone(text):
    assert redact(text) == text


@pytest.mark.parametrize("message, fields", [
    ("request", {"request_id": "4f1c2a9be3d94f0a9c1e2b3a4d5e6f70", "status": 200}),
    ("Bearer abc.def", {}), ("sms to 0912 345 678", {"to": "+84 912 345 678"}),
    ("at 07:45:03 0912345678", {"ts": "079190012345"}), ("b", {"level": "0912345678"}),
])
def test_the_json_line_is_the_whole_line_redacted(message, fields):
    """The formatter reads the line without its own stamp: the same line as reading it all."""
    record = logging.LogRecord("vnid.request", logging.INFO, __file__, 1, message, None, None)
    record.fields = fields
    whole = {"ts": dt.datetime.fromtimestamp(record.created, dt.timezone.utc).isoformat(
        timespec="milliseconds"), "level": "INFO", "logger": "vnid.request", "message": message,
        **fields}
    assert JsonFormatter().format(record) == redact(json.dumps(whole, ensure_ascii=False))


@pytest.mark.parametrize("text", ["12-0912-345-678", "ref 7 0912 345 678", "x99 0912.345.678",
                                  "id5e218 0912345678", "%2B%2B84912345678"])
def test_a_number_after_other_digits_of_its_run_is_redacted(text):
    assert "[phone]" in redact(text), redact(text)


@pytest.mark.parametrize("request_id", ["4f1c2a9be3d94f0a9c1e2b3a4d5e6f70", "a-0912-345",
                                        "run-2026-12-05T07-45-03"])
@pytest.mark.parametrize("route", ["/api/v1/credentials/verify", "<unmatched>",
                                   "/api/v1/credentials/<string(length=32):credential_id>/qr.svg"])
def test_a_checked_request_line_is_the_line_read_whole(route, request_id):
    """The request log skips the second reading (app.logging_setup.CHECKED) only where it
    would change nothing: the values app.metrics.observe writes, ids it accepts."""
    from app.context import acceptable_request_id
    from app.logging_setup import CHECKED
    assert acceptable_request_id(request_id)
    fields = {"request_id": request_id, "method": "POST", "route": route, "status": 201,
              "duration_ms": 1234.57, "actor": "officer"}
    checked = logging.LogRecord("vnid.request", logging.INFO, __file__, 1, "request", None, None)
    checked.fields, unchecked = fields, logging.LogRecord("vnid.request", logging.INFO, __file__,
                                                          1, "request", None, None)
    setattr(checked, CHECKED, True)
    unchecked.fields, unchecked.created = fields, checked.created
    assert JsonFormatter().format(checked) == JsonFormatter().format(unchecked)


def test_an_unchecked_line_is_still_read():
    from app.logging_setup import CHECKED
    record = logging.LogRecord("t", logging.INFO, __file__, 1, "to %s", ("0912345678",), None)
    setattr(record, CHECKED, True)  # arguments: the shortcut does not apply
    record.fields = {}
    assert "0912345678" not in JsonFormatter().format(record)
