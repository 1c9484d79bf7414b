"""Anonymity at rest: a dump of the whole database does not tie an anonymous case to its reporter.

A citizen files an anonymous report among their own named acts (registration,
login, a named report, reading their data), adds a photo, answers an
officer's question while the case moves on. Then every table of the database
(reflected, so a table added tomorrow is read too) is dumped, and
:func:`find_links` looks for anything that ties the two sides together:

- side A: every row that names the anonymous case (its id in a column that
  points at ``reports``, directly or through a polymorphic pair such as
  ``audit_events.subject_type/subject_id`` or ``workflow_events.workflow/case_id``,
  or its case number anywhere in a text or JSON value);
- side B: every row that names the reporter (their account, citizen,
  personal id, phone or phone hash, their named report);
- a link: a row on both sides, or one value shared by a row of each side:
  the same bytes (hashes, keys, ciphertexts), the same identifier-like text
  (request ids, addresses, session and device ids, ``account:12``), the same
  id in the same domain, or two times within the same second.

Officers, scam indicators and reference tables are hubs: an officer works
many cases, a scam number is named by many reporters; sharing them says
nothing about who filed a case. A control test plants the leaks the issue
found (a notification naming the case, an audit row with the reporter's
address beside their login) and checks that :func:`find_links` reports each.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import logging
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import redis as redis_lib
import sqlalchemy as sa
import time_machine
from PIL import Image
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from app.logging_setup import JsonFormatter
from identity.accounts.models import Account, Notification
from identity.audit.models import AuditEvent
from identity.audit.service import UNLINKABLE_SHARDS, Actor, record_event, verify_chain
from tests.flows import assert_error
from tests.utilities.reports.helpers import (OWNER, SERIAL, SOFTWARE, Cop, Person, citizen,
                                             file_report, jpeg_with_metadata, make_officer,
                                             officer, png_with_metadata, report_body, with_key)
from utilities.reports import queue as police_queue
from utilities.reports.errors import InvalidReport
from utilities.reports.models import Report
from utilities.reports.reporter import reporter_hash

START = dt.datetime(2026, 12, 5, 10, 37, 11, tzinfo=dt.timezone.utc)
#: Tables whose rows are shared by many cases and reporters (staff, reference data).
HUB_TABLES = {"officers", "scam_indicators", "audit_chain_heads", "alembic_version"}
#: Polymorphic references: (table, type column, id column) and what each type points at.
POLYMORPHIC = [("audit_events", "subject_type", "subject_id"),
               ("workflow_events", "workflow", "case_id")]
TYPE_TABLES = {"citizen": "citizens", "report": "reports", "account": "accounts",
               "officer": "officers"}
_IDENTIFIER = re.compile(r"^\S{8,}$")


# --- The dump and the search for links ----------------------------------------------------------

@dataclass
class Row:
    """One row of the dump, with the values a join could use."""

    table: str
    values: dict[str, Any]
    ids: set[tuple[str, str]] = field(default_factory=set)
    texts: set[str] = field(default_factory=set)
    blobs: set[bytes] = field(default_factory=set)
    times: set[dt.datetime] = field(default_factory=set)

    def label(self) -> str:
        """The row as a failure message names it."""
        return f"{self.table}{ {k: v for k, v in self.values.items() if v is not None} }"


def _leaves(value: Any) -> Iterator[Any]:
    """The scalar values inside a JSON value (or the value itself)."""
    if isinstance(value, dict):
        for item in value.values():
            yield from _leaves(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _leaves(item)
    else:
        yield value


def _as_time(value: Any) -> dt.datetime | None:
    """A timestamp (a naive one is UTC, as SQLite gives them back), or a string holding one."""
    if isinstance(value, str) and len(value) >= 19 and value[4] == "-" and value[10] in "T ":
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            return None
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)
    return None


def _id_domains(table: sa.Table) -> dict[str, str]:
    """Columns holding ids, and the table each id belongs to (its own key, its foreign keys)."""
    domains = {c.name: table.name for c in table.primary_key.columns
               if isinstance(c.type, sa.Integer) and len(table.primary_key.columns) == 1}
    for key in table.foreign_keys:
        domains[key.parent.name] = key.column.table.name
    return domains


def dump(connection: sa.Connection) -> list[Row]:
    """Every row of every table of the database (reflected: no table is left out)."""
    rows: list[Row] = []
    inspector = sa.inspect(connection)
    for name in inspector.get_table_names():
        table = sa.Table(name, sa.MetaData(), autoload_with=connection)
        domains = _id_domains(table)
        polymorphic = [(kind, ident) for t, kind, ident in POLYMORPHIC if t == name]
        for record in connection.execute(sa.select(table)).mappings():
            row = Row(table=name, values=dict(record))
            for column, value in record.items():
                if isinstance(value, str) and value[:1] in "[{":
                    try:
                        value = json.loads(value)
                    except ValueError:
                        pass
                if column in domains and value is not None:
                    row.ids.add((domains[column], str(value)))
                for leaf in _leaves(value):
                    moment = _as_time(leaf)
                    if moment is not None:
                        row.times.add(moment)
                    elif isinstance(leaf, (bytes, memoryview)) and len(bytes(leaf)) >= 16:
                        row.blobs.add(bytes(leaf))
                    elif isinstance(leaf, str):
                        row.texts.add(leaf)
            for kind, ident in polymorphic:
                if record[kind] is not None and record[ident] is not None:
                    target = TYPE_TABLES.get(record[kind], f"{name}:{record[kind]}")
                    row.ids.add((target, str(record[ident])))
            rows.append(row)
    return rows


@dataclass(frozen=True)
class Seeds:
    """What names one side: ids by table, and strings or bytes that appear in its rows."""

    ids: frozenset[tuple[str, str]]
    texts: frozenset[str] = frozenset()
    blobs: frozenset[bytes] = frozenset()

    def named_in(self, row: Row) -> bool:
        """Whether ``row`` names this side."""
        return bool(row.ids & self.ids or row.blobs & self.blobs
                    or any(seed in text for seed in self.texts for text in row.texts))


def _link_values(row: Row, hubs: set[str]) -> tuple[set[Any], set[dt.datetime]]:
    """The values of a row a join could use, without hubs (staff, reference data)."""
    values: set[Any] = {("id", domain, value) for domain, value in row.ids
                        if domain not in HUB_TABLES}
    values |= {("text", text) for text in row.texts
               if _IDENTIFIER.match(text) and any(ch.isdigit() for ch in text)
               and text not in hubs}
    values |= {("bytes", blob) for blob in row.blobs}
    return values, row.times


def find_links(rows: list[Row], case: Seeds, reporter: Seeds) -> list[str]:
    """Every row, shared value or same-second time that ties the case to the reporter."""
    hubs = {str(v) for row in rows if row.table in HUB_TABLES for v in row.values.values()}
    hubs |= {f"officer:{row.values['id']}" for row in rows if row.table == "officers"}
    side_a = [row for row in rows if case.named_in(row)]
    side_b = [row for row in rows if reporter.named_in(row)]
    found = [f"a row names both: {row.label()}" for row in side_a if row in side_b]
    b_values: dict[Any, Row] = {}
    b_times: list[tuple[dt.datetime, Row]] = []
    for row in side_b:
        values, times = _link_values(row, hubs)
        b_values.update(dict.fromkeys(values, row))
        b_times += [(moment, row) for moment in times]
    for row in side_a:
        values, times = _link_values(row, hubs)
        found += [f"{value!r} joins {row.label()} to {b_values[value].label()}"
                  for value in values if value in b_values]
        found += [f"{moment} is within a second of {other} in {b_row.label()}: {row.label()}"
                  for moment in times for other, b_row in b_times
                  if abs((moment - other).total_seconds()) < 1]
    return found


# --- The scene: an anonymous case among the reporter's own named acts ----------------------------

@dataclass
class Scene:
    """What the test did, and the two sides it must keep apart."""

    reporter: Person
    cop: Cop
    anonymous: dict[str, Any]
    named: dict[str, Any]
    evidence: dict[str, Any]
    case: Seeds
    person: Seeds


def _side_of_the_reporter(db_session: Any, protector: Any, person: Person,
                          named: dict[str, Any]) -> Seeds:
    account = db_session.get(Account, person.account_id)
    named_id = db_session.scalar(sa.select(Report.id).where(
        Report.case_number == named["case_number"]))
    return Seeds(
        ids=frozenset({("accounts", str(account.id)), ("citizens", str(account.citizen_id)),
                       ("reports", str(named_id))}),
        texts=frozenset({person.record.personal_id, person.record.test_phone,
                         f"account:{account.id}", named["case_number"]}),
        blobs=frozenset({account.phone_hash, reporter_hash(protector, account.id)}))


@pytest.fixture()
def scene(client: Any, db_session: Any, protector: Any) -> Iterator[Scene]:
    """The reporter's day, one act every few seconds, from one phone and one address."""
    with time_machine.travel(START, tick=False) as traveller:
        def later() -> None:
            traveller.shift(dt.timedelta(seconds=7))

        def named_act(text: str) -> None:
            """A write in the reporter's name in the same second as their anonymous act."""
            answer = client.post(f"/api/v1/reports/{named['case_number']}/messages",
                                 headers=reporter.headers, json={"text": text})
            assert answer.status_code == 201, answer.get_json()

        reporter = citizen(client, db_session, protector, full_name="Trần Thị Ẩn Danh")
        cop = officer(client, db_session, protector, "cop.anonymity")
        later()
        named = file_report(client, reporter, scam_phones=["0933 111 222"])
        later()
        client.get("/api/v1/me", headers=reporter.headers)
        anonymous = file_report(client, reporter, anonymous=True, scam_phones=["0987 654 321"])
        case, key = anonymous["case_number"], anonymous["reporter_key"]
        named_act("One more thing.")
        later()
        evidence = client.post(f"/api/v1/reports/{case}/evidence",
                               headers=with_key(reporter, key),
                               data={"file": (io.BytesIO(jpeg_with_metadata()), "p.jpg")},
                               content_type="multipart/form-data").get_json()
        named_act("And another.")
        mine = f"/api/v1/reports/{case}/evidence/{evidence['id']}"
        assert client.get(mine, headers=reporter.headers).status_code == 404  # no key, no case
        assert client.get(mine, headers=with_key(reporter, key)).status_code == 200
        for path, body in (("", None), ("/assign", {}), ("/questions", {"text": "When?"})):
            later()
            url = f"/api/v1/police/reports/{case}{path}"
            answer = (client.get(url, headers=cop.headers) if body is None
                      else client.post(url, headers=cop.headers, json=body))
            assert answer.status_code in (200, 201), answer.get_json()
        later()
        client.get("/api/v1/me/notifications", headers=reporter.headers)
        polled = client.get(f"/api/v1/reports/{case}", headers=with_key(reporter, key))
        assert polled.get_json()["awaiting_answer"] is True
        later()
        assert client.post(f"/api/v1/reports/{case}/messages", headers=with_key(reporter, key),
                           json={"text": "Yesterday at nine."}).status_code == 201
        named_act("Still there?")
        client.get("/api/v1/me/access-log", headers=reporter.headers)
        later()
        for action in ("verify", "investigate"):
            assert client.post(f"/api/v1/police/reports/{case}/status", headers=cop.headers,
                               json={"action": action}).status_code == 200
            later()
        client.get(f"/api/v1/police/reports/{case}/evidence/{evidence['id']}",
                   headers=cop.headers)
        later()
        client.post(f"/api/v1/police/reports/{named['case_number']}/questions",
                    headers=cop.headers, json={"text": "Which bank?"})
        client.post(f"/api/v1/reports/{named['case_number']}/messages",
                    headers=reporter.headers, json={"text": "Vietcombank."})
        later()
        client.get("/api/v1/reports", headers=reporter.headers)
        anonymous_id = db_session.scalar(sa.select(Report.id).where(Report.case_number == case))
        yield Scene(reporter=reporter, cop=cop, anonymous=anonymous, named=named,
                    evidence=evidence,
                    case=Seeds(ids=frozenset({("reports", str(anonymous_id))}),
                               texts=frozenset({case})),
                    person=_side_of_the_reporter(db_session, protector, reporter, named))


