"""Relying parties' API (``/rp``) and the citizen's side of consent and data sharing (``/me``)."""
from __future__ import annotations

import dataclasses
from typing import Any

from flask import current_app

from app import context as ctx
from app.api.pages import page
from app.api.credentials import key_ring
from app.auth import BEARER, citizen_required, current_account
from app.jobs import enqueue
from app.metrics import CREDENTIAL_VERIFICATIONS
from app.parsing import Blueprint
from app.hot_lane import HotRoute, after_access_token
from app.rp_auth import (RP_BEARER, PartyToken, current_party, current_party_row, party_admitted,
                         party_required, party_token, per_item)
from identity.accounts.capabilities import Act
from identity.credentials import online
from identity.credentials.schemas import VerificationRead, VerifyRequest
from identity.relying_parties import consents, matching, sharing
from identity.relying_parties.access_log import party_actor
from identity.relying_parties.schemas import (CitizenConsentPage, ConsentArgs, ConsentDecision,
                                              ConsentRequestCreate, ConsentRequestRead,
                                              DataSharePage, ErasureArgs, ErasureRequestPage,
                                              ErasureRequestRead, IdentityMatchRead,
                                              IdentityMatchRequest, SimOwnershipRead,
                                              SimOwnershipRequest, CitizenConsentRead,
                                              DataShareRead)
from identity.accounts.account import citizen_actor
from identity.audit.service import Actor
from identity.autocommit import autocommit_statements
from identity.schema_fields import PageArgs
from utilities.residence import lodging
from utilities.residence.lodging_schemas import LodgingCreate, LodgingCreated

blp = Blueprint("relying_parties", __name__, url_prefix="/rp",
                description="For banks, telcos, hotels: an access token from "
                            "`POST /api/v1/oauth/token` with the scope each endpoint names. "
                            "Every call is in the citizen's access log with the party's name; "
                            "metered endpoints count against the party's daily quota (429 "
                            "`rp.quota_exhausted` with Retry-After); a missing scope is 403 "
                            "`rp.scope_missing`; a disabled party's token is 401.")
me_blp = Blueprint("data_sharing", __name__, url_prefix="/me",
                   description="The citizen's consent requests and every share of their data.")


def _party_actor() -> Any:
    return party_actor(current_party_row(), ctx.actor())


def _citizen_actor() -> Any:
    return citizen_actor(current_account(), ctx.actor())


# --- Matching without disclosure ---------------------------------------------------------------

#: The scope of the identity match.
MATCH_SCOPE = "identity.match"


@blp.post("/identity-match")
@ctx.statements_then_one_act
@party_required(MATCH_SCOPE)
@blp.arguments(IdentityMatchRequest)
@blp.response(200, IdentityMatchRead)
@blp.doc(security=RP_BEARER)
def identity_match(payload: dict[str, Any]) -> Any:
    """Scope `identity.match`: whether the party's data agree with the registry, field by field.

    An unknown personal id answers like a citizen whose every field differs.
    The phone is compared with the registry's subscriber record only.
    """
    return _match(payload, ctx.actor(), current_party_row())


def _match(payload: dict[str, Any], base: Actor, party: Any, **read: Any) -> dict[str, Any]:
    """The route's work once its party is admitted: the route's and the hot lane's (``read``:
    the citizen's row read already)."""
    return matching.identity_match(db_session=ctx.db_session(), protector=ctx.protector(),
                                   actor=base, party=party, **read, **payload)


def _match_in_lane(payload: dict[str, Any], token: PartyToken,
                   environ: dict[str, Any]) -> dict[str, Any]:
    """The route's decorators in the hot lane: its connection, then the party admitted and
    metered (:func:`app.rp_auth.party_admitted`) before the work.

    The lane takes only a body the route's schema accepts, so the party's row can be read
    with the citizen's in one statement (:func:`identity.relying_parties.matching
    .party_and_citizen`) and still be checked, and the request metered, before anything of
    the citizen's is used: the answers are the route's, one round trip fewer. (The route
    checks the party before it reads the body: a disabled party or a missing scope is
    refused first whatever the body, ``tests/security/test_authorisation_matrix.py``.)"""
    db_session = ctx.db_session()
    with autocommit_statements(db_session):
        row, citizen = matching.party_and_citizen(db_session, party_id=token.party_id,
                                                  personal_id=payload["personal_id"])
        party = party_admitted(token, MATCH_SCOPE, endpoint=HOT_MATCH.endpoint, row=row)
        return _match(payload, ctx.actor_of(environ), party, citizen=citizen)


