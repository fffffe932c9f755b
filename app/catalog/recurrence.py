"""Cycles of a recurring assignment rule and the validity of a completion: pure date arithmetic.

A rule that repeats gives each person one assignment per cycle:

- every fiscal year (`fiscal_year`): cycle n belongs to 年度 (rule.fiscal_year + n - 1), opens on
  1 April of that year and is due on the rule's due date moved by n - 1 years;
- every N months (`months`): cycle n is due N × (n - 1) months after the rule's first due date and
  opens the day after the previous cycle's due date.

Only a completion made on or after a cycle's opening day counts for that cycle, so last year's
training does not answer this year's. A rule that does not repeat has one cycle that any current
completion answers; when that completion expires (the course's `valid_for_months`), the person
gets the next cycle (app/completion/recertification.py).
"""
from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, timedelta

from app.catalog.models import AssignmentRule, Recurrence
from app.core.fiscal import FiscalYear, fiscal_year_of

RECERTIFY_WITHIN_MONTHS = 1
"""After a completion of a non-repeating rule expires, the renewal is due this many months later."""


def add_months(day: date, months: int) -> date:
    """The same day `months` later (or earlier), on the month's last day when it has fewer days."""
    index = day.year * 12 + (day.month - 1) + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(day.day, last))


def valid_until(completed_on: date, valid_for_months: int | None) -> date | None:
    """The last day a completion counts: the day before the same date `valid_for_months` later."""
    if valid_for_months is None:
        return None
    return add_months(completed_on, valid_for_months) - timedelta(days=1)


@dataclass(frozen=True)
class Cycle:
    number: int
    fiscal_year: int
    opens_on: date | None  # None: any current completion counts (a rule that does not repeat)
    due_on: date


@dataclass(frozen=True)
class Schedule:
    """What of a rule decides its cycles (a rule, or one being previewed)."""

    recurrence: Recurrence
    interval_months: int | None
    fiscal_year: int
    due_on: date

    @property
    def repeats(self) -> bool:
        return self.recurrence != Recurrence.NONE

    def cycle(self, number: int) -> Cycle:
        if number < 1:
            raise ValueError("cycles count from 1")
        if self.recurrence == Recurrence.FISCAL_YEAR:
            year = self.fiscal_year + number - 1
            return Cycle(number, year, FiscalYear(year).starts_on, add_months(self.due_on, 12 * (number - 1)))
        if self.recurrence == Recurrence.MONTHS:
            months = self.interval_months or 12
            due_on = add_months(self.due_on, months * (number - 1))
            opens_on = add_months(self.due_on, months * (number - 2)) + timedelta(days=1)
            year = self.fiscal_year if number == 1 else fiscal_year_of(due_on).year
            return Cycle(number, year, opens_on, due_on)
        if number != 1:
            raise ValueError("a rule that does not repeat has one calendar cycle")
        return Cycle(1, self.fiscal_year, None, self.due_on)

    def current(self, today: date) -> Cycle:
        """The latest cycle open on `today` (the first one before it opens)."""
        if not self.repeats:
            return self.cycle(1)
        number = 1
        while True:  # cycles are months or years apart: a few steps even for an old rule
            following = self.cycle(number + 1)
            if following.opens_on is None or following.opens_on > today:
                return self.cycle(number)
            number += 1


def renewal_cycle(previous: int, expired_on: date) -> Cycle:
    """The next cycle of a non-repeating rule once the completion that answered it has expired."""
    opens_on = expired_on + timedelta(days=1)
    return Cycle(previous + 1, fiscal_year_of(opens_on).year, opens_on,
                 add_months(expired_on, RECERTIFY_WITHIN_MONTHS))


def schedule_of(rule: AssignmentRule) -> Schedule:
    return Schedule(rule.recurrence, rule.interval_months, rule.fiscal_year, rule.due_on)
