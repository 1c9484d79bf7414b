"""A pytest plugin: no log line of the whole run may hold personal data or a secret.

Every record the service logs during the run is kept twice: as the service
writes it (its JSON formatter, redaction included) and raw (message and
fields before redaction). At the end of the session the run fails if

- a written line holds anything shaped like a personal id, a phone number
  (bare, or in the common written layouts: ``0912 345 678``,
  ``+84 912-345-678``, ``079.190.012.345``, URL-encoded spaces), a JWT, a
  bearer credential, an admin token, or a 6-digit code; or
- a raw line (what the code tried to log, before the redacting formatter,
  the second line of defence) holds a JWT, an admin token, or one of the
  secrets the suite used: its passwords and passcodes, every SMS code the
  development outbox sent and every TOTP code computed.

Registered by ``tests/conftest.py`` (``pytest_plugins``). The subprocess
servers of the e2e tests log to their own stderr, not here.
"""
from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable
from typing import Any

import pytest

from app.logging_setup import JsonFormatter

#: A separator of a number written in groups: space, dot, dash, or a URL-encoded space.
_SEP = r"(?:[ .\u00a0-]|%20|\+)"
#: Shapes of personal data and credentials in a written line. The written forms are the
#: common layouts, matched here independently of app/logging_setup.py's reading of numbers.
WRITTEN_PATTERNS = {
    "personal id": re.compile(r"(?<!\d)\d{12}(?!\d)"),
    "phone": re.compile(r"(?<![\d+])(?:\+?84|0084|0)\d{9}(?!\d)"),
    "personal id written in groups": re.compile(
        rf"(?<!\d)(?:0\d{{2}}{_SEP}\d{{3}}{_SEP}\d{{3}}{_SEP}\d{{3}}"
        rf"|0\d{{3}}{_SEP}\d{{4}}{_SEP}\d{{4}}|0\d{{5}}{_SEP}\d{{6}})(?!\d)"),
    "phone written in groups": re.compile(
        rf"(?<!\d)(?:0\d{{2,3}}\)?{_SEP}\d{{3}}{_SEP}\d{{3,4}}"
        rf"|(?:\+|%2[Bb]|00)?84\)?(?:{_SEP}\(0\))?{_SEP}?\d{{3}}{_SEP}\d{{3}}{_SEP}\d{{3}})(?!\d)"),
    "JWT": re.compile(r"eyJ[\w-]+\.[\w-]+\.[\w-]*"),
    "bearer credential": re.compile(r"(?i)\b(?:bearer|basic)\s+(?!\[credential\])[\w.~+/=-]+"),
    "admin token": re.compile(r"vnidop_[\w-]{8,}"),
    "client secret": re.compile(r"vnidrp_[\w-]{8,}"),
    "refresh token": re.compile(r"vnidrt_[\w.-]{8,}"),
    "6-digit code": re.compile(r"(?<!\w)\d{6}(?!\w)"),
}
#: Shapes that must not even reach the formatter.
RAW_PATTERNS = {key: WRITTEN_PATTERNS[key] for key in ("JWT", "admin token", "refresh token")}

#: Secret values the suite used (passwords, passcodes, SMS and TOTP codes), filled as it runs.
SECRETS: set[str] = set()
_CODE = re.compile(r"(?<!\d)\d{6}(?!\d)")


class LogCapture(logging.Handler):
    """Keeps every record as written (``lines``) and raw (``raw``)."""

    def __init__(self) -> None:
        super().__init__(logging.NOTSET)
        self.formatter_ = JsonFormatter()
        self.lines: list[str] = []
        self.raw: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.lines.append(self.formatter_.format(record))
            fields = getattr(record, "fields", None)
            raw = record.getMessage() + (" " + json.dumps(fields, default=str) if fields else "")
            if record.exc_info:
                raw += " " + logging.Formatter().formatException(record.exc_info)
            self.raw.append(raw)
        except Exception:  # a record that cannot be formatted is the formatter's test's business
            self.handleError(record)


def find_leaks(lines: Iterable[str], raw: Iterable[str], secrets: Iterable[str]) -> list[str]:
    """What leaks, one description per finding (the value itself is never repeated)."""
    found: list[str] = []
    secret_values = [s for s in set(secrets) if s]
    for number, line in enumerate(lines):
        for name, pattern in WRITTEN_PATTERNS.items():
            if pattern.search(line):
                found.append(f"written line {number}: a {name}")
    # A secret counts only as a whole word: a random request id may hold six digits in a row.
    words = "|".join(re.escape(secret) for secret in sorted(secret_values))
    whole_words = re.compile(rf"(?<![0-9A-Za-z])(?:{words})(?![0-9A-Za-z])") if words else None
    for number, line in enumerate(raw):
        for name, pattern in RAW_PATTERNS.items():
            if pattern.search(line):
                found.append(f"raw line {number}: a {name}")
        if whole_words is not None and whole_words.search(line):
            found.append(f"raw line {number}: a secret the suite used")
    return found


CAPTURE = LogCapture()


def _record_codes(function: Any) -> Any:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        result = function(*args, **kwargs)
        if isinstance(result, str) and _CODE.fullmatch(result):
            SECRETS.add(result)
        return result
    return wrapper


def _record_sms(function: Any) -> Any:
    def wrapper(self: Any, *, db_session: Any, phone: str, text: str) -> Any:
        SECRETS.update(_CODE.findall(text))
        return function(self, db_session=db_session, phone=phone, text=text)
    return wrapper


def pytest_configure(config: pytest.Config) -> None:
    """Start capturing, and note the secrets the suite uses as they are made."""
    import pyotp

    from identity.accounts.sms import OutboxGateway
    from tests import flows

    SECRETS.update({flows.PASSWORD, flows.PASSCODE})
    pyotp.OTP.generate_otp = _record_codes(pyotp.OTP.generate_otp)  # type: ignore[method-assign]
    OutboxGateway.send = _record_sms(OutboxGateway.send)  # type: ignore[method-assign]
    logging.getLogger().addHandler(CAPTURE)


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Keep the capture installed whatever a test or the app did to the root logger."""
    root = logging.getLogger()
    if CAPTURE not in root.handlers:
        root.addHandler(CAPTURE)
    # Every app sets the process's root level from its LOG_LEVEL: one made with a higher level
    # (a production app of a test) would silence the INFO lines of every app after it.
    if root.level > logging.INFO:
        root.setLevel(logging.INFO)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run if any log line leaked."""
    leaks = find_leaks(CAPTURE.lines, CAPTURE.raw, SECRETS)
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if leaks:
        if reporter is not None:
            reporter.write_sep("=", "personal data or secrets in the logs", red=True)
            for leak in leaks[:50]:
                reporter.write_line(leak)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    elif reporter is not None and CAPTURE.lines:
        reporter.write_line(f"logcheck: {len(CAPTURE.lines)} log lines, no personal data or "
                            "secret in any")
