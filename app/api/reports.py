"""Incident reports (tố giác tội phạm): the citizen's side and the police's side.

Cases are named by their case number in every URL (random, no personal data).
A citizen reaches only their own cases, an officer only those of their
jurisdiction: anything else answers ``report.not_found`` (404).

An anonymous case is reached with the reporter key its filing answered
(``reporter_key``), sent in the ``X-Reporter-Key`` header: nothing stored
links the case to the account without it, so it is not in ``GET /reports``
and no notification names it; the app polls its cases. Filing and evidence
uploads are limited per account (``REPORT_LIMIT_PER_ACCOUNT``,
``EVIDENCE_LIMIT_PER_ACCOUNT``: 429 ``rate_limited``) and per day
(``REPORT_DAILY_PER_ACCOUNT``, ``EVIDENCE_DAILY_FILES_PER_ACCOUNT``,
``EVIDENCE_DAILY_BYTES_PER_ACCOUNT``: 429 ``quota.exhausted``), counted in
Redis under a keyed hash of the account (no account id in a key), 503 when
Redis is down.
"""
from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from flask import Response, current_app, g, request
from flask_smorest.fields import Upload
from marshmallow import Schema

from app import context as ctx
from app.api.pages import page
from app.auth import (BEARER, citizen_for_act, citizen_required, current_account,
                      current_officer, limited, Limits, officer_required)
from app.extensions import get_protector
from app.hot_lane import HotRoute, after_access_token
from app.parsing import Blueprint
from app.replica_reads import lag_tolerant, read_session
from app.quotas import consume_daily_quota, count_then_consume, daily_quota
from identity.accounts.capabilities import Act
from identity.audit.service import Actor
from utilities.reports import cases, evidence, filing, indicators, own_cases
from utilities.reports import queue as police_queue
from utilities.reports.deadlines import Deadlines
from utilities.reports.evidence_store import ALLOWED_TYPES, EvidenceStore
from utilities.reports.models import Evidence
from utilities.reports.schemas import (AnswerCreate, AssignRequest, EvidenceRead,
                                       IndicatorLookup, IndicatorLookupResult, QuestionCreate,
                                       QueueArgs, QueuePage, ReporterRead, ReportCreate,
                                       ReportOfficerRead, ReportRead, ReportSummaryPage,
                                       StatusChange, TransferRequest)
from identity.schema_fields import PageArgs

F = TypeVar("F", bound=Callable[..., Any])
#: Room for the multipart envelope around one evidence file.
MULTIPART_OVERHEAD = 64 * 1024
#: The header that carries an anonymous case's reporter key (never a URL: no secret in one).
REPORTER_KEY_HEADER = "X-Reporter-Key"
_REPORTER_KEY_DOC = {"parameters": [{
    "in": "header", "name": REPORTER_KEY_HEADER, "required": False,
    "schema": {"type": "string", "maxLength": 64},
    "description": "For an anonymous case: the `reporter_key` its filing answered"}]}
_FILE_DOC = {"200": {"description": "The file as stored: a photo without its metadata (its "
                                    "SHA-256 in `X-Content-SHA256`)",
                     "content": {t: {"schema": {"type": "string", "format": "binary"}}
                                 for t in ALLOWED_TYPES}}}

blp = Blueprint("reports", __name__, url_prefix="/reports",
                description="Incident reports filed by citizens (crime, scam, fire hazard, "
                            "traffic, environment), followed by case number.")
police_blp = Blueprint("police_reports", __name__, url_prefix="/police/reports",
                       description="The report queue of the officer's jurisdiction and the "
                                   "work on its cases. No answer names an anonymous reporter.")


def _deadlines() -> Deadlines:
    return Deadlines.from_config(current_app.config)


def _store() -> EvidenceStore:
    return EvidenceStore(current_app.config["EVIDENCE_DIR"])


def _reporter_key() -> str | None:
    """The ``X-Reporter-Key`` header, if it is one the service could have given."""
    key = request.headers.get(REPORTER_KEY_HEADER, "")
    return key if 0 < len(key) <= 64 else None


def _quota_subject() -> str:
    """The account, as the rate-limit and quota keys name it: a keyed hash, never its id."""
    if "account" not in g:
        return "account:none"
    return get_protector().lookup_hash(str(g.account.id), purpose=b"report-quota").hex()[:32]


