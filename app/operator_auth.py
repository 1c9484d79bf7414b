"""Authentication of ministry operators: admin token on the API, a session on the dashboard.

- API (``/api/v1/stats/*``): ``Authorization: Bearer <admin token>``; an
  unknown, disabled or missing token answers 401 ``operator.invalid_token``
  (missing: ``auth.required``).
- Dashboard: the operator pastes the token into the login form once; the
  answer is Flask's signed session cookie (HttpOnly, SameSite=Strict, Secure
  in production) holding only a random session id. The session itself
  lives in Redis (:func:`identity.monitoring.operators.start_dashboard_session`):
  logout deletes it, so a copy of the cookie opens nothing afterwards. Each
  page also checks the operator is still active, so ``flask admins disable``
  ends their sessions.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from flask import Flask, current_app, g, redirect, request, session, url_for

from app.extensions import db, get_redis
from identity.errors import Unauthenticated
from identity.monitoring import operators
from identity.monitoring.errors import InvalidOperatorToken
from identity.monitoring.models import Operator

F = TypeVar("F", bound=Callable[..., Any])

#: The OpenAPI security requirement of the statistics endpoints.
OPERATOR_TOKEN: list[dict[str, list[str]]] = [{"operatorToken": []}]
#: The key of the dashboard session's id in Flask's signed cookie.
SESSION_KEY = "dashboard_session"


def _bearer() -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def operator_required(view: F) -> F:
    """Let the view run for an active operator's admin token (``current_operator()``)."""
    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        token = _bearer()
        if token is None:
            raise Unauthenticated("This needs an admin token in the Authorization header.",
                                  code="auth.required")
        g.operator = operators.operator_for_token(db_session=db.session(), token=token)
        return view(*args, **kwargs)
    return cast(F, wrapper)


def dashboard_login_required(view: F) -> F:
    """Let a dashboard page run for an operator's session; else go to the login page."""
    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        session_id = session.get(SESSION_KEY)
        try:
            if not isinstance(session_id, str):
                raise InvalidOperatorToken()
            operator_id = operators.dashboard_session_operator(redis_client=get_redis(),
                                                               session_id=session_id)
            g.operator = operators.active_operator(db_session=db.session(),
                                                   operator_id=operator_id)
        except InvalidOperatorToken:
            session.clear()
            return redirect(url_for("dashboard.login"))
        return view(*args, **kwargs)
    return cast(F, wrapper)


def start_session(operator: Operator) -> None:
    """Open a server-side dashboard session for ``operator`` and put its id in the cookie."""
    lifetime = current_app.permanent_session_lifetime
    session.clear()
    session[SESSION_KEY] = operators.start_dashboard_session(
        redis_client=get_redis(), operator_id=operator.id,
        seconds=int(lifetime.total_seconds()))
    session.permanent = True


def end_session() -> None:
    """Close the dashboard session on the server, then clear the cookie."""
    session_id = session.get(SESSION_KEY)
    if isinstance(session_id, str):
        operators.end_dashboard_session(redis_client=get_redis(), session_id=session_id)
    session.clear()


def current_operator() -> Operator:
    """The operator making the request."""
    return cast(Operator, g.operator)


def configure_session(app: Flask) -> None:
    """The dashboard session cookie: signed, HttpOnly, SameSite=Strict, Secure in production."""
    app.config.update(
        SESSION_COOKIE_NAME="vnid_dashboard", SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_SECURE=app.config["ENV_NAME"] == "production",
        PERMANENT_SESSION_LIFETIME=dt.timedelta(hours=8))
