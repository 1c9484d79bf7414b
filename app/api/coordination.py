"""Data coordination: sources deliver records, operators review them, citizens show documents.

- ``/sources/<source>/records``: a source's relying party delivers batches
  (scope ``records.deliver``), to its own sources only (403 otherwise);
- ``/coordination/...``: operators (admin token) read the review queue,
  resolve it, read the per-day counts and the aggregated feed;
- ``/telco/sim-report``: a telco party (scope ``sim.verify``) fetches the
  junk-SIM report of its own operator;
- ``/me/documents``: the citizen's document wallet, each document shown as a
  VN1 credential;
- ``/police/coordination/corrections``: officers read the registry
  corrections forwarded to their jurisdiction.
"""
from __future__ import annotations

from typing import Any

from flask import current_app

from app import context as ctx
from app.api.pages import page
from app.auth import BEARER, citizen_required, current_account, current_officer, officer_required
from identity.accounts.capabilities import Act
from app.operator_auth import OPERATOR_TOKEN, current_operator, operator_required
from app.parsing import Blueprint
from app.rp_auth import RP_BEARER, current_party, party_required, per_item
from identity.schema_fields import PageArgs
from identity.accounts.account import citizen_actor
from identity.audit.service import Actor
from identity.coordination import aggregates, documents, mismatches, sim_report, sources
from identity.coordination.schemas import (AggregatesRead, CorrectionPage, DailyCountList,
                                           DeliveryRead, DocumentCredentialCreate, DocumentList,
                                           MismatchArgs, RecordBatch, Resolve, ReviewPage,
                                           ReviewRead, SimReportArgs, SimReportPage)
from identity.credentials.schemas import CredentialIssued

blp = Blueprint("coordination", __name__, url_prefix="",
                description="Data coordination: connected sources' records linked to the "
                            "registry, the operators' review queue, the junk-SIM report, the "
                            "aggregated feed and the citizen's document wallet.")


def _operator_actor() -> Actor:
    operator = current_operator()
    base = ctx.actor()
    return Actor(type="operator", id=f"operator:{operator.id}", source=base.source,
                 request_id=base.request_id)


def _party_actor() -> Actor:
    base = ctx.actor()
    return Actor(type="relying_party", id=f"rp:{current_party().client_id}",
                 source=base.source, request_id=base.request_id)


@blp.post("/sources/<string(maxlength=64):source>/records")
@party_required("records.deliver", cost=per_item("records"))
@blp.arguments(RecordBatch)
@blp.response(200, DeliveryRead)
@blp.alt_response(403, description="`source.forbidden`: another party's source")
@blp.doc(security=RP_BEARER)
def deliver(payload: dict[str, Any], source: str) -> Any:
    """Deliver up to 1,000 records; idempotent by each record's `record_id`.

    A record identical to the one already held is `unchanged` and changes
    nothing (not even the day's counts); a changed one is linked afresh.
    Refused records are listed with their position and reason code (their
    form only); the others are kept. The answer never says how records linked
    to the registry (linked, mismatch, unknown id): that would let a source
    probe the registry one record at a time. Operators see it in the review
    queue. Metered by the party's rate limit and its daily quota of
    `records.deliver`, one unit per record.
    """
    return sources.deliver_records(db_session=ctx.db_session(), protector=ctx.protector(),
                                   actor=_party_actor(),
                                   party=current_party(), source_name=source,
                                   records=payload["records"])


@blp.get("/coordination/mismatches")
@operator_required
@blp.arguments(MismatchArgs, location="query")
@blp.response(200, ReviewPage)
@blp.doc(security=OPERATOR_TOKEN)
def list_mismatches(args: dict[str, Any]) -> Any:
    """Records under review (data disagreeing with the registry, or an unknown id), oldest first."""
    items, total = mismatches.list_mismatches(db_session=ctx.db_session(),
                                              protector=ctx.protector(),
                                              actor=_operator_actor(), **args)
    return page(items, total, args)


