"""Payments: the citizen's orders and payments, fines by officers, provider callbacks, refunds.

- ``/payments``: the citizen's orders (fees and fines), paying one with an
  ``Idempotency-Key``, receipts and their signed QR.
- ``/payments/callbacks/<provider>``: the bank gateway's signed callbacks
  (no bearer token: the HMAC signature is the authentication).
- ``/police/fines`` and ``/police/payments/<id>/refunds``: officers issue
  fines in their jurisdiction; supervisors refund.

The payment providers are built once at start-up (:mod:`app.payment_providers`);
the background jobs of payments are in :mod:`app.jobs.payments`.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from flask import Response, current_app, jsonify, request

from app import context as ctx
from app.api.pages import page
from app.api.credentials import key_ring
from app.auth import (BEARER, citizen_for_act, citizen_required, current_account,
                      current_officer, officer_required)
from app.errors import handle_domain_error
from app.extensions import db, get_protector
from app.hot_lane import JSON_BODY, Answer, HotRoute, after_access_token
from app.parsing import Blueprint
from app.payment_providers import providers
from app.quotas import account_rate_limit
from identity.accounts.capabilities import Act
from identity.accounts.account import citizen_actor
from identity.audit.service import Actor
from identity.credentials.schemas import CredentialIssued
from identity.errors import DomainError, Unavailable
from utilities.payments import (attempts, callbacks, gateway, idempotency, orders, receipts,
                                refunds)
from utilities.payments.errors import UnknownProvider
from utilities.payments.flow import ORDER_FLOW
from utilities.payments.gateway import PaymentProvider
from utilities.payments.schemas import (AttemptCreate, AttemptRead, BankList, CallbackAnswer,
                                        FineCreate, OfficerOrderRead, OrderArgs, OrderDetail,
                                        OrderPage, ReceiptCredentialCreate, ReceiptRead,
                                        RefundCreate, RefundRead)

log = logging.getLogger("vnid.payments")
F = TypeVar("F", bound=Callable[..., Any])

blp = Blueprint("payments", __name__, url_prefix="/payments",
                description="Fees and fines of the logged-in citizen, paid through their bank "
                            "exactly once; receipts as signed QR credentials; and the bank "
                            "gateway's callbacks.")
police_blp = Blueprint("police_payments", __name__, url_prefix="/police",
                       description="Officers issue fines in their jurisdiction; supervisors "
                                   "refund payments.")


def _provider(name: str) -> PaymentProvider:
    found = providers().get(name)
    if found is None:
        raise UnknownProvider()
    return found


def callback_url(name: str) -> str:
    """Where the provider ``name`` calls us back."""
    return f"{current_app.config['PAYMENT_CALLBACK_BASE_URL'].rstrip('/')}" \
           f"/api/v1/payments/callbacks/{name}"


# --- Idempotency -------------------------------------------------------------------------------

def _json_answer(status: int, body: Any) -> Response:
    response = jsonify(body)
    response.status_code = status
    return response


def _once(claim: idempotency.Claim,
          run: Callable[[], tuple[int, Any]]) -> tuple[int, Any, tuple[tuple[str, str], ...]]:
    """``run()`` once per ``Idempotency-Key`` of the account (see
    :mod:`utilities.payments.idempotency`): its status and body (a domain error's too), or the
    ones stored for the key; with the headers of that answer (``Idempotent-Replayed`` on a
    replay, ``Retry-After`` of an error that says when to come back). ``run`` may store its
    answer with the ``claim`` itself."""
    db_session = db.session()
    stored = idempotency.begin(db_session, account_id=claim.account_id, key=claim.key,
                               request_fingerprint=claim.fingerprint)
    if stored is not None:
        return stored.status, stored.body, (("Idempotent-Replayed", "true"),)
    headers: tuple[tuple[str, str], ...] = ()
    try:
        status, result = run()
    except DomainError as error:
        refused = handle_domain_error(error)  # with its headers (Retry-After)
        status, result = refused.status_code, refused.get_json()
        headers = tuple((name, value) for name, value in refused.headers.items()
                        if name not in ("Content-Type", "Content-Length"))
    except Exception:
        try:
            idempotency.finish(db_session, claim, status=500, body=None)
        except Exception:  # noqa: BLE001 - the database may be what failed
            log.warning("idempotency key not released", exc_info=True)
        raise
    idempotency.finish(db_session, claim, status=status, body=result)
    return status, result, headers


def _claim(account_id: int, key: str | None, method: str, path: str,
           body: Any) -> idempotency.Claim:
    """The request's claim on its key: the account's, the key checked, its fingerprint."""
    return idempotency.Claim(account_id, idempotency.check_key(key), idempotency.fingerprint(
        get_protector(), method=method, path=path, body=body))


def idempotent(view: F) -> F:
    """Run the view once per ``Idempotency-Key`` of the account (:func:`_once`); the view
    returns ``(status, body)``. It is given the key's ``claim``, with which its use case may
    store that answer itself."""
    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        claim = _claim(current_account().id, request.headers.get("Idempotency-Key"),
                       request.method, request.path, request.get_json(silent=True))
        status, body, headers = _once(claim, lambda: view(*args, claim=claim, **kwargs))
        answer = _json_answer(status, body)
        answer.headers.extend(headers)
        return answer
    return cast(F, wrapper)


def _require_key(view: F) -> F:
    """400 before the body is even read when the ``Idempotency-Key`` header is missing."""
    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        idempotency.check_key(request.headers.get("Idempotency-Key"))
        return view(*args, **kwargs)
    return cast(F, wrapper)


# --- The citizen -------------------------------------------------------------------------------

@blp.get("")
@citizen_required(Act.PAYMENT_READ)
@blp.arguments(OrderArgs, location="query")
@blp.response(200, OrderPage)
@blp.doc(security=BEARER)
def list_orders(args: dict[str, Any]) -> Any:
    """The citizen's orders (fees and fines), newest first; filter by `status`."""
    items, total = orders.own_orders(db_session=ctx.db_session(),
                                     account=current_account(), **args)
    return page(items, total, args)


@blp.get("/banks")
@blp.response(200, BankList)
def list_banks() -> Any:
    """The banks a citizen can pay with."""
    return {"items": [{"code": code, "name": name} for code, name in gateway.BANKS.items()]}


@blp.get("/<int:order_id>")
@citizen_required(Act.PAYMENT_READ)
@blp.response(200, OrderDetail)
@blp.doc(security=BEARER)
def get_order(order_id: int) -> Any:
    """One of the citizen's orders, with its attempts and history."""
    return orders.order_detail(db_session=ctx.db_session(), account=current_account(),
                               order_id=order_id)


@blp.post("/<int:order_id>/attempts")
@citizen_required(Act.PAYMENT_PAY)
@_require_key
@blp.arguments(AttemptCreate)
@blp.response(201, AttemptRead)
@blp.alt_response(400, description="No `Idempotency-Key` header (`idempotency.key_missing`)")
@blp.alt_response(409, description="`idempotency.in_progress`, `payment.order_paid`, "
                                   "`payment.attempt_pending`, `payment.order_refunded`")
@blp.alt_response(422, description="`idempotency.key_reused` (same key, another body)")
@blp.doc(security=BEARER, parameters=[{
    "in": "header", "name": "Idempotency-Key", "required": True,
    "schema": {"type": "string", "maxLength": 255},
    "description": "One per intended payment (a UUID). The same key and body give back the "
                   "first answer, errors included; a replay carries `Idempotent-Replayed`."}])
@idempotent
def pay(payload: dict[str, Any], order_id: int,
        claim: idempotency.Claim) -> tuple[int, Any]:
    """Pay an order with the chosen bank, confirmed with the passcode.

    The answer is the attempt, `pending` with the bank's `redirect_url` (the app
    opens it); the bank's callback settles it, and the order shows `paid`. An
    order is paid once, whatever the attempts, devices or keys.
    """
    return _paid(payload, order_id, claim, ctx.actor())


def _paid(payload: dict[str, Any], order_id: int, claim: idempotency.Claim,
          base: Actor) -> tuple[int, Any]:
    """The route's work once the account is checked and its key claimed: the route's and the
    hot lane's (:data:`HOT_PAY`). ``base``: the request's actor."""
    provider = providers().get(current_app.config["PAYMENT_PROVIDER"])
    if provider is None:
        raise Unavailable("Payments are not configured on this server.",
                          code="payment.unconfigured")
    account = current_account()
    attempt = attempts.start_attempt(
        db_session=ctx.db_session(), account=account, actor=citizen_actor(account, base),
        provider=provider, order_id=order_id, bank=payload["bank"],
        passcode=payload["passcode"],
        return_url=payload["return_url"] or f"vnid://payments/{order_id}",
        callback_url=callback_url(provider.name), claim=claim)
    return claim.answer or attempts.answer(attempt)  # the answer stored with the key, if it was


def _pay_in_lane(payload: dict[str, Any], account: Any, environ: dict[str, Any], *,
                 order_id: int) -> Answer:
    """The route in the hot lane: the key claimed (a missing one is the route's 400), the
    work done once, the answer given or given back."""
    claim = _claim(account.id, environ.get("HTTP_IDEMPOTENCY_KEY"), "POST",
                   environ["PATH_INFO"], environ[JSON_BODY])
    status, body, headers = _once(claim, lambda: _paid(payload, order_id, claim,
                                                       ctx.actor_of(environ)))
    return Answer(status, body, headers)


#: Paying an order, in front of Flask (:mod:`app.hot_lane`): the token and the account checked
#: by the route's own step, then the key and the work, as the route does them.
HOT_PAY = HotRoute(endpoint="payments.pay", view=pay, arguments=AttemptCreate,
                   response=AttemptRead, status=201, serve=_pay_in_lane,
                   authenticate=after_access_token(lambda: citizen_for_act(Act.PAYMENT_PAY)))


@blp.get("/<int:order_id>/receipt")
@citizen_required(Act.PAYMENT_READ)
@blp.response(200, ReceiptRead)
@blp.doc(security=BEARER)
def get_receipt(order_id: int) -> Any:
    """The receipt of a paid order (`409 payment.not_paid` before, `payment.order_refunded`)."""
    return receipts.receipt(db_session=ctx.db_session(), account=current_account(),
                            order_id=order_id)


@blp.post("/<int:order_id>/receipt/credential")
@citizen_required(Act.PAYMENT_PAY)
@blp.arguments(ReceiptCredentialCreate)
@blp.response(201, CredentialIssued)
@blp.doc(security=BEARER)
def issue_receipt(payload: dict[str, Any], order_id: int) -> Any:
    """The receipt as a signed VN1 credential of type `receipt` (order id `oid`, amount `amt`,
    paid at `pat`, masked payer id `idm`), verifiable offline with the public trust list."""
    account = current_account()
    return receipts.issue_receipt_credential(
        db_session=ctx.db_session(), redis_client=ctx.redis_client(), protector=ctx.protector(),
        key_ring=key_ring(),
        actor=citizen_actor(account, ctx.actor()), account=account, order_id=order_id,
        passcode=payload["passcode"], lifetime=current_app.config["PAYMENT_RECEIPT_SECONDS"])


# --- The provider ------------------------------------------------------------------------------

@blp.post("/callbacks/<string:provider_name>")
@blp.response(200, CallbackAnswer)
@blp.alt_response(401, description="`payment.callback_signature`, `payment.callback_stale`")
@blp.alt_response(404, description="`payment.attempt_not_found`, `payment.provider_unknown`")
def provider_callback(provider_name: str) -> Any:
    """A bank gateway's callback: signed (`X-Signature`: hex HMAC-SHA256 over
    `<X-Timestamp>.<body>`), applied once (the same event again changes nothing)."""
    return _called_back(provider_name, request.get_data(), request.environ)


#: The gateway's signature headers as a WSGI environ names them.
_TIMESTAMP, _SIGNATURE = (f"HTTP_{name.upper().replace('-', '_')}"
                          for name in (gateway.TIMESTAMP_HEADER, gateway.SIGNATURE_HEADER))


def _called_back(provider_name: str, body: bytes, environ: dict[str, Any]) -> Any:
    """The callback applied: the route's and the hot lane's (:data:`HOT_CALLBACK`)."""
    provider = _provider(provider_name)
    actor = ctx.actor_of(environ)
    return callbacks.handle_callback(
        db_session=ctx.db_session(), provider=provider,
        actor=Actor(type="provider", id=f"provider:{provider.name}", source=actor.source,
                    request_id=actor.request_id),
        timestamp=environ.get(_TIMESTAMP), signature=environ.get(_SIGNATURE), body=body)


#: A bank gateway's callback, in front of Flask (:mod:`app.hot_lane`): no bearer token (the
#: body's signature is its authentication, checked by the use case), the body as received.
HOT_CALLBACK = HotRoute(
    endpoint="payments.provider_callback", view=provider_callback, arguments=None,
    response=CallbackAnswer, bearer=False, raw_body=True, authenticate=lambda _token: None,
    serve=lambda body, _principal, environ, *, provider_name: _called_back(
        provider_name, body, environ))


# --- The police --------------------------------------------------------------------------------

@police_blp.post("/fines")
@officer_required
@account_rate_limit("FINE_LIMIT_PER_OFFICER", scope="fine:officer")
@police_blp.arguments(FineCreate)
@police_blp.response(201, OfficerOrderRead)
@police_blp.doc(security=BEARER)
def issue_fine(payload: dict[str, Any]) -> Any:
    """Fine a citizen (personal id, full name and date of birth in the body); they pay it in
    the app. An unknown id and a known one with other details are the same `422
    payment.citizen_not_matched`; limited per officer (`FINE_LIMIT_PER_OFFICER`, 429)."""
    order = orders.issue_fine(db_session=ctx.db_session(), actor=ctx.actor(),
                              officer=current_officer(), **payload)
    return orders.OrderDetail(order=order, attempts=[],
                              history=ORDER_FLOW.history(ctx.db_session(), order.id))


@police_blp.get("/payments/<int:order_id>")
@officer_required
@police_blp.response(200, OfficerOrderRead)
@police_blp.doc(security=BEARER)
def read_order(order_id: int) -> Any:
    """An order of the jurisdiction with its attempts and history (in the citizen's log)."""
    return orders.order_for_officer(db_session=ctx.db_session(), actor=ctx.actor(),
                                    officer=current_officer(), order_id=order_id)


@police_blp.post("/payments/<int:order_id>/refunds")
@officer_required
@police_blp.arguments(RefundCreate)
@police_blp.response(201, RefundRead)
@police_blp.doc(security=BEARER)
def refund(payload: dict[str, Any], order_id: int) -> Any:
    """Supervisors: refund a paid order of the jurisdiction, with a reason, through the bank."""
    return refunds.refund_order(db_session=ctx.db_session(), actor=ctx.actor(),
                                officer=current_officer(), providers=providers(),
                                order_id=order_id, **payload)
