"""The demo catalog: courses/ synced, and the grade-training assignment rules of this fiscal year."""
from __future__ import annotations

from datetime import date

from sqlalchemy import select

from app.catalog.cli import DEFAULT_DIR
from app.catalog.models import AssignmentRule, Course
from app.catalog.services import create_assignment_rule, sync_catalog
from app.core.clock import today
from app.core.db import db_session
from app.core.fiscal import fiscal_year_of
from app.org.models import Grade

# (course code, grade code): chief-level and section-chief-level staff must take their digital training.
DEMO_RULES = (("DX-SHUNIN-2020", "SHUNIN"), ("DX-KACHO-2020", "KACHO"))


def load_demo_catalog() -> None:
    report = sync_catalog(DEFAULT_DIR, None)
    if report.issues:
        raise RuntimeError("courses/ has errors: " + "; ".join(str(i) for i in report.issues))
    # A course someone edited on the web in this demo stops the sync (nothing applied): loading the
    # demo again keeps their edit rather than overwrite it; the rest of the demo loads as before.
    fiscal_year = fiscal_year_of(today())
    due_on = date(fiscal_year.year + 1, 2, 26)
    for course_code, grade_code in DEMO_RULES:
        course = db_session.scalar(select(Course).where(Course.code == course_code))
        grade = db_session.scalar(select(Grade).where(Grade.code == grade_code))
        if course is None or grade is None:
            continue
        exists = db_session.scalar(select(AssignmentRule.id).where(
            AssignmentRule.course_id == course.id, AssignmentRule.grade_id == grade.id,
            AssignmentRule.fiscal_year == fiscal_year.year))
        if exists is None:
            create_assignment_rule(None, course, grade, fiscal_year.year, due_on)
    db_session.flush()
