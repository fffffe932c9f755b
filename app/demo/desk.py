"""What waits on each demo login's desk on the day the demo is loaded (besides today's session,
app/demo/today.py, the cohorts, app/cohorts/demo.py, and the overdue training, app/reports/demo.py):

- the employee: a waitlist place in データ活用入門's classroom session (two seats, both taken the day
  before), and the information-security e-learning begun (two of its six pages read: its closing
  quiz after the rest);
- the manager (データ活用推進課): two of their 主任 ask for a place in 主任級デジタル研修's first
  session, which needs their approval (with the request handed over by a transfer,
  app/demo/transfers.py);
- HR: two requests for 働き方改革 that their managers approved and that now wait at HR's stage;
  yesterday's confirmation mail to one of the seat holders bounced (failed, to resend from the
  outbox); and this morning's staff list import waits for the scheduler as a background job.

Requests go through enrolment as they would on the day (their notices are queued), some of them
a day earlier on the demo's clock. Idempotent: each part is made once."""
from __future__ import annotations

import csv
import io
import random
from datetime import timedelta

from sqlalchemy import select

from app.catalog.models import Course
from app.core.business_days import business_days_before
from app.core.clock import moved_to, now, today, tokyo_datetime
from app.core.db import db_session
from app.demo.organisation import demo_logins
from app.demo.past import SEED, has_place, staff_for
from app.elearning.models import ModuleProgress
from app.elearning.services import module_of, read_page, start_module
from app.enrollment.models import Enrolment
from app.enrollment.services import EnrolmentError, approve, enrol
from app.jobs.models import BackgroundJob
from app.org.jobs import KIND as STAFF_IMPORT
from app.org.jobs import queue_staff_import, stage_upload
from app.org.models import Employee, Grade, RoleGrant, RoleName, Unit
from app.org.queries import manager_of, staff_fingerprint
from app.reminders.models import DeliveryStatus, Notification
from app.reminders.outbox_log import changed
from app.scheduling.models import TrainingSession

BOUNCE = ("SMTPRecipientsRefused: {'%s': (550, b'5.1.1 <%s>: Recipient address rejected: "
          "User unknown in virtual mailbox table')}")
IMPORT_FILE = "職員名簿_{day:%Y%m%d}.csv"


def _hr() -> Employee | None:
    return db_session.scalar(select(Employee).join(RoleGrant, RoleGrant.employee_id == Employee.id)
                             .where(RoleGrant.role == RoleName.HR).order_by(Employee.id).limit(1))


def _login(role: str) -> Employee | None:
    number = next((d.login for d in demo_logins() if d.role.startswith(role)), None)
    return db_session.scalar(select(Employee).where(Employee.employee_number == number))


def _next_session(code: str) -> TrainingSession | None:
    return db_session.scalar(select(TrainingSession).join(Course).where(
        Course.code == code, TrainingSession.starts_at > now()).order_by(TrainingSession.starts_at))


def load_demo_desk() -> None:
    hr, employee, manager = _hr(), _login("employee"), _login("manager")
    if hr is None or employee is None or manager is None:
        return
    _waitlist(hr, employee, manager)
    _requests_for_the_manager(manager)
    _requests_at_hr_stage()
    _security_elearning(employee)
    _staff_import(hr)
    db_session.flush()


def _waitlist(hr: Employee, employee: Employee, manager: Employee) -> None:
    """データ活用入門's classroom session: two seats, taken yesterday (HR enrolled two 主事 who are
    overdue); the employee's manager then put them on the waitlist. One seat holder's confirmation
    mail bounced."""
    training_session = _next_session("ELEC-DATA-2020")
    if training_session is None or has_place(employee, training_session.course):
        return
    yesterday = business_days_before(today(), 1)
    holders = staff_for(training_session.course, ("SHUJI",), training_session.capacity, set(),
                        rng=random.Random(SEED + 300), not_completed=True)
    with moved_to(tokyo_datetime(yesterday, 10)):
        places = [enrol(hr, person, training_session, override_rules=True).enrolment for person in holders]
    with moved_to(max(tokyo_datetime(yesterday, 14), training_session.enrolment_opens_at + timedelta(hours=1))):
        enrol(manager, employee, training_session)
    if places:
        _bounced(places[0])


def _bounced(enrolment: Enrolment) -> None:
    """The enrolment's confirmation mail failed for good (five attempts) with the server's answer."""
    notification = db_session.scalar(select(Notification).where(
        Notification.enrolment_id == enrolment.id, Notification.kind == "enrolment_confirmed"))
    if notification is None:
        return
    address = enrolment.employee.email
    changed("failed", notification.id, notification.kind, notification.status.value, DeliveryStatus.FAILED.value, 5,
            demo=True)
    notification.status = DeliveryStatus.FAILED
    notification.attempts = 5
    notification.last_error = (BOUNCE % (address, address))[:500]
    notification.next_attempt_at = notification.due_at + timedelta(hours=2)


