"""Every table of the utilities, imported once so migrations see the whole schema."""
from utilities.reports.models import Evidence, Report, ReportIndicator, ScamIndicator
from utilities.residence.models import (AbsenceDeclaration, LodgingGuest, LodgingNotice,
                                        TemporaryStay)
from utilities.workflow.models import WorkflowEvent
from utilities.payments.models import (IdempotencyKey, LedgerEntry, PaymentAttempt,  # payments
                                       PaymentOrder, ProviderCallback, ReceiptCredential,
                                       Refund)

__all__ = ["Evidence", "Report", "ReportIndicator", "ScamIndicator",
           "AbsenceDeclaration", "LodgingGuest", "LodgingNotice", "TemporaryStay",
           "WorkflowEvent",
           # payments
           "IdempotencyKey", "LedgerEntry", "PaymentAttempt", "PaymentOrder",
           "ProviderCallback", "ReceiptCredential", "Refund"]
