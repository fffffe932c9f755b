"""The one source of time. Tests pin it with time-machine; code never calls datetime.now()."""
from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

TOKYO = ZoneInfo("Asia/Tokyo")


def now() -> datetime:
    """The current instant, timezone-aware UTC."""
    return datetime.now(UTC)


def today() -> date:
    """Today's date in Asia/Tokyo, which is what every due date and fiscal year means."""
    return now().astimezone(TOKYO).date()


def to_tokyo(instant: datetime) -> datetime:
    return instant.astimezone(TOKYO)


def tokyo_datetime(day: date, hour: int, minute: int = 0) -> datetime:
    """A wall-clock time in Tokyo, as an aware UTC instant."""
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=TOKYO).astimezone(UTC)
