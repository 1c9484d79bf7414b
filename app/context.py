"""What a request brings to the services: its id, its actor, the shared collaborators."""
from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any

from flask import Flask, Response, current_app, request

from app.extensions import db, get_protector, get_redis
from identity.accounts.sms import OutboxGateway, SmsGateway
from identity.audit.service import Actor

_REQUEST_ID_RE = re.compile(r"[A-Za-z0-9._-]{8,64}")


def request_id() -> str:
    """The request's id: the caller's ``X-Request-Id`` when well formed, else a fresh one."""
    # Kept on the request itself: an app context (and its ``g``) may outlive one request.
    if "vnid.request_id" not in request.environ:
        given = request.headers.get("X-Request-Id", "")
        request.environ["vnid.request_id"] = (given if _REQUEST_ID_RE.fullmatch(given)
                                              else uuid.uuid4().hex)
    return str(request.environ["vnid.request_id"])


def request_actor() -> Actor:
    """The (not yet authenticated) party behind the request, for the audit log."""
    return Actor(type="anonymous", id=None, source=(request.remote_addr or "")[:64],
                 request_id=request_id())


def get_sms() -> SmsGateway:
    """The configured SMS gateway."""
    return current_app.extensions["sms"]


def deps(*names: str) -> dict[str, Any]:
    """The named collaborators of a service call (``db_session``, ``redis_client``, ...)."""
    factories: dict[str, Callable[[], Any]] = {
        "db_session": db.session, "redis_client": get_redis, "protector": get_protector,
        "sms": get_sms, "actor": request_actor}
    return {name: factories[name]() for name in names}


def _load_gateway(app: Flask) -> SmsGateway:
    backend = app.config["SMS_BACKEND"]
    if backend == "outbox":
        return OutboxGateway(get_protector())
    module_name, _, class_name = backend.partition(":")
    module = __import__(module_name, fromlist=[class_name])
    return getattr(module, class_name)(app.config)


def register_context(app: Flask) -> None:
    """The SMS gateway, and the request id echoed on every answer."""
    with app.app_context():
        app.extensions["sms"] = _load_gateway(app)

    @app.after_request
    def echo_request_id(response: Response) -> Response:
        response.headers["X-Request-Id"] = request_id()
        return response
