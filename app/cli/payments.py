"""``flask payments``: the bank gateway simulator, reconciliation, and the ledger's proof."""
from __future__ import annotations

import datetime as dt

import click
from flask import current_app
from flask.cli import with_appcontext

from app.cli.common import OperatorGroup, console, operator_actor
from app.extensions import db
from app.gateway_simulator import MODES, GatewaySimulator, make_simulator_server
from utilities.payments import ledger, reconciliation

group = OperatorGroup("payments", help="Payments: gateway simulator, reconciliation, ledger.")


@group.command("gateway-sim")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5055, show_default=True, type=int)
@click.option("--mode", type=click.Choice(MODES), default="succeed", show_default=True,
              help="How payments end (tests and demos; POST /_sim/mode changes it).")
@click.option("--delay", type=float, default=1.0, show_default=True,
              help="Seconds before a payment completes and the callback is sent.")
@click.option("--late-delay", type=float, default=30.0, show_default=True,
              help="Seconds before the callback in the 'late' mode.")
@with_appcontext
def gateway_sim_command(host: str, port: int, mode: str, delay: float, late_delay: float) -> None:
    """Run the bank gateway simulator on its own port (PAYMENT_GATEWAY_URL points at it).

    It shares PAYMENT_GATEWAY_SECRET with the service and calls back
    PAYMENT_CALLBACK_BASE_URL/api/v1/payments/callbacks/<provider>.
    """
    simulator = GatewaySimulator(current_app.config["PAYMENT_GATEWAY_SECRET"], mode=mode,
                                 delay=delay, late_delay=late_delay,
                                 public_url=f"http://{host}:{port}")
    console.print(f"[bold]Bank gateway simulator[/] on http://{host}:{port} (mode {mode}, "
                  f"callback after {delay:g} s)")
    with make_simulator_server(simulator, host, port) as server:
        server.serve_forever()


@group.command("reconcile")
@click.option("--older-than", type=int, default=None,
              help="Seconds an attempt has been pending (default PAYMENT_RECONCILE_AFTER_SECONDS).")
@with_appcontext
def reconcile_command(older_than: int | None) -> None:
    """Ask the providers about attempts stuck in 'pending' and settle them; drive refunds."""
    seconds = (current_app.config["PAYMENT_RECONCILE_AFTER_SECONDS"] if older_than is None
               else older_than)
    report = reconciliation.reconcile(db_session=db.session(), actor=operator_actor(),
                                      providers=current_app.extensions["payment_providers"],
                                      older_than=dt.timedelta(seconds=seconds))
    console.print(f"checked {report.checked} pending attempts: settled {report.settled}, still "
                  f"pending {report.still_pending}, provider unreachable {report.unreachable}; "
                  f"refunds completed {report.refunds_completed}; outcomes {report.outcomes}")
    console.print(f"held for refund: {report.held_orders} orders, {report.held_owed:,} đồng owed "
                  f"back to payers; held refunds declined by the provider "
                  f"{report.held_refunds_failed}")
    if report.held_refunds_failed:
        console.print("[bold yellow]payments.held_refund_failed[/]: the provider declined to "
                      "pay back held money; settle it by hand (flask payments verify-ledger "
                      "lists the orders)")


@group.command("verify-ledger")
@with_appcontext
def verify_ledger_command() -> None:
    """Prove every order's balance and that the journal sums to zero (exit 1 if not)."""
    report = ledger.verify_ledger(db.session())
    console.print(f"{report.entries} journal rows in {report.postings} postings over "
                  f"{report.orders} orders; journal total {report.total} đồng; "
                  f"paid orders total {report.paid_total:,} đồng")
    console.print(f"held for refund (suspense:refunds): {report.held_total:,} đồng; held "
                  f"refunds pending {report.held_refunds_pending}, declined "
                  f"{report.held_refunds_failed}")
    if not report.balanced:
        for problem in report.problems:
            console.print(f"[bold red]ledger.unbalanced[/]: {problem}")
        raise SystemExit(1)
    console.print("[bold green]ledger balanced[/]")