def test_no_row_and_no_join_of_rows_ties_an_anonymous_case_to_its_reporter(
        db_session: Any, scene: Scene) -> None:
    rows = dump(db_session.connection())
    side_a = {row.table for row in rows if scene.case.named_in(row)}
    side_b = {row.table for row in rows if scene.person.named_in(row)}
    # The search does see both sides (else an empty result would prove nothing).
    assert {"reports", "workflow_events", "audit_events", "report_evidence",
            "report_indicators"} <= side_a
    assert {"accounts", "citizens", "devices", "session_families", "notifications",
            "audit_events", "reports", "workflow_events"} <= side_b
    assert find_links(rows, scene.case, scene.person) == []


def test_the_reporter_key_is_stored_nowhere_and_no_redis_key_names_the_case(
        db_session: Any, redis: Any, scene: Scene) -> None:
    key, case = scene.anonymous["reporter_key"], scene.anonymous["case_number"]
    for row in dump(db_session.connection()):
        assert key not in repr(row.values) and key.encode() not in repr(row.values).encode()
    names = [n.decode() if isinstance(n, bytes) else str(n) for n in redis.scan_iter("*")]
    quota_prefixes = ("quota:reports:", "quota:evidence-")
    limit_prefixes = ("LIMITER/reports:", "LIMITER/evidence:")
    quotas = [n.split(":")[2] for n in names if n.startswith(quota_prefixes)]
    limits = [n.split("/")[2] for n in names if n.startswith(limit_prefixes)]
    assert len(quotas) == 3  # reports, evidence files, evidence bytes: one day's key each
    # Each names the account by a keyed hash, never by its id (a hash tag: {hash}).
    assert all(re.fullmatch(r"\{[0-9a-f]{32}\}", subject) for subject in quotas + limits)
    for name in names:
        assert case not in name and key not in name
        kind = redis.type(name)
        value = redis.get(name) if kind in (b"string", "string") else b""
        assert case.encode() not in (value or b"") and key.encode() not in (value or b"")


