"""A caller's X-Request-Id goes into audit rows and logs only when it cannot carry personal data."""
from __future__ import annotations

import json
import random
import re

import pytest
import sqlalchemy as sa

from app.context import acceptable_request_id, fresh_request_id
from app.logging_setup import redact
from identity.audit.models import AuditEvent
from tests import logcheck

HOSTILE = [
    "079190012345",                        # a personal id
    "id-079190012345",                     # ... behind letters
    "0791-9001-2345", "079-190-012-345",   # ... in groups
    "0912345678", "tel-0912345678", "091-234-5678", "0912-345-678", "84-912-345-678",
    "cmnd-123456789",                      # an old ID card number (nine digits)
    "19900101",                            # a date of birth, no letter
    "req with spaces 1", "req\tab-12345", "dotted.0912.345.678", "under_0912_345_678",
    "yêu-cầu-12345", "req-\u202e-abcdef", "ｒｅｑ－ａｂｃｄｅｆｇｈ",
    "a" * 65, "x" * 10_240, "short", "",
]
FINE = ["app-7f3a9c21", "req-test-12345678", "3f2b8c1e-9d4a-4f6b-8a2c-1e5d7b9c0a3f",
        "mobile-2026-12-05-abcdef"]


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_request_ids_are_refused(value):
    assert not acceptable_request_id(value)


@pytest.mark.parametrize("value", FINE)
def test_ordinary_request_ids_are_kept(value):
    assert acceptable_request_id(value)


def test_fresh_ids_pass_the_same_rule():
    assert all(acceptable_request_id(fresh_request_id()) for _ in range(500))


def test_fresh_ids_are_32_hex_digits_the_redactor_leaves_alone():
    for _ in range(2000):
        value = fresh_request_id()
        assert len(value) == 32 and set(value) <= set("0123456789abcdef")
        assert redact(value) == value and re.search(r"\d{9}", value) is None


def test_the_shortcut_for_ids_with_few_digits_agrees_with_the_redactor():
    """Ids of fewer than ten digits skip the redactor: it would leave them alone anyway."""
    draw = random.Random(18)
    for _ in range(5000):
        value = "".join(draw.choice("0123456789-ab") for _ in range(draw.randint(8, 24)))
        full = (re.fullmatch(r"(?=[0-9-]*[A-Za-z])[A-Za-z0-9-]{8,64}", value) is not None
                and re.search(r"\d{9}", value) is None and redact(value) == value)
        assert acceptable_request_id(value) == full, value


@pytest.mark.parametrize("value", ["079190012345", "id-0791-9001-2345", "tel-0912345678",
                                   "x" * 10_240, "req with spaces"])
def test_a_hostile_id_reaches_neither_the_answer_nor_the_audit_nor_the_log(
        client, db_session, value):
    before = len(logcheck.CAPTURE.raw)
    answer = client.post("/api/v1/auth/officer-login", headers={"X-Request-Id": value},
                         json={"username": "nobody.here", "password": "not-the-password-1",
                               "totp": "000000"})
    assert answer.status_code == 401
    used = answer.headers["X-Request-Id"]
    assert used != value and len(used) == 32 and acceptable_request_id(used)
    audited = db_session.scalars(sa.select(AuditEvent.request_id).where(
        AuditEvent.action == "auth.officer_login_failed")).all()
    assert used in audited and value not in audited
    raw = "\n".join(logcheck.CAPTURE.raw[before:])
    assert value not in raw and used in raw
    request_line = next(json.loads(line) for line in logcheck.CAPTURE.lines[before:]
                        if '"vnid.request"' in line)
    assert request_line["request_id"] == used


def test_an_acceptable_id_is_audited_as_given(client, db_session):
    answer = client.post("/api/v1/auth/officer-login", headers={"X-Request-Id": "app-7f3a9c21"},
                         json={"username": "nobody.here", "password": "not-the-password-1",
                               "totp": "000000"})
    assert answer.headers["X-Request-Id"] == "app-7f3a9c21"
    assert db_session.scalar(sa.select(sa.func.count()).select_from(AuditEvent).where(
        AuditEvent.request_id == "app-7f3a9c21")) == 1
