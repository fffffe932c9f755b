"""Retention: personal data kept only as long as the policy allows (issue 20).

A record expires when its fiscal year (app/core/fiscal.py) lies more than the configured number of
whole fiscal years behind today's: with RETENTION_TRAINING_YEARS = 5, on any day of fiscal 2026
the records of fiscal 2020 and earlier go (2026 - 5 - 1 = 2020, i.e. kept "five years after the
fiscal year of the record"). Notifications are counted in days (they are a mailbox, not a record).

What happens to each table, and why:

- enrolments (by the fiscal year of the session's start): DELETED. The database cascades the rows
  that only mean something with the enrolment: attendance marks, enrolment events, quiz attempts
  and their answers, survey receipts, matched participant-list rows. Aggregates do not need the
  rows: a published half-year report keeps its figures frozen in its snapshot (app/reports,
  HalfYearReport), and live dashboards only look at the current and recent years. Anonymising
  would leave an attendance pattern per row that could still single a person out in a small unit.
  Completions keep their own row (their enrolment_id is SET NULL) and notifications lose the link.
- self-paced quiz attempts (no enrolment; by the start of the attempt) and e-learning progress
  (by when it started): DELETED, with their answers and page views.
- survey answers: ANONYMISED, never deleted. An anonymous survey's response carries no person id
  at all (released in batches with random ids, the receipt that says who answered is a separate
  row tied to the enrolment, deleted with it); a named survey's response has its employee_id
  nulled, so every survey result keeps its counts and stays anonymous afterwards.
- cohort programmes (training years, counted from the fiscal year the cohort's programme ended: its
  last milestone's due date, or the close of applications when it has none, and never before the
  cohort's own fiscal year or its published results): the applications with their endorsements
  and answers, team membership and mentors, and every submission with its reviews (rubric scores)
  and files are DELETED. The cohort, its milestones and its teams (names, themes, the problem and
  abstract of the showcase) stay: they name nobody. Quota counts stay as figures.
- fieldwork submissions (also, by the submission's own date, training years, whatever the cohort):
  DELETED with their reviews and files; the files on disk are removed after the commit
  (idempotently: a file already gone is fine), so a rollback never loses a file whose row survives.
- completions (by the completion date): the official training record, which recertification,
  compliance and certificates read. Kept for RETENTION_COMPLETIONS_YEARS; 0 (the default) keeps
  them as long as the person's record is kept. When configured, DELETED.
- audit events (by when they happened): DELETED after RETENTION_AUDIT_YEARS.
- notifications (outbox and in-app inbox, by creation): DELETED after RETENTION_NOTIFICATIONS_DAYS
  days, except those still waiting to be sent, and except those whose row is the only thing that
  stops a daily scan (app/reminders/scans.py) from queueing the same reminder again because its
  subject is still live: a row's dedupe key is its "sent already". Kept while live: "not enrolled
  yet" / "due soon" of an active assignment not yet past due, "about to expire" of an unrevoked
  completion not yet expired, "milestone due soon" of a milestone inside the scan's 28-day window,
  the follow-up of a session that ended within the sweep's 3 days. Weekly notices carry their week
  in the key (a past week is never queued again), and the others are queued by a one-time event.
- sign-in records (RETENTION_SESSIONS_DAYS, in days, by when the record ended): signed-in sessions
  revoked or expired that long ago; sign-in and check-in throttle rows (keys of people, of unknown
  names typed, of browsers and of addresses) without a failure for that long; unlock links used or
  expired that long ago; the calendar feed token of a person deactivated that long ago: DELETED.
- uploads and background work (RETENTION_IMPORTS_DAYS, in days): participant lists of web meetings
  (the list and its rows: names, e-mail addresses, join times; the attendance marks they set stay)
  by upload; finished background jobs (their payload and result: file names, problems found) by
  when they finished, with any staff list still staged for them; staff lists previewed and never
  applied (UPLOAD_DIR/staff-imports, by the file's time): DELETED, files after the commit.

Every change is a guarded bulk statement (`WHERE id BETWEEN lo AND hi AND <expired>`), batched
by id ranges so no transaction holds a million rows, and the guard makes a second run a no-op.
`plan_retention` reads only; `apply_retention` flushes, and the edge (app/retention/cli.py)
commits, then removes the files and records one audit event with counts only. Tables left alone on
purpose: employees and their placements and roles (the person's record, kept while employed and
managed by the staff import), credentials (deleted with the person), completions (above),
published reports (figures only), pending anonymous survey answers (no date and no name on
anonymous ones; released within their session), course content and e-learning media (no person).
"""
from __future__ import annotations

