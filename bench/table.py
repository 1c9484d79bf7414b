"""The summary table that ends ``make bench``: the rows of issue 18, their goals and floors.

Each row is a ratio measured by one bench, round by round (baseline and load
alternating in each round, :func:`bench.common.alternate`): the bench returns
a :func:`bench.common.table_entry` under ``result["table"][key]``. The goals
live here only; the benches read theirs from :data:`ROWS`.

The floor column is the best ratio the row could reach on this machine, as
measured in the same run: from the ``floor`` bench (:mod:`bench.floor`), or
from the row's own bench where it measures it (the offline verifier's rows).
``figure/floor`` says how far the endpoint is from it (1.0: at the floor).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from rich.table import Table


@dataclass(frozen=True)
class Row:
    """One line of the summary table."""

    key: str
    label: str
    bench: str
    goal: float


ROWS: tuple[Row, ...] = (
    Row("online_verify", "online verify / hello", "credentials_verify", 0.12),
    Row("identity_match", "identity match / hello", "rp_match", 0.12),
    Row("refresh", "refresh / hello", "refresh", 0.15),
    Row("issue", "issue identity_basic / hello", "credentials_issue", 0.08),
    Row("report_filing", "report filing / hello", "reports", 0.06),
    Row("payment_attempt", "payment attempt / hello", "payments", 0.04),
    Row("login", "login / bare argon2id, same params and cores", "login", 0.8),
    Row("import", "registry import / bare COPY", "import_copy", 0.6),
    Row("provinces", "GET /api/v1/admin-units/provinces / hello", "static", 0.8),
    Row("offline_vs_ecdsa", "offline VN1 verify / bare ECDSA verify", "credentials_offline", 0.8),
    Row("offline_vs_pycose", "offline VN1 verify / pycose 1.x + the same C ECDSA check",
        "credentials_offline", 1.5),
)
GOALS = {row.key: row.goal for row in ROWS}


def _number(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:.3f}"


def summary(results: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Every row of :data:`ROWS` with its figures from ``results`` (bench name -> result).

    A row whose bench did not run (or failed) says so; its figures are None.
    """
    floors = results.get("floor", {}).get("floors", {})
    out = []
    for row in ROWS:
        result = results.get(row.bench)
        entry = (result or {}).get("table", {}).get(row.key)
        floor = entry.get("floor") if entry else None
        if floor is None:
            floor = floors.get(row.key)
        median = entry["median"] if entry else None
        status = ("not run" if result is None else "failed" if "error" in result
                  else "missing" if entry is None
                  else "pass" if entry["meets_goal"] else "FAIL")
        out.append({"row": row.label, "key": row.key, "bench": row.bench,
                    "min": entry["min"] if entry else None, "median": median,
                    "max": entry["max"] if entry else None,
                    "rounds": entry["rounds"] if entry else 0, "goal": row.goal,
                    "status": status, "floor": floor,
                    "figure_over_floor": round(median / floor, 3)
                    if median is not None and floor else None})
    return out


def render(rows: list[dict[str, Any]], title: str) -> Table:
    """The summary as a rich table."""
    table = Table(title=title)
    for column in ("row", "min", "median", "max", "goal", "status", "floor", "figure/floor"):
        table.add_column(column, justify="left" if column in ("row", "status") else "right")
    for row in rows:
        table.add_row(row["row"], _number(row["min"]), _number(row["median"]),
                      _number(row["max"]), f"≥ {row['goal']}", row["status"],
                      _number(row["floor"]), _number(row["figure_over_floor"]))
    return table
