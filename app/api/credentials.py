"""VN1 credentials: issue, show as QR, verify online, revoke; and the public trust list."""
from __future__ import annotations

import hashlib
import json
from typing import Any

from flask import Response, current_app, request

from app import context as ctx
from app.api.pages import page
from app.auth import (BEARER, answer_checked, citizen_for_act, citizen_required,
                      current_account, current_officer, current_officer_token, officer_checked,
                      officer_required, officer_token, officer_token_required)
from app.hot_lane import HotRoute, after_access_token
from identity.accounts.capabilities import Act
from app.metrics import CREDENTIAL_VERIFICATIONS
from app.parsing import Blueprint
from app.replica_reads import lag_tolerant, read_session
from identity.accounts.account import citizen_actor
from identity.audit.service import Actor
from identity.autocommit import autocommit_statements
from identity.schema_fields import PageArgs
from identity.credentials import keys, online, service
from identity.credentials.keys import KeyRing
from identity.credentials.schemas import (CredentialCreate, CredentialIssued, CredentialPage,
                                          CredentialStatus, TrustListRead, VerificationRead,
                                          VerifyRequest)

blp = Blueprint("credentials", __name__, url_prefix="/credentials",
                description="Signed QR credentials in the VN1 format. The app normally renders "
                            "the QR itself from the `qr` text (alphanumeric mode, error "
                            "correction M); the image endpoints are for clients that cannot.")
police_blp = Blueprint("police_credentials", __name__, url_prefix="/police/credentials",
                       description="Officers revoke credentials of their jurisdiction's "
                                   "citizens.")
wellknown = Blueprint("wellknown", __name__, url_prefix="",
                      description="The public trust list that offline verifiers download.")

#: Verifiers should refresh often enough that a revoked key stops verifying within minutes.
TRUST_LIST_MAX_AGE = 300


def key_ring() -> KeyRing:
    """The process's key ring (trust list and decrypted signing keys)."""
    ring: KeyRing = current_app.extensions["key_ring"]
    return ring


def _citizen_actor() -> Any:
    return citizen_actor(current_account(), ctx.actor())


@blp.post("")
@citizen_required(Act.CREDENTIAL_ISSUE)
@blp.arguments(CredentialCreate)
@blp.response(201, CredentialIssued)
@blp.doc(security=BEARER)
def issue(payload: dict[str, Any]) -> Any:
    """Issue a credential, confirmed with the passcode.

    Refused with `credential.level_too_low` (403) for a type above the
    account's level, `credential.type_unknown` (422), `passcode.wrong` (401),
    `credential.signing_unavailable` (503: never an unsigned credential).
    """
    return _issued(payload, ctx.actor())


def _issued(payload: dict[str, Any], base: Actor) -> service.Issued:
    """The route's work once the citizen's token is checked (``current_account()``): the
    route's and the hot lane's (:data:`HOT_ISSUE`). ``base``: the request's actor."""
    account = current_account()
    return service.issue_credential(
        db_session=ctx.db_session(), redis_client=ctx.redis_client(), protector=ctx.protector(),
        key_ring=key_ring(), actor=citizen_actor(account, base), account=account,
        credential_type=payload["type"], passcode=payload["passcode"],
        audience=payload["audience"], nonce=payload["nonce"],
        lifetimes=current_app.config["CREDENTIAL_LIFETIMES"])


#: A citizen's QR, issued in front of Flask (:mod:`app.hot_lane`): the token and the account
#: checked by the route's own step, then its work.
HOT_ISSUE = HotRoute(endpoint="credentials.issue", view=issue, arguments=CredentialCreate,
                     response=CredentialIssued, status=201,
                     authenticate=after_access_token(lambda: citizen_for_act(
                         Act.CREDENTIAL_ISSUE)),
                     serve=lambda payload, _account, environ: _issued(
                         payload, ctx.actor_of(environ)))


@blp.get("")
@citizen_required(Act.CREDENTIAL_READ)
@blp.arguments(PageArgs, location="query")
@blp.response(200, CredentialPage)
@blp.doc(security=BEARER)
def list_own(args: dict[str, Any]) -> Any:
    """The holder's credentials, newest first (ids, types and times; never the claims)."""
    items, total = service.list_credentials(db_session=ctx.db_session(), account=current_account(),
                                            **args)
    return page(items, total, args)


def _image(credential_id: str, kind: str) -> Response:
    image = service.credential_image(db_session=ctx.db_session(), redis_client=ctx.redis_client(),
                                     protector=ctx.protector(),
                                     account=current_account(), credential_id=credential_id,
                                     kind=kind)
    response = Response(image, mimetype=service.IMAGE_KINDS[kind])
    response.headers["Cache-Control"] = "private, no-store"  # it shows personal data
    return response


