"""The service on a database of its own (real commits), served over HTTP, with the gateway
simulator over HTTP: for the concurrency, fault and end-to-end tests of payments."""
from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from flask import Flask
from werkzeug.serving import BaseWSGIServer, make_server

from app.extensions import db, get_protector
from app.gateway_simulator import GatewaySimulator, serve
from identity import clock
from tests.factories import add_citizen, add_issuer_key
from tests.flows import Holder, create_officer
from utilities.payments.gateway import HttpProvider

SIM_SECRET = "sim-secret-of-the-tests"


@dataclass
class Live:
    """An app with a simulator wired in, a citizen's headers and one fine to pay."""

    app: Flask
    simulator: GatewaySimulator
    servers: list[BaseWSGIServer]
    headers: dict[str, str]
    order_id: int
    officer_headers: dict[str, str]
    url: str

    def client(self) -> Any:
        return self.app.test_client()

    def order(self) -> dict[str, Any]:
        answer = self.client().get(f"/api/v1/payments/{self.order_id}", headers=self.headers)
        body = answer.get_json()
        answer.close()
        assert answer.status_code == 200, body
        return dict(body)

    def wait_for(self, condition: Callable[[], bool], timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            assert time.monotonic() < deadline, "timed out"
            time.sleep(0.05)

    def close(self) -> None:
        for server in self.servers:
            server.shutdown()
            server.server_close()


def serve_app(app: Flask) -> tuple[BaseWSGIServer, str]:
    """The app over HTTP from a daemon thread (port 0)."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_port}"


def live(app: Flask, *, mode: str = "succeed", delay: float = 0.2, late_delay: float = 5.0,
         amount: int = 800_000) -> Live:
    """Wire ``app`` (from ``own_database_app``) to a fresh simulator; a citizen with a fine."""
    simulator = GatewaySimulator(SIM_SECRET, mode=mode, delay=delay, late_delay=late_delay,
                                 callback_retries=(0.2, 0.5))
    sim_server, sim_url = serve(simulator)
    app_server, app_url = serve_app(app)
    app.config["PAYMENT_CALLBACK_BASE_URL"] = app_url
    app.extensions["payment_providers"]["banksim"] = HttpProvider(
        "banksim", base_url=sim_url, secret=SIM_SECRET, timeout=10)
    client = app.test_client()
    with app.app_context():
        made = add_citizen(db.session(), get_protector())
        db.session.commit()
        citizen = SimpleNamespace(personal_id=made.personal_id, full_name=made.full_name,
                                  date_of_birth=made.date_of_birth,
                                  test_phone=made.test_phone)  # type: ignore[attr-defined]
        officer = create_officer(db.session(), get_protector(), username="csgt.live")
        add_issuer_key(db.session(), get_protector())
        db.session.commit()
    headers = Holder.of(client, citizen).headers
    officer.log_in(client)
    officer_headers = officer.headers
    fine = client.post("/api/v1/police/fines", headers=officer_headers, json={
        "personal_id": citizen.personal_id, "full_name": citizen.full_name,
        "date_of_birth": citizen.date_of_birth.isoformat(), "amount": amount,
        "legal_basis": "NĐ 168/2024",
        "due_date": (clock.today() + dt.timedelta(days=10)).isoformat()})
    assert fine.status_code == 201, fine.get_json()
    return Live(app=app, simulator=simulator, servers=[sim_server, app_server], headers=headers,
                order_id=int(fine.get_json()["id"]), officer_headers=officer_headers,
                url=app_url)
