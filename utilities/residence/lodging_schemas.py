"""Marshmallow schemas of lodging notices (thông báo lưu trú): the notifier's and the police's.

The answer to a notice is the same whatever the registry knows of its guests
(see :mod:`utilities.residence.lodging`).
"""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from identity.registry.schemas import PersonalIdField
from identity.schema_fields import BoundedDate, Page, PageArgs
from utilities.residence.lodging import MAX_GUESTS, REVIEW_OUTCOMES
from utilities.residence.models import REVIEW_STATES
from utilities.residence.schemas import COMMUNE, PERSONAL_ID, TEXT


# --- The notifier ---------------------------------------------------------------------------------

class GuestCreate(Schema):
    """A guest: personal id, arrival and (planned) departure; name and birth date as on the card.

    Every well-formed guest is accepted. One the registry does not confirm
    (unknown id, or another name or date of birth) waits for the police's
    review; the answer does not say which.
    """

    personal_id = PersonalIdField(required=True, metadata=PERSONAL_ID)
    arrival = BoundedDate(required=True)
    departure = BoundedDate(required=True)
    full_name = fields.String(load_default=None, validate=validate.Length(max=100), metadata={
        "example": "Nguyễn Văn An", "description": "As printed on the guest's ID card; "
                                                   "compared with the registry"})
    date_of_birth = BoundedDate(load_default=None, metadata={
        "description": "As printed on the guest's ID card; compared with the registry"})


class LodgingCreate(Schema):
    """A lodging notice for one address."""

    commune_code = fields.String(**COMMUNE)
    address = fields.String(required=True, validate=TEXT)
    guests = fields.List(fields.Nested(GuestCreate), required=True,
                         validate=validate.Length(min=1, max=MAX_GUESTS))


class LodgingCreated(Schema):
    """A recorded lodging notice: the same for every notice, whatever the registry knows."""

    id = fields.Integer()
    commune_code = fields.String()
    address = fields.String()
    guest_count = fields.Function(lambda notice: len(notice.guests))
    created_at = fields.DateTime()


# --- The police -----------------------------------------------------------------------------------

class LodgingArgs(PageArgs):
    """Filters of the lodging list, one page."""

    on = BoundedDate(load_default=None, metadata={"description": "Guests staying on this day"})
    commune_code = fields.String(load_default=None, validate=validate.Length(max=5))
    review = fields.String(load_default=None, validate=validate.OneOf(REVIEW_STATES), metadata={
        "description": "Only the guests in this review state (`pending`: those the registry "
                       "did not confirm, waiting for the police)"})


class GuestStayRead(Schema):
    """A guest staying at an address (registry data when it knows the id, else as declared)."""

    guest_id = fields.Integer()
    notice_id = fields.Integer()
    personal_id = fields.String()
    full_name = fields.String(allow_none=True)
    date_of_birth = fields.Date(allow_none=True)
    in_registry = fields.Boolean()
    review_state = fields.String(allow_none=True, metadata={
        "description": "`pending`, `cleared`, `flagged`; none when the registry confirmed the "
                       "guest"})
    review_reason = fields.String(allow_none=True, metadata={
        "description": "`unknown_id` or `mismatch` (name or date of birth)"})
    declared_name = fields.String(allow_none=True)
    declared_birth_date = fields.Date(allow_none=True)
    commune_code = fields.String()
    address = fields.String()
    arrival = fields.Date()
    departure = fields.Date()
    notified_by = fields.String(metadata={"example": "citizen"})


class GuestReview(Schema):
    """An officer's review of a guest the registry did not confirm."""

    outcome = fields.String(required=True, validate=validate.OneOf(REVIEW_OUTCOMES),
                            metadata={"description": "`cleared` (a clerical error) or "
                                                     "`flagged` (followed up)"})
    reason = fields.String(load_default=None, validate=TEXT)


class GuestStayPage(Page):
    """Who stays where, newest arrivals first (each guest shown is in their access log)."""

    items = fields.List(fields.Nested(GuestStayRead))
