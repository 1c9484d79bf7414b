"""Logging that never writes a personal id, a phone number or a token.

Code must not log personal data in the first place; this formatter is the
second line of defence, because exception messages from drivers quote the
values that failed (``Key (personal_id)=(001...) already exists``). It reads
numbers in every common written form (:func:`redact`).
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import re
from typing import Any

from flask import Flask

#: What may stand between the digit groups of a number as people write it: a space (also
#: URL-encoded as ``%20`` or ``+``, or a no-break space), a dot, a dash, a slash-free
#: parenthesis (``(024) 3825 1234``), or the trunk zero ``(0)`` of ``+84 (0) 912 ...``.
_SEPARATOR = r"(?:[ \t\u00a0.\-()+]|%20|%2[bBdDeE]|%28|%29|%C2%A0|\(0\))"
#: A run of digit groups: an optional ``+``/``%2B``/``(`` lead, then groups with 1-3
#: separators between them. Each run is then read group by group (:func:`_redact_run`).
_RUN = re.compile(rf"(?:\+|%2[bB]|\(|%28)*(?<!\d)\d+(?:{_SEPARATOR}{{1,3}}\d+)*")
#: Digit groups of a run; an encoded character (``%20``) or the trunk ``(0)`` is not one.
_GROUP = re.compile(r"%[0-9A-Fa-f]{2}|\(0\)|(\d+)")
#: A dotted quad without leading zeros (an IPv4 address such as a client's): never a number.
_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_IPV4 = re.compile(rf"(?:{_OCTET}\.){{3}}{_OCTET}")


#: The fewest digits a span :func:`_number_kind` reads as a number has (``0`` + 9 digits).
_FEWEST_DIGITS = 10


def _number_kind(digits: str, separated: bool) -> str | None:
    """``personal-id``, ``phone`` or None for the digits of a span of groups.

    A personal id is 12 digits; written in groups it starts with 0 (every
    province code does), which keeps ``100 200 300 400`` out. A phone is a
    Vietnamese number: ``0``, ``84`` or ``0084`` then 9 digits (mobile) or
    ``2`` and 9 more (landline), the trunk ``0`` allowed after ``84``.
    """
    if len(digits) == 12 and (not separated or digits.startswith("0")):
        return "personal-id"
    for prefix in ("0084", "84", "0"):
        if digits.startswith(prefix):
            rest = digits[len(prefix):]
            if prefix != "0" and rest.startswith("0"):
                rest = rest[1:]
            if rest.startswith("0"):  # 0.0123...: a number never starts 00 after its prefix
                break
            if len(rest) == 9 or (len(rest) == 10 and rest.startswith("2")):
                return "phone"
            break
    return None


def _decimal(run: str, groups: list[re.Match[str]], start: int) -> bool:
    """A span that starts ``0.``: a decimal fraction (a duration), never a written number."""
    first = groups[start]
    return first.group(1) == "0" and run[first.end():first.end() + 1] == "."


def _redact_run(match: re.Match[str]) -> str:
    """Redact the spans of whole groups of one run that read as a personal id or a phone."""
    run = match.group(0)
    # Every reading needs ten digits at least (``0`` and a 9-digit mobile number): a shorter
    # run (a status, a duration, a piece of a request id) holds no number of anyone.
    if len(run) < _FEWEST_DIGITS or _IPV4.fullmatch(run):
        return run
    groups = [group for group in _GROUP.finditer(run) if group.group(1)]
    out: list[str] = []
    written = start = 0
    while start < len(groups):
        digits, found = "", None
        for end in range(start, len(groups)):
            digits += groups[end].group(1)
            if len(digits) > 14:
                break
            kind = _number_kind(digits, end > start)
            if kind is not None:
                found = (end, kind)
        if found is None or _decimal(run, groups, start):
            start += 1
            continue
        end, kind = found
        # The lead (``+``, ``(``) before the first group belongs to the number.
        begin = 0 if start == 0 else groups[start].start()
        out.append(run[written:begin] + f"[{kind}]")
        written = groups[end].end()
        start = end + 1
    return "".join(out) + run[written:]


#: An ISO 8601 time of day (with its date, fraction and offset): left whole. Captured, so
#: splitting a line on it keeps the stamps between the pieces; it starts with a digit, so
#: the regex engine skips ahead to the next digit instead of trying every position.
_TIMESTAMP = re.compile(r"(\d(?:\d{3}-\d{2}-\d{2}[T ]\d)?\d:\d{2}:\d{2}(?:[.,]\d{1,9}(?!\d))?"
                        r"(?:Z|[+-]\d{2}:\d{2})?)")
#: Ten digits with at most separator tokens between them: no piece of a line without this
#: can hold a run of :data:`_FEWEST_DIGITS` digits, so its runs need not be read one by one.
#: Tried from the first digit of each sequence of digits only (``(?<!\d\d)``): one that
#: starts later has fewer tokens after it.
_LONG_RUN = re.compile(r"\d(?<!\d\d)(?:[\d \t\u00a0.\-()+]|%[0-9A-Fa-f]{2}){9}")
#: A digit, a colon, a digit: a text without it holds no time of day to split on (the colon
#: first, so the engine looks at the colons only).
_STAMP_HINT = re.compile(r":(?<=\d:)\d")

#: Credentials, redacted before numbers so a token's digits are not cut into pieces first.
#: ``bearer``/``basic`` in any case after no word character: written ``[bB](?<!\w.)`` rather
#: than ``(?i)\b(bearer|basic)`` (the same strings: no other letter folds to ``b``) so the
#: engine scans for the letter instead of trying every position.
_REDACTIONS = (
    (re.compile(r"eyJ[\w-]+\.[\w-]+\.[\w-]*"), "[token]"),
    (re.compile(r"([bB](?<!\w.)(?i:earer|asic))\s+[\w.~+/=-]+"), r"\1 [credential]"),
    (re.compile(r"vnidop_[\w-]+"), "[admin-token]"),
    (re.compile(r"vnidrt_[\w.-]+"), "[refresh-token]"),
    (re.compile(r"vnidrp_[\w-]+"), "[client-secret]"),
)


def redact(text: str) -> str:
    """Replace anything shaped like a personal id, phone number or token.

    Numbers are caught as people write them: ``0912.345.678``,
    ``(+84) 912-345-678``, ``0084 912 345 678``, ``0912%20345%20678``,
    ``079 190 012 345``; timestamps, durations, IPv4 addresses and request
    ids are left alone (``tests/security/test_redaction.py`` holds both lists).
    """
    for pattern, replacement in _REDACTIONS:
        if pattern.search(text) is not None:  # a search costs less than a sub finding nothing
            text = pattern.sub(replacement, text)
    # Timestamps are read as one piece: 07:45:03.123456+00:00 holds no number of anyone.
    # The split gives the pieces between them at even places, the stamps at odd ones.
    parts = _TIMESTAMP.split(text) if _STAMP_HINT.search(text) is not None else [text]
    for n in range(0, len(parts), 2):
        if _LONG_RUN.search(parts[n]) is not None:
            parts[n] = _RUN.sub(_redact_run, parts[n])
    return "".join(parts)


class RedactingFormatter(logging.Formatter):
    """A formatter whose whole output, traceback included, goes through :func:`redact`."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


