"""Checking the form of a personal id, without reading the registry."""
from __future__ import annotations

from typing import Any

from app.parsing import Blueprint
from identity.registry import service
from identity.registry.schemas import PersonalIdCheck, PersonalIdInfo

blp = Blueprint("personal_ids", __name__, url_prefix="/personal-ids",
                description="The 12-digit personal id: structure checks (no registry access).")


@blp.post("/check")
@blp.arguments(PersonalIdCheck)
@blp.response(200, PersonalIdInfo)
def check_personal_id(payload: dict[str, Any]) -> Any:
    """Check a personal id's form, and its agreement with a date of birth and gender.

    The answer depends only on the digits sent, never on the registry, so it
    cannot be used to learn whether a citizen exists. A failure is a 422 whose
    ``code`` names the rule: ``personal_id.type``, ``personal_id.length``,
    ``personal_id.digits``, ``personal_id.province``,
    ``personal_id.century_gender`` or ``personal_id.birth_year``.
    """
    return service.describe_personal_id(**payload)