@blp.get("/<string(length=32):credential_id>/qr.png")
@citizen_required(Act.CREDENTIAL_READ)
@blp.response(200, {"type": "string", "format": "binary"}, content_type="image/png")
@blp.doc(security=BEARER)
def qr_png(credential_id: str) -> Response:
    """The QR as PNG, rendered once per credential and cached until it expires."""
    return _image(credential_id, "png")


@blp.get("/<string(length=32):credential_id>/qr.svg")
@citizen_required(Act.CREDENTIAL_READ)
@blp.response(200, {"type": "string"}, content_type="image/svg+xml")
@blp.doc(security=BEARER)
def qr_svg(credential_id: str) -> Response:
    """The QR as SVG, rendered once per credential and cached until it expires."""
    return _image(credential_id, "svg")


@blp.post("/<string(length=32):credential_id>/revoke")
@citizen_required(Act.CREDENTIAL_REVOKE)
@blp.response(200, CredentialStatus)
@blp.doc(security=BEARER)
def revoke(credential_id: str) -> Any:
    """The holder revokes one of their credentials: online verification refuses it at once."""
    return service.revoke_own(db_session=ctx.db_session(), actor=_citizen_actor(),
                              account=current_account(), credential_id=credential_id)


@blp.post("/verify")
@ctx.statements_then_one_act
@officer_token_required  # the officer's row is read with the credential's (online.py)
@blp.arguments(VerifyRequest)
@blp.response(200, VerificationRead)
@blp.doc(security=BEARER)
def verify(payload: dict[str, Any]) -> Any:
    """Verify a scanned credential online: the offline checks plus revocation and one-time use.

    Always 200 for a readable request: `valid`, and the spec's `reason` code
    when not valid. The check is recorded in the holder's access log with
    the verifier's name.
    """
    return verify_as_officer(payload, ctx.actor())


def verify_as_officer(payload: dict[str, Any], base: Actor) -> online.Verification:
    """The route's work once its token is checked (``current_officer_token()``): the route's
    and the hot lane's (:data:`HOT_VERIFY`). ``base``: the request's actor."""
    officer = online.OfficerVerifier(current_officer_token(), base)
    result = online.verify_online(
        db_session=ctx.db_session(), key_ring=key_ring(), officer=officer,
        leeway=current_app.config["CREDENTIAL_LEEWAY_SECONDS"], **payload)
    officer_checked(officer.row)
    CREDENTIAL_VERIFICATIONS.labels(result=result.reason or "valid").inc()
    return result


def _verify_in_lane(payload: dict[str, Any], token: Any,
                    environ: dict[str, Any]) -> online.Verification:
    """The route's decorators in the hot lane: its connection, then the officer's row checked
    before the answer (:func:`app.auth.answer_checked`)."""
    with autocommit_statements(ctx.db_session()):
        return answer_checked(token, lambda: verify_as_officer(payload, ctx.actor_of(environ)))


#: The online verification at the checkpoints, served in front of Flask (:mod:`app.hot_lane`).
HOT_VERIFY = HotRoute(endpoint="credentials.verify", view=verify, arguments=VerifyRequest,
                      response=VerificationRead,
                      authenticate=after_access_token(officer_token), serve=_verify_in_lane)


@police_blp.post("/<string(length=32):credential_id>/revoke")
@officer_required
@police_blp.response(200, CredentialStatus)
@police_blp.doc(security=BEARER)
def revoke_by_officer(credential_id: str) -> Any:
    """Revoke a credential of a citizen of the officer's jurisdiction."""
    return service.revoke_by_officer(db_session=ctx.db_session(), actor=ctx.actor(),
                                     officer=current_officer(),
                                     credential_id=credential_id)


@wellknown.get("/.well-known/vnid-keys.json")
@lag_tolerant
@wellknown.response(200, TrustListRead)
def trust_list() -> Response:
    """The issuer's keys (active, retired, revoked), as the VN1 spec lays out. Cacheable."""
    document = keys.trust_list_document(db_session=read_session(),
                                        issuer=current_app.config["CREDENTIAL_ISSUER"])
    body = json.dumps(document, separators=(",", ":"), sort_keys=True)
    etag = hashlib.sha256(body.encode()).hexdigest()[:32]
    response = Response(body, mimetype="application/json")
    response.set_etag(etag)
    response.headers["Cache-Control"] = f"public, max-age={TRUST_LIST_MAX_AGE}"
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.make_conditional(request)
    return response
