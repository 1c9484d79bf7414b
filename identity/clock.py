"""The one clock of the service.

Every "now" in the code comes from :func:`now`, so tests move time with
time-machine in one place and timestamps are never evaluated at import.
"""
from __future__ import annotations

import datetime as dt


def now() -> dt.datetime:
    """The current time, timezone-aware, in UTC."""
    return dt.datetime.now(dt.timezone.utc)


def today() -> dt.date:
    """Today's date in Vietnam (UTC+7), the date that birthdays and deadlines use."""
    return (now() + dt.timedelta(hours=7)).date()