import enum
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, Select, delete, func, select, update

from app.assessment.models import QuizAttempt, SurveyResponse
from app.attendance.models import ImportedParticipant, ParticipantImport
from app.audit.models import AuditEvent
from app.audit.services import record_event
from app.auth.models import LoginThrottle, LoginUnlock, UserSession
from app.catalog.models import Assignment, AssignmentStatus
from app.cohorts.models import (
    Application,
    Cohort,
    FieldworkTeam,
    Milestone,
    Review,
    Submission,
    SubmissionFile,
    TeamMember,
    team_mentors,
)
from app.completion.models import Completion
from app.core.clock import TOKYO
from app.core.db import db_session, rows_changed
from app.core.fiscal import FiscalYear, fiscal_year_of
from app.elearning.models import ModuleProgress
from app.enrollment.models import CalendarFeed, Enrolment
from app.jobs.models import FINISHED_STATES, BackgroundJob
from app.org.jobs import KIND as STAFF_IMPORT_KIND
from app.org.models import Employee
from app.reminders.models import DeliveryStatus, Notification
from app.scheduling.models import TrainingSession

BATCH = 10_000  # ids per statement
COHORT_FILES = "cohorts"  # folders under UPLOAD_DIR
STAFF_IMPORTS = "staff-imports"
_STAGED = re.compile(r"([0-9a-f]{32})\.(csv|json)")  # app/org/jobs.py: <token>.csv and <token>.json
# The windows of the scans in app/reminders/scans.py a notice's subject stays "live" in (see above).
MILESTONE_SCAN_LOOKBACK = timedelta(days=28)
FOLLOWUP_SWEEP_LOOKBACK = timedelta(days=3)


class Action(enum.StrEnum):
    DELETE = "delete"
    ANONYMISE = "anonymise"


@dataclass(frozen=True)
class RetentionPolicy:
    training_years: int = 5
    completions_years: int = 0  # 0: kept
    audit_years: int = 5
    notifications_days: int = 365
    sessions_days: int = 90
    imports_days: int = 365
    session_max_age: timedelta = timedelta(hours=12)  # SESSION_MAX_AGE_SECONDS: when a session expires

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> RetentionPolicy:
        return cls(training_years=int(config["RETENTION_TRAINING_YEARS"]),
                   completions_years=int(config["RETENTION_COMPLETIONS_YEARS"]),
                   audit_years=int(config["RETENTION_AUDIT_YEARS"]),
                   notifications_days=int(config["RETENTION_NOTIFICATIONS_DAYS"]),
                   sessions_days=int(config["RETENTION_SESSIONS_DAYS"]),
                   imports_days=int(config["RETENTION_IMPORTS_DAYS"]),
                   session_max_age=timedelta(seconds=int(config["SESSION_MAX_AGE_SECONDS"])))


@dataclass(frozen=True)
class CategoryReport:
    name: str
    action: Action
    count: int
    by_fiscal_year: dict[int, int]  # fiscal year -> rows

    def line(self) -> str:
        years = ", ".join(f"FY{year}: {n}" for year, n in sorted(self.by_fiscal_year.items()))
        return f"{self.name}: {self.action.value} {self.count}" + (f" ({years})" if years else "")


@dataclass(frozen=True)
class RetentionReport:
    today: date
    categories: list[CategoryReport]
    removed_files: int = 0

    @property
    def total(self) -> int:
        return sum(category.count for category in self.categories)

    def counts(self) -> dict[str, int]:
        return {category.name: category.count for category in self.categories}


@dataclass
class RetentionResult:
    report: RetentionReport
    files_to_remove: list[str] = field(default_factory=list)  # paths relative to UPLOAD_DIR


