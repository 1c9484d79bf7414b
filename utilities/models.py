"""Every table of the utilities, imported once so migrations see the whole schema."""
from utilities.reports.models import Evidence, Report, ReportIndicator, ScamIndicator
from utilities.residence.models import (AbsenceDeclaration, LodgingGuest, LodgingNotice,
                                        TemporaryStay)
from utilities.workflow.models import WorkflowEvent

__all__ = ["Evidence", "Report", "ReportIndicator", "ScamIndicator",
           "AbsenceDeclaration", "LodgingGuest", "LodgingNotice", "TemporaryStay",
           "WorkflowEvent"]