def test_the_unlinkable_events_keep_the_audit_chain_verifiable(db_session: Any,
                                                               scene: Scene) -> None:
    events = db_session.scalars(sa.select(AuditEvent).where(
        AuditEvent.subject_type == "report")).all()
    assert {e.action for e in events} >= {"report.filed", "report.evidence_added",
                                          "report.read", "report.assigned",
                                          "report.question_asked", "report.answered",
                                          "report.verify"}
    for event in events:
        assert event.shard in UNLINKABLE_SHARDS and (event.source, event.request_id) == (None, None)
        assert event.actor_id is None or event.actor_id.startswith("officer:")
        assert event.occurred_at == START.replace(minute=0, second=0) and event.id < 0
    others = db_session.scalars(sa.select(AuditEvent).where(
        AuditEvent.subject_type != "report")).all()
    assert others and all(e.shard not in UNLINKABLE_SHARDS and e.id > 0 for e in others)
    assert verify_chain(db_session=db_session).events >= len(events) + len(others)


def test_the_officer_receives_the_photo_without_its_metadata(client: Any, scene: Scene) -> None:
    assert scene.evidence["metadata_removed"] is True
    answer = client.get(f"/api/v1/police/reports/{scene.anonymous['case_number']}/evidence/"
                        f"{scene.evidence['id']}", headers=scene.cop.headers)
    data = answer.data
    assert answer.status_code == 200
    assert hashlib.sha256(data).hexdigest() == scene.evidence["sha256"] == \
        answer.headers["X-Content-SHA256"] and len(data) == scene.evidence["size"]
    for telltale in (SERIAL, OWNER, SOFTWARE, "xmpmeta", "Model X"):
        assert telltale.encode() not in data
    picture = Image.open(io.BytesIO(data))
    assert picture.getexif().get_ifd(0x8825) == {} and "xmp" not in picture.info


