"""Marshmallow schemas of incident reports: the citizen's form and views, the police's.

No schema of the police side has a field for the reporter: an officer's
answer cannot carry an anonymous reporter's identity because none of its
schemas can hold it (the named reporter has an endpoint and schema of its
own, :class:`ReporterRead`).
"""
from __future__ import annotations

import datetime as dt
import re
import unicodedata
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from identity import clock
from identity.errors import CodedMessage
from identity.schema_fields import BoundedAwareDateTime, BoundedDate, Page, PageArgs
from utilities.reports.models import CATEGORIES, STATUSES
from utilities.reports.indicators import MAX_INDICATORS, REPORTS_COUNT_CAP
from utilities.reports.rules import STATUS_ACTIONS

_VN = dt.timezone(dt.timedelta(hours=7))
# Control (Cc) and format (Cf) characters, separators Zl/Zp, surrogates, private use, unassigned.
_HIDDEN = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
_MULTILINE_ALLOWED = frozenset("\n\t")


class CleanText(fields.String):
    """NFC text with no control, zero-width or bidi characters (newlines and tabs if multi-line)."""

    def __init__(self, *, max_length: int, multiline: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.max_length = max_length
        self.multiline = multiline

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        text = unicodedata.normalize("NFC", text.replace("\r\n", "\n")).strip()
        allowed = _MULTILINE_ALLOWED if self.multiline else frozenset()
        if not text.isprintable() and any(unicodedata.category(ch) in _HIDDEN
                                          and ch not in allowed for ch in text):
            raise ValidationError(CodedMessage("The text contains control or invisible "
                                               "characters.", "text.control_characters"))
        if not text:
            raise ValidationError(CodedMessage("The text is empty.", "text.empty"))
        if len(text) > self.max_length:
            raise ValidationError(CodedMessage(
                f"The text is longer than {self.max_length} characters.", "text.too_long"))
        return text


def _pattern(regex: str, message: str, code: str) -> Any:
    compiled = re.compile(regex)

    def check(value: str) -> None:
        if not compiled.fullmatch(value):
            raise ValidationError(CodedMessage(message, code))
    return check


_COMMUNE = _pattern(r"[0-9]{5}", "A commune code has five digits.", "commune.unknown")
_PROVINCE = _pattern(r"[0-9]{2}", "A province code has two digits.", "province.unknown")
_VERSION = fields.Integer(load_default=None, validate=validate.Range(min=1), metadata={
    "description": "The case's `version` as last read: if it has changed since, the act is "
                   "refused with `workflow.case_changed` (409)"})


class Organisation(Schema):
    """An organisation the report is filed for."""

    name = CleanText(required=True, max_length=255, metadata={"example": "Công ty TNHH An Bình"})
    tax_code = fields.String(required=True, validate=_pattern(
        r"[0-9]{10}(-[0-9]{3})?", "A tax code has 10 digits, or 10-3 for a branch.",
        "organisation.tax_code"), metadata={"example": "0101234567"})


class ReportCreate(Schema):
    """A report as the citizen files it."""

    category = fields.String(required=True, validate=validate.OneOf(CATEGORIES))
    description = CleanText(required=True, max_length=5000, multiline=True)
    location_unknown = fields.Boolean(load_default=False, metadata={
        "description": "True when the citizen does not know where it happened (an online "
                       "scam): the case goes to the province-level queue of their residence"})
    commune_code = fields.String(load_default=None, validate=_COMMUNE,
                                 metadata={"example": "00070"})
    address = CleanText(load_default=None, max_length=255)
    occurred_at = BoundedAwareDateTime(required=True, default_timezone=_VN, metadata={
        "description": "When it happened; without an offset, Vietnam time (UTC+7)"})
    anonymous = fields.Boolean(load_default=False, metadata={
        "description": "No officer will ever see who filed it; the citizen still follows "
                       "the case and answers questions"})
    scam_phones = fields.List(fields.String(validate=validate.Length(max=32)), load_default=list,
                              validate=validate.Length(max=MAX_INDICATORS),
                              metadata={"example": ["0912 345 678"]})
    scam_links = fields.List(CleanText(max_length=500), load_default=list,
                             validate=validate.Length(max=MAX_INDICATORS),
                             metadata={"example": ["https://Vay-Nhanh.example/"]})
    organisation = fields.Nested(Organisation, load_default=None)


class AnswerCreate(Schema):
    """The reporter's message to the officers of the case."""

    text = CleanText(required=True, max_length=2000, multiline=True)


class EvidenceRead(Schema):
    """An evidence file as recorded when it arrived."""

    id = fields.Integer()
    sha256 = fields.String(metadata={"description": "SHA-256 of the content, hex"})
    size = fields.Integer()
    content_type = fields.String(metadata={"example": "image/jpeg"})
    received_at = fields.DateTime()
    metadata_removed = fields.Boolean(allow_none=True, metadata={
        "description": "True: the file was stored without its metadata (a photo's EXIF, "
                       "XMP, IPTC, GPS, ICC, text; a video's metadata boxes), and `sha256` is "
                       "of what was stored; null: stored before metadata was removed"})


class IndicatorRead(Schema):
    """A scam phone number or link named by the case, and how many reports name it."""

    kind = fields.String(metadata={"example": "phone"})
    value = fields.String(metadata={"example": "+84912345678"})
    reports = fields.Integer(metadata={
        "description": f"Reports nationwide naming it, counted up to {REPORTS_COUNT_CAP}"})
    reports_exact = fields.Boolean(metadata={
        "description": f"False when more than {REPORTS_COUNT_CAP} reports name it (the "
                       "officers' look-up gives the exact count)"})


class CitizenEventRead(Schema):
    """A line of the case's timeline: a status change, a question, an answer."""

    at = fields.DateTime(attribute="occurred_at")
    action = fields.String(metadata={"example": "ask"})
    from_status = fields.String(attribute="from_state", allow_none=True)
    status = fields.String(attribute="to_state")
    by = fields.String(allow_none=True, metadata={
        "description": "The police unit; empty for the reporter's own acts"})
    text = fields.String(attribute="note", allow_none=True)


class OfficerEventRead(CitizenEventRead):
    """A history row as officers see it: with the officer who acted (never the reporter)."""

    officer = fields.Function(lambda event: (event.details or {}).get("officer"),
                              allow_none=True)


def _organisation(report: Any) -> dict[str, str] | None:
    if report.organisation_tax_code is None:
        return None
    return {"name": report.organisation_name, "tax_code": report.organisation_tax_code}


class _ReportFields(Schema):
    case_number = fields.String(attribute="report.case_number",
                                metadata={"example": "TG-2026-7KQ2M9XD"})
    category = fields.String(attribute="report.category")
    description = fields.String(attribute="report.description")
    status = fields.String(attribute="report.status")
    location_known = fields.Boolean(attribute="report.location_known")
    province_code = fields.String(attribute="report.province_code")
    commune_code = fields.String(attribute="report.commune_code", allow_none=True)
    address = fields.String(attribute="report.address", allow_none=True)
    occurred_at = fields.DateTime(attribute="report.occurred_at")
    anonymous = fields.Boolean(attribute="report.anonymous")
    organisation = fields.Function(lambda view: _organisation(view.report), allow_none=True)
    resolution = fields.String(attribute="report.resolution", allow_none=True, metadata={
        "description": "The outcome of a closed case, or the reason it was rejected"})
    created_at = fields.DateTime(attribute="report.created_at")
    evidence = fields.List(fields.Nested(EvidenceRead), attribute="report.evidence")
    indicators = fields.List(fields.Nested(IndicatorRead))


def _awaiting_answer(view: Any) -> bool:
    """Whether the officers' last question has no answer after it (what the app polls for)."""
    for event in reversed(view.history):
        if event.action in ("ask", "answer"):
            return bool(event.action == "ask")
    return False


class ReportRead(_ReportFields):
    """The citizen's own case and its timeline."""

    timeline = fields.List(fields.Nested(CitizenEventRead), attribute="history")
    awaiting_answer = fields.Function(_awaiting_answer, metadata={
        "type": "boolean", "description": "The officers asked a question not yet answered"})
    reporter_key = fields.String(allow_none=True, metadata={
        "description": "Only in the answer to an anonymous filing: the key that reaches the "
                       "case again (header `X-Reporter-Key`). Shown once and kept by no one "
                       "but the app: without it nothing links the case to the account"})


class ReportSummary(Schema):
    """One of the citizen's own cases."""

    case_number = fields.String()
    category = fields.String()
    status = fields.String()
    anonymous = fields.Boolean()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class ReportSummaryPage(Page):
    """The citizen's reports, newest first."""

    items = fields.List(fields.Nested(ReportSummary))


# --- Police -----------------------------------------------------------------------------------

class QueueArgs(PageArgs):
    """Filters of the queue."""

    category = fields.String(load_default=None, validate=validate.OneOf(CATEGORIES))
    status = fields.String(load_default=None, validate=validate.OneOf(STATUSES))
    filed_from = BoundedDate(load_default=None, metadata={"description": "Vietnam date"})
    filed_to = BoundedDate(load_default=None, metadata={"description": "Vietnam date, inclusive"})
    overdue = fields.Boolean(load_default=None)

    @validates_schema
    def _period(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data.get("filed_from") and data.get("filed_to") and \
                data["filed_to"] < data["filed_from"]:
            raise ValidationError(CodedMessage("The period ends before it starts.",
                                               "queue.period_invalid"), "filed_to")


def _overdue(report: Any) -> bool:
    return report.due_at is not None and report.due_at < clock.now()


class QueueItem(Schema):
    """A case in the queue: what, where, when, where it stands. Nothing about the reporter."""

    case_number = fields.String()
    category = fields.String()
    status = fields.String()
    province_code = fields.String()
    commune_code = fields.String(allow_none=True)
    location_known = fields.Boolean()
    occurred_at = fields.DateTime()
    created_at = fields.DateTime()
    due_at = fields.DateTime(allow_none=True)
    overdue = fields.Function(_overdue, metadata={"type": "boolean"})
    anonymous = fields.Boolean()
    assigned = fields.Function(lambda report: report.assigned_officer_id is not None,
                               metadata={"type": "boolean"})
    version = fields.Integer()


class QueuePage(Page):
    """A page of the queue, newest first; ``total`` stops counting at 1,000."""

    items = fields.List(fields.Nested(QueueItem))
    total_exact = fields.Boolean(metadata={
        "description": "False when more than 1,000 cases match (total then says 1000)"})


class ReportOfficerRead(_ReportFields):
    """A case as the police see it: its history, indicators' counts, assignee, next acts."""

    version = fields.Integer(attribute="report.version")
    due_at = fields.DateTime(attribute="report.due_at", allow_none=True)
    overdue = fields.Function(lambda view: _overdue(view.report), metadata={"type": "boolean"})
    assigned_to = fields.String(allow_none=True)
    allowed_acts = fields.List(fields.String())
    history = fields.List(fields.Nested(OfficerEventRead))


class AssignRequest(Schema):
    """Take the case (no ``officer``), or give it to an officer of the unit (supervisors)."""

    officer = fields.String(load_default=None, validate=validate.Length(min=1, max=64))
    version = _VERSION


class QuestionCreate(Schema):
    """A question for the reporter."""

    text = CleanText(required=True, max_length=2000, multiline=True)
    version = _VERSION


class StatusChange(Schema):
    """A move of the case: verify, investigate, close (with outcome), reject (with reason)."""

    action = fields.String(required=True, validate=validate.OneOf(STATUS_ACTIONS))
    outcome = CleanText(load_default=None, max_length=2000, multiline=True)
    reason = CleanText(load_default=None, max_length=2000, multiline=True)
    version = _VERSION


class TransferRequest(Schema):
    """The unit the case goes to: a commune (its province follows) or a province's own queue."""

    province_code = fields.String(load_default=None, validate=_PROVINCE)
    commune_code = fields.String(load_default=None, validate=_COMMUNE)
    reason = CleanText(required=True, max_length=1000, multiline=True)
    version = _VERSION


class ReporterRead(Schema):
    """Who filed a named report (assigned officer and supervisors only; each view audited)."""

    full_name = fields.String()
    personal_id = fields.String()
    date_of_birth = fields.Date()
    address = fields.String()
    phone = fields.String(allow_none=True)


class IndicatorLookup(Schema):
    """A phone number or a link to look up (in the body: no phone number in a URL)."""

    phone = fields.String(load_default=None, validate=validate.Length(min=1, max=32))
    link = CleanText(load_default=None, max_length=500)


class IndicatorLookupResult(Schema):
    """How many reports name it nationwide, and those in the officer's own queue."""

    kind = fields.String()
    value = fields.String()
    reports = fields.Integer()
    in_your_unit = fields.List(fields.Nested(QueueItem))
