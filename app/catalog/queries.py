"""Reads of the catalog. The list page costs a fixed number of statements whatever its size."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, and_, bindparam, exists, func, or_, select
from sqlalchemy.orm import aliased, contains_eager, joinedload, selectinload

from app.catalog.models import (
    Assignment,
    AssignmentRule,
    AssignmentStatus,
    Course,
    CourseStatus,
    CourseVersion,
    ProgrammeItem,
    course_target_grades,
)
from app.core.db import db_session
from app.core.text_search import normalize_for_search
from app.org.models import Employee


@dataclass
class CatalogFilters:
    q: str = ""
    track: str = ""
    theme: str = ""
    grade_id: int | None = None
    delivery_format: str = ""
    fiscal_year: int | None = None
    open_seats: bool = False
    include_unpublished: bool = False


def catalog_statement(filters: CatalogFilters, open_seat_course_ids: Select[Any] | None = None) -> Select[Course]:
    stmt = select(Course).options(selectinload(Course.target_grades))
    if filters.include_unpublished:
        stmt = stmt.where(Course.status != CourseStatus.RETIRED)
    else:
        stmt = stmt.where(Course.status == CourseStatus.PUBLISHED)
    for term in normalize_for_search(filters.q).split():
        stmt = stmt.where(Course.search_text.contains(term, autoescape=True))
    if filters.track:
        stmt = stmt.where(Course.track == filters.track)
    if filters.theme:
        stmt = stmt.where(Course.theme == filters.theme)
    if filters.delivery_format:
        stmt = stmt.where(Course.delivery_format == filters.delivery_format)
    if filters.fiscal_year:
        stmt = stmt.where(Course.fiscal_year == filters.fiscal_year)
    if filters.grade_id:
        stmt = stmt.where(exists().where(and_(course_target_grades.c.course_id == Course.id,
                                              course_target_grades.c.grade_id == filters.grade_id)))
    if filters.open_seats and open_seat_course_ids is not None:
        stmt = stmt.where(Course.id.in_(open_seat_course_ids))
    return stmt.order_by(Course.fiscal_year.desc(), Course.track, Course.code)


# Built once, with their values as parameters: the catalog runs them on every view.
_FISCAL_YEARS = select(Course.fiscal_year).distinct().order_by(Course.fiscal_year.desc())
_ACTIVE_ASSIGNMENTS = select(Assignment).where(
    Assignment.employee_id == bindparam("employee_id"), Assignment.status == AssignmentStatus.ACTIVE,
    Assignment.course_id.in_(bindparam("course_ids", expanding=True)))


def fiscal_years() -> list[int]:
    return list(db_session.scalars(_FISCAL_YEARS))


def active_assignments_for(employee_id: int, course_ids: list[int]) -> dict[int, Assignment]:
    if not course_ids:
        return {}
    rows = db_session.scalars(_ACTIVE_ASSIGNMENTS, {"employee_id": employee_id, "course_ids": course_ids})
    return {a.course_id: a for a in rows}


def assignment_rule_exists(course_id: int, grade_id: int, fiscal_year: int) -> bool:
    return db_session.scalar(select(AssignmentRule.id).where(
        AssignmentRule.course_id == course_id, AssignmentRule.grade_id == grade_id,
        AssignmentRule.fiscal_year == fiscal_year).limit(1)) is not None


def assignment_course_ids(employee_id: int) -> list[tuple[int, int]]:
    """(assignment id, course id) of every assignment the person has."""
    rows = db_session.execute(select(Assignment.id, Assignment.course_id).where(Assignment.employee_id == employee_id))
    return [(assignment_id, course_id) for assignment_id, course_id in rows]


def course_by_code(code: str) -> Course | None:
    return db_session.scalar(
        select(Course).where(Course.code == code).options(
            selectinload(Course.target_grades), selectinload(Course.prerequisites),
            selectinload(Course.items).selectinload(ProgrammeItem.course))
    )


def search_courses(q: str, *, limit: int) -> list[Course]:
    """Courses and programmes for a picker, drafts and retired ones too (a record of past
    training, a prerequisite still being written), in one statement: every word of `q` in the code
    or a title (hiragana finds katakana, half-width finds full-width ASCII in the English title);
    an exact code first, then the published ones, the latest fiscal year, by code. Nothing for an
    empty `q`."""
    words = q.split()
    if not words:
        return []
    stmt = select(Course)
    for word in words:
        folded = normalize_for_search(word)  # NFKC, lower case, katakana
        stmt = stmt.where(or_(
            func.lower(Course.code).contains(folded, autoescape=True),
            Course.title_ja.contains(word, autoescape=True),
            func.lower(Course.title_ja).contains(folded, autoescape=True),
            func.lower(Course.title_en).contains(folded, autoescape=True),
        ))
    exact = func.lower(Course.code) == normalize_for_search(q)
    published = Course.status == CourseStatus.PUBLISHED
    return list(db_session.scalars(stmt.order_by(exact.desc(), published.desc(), Course.fiscal_year.desc(),
                                                 Course.code).limit(limit)))


def programmes_containing(course_id: int) -> list[Course]:
    return list(db_session.scalars(
        select(Course).join(ProgrammeItem, ProgrammeItem.programme_id == Course.id)
        .where(ProgrammeItem.course_id == course_id, Course.status == CourseStatus.PUBLISHED)))


def versions_of(course_id: int) -> list[CourseVersion]:
    return list(db_session.scalars(
        select(CourseVersion).where(CourseVersion.course_id == course_id)
        .options(selectinload(CourseVersion.created_by)).order_by(CourseVersion.version.desc())))


def assignment_rules() -> list[AssignmentRule]:
    return list(db_session.scalars(
        select(AssignmentRule).options(selectinload(AssignmentRule.course), selectinload(AssignmentRule.grade),
                                       selectinload(AssignmentRule.departments))
        .order_by(AssignmentRule.fiscal_year.desc(), AssignmentRule.id)))


def assignment_counts() -> dict[int, int]:
    rows = db_session.execute(select(Assignment.rule_id, func.count()).where(
        Assignment.status == AssignmentStatus.ACTIVE).group_by(Assignment.rule_id))
    return dict(rows.all())



def assignments_with_courses(employee_id: int) -> list[Assignment]:
    """Every assignment a person has had, every cycle, with its course (one statement)."""
    return list(db_session.scalars(select(Assignment).where(Assignment.employee_id == employee_id)
                                   .options(joinedload(Assignment.course))
                                   .order_by(Assignment.course_id, Assignment.cycle)))


# --- previews of what cannot be undone (app/web/confirmations.py) -----------------------------------


def withdrawn_by_switching_off(rule: AssignmentRule) -> list[Assignment]:
    """The assignments switching `rule` off would withdraw (each person's latest cycle, still
    active), with the people, their units and grades, by employee number (one statement)."""
    later = aliased(Assignment)
    return list(db_session.scalars(
        select(Assignment).join(Employee, Assignment.employee_id == Employee.id)
        .where(Assignment.rule_id == rule.id, Assignment.status == AssignmentStatus.ACTIVE,
               ~exists().where(later.rule_id == Assignment.rule_id, later.employee_id == Assignment.employee_id,
                               later.cycle > Assignment.cycle))
        .options(contains_eager(Assignment.employee).options(joinedload(Employee.unit), joinedload(Employee.grade)))
        .order_by(Employee.employee_number)))


def active_rules_of_course(course_id: int) -> list[tuple[AssignmentRule, int]]:
    """The course's active assignment rules, each with how many people it assigns now (one
    statement)."""
    counts = (select(func.count()).where(Assignment.rule_id == AssignmentRule.id,
                                         Assignment.status == AssignmentStatus.ACTIVE)
              .correlate(AssignmentRule).scalar_subquery())
    return [(row[0], row[1]) for row in db_session.execute(
        select(AssignmentRule, counts).where(AssignmentRule.course_id == course_id,
                                             AssignmentRule.is_active.is_(True))
        .options(joinedload(AssignmentRule.grade)).order_by(AssignmentRule.fiscal_year, AssignmentRule.id))]


def staff_of_grades(grade_ids: list[int]) -> int:
    """How many active people hold one of these grades (every active person with no grades)."""
    stmt = select(func.count()).select_from(Employee).where(Employee.is_active.is_(True))
    if grade_ids:
        stmt = stmt.where(Employee.grade_id.in_(grade_ids))
    return db_session.scalar(stmt) or 0


def published_courses_page(after_code: str | None, limit: int) -> list[Course]:
    """Published courses in code order, the first `limit` after `after_code` (the API's cursor
    paging): two statements, the courses and their target grades."""
    stmt = select(Course).where(Course.status == CourseStatus.PUBLISHED).options(selectinload(Course.target_grades))
    if after_code is not None:
        stmt = stmt.where(Course.code > after_code)
    return list(db_session.scalars(stmt.order_by(Course.code).limit(limit)))


def course_row_by_code(code: str) -> Course | None:
    """The course with this code, its own row only (no grades, prerequisites or items)."""
    return db_session.scalar(select(Course).where(Course.code == code))