def test_a_png_with_text_chunks_reaches_officers_bare(client: Any, db_session: Any,
                                                      protector: Any) -> None:
    reporter = citizen(client, db_session, protector)
    cop = officer(client, db_session, protector, "cop.png")
    case = file_report(client, reporter)["case_number"]
    sent = png_with_metadata()
    stored = client.post(f"/api/v1/reports/{case}/evidence", headers=reporter.headers,
                         data={"file": (io.BytesIO(sent), "p.png")},
                         content_type="multipart/form-data").get_json()
    assert stored["metadata_removed"] is True and stored["content_type"] == "image/png"
    data = client.get(f"/api/v1/police/reports/{case}/evidence/{stored['id']}",
                      headers=cop.headers).data
    assert hashlib.sha256(data).hexdigest() == stored["sha256"]
    assert hashlib.sha256(sent).hexdigest() != stored["sha256"]
    for chunk in (b"tEXt", b"zTXt", b"iTXt", b"eXIf", OWNER.encode(), SERIAL.encode()):
        assert chunk not in data
    refused = client.post(f"/api/v1/reports/{case}/evidence", headers=reporter.headers,
                          data={"file": (io.BytesIO(sent[:60]), "p.png")},
                          content_type="multipart/form-data")
    assert_error(refused, 422, "evidence.unreadable")


