"""What assignment notices are checked and worded from, read from the catalog, completion and
enrollment domains (reminders read the others)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import select, tuple_

from app.catalog.models import Assignment, AssignmentStatus, Course
from app.completion.services import assignment_done, latest_completed_on_many
from app.core.db import db_session, rows_among
from app.enrollment.models import Enrolment, is_active_place
from app.org.models import Employee


@dataclass(frozen=True)
class AssignmentFacts:
    """What an assignment notice is checked and worded from."""

    id: int
    employee_id: int
    employee_name: str
    course_title_ja: str
    course_title_en: str
    due_on: date
    still_owed: bool  # active, and its course not completed
    enrolled: bool  # a live place on its course exists

    def values(self, locale: str) -> dict[str, str]:
        """Placeholders of assignment notices: course, due date, employee."""
        due = self.due_on
        due_text = f"{due.year}年{due.month}月{due.day}日" if locale == "ja" else due.strftime("%d %b %Y")
        title = self.course_title_en if locale == "en" and self.course_title_en else self.course_title_ja
        return {"course": title, "due_date": due_text, "employee": self.employee_name}


def assignment_facts_many(assignment_ids: set[int]) -> dict[int, AssignmentFacts]:
    """Assignments by id with completion and live places, in a few statements for any number."""
    if not assignment_ids:
        return {}
    rows = list(rows_among(
        select(Assignment.id, Assignment.employee_id, Assignment.course_id, Assignment.status, Assignment.due_on,
               Assignment.opens_on, Employee.name, Course.title_ja, Course.title_en)
        .join(Employee, Employee.id == Assignment.employee_id).join(Course, Course.id == Assignment.course_id),
        Assignment.id, assignment_ids))
    completed = latest_completed_on_many(sorted({row.employee_id for row in rows}))
    pairs = sorted({(row.employee_id, row.course_id) for row in rows})
    live: set[tuple[int, int]] = set()
    for start in range(0, len(pairs), 500):
        live.update((employee_id, course_id) for employee_id, course_id in db_session.execute(
            select(Enrolment.employee_id, Enrolment.course_id).distinct()
            .where(tuple_(Enrolment.employee_id, Enrolment.course_id).in_(pairs[start:start + 500]),
                   is_active_place())))
    return {row.id: AssignmentFacts(
        row.id, row.employee_id, row.name, row.title_ja, row.title_en or "", row.due_on,
        row.status == AssignmentStatus.ACTIVE
        and not assignment_done(row.opens_on, completed.get((row.employee_id, row.course_id))),
        (row.employee_id, row.course_id) in live) for row in rows}
