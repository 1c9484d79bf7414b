"""Marshmallow schemas of residence declarations.

Over 400 lines until issue 17 ("A house to live in") splits it into use-case modules along
its sections; it was kept whole here so that the identity-assurance changes stayed
reviewable in place.

Personal ids (the host's, the guests') travel in bodies only. Free text is
checked by the service (control characters, length), which names the field.
"""
from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, pre_dump, validate

from identity import clock
from identity.accounts.schemas import Page
from identity.registry import admin_units
from identity.registry.schemas import PersonalIdField
from identity.schema_fields import BoundedDate
from utilities.residence import lodging, service, stay_view
from utilities.residence.models import REVIEW_STATES

_ID: dict[str, Any] = {"type": "string", "pattern": "^[0-9]{12}$", "example": "001090012345"}
_COMMUNE: dict[str, Any] = {"required": True, "validate": validate.Length(max=5),
                            "metadata": {"example": "00070"}}
#: Generous bounds for the schema; the service applies the exact ones, naming the field.
_TEXT = validate.Length(max=2000)


def _version() -> fields.Integer:
    return fields.Integer(load_default=None, validate=validate.Range(min=1), metadata={
        "description": "The case version the caller saw; a case changed since is a 409 "
                       "`workflow.case_changed`"})


def _commune_name(obj: Any) -> str | None:
    commune = admin_units.communes().get(obj.commune_code)
    return commune.name if commune else None


class HistoryEntry(Schema):
    """One step of a case's history."""

    action = fields.String(metadata={"example": "approve"})
    from_state = fields.String(allow_none=True)
    to_state = fields.String()
    role = fields.String(metadata={"example": "officer"})
    by = fields.String(allow_none=True, metadata={"example": "Công an Thành phố Hà Nội"})
    note = fields.String(allow_none=True)
    occurred_at = fields.DateTime()


# --- Temporary stays ------------------------------------------------------------------------------

class StayCreate(Schema):
    """A temporary stay declaration."""

    commune_code = fields.String(**_COMMUNE)
    address = fields.String(required=True, validate=_TEXT,
                            metadata={"example": "Số 12, ngõ 5, phố Huế"})
    start_date = BoundedDate(required=True)
    end_date = BoundedDate(required=True, metadata={"description": "At most 2 years after the "
                                                                   "start (renewable)"})
    reason = fields.String(required=True, validate=_TEXT, metadata={"example": "Đi làm"})
    host_personal_id = PersonalIdField(required=True, metadata={
        **_ID, "description": "The owner or host of the place (the declarant's own id when "
                              "they own it)"})


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
    commune_name = fields.Function(_commune_name)
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
    allowed_actions = fields.Function(lambda stay: service.STAY_FLOW.allowed(stay.status,
                                                                             "citizen"))

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


class HostConfirmationRead(Schema):
    """A stay that names the caller as host."""

    id = fields.Integer()
    status = fields.String()
    declarant_name = fields.Function(lambda stay: stay.citizen.full_name)
    commune_code = fields.String()
    commune_name = fields.Function(_commune_name)
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
    reason = fields.String(load_default=None, validate=_TEXT)


class HostAnswered(Schema):
    """The stay after the host's answer."""

    id = fields.Integer()
    status = fields.String()


class Withdraw(Schema):
    """Withdraw a declaration (optionally at the version seen)."""

    version = _version()


class ResidenceRead(Schema):
    """A temporary residence on the citizen's record."""

    province_code = fields.String()
    commune_code = fields.String()
    commune_name = fields.Function(_commune_name)
    address = fields.String()
    start_date = fields.Date()
    end_date = fields.Date()
    registered_at = fields.DateTime()


# --- Temporary absences ---------------------------------------------------------------------------

class AbsenceCreate(Schema):
    """A temporary absence declaration (from the permanent residence)."""

    start_date = BoundedDate(required=True)
    end_date = BoundedDate(required=True)
    reason = fields.String(required=True, validate=_TEXT, metadata={"example": "Đi học"})
    destination = fields.String(required=True, validate=_TEXT,
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
    allowed_actions = fields.Function(lambda absence: service.ABSENCE_FLOW.allowed(
        absence.status, "citizen"))


class AbsenceDetail(AbsenceRead):
    """An absence with its history."""

    history = fields.List(fields.Nested(HistoryEntry))


class AbsencePage(Page):
    """The citizen's absence declarations, newest first."""

    items = fields.List(fields.Nested(AbsenceRead))


# --- Lodging notices ------------------------------------------------------------------------------

class GuestCreate(Schema):
    """A guest: personal id, arrival and (planned) departure; name and birth date as on the card.

    Every well-formed guest is accepted. One the registry does not confirm
    (unknown id, or another name or date of birth) waits for the police's
    review; the answer does not say which.
    """

    personal_id = PersonalIdField(required=True, metadata=_ID)
    arrival = BoundedDate(required=True)
    departure = BoundedDate(required=True)
    full_name = fields.String(load_default=None, validate=validate.Length(max=100), metadata={
        "example": "Nguyễn Văn An", "description": "As printed on the guest's ID card; "
                                                   "compared with the registry"})
    date_of_birth = BoundedDate(load_default=None, metadata={
        "description": "As printed on the guest's ID card; compared with the registry"})


class LodgingCreate(Schema):
    """A lodging notice for one address."""

    commune_code = fields.String(**_COMMUNE)
    address = fields.String(required=True, validate=_TEXT)
    guests = fields.List(fields.Nested(GuestCreate), required=True,
                         validate=validate.Length(min=1, max=lodging.MAX_GUESTS))


class LodgingCreated(Schema):
    """A recorded lodging notice: the same for every notice, whatever the registry knows."""

    id = fields.Integer()
    commune_code = fields.String()
    address = fields.String()
    guest_count = fields.Function(lambda notice: len(notice.guests))
    created_at = fields.DateTime()


# --- The police -----------------------------------------------------------------------------------

class QueueArgs(Schema):
    """Filters of a police queue."""

    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100_000))
    per_page = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))
    status = fields.String(load_default=None, validate=validate.OneOf(sorted(
        service.STAY_FLOW.states | service.ABSENCE_FLOW.states)), metadata={
        "description": "One state (default: the states waiting for the police)"})
    commune_code = fields.String(load_default=None, validate=validate.Length(max=5))
    overdue = fields.Boolean(load_default=False)


