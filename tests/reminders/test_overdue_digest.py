"""Heads get one weekly list of their team's overdue training, not one mail per item (issue 17:
161 mails to 48 heads). Through the real SMTP sink: each person still gets their own overdue
notice; the list groups the team by person with counts; a second sweep in the week sends nothing
twice; a head who turned the list off gets none."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.catalog.models import Assignment, AssignmentStatus
from app.core.clock import TOKYO
from app.core.db import db_session
from app.core.mail import SmtpTransport
from app.org.models import Employee
from app.reminders.delivery import deliver_due
from app.reminders.models import OptOut
from app.reminders.scans import scan_assignments
from tests import factories
from tests.reminders.test_notifications import office_time

HEADS = 48
EXTRA = 17  # divisions with a second 主査: 48 × (2 + 1) + 17 = 161 overdue items


@pytest.fixture
def overdue_world(ctx):  # type: ignore[no-untyped-def]
    """48 divisions, each with a head, a 主任 (two overdue courses) and a 主査 (one); 17 of them
    with a second 主査: 161 overdue assignments in all."""
    at = office_time()
    due = at.astimezone(TOKYO).date() - timedelta(days=10)
    department = factories.unit("期限超過検証部")
    heads = []
    for n in range(HEADS):
        division = factories.unit(f"検証{n:02d}課", parent=department)
        heads.append(factories.employee(division, "KACHO", heads=division, name=f"課長{n:02d}"))
        factories.employee(division, "SHUNIN", name=f"主任{n:02d}")
        factories.employee(division, "SHUSA", name=f"主査{n:02d}")
        if n < EXTRA:
            factories.employee(division, "SHUSA", name=f"主査{n:02d}b")
    both, chiefs_only = factories.course(grades=("SHUNIN", "SHUSA")), factories.course(grades=("SHUNIN",))
    for course, grade in ((both, "SHUNIN"), (both, "SHUSA"), (chiefs_only, "SHUNIN")):
        factories.assignment_rule(course, grade, due_on=due, departments=(department,))
    db_session.commit()
    return {"at": at, "heads": heads}


def _overdue_count() -> int:
    return db_session.scalar(select(func.count()).select_from(Assignment).where(
        Assignment.status == AssignmentStatus.ACTIVE)) or 0


def test_161_overdue_items_go_to_48_heads_as_48_mails(overdue_world, mail_sink):
    at = overdue_world["at"]
    assert _overdue_count() == 161
    queued = scan_assignments(at)
    assert queued == 161 + HEADS  # each person's own notice, and one list per head
    assert scan_assignments(at) == 0  # the sweep again in the same week: nothing more
    db_session.commit()
    deliver_due(at, SmtpTransport("127.0.0.1", mail_sink.port), worker="digest")

    lists = mail_sink.by_kind("overdue_team_digest")
    assert len(lists) == HEADS
    assert len({m["To"].addresses[0].display_name for m in lists}) == HEADS
    assert len(mail_sink.by_kind("assignment_overdue")) == 161  # the employee's own stays per item
    assert mail_sink.by_kind("assignment_overdue_copy") == []

    first = next(m for m in lists if m["To"].addresses[0].display_name == "課長00")
    assert "3名・4件" in first["Subject"]
    body = first.get_content()
    assert "■ 主任00（2件）" in body and "■ 主査00（1件）" in body and "■ 主査00b（1件）" in body
    assert "主任01" not in body  # only their own team
    last = next(m for m in lists if m["To"].addresses[0].display_name == f"課長{HEADS - 1}")
    assert "2名・3件" in last["Subject"]

    mail_sink.clear()
    assert scan_assignments(at) == 0
    db_session.commit()
    deliver_due(at, SmtpTransport("127.0.0.1", mail_sink.port), worker="digest")
    assert mail_sink.messages == []  # idempotent: one list per head per week


def test_a_head_who_turned_the_list_off_gets_none_and_completed_items_drop_out(overdue_world, mail_sink):
    at = overdue_world["at"]
    quiet, busy = overdue_world["heads"][0], overdue_world["heads"][1]
    db_session.add(OptOut(employee_id=quiet.id, kind="overdue_team_digest"))
    db_session.commit()
    scan_assignments(at)
    # Before the list goes out, one of the busy head's people is excused from a course.
    withdrawn = db_session.scalars(select(Assignment).join(Employee, Employee.id == Assignment.employee_id)
                                   .where(Employee.name == "主任01").order_by(Assignment.id)).first()
    assert withdrawn is not None
    withdrawn.status = AssignmentStatus.WITHDRAWN
    db_session.commit()
    deliver_due(at, SmtpTransport("127.0.0.1", mail_sink.port), worker="digest")
    names = {m["To"].addresses[0].display_name for m in mail_sink.by_kind("overdue_team_digest")}
    assert quiet.name not in names and len(names) == HEADS - 1
    busy_list = next(m for m in mail_sink.by_kind("overdue_team_digest")
                     if m["To"].addresses[0].display_name == busy.name)
    assert "■ 主任01（1件）" in busy_list.get_content()


def test_what_becomes_overdue_later_in_the_week_joins_the_unsent_list(overdue_world, mail_sink):
    at = overdue_world["at"]
    assert scan_assignments(at) == 161 + HEADS
    late = factories.course(grades=("SHUNIN",), title_ja="週の途中で期限切れの研修")
    department = overdue_world["heads"][0].unit.parent
    factories.assignment_rule(late, "SHUNIN", due_on=at.astimezone(TOKYO).date() - timedelta(days=1),
                              departments=(department,))
    assert scan_assignments(at) == HEADS  # each 主任's own notice; the heads' lists are extended, not doubled
    db_session.commit()
    deliver_due(at, SmtpTransport("127.0.0.1", mail_sink.port), worker="digest")
    lists = mail_sink.by_kind("overdue_team_digest")
    assert len(lists) == HEADS
    first = next(m for m in lists if m["To"].addresses[0].display_name == "課長00")
    assert "■ 主任00（3件）" in first.get_content() and "週の途中で期限切れの研修" in first.get_content()
