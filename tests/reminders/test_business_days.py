from __future__ import annotations

from datetime import UTC, date, datetime, time

from app.core.business_days import business_days_before, is_business_day, within_office_hours


def test_weekends_holidays_and_year_end_are_not_business_days():
    assert is_business_day(date(2027, 1, 8))  # Friday
    assert not is_business_day(date(2027, 1, 9))  # Saturday
    assert not is_business_day(date(2027, 1, 11))  # 成人の日 (Monday)
    assert not is_business_day(date(2026, 12, 29)) and not is_business_day(date(2027, 1, 3))
    assert is_business_day(date(2027, 1, 4))


def test_offsets_step_back_over_a_holiday_weekend():
    # Tuesday 12 Jan 2027 follows the Coming of Age Day weekend (Sat 9, Sun 10, Mon 11 holiday).
    assert business_days_before(date(2027, 1, 12), 1) == date(2027, 1, 8)
    assert business_days_before(date(2027, 1, 12), 3) == date(2027, 1, 6)
    # Over the year-end closure: 1 business day before 5 Jan 2027 is 4 Jan, 2 before is 28 Dec.
    assert business_days_before(date(2027, 1, 5), 2) == date(2026, 12, 28)


def test_office_hours_are_read_in_tokyo():
    start, end = time(8, 30), time(17, 15)
    assert within_office_hours(datetime(2027, 1, 8, 0, 0, tzinfo=UTC), start, end)  # 09:00 JST Fri
    assert not within_office_hours(datetime(2027, 1, 8, 9, 0, tzinfo=UTC), start, end)  # 18:00 JST
    assert not within_office_hours(datetime(2027, 1, 11, 1, 0, tzinfo=UTC), start, end)  # holiday
