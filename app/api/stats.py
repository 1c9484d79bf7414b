"""Statistics of the rollout for ministry operators (admin token: ``flask admins create``)."""
from __future__ import annotations

from typing import Any

from flask import current_app

from app import context as ctx
from app.operator_auth import OPERATOR_TOKEN, operator_required
from app.parsing import Blueprint
from identity.monitoring import published, statistics
from identity.monitoring.schemas import (OverviewRead, ProvinceArgs, ProvinceOverviewRead,
                                         ProvincesRead, StatsArgs)

blp = Blueprint("stats", __name__, url_prefix="/stats",
                description="Monitoring of the rollout: accounts by level, status and place, "
                            "growth against the monthly target, utilities' usage, police "
                            "queues. Operators only: `Authorization: Bearer <admin token>`; "
                            "a bad token is 401 `operator.invalid_token`. Every count under "
                            "`min_count` (STATS_MIN_COUNT, 10) is `null`, and so is any count "
                            "that would give a hidden one back by subtraction, with what is "
                            "derived from it (growth, targets); a commune's days, growth and "
                            "usage are not published.")


def _target() -> float:
    return float(current_app.config["ROLLOUT_MONTHLY_GROWTH_TARGET"])


def _min_count() -> int:
    """Counts under this are published as null (``STATS_MIN_COUNT``)."""
    return int(current_app.config["STATS_MIN_COUNT"])


def _fresh_seconds() -> float:
    """How long the protected tables are answered before the counts are checked again."""
    return float(current_app.config["STATS_FRESH_SECONDS"])


def _publishing() -> dict[str, Any]:
    """The publication settings every statistics call takes."""
    return {"min_count": _min_count(), "fresh_seconds": _fresh_seconds()}


@blp.get("/overview")
@operator_required
@blp.arguments(StatsArgs, location="query")
@blp.response(200, OverviewRead)
@blp.doc(security=OPERATOR_TOKEN)
def overview(args: dict[str, Any]) -> Any:
    """The whole country: accounts, registrations per day, growth, usage, backlogs."""
    return published.overview(db_session=ctx.db_session(), target=_target(), **_publishing(),
                              **args)


@blp.get("/provinces")
@operator_required
@blp.arguments(ProvinceArgs, location="query")
@blp.response(200, ProvincesRead)
@blp.doc(security=OPERATOR_TOKEN)
def provinces(args: dict[str, Any]) -> Any:
    """Every province ranked by active accounts, with recent registrations."""
    return {"days": args["days"], "items": published.provinces(
        db_session=ctx.db_session(), **_publishing(), **args)}


@blp.get("/provinces/<string:province_code>")
@operator_required
@blp.arguments(StatsArgs, location="query")
@blp.response(200, ProvinceOverviewRead)
@blp.doc(security=OPERATOR_TOKEN)
def province(args: dict[str, Any], province_code: str) -> Any:
    """One province (404 `province.not_found`), with its communes' accounts."""
    place = statistics.province_place(province_code)
    db_session = ctx.db_session()
    # The account table, built once for both.
    table = published.account_table(db_session, _min_count(), _fresh_seconds())
    return {**published.overview(db_session=db_session, place=place, target=_target(),
                                 **_publishing(), accounts=table, **args),
            "communes": published.communes(db_session=db_session, place=place, **_publishing(),
                                           accounts=table)}


@blp.get("/communes/<string:commune_code>")
@operator_required
@blp.arguments(StatsArgs, location="query")
@blp.response(200, OverviewRead)
@blp.doc(security=OPERATOR_TOKEN)
def commune(args: dict[str, Any], commune_code: str) -> Any:
    """One commune (404 `commune.not_found`)."""
    return published.overview(db_session=ctx.db_session(),
                              place=statistics.commune_place(commune_code),
                              target=_target(), **_publishing(), **args)