@dataclass(frozen=True)
class _Category:
    name: str
    action: Action
    model: Any
    id_column: Any  # integer primary key for id-range batches, or None for one statement
    dated: Any  # the column (or expression) whose fiscal year decides
    is_date: bool  # a date column rather than a UTC instant
    expired: Callable[[], ColumnElement[bool]]  # on the model's own columns (subqueries allowed)
    values: dict[str, Any] | None = None  # for ANONYMISE
    join: Callable[[Select[Any]], Select[Any]] | None = None  # to where `dated` lives


def cutoff_year(today: date, years: int) -> FiscalYear:
    """The first fiscal year still kept: records of earlier fiscal years have expired."""
    return FiscalYear(fiscal_year_of(today).year - years)


def _start(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=TOKYO)


def _bound(day: date, is_date: bool) -> date | datetime:
    return day if is_date else _start(day)


def _cohort_ended_before(first_kept: FiscalYear) -> ColumnElement[bool]:
    """On Cohort: its programme ended in a fiscal year before `first_kept` (its fiscal year, its
    application window, its published results and every milestone's due date all lie before)."""
    start = _start(first_kept.starts_on)
    later_milestone = select(Milestone.id).where(Milestone.cohort_id == Cohort.id, Milestone.due_at >= start)
    return ((Cohort.fiscal_year < first_kept.year) & (Cohort.applications_close_at < start)
            & (Cohort.results_published_at.is_(None) | (Cohort.results_published_at < start))
            & ~later_milestone.exists())


def _cohort_end() -> ColumnElement[Any]:
    """On Cohort: when its programme ended (the last milestone due, else the close of applications)."""
    last_due = (select(func.max(Milestone.due_at)).where(Milestone.cohort_id == Cohort.id)
                .correlate(Cohort).scalar_subquery())
    return func.coalesce(last_due, Cohort.applications_close_at)


def _notification_subject_live(today: date) -> ColumnElement[bool]:
    """On Notification: a scan would queue this reminder again were its row (its dedupe key) gone."""
    at = _start(today)
    context = Notification.context
    assignment = select(Assignment.id).where(
        Assignment.id == context["assignment_id"].as_integer(), Assignment.status == AssignmentStatus.ACTIVE,
        Assignment.due_on >= today)
    completion = select(Completion.id).where(
        Completion.id == context["completion_id"].as_integer(), Completion.revoked_at.is_(None),
        Completion.valid_until >= today)
    milestone = select(Milestone.id).where(
        Milestone.id == context["milestone_id"].as_integer(), Milestone.due_at > at - MILESTONE_SCAN_LOOKBACK)
    followup = select(Enrolment.id).join(TrainingSession, TrainingSession.id == Enrolment.session_id).where(
        Enrolment.id == Notification.enrolment_id, TrainingSession.ends_at > at - FOLLOWUP_SWEEP_LOOKBACK)
    return ((Notification.kind.in_(["assignment_not_enrolled", "assignment_due_soon"]) & assignment.exists())
            | ((Notification.kind == "completion_expiring") & completion.exists())
            | ((Notification.kind == "cohort_milestone_due") & milestone.exists())
            | ((Notification.kind == "followup_todo") & followup.exists()))


