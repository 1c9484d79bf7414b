"""Payments end-to-end: attempts per second through the bank gateway simulator, journal verified.

Served like every service bench (:func:`bench.servers.serving`: ``wsgi:app`` in
the production configuration) on a scratch PostgreSQL database prepared by
:func:`bench.accounts.registered_service` (16 registered citizens), each with
:data:`ORDERS_PER_CITIZEN` open fines loaded beforehand. The gateway
simulator (:mod:`app.gateway_simulator`) runs in this process on a port
of its own, in its ``succeed`` mode: it answers each payment at once and calls
the service back :data:`CALLBACK_DELAY` seconds later, signed.

One operation is one ``POST /api/v1/payments/<order>/attempts`` with a fresh
``Idempotency-Key`` on the next open order of the client's citizen: the
passcode check, the idempotency key claimed and answered, the
order locked and moved, the attempt, the signed call to the gateway, and the
gateway's answer stored. The callbacks the gateway sends meanwhile (one per
attempt: order paid, ledger posting, usage counter, audit, notification) load
the same server and are part of the cost. After the run the service waits for
the callbacks still in flight, reconciles what is left, and the journal is
verified (:func:`utilities.payments.ledger.verify_ledger`): balanced, one
posting per charge of the gateway.

Figure: attempts answered 2xx per second as a ratio to the Flask hello-world
on the same server (goal: ``payment_attempt`` in :data:`bench.table.ROWS`).
The hello-world and the service are started once; each round loads the
orders (untimed), then measures both one after the other, in an order that
turns from round to round
(:func:`bench.common.alternate`, :data:`bench.common.ROUNDS` rounds), and
proves the journal; the figure is the median of the per-round ratios.
"""
from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from typing import Any

from bench.loadgen import RequestBuilder

ORDERS_PER_CITIZEN = 600
CALLBACK_DELAY = 0.05
PATH = "/api/v1/payments/{order}/attempts"
SECRET = "bench-gateway-secret-of-at-least-32-characters"


class PayFlow:
    """A citizen paying their open orders one after the other, each with a new key."""

    def __init__(self, token: str, orders: list[int], build: RequestBuilder) -> None:
        self.token, self.orders, self.build = token, orders, build
        self.turn = 0
        self.body = json.dumps({"bank": "VCB", "passcode": "246810"}).encode()

    def next_request(self) -> bytes:
        """``POST /payments/<next order>/attempts`` with a fresh Idempotency-Key."""
        order = self.orders[self.turn % len(self.orders)]
        return self.build("POST", PATH.format(order=order), self.body, {
            "Authorization": f"Bearer {self.token}", "Idempotency-Key": str(uuid.uuid4())})

    def answered(self, status: int, body: bytes) -> bool:
        """Each answer is one attempt; the next goes to the next order."""
        self.turn += 1
        return True

    def abort(self) -> None:
        """A broken connection: on to the next order."""
        self.turn += 1


def pay_flow(index: int, connections: int, data: Any, build: RequestBuilder) -> PayFlow:
    """Client ``index`` pays the orders ``data["orders"][index]`` as ``data["tokens"][index]``."""
    return PayFlow(data["tokens"][index], data["orders"][index], build)


def _load_orders(url: str, personal_ids: list[str], per_citizen: int) -> list[list[int]]:
    """``per_citizen`` open fines for each citizen, inserted in bulk; their ids per citizen."""
    import sqlalchemy as sa

    from identity.registry.models import Citizen
    from utilities.payments.models import PaymentOrder

    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    now = dt.datetime.now(dt.timezone.utc)
    orders: list[list[int]] = []
    try:
        with engine.begin() as connection:
            ids = dict(connection.execute(sa.select(Citizen.personal_id, Citizen.id).where(
                Citizen.personal_id.in_(personal_ids))).all())
            for personal_id in personal_ids:
                rows = [{"kind": "fine", "citizen_id": ids[personal_id], "description": "Bench",
                         "legal_basis": "NĐ 168/2024", "amount": 800_000,
                         "treasury": "treasury:fines", "province_code": "01",
                         "commune_code": None, "due_date": now.date() + dt.timedelta(days=10),
                         "created_at": now, "status": "open", "version": 1}
                        for _ in range(per_citizen)]
                made = connection.execute(sa.insert(PaymentOrder).returning(PaymentOrder.id),
                                          rows)
                orders.append([int(i) for i in made.scalars()])
    finally:
        engine.dispose()
    return orders


