"""Each panel of the home page runs a fixed number of SQL statements (its budget), whether the
person has one thing to do or many: everyone opens this page first thing in the morning."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Flask

from app.core.clock import now, today
from app.core.db import db_session
from app.home import panels
from app.org.models import Employee
from app.permissions import effective_roles
from tests.home.conftest import (
    People,
    give_employee_work,
    give_hr_work,
    give_manager_work,
    give_teaching_work,
)
from tests.querycount import count_statements

# The statements of each panel (see app/home/panels.py); the sign-in loader's own (the person,
# their roles and the units they head) and the page's menu are not the panels'.
# assignments, places, their meetings, check-in marks, waitlist, quizzes, e-learning, surveys, milestones
EMPLOYEE_BUDGET = 9
MANAGER_BUDGET = 3  # requests, endorsements, the team's overdue
HR_BUDGET = 5  # today's meetings, requests at HR's stage, the outbox, the compliance count, jobs
TEACHING_BUDGET = 3  # today's meetings taught, answers to grade, fieldwork to review
MANY = panels.SHOWN + 2  # more than a list shows


@dataclass
class Measured:
    panel: Any
    statements: list[str]

    @property
    def count(self) -> int:
        return len(self.statements)


def measure(app: Flask, person_id: int, read: Callable[[Employee], Any]) -> Measured:
    """Run one panel's read for the person in a request, counting only its statements."""
    with app.test_request_context("/"):
        person = db_session.get(Employee, person_id)
        assert person is not None
        effective_roles(person)  # what the sign-in loader reads with the person (not the panel's)
        with count_statements(app) as counter:
            panel = read(person)
        return Measured(panel, counter.statements)


def employee(person: Employee) -> panels.EmployeePanel:
    return panels.employee_panel(person.id, now(), today())


def test_the_employee_panel_stays_within_its_budget_with_one_or_many_of_everything(app, people: People) -> None:
    with app.app_context():
        give_employee_work(people, 1)
    few = measure(app, people.employee, employee)
    p = few.panel
    assert (len(p.due.items), p.overdue, len(p.sessions.items), len(p.waitlist.items), len(p.quizzes.items),
            len(p.modules.items), len(p.surveys.items), p.milestones.total) == (1, 1, 1, 1, 1, 1, 1, 3)
    assert p.sessions.items[0].checkin_meeting is not None  # its check-in is open: the marks are read too
    assert few.count == EMPLOYEE_BUDGET, few.statements

    with app.app_context():
        give_employee_work(people, MANY, tag="more")
    many = measure(app, people.employee, employee)
    p = many.panel
    assert [listing.total for listing in (p.due, p.sessions, p.waitlist, p.quizzes, p.modules, p.surveys)] == \
        [1 + MANY] * 6
    assert p.milestones.total == 3 * (1 + MANY)
    assert all(len(listing.items) == panels.SHOWN for listing in (p.due, p.sessions, p.waitlist, p.milestones))
    assert many.count == few.count, many.statements


def test_an_employee_with_nothing_to_do_costs_no_more_than_the_budget(app, people: People) -> None:
    nothing = measure(app, people.nobody, employee)
    assert nothing.panel.is_empty
    assert nothing.count <= EMPLOYEE_BUDGET - 2  # no meetings and no check-in marks to read


def test_the_manager_panel_stays_within_its_budget(app, people: People) -> None:
    def manager(person: Employee) -> panels.ManagerPanel:
        return panels.manager_panel(person, today())

    with app.app_context():
        give_employee_work(people, 1)
        give_manager_work(people, 1)
    few = measure(app, people.manager, manager)
    assert (few.panel.requests.total, few.panel.endorsements.total, few.panel.overdue_people.total) == (1, 1, 3)
    assert few.count == MANAGER_BUDGET, few.statements

    with app.app_context():
        give_employee_work(people, 2, tag="more")
        give_manager_work(people, MANY, tag="more")
    many = measure(app, people.manager, manager)
    assert (many.panel.requests.total, many.panel.endorsements.total) == (1 + MANY, 1 + MANY)
    assert many.panel.overdue_assignments == 3 * 3  # three people, three overdue assignments each
    assert many.count == few.count, many.statements


def test_the_hr_panel_stays_within_its_budget(app, people: People) -> None:
    def hr(person: Employee) -> panels.HRPanel:
        return panels.hr_panel(person, now(), today())

    with app.app_context():
        give_employee_work(people, 1)
        give_hr_work(people, 1)
    few = measure(app, people.hr, hr)
    p = few.panel
    assert (p.meetings.total, p.requests.total, p.failed_messages, p.stuck_messages, p.jobs.total) == (1, 1, 1, 1, 1)
    assert (p.compliance.assigned, p.compliance.overdue) == (3, 3)
    assert few.count == HR_BUDGET, few.statements

    with app.app_context():
        give_employee_work(people, MANY, tag="more")
        give_hr_work(people, MANY, tag="more")
    many = measure(app, people.hr, hr)
    p = many.panel
    assert (p.requests.total, p.failed_messages, p.stuck_messages, p.jobs.total) == (1 + MANY,) * 4
    assert many.count == few.count, many.statements


def test_the_teaching_panel_stays_within_its_budget(app, people: People) -> None:
    def teaching(person: Employee) -> panels.TeachingPanel:
        return panels.teaching_panel(person, today())

    with app.app_context():
        give_employee_work(people, 1)
        give_teaching_work(people, 1)
    few = measure(app, people.instructor, teaching)
    assert (few.panel.meetings.total, few.panel.attempts.total) == (1, 1)
    assert few.count == TEACHING_BUDGET, few.statements
    mentored = measure(app, people.mentor, teaching)
    assert mentored.panel.reviews.total == 1 and not mentored.panel.may_grade
    assert mentored.count == TEACHING_BUDGET - 1  # a mentor grades no quiz answers: that read is skipped

    with app.app_context():
        give_employee_work(people, MANY, tag="more")
        give_teaching_work(people, MANY, tag="more")
    many = measure(app, people.instructor, teaching)
    assert many.panel.attempts.total == 1 + MANY
    assert many.count == few.count, many.statements
    assert measure(app, people.mentor, teaching).panel.reviews.total == 1 + MANY
