"""Marshmallow schemas of temporary stays (tạm trú): the declarant's, the host's, the police's.

Every dump of a stay for its declarant goes through
:func:`utilities.residence.stay_view.declarant_view` (see :class:`StayRead`).
"""
from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, pre_dump, validate

from identity import clock
from identity.registry.schemas import PersonalIdField
from identity.schema_fields import BoundedDate, Page
from utilities.residence import stay_view
from utilities.residence.schemas import (COMMUNE, PERSONAL_ID, TEXT, HistoryEntry, PersonRead,
                                         QueuedCase, commune_name_of, version_field)
from utilities.residence.stays import STAY_ACTIONS, STAY_FLOW, STAY_POLICE_STATES


# --- The declarant --------------------------------------------------------------------------------

class StayCreate(Schema):
    """A temporary stay declaration."""

    commune_code = fields.String(**COMMUNE)
    address = fields.String(required=True, validate=TEXT,
                            metadata={"example": "Số 12, ngõ 5, phố Huế"})
    start_date = BoundedDate(required=True)
    end_date = BoundedDate(required=True, metadata={"description": "At most 2 years after the "
                                                                   "start (renewable)"})
    reason = fields.String(required=True, validate=TEXT, metadata={"example": "Đi làm"})
    host_personal_id = PersonalIdField(required=True, metadata={
        **PERSONAL_ID, "description": "The owner or host of the place (the declarant's own id "
                                      "when they own it)"})


class StayRenew(Schema):
    """Renew an approved stay until a new end date."""

    end_date = BoundedDate(required=True)


class StayRead(Schema):
    """A temporary stay as its declarant sees it: the same whoever the named host is.

    Dumped through :func:`utilities.residence.stay_view.declarant_view`: while
    the stay waits for its host (in the app or before the commune police) it is
    ``awaiting_host`` with ``host_check`` ``host`` and no deadline, so the
    answer does not tell whether the host has an active account (or exists).
    """

    id = fields.Integer()
    status = fields.String(metadata={
        "example": "submitted",
        "description": "`awaiting_host` (waiting for the host's confirmation, in the app or "
                       "before the commune police), `submitted` (with the police), "
                       "`approved`, `rejected`, `refused_by_host`, `withdrawn`"})
    version = fields.Integer()
    province_code = fields.String()
    commune_code = fields.String()
    commune_name = fields.Function(commune_name_of)
    address = fields.String()
    start_date = fields.Date()
    end_date = fields.Date()
    reason = fields.String()
    host_check = fields.String(metadata={
        "description": "`host` (the host confirms, in the app or before the commune police), "
                       "`self` (the declarant owns the place)"})
    previous_id = fields.Integer(allow_none=True, metadata={"description": "The stay renewed"})
    created_at = fields.DateTime()
    submitted_at = fields.DateTime(allow_none=True, metadata={
        "description": "When the host was confirmed (at once for the declarant's own place)"})
    decide_by = fields.DateTime(allow_none=True, metadata={
        "description": "The police's deadline, once the host is confirmed"})
    decided_at = fields.DateTime(allow_none=True)
    decision_reason = fields.String(allow_none=True)
    in_force = fields.Function(lambda stay: stay.status == "approved" and
                               stay.start_date <= clock.today() <= stay.end_date)
    allowed_actions = fields.Function(lambda stay: STAY_FLOW.allowed(stay.status, "citizen"))

    @pre_dump
    def _as_declarant_sees_it(self, stay: Any, **_kwargs: Any) -> Any:
        """Every dump of a stay for its declarant goes through the one projection."""
        return stay_view.declarant_view(stay)


class StayDetail(StayRead):
    """A stay with its history."""

    history = fields.List(fields.Nested(HistoryEntry))


class StayPage(Page):
    """The citizen's stays, newest first."""

    items = fields.List(fields.Nested(StayRead))


# --- The host -------------------------------------------------------------------------------------

class HostConfirmationRead(Schema):
    """A stay that names the caller as host."""

    id = fields.Integer()
    status = fields.String()
    declarant_name = fields.Function(lambda stay: stay.citizen.full_name)
    commune_code = fields.String()
    commune_name = fields.Function(commune_name_of)
    address = fields.String()
    start_date = fields.Date()
    end_date = fields.Date()
    reason = fields.String()
    created_at = fields.DateTime()


class HostConfirmationPage(Page):
    """Stays waiting for the caller's answer as host, oldest first."""

    items = fields.List(fields.Nested(HostConfirmationRead))


class HostAnswer(Schema):
    """The host's answer, confirmed with their passcode."""

    decision = fields.String(required=True, validate=validate.OneOf(["confirm", "refuse"]))
    passcode = fields.String(required=True, validate=validate.Length(max=64))
    reason = fields.String(load_default=None, validate=TEXT)


class HostAnswered(Schema):
    """The stay after the host's answer."""

    id = fields.Integer()
    status = fields.String()


# --- The police -----------------------------------------------------------------------------------

class StayQueueItem(QueuedCase):
    """A stay in the police queue: no personal data (opening it is the audited read)."""

    host_check = fields.String()
    submitted_at = fields.DateTime(allow_none=True)
    decide_by = fields.DateTime(allow_none=True)
    overdue = fields.Function(lambda stay: stay.decide_by is not None and
                              stay.status in STAY_POLICE_STATES and
                              stay.decide_by < clock.now())


class StayQueuePage(Page):
    """A page of the stays queue, by deadline."""

    items = fields.List(fields.Nested(StayQueueItem))


class OfficerStayRead(StayQueueItem):
    """A stay with its declarant, host and history (the read is in their access logs)."""

    province_code = fields.String()
    address = fields.String()
    reason = fields.String()
    previous_id = fields.Integer(allow_none=True)
    decided_at = fields.DateTime(allow_none=True)
    decision_reason = fields.String(allow_none=True)
    declarant = fields.Nested(PersonRead, attribute="citizen")
    host = fields.Nested(PersonRead, allow_none=True, metadata={
        "description": "None when the registry has no citizen of the id the declarant gave"})
    host_personal_id = fields.String(allow_none=True, metadata={
        "description": "The host's id as declared, when the registry does not know it (the "
                       "in-person check)"})
    allowed_actions = fields.Function(lambda stay: STAY_FLOW.allowed(stay.status, "officer"))
    history = fields.List(fields.Nested(HistoryEntry))


class StayAction(Schema):
    """An officer's act on a stay."""

    action = fields.String(required=True, validate=validate.OneOf(STAY_ACTIONS))
    reason = fields.String(load_default=None, validate=TEXT, metadata={
        "description": "Required to reject"})
    version = version_field()