def _verify(url: str, providers: dict[str, Any]) -> dict[str, Any]:
    """Reconcile what the callbacks left pending, then prove the journal."""
    import sqlalchemy as sa
    from sqlalchemy.orm import Session

    from identity.audit.service import Actor
    from utilities.payments import ledger, reconciliation
    from utilities.payments.models import PaymentAttempt

    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with Session(engine) as session:
            reconciled = reconciliation.reconcile(db_session=session,
                                                  actor=Actor(type="system", id="bench"),
                                                  providers=providers,
                                                  older_than=dt.timedelta(0), limit=100_000)
            report = ledger.verify_ledger(session)
            states = dict(session.execute(sa.select(PaymentAttempt.status, sa.func.count())
                                          .group_by(PaymentAttempt.status)).all())
    finally:
        engine.dispose()
    return {"balanced": report.balanced, "problems": report.problems[:5],
            "postings": report.postings, "paid_total_dong": report.paid_total,
            "reconciled": reconciled.settled, "attempts": states}


def _ok_per_s(load: dict[str, Any]) -> float:
    """Answers 2xx per second: an attempt refused (e.g. shed with 503) is not a payment."""
    ok = sum(n for status, n in load["statuses"].items() if 200 <= int(status) < 300)
    return float(ok / load["duration_s"])


def run(*, quick: bool = False) -> dict[str, Any]:
    """Payment attempts per second end-to-end, ratio to the hello-world; journal verified."""
    from app.gateway_simulator import GatewaySimulator, serve
    from bench.accounts import (CONNECTIONS, WARMUP_S, hello_load, login_once,
                                registered_service, windows)
    from bench.common import ROUNDS, alternate, table_entry
    from bench.loadgen import ALLOWED_HOST, run_load
    from bench.servers import SERVICE_SERVER, WORKERS, serving, summarise
    from bench.table import GOALS
    from utilities.payments.gateway import HttpProvider

    duration = windows(quick)
    simulator = GatewaySimulator(SECRET, mode="succeed", delay=CALLBACK_DELAY,
                                 callback_retries=(0.5, 1.0))
    sim_server, sim_url = serve(simulator)
    checks: list[dict[str, Any]] = []
    try:
        with registered_service("payments", accounts=CONNECTIONS) as svc:
            env = {**svc.env, "PAYMENT_GATEWAY_URL": sim_url, "PAYMENT_GATEWAY_SECRET": SECRET,
                   "PAYMENT_GATEWAY_TIMEOUT": "10"}
            url = svc.env["DATABASE_URL"]
            provider = HttpProvider("banksim", base_url=sim_url, secret=SECRET)
            with serving("hello", env) as hello_port, serving("vnid", env) as port:
                simulator.callback_override = (
                    f"http://{ALLOWED_HOST}:{port}/api/v1/payments/callbacks/banksim")
                tokens = [login_once(port, h)["access_token"] for h in svc.holders]

                def attempts() -> dict[str, Any]:
                    orders = _load_orders(url, [h.personal_id for h in svc.holders],
                                          ORDERS_PER_CITIZEN)
                    load = run_load(f"http://{ALLOWED_HOST}:{port}/", connections=CONNECTIONS,
                                    duration=duration, warmup=WARMUP_S,
                                    flow="bench.payments:pay_flow",
                                    flow_data={"tokens": tokens, "orders": orders})
                    deadline = time.monotonic() + 30
                    while time.monotonic() < deadline:  # the callbacks still in flight
                        stats = simulator.stats()
                        if stats["callbacks_sent"] + stats["callbacks_failed"] >= stats["charges"]:
                            break
                        time.sleep(0.2)
                    checks.append(_verify(url, {"banksim": provider}))
                    return load

                out = alternate(ROUNDS, {"baseline": lambda: hello_load(hello_port, duration),
                                         "load": attempts})
    finally:
        sim_server.shutdown()
        sim_server.server_close()
    pays, hellos = out["load"], out["baseline"]
    stats = simulator.stats()
    per_round = [_ok_per_s(p) / h["rps"] if h["rps"] else 0.0 for p, h in zip(pays, hellos)]
    paid = checks[-1]["attempts"].get("succeeded", 0) if checks else 0  # cumulative
    valid = (all(p["non_2xx"] == 0 and p["errors"] == 0 for p in pays)
             and all(check["balanced"] for check in checks) and paid == stats["charges"])
    entry = table_entry(per_round, GOALS["payment_attempt"], valid=valid)
    return {
        "rows": [{"endpoint": "POST /api/v1/payments/<id>/attempts (answers/s)",
                  **summarise(pays)},
                 {"endpoint": "GET /hello, Flask hello-world (baseline)", **summarise(hellos)}],
        "table": {"payment_attempt": entry},
        "attempts_2xx_per_s": [round(_ok_per_s(p), 1) for p in pays],
        "journal": {"balanced": all(c["balanced"] for c in checks), "rounds": checks,
                    "gateway": stats, "paid_equals_charges": paid == stats["charges"]},
        "all_answers_2xx": valid,
        "settings": {"server": f"{SERVICE_SERVER}, {WORKERS} workers",
                     "connections": CONNECTIONS, "rounds": ROUNDS, "duration_s": duration,
                     "warmup_s": WARMUP_S, "orders_per_citizen": ORDERS_PER_CITIZEN,
                     "callback_delay_s": CALLBACK_DELAY},
    }
