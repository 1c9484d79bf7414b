"""Every table of the utilities, imported once so migrations see the whole schema."""
from utilities.workflow.models import WorkflowEvent

__all__ = ["WorkflowEvent"]
