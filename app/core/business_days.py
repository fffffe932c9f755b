"""Working days of the prefectural government: not weekends, not national holidays (jpholiday),
not the year-end closure 29 December – 3 January (行政機関の休日). Office hours in Asia/Tokyo."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta

import jpholiday

from app.core.clock import TOKYO


def is_business_day(day: date) -> bool:
    if day.weekday() >= 5 or jpholiday.is_holiday(day):
        return False
    if (day.month == 12 and day.day >= 29) or (day.month == 1 and day.day <= 3):
        return False
    return True


def business_days_before(day: date, count: int) -> date:
    """The business day `count` business days before `day` (count=0: `day` or the one before)."""
    current = day
    if count == 0:
        while not is_business_day(current):
            current -= timedelta(days=1)
        return current
    remaining = count
    while remaining:
        current -= timedelta(days=1)
        if is_business_day(current):
            remaining -= 1
    return current


def business_day_on_or_after(day: date) -> date:
    """`day` when it is a business day, otherwise the next one."""
    while not is_business_day(day):
        day += timedelta(days=1)
    return day


def within_office_hours(instant: datetime, start: time, end: time) -> bool:
    local = instant.astimezone(TOKYO)
    return is_business_day(local.date()) and start <= local.time() < end

