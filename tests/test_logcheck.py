"""The whole-run log check (tests/logcheck.py) catches what it must, and the request log line."""
from __future__ import annotations

import json
import logging

from tests import logcheck
from tests.flows import PASSCODE, bearer


def planted(message: str, *args: object, **fields: object) -> logcheck.LogCapture:
    """A capture of its own (not the session's) holding one record."""
    capture = logcheck.LogCapture()
    record = logging.LogRecord("vnid.test", logging.WARNING, __file__, 1, message, args, None)
    if fields:
        record.fields = fields
    capture.emit(record)
    return capture


def test_a_planted_passcode_is_caught_written_and_raw():
    capture = planted("confirming with %s", PASSCODE)
    leaks = logcheck.find_leaks(capture.lines, capture.raw, {PASSCODE})
    assert "written line 0: a 6-digit code" in leaks
    assert "raw line 0: a secret the suite used" in leaks


def test_a_planted_token_is_caught_before_redaction():
    token = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"
    capture = planted("got header", header=f"Bearer {token}")
    assert "[token]" in capture.lines[0] or "[credential]" in capture.lines[0]
    assert logcheck.find_leaks(capture.lines, capture.raw, set()) == ["raw line 0: a JWT"]


def test_a_personal_id_or_phone_written_unredacted_is_caught():
    leaks = logcheck.find_leaks(['{"message": "id 001090012345 phone 0912345678"}'], [], set())
    assert leaks == ["written line 0: a personal id", "written line 0: a phone"]


def test_clean_lines_pass():
    capture = planted("request", route="/api/v1/me", status=200, duration_ms=12.5)
    assert logcheck.find_leaks(capture.lines, capture.raw, {PASSCODE}) == []


def test_the_session_capture_sees_the_request_log_line(client):
    before = len(logcheck.CAPTURE.lines)
    headers = {**bearer("nonsense"), "X-Request-Id": "req-test-12345678"}
    answer = client.get("/api/v1/me", headers=headers)
    assert answer.status_code == 401
    lines = [json.loads(line) for line in logcheck.CAPTURE.lines[before:]]
    line = next(item for item in lines if item["logger"] == "vnid.request")
    assert line["request_id"] == "req-test-12345678"
    assert line["route"] == "/api/v1/me" and line["method"] == "GET"
    assert line["status"] == 401 and line["actor"] == "anonymous"
    assert isinstance(line["duration_ms"], float) and line["level"] == "INFO"
    assert "nonsense" not in json.dumps(line)


def test_a_secret_counts_only_as_a_whole_word():
    assert logcheck.find_leaks([], ["request id 9f3a123456be"], ["123456"]) == []
    assert logcheck.find_leaks([], ["the code is 123456."], ["123456"]) == [
        "raw line 0: a secret the suite used"]
