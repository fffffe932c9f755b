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
- fieldwork submissions (cohorts, by the submission's date, training years): DELETED with their
  reviews and files; the files on disk are removed after the commit (idempotently: a file already
  gone is fine), so a rollback never loses a file whose row survives.
- completions (by the completion date): the official training record, which recertification,
  compliance and certificates read. Kept for RETENTION_COMPLETIONS_YEARS; 0 (the default) keeps
  them as long as the person's record is kept. When configured, DELETED.
- audit events (by when they happened): DELETED after RETENTION_AUDIT_YEARS.
- notifications (outbox and in-app inbox, by creation): DELETED after RETENTION_NOTIFICATIONS_DAYS
  days, except those still waiting to be sent.

Every change is a guarded bulk statement (`WHERE id BETWEEN lo AND hi AND <expired>`), batched
by id ranges so no transaction holds a million rows, and the guard makes a second run a no-op.
`plan_retention` reads only; `apply_retention` flushes, and the edge (app/retention/cli.py)
commits, then removes the files and records one audit event with counts only.
"""
from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, Select, delete, func, select, update

from app.assessment.models import QuizAttempt, SurveyResponse
from app.audit.models import AuditEvent
from app.audit.services import record_event
from app.cohorts.models import Submission, SubmissionFile
from app.completion.models import Completion
from app.core.clock import TOKYO
from app.core.db import db_session, rows_changed
from app.core.fiscal import FiscalYear, fiscal_year_of
from app.elearning.models import ModuleProgress
from app.enrollment.models import Enrolment
from app.reminders.models import DeliveryStatus, Notification
from app.scheduling.models import TrainingSession

BATCH = 10_000  # ids per statement


class Action(enum.StrEnum):
    DELETE = "delete"
    ANONYMISE = "anonymise"


@dataclass(frozen=True)
class RetentionPolicy:
    training_years: int = 5
    completions_years: int = 0  # 0: kept
    audit_years: int = 5
    notifications_days: int = 365

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> RetentionPolicy:
        return cls(training_years=int(config["RETENTION_TRAINING_YEARS"]),
                   completions_years=int(config["RETENTION_COMPLETIONS_YEARS"]),
                   audit_years=int(config["RETENTION_AUDIT_YEARS"]),
                   notifications_days=int(config["RETENTION_NOTIFICATIONS_DAYS"]))


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
    files_to_remove: list[str] = field(default_factory=list)  # stored names under UPLOAD_DIR/cohorts


@dataclass(frozen=True)
class _Category:
    name: str
    action: Action
    model: Any
    id_column: Any  # integer primary key for id-range batches, or None for one statement
    dated: Any  # the column whose fiscal year decides
    is_date: bool  # a date column rather than a UTC instant
    expired: Callable[[], ColumnElement[bool]]  # on the model's own columns (subqueries allowed)
    values: dict[str, Any] | None = None  # for ANONYMISE


def cutoff_year(today: date, years: int) -> FiscalYear:
    """The first fiscal year still kept: records of earlier fiscal years have expired."""
    return FiscalYear(fiscal_year_of(today).year - years)


def _start(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=TOKYO)


def _bound(day: date, is_date: bool) -> date | datetime:
    return day if is_date else _start(day)


def _categories(policy: RetentionPolicy, today: date) -> list[_Category]:
    training = cutoff_year(today, policy.training_years).starts_on
    audit = cutoff_year(today, policy.audit_years).starts_on
    notices = _start(today) - timedelta(days=policy.notifications_days)
    old_sessions = select(TrainingSession.id).where(TrainingSession.starts_at < _start(training))
    old_submissions = select(Submission.id).where(Submission.submitted_at < _start(training))
    categories = [
        _Category("enrolments", Action.DELETE, Enrolment, Enrolment.id, TrainingSession.starts_at, False,
                  lambda: Enrolment.session_id.in_(old_sessions)),
        _Category("self-paced quiz attempts", Action.DELETE, QuizAttempt, QuizAttempt.id, QuizAttempt.started_at,
                  False, lambda: QuizAttempt.enrolment_id.is_(None) & (QuizAttempt.started_at < _start(training))),
        _Category("e-learning progress", Action.DELETE, ModuleProgress, ModuleProgress.id,
                  ModuleProgress.started_at, False, lambda: ModuleProgress.started_at < _start(training)),
        _Category("named survey answers", Action.ANONYMISE, SurveyResponse, None, SurveyResponse.released_on, True,
                  lambda: SurveyResponse.employee_id.is_not(None) & (SurveyResponse.released_on < training),
                  values={"employee_id": None}),
        _Category("fieldwork files", Action.DELETE, SubmissionFile, SubmissionFile.id, Submission.submitted_at,
                  False, lambda: SubmissionFile.submission_id.in_(old_submissions)),
        _Category("fieldwork submissions", Action.DELETE, Submission, Submission.id, Submission.submitted_at,
                  False, lambda: Submission.submitted_at < _start(training)),
    ]
    if policy.completions_years > 0:
        completions = cutoff_year(today, policy.completions_years).starts_on
        categories.append(_Category("completions", Action.DELETE, Completion, Completion.id, Completion.completed_on,
                                    True, lambda: Completion.completed_on < completions))
    categories += [
        _Category("audit events", Action.DELETE, AuditEvent, AuditEvent.id, AuditEvent.occurred_at, False,
                  lambda: AuditEvent.occurred_at < _start(audit)),
        _Category("notifications", Action.DELETE, Notification, Notification.id, Notification.created_at, False,
                  lambda: Notification.status.not_in([DeliveryStatus.PENDING, DeliveryStatus.SENDING])
                  & (Notification.created_at < notices)),
    ]
    return categories


def _joined(category: _Category, statement: Select[Any]) -> Select[Any]:
    """`statement` over the category's rows, joined to where its date lives."""
    if category.model is Enrolment:
        statement = statement.join(TrainingSession, TrainingSession.id == Enrolment.session_id)
    elif category.model is SubmissionFile:
        statement = statement.join(Submission, Submission.id == SubmissionFile.submission_id)
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


def plan_retention(policy: RetentionPolicy, today: date) -> RetentionReport:
    """What a run would do today: rows per category and fiscal year. Reads only."""
    reports = []
    for category in _categories(policy, today):
        by_year = _count_by_fiscal_year(category)
        reports.append(CategoryReport(category.name, category.action, sum(by_year.values()), by_year))
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
    if category.id_column is None:
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


def apply_retention(policy: RetentionPolicy, today: date) -> RetentionResult:
    """Delete or anonymise what has expired (flushes; the caller commits, then removes the files
    with `remove_files` and may record the run with `record_run`)."""
    report = plan_retention(policy, today)
    files: list[str] = []
    for category in _categories(policy, today):
        if category.model is SubmissionFile:
            files = list(db_session.scalars(_joined(category, select(SubmissionFile.stored_name))))
        _apply(category)
    db_session.expire_all()
    return RetentionResult(report, files)


def remove_files(upload_dir: Path, stored_names: Iterable[str]) -> int:
    """Remove the files of deleted rows (after the commit); a file already gone counts as removed."""
    removed = 0
    for name in stored_names:
        (upload_dir / "cohorts" / name).unlink(missing_ok=True)
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