#: A bank's identity match, served in front of Flask (:mod:`app.hot_lane`).
HOT_MATCH = HotRoute(endpoint="relying_parties.identity_match", view=identity_match,
                     arguments=IdentityMatchRequest, response=IdentityMatchRead,
                     authenticate=after_access_token(party_token), serve=_match_in_lane)


@blp.post("/sim-ownership")
@ctx.statements_then_one_act
@party_required("sim.verify")
@blp.arguments(SimOwnershipRequest)
@blp.response(200, SimOwnershipRead)
@blp.doc(security=RP_BEARER)
def sim_ownership(payload: dict[str, Any]) -> Any:
    """Scope `sim.verify` (telcos): whether the phone is the citizen's in the registry.

    Only the registry's subscriber record counts, never the phone typed at a
    registration (a squatter's). An unknown personal id answers `false`.
    """
    return matching.sim_ownership(db_session=ctx.db_session(), protector=ctx.protector(),
                                  actor=ctx.actor(), party=current_party_row(), **payload)


# --- Consent ---------------------------------------------------------------------------------

@blp.post("/consent-requests")
@party_required("identity.consent")
@blp.arguments(ConsentRequestCreate)
@blp.response(201, ConsentRequestRead)
@blp.doc(security=RP_BEARER)
def create_consent_request(payload: dict[str, Any]) -> Any:
    """Scope `identity.consent`: ask a citizen for attributes of the catalogue, for a purpose.

    The same 201 for every well-formed personal id: an unknown one, a citizen
    without an account, or one whose account is pending review, rejected,
    locked or closed gets a request that reaches no one and expires, as when
    a citizen does not answer. The answer tells nothing about the id.
    """
    request = consents.create_consent_request(
        db_session=ctx.db_session(), actor=ctx.actor(), party=current_party(),
        lifetime=current_app.config["CONSENT_REQUEST_SECONDS"], **payload)
    return dataclasses.asdict(consents.consent_state(request))


@blp.get("/consent-requests/<string(length=32):consent_id>")
@party_required("identity.consent", metered=False)
@blp.response(200, ConsentRequestRead)
@blp.alt_response(409, description="`consent.already_fetched`; `consent.unavailable`: the "
                                   "data cannot be delivered now (nothing is shared)")
@blp.doc(security=RP_BEARER)
def get_consent_request(consent_id: str) -> Any:
    """The request's status; when approved, the `consent` credential, once (then 409).

    409 `consent.unavailable` when the citizen's account is not the one that
    approved, or no longer active (locked after a lost phone, closed): nothing
    is delivered, the attempt is in the citizen's access log, and the party is
    told no more than that. It may try again while the request lives.
    """
    state = consents.fetch(db_session=ctx.db_session(), redis_client=ctx.redis_client(),
                           protector=ctx.protector(), actor=ctx.actor(),
                           key_ring=key_ring(), party=current_party(), consent_id=consent_id)
    return dataclasses.asdict(state)


@blp.get("/erasure-requests")
@party_required("identity.consent", metered=False)
@blp.arguments(ErasureArgs, location="query")
@blp.response(200, ErasureRequestPage)
@blp.doc(security=RP_BEARER)
def erasure_requests(args: dict[str, Any]) -> Any:
    """Citizens' requests that the party delete data it received (pending ones unless `all`)."""
    items, total = sharing.erasure_requests(db_session=ctx.db_session(), party=current_party(),
                                            pending_only=not args["all"], page=args["page"],
                                            per_page=args["per_page"])
    return page(items, total, args)


@blp.post("/erasure-requests/<int:share_id>/acknowledgement")
@party_required("identity.consent", metered=False)
@blp.response(200, ErasureRequestRead)
@blp.doc(security=RP_BEARER)
def acknowledge_erasure(share_id: int) -> Any:
    """The party confirms it deleted the data (the citizen sees when)."""
    return sharing.acknowledge_erasure(db_session=ctx.db_session(), actor=ctx.actor(),
                                       party=current_party(), share_id=share_id)


