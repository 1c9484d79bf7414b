"""Payments under faults: the database connection killed between the bank's answer and the
commit; the gateway unreachable. After restart and reconciliation: one payment, ledger
balanced."""
from __future__ import annotations

import os
from typing import Any

import sqlalchemy as sa
from flask import Flask

from app.extensions import db
from tests.flows import PASSCODE
from tests.utilities.payments.live import Live, live
from utilities.payments.gateway import PaymentProvider, ProviderPayment
from utilities.payments.models import PaymentAttempt

ON_POSTGRES = (os.environ.get("DATABASE_URL") or "").startswith("postgres")


class KillAfterCreate:
    """The real provider, but the request's database connection dies once it has answered."""

    def __init__(self, inner: PaymentProvider, app: Flask) -> None:
        self.inner, self.app, self.name, self.kills = inner, app, inner.name, 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def create_payment(self, **kwargs: Any) -> ProviderPayment:
        answer = self.inner.create_payment(**kwargs)
        session = db.session()  # the request's session: its next transaction is on this one
        connection = session.connection()
        if ON_POSTGRES:
            pid = connection.exec_driver_sql("SELECT pg_backend_pid()").scalar()
            admin = sa.create_engine(self.app.config["SQLALCHEMY_DATABASE_URI"])
            with admin.connect() as other:
                other.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            admin.dispose()
        else:
            raw = connection.connection.dbapi_connection
            assert raw is not None
            raw.close()
        self.kills += 1
        return answer


def _pay(made: Live, key: str) -> Any:
    answer = made.client().post(f"/api/v1/payments/{made.order_id}/attempts",
                                headers={**made.headers, "Idempotency-Key": key},
                                json={"bank": "VCB", "passcode": PASSCODE})
    body = answer.get_json()
    answer.close()
    return answer.status_code, body


def _attempts(app: Flask) -> list[tuple[str, str, str | None]]:
    with app.app_context():
        rows = [(a.reference, a.status, a.provider_reference) for a in db.session.scalars(
            sa.select(PaymentAttempt))]
        db.session.remove()
    return rows


def test_the_connection_killed_between_the_bank_and_the_commit(own_database_app):
    made = live(own_database_app, mode="never", delay=0.2)
    try:
        real = own_database_app.extensions["payment_providers"]["banksim"]
        killer = KillAfterCreate(real, own_database_app)
        own_database_app.extensions["payment_providers"]["banksim"] = killer
        status, _ = _pay(made, "fault-1")
        assert status in (500, 503) and killer.kills == 1
        # The bank took the payment; we never stored its answer.
        made.wait_for(lambda: made.simulator.stats()["charges"] == 1)
        [(reference, state, provider_reference)] = _attempts(own_database_app)
        assert (state, provider_reference) == ("pending", None)

        # "Restart": a fresh pool and the real provider again.
        own_database_app.extensions["payment_providers"]["banksim"] = real
        with own_database_app.app_context():
            db.engine.dispose()
        status, body = _pay(made, "fault-1")  # the client retries with its key
        assert (status, body["code"]) == (409, "payment.attempt_pending")

        runner = own_database_app.test_cli_runner()
        result = runner.invoke(args=["payments", "reconcile", "--older-than", "0"])
        assert result.exit_code == 0, result.output
        assert made.order()["status"] == "paid"
        [(same, state, provider_reference)] = _attempts(own_database_app)
        assert (same, state) == (reference, "succeeded") and provider_reference
        assert made.simulator.stats() | {"callbacks_sent": 0} == {
            "payments": 1, "charges": 1, "refunds": 0, "callbacks_sent": 0,
            "callbacks_failed": 0}
        status, body = _pay(made, "fault-2")
        assert (status, body["code"]) == (409, "payment.order_paid")
        ledger = runner.invoke(args=["payments", "verify-ledger"])
        assert ledger.exit_code == 0 and "ledger balanced" in ledger.output, ledger.output
        # Reconciling again changes nothing.
        again = runner.invoke(args=["payments", "reconcile", "--older-than", "0"])
        assert "checked 0 pending attempts" in again.output
    finally:
        made.close()


def test_the_gateway_down_then_back(own_database_app):
    made = live(own_database_app, mode="succeed", delay=0.1)
    try:
        real = own_database_app.extensions["payment_providers"]["banksim"]
        real.base_url = "http://127.0.0.1:9"  # nothing listens there
        status, body = _pay(made, "down-1")
        assert (status, body["status"], body["redirect_url"]) == (201, "pending", None)
        assert made.simulator.stats()["payments"] == 0
        real.base_url = f"http://127.0.0.1:{made.servers[0].server_port}"
        runner = own_database_app.test_cli_runner()
        # The gateway never heard of it: failed once the grace period is over, not before.
        runner.invoke(args=["payments", "reconcile", "--older-than", "0"])
        assert made.order()["status"] == "pending"
        import time_machine
        from identity import clock
        import datetime as dt
        with time_machine.travel(clock.now() + dt.timedelta(minutes=5), tick=True):
            runner.invoke(args=["payments", "reconcile", "--older-than", "0"])
        assert made.order()["status"] == "open"
        status, body = _pay(made, "down-2")
        assert status == 201
        made.wait_for(lambda: made.order()["status"] == "paid")
        ledger = runner.invoke(args=["payments", "verify-ledger"])
        assert ledger.exit_code == 0, ledger.output
    finally:
        made.close()
