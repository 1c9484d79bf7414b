"""Marshmallow schemas shared by the residence declarations, and those of the record and the
supervisors' overdue view.

Each kind of declaration has its own module beside this one:
:mod:`~utilities.residence.stay_schemas`, :mod:`~utilities.residence.absence_schemas` and
:mod:`~utilities.residence.lodging_schemas`. Personal ids (the host's, the guests') travel in
bodies only. Free text is checked by the service (control characters, length), which names
the field.
"""
from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate

from identity.schema_fields import Page, PageArgs
from identity.registry import admin_units
from utilities.residence.absences import ABSENCE_FLOW
from utilities.residence.stays import STAY_FLOW

#: The OpenAPI description of a personal id.
PERSONAL_ID: dict[str, Any] = {"type": "string", "pattern": "^[0-9]{12}$",
                               "example": "001090012345"}
#: The arguments of a required commune code.
COMMUNE: dict[str, Any] = {"required": True, "validate": validate.Length(max=5),
                           "metadata": {"example": "00070"}}
#: Generous bounds for the schema; the service applies the exact ones, naming the field.
TEXT = validate.Length(max=2000)


def version_field() -> fields.Integer:
    """The case version the caller saw (optional)."""
    return fields.Integer(load_default=None, validate=validate.Range(min=1), metadata={
        "description": "The case version the caller saw; a case changed since is a 409 "
                       "`workflow.case_changed`"})


def commune_name_of(obj: Any) -> str | None:
    """The name of ``obj``'s commune, if it is a current one."""
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


class Withdraw(Schema):
    """Withdraw a declaration (optionally at the version seen)."""

    version = version_field()


class ResidenceRead(Schema):
    """A temporary residence on the citizen's record."""

    province_code = fields.String()
    commune_code = fields.String()
    commune_name = fields.Function(commune_name_of)
    address = fields.String()
    start_date = fields.Date()
    end_date = fields.Date()
    registered_at = fields.DateTime()


# --- The police -----------------------------------------------------------------------------------

class QueueArgs(PageArgs):
    """Filters of a police queue, one page."""

    status = fields.String(load_default=None, validate=validate.OneOf(sorted(
        STAY_FLOW.states | ABSENCE_FLOW.states)), metadata={
        "description": "One state (default: the states waiting for the police)"})
    commune_code = fields.String(load_default=None, validate=validate.Length(max=5))
    overdue = fields.Boolean(load_default=False)


class QueuedCase(Schema):
    """What a police queue shows of a declaration: no personal data."""

    id = fields.Integer()
    status = fields.String()
    version = fields.Integer()
    commune_code = fields.String()
    start_date = fields.Date()
    end_date = fields.Date()


class PersonRead(Schema):
    """A citizen as the police see them on a declaration."""

    personal_id = fields.String()
    full_name = fields.String()
    date_of_birth = fields.Date()
    province_code = fields.String()
    commune_code = fields.String()
    address = fields.String()


class CaseUpdated(Schema):
    """A case after an act."""

    id = fields.Integer()
    status = fields.String()
    version = fields.Integer()


class OverdueArgs(PageArgs):
    """Which overdue cases, one page."""

    kind = fields.String(load_default="temporary_stay",
                         validate=validate.OneOf(["temporary_stay", "absence"]))


class OverdueItem(Schema):
    """A case past its deadline (no personal data)."""

    id = fields.Integer()
    status = fields.String()
    commune_code = fields.String()
    commune_name = fields.Function(commune_name_of)
    decide_by = fields.DateTime()


class OverduePage(Page):
    """Overdue cases of the supervisor's province, most overdue first."""

    kind = fields.String()
    items = fields.List(fields.Nested(OverdueItem))