# --- The control: the leaks the issue found are found ----------------------------------------

def test_the_search_finds_each_leak_the_issue_describes(db_session: Any, scene: Scene) -> None:
    case = scene.anonymous["case_number"]
    login = db_session.scalars(sa.select(AuditEvent).where(
        AuditEvent.actor_id == f"account:{scene.reporter.account_id}")).first()
    assert login is not None and login.source
    rows = dump(db_session.connection())
    leaks = {
        # A notification row ties the account to the case number.
        "notification": [Row(table="notifications", values={"text": case},
                             ids={("accounts", str(scene.reporter.account_id))},
                             texts={f"Your report {case} was received"})],
        # The filing's audit row: the reporter's address and a time beside their login.
        "address and time": [Row(table="audit_events", values={"subject_id": "x"},
                                 ids={("reports", next(iter(scene.case.ids))[1])},
                                 texts={login.source, "report.filed"},
                                 times={login.occurred_at + dt.timedelta(milliseconds=300)})],
        # The reporter hash of the account, as anonymous cases had it.
        "hash": [Row(table="reports", values={}, ids=set(scene.case.ids),
                     blobs={b for b in scene.person.blobs if len(b) == 32})],
    }
    for name, planted in leaks.items():
        assert find_links(rows + planted, scene.case, scene.person), name


# --- The request log and the edges -----------------------------------------------------------

def test_the_request_log_of_report_routes_holds_no_address_case_or_request_id(
        client: Any, db_session: Any, protector: Any, caplog: Any) -> None:
    reporter = citizen(client, db_session, protector)
    address = "203.0.113.77"
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="vnid.request"):
        filed = client.post("/api/v1/reports", headers=reporter.headers,
                            environ_base={"REMOTE_ADDR": address},
                            json=report_body(anonymous=True))
        case = filed.get_json()["case_number"]
        client.get(f"/api/v1/reports/{case}", environ_base={"REMOTE_ADDR": address},
                   headers=with_key(reporter, filed.get_json()["reporter_key"]))
    lines = [r for r in caplog.records if r.name == "vnid.request"]
    assert [r.fields["route"] for r in lines] == ["/api/v1/reports",  # type: ignore[attr-defined]
                                                  "/api/v1/reports/<case_number>"]
    for record in lines:
        text = JsonFormatter().format(record)  # the line as it is written
        assert address not in text and case not in text and "request_id" not in text
        assert filed.headers["X-Request-Id"] not in text


def test_filing_and_evidence_have_per_account_limits_and_daily_quotas(
        app: Any, client: Any, db_session: Any, protector: Any, monkeypatch: Any) -> None:
    reporter = citizen(client, db_session, protector)
    monkeypatch.setitem(app.config, "REPORT_DAILY_PER_ACCOUNT", 2)
    case = file_report(client, reporter)["case_number"]
    file_report(client, reporter, anonymous=True)  # anonymous filings count alike
    refused = client.post("/api/v1/reports", headers=reporter.headers,
                          json=report_body())
    body = assert_error(refused, 429, "quota.exhausted")
    assert 0 < int(refused.headers["Retry-After"]) <= 86_400 and body["errors"]["quota"] == [2]

    def upload(data: bytes) -> Any:
        return client.post(f"/api/v1/reports/{case}/evidence", headers=reporter.headers,
                           data={"file": (io.BytesIO(data), "p.png")},
                           content_type="multipart/form-data")

    monkeypatch.setitem(app.config, "EVIDENCE_DAILY_BYTES_PER_ACCOUNT",
                        1.5 * len(png_with_metadata()) + 500)  # one upload's body, not two
    assert upload(png_with_metadata()).status_code == 201
    assert_error(upload(png_with_metadata()), 429, "quota.exhausted")  # the bytes of the day
    monkeypatch.setitem(app.config, "EVIDENCE_DAILY_BYTES_PER_ACCOUNT", 10**9)
    monkeypatch.setitem(app.config, "EVIDENCE_DAILY_FILES_PER_ACCOUNT", 3)
    assert upload(png_with_metadata()).status_code == 201
    assert_error(upload(png_with_metadata()), 429, "quota.exhausted")  # the files of the day
    other = citizen(client, db_session, protector)  # another account has its own quota
    assert client.post("/api/v1/reports", headers=other.headers,
                       json=report_body()).status_code == 201