def account_limit(config_name: str, *, scope: str) -> Limits:
    """A per-account rate limit (under :func:`_quota_subject`); after ``citizen_required``."""
    return limited(config_name, scope=scope, key=_quota_subject)


def evidence_upload_limit(view: F) -> F:
    """Let this request's body be as large as one evidence file (``EVIDENCE_MAX_BYTES``).

    Set before the multipart body is parsed. A file over the limit inside a
    body under it is ``evidence.too_large`` (422, naming the field); a body
    over it is refused by werkzeug unread, ``request.too_large`` (413).
    """
    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        request.max_content_length = current_app.config["EVIDENCE_MAX_BYTES"] + \
            MULTIPART_OVERHEAD
        return view(*args, **kwargs)
    return cast(F, wrapper)


def _file_response(case_number: str, record: Evidence, data: bytes) -> Response:
    response = Response(data, mimetype=record.content_type)
    extension = ALLOWED_TYPES.get(record.content_type, "bin")
    response.headers["Content-Disposition"] = (
        f'attachment; filename="{case_number}-{record.id}.{extension}"')
    response.headers["X-Content-SHA256"] = record.sha256
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-store"
    return response


class EvidenceUpload(Schema):
    """One photo or video (multipart/form-data, field ``file``): an HTTP form, so it lives here."""

    file = Upload(required=True, metadata={
        "description": "JPEG, PNG or WebP photo, MP4 or QuickTime video; the type is "
                       "read from the content"})


# --- Citizens ---------------------------------------------------------------------------------

#: The filing's rate limit per account, counted by the route and by the hot lane.
FILING_LIMIT = account_limit("REPORT_LIMIT_PER_ACCOUNT", scope="reports:account")


@blp.post("")
@citizen_required(Act.REPORT_FILE)
@FILING_LIMIT
@blp.arguments(ReportCreate)
@blp.response(201, ReportRead)
@blp.doc(security=BEARER)
def file_report(payload: dict[str, Any]) -> Any:
    """File a report; the answer's case number is how the case is followed.

    Anonymous: the answer's `reporter_key` is the only way back to the case
    (header `X-Reporter-Key`); the app keeps it, the service does not. At most
    `REPORT_DAILY_PER_ACCOUNT` reports a day (429 `quota.exhausted`).
    """
    consume_daily_quota(name="reports", subject=_quota_subject(),
                        config_name="REPORT_DAILY_PER_ACCOUNT")
    return _filed(payload, ctx.actor())


def _filed(payload: dict[str, Any], base: Actor) -> Any:
    """The route's work once the account is checked, its request counted and the day's quota
    consumed: the route's and the hot lane's (:data:`HOT_FILE`). ``base``: the request's
    actor."""
    return filing.file_report(db_session=ctx.db_session(), protector=ctx.protector(),
                              actor=base, account=current_account(), deadlines=_deadlines(),
                              **payload)


def _file_in_lane(payload: dict[str, Any], _account: Any, environ: dict[str, Any]) -> Any:
    """The route in the hot lane: the request counted in the route's limit and the day's
    quota consumed (one Redis round trip: :func:`app.quotas.count_then_consume`), then its
    work."""
    count_then_consume(FILING_LIMIT.budgets, daily_quota(
        name="reports", subject=_quota_subject(), config_name="REPORT_DAILY_PER_ACCOUNT"),
        endpoint=HOT_FILE.endpoint, environ=environ)
    return _filed(payload, ctx.actor_of(environ))


#: A citizen's report, filed in front of Flask (:mod:`app.hot_lane`): the token and the account
#: checked by the route's own step, the request counted in the route's limit, then its work.
HOT_FILE = HotRoute(endpoint="reports.file_report", view=file_report, arguments=ReportCreate,
                    response=ReportRead, status=201,
                    authenticate=after_access_token(lambda: citizen_for_act(Act.REPORT_FILE)),
                    serve=_file_in_lane)


@blp.get("")
@citizen_required(Act.REPORT_READ)
@blp.arguments(PageArgs, location="query")
@blp.response(200, ReportSummaryPage)
@blp.doc(security=BEARER)
def my_reports(args: dict[str, Any]) -> Any:
    """The citizen's own named reports, newest first (anonymous ones only through their key)."""
    items, total = own_cases.my_reports(db_session=ctx.db_session(), protector=ctx.protector(),
                                        account=current_account(), **args)
    return page(items, total, args)


