"""Helpers of the residence tests: the communes, officers of the stay's commune, dates."""
from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

from identity.accounts.models import Officer
from identity.audit.models import AuditEvent
from identity.audit.service import Actor
from identity.registry import admin_units
from tests.factories import OfficerFactory

#: A Tuesday morning in Hanoi (03:00 UTC is 10:00 ICT).
TUESDAY = dt.datetime(2026, 12, 1, 3, 0, tzinfo=dt.timezone.utc)
ACTOR = Actor(type="anonymous", source="test")
HOME_COMMUNE = "00070"  # Phường Hoàn Kiếm, where the factories put citizens


def hanoi_communes(count: int) -> list[str]:
    """``count`` communes of Hanoi other than the test citizens' home commune."""
    return [c.code for c in admin_units.communes_by_province()["01"]
            if c.code != HOME_COMMUNE][:count]


STAY_COMMUNE, OTHER_COMMUNE = hanoi_communes(2)


def hcm_commune() -> str:
    """A commune of Ho Chi Minh City (province 79)."""
    return admin_units.communes_by_province()["79"][0].code


def officer(db_session: Any, protector: Any, *, username: str, province_code: str = "01",
            commune_code: str | None = STAY_COMMUNE, role: str = "officer") -> Officer:
    """An officer (of the stays' commune unless told) made through the service."""
    return OfficerFactory(db_session=db_session, protector=protector, username=username,
                          province_code=province_code, commune_code=commune_code, role=role)


def stay_body(host: Any, **overrides: Any) -> dict[str, Any]:
    """The fields of a temporary stay declaration, starting tomorrow for a year."""
    start = overrides.pop("start_date", dt.date(2026, 12, 2))
    return {"commune_code": STAY_COMMUNE, "address": "Số 12, ngõ 5, phố Huế",
            "start_date": start, "end_date": overrides.pop("end_date", dt.date(2027, 12, 1)),
            "reason": "Đi làm", "host_personal_id": host.personal_id, **overrides}


def events(db_session: Any, action: str, citizen_id: int | None = None) -> list[AuditEvent]:
    """Audit events of an action (about one citizen, when given), oldest first."""
    query = sa.select(AuditEvent).where(AuditEvent.action == action)
    if citizen_id is not None:
        query = query.where(AuditEvent.subject_type == "citizen",
                            AuditEvent.subject_id == str(citizen_id))
    return list(db_session.scalars(query.order_by(AuditEvent.id)))
