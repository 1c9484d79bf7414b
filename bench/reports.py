"""Incident reports: filing one, and a queue page of a province holding 100,000 reports.

Served like every service bench (:func:`bench.servers.serving`: ``wsgi:app`` in
the production configuration on :data:`bench.servers.SERVICE_SERVER`) on a
scratch PostgreSQL database prepared by :func:`bench.accounts.registered_service`
(16 registered, active citizens). Then, loaded with ``COPY``:

- :data:`BIG` reports in Hà Nội (province 01), spread over its communes;
- :data:`SMALL` reports in Hồ Chí Minh City (79);

and ``ANALYZE``. Each measurement logs in a province-level officer of a fresh
username (a TOTP step is accepted once per officer) and its citizens.

- ``file``: ``POST /api/v1/reports`` (a scam report naming a phone number and a
  link, in Đà Nẵng so the two queues keep their sizes), each client with its
  own citizen's token: the report, its first history row, its indicators, its
  audit event, the usage counter and the notification, in one transaction.
  Goal: at least :data:`FILE_GOAL` of the Flask hello-world on the same server.
- ``queue``: ``GET /api/v1/police/reports`` (first page of 20, newest first)
  by the officer of the province holding :data:`BIG` reports. Goal: at least
  :data:`QUEUE_GOAL` of the hello-world.
- ``queue_scaling``: the same page in the province holding :data:`SMALL`
  reports, over the big province's: goal at most :data:`SCALING_GOAL`
  (the page costs an index range scan and a count capped at 1,001 rows,
  whatever the queue's size).

The hello-world and the service are started once; each round measures the
four loads one after the other, in an order that turns from round to round
(:func:`bench.common.alternate`, :data:`bench.common.ROUNDS` rounds, ``--quick``
too). Each figure is the median of the per-round ratios, given with min and max.
"""
from __future__ import annotations

import datetime as dt
import urllib.parse
from typing import Any

import psycopg
import sqlalchemy as sa
from sqlalchemy.orm import sessionmaker

from bench.accounts import (ACTOR, CONNECTIONS, WARMUP_S, bearer_load, hello_load, login_once,
                            officer_login, registered_service, windows)
from bench.common import ROUNDS, alternate, ratios, table_entry
from bench.servers import SERVICE_SERVER, WORKERS, serving, summarise
from bench.table import GOALS
from identity.accounts import officers
from identity.protection import Protector
from identity.registry import admin_units

BIG, SMALL = 100_000, 1_000
BIG_PROVINCE, SMALL_PROVINCE, FILING_PROVINCE = "01", "79", "48"
FILE_GOAL, QUEUE_GOAL, SCALING_GOAL = GOALS["report_filing"], 0.2, 1.5
QUEUE_PATH = "/api/v1/police/reports?per_page=20"
FILE_PATH = "/api/v1/reports"
OFFICER_PASSWORD = "correct horse battery staple"
_COLUMNS = ("case_number", "category", "description", "province_code", "commune_code",
            "location_known", "address", "occurred_at", "anonymous", "reporter_encrypted",
            "reporter_hash", "due_at", "created_at", "updated_at", "status", "version")
_CATEGORIES = ("crime", "fraud", "fire_hazard", "traffic", "environment", "other")
_STATUSES = ("received", "verifying", "investigating", "closed", "rejected")


def _load_reports(url: str, protector: Protector, province: str, count: int) -> None:
    """``count`` reports in ``province`` by ``COPY`` (sealed to a dummy reporter)."""
    communes = [c.code for c in admin_units.communes_by_province()[province]]
    sealed = protector.encrypt("0:0", context=b"bench")
    digest = protector.lookup_hash("bench", purpose=b"bench")
    start = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=200)
    with psycopg.connect(url) as conn, conn.cursor() as cursor:
        with cursor.copy(f"COPY reports ({', '.join(_COLUMNS)}) FROM STDIN") as copy:
            for n in range(count):
                at = start + dt.timedelta(seconds=150 * n)
                status = _STATUSES[n % 5]
                copy.write_row((
                    f"TG-B{province}-{n:08d}", _CATEGORIES[n % 6], "Bench report.", province,
                    communes[n % len(communes)], True, "Bench street", at, n % 3 == 0,
                    sealed, digest, at + dt.timedelta(hours=24) if status in _STATUSES[:3]
                    else None, at, at, status, 1))
        conn.execute("ANALYZE reports")