@blp.get("/<case_number>")
@citizen_required(Act.REPORT_READ)
@blp.response(200, ReportRead)
@blp.doc(security=BEARER, **_REPORTER_KEY_DOC)
def my_report(case_number: str) -> Any:
    """The case and its timeline: every status change, question and answer.

    The app polls its anonymous cases here (with `X-Reporter-Key`): a question
    of the officers shows as `awaiting_answer`; nothing of the poll is kept.
    """
    return own_cases.my_report(db_session=ctx.db_session(), protector=ctx.protector(),
                               account=current_account(),
                               case_number=case_number, reporter_key=_reporter_key())


@blp.post("/<case_number>/messages")
@citizen_required(Act.REPORT_ANSWER)
@blp.arguments(AnswerCreate)
@blp.response(201, ReportRead)
@blp.doc(security=BEARER, **_REPORTER_KEY_DOC)
def answer(payload: dict[str, Any], case_number: str) -> Any:
    """Write to the officers of the case (answer their question)."""
    return own_cases.answer(db_session=ctx.db_session(), protector=ctx.protector(),
                            actor=ctx.actor(), account=current_account(),
                            case_number=case_number, reporter_key=_reporter_key(), **payload)


@blp.post("/<case_number>/evidence")
@citizen_required(Act.REPORT_ANSWER)
@account_limit("EVIDENCE_LIMIT_PER_ACCOUNT", scope="evidence:account")
@evidence_upload_limit
@blp.arguments(EvidenceUpload, location="files")
@blp.response(201, EvidenceRead)
@blp.doc(security=BEARER, **_REPORTER_KEY_DOC)
def add_evidence(files: dict[str, Any], case_number: str) -> Any:
    """Add a photo or video to the case (multipart, field `file`; `EVIDENCE_MAX_BYTES` at most).

    The type is read from the content (JPEG, PNG, WebP, MP4, QuickTime). The
    file is stored without its metadata (`metadata_removed` true): a photo
    without EXIF, XMP, IPTC, GPS, ICC or text, its picture untouched; a video
    with its metadata boxes blanked, its frames untouched. A file that does
    not parse as its type is `evidence.unreadable` (422). The SHA-256 digest
    of what is stored and the time of arrival are recorded. Per day at most
    `EVIDENCE_DAILY_FILES_PER_ACCOUNT` files and `EVIDENCE_DAILY_BYTES_PER_ACCOUNT`
    bytes (429 `quota.exhausted`).
    """
    subject = _quota_subject()
    consume_daily_quota(name="evidence-files", subject=subject,
                        config_name="EVIDENCE_DAILY_FILES_PER_ACCOUNT")
    consume_daily_quota(name="evidence-bytes", subject=subject,
                        config_name="EVIDENCE_DAILY_BYTES_PER_ACCOUNT",
                        cost=request.content_length or current_app.config["EVIDENCE_MAX_BYTES"])
    return evidence.add_evidence(db_session=ctx.db_session(), protector=ctx.protector(),
                                 actor=ctx.actor(),
                                 account=current_account(), store=_store(),
                                 case_number=case_number, stream=files["file"].stream,
                                 max_bytes=current_app.config["EVIDENCE_MAX_BYTES"],
                                 reporter_key=_reporter_key())


@blp.get("/<case_number>/evidence/<int:evidence_id>")
@citizen_required(Act.REPORT_READ)
@blp.doc(security=BEARER, responses=_FILE_DOC, **_REPORTER_KEY_DOC)
def my_evidence(case_number: str, evidence_id: int) -> Response:
    """An evidence file of the citizen's case, after checking it against its recorded digest."""
    record, data = evidence.my_evidence(db_session=ctx.db_session(), protector=ctx.protector(),
                                        actor=ctx.actor(),
                                        account=current_account(), store=_store(),
                                        case_number=case_number, evidence_id=evidence_id,
                                        reporter_key=_reporter_key())
    return _file_response(case_number, record, data)


# --- Police -----------------------------------------------------------------------------------

@police_blp.get("")
@officer_required
@lag_tolerant
@police_blp.arguments(QueueArgs, location="query")
@police_blp.response(200, QueuePage)
@police_blp.doc(security=BEARER)
def queue(args: dict[str, Any]) -> Any:
    """The jurisdiction's cases, newest first, by category, status, filing date, overdue."""
    found = police_queue.queue(db_session=read_session(), officer=current_officer(), **args)
    return page(found.items, found.total, args, total_exact=found.total_exact)


