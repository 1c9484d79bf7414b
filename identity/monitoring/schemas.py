"""Marshmallow schemas of the statistics API."""
from __future__ import annotations

from marshmallow import Schema, fields, validate


class StatsArgs(Schema):
    """The window of a statistics answer."""

    days = fields.Integer(load_default=30, validate=validate.Range(min=1, max=366),
                          metadata={"description": "Days of registrations per day (1-366)."})
    months = fields.Integer(load_default=12, validate=validate.Range(min=2, max=36),
                            metadata={"description": "Months of growth (2-36)."})


class ProvinceArgs(Schema):
    """The window of the provinces' ranking."""

    days = fields.Integer(load_default=30, validate=validate.Range(min=1, max=366),
                          metadata={"description": "Registrations counted over these days."})


class PlaceRead(Schema):
    """The place the statistics are of."""

    province_code = fields.String(allow_none=True)
    commune_code = fields.String(allow_none=True)
    name = fields.String()


class LevelStatusCount(Schema):
    """Accounts at one level in one status."""

    level = fields.Integer(allow_none=True)
    status = fields.String()
    count = fields.Integer(allow_none=True)


class AccountsRead(Schema):
    """Accounts by level and status."""

    total = fields.Integer(allow_none=True)
    active = fields.Integer(allow_none=True)
    level2_active = fields.Integer(allow_none=True)
    by_status = fields.Dict(keys=fields.String(), values=fields.Integer(allow_none=True),
                            metadata={"description": "active, pending_review, locked, rejected, "
                                                     "closed (not in the total)"})
    by_level = fields.Dict(keys=fields.String(), values=fields.Integer(allow_none=True),
                           metadata={"description": "'1' and '2', every status"})
    by_level_status = fields.List(fields.Nested(LevelStatusCount))


class DayRead(Schema):
    """One day's new accounts."""

    day = fields.Date()
    registered = fields.Integer(allow_none=True)
    activated = fields.Integer(allow_none=True)
    level2 = fields.Integer(allow_none=True)


class RegistrationsRead(Schema):
    """Registrations and activations per day."""

    days = fields.List(fields.Nested(DayRead))
    registered_total = fields.Integer(allow_none=True)
    activated_total = fields.Integer(allow_none=True)


class MonthRead(Schema):
    """One month's end: activated accounts and growth against the target."""

    month = fields.String(metadata={"example": "2026-10"})
    active_total = fields.Integer(allow_none=True,
                                  metadata={"description": "Accounts ever activated by then"})
    growth = fields.Float(allow_none=True)
    target_total = fields.Integer(allow_none=True,
                                  metadata={"description": "Last month's total grown by target"})
    met = fields.Boolean(allow_none=True)
    # Not named `partial`: marshmallow's Schema has an attribute of that name.
    current = fields.Boolean(attribute="partial", data_key="partial",
                             metadata={"description": "The current, unfinished month"})


class GrowthRead(Schema):
    """Month-over-month growth against ``ROLLOUT_MONTHLY_GROWTH_TARGET``."""

    target = fields.Float()
    months = fields.List(fields.Nested(MonthRead))
    last_month = fields.String(allow_none=True)
    last_month_growth = fields.Float(allow_none=True)
    on_target = fields.Boolean(allow_none=True)
    months_on_target = fields.Integer(allow_none=True)


class UsageRead(Schema):
    """How much a utility is used."""

    metric = fields.String(metadata={"example": "reports.filed"})
    total = fields.Integer(allow_none=True)
    last_30_days = fields.Integer(allow_none=True)


class QueueTotalRead(Schema):
    """One queue's backlog over the place."""

    queue = fields.String()
    open = fields.Integer(allow_none=True)
    overdue = fields.Integer(allow_none=True)


class UnitBacklogRead(Schema):
    """One police unit's backlog in one queue."""

    queue = fields.String()
    province_code = fields.String()
    commune_code = fields.String(allow_none=True)
    unit = fields.String()
    open = fields.Integer(allow_none=True)
    overdue = fields.Integer(allow_none=True)


class BacklogsRead(Schema):
    """Queue backlogs; ``units``: the 20 most behind (overdue, then open)."""

    open = fields.Integer(allow_none=True)
    overdue = fields.Integer(allow_none=True)
    queues = fields.List(fields.Nested(QueueTotalRead))
    units = fields.List(fields.Nested(UnitBacklogRead))


class OverviewRead(Schema):
    """The statistics of the country, a province or a commune.

    A count is ``null`` when under ``min_count``, or when it would give such
    a count back by subtraction (a total minus the other parts); what derives
    from a hidden count (growth, targets) is ``null`` with it. A commune's
    ``registrations``, ``growth`` and ``usage`` are all ``null``.
    """

    place = fields.Nested(PlaceRead)
    min_count = fields.Integer(metadata={"description": "Counts under this are never shown"})
    as_of = fields.Date()
    accounts = fields.Nested(AccountsRead)
    registrations = fields.Nested(RegistrationsRead)
    growth = fields.Nested(GrowthRead)
    usage = fields.List(fields.Nested(UsageRead))
    backlogs = fields.Nested(BacklogsRead)


class ProvinceRow(Schema):
    """One province in the ranking."""

    rank = fields.Integer(allow_none=True)
    province_code = fields.String()
    name = fields.String()
    total = fields.Integer(allow_none=True)
    active = fields.Integer(allow_none=True)
    level2_active = fields.Integer(allow_none=True)
    by_status = fields.Dict(keys=fields.String(), values=fields.Integer(allow_none=True))
    registered_recent = fields.Integer(allow_none=True,
                                       metadata={"description": "Registrations over `days`"})


class ProvincesRead(Schema):
    """Every province, most active accounts first."""

    days = fields.Integer(allow_none=True)
    items = fields.List(fields.Nested(ProvinceRow))


class CommuneRow(Schema):
    """One commune's accounts."""

    commune_code = fields.String()
    name = fields.String()
    total = fields.Integer(allow_none=True)
    active = fields.Integer(allow_none=True)
    level2_active = fields.Integer(allow_none=True)
    by_status = fields.Dict(keys=fields.String(), values=fields.Integer(allow_none=True))


class ProvinceOverviewRead(OverviewRead):
    """A province's statistics, with its communes that have accounts."""

    communes = fields.List(fields.Nested(CommuneRow))
