"""Every table of the identity core, imported once so migrations see the whole schema."""
from identity.audit.models import AuditChainHead, AuditEvent
from identity.registry.models import Citizen, ImportRun

__all__ = ["AuditChainHead", "AuditEvent", "Citizen", "ImportRun"]