def test_filing_and_evidence_are_rate_limited_per_account(
        app: Any, client: Any, db_session: Any, protector: Any, monkeypatch: Any) -> None:
    reporter = citizen(client, db_session, protector)
    monkeypatch.setitem(app.config, "REPORT_LIMIT_PER_ACCOUNT", "2 per minute")
    body = report_body()
    answers = [client.post("/api/v1/reports", headers=reporter.headers, json=body)
               for _ in range(3)]
    assert [a.status_code for a in answers[:2]] == [201, 201]
    assert_error(answers[2], 429, "rate_limited")
    assert int(answers[2].headers["Retry-After"]) > 0
    monkeypatch.setitem(app.config, "EVIDENCE_LIMIT_PER_ACCOUNT", "1 per minute")
    case = answers[0].get_json()["case_number"]
    uploads = [client.post(f"/api/v1/reports/{case}/evidence", headers=reporter.headers,
                           data={"file": (io.BytesIO(png_with_metadata()), "p.png")},
                           content_type="multipart/form-data") for _ in range(2)]
    assert uploads[0].status_code == 201
    assert_error(uploads[1], 429, "rate_limited")


def test_quotas_fail_closed_when_redis_is_down(app: Any, client: Any, db_session: Any,
                                               protector: Any, monkeypatch: Any) -> None:
    reporter = citizen(client, db_session, protector)
    down = redis_lib.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    monkeypatch.setattr("app.quotas.get_redis", lambda: down)
    script = app.extensions["ratelimit_script"]
    if script is not None:  # on Redis, the limits count there too (the lane: with the quota)
        monkeypatch.setattr(script, "registered_client", down)
    answer = client.post("/api/v1/reports", headers=reporter.headers,
                         json=report_body())
    assert_error(answer, 503, "service.unavailable")
    assert db_session.scalar(sa.select(sa.func.count()).select_from(Report)) == 0


@pytest.mark.parametrize("args, field_name", [
    ({"filed_to": dt.date.max}, "filed_to"), ({"filed_from": dt.date.min}, "filed_from")])
def test_queue_dates_whose_arithmetic_overflows_are_422(db_session: Any, protector: Any,
                                                        args: dict[str, Any],
                                                        field_name: str) -> None:
    with pytest.raises(InvalidReport) as refused:
        police_queue.queue(db_session=db_session, officer=make_officer(db_session, protector),
                           page=1, per_page=20, **args)
    assert (refused.value.code, refused.value.field) == ("queue.date_out_of_range", field_name)


@pytest.mark.parametrize("query", ["filed_to=9999-12-31", "filed_from=0001-01-01",
                                   "filed_from=2026-01-01&filed_to=9999-12-31"])
def test_far_dates_on_the_police_queue_are_422_not_500(client: Any, db_session: Any,
                                                       protector: Any, query: str) -> None:
    cop = officer(client, db_session, protector, "cop.dates")
    answer = client.get(f"/api/v1/police/reports?{query}", headers=cop.headers)
    assert answer.status_code == 422, answer.get_json()
    assert answer.get_json()["code"] in ("queue.date_out_of_range", "date.out_of_range")


def test_no_notification_row_names_an_anonymous_case(db_session: Any, scene: Scene) -> None:
    case = scene.anonymous["case_number"]
    texts = db_session.scalars(sa.select(Notification.text)).all()
    assert texts and not [t for t in texts if case in t]


@pytest.mark.skipif(not (os.environ.get("DATABASE_URL") or "").startswith("postgres"),
                    reason="row locks: SQLite serialises every writer; runs on PostgreSQL")
def test_concurrent_anonymous_acts_take_different_unlinkable_chains(app: Any) -> None:
    engine = sa.create_engine(app.config["SQLALCHEMY_DATABASE_URI"], poolclass=NullPool)
    sessions = [Session(bind=engine) for _ in range(len(UNLINKABLE_SHARDS))]
    try:
        shards = []
        for session in sessions:
            session.execute(sa.text("SET LOCAL lock_timeout = '2s'"))  # a wait would fail
            event = record_event(db_session=session, actor=Actor(type="reporter"),
                                 action="test.anonymous", unlinkable=True)
            session.flush()
            shards.append(event.shard)
        assert sorted(shards) == list(UNLINKABLE_SHARDS)  # one chain each, nobody waited
    finally:
        for session in sessions:
            session.rollback()
            session.close()
        engine.dispose()
