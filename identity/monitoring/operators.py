"""Operators of the ministry: admin tokens for the statistics API and the dashboard.

A token is ``vnidop_`` and 32 random bytes (base64url), shown once when the
operator is created. Only its SHA-256 digest is stored: the token has 256
bits of entropy, so no slow password hash is needed, and a look-up is one
indexed equality. The prefix lets the log redaction and secret scanners
recognise a leaked token.
"""
from __future__ import annotations

import hashlib
import re
import secrets
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from identity.audit.service import Actor, record_event
from identity.monitoring.errors import (InvalidOperatorToken, OperatorExists,
                                        OperatorNameInvalid, OperatorNotFound)
from identity.monitoring.models import Operator

TOKEN_PREFIX = "vnidop_"
#: The shape of an admin token (for redaction and for refusing garbage early).
TOKEN_RE = re.compile(r"vnidop_[A-Za-z0-9_-]{43}")
_NAME_RE = re.compile(r"[^\W_][\w. -]{0,63}")


def token_digest(token: str) -> bytes:
    """The stored digest of an admin token."""
    return hashlib.sha256(token.encode("utf-8")).digest()


def create_operator(*, db_session: Session, actor: Actor, name: str) -> tuple[Operator, str]:
    """Create an operator; returns it and its admin token (shown once, never stored)."""
    name = name.strip()
    if not _NAME_RE.fullmatch(name):
        raise OperatorNameInvalid(field="name")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    operator = Operator(name=name, token_hash=token_digest(token), active=True)
    db_session.add(operator)
    try:
        db_session.flush()
    except IntegrityError:
        db_session.rollback()
        raise OperatorExists() from None
    record_event(db_session=db_session, actor=actor, action="operator.created",
                 subject_type="operator", subject_id=operator.id, details={"name": name})
    db_session.commit()
    return operator, token


def list_operators(*, db_session: Session) -> list[Operator]:
    """Every operator, by name."""
    return list(db_session.scalars(sa.select(Operator).order_by(Operator.name)))


def disable_operator(*, db_session: Session, actor: Actor, name: str) -> Operator:
    """Stop an operator's token from working (on the next request, dashboard session included)."""
    operator = db_session.scalar(sa.select(Operator).where(Operator.name == name))
    if operator is None:
        raise OperatorNotFound()
    if operator.active:
        operator.active = False
        record_event(db_session=db_session, actor=actor, action="operator.disabled",
                     subject_type="operator", subject_id=operator.id, details={"name": name})
    db_session.commit()
    return operator


def operator_for_token(*, db_session: Session, token: str) -> Operator:
    """The active operator holding ``token``, or :class:`InvalidOperatorToken`."""
    if not TOKEN_RE.fullmatch(token):
        raise InvalidOperatorToken()
    operator = db_session.scalar(sa.select(Operator).where(
        Operator.token_hash == token_digest(token)))
    if operator is None or not operator.active:
        raise InvalidOperatorToken()
    return operator


#: Redis key of a dashboard session: the digest of its id, never the id (the cookie) itself.
_SESSION_KEY = "dashboard:session:{digest}"


def _session_key(session_id: str) -> str:
    return _SESSION_KEY.format(digest=hashlib.sha256(session_id.encode("utf-8")).hexdigest())


def start_dashboard_session(*, redis_client: Any, operator_id: int, seconds: int) -> str:
    """Open a dashboard session for an operator; returns its id (for the signed cookie).

    The session lives in Redis, so logging out ends it on the server: a
    copy of the cookie taken before is refused afterwards.
    """
    session_id = secrets.token_urlsafe(32)
    redis_client.set(_session_key(session_id), str(operator_id), ex=seconds)
    return session_id


def dashboard_session_operator(*, redis_client: Any, session_id: str) -> int:
    """The operator id of an open dashboard session, else :class:`InvalidOperatorToken`."""
    stored = redis_client.get(_session_key(session_id)) if session_id else None
    if stored is None:
        raise InvalidOperatorToken()
    return int(stored)


def end_dashboard_session(*, redis_client: Any, session_id: str) -> None:
    """Close a dashboard session (logout): its cookie no longer opens the dashboard."""
    if session_id:
        redis_client.delete(_session_key(session_id))


def active_operator(*, db_session: Session, operator_id: int) -> Operator:
    """The operator of a dashboard session, if still active, else :class:`InvalidOperatorToken`."""
    operator = db_session.get(Operator, operator_id)
    if operator is None or not operator.active:
        raise InvalidOperatorToken()
    return operator