#: A record attribute: true when the writer built every value of the line from closed sets
#: (a route's pattern, a status, a method of a fixed list) or checked it with :func:`redact`
#: already (a caller's request id, ``app.context.acceptable_request_id``), so that
#: :class:`JsonFormatter` need not read it again. ``tests/logcheck.py`` reads every line a test
#: run writes, these included, for personal data.
CHECKED = "vnid_checked"


class JsonFormatter(RedactingFormatter):
    """One JSON object per line: ts, level, logger, message and the record's ``fields``.

    ``log.info("request", extra={"fields": {...}})`` puts the fields at the top
    level of the line (the request log of :mod:`app.metrics`). The whole line,
    traceback included, still goes through :func:`redact`.
    """

    def format(self, record: logging.LogRecord) -> str:
        stamp = dt.datetime.fromtimestamp(record.created, dt.timezone.utc).isoformat(
            timespec="milliseconds")
        fields = getattr(record, "fields", None)
        if (getattr(record, CHECKED, False) and isinstance(fields, dict)
                and not record.exc_info and not record.args):
            # Every value of the line was checked by its writer (the request log, app.metrics):
            # read once more, it would come out the same (half the line's cost).
            return json.dumps({"ts": stamp, "level": record.levelname, "logger": record.name,
                               "message": record.msg, **fields}, ensure_ascii=False, default=str)
        line: dict[str, Any] = {
            "ts": stamp, "level": record.levelname, "logger": record.name,
            "message": record.getMessage()}
        if isinstance(fields, dict):
            line.update(fields)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        if line["ts"] is not stamp:  # a field named ts took the stamp's place
            return redact(json.dumps(line, ensure_ascii=False, default=str))
        # The stamp is a time of day, which redact() leaves whole wherever it stands: the rest
        # of the line alone is read (the same output, without splitting every line on it).
        del line["ts"]
        rest = redact(json.dumps(line, ensure_ascii=False, default=str))
        return f'{{"ts": "{stamp}", {rest[1:]}'


def register_logging(app: Flask) -> None:
    """Send the service's logs to standard error, one redacted JSON object per line."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers = [h for h in root.handlers if not getattr(h, "_vnid", False)]
    handler._vnid = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(app.config["LOG_LEVEL"])
