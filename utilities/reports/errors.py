"""Errors of incident reports, each with a dotted code clients rely on."""
from __future__ import annotations

from identity.errors import Conflict, Forbidden, InvalidInput, NotFound


class ReportNotFound(NotFound):
    """No such case, or not one the caller may see (someone else's, another jurisdiction's)."""

    code = "report.not_found"
    message = "No report has this case number."


class InvalidReport(InvalidInput):
    """A field of a report breaks its rule; ``field`` names it."""

    code = "report.invalid"


class ReporterAnonymous(Forbidden):
    """The reporter chose to stay anonymous: nobody may see who they are."""

    code = "report.reporter_anonymous"
    message = "The reporter chose to stay anonymous."


class ReporterNotVisible(Forbidden):
    """Only the assigned officer and the unit's supervisors see the reporter's identity."""

    code = "report.reporter_not_visible"
    message = "Only the officer assigned to the case and supervisors see the reporter."


class CaseAlreadyAssigned(Forbidden):
    """An officer may take a case nobody holds; a colleague's case changes hands by a supervisor."""

    code = "report.already_assigned"
    message = ("The case is assigned to another officer: only a supervisor may give it to "
               "someone else.")


class EvidenceInvalid(InvalidInput):
    """An evidence file that is too large, empty, or of a type not accepted."""

    code = "evidence.invalid"


class TooMuchEvidence(Conflict):
    """A case holds at most :data:`utilities.reports.evidence.MAX_EVIDENCE` files."""

    code = "evidence.too_many"


class EvidenceNotFound(NotFound):
    """No such evidence file in this case."""

    code = "evidence.not_found"
    message = "This case has no evidence file with this id."


class EvidenceTampered(Conflict):
    """The stored file's SHA-256 is not the one recorded when it arrived: it is not shown."""

    code = "evidence.tampered"
    message = ("The stored evidence file does not match the digest recorded when it was "
               "received; it is withheld and the incident is logged.")


class EvidenceMissing(Conflict):
    """The stored file is gone from the evidence store."""

    code = "evidence.missing"
    message = "The stored evidence file is missing; the incident is logged."
