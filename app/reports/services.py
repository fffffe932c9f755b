"""Writes of HR's report pages: the planned participants (per year and per half) and the half-year
report's moves (save, publish, correct), each through app/reports/transitions.py."""
from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import delete, select

from app.audit.services import record_event
from app.core.db import db_session
from app.org.models import Employee
from app.reports import figures as fig
from app.reports import transitions
from app.reports.models import CoursePlan
from app.web.locale import gettext as _

SAVE, PUBLISH, CORRECT = "save", "publish", "correct"


def save_plans(actor: Employee, fiscal_year: int, planned: Mapping[tuple[int, int], int],
               cleared: set[tuple[int, int]]) -> None:
    """Set the plans typed, keyed by (course id, half; 0 for the year), and remove the cleared
    ones (a half plan whose field was emptied: that half then has no plan to compare with)."""
    existing = {(p.course_id, p.half): p for p in db_session.scalars(select(CoursePlan).where(
        CoursePlan.fiscal_year == fiscal_year))}
    for (course_id, half), number in planned.items():
        plan = existing.get((course_id, half)) or CoursePlan(course_id=course_id, fiscal_year=fiscal_year,
                                                             half=half, planned=0)
        plan.planned = number
        db_session.add(plan)
    removed = [existing[key].id for key in cleared if key in existing]
    if removed:
        db_session.execute(delete(CoursePlan).where(CoursePlan.id.in_(removed)))
    record_event(actor, "reports.plans_saved", "course_plans", fiscal_year,
                 after={f"{course_id}/{half}": number for (course_id, half), number in sorted(planned.items())}
                 | {f"{course_id}/{half}": None for course_id, half in sorted(cleared)})


def act_on_half_year(actor: Employee, period: fig.Period, action: str, narrative: str, reason: str = "",
                     version: int | None = None) -> str:
    """Save the draft's comments, publish it (freezing the figures), or publish a correction of
    `version` (the one HR was shown); returns what to tell HR. Raises transitions.ReportError
    when refused."""
    assert period.half in (1, 2)
    if action == CORRECT:
        report = transitions.version_of(period.fiscal_year, period.half, version or 0)
        if report is None or report.published_at is None:
            raise transitions.Stale(_("Only a published report can be corrected."))
        transitions.correct(report, actor, reason, narrative, fig.compute(period, "ja"))
        return _("Correction published. The previous version stays available and is linked from the report.")
    report = transitions.ensure_draft(period.fiscal_year, period.half)
    if report.published_at is not None:
        raise transitions.Stale(_("A published report cannot be changed."))
    if action == PUBLISH:
        transitions.publish(report, actor, narrative, fig.compute(period, "ja"))
        return _("Report published. Its figures are now frozen.")
    transitions.save_narrative(report, narrative)
    return _("Comments saved.")