def _categories(policy: RetentionPolicy, today: date) -> list[_Category]:
    training_year = cutoff_year(today, policy.training_years)
    training = training_year.starts_on
    audit = cutoff_year(today, policy.audit_years).starts_on
    notices = _start(today) - timedelta(days=policy.notifications_days)
    signed_in = _start(today) - timedelta(days=policy.sessions_days)
    imports = _start(today) - timedelta(days=policy.imports_days)
    old_sessions = select(TrainingSession.id).where(TrainingSession.starts_at < _start(training))
    old_cohorts = select(Cohort.id).where(_cohort_ended_before(training_year))
    old_cohort_milestones = select(Milestone.id).where(Milestone.cohort_id.in_(old_cohorts))
    old_cohort_teams = select(FieldworkTeam.id).where(FieldworkTeam.cohort_id.in_(old_cohorts))

    def old_submission() -> ColumnElement[bool]:
        return (Submission.submitted_at < _start(training)) | Submission.milestone_id.in_(old_cohort_milestones)

    old_submissions = select(Submission.id).where(old_submission())

    def by_submission(statement: Select[Any], model: Any) -> Select[Any]:
        return statement.join(Submission, Submission.id == model.submission_id)

    def by_cohort(statement: Select[Any], cohort_id: Any) -> Select[Any]:
        return statement.join(Cohort, Cohort.id == cohort_id)

    categories = [
        _Category("enrolments", Action.DELETE, Enrolment, Enrolment.id, TrainingSession.starts_at, False,
                  lambda: Enrolment.session_id.in_(old_sessions),
                  join=lambda s: s.join(TrainingSession, TrainingSession.id == Enrolment.session_id)),
        _Category("self-paced quiz attempts", Action.DELETE, QuizAttempt, QuizAttempt.id, QuizAttempt.started_at,
                  False, lambda: QuizAttempt.enrolment_id.is_(None) & (QuizAttempt.started_at < _start(training))),
        _Category("e-learning progress", Action.DELETE, ModuleProgress, ModuleProgress.id,
                  ModuleProgress.started_at, False, lambda: ModuleProgress.started_at < _start(training)),
        _Category("named survey answers", Action.ANONYMISE, SurveyResponse, None, SurveyResponse.released_on, True,
                  lambda: SurveyResponse.employee_id.is_not(None) & (SurveyResponse.released_on < training),
                  values={"employee_id": None}),
        _Category("fieldwork files", Action.DELETE, SubmissionFile, SubmissionFile.id, Submission.submitted_at,
                  False, lambda: SubmissionFile.submission_id.in_(old_submissions),
                  join=lambda s: by_submission(s, SubmissionFile)),
        _Category("fieldwork reviews", Action.DELETE, Review, Review.id, Submission.submitted_at, False,
                  lambda: Review.submission_id.in_(old_submissions), join=lambda s: by_submission(s, Review)),
        _Category("fieldwork submissions", Action.DELETE, Submission, Submission.id, Submission.submitted_at,
                  False, old_submission),
        _Category("cohort team members", Action.DELETE, TeamMember, TeamMember.id, _cohort_end(), False,
                  lambda: TeamMember.cohort_id.in_(old_cohorts), join=lambda s: by_cohort(s, TeamMember.cohort_id)),
        _Category("cohort team mentors", Action.DELETE, team_mentors, None, _cohort_end(), False,
                  lambda: team_mentors.c.team_id.in_(old_cohort_teams),
                  join=lambda s: by_cohort(s.join(FieldworkTeam, FieldworkTeam.id == team_mentors.c.team_id),
                                           FieldworkTeam.cohort_id)),
        _Category("cohort applications", Action.DELETE, Application, Application.id, _cohort_end(), False,
                  lambda: Application.cohort_id.in_(old_cohorts),
                  join=lambda s: by_cohort(s, Application.cohort_id)),
    ]
    if policy.completions_years > 0:
        completions = cutoff_year(today, policy.completions_years).starts_on
        categories.append(_Category("completions", Action.DELETE, Completion, Completion.id, Completion.completed_on,
                                    True, lambda: Completion.completed_on < completions))
    live_subject = _notification_subject_live(today)
    left = select(Employee.id).where(Employee.is_active.is_(False), Employee.deactivated_at < signed_in)
    throttle_last = func.coalesce(LoginThrottle.last_failure_at, LoginThrottle.window_started_at)
    old_lists = select(ParticipantImport.id).where(ParticipantImport.uploaded_at < imports)
    job_done = func.coalesce(BackgroundJob.finished_at, BackgroundJob.created_at)
    categories += [
        _Category("audit events", Action.DELETE, AuditEvent, AuditEvent.id, AuditEvent.occurred_at, False,
                  lambda: AuditEvent.occurred_at < _start(audit)),
        _Category("notifications", Action.DELETE, Notification, Notification.id, Notification.created_at, False,
                  lambda: Notification.status.not_in([DeliveryStatus.PENDING, DeliveryStatus.SENDING])
                  & (Notification.created_at < notices) & ~live_subject),
        _Category("signed-in sessions", Action.DELETE, UserSession, UserSession.id, UserSession.created_at, False,
                  lambda: (UserSession.revoked_at < signed_in)
                  | (UserSession.created_at < signed_in - policy.session_max_age)),
        _Category("sign-in throttles", Action.DELETE, LoginThrottle, None, throttle_last, False,
                  lambda: throttle_last < signed_in),
        _Category("sign-in unlock links", Action.DELETE, LoginUnlock, LoginUnlock.id, LoginUnlock.created_at, False,
                  lambda: (LoginUnlock.used_at < signed_in) | (LoginUnlock.expires_at < signed_in)),
        _Category("calendar feeds of people who left", Action.DELETE, CalendarFeed, CalendarFeed.employee_id,
                  CalendarFeed.created_at, False, lambda: CalendarFeed.employee_id.in_(left)),
        _Category("participant list rows", Action.DELETE, ImportedParticipant, ImportedParticipant.id,
                  ParticipantImport.uploaded_at, False, lambda: ImportedParticipant.import_id.in_(old_lists),
                  join=lambda s: s.join(ParticipantImport, ParticipantImport.id == ImportedParticipant.import_id)),
        _Category("participant lists", Action.DELETE, ParticipantImport, ParticipantImport.id,
                  ParticipantImport.uploaded_at, False, lambda: ParticipantImport.uploaded_at < imports),
        _Category("background jobs", Action.DELETE, BackgroundJob, BackgroundJob.id, job_done, False,
                  lambda: BackgroundJob.state.in_(list(FINISHED_STATES)) & (job_done < imports)),
    ]
    return categories


