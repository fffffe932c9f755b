"""Assignment rules are materialised per employee and follow the staff list."""
from __future__ import annotations

from datetime import date

from sqlalchemy import select

from app.catalog.models import Assignment, AssignmentStatus
from app.core.db import db_session
from app.org.services import import_staff
from tests import factories

HEADER = "employee_number,name,email,grade,unit\n"


def statuses(rule_id: int) -> dict[str, AssignmentStatus]:
    rows = db_session.execute(
        select(Assignment.status, factories.Employee.employee_number)
        .join(factories.Employee, Assignment.employee_id == factories.Employee.id)
        .where(Assignment.rule_id == rule_id))
    return {number: status for status, number in rows}


def test_rule_assigns_everyone_of_the_grade_with_the_due_date(ctx):
    department = factories.unit("総務部")
    division = factories.unit("人事課", parent=department)
    chief_a = factories.employee(division, "SHUNIN")
    chief_b = factories.employee(division, "SHUNIN")
    factories.employee(division, "KACHO")
    factories.employee(division, "SHUNIN", active=False)
    course = factories.course(grades=("SHUNIN",))
    rule = factories.assignment_rule(course, "SHUNIN", due_on=date(2021, 2, 26))
    assert statuses(rule.id) == {chief_a.employee_number: AssignmentStatus.ACTIVE,
                                 chief_b.employee_number: AssignmentStatus.ACTIVE}
    due = db_session.scalars(select(Assignment.due_on).where(Assignment.rule_id == rule.id)).all()
    assert set(due) == {date(2021, 2, 26)}


def test_rule_limited_to_departments_covers_their_whole_subtree(ctx):
    inside = factories.unit("デジタル推進局")
    inside_division = factories.unit("スマート改革推進課", parent=inside)
    outside = factories.unit("農林水産部")
    outside_division = factories.unit("水産振興課", parent=outside)
    member = factories.employee(inside_division, "SHUNIN")
    factories.employee(outside_division, "SHUNIN")
    rule = factories.assignment_rule(factories.course(), "SHUNIN", departments=[inside])
    assert set(statuses(rule.id)) == {member.employee_number}


def test_rules_follow_a_staff_import_that_transfers_promotes_and_adds(ctx):
    department = factories.unit("総務部", code="D1")
    division = factories.unit("人事課", parent=department, code="D101")
    other_department = factories.unit("県土整備部", code="D2")
    other_division = factories.unit("道路企画課", parent=other_department, code="D201")
    stays = factories.employee(division, "SHUNIN", number="500001", email="stays@pref.example.lg.jp")
    promoted = factories.employee(division, "SHUNIN", number="500002", email="promoted@pref.example.lg.jp")
    moves = factories.employee(division, "SHUNIN", number="500003", email="moves@pref.example.lg.jp")
    rule = factories.assignment_rule(factories.course(), "SHUNIN", departments=[department])
    assert set(statuses(rule.id)) == {"500001", "500002", "500003"}

    csv_text = HEADER + "\n".join([
        "500001,残る 人,stays@pref.example.lg.jp,SHUNIN,D101",
        "500002,昇任 人,promoted@pref.example.lg.jp,SHUSA,D101",      # promoted out of the grade
        "500003,異動 人,moves@pref.example.lg.jp,SHUNIN,D201",        # transferred out of the department
        "500004,新規 人,new@pref.example.lg.jp,SHUNIN,D101",          # newcomer to the grade
    ]) + "\n"
    report = import_staff(csv_text.encode(), None, as_of=date(2026, 4, 1), dry_run=False)
    assert report.ok, report.issues  # applying it re-evaluates the rules (the StaffImported event)
    db_session.commit()
    assert statuses(rule.id) == {
        "500001": AssignmentStatus.ACTIVE,
        "500002": AssignmentStatus.WITHDRAWN,
        "500003": AssignmentStatus.WITHDRAWN,
        "500004": AssignmentStatus.ACTIVE,
    }
    # History is kept: the withdrawn rows still exist with the date they stopped counting.
    withdrawn = db_session.scalars(select(Assignment).where(Assignment.rule_id == rule.id,
                                                            Assignment.status == AssignmentStatus.WITHDRAWN)).all()
    assert all(a.withdrawn_at is not None for a in withdrawn)
    assert {stays.id, promoted.id, moves.id} <= {a.employee_id for a in db_session.scalars(
        select(Assignment).where(Assignment.rule_id == rule.id))}

    # Transferred back: the same assignment is reinstated, not duplicated.
    back = csv_text.replace("500003,異動 人,moves@pref.example.lg.jp,SHUNIN,D201",
                            "500003,異動 人,moves@pref.example.lg.jp,SHUNIN,D101")
    assert import_staff(back.encode(), None, as_of=date(2026, 10, 1), dry_run=False).ok
    assert statuses(rule.id)["500003"] == AssignmentStatus.ACTIVE
    assert len(db_session.scalars(select(Assignment).where(Assignment.employee_id == moves.id)).all()) == 1
    del other_division


def test_rules_page_creates_a_rule(app, client):
    from app.org.models import RoleName

    with app.app_context():
        hr = factories.employee(roles=(RoleName.HR,))
        division = factories.unit("企画課")
        for _ in range(3):
            factories.employee(division, "KACHO")
        course = factories.course(grades=("KACHO",))
        course_id, kacho = course.id, factories.grade("KACHO").id
    factories.login_as(client, hr)
    token = factories.csrf_token(client, "/catalog/rules")
    response = client.post("/catalog/rules", data={"csrf_token": token, "course": str(course_id),
                                                   "grade": str(kacho), "fiscal_year": "2026", "due_on": "2027-02-26"})
    assert response.status_code == 302
    page = client.get("/catalog/rules").get_data(as_text=True)
    assert "3 人に受講を指定しました" in page
    # The same rule twice is refused with a message on the field.
    response = client.post("/catalog/rules", data={"csrf_token": token, "course": str(course_id),
                                                   "grade": str(kacho), "fiscal_year": "2026", "due_on": "2027-02-26"})
    assert response.status_code == 400 and "既にあります" in response.get_data(as_text=True)
