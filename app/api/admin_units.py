"""Administrative units: public reference data for forms and addresses."""
from __future__ import annotations

from typing import Any

from app.parsing import Blueprint
from identity.registry import admin_units
from identity.errors import NotFound
from identity.registry.schemas import CommuneRead, FormerProvinceRead, ProvinceRead

blp = Blueprint("admin_units", __name__, url_prefix="/admin-units",
                description="Provinces and communes of Vietnam (2025 reform), and the 63 "
                            "provinces of 2016 that begin personal ids.")


@blp.get("/provinces")
@blp.response(200, ProvinceRead(many=True))
def list_provinces() -> Any:
    """The 34 current provinces and centrally governed cities."""
    return list(admin_units.provinces().values())


@blp.get("/provinces/<string:province_code>/communes")
@blp.response(200, CommuneRead(many=True))
def list_communes(province_code: str) -> Any:
    """The communes, wards and special zones of one current province."""
    communes = admin_units.communes_by_province().get(province_code)
    if communes is None:
        raise NotFound("No current province has that code.", code="province.not_found")
    return communes


@blp.get("/former-provinces")
@blp.response(200, FormerProvinceRead(many=True))
def list_former_provinces() -> Any:
    """The 63 provinces of Circular 07/2016, each with the province it was merged into."""
    return list(admin_units.former_provinces().values())
