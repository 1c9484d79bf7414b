"""Marshmallow schemas of temporary absences (tạm vắng): the citizen's and the police's."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from identity import clock
from identity.schema_fields import BoundedDate, Page
from utilities.residence.absences import ABSENCE_ACTIONS, ABSENCE_FLOW, ABSENCE_POLICE_STATES
from utilities.residence.schemas import (TEXT, HistoryEntry, PersonRead, QueuedCase,
                                         version_field)


# --- The citizen ----------------------------------------------------------------------------------

class AbsenceCreate(Schema):
    """A temporary absence declaration (from the permanent residence)."""

    start_date = BoundedDate(required=True)
    end_date = BoundedDate(required=True)
    reason = fields.String(required=True, validate=TEXT, metadata={"example": "Đi học"})
    destination = fields.String(required=True, validate=TEXT,
                                metadata={"example": "Thành phố Hồ Chí Minh"})


class AbsenceRead(Schema):
    """An absence declaration."""

    id = fields.Integer()
    status = fields.String(metadata={"example": "declared"})
    version = fields.Integer()
    province_code = fields.String()
    commune_code = fields.String()
    start_date = fields.Date()
    end_date = fields.Date()
    reason = fields.String()
    destination = fields.String()
    created_at = fields.DateTime()
    decide_by = fields.DateTime()
    acknowledged_at = fields.DateTime(allow_none=True)
    allowed_actions = fields.Function(lambda absence: ABSENCE_FLOW.allowed(absence.status,
                                                                           "citizen"))


class AbsenceDetail(AbsenceRead):
    """An absence with its history."""

    history = fields.List(fields.Nested(HistoryEntry))


class AbsencePage(Page):
    """The citizen's absence declarations, newest first."""

    items = fields.List(fields.Nested(AbsenceRead))


# --- The police -----------------------------------------------------------------------------------

class AbsenceQueueItem(QueuedCase):
    """An absence in the police queue: no personal data."""

    decide_by = fields.DateTime()
    overdue = fields.Function(lambda absence: absence.status in ABSENCE_POLICE_STATES
                              and absence.decide_by < clock.now())


class AbsenceQueuePage(Page):
    """A page of the absences queue, by deadline."""

    items = fields.List(fields.Nested(AbsenceQueueItem))


class OfficerAbsenceRead(AbsenceQueueItem):
    """An absence with its citizen and history (the read is in their access log)."""

    province_code = fields.String()
    reason = fields.String()
    destination = fields.String()
    acknowledged_at = fields.DateTime(allow_none=True)
    citizen = fields.Nested(PersonRead)
    allowed_actions = fields.Function(lambda absence: ABSENCE_FLOW.allowed(absence.status,
                                                                           "officer"))
    history = fields.List(fields.Nested(HistoryEntry))


class AbsenceAction(Schema):
    """An officer's act on an absence."""

    action = fields.String(required=True, validate=validate.OneOf(ABSENCE_ACTIONS))
    reason = fields.String(load_default=None, validate=TEXT)
    version = version_field()
