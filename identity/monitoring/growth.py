"""Month-over-month growth of activated accounts against the rollout's target.

Shared by the raw figures (:mod:`.statistics`) and the published ones
(:mod:`.published`, where a hidden month-end total is ``None``).
"""
from __future__ import annotations

import datetime as dt
from typing import Any


def month_start(day: dt.date, back: int = 0) -> dt.date:
    """The first day of ``day``'s month, ``back`` months earlier."""
    index = day.year * 12 + day.month - 1 - back
    return dt.date(index // 12, index % 12 + 1, 1)


def growth_row(month: dt.date, end: int | None, previous: int | None, *, target: float,
               partial: bool) -> dict[str, Any]:
    """One month of growth: its month-end total, the rate over the month before, the target.

    ``None`` for an unknown total (a hidden small count, in the published figures).
    """
    rate = (end - previous) / previous if end is not None and previous else None
    return {"month": f"{month:%Y-%m}", "active_total": end,
            "growth": None if rate is None else round(rate, 4),
            "target_total": round(previous * (1 + target)) if previous else None,
            "met": None if rate is None else rate >= target, "partial": partial}


def growth_summary(rows: list[dict[str, Any]], target: float) -> dict[str, Any]:
    """The months of :func:`growth_row` with the last complete month and the months on target."""
    complete = [row for row in rows if not row["partial"] and row["growth"] is not None]
    last = complete[-1] if complete else None
    return {"target": target, "months": rows,
            "last_month": last["month"] if last else None,
            "last_month_growth": last["growth"] if last else None,
            "on_target": last["met"] if last else None,
            "months_on_target": sum(1 for row in complete if row["met"])}


def growth(activated_before: int, activated: dict[dt.date, int], *, today: dt.date, months: int,
           target: float) -> dict[str, Any]:
    """Month-end totals of activated accounts and their month-over-month growth vs ``target``.

    ``activated_before``: activations before the first month; ``activated``:
    activations per day since. The current month is ``partial``.
    """
    rows: list[dict[str, Any]] = []
    running = activated_before
    previous: int | None = activated_before
    for back in range(months - 1, -1, -1):
        start = month_start(today, back)
        end = month_start(today, back - 1)
        running += sum(count for day, count in activated.items() if start <= day < end)
        rows.append(growth_row(start, running, previous, target=target, partial=back == 0))
        previous = running
    return growth_summary(rows, target)