def _joined(category: _Category, statement: Select[Any]) -> Select[Any]:
    """`statement` over the category's rows, joined to where its date lives."""
    if category.join is not None:
        statement = category.join(statement)
    return statement.where(category.expired())


def _count_by_fiscal_year(category: _Category) -> dict[int, int]:
    first = db_session.scalar(_joined(category, select(func.min(category.dated)).select_from(category.model)))
    last = db_session.scalar(_joined(category, select(func.max(category.dated)).select_from(category.model)))
    if first is None or last is None:
        return {}
    if isinstance(first, datetime) and first.tzinfo is None:  # SQLite hands back naive UTC
        first, last = first.replace(tzinfo=UTC), last.replace(tzinfo=UTC)
    counts: dict[int, int] = {}
    for year in range(fiscal_year_of(first).year, fiscal_year_of(last).year + 1):
        fiscal = FiscalYear(year)
        within = (category.dated >= _bound(fiscal.starts_on, category.is_date)) & (
            category.dated < _bound(FiscalYear(year + 1).starts_on, category.is_date))
        n = db_session.scalar(_joined(category, select(func.count()).select_from(category.model)).where(within)) or 0
        if n:
            counts[year] = n
    return counts


def _staged_uploads(upload_dir: Path | None, before: datetime) -> dict[str, datetime]:
    """Staff lists previewed and never applied, older than `before`: token -> the file's time. A
    token with a job is the job's: removed with a finished job's row (or by its cleanup)."""
    folder = upload_dir / STAFF_IMPORTS if upload_dir is not None else None
    if folder is None or not folder.is_dir():
        return {}
    found: dict[str, datetime] = {}
    for path in folder.iterdir():
        match = _STAGED.fullmatch(path.name)
        if match is None:
            continue
        try:
            at = datetime.fromtimestamp(path.stat().st_mtime, UTC)
        except OSError:  # removed meanwhile
            continue
        token = match.group(1)
        found[token] = max(at, found.get(token, at))
    waiting = {f"{STAFF_IMPORT_KIND}:{token}" for token in found}
    if waiting:
        needed = set(db_session.scalars(select(BackgroundJob.dedupe_key).where(
            BackgroundJob.dedupe_key.in_(sorted(waiting)))))
    else:
        needed = set()
    return {token: at for token, at in found.items()
            if at < before and f"{STAFF_IMPORT_KIND}:{token}" not in needed}


def _staged_report(staged: Mapping[str, datetime]) -> CategoryReport:
    by_year: dict[int, int] = {}
    for at in staged.values():
        year = fiscal_year_of(at).year
        by_year[year] = by_year.get(year, 0) + 1
    return CategoryReport("staff lists previewed, never applied", Action.DELETE, len(staged), by_year)


