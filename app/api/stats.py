"""Statistics of the rollout for ministry operators (admin token: ``flask admins create``)."""
from __future__ import annotations

from typing import Any

from flask import current_app
from flask_smorest import Blueprint

from app.context import deps
from app.operator_auth import OPERATOR_TOKEN, operator_required
from identity.monitoring import statistics
from identity.monitoring.schemas import (OverviewRead, ProvinceArgs, ProvinceOverviewRead,
                                         ProvincesRead, StatsArgs)

blp = Blueprint("stats", __name__, url_prefix="/stats",
                description="Monitoring of the rollout: accounts by level, status and place, "
                            "growth against the monthly target, utilities' usage, police "
                            "queues. Operators only: `Authorization: Bearer <admin token>`; "
                            "a bad token is 401 `operator.invalid_token`.")


def _target() -> float:
    return float(current_app.config["ROLLOUT_MONTHLY_GROWTH_TARGET"])


@blp.get("/overview")
@operator_required
@blp.arguments(StatsArgs, location="query")
@blp.response(200, OverviewRead)
@blp.doc(security=OPERATOR_TOKEN)
def overview(args: dict[str, Any]) -> Any:
    """The whole country: accounts, registrations per day, growth, usage, backlogs."""
    return statistics.overview(**deps("db_session"), target=_target(), **args)


@blp.get("/provinces")
@operator_required
@blp.arguments(ProvinceArgs, location="query")
@blp.response(200, ProvincesRead)
@blp.doc(security=OPERATOR_TOKEN)
def provinces(args: dict[str, Any]) -> Any:
    """Every province ranked by active accounts, with recent registrations."""
    return {"days": args["days"], "items": statistics.provinces(**deps("db_session"), **args)}


@blp.get("/provinces/<string:province_code>")
@operator_required
@blp.arguments(StatsArgs, location="query")
@blp.response(200, ProvinceOverviewRead)
@blp.doc(security=OPERATOR_TOKEN)
def province(args: dict[str, Any], province_code: str) -> Any:
    """One province (404 `province.not_found`), with its communes' accounts."""
    place = statistics.province_place(province_code)
    session = deps("db_session")
    return {**statistics.overview(**session, place=place, target=_target(), **args),
            "communes": statistics.communes(**session, place=place)}


@blp.get("/communes/<string:commune_code>")
@operator_required
@blp.arguments(StatsArgs, location="query")
@blp.response(200, OverviewRead)
@blp.doc(security=OPERATOR_TOKEN)
def commune(args: dict[str, Any], commune_code: str) -> Any:
    """One commune (404 `commune.not_found`)."""
    return statistics.overview(**deps("db_session"), place=statistics.commune_place(commune_code),
                               target=_target(), **args)
