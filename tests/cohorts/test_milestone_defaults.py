"""A new cohort's milestones are due at 17:00 on business days: intake + 30/90/150/160 days would
otherwise land on weekends, holidays or the year-end closure for about a third of the intakes."""
from __future__ import annotations

from datetime import date, timedelta

import time_machine

from app.cohorts import queries
from app.core.business_days import is_business_day
from app.core.clock import to_tokyo
from tests import factories


def test_every_default_milestone_falls_on_a_business_day_at_five(ctx) -> None:  # type: ignore[no-untyped-def]
    seen = []
    for offset in range(7):  # intakes closing on each day of the week, New Year's closure included
        with time_machine.travel(date(2026, 11, 20) + timedelta(days=offset), tick=False):
            cohort = factories.cohort(open_for=timedelta(days=10))
            for milestone in queries.milestones(cohort.id):
                local = to_tokyo(milestone.due_at)
                seen.append(local.date())
                assert is_business_day(local.date()), (milestone.kind, local)
                assert (local.hour, local.minute) == (17, 0), (milestone.kind, local)
    assert len(seen) == 28
