"""Cross-domain wiring at the edge, called explicitly by CLI commands and views.

Domains depend one way (org → auth → catalog → scheduling → enrollment → …). When an earlier
domain's page or command needs a later one (the catalog page shows sessions; a staff import
re-evaluates assignment rules), the call goes through here, so no domain imports a later one.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Select


def after_staff_import(as_of: date) -> None:
    """Re-evaluate what staff owe after the organisation changed."""
    from app.catalog.services import evaluate_all_rules

    evaluate_all_rules()


def after_demo_load() -> None:
    """Load the catalog from courses/ and the demo's assignment rules and sessions."""
    from app.catalog.demo import load_demo_catalog
    from app.scheduling.demo import load_demo_sessions

    from app.cohorts.demo import load_demo_cohort

    load_demo_catalog()
    after_catalog_sync()
    load_demo_sessions()
    load_demo_cohort()


def after_catalog_sync() -> None:
    """Quizzes written in course files become quiz rows (idempotent: unchanged sections stay)."""
    from sqlalchemy import select

    from app.assessment.quizzes import materialize_quiz
    from app.catalog.models import Course
    from app.db import db_session

    for course in db_session.scalars(select(Course).where(Course.quiz_spec.is_not(None))):
        materialize_quiz(course)


def open_seat_course_ids() -> Select[Any] | None:
    """Course ids with an upcoming, open session that has a free seat."""
    from app.scheduling.queries import open_seat_course_ids as query

    return query()


def upcoming_sessions(course_ids: list[int]) -> dict[int, list[Any]]:
    """Upcoming sessions per course for the catalog list (one statement)."""
    from app.scheduling.queries import upcoming_sessions_by_course

    return upcoming_sessions_by_course(course_ids, per_course=3)


def course_page_panel(course: Any, viewer: Any) -> Any:
    """The course page's sessions with the viewer's place and the enrol buttons."""
    from flask import render_template
    from markupsafe import Markup

    from app.enrollment.forms import EnrolForm
    from app.enrollment.queries import positions_for, viewer_enrolments
    from app.scheduling.queries import upcoming_sessions_by_course

    sessions = upcoming_sessions_by_course([course.id], per_course=30).get(course.id, [])
    mine = viewer_enrolments(viewer.id, course.id)
    return Markup(render_template(  # noqa: S704 - a rendered template, autoescaped
        "enrollment/_course_sessions.html", course=course, sessions=sessions, mine=mine,
        live={e.session_id: e for e in mine if e.is_active}, positions=positions_for(mine), form=EnrolForm()))


def completed_course_ids(employee_id: int) -> set[int]:
    """Courses this person has completed (for prerequisites); filled in by the completion domain."""
    return completed_course_ids_many([employee_id]).get(employee_id, set())


def completed_course_ids_many(employee_ids: list[int]) -> dict[int, set[int]]:
    from app.completion.services import completed_course_ids_many as query

    return query(employee_ids)


def assignment_progress(employee_id: int) -> dict[int, str]:
    """"completed" for each of the person's assignments whose course they have completed."""
    from sqlalchemy import select

    from app.catalog.models import Assignment
    from app.db import db_session

    done = completed_course_ids(employee_id)
    rows = db_session.execute(select(Assignment.id, Assignment.course_id).where(Assignment.employee_id == employee_id))
    return {assignment_id: "completed" for assignment_id, course_id in rows if course_id in done}


def enrolment_panel(enrolment: Any) -> Any:
    """The enrolment page's "after the session" part: attendance, quiz, survey, completion."""
    from flask import render_template
    from markupsafe import Markup

    from app.assessment.views import employee_quiz_summary
    from app.attendance.services import rate_of
    from app.completion.services import check_rule, valid_completion

    if enrolment.state.value != "confirmed":
        return None
    return Markup(render_template(  # noqa: S704 - a rendered template, autoescaped
        "completion/_enrolment_panel.html", enrolment=enrolment, rate=rate_of(enrolment),
        check=check_rule(enrolment), completion=valid_completion(enrolment.employee_id, enrolment.course_id),
        **employee_quiz_summary(enrolment)))


def may_join_cohort_session(employee: Any, session: Any) -> bool:
    """Cohort modules are open only to the selected participants of a cohort whose programme
    contains the session's course."""
    from sqlalchemy import select

    from app.catalog.models import ProgrammeItem
    from app.cohorts.models import Application, Cohort, Decision
    from app.db import db_session

    return db_session.scalar(
        select(Application.id).join(Cohort, Application.cohort_id == Cohort.id)
        .join(ProgrammeItem, ProgrammeItem.programme_id == Cohort.programme_id)
        .where(ProgrammeItem.course_id == session.course_id, Application.employee_id == employee.id,
               Application.decision == Decision.SELECTED, Application.is_withdrawn.is_(False)).limit(1)) is not None


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
    from sqlalchemy import select, tuple_

    from app.catalog.models import Assignment, AssignmentStatus, Course
    from app.db import db_session, rows_among
    from app.enrollment.models import ACTIVE_STATES, Enrolment
    from app.org.models import Employee

    if not assignment_ids:
        return {}
    rows = list(rows_among(
        select(Assignment.id, Assignment.employee_id, Assignment.course_id, Assignment.status, Assignment.due_on,
               Employee.name, Course.title_ja, Course.title_en)
        .join(Employee, Employee.id == Assignment.employee_id).join(Course, Course.id == Assignment.course_id),
        Assignment.id, assignment_ids))
    completed = completed_course_ids_many(sorted({row.employee_id for row in rows}))
    pairs = sorted({(row.employee_id, row.course_id) for row in rows})
    live: set[tuple[int, int]] = set()
    for start in range(0, len(pairs), 500):
        live.update(tuple(pair) for pair in db_session.execute(
            select(Enrolment.employee_id, Enrolment.course_id).distinct()
            .where(tuple_(Enrolment.employee_id, Enrolment.course_id).in_(pairs[start:start + 500]),
                   Enrolment.state.in_(ACTIVE_STATES))))
    return {row.id: AssignmentFacts(
        row.id, row.employee_id, row.name, row.title_ja, row.title_en or "", row.due_on,
        row.status == AssignmentStatus.ACTIVE and row.course_id not in completed.get(row.employee_id, set()),
        (row.employee_id, row.course_id) in live) for row in rows}
