"""A demo cohort of the smart-talent programme, open for applications now."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from app.catalog.models import Course
from app.cohorts.models import Cohort
from app.cohorts.services import CohortSettings, open_cohort
from app.core.clock import now
from app.core.db import db_session
from app.core.fiscal import fiscal_year_of
from app.org.models import Grade, Unit


def load_demo_cohort() -> None:
    programme = db_session.scalar(select(Course).where(Course.code == "SMART-2020"))
    if programme is None or db_session.scalar(select(Cohort.id).where(Cohort.programme_id == programme.id)):
        return
    start = now().replace(minute=0, second=0, microsecond=0) - timedelta(days=3)
    settings = CohortSettings(
        name="第1期", fiscal_year=fiscal_year_of(start).year, applications_open_at=start,
        applications_close_at=start + timedelta(days=17), quota=12, requires_endorsement=True,
        questions=["所属で取り組みたい業務課題は何ですか。", "これまでのデジタル活用の経験を教えてください。"])
    grades = list(db_session.scalars(select(Grade).where(Grade.code.in_(("HOSA", "SHUSA", "SHUNIN")))))
    caps = dict.fromkeys(db_session.scalars(select(Unit).where(Unit.parent_id.is_(None))), 2)
    open_cohort(None, programme, settings, grades, caps)  # type: ignore[arg-type]
    db_session.flush()
