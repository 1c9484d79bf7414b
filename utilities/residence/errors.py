"""Errors of residence declarations, each with a dotted code clients rely on."""
from __future__ import annotations

from identity.errors import Conflict, Forbidden, InvalidInput, NotFound


class StayNotFound(NotFound):
    """No temporary stay with this id that the caller may see."""

    code = "residence.stay_not_found"
    message = "No temporary stay has this id."


class AbsenceNotFound(NotFound):
    """No absence declaration with this id that the caller may see."""

    code = "residence.absence_not_found"
    message = "No absence declaration has this id."


class GuestNotFound(NotFound):
    """No guest under review with this id in the officer's jurisdiction."""

    code = "residence.guest_not_found"
    message = "No lodging guest has this id."


class GuestReviewed(Conflict):
    """The guest's review is already decided (or it never needed one)."""

    code = "residence.guest_not_in_review"
    message = "This guest does not wait for a review."


class NoCurrentResidence(Conflict):
    """The citizen has no approved temporary residence in force today."""

    code = "residence.none"
    message = "You have no approved temporary residence in force today."


class PeriodOverlaps(Conflict):
    """Another open or approved declaration of the citizen covers part of the period."""

    code = "residence.period_overlap"
    message = "Another declaration of yours covers part of this period."


class RenewalOpen(Conflict):
    """A renewal of this stay is already waiting."""

    code = "residence.renewal_open"
    message = "A renewal of this stay is already waiting for a decision."


class SupervisorOnly(Forbidden):
    """The overdue view is for supervisors."""

    code = "residence.supervisor_only"
    message = "Only a supervisor sees the overdue cases."


class InvalidResidenceInput(InvalidInput):
    """A field of a declaration that breaks a rule (each failure names its field and code)."""

    code = "residence.invalid"
