"""The one source of time. Tests pin it with time-machine; code never calls datetime.now()."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

TOKYO = ZoneInfo("Asia/Tokyo")

_offset = timedelta(0)  # moved only by `moved_to`, in one-shot commands (never in a web worker)


def now() -> datetime:
    """The current instant, timezone-aware UTC."""
    return datetime.now(UTC) + _offset


@contextmanager
def moved_to(instant: datetime) -> Iterator[None]:
    """Inside the block the clock reads `instant` and runs on from there; blocks nest. For one-shot
    commands that write what happened at another time through the same services (the demo load
    builds its past, and `flask demo load --today` a whole other day). The offset is the process's:
    web workers and the scheduler never move it."""
    global _offset
    previous = _offset
    _offset = instant - datetime.now(UTC)
    try:
        yield
    finally:
        _offset = previous


def today() -> date:
    """Today's date in Asia/Tokyo, which is what every due date and fiscal year means."""
    return now().astimezone(TOKYO).date()


def to_tokyo(instant: datetime) -> datetime:
    return instant.astimezone(TOKYO)


def tokyo_datetime(day: date, hour: int, minute: int = 0) -> datetime:
    """A wall-clock time in Tokyo, as an aware UTC instant."""
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=TOKYO).astimezone(UTC)
