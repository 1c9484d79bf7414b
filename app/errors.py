"""The uniform error body, for every non-2xx answer of the service.

``{"status": 409, "code": "account.exists", "message": "...", "errors": {}}``

Domain exceptions are mapped to statuses by their kind; HTTP errors raised by
Flask, werkzeug or webargs get a stable dotted code; anything else is logged
and answered with a generic 500 that reveals nothing.
"""
from __future__ import annotations

import logging
from typing import Any

import redis
from flask import Flask, Response, jsonify
from flask_limiter.errors import RateLimitExceeded
from flask_smorest import Api
from marshmallow import Schema, fields
from werkzeug.exceptions import HTTPException

from identity.errors import (CodedMessage, Conflict, DomainError, Forbidden, InvalidInput,
                             NotFound, TooManyAttempts, Unauthenticated, Unavailable)

log = logging.getLogger(__name__)

HTTP_CODES = {
    400: "request.malformed",
    401: "auth.required",
    403: "auth.forbidden",
    404: "not_found",
    405: "method.not_allowed",
    406: "request.not_acceptable",
    409: "conflict",
    413: "request.too_large",
    415: "request.unsupported_media_type",
    422: "request.invalid",
    429: "rate_limited",
    500: "server.error",
    503: "service.unavailable",
}

DOMAIN_STATUSES: list[tuple[type[DomainError], int]] = [
    (InvalidInput, 422), (NotFound, 404), (Conflict, 409), (Unavailable, 503),
    (Unauthenticated, 401), (Forbidden, 403), (TooManyAttempts, 429),
]


def error_response(status: int, code: str, message: str, errors: dict[str, Any] | None = None,
                   headers: dict[str, str] | None = None) -> Response:
    """Build the uniform error body."""
    response = jsonify({"status": status, "code": code, "message": message,
                        "errors": errors or {}})
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _first_code(messages: Any) -> str | None:
    if isinstance(messages, CodedMessage):
        return messages.code
    if isinstance(messages, dict):
        values = messages.values()
    elif isinstance(messages, list):
        values = messages  # type: ignore[assignment]
    else:
        return None
    for value in values:
        code = _first_code(value)
        if code:
            return code
    return None


class ErrorBody(Schema):
    """The uniform error body, as the OpenAPI document describes it."""

    status = fields.Integer(required=True, metadata={"example": 422})
    code = fields.String(required=True, metadata={"example": "personal_id.length"})
    message = fields.String(required=True)
    errors = fields.Dict(keys=fields.String(), values=fields.Raw(), required=True,
                         metadata={"description": "Messages per field, when fields are at fault"})


class ServiceApi(Api):
    """flask-smorest's Api, answering HTTP errors with the uniform body."""

    ERROR_SCHEMA = ErrorBody

    def handle_http_exception(self, error: HTTPException) -> Response:
        status = error.code or 500
        data = getattr(error, "data", None) or {}
        headers = dict(data.get("headers") or {})
        if status == 405 and error.get_headers():
            headers.update({k: v for k, v in error.get_headers() if k == "Allow"})
        messages = data.get("messages")
        if status == 422 and isinstance(messages, dict):
            # webargs: {"json": {"field": [...]}} -> {"field": [...]}
            errors: dict[str, Any] = {}
            for location_errors in messages.values():
                if isinstance(location_errors, dict):
                    errors.update(location_errors)
                else:
                    errors.setdefault("_schema", []).extend(location_errors)
            return error_response(422, _first_code(errors) or "request.invalid",
                                  "The request has invalid fields.", errors, headers)
        if status == 400 and isinstance(messages, dict):
            return error_response(400, "request.malformed_json",
                                  "The request body is not valid JSON.", {}, headers)
        if status == 429 and isinstance(error, RateLimitExceeded):
            # The length of the window that refused: a safe time to come back.
            headers.setdefault("Retry-After", str(error.limit.limit.get_expiry()))
        if status >= 500:
            log.error("HTTP %s raised: %s", status, type(error).__name__)
        code = data.get("code") or HTTP_CODES.get(status, f"http.{status}")
        message = data.get("message") or error.description or error.name
        return error_response(status, code, str(message), data.get("errors"), headers)


def handle_domain_error(error: DomainError) -> Response:
    """Map a domain exception to its status, keeping its code and field."""
    status = next((s for kind, s in DOMAIN_STATUSES if isinstance(error, kind)), 400)
    errors = {error.field: [error.message]} if error.field else {}
    errors.update(error.errors)
    headers = {"Retry-After": "5"} if status == 503 else None
    if error.details.get("retry_after"):  # a quota or limit that says when to come back
        headers = {"Retry-After": str(int(error.details["retry_after"]))}
    return error_response(status, error.code, error.message, errors, headers)


def handle_redis_down(error: Exception) -> Response:
    """Redis is down: refuse (fail closed) rather than run without limits, codes or challenges."""
    log.error("Redis unavailable: %s", type(error).__name__)
    return error_response(503, "service.unavailable",
                          "A component of the service is unavailable. Try again shortly.",
                          headers={"Retry-After": "5"})


#: What ``datetime`` says in the ValueError of a date outside its range ("year 10000 is out
#: of range", "day is out of range for month").
_DATE_RANGE_MESSAGE = "out of range"


def handle_out_of_range(error: Exception) -> Response:
    """A date or number of the request pushed arithmetic out of range: the client's 422.

    The bounded fields of ``identity/schema_fields.py`` refuse such input
    first; this net catches what slips through (an ``OverflowError``, or the
    ``ValueError`` of ``date.replace(year=10000)``) so it is never a 500. Any
    other ``ValueError`` is a bug: logged and answered as one.
    """
    if isinstance(error, ValueError) and _DATE_RANGE_MESSAGE not in str(error):
        return handle_unexpected(error)
    log.warning("request value out of range: %s", type(error).__name__)
    return error_response(422, "request.out_of_range",
                          "A date or number of the request is out of the supported range.")


def handle_unexpected(error: Exception) -> Response:
    """Log an unknown exception (type and redacted traceback) and answer a generic 500.

    HTTP errors never reach this handler: Flask picks the more specific
    HTTPException handler of :class:`ServiceApi`.
    """
    log.exception("unhandled %s", type(error).__name__)
    return error_response(500, "server.error",
                          "Something went wrong on our side. The error has been logged.")


def register_error_handlers(app: Flask) -> None:
    """Install the handlers for domain errors and unknown exceptions."""
    app.register_error_handler(DomainError, handle_domain_error)
    # Redis unreachable, or a cluster that cannot serve a slot now (no node answers, a master
    # down, slots moving): 503, never a request let through uncounted.
    for unavailable in (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError,
                        redis.exceptions.RedisClusterUnreachableError,
                        redis.exceptions.ClusterDownError, redis.exceptions.TryAgainError):
        app.register_error_handler(unavailable, handle_redis_down)
    app.register_error_handler(OverflowError, handle_out_of_range)
    app.register_error_handler(ValueError, handle_out_of_range)
    app.register_error_handler(Exception, handle_unexpected)