def _make_officers(factory: sessionmaker[Any], protector: Protector,
                   count: int) -> list[tuple[str, str, str]]:
    """``count`` province officers of each queue: (username, province, TOTP secret)."""
    made = []
    with factory() as session:
        for n in range(count):
            for province in (BIG_PROVINCE, SMALL_PROVINCE):
                username = f"bench.{province}.{n}"
                _officer, uri = officers.create_officer(
                    db_session=session, protector=protector, actor=ACTOR, username=username,
                    full_name="Bench Officer", password=OFFICER_PASSWORD,
                    province_code=province, commune_code=None, role="officer")
                secret = urllib.parse.parse_qs(urllib.parse.urlparse(uri).query)["secret"][0]
                made.append((username, province, secret))
    return made


def _filing_body() -> dict[str, Any]:
    commune = admin_units.communes_by_province()[FILING_PROVINCE][0].code
    return {"category": "fraud", "description": "A caller posing as the bank asked for my OTP.",
            "commune_code": commune, "address": "Bench street",
            "occurred_at": (dt.datetime.now(dt.timezone.utc)
                            - dt.timedelta(hours=2)).isoformat(),
            "scam_phones": ["0912345678"], "scam_links": ["https://vay-nhanh.example/app"],
            "anonymous": True}


def run(*, quick: bool = False) -> dict[str, Any]:
    """The three figures of the reports utility."""
    duration = windows(quick)
    big = 20_000 if quick else BIG
    with registered_service("reports", accounts=CONNECTIONS) as svc:
        url = svc.env["DATABASE_URL"]
        protector = Protector.from_settings(svc.env["PERSONAL_DATA_KEYS"],
                                            svc.env["LOOKUP_HASH_KEY"])
        _load_reports(url, protector, BIG_PROVINCE, big)
        _load_reports(url, protector, SMALL_PROVINCE, SMALL)
        engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
        try:
            cops = _make_officers(sessionmaker(engine), protector, 1)
        finally:
            engine.dispose()
        body = _filing_body()
        with serving("hello", svc.env) as hello_port, serving("vnid", svc.env) as port:
            tokens = [login_once(port, h)["access_token"] for h in svc.holders]
            officer = {province: officer_login(port, username, OFFICER_PASSWORD, secret)
                       for username, province, secret in cops}

            loads = alternate(ROUNDS, {
                "hello": lambda: hello_load(hello_port, duration),
                "file": lambda: bearer_load(port, duration, "POST", FILE_PATH, tokens, [body]),
                "big": lambda: bearer_load(port, duration, "GET", QUEUE_PATH,
                                           [officer[BIG_PROVINCE]], [None]),
                "small": lambda: bearer_load(port, duration, "GET", QUEUE_PATH,
                                             [officer[SMALL_PROVINCE]], [None])})
    # Each figure stands on its own loads' answers: a queue page shed with 503 says nothing of
    # the filings measured in another window, and the reverse.
    clean = {name: all(load["non_2xx"] == 0 and load["errors"] == 0 for load in loads[name])
             for name in ("file", "big", "small")}
    valid = all(clean.values())
    filing = table_entry(ratios(loads["file"], loads["hello"], "rps"), FILE_GOAL,
                         valid=clean["file"])
    return {
        "rows": [{"endpoint": "POST /api/v1/reports (filed/s)", **summarise(loads["file"])},
                 {"endpoint": f"GET /api/v1/police/reports, province of {big:,}",
                  **summarise(loads["big"])},
                 {"endpoint": f"GET /api/v1/police/reports, province of {SMALL:,}",
                  **summarise(loads["small"])},
                 {"endpoint": "GET /hello, Flask hello-world (baseline)",
                  **summarise(loads["hello"])}],
        "table": {"report_filing": filing},
        "file_vs_hello": filing,
        "queue_vs_hello": table_entry(ratios(loads["big"], loads["hello"], "rps"), QUEUE_GOAL,
                                      valid=clean["big"]),
        "queue_small_over_big": table_entry(ratios(loads["small"], loads["big"], "rps"),
                                            SCALING_GOAL, at_most=True,
                                            valid=clean["big"] and clean["small"]),
        "all_answers_2xx": valid,
        "settings": {"server": f"{SERVICE_SERVER}, {WORKERS} workers", "connections": CONNECTIONS,
                     "rounds": ROUNDS, "duration_s": duration, "warmup_s": WARMUP_S,
                     "big_queue": big, "small_queue": SMALL, "page": QUEUE_PATH},
    }
