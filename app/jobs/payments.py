"""The background jobs of payments: reconciliation every 5 minutes, key purge every hour."""
from __future__ import annotations

import datetime as dt
import logging

from flask import current_app

from app.extensions import db
from app.jobs import job
from app.payment_providers import providers
from identity.audit.service import SYSTEM
from utilities.payments import idempotency, reconciliation

log = logging.getLogger("vnid.payments")


@job("payments.reconcile", every=300)
def reconcile_job() -> None:
    """Ask the providers about attempts stuck in ``pending``; drive pending refunds."""
    report = reconciliation.reconcile(
        db_session=db.session(), actor=SYSTEM, providers=providers(),
        older_than=dt.timedelta(seconds=current_app.config["PAYMENT_RECONCILE_AFTER_SECONDS"]))
    if report.checked or report.held_orders:
        log.info("payments reconciled", extra={"checked": report.checked,
                                               "settled": report.settled,
                                               "held_orders": report.held_orders,
                                               "held_owed": report.held_owed,
                                               "refunds_completed": report.refunds_completed})
    if report.held_refunds_failed:
        log.warning("payments: held money the provider declined to pay back",
                    extra={"held_refunds_failed": report.held_refunds_failed})


@job("payments.purge_idempotency_keys", every=3600)
def purge_keys_job() -> None:
    """Forget answered idempotency keys older than a day."""
    idempotency.purge(db.session())
