"""Request and response bodies of the relying parties' API and of the citizen's side."""
from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate

from identity.registry.schemas import PersonalIdField
from identity.schema_fields import BoundedDate, NameField, Page, PageArgs, PhoneField
from identity.relying_parties.consents import ATTRIBUTES

_ID: dict[str, Any] = {"type": "string", "pattern": "^[0-9]{12}$", "example": "001090012345"}
_INVISIBLE = r"\x00-\x1f\x7f\u200b-\u200f\u202a-\u202e\u2066-\u2069"
_PURPOSE = validate.And(validate.Length(min=3, max=500),
                        validate.Regexp(f"^[^{_INVISIBLE}]*$",
                                        error="The purpose may not hold control or "
                                              "invisible characters."))


class IdentityMatchRequest(Schema):
    """What the party holds about its customer."""

    personal_id = PersonalIdField(required=True, metadata=_ID)
    full_name = NameField(required=True, metadata={"example": "Nguyễn Văn An"})
    date_of_birth = BoundedDate(required=True)
    phone = PhoneField(load_default=None, metadata={"example": "0912345678"})


class FieldsMatched(Schema):
    """For each field the party sent: whether it agrees with the registry."""

    full_name = fields.Boolean(required=True)
    date_of_birth = fields.Boolean(required=True)
    phone = fields.Boolean()


class IdentityMatchRead(Schema):
    """``match`` when every field sent agrees; nothing else is disclosed."""

    match = fields.Boolean(required=True)
    matched = fields.Nested(FieldsMatched, required=True, data_key="fields", attribute="fields")


class SimOwnershipRequest(Schema):
    """A subscriber as the telco holds it."""

    personal_id = PersonalIdField(required=True, metadata=_ID)
    phone = PhoneField(required=True, metadata={"example": "0912345678"})


class SimOwnershipRead(Schema):
    """Whether the phone is the citizen's in the registry's subscriber record (never typed)."""

    match = fields.Boolean(required=True)


class ConsentRequestCreate(Schema):
    """A request for some of a citizen's attributes, for a purpose shown to them."""

    personal_id = PersonalIdField(required=True, metadata=_ID)
    attributes = fields.List(fields.String(validate=validate.OneOf(list(ATTRIBUTES))),
                             required=True, validate=validate.Length(min=1, max=len(ATTRIBUTES)),
                             metadata={"example": ["full_name", "date_of_birth"]})
    purpose = fields.String(required=True, validate=_PURPOSE,
                            metadata={"example": "Mở tài khoản thanh toán (eKYC)"})
    callback = fields.Boolean(load_default=False, metadata={
        "description": "Notify the party's registered callback URL of the decision"})


class ConsentRequestRead(Schema):
    """A consent request as the party sees it; ``credential`` once, when approved."""

    id = fields.String(required=True)
    status = fields.String(required=True, metadata={
        "description": "pending, approved, refused or expired"})
    attributes = fields.List(fields.String(), required=True)
    purpose = fields.String(required=True)
    created_at = fields.DateTime(required=True)
    expires_at = fields.DateTime(required=True)
    decided_at = fields.DateTime(allow_none=True)
    credential = fields.String(allow_none=True, metadata={
        "description": "A VN1 credential of type `consent`, audience `rp:<client_id>`, "
                       "holding the approved attributes: given once"})
    credential_expires_at = fields.DateTime(allow_none=True)


class CitizenConsentRead(Schema):
    """A consent request as the citizen sees it: who asks, for what, why."""

    id = fields.String(required=True)
    party = fields.String(required=True)
    party_kind = fields.String(required=True)
    attributes = fields.List(fields.String(), required=True)
    purpose = fields.String(required=True)
    status = fields.String(required=True)
    created_at = fields.DateTime(required=True)
    expires_at = fields.DateTime(required=True)
    decided_at = fields.DateTime(allow_none=True)
    callback = fields.Boolean(required=True)


class CitizenConsentPage(Page):
    """The citizen's consent requests, newest first."""

    items = fields.List(fields.Nested(CitizenConsentRead))


class ConsentArgs(PageArgs):
    """Pagination, and optionally one status."""

    status = fields.String(load_default=None, validate=validate.OneOf(
        ["pending", "approved", "refused", "expired"]))


class ConsentDecision(Schema):
    """The citizen's answer, confirmed with the passcode."""

    approve = fields.Boolean(required=True)
    passcode = fields.String(required=True, validate=validate.Length(max=64))


class DataShareRead(Schema):
    """One delivery of the citizen's data."""

    id = fields.Integer(required=True)
    party = fields.Function(lambda share: share.party.name, required=True)
    party_kind = fields.Function(lambda share: share.party.kind, required=True)
    attributes = fields.Function(lambda share: share.attributes.split(), required=True)
    purpose = fields.String(required=True)
    consent_id = fields.String(allow_none=True)
    shared_at = fields.DateTime(required=True)
    erasure_requested_at = fields.DateTime(allow_none=True)
    erasure_acknowledged_at = fields.DateTime(allow_none=True)


class DataSharePage(Page):
    """The citizen's data shares, newest first."""

    items = fields.List(fields.Nested(DataShareRead))


class ErasureRequestRead(Schema):
    """A citizen's request that the party delete data it received (no personal data)."""

    id = fields.Integer(required=True)
    consent_id = fields.String(allow_none=True)
    attributes = fields.Function(lambda share: share.attributes.split(), required=True)
    shared_at = fields.DateTime(required=True)
    erasure_requested_at = fields.DateTime(required=True)
    erasure_acknowledged_at = fields.DateTime(allow_none=True)


class ErasureArgs(PageArgs):
    """Pagination; the pending requests only unless ``all``."""

    all = fields.Boolean(load_default=False)


class ErasureRequestPage(Page):
    """The party's erasure requests, oldest first."""

    items = fields.List(fields.Nested(ErasureRequestRead))
