"""The body of a paginated answer, built one way for every list route."""
from __future__ import annotations

from typing import Any


def page(items: Any, total: int, args: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """``items``, their ``total`` and the ``page``/``per_page`` asked for (``PageArgs``).

    ``extra`` adds the fields a route's page schema has beyond these
    (``total_exact``, the telco's ``operator``, ...).
    """
    return {"items": items, "total": total, "page": args["page"], "per_page": args["per_page"],
            **extra}
