"""Development helpers; registered only with the ``outbox`` SMS backend, never in production."""
from __future__ import annotations

from typing import Any


from app import context as ctx
from app.parsing import Blueprint
from identity.accounts.schemas import SmsOutbox
from identity.accounts.sms import OutboxGateway

blp = Blueprint("dev", __name__, url_prefix="/dev",
                description="Development only: exists when SMS_BACKEND is `outbox`.")


@blp.get("/sms-outbox")
@blp.response(200, SmsOutbox)
def sms_outbox() -> Any:
    """The latest 100 text messages, newest first (the code is the only 6-digit number)."""
    gateway = ctx.sms()
    assert isinstance(gateway, OutboxGateway)  # the blueprint exists only for the outbox
    return {"messages": gateway.messages(db_session=ctx.db_session())}