def _requests_for_the_manager(manager: Employee) -> None:
    """Two of the manager's 主任 ask for 主任級デジタル研修's first session (it needs approval)."""
    training_session = _next_session("DX-SHUNIN-2020")
    division = db_session.scalar(select(Unit).where(Unit.head_id == manager.id))
    if training_session is None or division is None:
        return
    employee = _login("employee")
    colleagues = db_session.scalars(select(Employee).join(Grade, Employee.grade_id == Grade.id).where(
        Employee.unit_id == division.id, Grade.code == "SHUNIN", Employee.is_active.is_(True),
        Employee.id != (employee.id if employee else 0)).order_by(Employee.id)).all()
    for index, person in enumerate(colleagues[:2]):
        if has_place(person, training_session.course):
            continue
        with moved_to(now() - timedelta(hours=2 - index)):
            enrol(person, person, training_session)


# (division, grade): who asked for 働き方改革 (it needs their manager, then HR)
HR_STAGE = (("D0302", "SHUNIN"), ("D0503", "SHUJI"))


def _requests_at_hr_stage() -> None:
    training_session = _next_session("ELEC-WORKSTYLE-2020")
    if training_session is None or db_session.scalar(select(Enrolment.id).where(
            Enrolment.session_id == training_session.id).limit(1)) is not None:
        return  # made already (nobody else in the demo asks for this session)
    for index, (division, grade) in enumerate(HR_STAGE):
        person = db_session.scalar(select(Employee).join(Grade, Employee.grade_id == Grade.id)
                                   .join(Unit, Employee.unit_id == Unit.id)
                                   .where(Unit.code == division, Grade.code == grade, Employee.is_active.is_(True),
                                          ~Employee.id.in_(select(RoleGrant.employee_id)),
                                          ~Employee.id.in_(select(Enrolment.employee_id).where(
                                              Enrolment.course_id == training_session.course_id)))
                                   .order_by(Employee.id))
        head = manager_of(person) if person is not None else None
        if person is None or head is None:
            continue
        asked = max(tokyo_datetime(business_days_before(today(), 2 - index), 9, 30),
                    training_session.enrolment_opens_at + timedelta(hours=1 + index))
        try:
            with moved_to(asked):
                request = enrol(person, person, training_session).enrolment
            with moved_to(asked + timedelta(hours=6)):
                approve(head, request)
        except EnrolmentError:
            continue


def _security_elearning(employee: Employee) -> None:
    """The employee's certificate expired (app/demo/recurrence.py): they began this year's module."""
    course = db_session.scalar(select(Course).where(Course.code == "ELEC-SECURITY-2020"))
    module = module_of(course, "main") if course is not None else None
    if course is None or module is None or db_session.scalar(select(ModuleProgress.id).where(
            ModuleProgress.employee_id == employee.id, ModuleProgress.course_id == course.id)) is not None:
        return
    started = tokyo_datetime(business_days_before(today(), 1), 12, 10)
    with moved_to(started):
        start_module(employee, course, module)
        for page in (1, 2):
            read_page(employee, course, module, page)


def _staff_import(hr: Employee) -> None:
    """This morning HR uploaded the personnel system's staff list (one e-mail address changed: a 主事
    of 環境共生課 has a new one), previewed it and applied it: the job waits for the scheduler, which
    runs it within seconds under `make run` (a demo without a scheduler shows it waiting)."""
    if db_session.scalar(select(BackgroundJob.id).where(BackgroundJob.kind == STAFF_IMPORT).limit(1)):
        return
    current = today()
    with moved_to(now() - timedelta(minutes=5)):
        staged = stage_upload(_staff_list(), filename=IMPORT_FILE.format(day=current),
                              fingerprint=staff_fingerprint())
        queue_staff_import(hr, staged, as_of=current, locale="ja")


def _staff_list() -> bytes:
    """Every active member of staff as the personnel system writes them, one address changed."""
    heads = set(db_session.scalars(select(Unit.head_id).where(Unit.head_id.is_not(None))))
    changed = db_session.scalar(select(Employee.id).join(Grade, Employee.grade_id == Grade.id)
                                .join(Unit, Employee.unit_id == Unit.id)
                                .where(Unit.code == "D0501", Grade.code == "SHUJI").order_by(Employee.id))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(["職員番号", "氏名", "氏名カナ", "メールアドレス", "職級", "所属コード", "所属長"])
    for person in db_session.scalars(select(Employee).where(Employee.is_active.is_(True),
                                                            Employee.is_external.is_(False))
                                     .order_by(Employee.employee_number)):
        if person.unit is None or person.grade is None:
            continue
        email = person.email if person.id != changed else person.email.replace("staff", "staff.new")
        writer.writerow([person.employee_number, person.name, person.name_kana, email, person.grade.code,
                         person.unit.code, "1" if person.id in heads else ""])
    return buffer.getvalue().encode("utf-8")
