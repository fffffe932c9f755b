"""The dates a new session's form offers, so that HR types the meetings and little else.

- a first meeting: the first working day at least `SUGGESTED_LEAD_DAYS` days ahead, 13:30–17:00
  (a suggestion to overwrite with the real dates);
- enrolment opens today at 9:00 (open at once when HR saves later in the day);
- enrolment closes `ENROLMENT_CLOSES_DAYS` working days before the first meeting, at 17:00;
- the cancellation deadline is `CANCELLATION_DAYS` working days before it, at 17:00 (after
  enrolment closes: a place can still be given up, and a waitlisted person promoted, meanwhile).

Working days are the prefecture's (app/core/business_days.py: no weekends, holidays or the year-end
closure). Every value is an aware Asia/Tokyo datetime, the wall-clock time the form shows. Nothing
here checks an order: app/scheduling/services.py refuses deadlines that do not fit the meetings,
whoever typed them.
"""
from __future__ import annotations

from datetime import date, datetime, time, timedelta

from app.core.business_days import business_day_on_or_after, business_days_before
from app.core.clock import TOKYO

ENROLMENT_CLOSES_DAYS = 5  # working days before the first meeting
CANCELLATION_DAYS = 3  # working days before the first meeting
OPENS_AT = time(9, 0)
DEADLINE_AT = time(17, 0)  # the end of office hours
SUGGESTED_LEAD_DAYS = 28
SUGGESTED_MEETING = (time(13, 30), time(17, 0))


def _at(day: date, clock: time) -> datetime:
    return datetime.combine(day, clock, tzinfo=TOKYO)


def enrolment_opens(on: date) -> datetime:
    """Today at 9:00."""
    return _at(on, OPENS_AT)


def enrolment_closes(first_meeting_starts_at: datetime) -> datetime:
    day = first_meeting_starts_at.astimezone(TOKYO).date()
    return _at(business_days_before(day, ENROLMENT_CLOSES_DAYS), DEADLINE_AT)


def cancellation_deadline(first_meeting_starts_at: datetime) -> datetime:
    day = first_meeting_starts_at.astimezone(TOKYO).date()
    return _at(business_days_before(day, CANCELLATION_DAYS), DEADLINE_AT)


def suggested_meeting(on: date) -> tuple[datetime, datetime]:
    """The first working day `SUGGESTED_LEAD_DAYS` days after `on` or later, 13:30–17:00."""
    day = business_day_on_or_after(on + timedelta(days=SUGGESTED_LEAD_DAYS))
    start, end = SUGGESTED_MEETING
    return _at(day, start), _at(day, end)