@blp.post("/coordination/mismatches/<int:item_id>/resolve")
@operator_required
@blp.arguments(Resolve)
@blp.response(200, ReviewRead)
@blp.doc(security=OPERATOR_TOKEN)
def resolve(payload: dict[str, Any], item_id: int) -> Any:
    """Resolve: `registry_right`, `source_right` (forwarded to the officers), `not_this_citizen`."""
    return mismatches.resolve(db_session=ctx.db_session(), protector=ctx.protector(),
                              actor=_operator_actor(),
                              item_id=item_id, **payload)


@blp.get("/coordination/daily")
@operator_required
@blp.response(200, DailyCountList)
@blp.doc(security=OPERATOR_TOKEN)
def daily() -> Any:
    """Per source and day (last 30 days): records received, linked, mismatched, rejected."""
    rows = sources.daily_counts(db_session=ctx.db_session())
    return {"items": [{"source": name, "day": c.day, "received": c.received,
                       "linked": c.linked, "mismatched": c.mismatched,
                       "unknown_id": c.unknown_id, "rejected": c.rejected}
                      for name, c in rows]}


@blp.get("/coordination/aggregates")
@operator_required
@blp.response(200, AggregatesRead)
@blp.doc(security=OPERATOR_TOKEN)
def aggregated() -> Any:
    """Counts by province, age band and sex, and by source; small counts suppressed."""
    return aggregates.aggregates(db_session=ctx.db_session(),
                                 min_count=current_app.config["COORDINATION_MIN_COUNT"])


@blp.get("/telco/sim-report")
@party_required("sim.verify", metered=False)
@blp.arguments(SimReportArgs, location="query")
@blp.response(200, SimReportPage)
@blp.doc(security=RP_BEARER)
def telco_sim_report(args: dict[str, Any]) -> Any:
    """The junk-SIM report of the calling telco's own operator, a page at a time."""
    limit = current_app.config["SIM_MAX_PER_ID"]
    operator, items, total = sim_report.sim_report_page(
        db_session=ctx.db_session(), protector=ctx.protector(), party=current_party(),
        operator=args.get("operator"), max_per_id=limit, page=args["page"],
        per_page=args["per_page"])
    return page(items, total, args, operator=operator, max_per_id=limit)


@blp.get("/me/documents")
@citizen_required(Act.DOCUMENTS_READ)
@blp.response(200, DocumentList)
@blp.doc(security=BEARER)
def my_documents() -> Any:
    """The documents linked to the citizen, with their status at the source."""
    return {"items": documents.list_documents(
        db_session=ctx.db_session(), protector=ctx.protector(), account=current_account())}


@blp.post("/me/documents/<int:document_id>/credential")
@citizen_required(Act.DOCUMENT_PRESENT)
@blp.arguments(DocumentCredentialCreate)
@blp.response(201, CredentialIssued)
@blp.doc(security=BEARER)
def document_credential(payload: dict[str, Any], document_id: int) -> Any:
    """Show a document as a VN1 credential of its type, confirmed with the passcode.

    `document.revoked` / `document.expired` (409) when the source revoked it
    or it expired; the QR image is at `/api/v1/credentials/<id>/qr.png`.
    """
    account = current_account()
    return documents.issue_document_credential(
        db_session=ctx.db_session(), redis_client=ctx.redis_client(), protector=ctx.protector(),
        key_ring=current_app.extensions["key_ring"],
        actor=citizen_actor(account, ctx.actor()), account=account,
        document_id=document_id, lifetimes=current_app.config["CREDENTIAL_LIFETIMES"],
        **payload)


@blp.get("/police/coordination/corrections")
@officer_required
@blp.arguments(PageArgs, location="query")
@blp.response(200, CorrectionPage)
@blp.doc(security=BEARER)
def corrections(args: dict[str, Any]) -> Any:
    """Registry corrections forwarded by operators ("source right"), for the jurisdiction."""
    items, total = mismatches.forwarded_corrections(
        db_session=ctx.db_session(), protector=ctx.protector(), actor=ctx.actor(),
        officer=current_officer(), **args)
    return page(items, total, args)
