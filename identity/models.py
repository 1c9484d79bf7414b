"""Every table of the identity core, imported once so migrations see the whole schema."""
from identity.accounts.models import (Account, Device, Notification, Officer, SessionFamily,
                                      SmsMessage)
from identity.audit.models import AuditChainHead, AuditDetachedRun, AuditEvent
from identity.credentials.models import Credential, IssuerKey
from identity.monitoring.models import (AccountCount, Operator, RollupState, UsageCounter,
                                        UsageRollup)
from identity.relying_parties.models import ConsentRequest, DataShare, RelyingParty
from identity.registry.models import Citizen, ImportRun, TemporaryResidence
from identity.coordination.models import (DataSource, DocumentCredential, LoadRun,
                                          SourceDailyCount, SourceRecord)

# Keeps account_counts in step with every account change (a SQLAlchemy before_flush listener).
from identity.monitoring import accounts as _account_counts  # noqa: E402,F401

__all__ = ["Account", "AccountCount", "AuditChainHead", "AuditDetachedRun",
           "AuditEvent", "Citizen", "ConsentRequest",
           "Credential", "DataShare", "RelyingParty",
           "DataSource", "DocumentCredential", "LoadRun", "SourceDailyCount", "SourceRecord",
           "Device", "IssuerKey",
           "ImportRun", "Notification", "Officer", "Operator", "RollupState", "SessionFamily",
           "SmsMessage", "TemporaryResidence", "UsageCounter", "UsageRollup"]
