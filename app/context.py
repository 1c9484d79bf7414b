"""What a request brings to the services: its id, its actor, the shared collaborators."""
from __future__ import annotations

import importlib

import re
import secrets
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

import redis
from flask import Flask, Response, current_app, request
from sqlalchemy.orm import Session

from app.extensions import db, get_protector, get_redis
from app.logging_setup import redact
from config import ConfigError
from identity.accounts.secrets import PasscodeKeys, use_passcode_keys
from identity.accounts.sms import OutboxGateway, SmsGateway
from identity.audit.service import Actor
from identity.autocommit import autocommit_statements
from identity.protection import Protector

#: A caller's request id: 8-64 letters, digits and dashes, at least one letter.
_REQUEST_ID_RE = re.compile(r"(?=[0-9-]*[A-Za-z])[A-Za-z0-9-]{8,64}")
#: Nine digits in a row (an old ID card number; a phone or a personal id is longer).
_DIGIT_RUN = re.compile(r"\d{9}")


def acceptable_request_id(value: str) -> bool:
    """Whether a caller's ``X-Request-Id`` may go into the audit rows and the logs.

    It is written next to the actor of every audited act, so it must not be
    able to carry a personal id, a phone or a date of birth: letters, digits
    and dashes only (no spaces, dots or anything outside ASCII), at least one
    letter, no run of nine digits, and nothing the log redactor reads as a
    number of someone's (``0791-9001-2345``, ``091-234-5678``).
    """
    if _REQUEST_ID_RE.fullmatch(value) is None or _DIGIT_RUN.search(value) is not None:
        return False
    # In letters, digits and dashes the redactor can only read a number (ten digits at the
    # fewest), never a token or a time: an id with fewer digits is left as it is.
    return sum(map(str.isdigit, value)) < 10 or redact(value) == value


def fresh_request_id() -> str:
    """A new random request id: 32 hex digits, no nine in a row (so at least one letter).

    Such an id passes :func:`acceptable_request_id` (``tests/security/test_request_ids.py``
    draws many) without the redactor: with no dash its runs of digits are its only runs, and
    a run of eight digits at most is no number the redactor reads.
    """
    while True:  # a random id with nine digits in a row (about 1 in 20) is drawn again
        candidate = secrets.token_hex(16)
        if _DIGIT_RUN.search(candidate) is None:
            return candidate


def request_id() -> str:
    """The request's id: the caller's ``X-Request-Id`` when acceptable, else a fresh one."""
    return request_id_of(request.environ)


def request_id_of(environ: dict[str, Any]) -> str:
    """:func:`request_id` of a WSGI environ (:mod:`app.hot_lane` has no request context)."""
    # Kept on the request itself: an app context (and its ``g``) may outlive one request.
    found = environ.get("vnid.request_id")
    if found is None:
        given = environ.get("HTTP_X_REQUEST_ID", "")  # the X-Request-Id header
        found = environ["vnid.request_id"] = (given if acceptable_request_id(given)
                                              else fresh_request_id())
    return str(found)


def db_session() -> Session:
    """The request's database session (services commit it once per use case)."""
    return db.session()


F = TypeVar("F", bound=Callable[..., Any])


def statements_then_one_act(view: F) -> F:
    """Serve the route on one pooled connection in autocommit on PostgreSQL, the ORM session's
    transaction never begun (:func:`identity.autocommit.autocommit_statements`).

    For a hot route whose reads are Core statements (the caller's row, the credential, the
    citizen) and whose one write is its audited act, committed by
    :func:`identity.audit.writer.commit_recorded`. Put it above the route's authentication,
    whose look-up is the request's first read. The connection goes back to the pool when the view
    returns or raises, before the answer's hooks run.
    """
    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with autocommit_statements(db_session()):
            return view(*args, **kwargs)
    return cast(F, wrapper)


def redis_client() -> redis.Redis:
    """The application's Redis client (short-lived state: codes, challenges, counters)."""
    return get_redis()


def protector() -> Protector:
    """The personal-data protector (AES-GCM with versioned keys, keyed look-up hashes)."""
    return get_protector()


def sms() -> SmsGateway:
    """The configured SMS gateway."""
    return current_app.extensions["sms"]


def actor() -> Actor:
    """The (not yet authenticated) party behind the request, for the audit log."""
    return actor_of(request.environ)


def actor_of(environ: dict[str, Any]) -> Actor:
    """:func:`actor` of a WSGI environ: its address is ``REMOTE_ADDR`` (``request.remote_addr``,
    which the proxy fix of ``TRUSTED_PROXY_COUNT`` sets from ``X-Forwarded-For``)."""
    return Actor(type="anonymous", id=None, source=(environ.get("REMOTE_ADDR") or "")[:64],
                 request_id=request_id_of(environ))


def _load_gateway(app: Flask) -> SmsGateway:
    backend = app.config["SMS_BACKEND"]
    if backend == "outbox":
        return OutboxGateway(get_protector())
    module_name, _, class_name = backend.partition(":")
    try:
        gateway_class = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError, ValueError):
        raise ConfigError(f"SMS_BACKEND must name an SMS gateway class as module:Class, "
                          f"not {backend!r}") from None
    return gateway_class(app.config)


def _passcode_keys() -> PasscodeKeys:
    return current_app.extensions["passcode_keys"]


def register_context(app: Flask) -> None:
    """The SMS gateway, the passcode keys, and the request id echoed on every answer.

    The passcode keys (``PASSCODE_HMAC_KEYS``) are parsed here, so malformed
    ones stop the start; ``confirm_passcode`` finds the running app's keys.
    """
    with app.app_context():
        app.extensions["sms"] = _load_gateway(app)
    app.extensions["passcode_keys"] = PasscodeKeys.from_setting(app.config["PASSCODE_HMAC_KEYS"])
    use_passcode_keys(_passcode_keys)

    @app.after_request
    def echo_request_id(response: Response) -> Response:
        response.headers["X-Request-Id"] = request_id()
        return response