@police_blp.post("/indicators/lookup")
@officer_required
@police_blp.arguments(IndicatorLookup)
@police_blp.response(200, IndicatorLookupResult)
@police_blp.doc(security=BEARER)
def look_up_indicator(payload: dict[str, Any]) -> Any:
    """How many reports name a phone number or link, and the unit's cases that do."""
    kind, value, total, mine = indicators.look_up_indicator(db_session=ctx.db_session(),
                                                            officer=current_officer(), **payload)
    return {"kind": kind, "value": value, "reports": total, "in_your_unit": mine}


@police_blp.get("/<case_number>")
@officer_required
@police_blp.response(200, ReportOfficerRead)
@police_blp.doc(security=BEARER)
def read_report(case_number: str) -> Any:
    """A case of the jurisdiction with its history and message thread (the read is audited)."""
    return cases.read_report(db_session=ctx.db_session(), protector=ctx.protector(),
                             actor=ctx.actor(),
                             officer=current_officer(), case_number=case_number)


@police_blp.post("/<case_number>/assign")
@officer_required
@police_blp.arguments(AssignRequest)
@police_blp.response(200, ReportOfficerRead)
@police_blp.doc(security=BEARER)
def assign(payload: dict[str, Any], case_number: str) -> Any:
    """Take a case nobody holds, or (supervisors) give it to an officer of the unit.

    A case assigned to a colleague changes hands only by a supervisor
    (`report.already_assigned`, 403).
    """
    return cases.assign(db_session=ctx.db_session(), protector=ctx.protector(), actor=ctx.actor(),
                        officer=current_officer(),
                        case_number=case_number, username=payload["officer"],
                        version=payload["version"])


@police_blp.post("/<case_number>/questions")
@officer_required
@police_blp.arguments(QuestionCreate)
@police_blp.response(201, ReportOfficerRead)
@police_blp.doc(security=BEARER)
def ask(payload: dict[str, Any], case_number: str) -> Any:
    """Ask the reporter a question (they are notified; anonymity holds)."""
    return cases.ask(db_session=ctx.db_session(), protector=ctx.protector(), actor=ctx.actor(),
                     officer=current_officer(),
                     case_number=case_number, **payload)


@police_blp.post("/<case_number>/status")
@officer_required
@police_blp.arguments(StatusChange)
@police_blp.response(200, ReportOfficerRead)
@police_blp.doc(security=BEARER)
def change_status(payload: dict[str, Any], case_number: str) -> Any:
    """Move the case on; a move not allowed now is `workflow.transition_not_allowed` (409)."""
    return cases.change_status(db_session=ctx.db_session(), protector=ctx.protector(),
                               actor=ctx.actor(),
                               officer=current_officer(), deadlines=_deadlines(),
                               case_number=case_number, **payload)


@police_blp.post("/<case_number>/transfer")
@officer_required
@police_blp.arguments(TransferRequest)
@police_blp.response(200, ReportOfficerRead)
@police_blp.doc(security=BEARER)
def transfer(payload: dict[str, Any], case_number: str) -> Any:
    """Hand the case to another unit; this unit loses access to it at once."""
    return cases.transfer(db_session=ctx.db_session(), protector=ctx.protector(),
                          actor=ctx.actor(),
                          officer=current_officer(), deadlines=_deadlines(),
                          case_number=case_number, **payload)


@police_blp.get("/<case_number>/reporter")
@officer_required
@police_blp.response(200, ReporterRead)
@police_blp.doc(security=BEARER)
def reporter(case_number: str) -> Any:
    """Who filed a named report: the assigned officer and supervisors only; audited."""
    return cases.reporter_identity(db_session=ctx.db_session(), protector=ctx.protector(),
                                   actor=ctx.actor(),
                                   officer=current_officer(), case_number=case_number)


@police_blp.get("/<case_number>/evidence/<int:evidence_id>")
@officer_required
@police_blp.doc(security=BEARER, responses=_FILE_DOC)
def evidence_file(case_number: str, evidence_id: int) -> Response:
    """An evidence file, checked against its recorded digest (`evidence.tampered` if not)."""
    record, data = evidence.officer_evidence(db_session=ctx.db_session(),
                                             protector=ctx.protector(), actor=ctx.actor(),
                                             officer=current_officer(), store=_store(),
                                             case_number=case_number, evidence_id=evidence_id)
    return _file_response(case_number, record, data)