def _imports_before(policy: RetentionPolicy, today: date) -> datetime:
    return _start(today) - timedelta(days=policy.imports_days)


def plan_retention(policy: RetentionPolicy, today: date, upload_dir: Path | None = None) -> RetentionReport:
    """What a run would do today: rows per category and fiscal year (and, given UPLOAD_DIR, the
    staged staff lists). Reads only."""
    reports = []
    for category in _categories(policy, today):
        by_year = _count_by_fiscal_year(category)
        reports.append(CategoryReport(category.name, category.action, sum(by_year.values()), by_year))
    if upload_dir is not None:
        reports.append(_staged_report(_staged_uploads(upload_dir, _imports_before(policy, today))))
    return RetentionReport(today, reports)


def _id_ranges(category: _Category) -> Iterable[tuple[int, int]]:
    low, high = db_session.execute(_joined(category, select(func.min(category.id_column),
                                                            func.max(category.id_column))
                                           .select_from(category.model))).one()
    if low is None:
        return
    for start in range(low, high + 1, BATCH):
        yield start, start + BATCH - 1


def _apply(category: _Category) -> int:
    statement: Any
    if category.id_column is None:  # few rows, or no integer key: one statement
        if category.action is Action.DELETE:
            statement = delete(category.model).where(category.expired())
        else:
            statement = update(category.model).where(category.expired()).values(**(category.values or {}))
        return rows_changed(db_session.execute(statement.execution_options(synchronize_session=False)))
    changed = 0
    for low, high in list(_id_ranges(category)):
        guard = category.id_column.between(low, high) & category.expired()
        if category.action is Action.DELETE:
            statement = delete(category.model).where(guard)
        else:
            statement = update(category.model).where(guard).values(**(category.values or {}))
        changed += rows_changed(db_session.execute(statement.execution_options(synchronize_session=False)))
    return changed


def _staged_files(tokens: Iterable[str]) -> list[str]:
    return [f"{STAFF_IMPORTS}/{token}{suffix}" for token in sorted(set(tokens)) for suffix in (".csv", ".json")]


def apply_retention(policy: RetentionPolicy, today: date, upload_dir: Path | None = None) -> RetentionResult:
    """Delete or anonymise what has expired (flushes; the caller commits, then removes the files
    with `remove_files` and may record the run with `record_run`)."""
    report = plan_retention(policy, today, upload_dir)
    files: list[str] = []
    for category in _categories(policy, today):
        if category.model is SubmissionFile:
            files += [f"{COHORT_FILES}/{name}" for name in
                      db_session.scalars(_joined(category, select(SubmissionFile.stored_name)))]
        elif category.model is BackgroundJob:
            payloads = db_session.scalars(_joined(category, select(BackgroundJob.payload).where(
                BackgroundJob.kind == STAFF_IMPORT_KIND)))
            files += _staged_files(token for payload in payloads
                                   if isinstance(token := (payload or {}).get("token"), str)
                                   and re.fullmatch(r"[0-9a-f]{32}", token))
        _apply(category)
    if upload_dir is not None:
        files += _staged_files(_staged_uploads(upload_dir, _imports_before(policy, today)))
    db_session.expire_all()
    return RetentionResult(report, sorted(set(files)))


def remove_files(upload_dir: Path, relative_paths: Iterable[str]) -> int:
    """Remove the files of deleted rows (after the commit); a file already gone is fine. Returns
    how many were there to remove."""
    removed = 0
    for name in relative_paths:
        path = upload_dir / name
        if path.exists():
            path.unlink(missing_ok=True)
            removed += 1
    return removed


def record_run(report: RetentionReport) -> None:
    """One audit event per run that changed data: counts and fiscal years only, no personal data."""
    record_event(None, "retention.run", "retention", None,
                 after={"today": report.today.isoformat(),
                        "categories": {c.name: {"action": c.action.value, "count": c.count,
                                                "fiscal_years": sorted(c.by_fiscal_year)}
                                       for c in report.categories},
                        "files_removed": report.removed_files},
                 summary=f"retention: {report.total} rows")
