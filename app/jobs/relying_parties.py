"""The background jobs of relying parties: consent callbacks and their sweep."""
from __future__ import annotations

import datetime as dt

from app import context as ctx
from app.jobs import enqueue, job
from app.rp_auth import callback_policy
from identity.relying_parties import callbacks


@job("rp.consent_callback")
def consent_callback(consent_id: str) -> None:
    """Deliver one consent decision to the party's registered callback (retried on failure)."""
    callbacks.deliver_callback(db_session=ctx.db_session(), protector=ctx.protector(),
                               consent_id=consent_id, policy=callback_policy())


@job("rp.callback_sweep", every=300)
def callback_sweep() -> None:
    """Enqueue again the callbacks still owed five minutes after the decision (lost jobs)."""
    owed = callbacks.owed_callbacks(db_session=ctx.db_session(),
                                    older_than=dt.timedelta(minutes=5))
    for consent_id in owed:
        enqueue("rp.consent_callback", consent_id=consent_id, retries=())