# --- Credentials and lodging -----------------------------------------------------------------

@blp.post("/credentials/verify")
@ctx.statements_then_one_act
@party_required("credentials.verify")
@blp.arguments(VerifyRequest)
@blp.response(200, VerificationRead)
@blp.doc(security=RP_BEARER)
def verify_credential(payload: dict[str, Any]) -> Any:
    """Scope `credentials.verify`: the online verifier, logged with the party's name."""
    party = current_party_row()
    result = online.verify_online(
        db_session=ctx.db_session(), key_ring=key_ring(), actor=_party_actor(), verifier=party.name,
        leeway=current_app.config["CREDENTIAL_LEEWAY_SECONDS"], **payload)
    CREDENTIAL_VERIFICATIONS.labels(result=result.reason or "valid").inc()
    return result


@blp.post("/lodging-notices")
@party_required("lodging.notify", cost=per_item("guests", most=lodging.MAX_GUESTS))
@blp.arguments(LodgingCreate)
@blp.response(201, LodgingCreated)
@blp.doc(security=RP_BEARER)
def notify_lodging(payload: dict[str, Any]) -> Any:
    """Scope `lodging.notify` (hotels): tell the commune police who stays (lưu trú).

    The same answer whatever the registry knows of the guests (those it does
    not confirm wait for the police's review). The quota counts one unit per
    guest, on the way in (``per_item``), with the per-party rate limit.
    """
    party = current_party_row()
    return lodging.notify_lodging(
        db_session=ctx.db_session(), actor=_party_actor(),
        notifier=lodging.LodgingNotifier(type="relying_party", id=party.client_id), **payload)


# --- The citizen's side ----------------------------------------------------------------------

@me_blp.get("/consent-requests")
@citizen_required(Act.CONSENT_READ)
@me_blp.arguments(ConsentArgs, location="query")
@me_blp.response(200, CitizenConsentPage)
@me_blp.doc(security=BEARER)
def my_consent_requests(args: dict[str, Any]) -> Any:
    """Who asks for which of my data and why; pending first to answer."""
    items, total = consents.list_for_citizen(db_session=ctx.db_session(),
                                             account=current_account(), **args)
    return page([consents.consent_fields(item) for item in items], total, args)


@me_blp.post("/consent-requests/<string(length=32):consent_id>/decision")
@citizen_required(Act.CONSENT_DECIDE)
@me_blp.arguments(ConsentDecision)
@me_blp.response(200, CitizenConsentRead)
@me_blp.doc(security=BEARER)
def decide(payload: dict[str, Any], consent_id: str) -> Any:
    """Approve or refuse, with the passcode; the party is notified if it asked to be."""
    request = consents.decide(db_session=ctx.db_session(), actor=_citizen_actor(),
                              account=current_account(), consent_id=consent_id, **payload)
    if request.callback_state == "pending":
        enqueue("rp.consent_callback", consent_id=request.id)
    return consents.consent_fields(request)


@me_blp.get("/data-sharing")
@citizen_required(Act.DATA_SHARING_READ)
@me_blp.arguments(PageArgs, location="query")
@me_blp.response(200, DataSharePage)
@me_blp.doc(security=BEARER)
def data_sharing(args: dict[str, Any]) -> Any:
    """Every party that received my data: what, when and why; and erasure requests."""
    items, total = sharing.data_shares(
        db_session=ctx.db_session(), account=current_account(), **args)
    return page(items, total, args)


@me_blp.post("/data-sharing/<int:share_id>/erasure-request")
@citizen_required(Act.DATA_ERASURE_REQUEST)
@me_blp.response(200, DataShareRead)
@me_blp.doc(security=BEARER)
def request_erasure(share_id: int) -> Any:
    """Ask the party to delete the data it received (it sees and acknowledges the request)."""
    return sharing.request_erasure(db_session=ctx.db_session(), actor=_citizen_actor(),
                                   account=current_account(), share_id=share_id)
