"""Marshmallow schemas of the coordination API."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from identity.schema_fields import Page
from identity.coordination.models import RESOLUTIONS
from identity.credentials.schemas import _NONCE, _TOKEN

MAX_BATCH = 1_000


class RecordBatch(Schema):
    """A batch of a source's records: each an object of the kind's fields (text values)."""

    records = fields.List(fields.Dict(keys=fields.String(), values=fields.Raw()), required=True,
                          validate=validate.Length(min=1),
                          metadata={"description": f"1 to {MAX_BATCH:,} records; more is "
                                                   "422 `records.batch_too_large`.",
                                    "example": [{"record_id": "GPLX-000001",
                                                 "personal_id": "001090012345",
                                                 "full_name": "Nguyễn Văn An",
                                                 "date_of_birth": "1990-05-12",
                                                 "gender": "M",
                                                 "document_number": "790000000001",
                                                 "licence_class": "B2",
                                                 "valid_until": "2034-05-12"}]})


class RejectedRead(Schema):
    position = fields.Integer(required=True, metadata={"description": "index in `records`"})
    record_id = fields.String(allow_none=True)
    code = fields.String(required=True)
    field = fields.String(allow_none=True)
    message = fields.String(required=True)


class DeliveryRead(Schema):
    """What the batch did. ``unchanged``: identical re-deliveries, which change nothing.

    Never how the records linked to the registry (that would make delivery an
    identity-match oracle): operators see it in the review queue.
    """

    received = fields.Integer(required=True)
    written = fields.Integer(required=True)
    unchanged = fields.Integer(required=True)
    rejected = fields.List(fields.Nested(RejectedRead), required=True)


class MismatchArgs(Schema):
    source = fields.String(validate=validate.Length(max=64))
    reason = fields.String(validate=validate.OneOf(("data_mismatch", "unknown_id")))
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100_000))
    per_page = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))


class ReviewRead(Schema):
    """A record under review: the disagreeing values of both sides (never the personal id)."""

    id = fields.Integer(required=True)
    source = fields.String(required=True)
    kind = fields.String(required=True)
    record_id = fields.String(required=True)
    reason = fields.String(required=True, metadata={"description": "data_mismatch or "
                                                                   "unknown_id"})
    fields_ = fields.List(fields.String(), data_key="fields", attribute="fields", required=True)
    source_values = fields.Dict(required=True)
    registry_values = fields.Dict(allow_none=True, required=True)
    received_at = fields.DateTime(required=True)
    resolution = fields.String(allow_none=True)
    resolved_at = fields.DateTime(allow_none=True)


class ReviewPage(Page):
    items = fields.List(fields.Nested(ReviewRead), required=True)


class Resolve(Schema):
    resolution = fields.String(required=True, validate=validate.OneOf(RESOLUTIONS),
                               metadata={"description": "registry_right, source_right (forward "
                                                        "to the registry's officers) or "
                                                        "not_this_citizen"})
    note = fields.String(load_default=None, validate=validate.Length(max=500))


class CorrectionRead(Schema):
    id = fields.Integer(required=True)
    personal_id = fields.String(required=True)
    source = fields.String(required=True)
    kind = fields.String(required=True)
    fields_ = fields.List(fields.String(), data_key="fields", attribute="fields", required=True)
    source_values = fields.Dict(required=True)
    registry_values = fields.Dict(required=True)
    forwarded_at = fields.DateTime(required=True)


class CorrectionPage(Page):
    items = fields.List(fields.Nested(CorrectionRead), required=True)


class CellRead(Schema):
    count = fields.Integer(allow_none=True, required=True)
    suppressed = fields.Boolean(required=True)


class ProvinceCellRead(CellRead):
    province_code = fields.String(required=True)
    age_band = fields.String(required=True)
    sex = fields.String(required=True)


class SourceCellRead(CellRead):
    source = fields.String(required=True)
    kind = fields.String(required=True)


class AggregatesRead(Schema):
    """Counts only; a count below ``min_count`` is null with ``suppressed: true``."""

    min_count = fields.Integer(required=True)
    as_of = fields.String(required=True)
    by_province_age_sex = fields.List(fields.Nested(ProvinceCellRead), required=True)
    by_source = fields.List(fields.Nested(SourceCellRead), required=True)


class SimReportArgs(Schema):
    operator = fields.String(validate=validate.Length(max=64),
                             metadata={"description": "one of the party's telecom sources "
                                                      "(default: its first)"})
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=1_000_000))
    per_page = fields.Integer(load_default=500, validate=validate.Range(min=1, max=1000))


class JunkSimRead(Schema):
    record_id = fields.String(required=True)
    phone = fields.String(required=True)
    reasons = fields.List(fields.String(), required=True,
                          metadata={"description": "unknown_id, data_mismatch, over_limit"})
    subscriptions_of_id = fields.Integer(required=True)
    mismatch_fields = fields.List(fields.String(), required=True)


class SimReportPage(Page):
    operator = fields.String(required=True)
    max_per_id = fields.Integer(required=True)
    items = fields.List(fields.Nested(JunkSimRead), required=True)


class DocumentRead(Schema):
    """One document of the wallet, with its own fields (number, class, plate...)."""

    id = fields.Integer(required=True)
    type = fields.String(required=True)
    label = fields.String(required=True)
    source = fields.String(required=True)
    status = fields.String(required=True, metadata={"description": "valid, revoked, "
                                                                   "suspended or expired"})
    valid_from = fields.Date(allow_none=True)
    valid_until = fields.Date(allow_none=True)
    fields_ = fields.Dict(data_key="fields", attribute="fields", required=True)


class DocumentList(Schema):
    items = fields.List(fields.Nested(DocumentRead), required=True)


class DocumentCredentialCreate(Schema):
    """Show a document as a VN1 credential, confirmed with the passcode."""

    passcode = fields.String(required=True, validate=validate.Length(max=64))
    audience = fields.String(load_default=None, validate=_TOKEN)
    nonce = fields.String(load_default=None, validate=_NONCE)


class DailyCountRead(Schema):
    source = fields.String(required=True)
    day = fields.Date(required=True)
    received = fields.Integer(required=True)
    linked = fields.Integer(required=True)
    mismatched = fields.Integer(required=True)
    unknown_id = fields.Integer(required=True)
    rejected = fields.Integer(required=True)


class DailyCountList(Schema):
    items = fields.List(fields.Nested(DailyCountRead), required=True)
