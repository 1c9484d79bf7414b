"""Logging that never writes a personal id, a phone number or a token.

Code must not log personal data in the first place; this formatter is the
second line of defence, because exception messages from drivers quote the
values that failed (``Key (personal_id)=(001...) already exists``).
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import re
from typing import Any

from flask import Flask

_REDACTIONS = (
    (re.compile(r"(?<!\d)\d{12}(?!\d)"), "[personal-id]"),
    (re.compile(r"(?<![\d+])(?:\+?84|0)\d{9}(?!\d)"), "[phone]"),
    (re.compile(r"eyJ[\w-]+\.[\w-]+\.[\w-]*"), "[token]"),
    (re.compile(r"(?i)\b(bearer|basic)\s+[\w.~+/=-]+"), r"\1 [credential]"),
    (re.compile(r"vnidop_[\w-]+"), "[admin-token]"),
    (re.compile(r"vnidrp_[\w-]+"), "[client-secret]"),
)


def redact(text: str) -> str:
    """Replace anything shaped like a personal id, phone number or token."""
    for pattern, replacement in _REDACTIONS:
        text = pattern.sub(replacement, text)
    return text


class RedactingFormatter(logging.Formatter):
    """A formatter whose whole output, traceback included, goes through :func:`redact`."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class JsonFormatter(RedactingFormatter):
    """One JSON object per line: ts, level, logger, message and the record's ``fields``.

    ``log.info("request", extra={"fields": {...}})`` puts the fields at the top
    level of the line (the request log of :mod:`app.metrics`). The whole line,
    traceback included, still goes through :func:`redact`.
    """

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.timezone.utc)
            .isoformat(timespec="milliseconds"),
            "level": record.levelname, "logger": record.name, "message": record.getMessage()}
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            line.update(fields)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return redact(json.dumps(line, ensure_ascii=False, default=str))


def register_logging(app: Flask) -> None:
    """Send the service's logs to standard error, one redacted JSON object per line."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers = [h for h in root.handlers if not getattr(h, "_vnid", False)]
    handler._vnid = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(app.config["LOG_LEVEL"])