class _QueuedCase(Schema):
    """What a police queue shows of a declaration: no personal data."""

    id = fields.Integer()
    status = fields.String()
    version = fields.Integer()
    commune_code = fields.String()
    start_date = fields.Date()
    end_date = fields.Date()


class StayQueueItem(_QueuedCase):
    """A stay in the police queue: no personal data (opening it is the audited read)."""

    host_check = fields.String()
    submitted_at = fields.DateTime(allow_none=True)
    decide_by = fields.DateTime(allow_none=True)
    overdue = fields.Function(lambda stay: stay.decide_by is not None and
                              stay.status in service.STAY_POLICE_STATES and
                              stay.decide_by < clock.now())


class StayQueuePage(Page):
    """A page of the stays queue, by deadline."""

    items = fields.List(fields.Nested(StayQueueItem))


class PersonRead(Schema):
    """A citizen as the police see them on a declaration."""

    personal_id = fields.String()
    full_name = fields.String()
    date_of_birth = fields.Date()
    province_code = fields.String()
    commune_code = fields.String()
    address = fields.String()


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
    allowed_actions = fields.Function(lambda stay: service.STAY_FLOW.allowed(stay.status,
                                                                             "officer"))
    history = fields.List(fields.Nested(HistoryEntry))


class StayAction(Schema):
    """An officer's act on a stay."""

    action = fields.String(required=True, validate=validate.OneOf(service.STAY_ACTIONS))
    reason = fields.String(load_default=None, validate=_TEXT, metadata={
        "description": "Required to reject"})
    version = _version()


class AbsenceQueueItem(_QueuedCase):
    """An absence in the police queue: no personal data."""

    decide_by = fields.DateTime()
    overdue = fields.Function(lambda absence: absence.status in service.ABSENCE_POLICE_STATES
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
    allowed_actions = fields.Function(lambda absence: service.ABSENCE_FLOW.allowed(
        absence.status, "officer"))
    history = fields.List(fields.Nested(HistoryEntry))


class AbsenceAction(Schema):
    """An officer's act on an absence."""

    action = fields.String(required=True, validate=validate.OneOf(service.ABSENCE_ACTIONS))
    reason = fields.String(load_default=None, validate=_TEXT)
    version = _version()


class CaseUpdated(Schema):
    """A case after an act."""

    id = fields.Integer()
    status = fields.String()
    version = fields.Integer()


class OverdueArgs(Schema):
    """Which overdue cases, one page."""

    kind = fields.String(load_default="temporary_stay",
                         validate=validate.OneOf(["temporary_stay", "absence"]))
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100_000))
    per_page = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))


class OverdueItem(Schema):
    """A case past its deadline (no personal data)."""

    id = fields.Integer()
    status = fields.String()
    commune_code = fields.String()
    commune_name = fields.Function(_commune_name)
    decide_by = fields.DateTime()


class OverduePage(Page):
    """Overdue cases of the supervisor's province, most overdue first."""

    kind = fields.String()
    items = fields.List(fields.Nested(OverdueItem))


class LodgingArgs(Schema):
    """Filters of the lodging list."""

    on = BoundedDate(load_default=None, metadata={"description": "Guests staying on this day"})
    commune_code = fields.String(load_default=None, validate=validate.Length(max=5))
    review = fields.String(load_default=None, validate=validate.OneOf(REVIEW_STATES), metadata={
        "description": "Only the guests in this review state (`pending`: those the registry "
                       "did not confirm, waiting for the police)"})
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100_000))
    per_page = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))


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

    outcome = fields.String(required=True, validate=validate.OneOf(lodging.REVIEW_OUTCOMES),
                            metadata={"description": "`cleared` (a clerical error) or "
                                                     "`flagged` (followed up)"})
    reason = fields.String(load_default=None, validate=_TEXT)


class GuestStayPage(Page):
    """Who stays where, newest arrivals first (each guest shown is in their access log)."""

    items = fields.List(fields.Nested(GuestStayRead))
