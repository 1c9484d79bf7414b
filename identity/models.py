"""Every table of the identity core, imported once so migrations see the whole schema."""
from identity.accounts.models import (Account, Device, Notification, Officer, SessionFamily,
                                      SmsMessage)
from identity.audit.models import AuditChainHead, AuditEvent
from identity.monitoring.models import UsageCounter
from identity.registry.models import Citizen, ImportRun

__all__ = ["Account", "AuditChainHead", "AuditEvent", "Citizen", "Device", "ImportRun",
           "Notification", "Officer", "SessionFamily", "SmsMessage", "UsageCounter"]
