"""Everything Manabi holds about one person, gathered for their own export and for HR's disclosure
file (開示請求, issue 20).

`collect_personal_record` reads one statement per section, never one per row, so a person with a
long history costs the same number of statements as a newcomer. Values stay raw (UTC instants,
dates, state codes); the renderers in app/privacy/exports.py turn them into Asia/Tokyo times and
labels in the reader's language.

What is left out, on purpose:
- other people's personal data: who approved, marked, graded or reviewed is not named; audit events
  the person caused about someone else keep only the action and the time;
- secrets: the password hash, session and unlock tokens, the calendar feed token;
- anonymous survey answers: they carry no person id at all (app/assessment/surveys.py), so nothing
  here can link them to anyone, and the export says so.

`EMPLOYEE_COLUMNS` names every column that refers to an employee, and what the export does with
it; tests/privacy fail when a model gains one that is not listed here.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import String, cast, literal, or_, select
from sqlalchemy.sql import Executable, Select

from app.api.models import ApiToken
from app.assessment.models import (
    Answer,
    PendingSurveyResponse,
    Question,
    Quiz,
    QuizAttempt,
    Survey,
    SurveyQuestion,
    SurveyReceipt,
    SurveyResponse,
)
from app.attendance.models import AttendanceMark, ImportedParticipant
from app.audit.models import AuditEvent
from app.audit.services import record_event
from app.auth.models import Credential, LoginUnlock, UserSession
from app.catalog.models import Assignment, Course
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
from app.core.clock import now
from app.core.db import db_session
from app.elearning.models import ModuleProgress
from app.enrollment.models import CalendarFeed, Enrolment, EnrolmentEvent
from app.org.models import Employee, Grade, Placement, RoleGrant, Unit
from app.reminders.models import Notification, OptOut
from app.scheduling.models import Meeting, TrainingSession, session_instructors

ANONYMOUS_SURVEYS_NOTE = "anonymous_survey_answers_not_linked"

# "table.column" -> the section that holds what it refers to, or why the export leaves it out.
EMPLOYEE_COLUMNS: dict[str, str] = {
    # covered: the person's own rows
    "employees.id": "profile",
    "placements.employee_id": "placements",
    "role_grants.employee_id": "profile (roles)",
    "units.head_id": "profile (units headed)",
    "credentials.employee_id": "account (when the password was set; never the hash)",
    "user_sessions.employee_id": "sign_in_sessions (never the token)",
    "login_unlocks.employee_id": "unlock_links (never the token)",
    "api_tokens.employee_id": "api_tokens (never the secret)",
    "calendar_feeds.employee_id": "account (that a feed exists; never its token)",
    "enrolments.employee_id": "enrolments, enrolment_history",
    "assignments.employee_id": "assignments",
    "quiz_attempts.employee_id": "quiz_attempts, quiz_answers",
    "completions.employee_id": "completions",
    "elearning_progress.employee_id": "elearning_progress",
    "cohort_applications.employee_id": "cohort_applications, endorsements",
    "cohort_submissions.employee_id": "submissions, submission_files, reviews_received",
    "cohort_submissions.submitted_by_id": "submissions (those they handed in for their team)",
    "fieldwork_team_members.employee_id": "fieldwork_teams",
    "fieldwork_team_mentors.employee_id": "mentoring",
    "session_instructors.employee_id": "teaching",
    "notifications.recipient_id": "notifications",
    "notification_opt_outs.employee_id": "notification_opt_outs",
    "survey_responses.employee_id": "survey_answers (named surveys only)",
    "survey_pending_responses.employee_id": "survey_answers (named surveys only, not yet released)",
    "audit_events.actor_id": "audit_events (as actor: action and time only)",
    # excluded: the person acted on someone else's record or on shared content; the row is about
    # another person (their personal data) or about the catalogue, not about this person
    "enrolments.approver_id": "excluded: another person's enrolment they approve",
    "enrolments.requested_by_id": "excluded: another person's enrolment they requested",
    "enrolment_events.actor_id": "excluded: who changed an enrolment (another person's data when not theirs)",
    "attendance_marks.marked_by_id": "excluded: marks they gave other people",
    "api_clients.created_by_id": "excluded: a system account they registered (not about them)",
    "quiz_answers.graded_by_id": "excluded: answers of other people they graded",
    "completions.recorded_by_id": "excluded: completions they recorded for other people",
    "cohort_applications.endorsed_by_id": "excluded: another person's application they endorsed",
    "cohort_applications.approver_id": "excluded: another person's application awaiting their endorsement",
    "cohort_applications.decided_by_id": "excluded: another person's application they decided",
    "cohort_reviews.mentor_id": "excluded: reviews they wrote of other people's work",
    "imported_participants.matched_by_id": "excluded: participant-list rows they matched for others",
    "participant_imports.uploaded_by_id": "excluded: a meeting's participant list (other people's data)",
    "participant_imports.applied_by_id": "excluded: a meeting's participant list (other people's data)",
    "assignment_rules.created_by_id": "excluded: a catalogue rule they created",
    "courses.web_edited_by_id": "excluded: catalogue content they edited",
    "course_versions.created_by_id": "excluded: catalogue content they edited",
    "elearning_media.uploaded_by_id": "excluded: course media they uploaded",
    "message_templates.updated_by_id": "excluded: message wording they edited",
    "half_year_reports.published_by_id": "excluded: an aggregate report they published",
    "background_jobs.created_by_id": "excluded: a technical job record (its results are elsewhere)",
}


class Rows(list[dict[str, Any]]):
    """A section's rows and the names of its columns (known even when there is no row)."""

    def __init__(self, columns: list[str], rows: list[dict[str, Any]]) -> None:
        super().__init__(rows)
        self.columns = columns


@dataclass
class Section:
    key: str
    rows: list[dict[str, Any]]

    @property
    def columns(self) -> list[str]:
        if isinstance(self.rows, Rows):
            return self.rows.columns
        return list(self.rows[0]) if self.rows else []


@dataclass
class PersonalRecord:
    employee_id: int
    employee_number: str
    name: str
    collected_at: datetime
    sections: list[Section] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def section(self, key: str) -> Section:
        return next(section for section in self.sections if section.key == key)

    def counts(self) -> dict[str, int]:
        return {section.key: len(section.rows) for section in self.sections}


class PersonNotFound(LookupError):
    pass


def _rows(stmt: Executable) -> Rows:
    result = db_session.execute(stmt).mappings()
    return Rows(list(result.keys()), [dict(row) for row in result])


def collect_personal_record(employee_id: int) -> PersonalRecord:
    """Every section of what Manabi holds about the person (one statement per section)."""
    profile = _rows(
        select(Employee.employee_number, Employee.name, Employee.name_kana,
               Employee.email, Employee.locale, Employee.is_active, Employee.is_external, Employee.deactivated_at,
               Grade.code.label("grade_code"), Grade.name.label("grade"), Unit.code.label("unit_code"),
               Unit.name.label("unit"), Credential.changed_at.label("password_set_at"),
               CalendarFeed.created_at.label("calendar_feed_created_at"))
        .select_from(Employee).outerjoin(Grade, Grade.id == Employee.grade_id)
        .outerjoin(Unit, Unit.id == Employee.unit_id)
        .outerjoin(Credential, Credential.employee_id == Employee.id)
        .outerjoin(CalendarFeed, CalendarFeed.employee_id == Employee.id)
        .where(Employee.id == employee_id))
    if not profile:
        raise PersonNotFound(employee_id)
    person = profile[0]
    record = PersonalRecord(employee_id=employee_id, employee_number=person["employee_number"],
                            name=person["name"], collected_at=now())

    def add(key: str, rows: Rows) -> None:
        record.sections.append(Section(key, rows))

    own_enrolments = select(Enrolment.id).where(Enrolment.employee_id == employee_id)
    team_ids = select(TeamMember.team_id).where(TeamMember.employee_id == employee_id)
    own_submissions = select(Submission.id).where(or_(
        Submission.employee_id == employee_id, Submission.submitted_by_id == employee_id,
        Submission.team_id.in_(team_ids)))

    add("profile", profile)
    add("roles", _rows(select(RoleGrant.role).where(RoleGrant.employee_id == employee_id).order_by(RoleGrant.role)))
    add("units_headed", _rows(select(Unit.code.label("unit_code"), Unit.name.label("unit"))
                              .where(Unit.head_id == employee_id).order_by(Unit.code)))
    add("placements", _rows(
        select(Placement.started_on, Placement.ended_on, Unit.code.label("unit_code"), Unit.name.label("unit"),
               Grade.name.label("grade"))
        .join(Unit, Unit.id == Placement.unit_id).join(Grade, Grade.id == Placement.grade_id)
        .where(Placement.employee_id == employee_id).order_by(Placement.started_on, Placement.id)))
    add("enrolments", _rows(
        select(Enrolment.id.label("enrolment_id"), Course.code.label("course_code"), Course.title_ja.label("course"),
               TrainingSession.label.label("session"), Enrolment.state, Enrolment.approval_stage,
               Enrolment.requested_at, Enrolment.confirmed_at, Enrolment.ended_at, Enrolment.end_reason)
        .join(Course, Course.id == Enrolment.course_id)
        .join(TrainingSession, TrainingSession.id == Enrolment.session_id)
        .where(Enrolment.employee_id == employee_id).order_by(Enrolment.requested_at, Enrolment.id)))
    add("enrolment_history", _rows(
        select(EnrolmentEvent.enrolment_id, EnrolmentEvent.occurred_at, EnrolmentEvent.from_state,
               EnrolmentEvent.to_state, EnrolmentEvent.note,
               (EnrolmentEvent.actor_id == employee_id).label("by_self"))
        .where(EnrolmentEvent.enrolment_id.in_(own_enrolments))
        .order_by(EnrolmentEvent.enrolment_id, EnrolmentEvent.id)))
    add("attendance", _rows(
        select(AttendanceMark.enrolment_id, Course.code.label("course_code"), Course.title_ja.label("course"),
               Meeting.starts_at.label("meeting_starts_at"), AttendanceMark.status, AttendanceMark.remark,
               AttendanceMark.source, AttendanceMark.marked_at)
        .join(Meeting, Meeting.id == AttendanceMark.meeting_id)
        .join(Enrolment, Enrolment.id == AttendanceMark.enrolment_id)
        .join(Course, Course.id == Enrolment.course_id)
        .where(Enrolment.employee_id == employee_id).order_by(Meeting.starts_at, AttendanceMark.id)))
    add("meeting_participation", _rows(
        select(ImportedParticipant.enrolment_id, ImportedParticipant.name, ImportedParticipant.email,
               ImportedParticipant.minutes, ImportedParticipant.match, ImportedParticipant.matched_at)
        .where(ImportedParticipant.enrolment_id.in_(own_enrolments)).order_by(ImportedParticipant.id)))
    add("quiz_attempts", _rows(
        select(QuizAttempt.id.label("attempt_id"), Course.code.label("course_code"), Course.title_ja.label("course"),
               QuizAttempt.attempt_no, QuizAttempt.started_at, QuizAttempt.submitted_at, QuizAttempt.timed_out,
               QuizAttempt.score, QuizAttempt.max_score, QuizAttempt.percent, QuizAttempt.passed)
        .join(Quiz, Quiz.id == QuizAttempt.quiz_id).join(Course, Course.id == Quiz.course_id)
        .where(QuizAttempt.employee_id == employee_id).order_by(QuizAttempt.started_at, QuizAttempt.id)))
    add("quiz_answers", _rows(
        select(Answer.attempt_id, Question.position.label("question_no"), Question.text.label("question"),
               Answer.response, Answer.points_awarded, Question.points.label("points_possible"),
               Answer.grader_comment)
        .join(QuizAttempt, QuizAttempt.id == Answer.attempt_id).join(Question, Question.id == Answer.question_id)
        .where(QuizAttempt.employee_id == employee_id).order_by(Answer.attempt_id, Question.position)))
    add("completions", _rows(
        select(Course.code.label("course_code"), Course.title_ja.label("course"), Completion.source,
               Completion.completed_on, Completion.cycle, Completion.valid_until, Completion.hours,
               Completion.certificate_code, Completion.evidence_note, Completion.recorded_at,
               Completion.revoked_at, Completion.revoked_reason)
        .join(Course, Course.id == Completion.course_id)
        .where(Completion.employee_id == employee_id).order_by(Completion.completed_on, Completion.id)))
    add("assignments", _rows(
        select(Course.code.label("course_code"), Course.title_ja.label("course"), Assignment.fiscal_year,
               Assignment.cycle, Assignment.opens_on, Assignment.due_on, Assignment.status, Assignment.assigned_at,
               Assignment.withdrawn_at)
        .join(Course, Course.id == Assignment.course_id)
        .where(Assignment.employee_id == employee_id).order_by(Assignment.due_on, Assignment.id)))
    add("elearning_progress", _rows(
        select(Course.code.label("course_code"), Course.title_ja.label("course"), ModuleProgress.module_key,
               ModuleProgress.state, ModuleProgress.last_page, ModuleProgress.started_at,
               ModuleProgress.pages_done_at, ModuleProgress.updated_at)
        .join(Course, Course.id == ModuleProgress.course_id)
        .where(ModuleProgress.employee_id == employee_id).order_by(ModuleProgress.started_at, ModuleProgress.id)))
    applications = _rows(
        select(Application.id.label("application_id"), Cohort.fiscal_year, Cohort.name.label("cohort"),
               Application.theme, Application.statement, Application.answers, Application.is_withdrawn,
               Application.endorsement, Application.endorsement_comment, Application.decision,
               Application.reserve_rank, Application.created_at, Application.updated_at)
        .join(Cohort, Cohort.id == Application.cohort_id)
        .where(Application.employee_id == employee_id).order_by(Application.created_at, Application.id))
    endorsement_columns = ["application_id", "cohort", "endorsement", "endorsement_comment"]
    application_columns = [c for c in applications.columns if c not in ("endorsement", "endorsement_comment")]
    add("cohort_applications", Rows(application_columns,
                                    [{c: row[c] for c in application_columns} for row in applications]))
    add("endorsements", Rows(endorsement_columns,  # the same rows: no statement of its own
                             [{c: row[c] for c in endorsement_columns} for row in applications]))
    add("fieldwork_teams", _rows(
        select(Cohort.name.label("cohort"), FieldworkTeam.name.label("team"), FieldworkTeam.theme)
        .select_from(TeamMember).join(FieldworkTeam, FieldworkTeam.id == TeamMember.team_id)
        .join(Cohort, Cohort.id == TeamMember.cohort_id)
        .where(TeamMember.employee_id == employee_id).order_by(TeamMember.id)))
    add("mentoring", _rows(
        select(Cohort.name.label("cohort"), FieldworkTeam.name.label("team"))
        .select_from(team_mentors).join(FieldworkTeam, FieldworkTeam.id == team_mentors.c.team_id)
        .join(Cohort, Cohort.id == FieldworkTeam.cohort_id)
        .where(team_mentors.c.employee_id == employee_id).order_by(FieldworkTeam.id)))
    add("teaching", _rows(
        select(Course.code.label("course_code"), Course.title_ja.label("course"),
               TrainingSession.label.label("session"))
        .select_from(session_instructors)
        .join(TrainingSession, TrainingSession.id == session_instructors.c.session_id)
        .join(Course, Course.id == TrainingSession.course_id)
        .where(session_instructors.c.employee_id == employee_id).order_by(TrainingSession.id)))
    add("submissions", _rows(
        select(Submission.id.label("submission_id"), Cohort.name.label("cohort"), Milestone.kind.label("milestone"),
               (Submission.team_id.is_not(None)).label("is_team_submission"), Submission.version, Submission.text,
               Submission.submitted_at, Submission.is_late, Submission.status,
               (Submission.submitted_by_id == employee_id).label("submitted_by_self"))
        .join(Milestone, Milestone.id == Submission.milestone_id).join(Cohort, Cohort.id == Milestone.cohort_id)
        .where(Submission.id.in_(own_submissions)).order_by(Submission.submitted_at, Submission.id)))
    add("submission_files", _rows(
        select(SubmissionFile.submission_id, SubmissionFile.original_name.label("file_name"),
               SubmissionFile.content_type, SubmissionFile.size, Submission.submitted_at,
               SubmissionFile.stored_name)
        .join(Submission, Submission.id == SubmissionFile.submission_id)
        .where(SubmissionFile.submission_id.in_(own_submissions)).order_by(SubmissionFile.id)))
    add("reviews_received", _rows(
        select(Review.submission_id, Review.accepted, Review.points, Review.max_points, Review.comment,
               Review.created_at)
        .where(Review.submission_id.in_(own_submissions)).order_by(Review.id)))
    add("notifications", _rows(
        select(Notification.kind, Notification.subject, Notification.status, Notification.created_at,
               Notification.sent_at, Notification.read_at)
        .where(Notification.recipient_id == employee_id).order_by(Notification.id)))
    add("notification_opt_outs", _rows(
        select(OptOut.kind).where(OptOut.employee_id == employee_id).order_by(OptOut.kind)))
    add("sign_in_sessions", _rows(
        select(UserSession.created_at.label("started_at"), UserSession.last_seen_at, UserSession.user_agent,
               UserSession.address, UserSession.revoked_at, UserSession.revoked_reason)
        .where(UserSession.employee_id == employee_id).order_by(UserSession.id)))
    add("unlock_links", _rows(
        select(LoginUnlock.created_at, LoginUnlock.expires_at, LoginUnlock.used_at)
        .where(LoginUnlock.employee_id == employee_id).order_by(LoginUnlock.id)))
    add("api_tokens", _rows(
        select(ApiToken.name, ApiToken.scopes, ApiToken.hint, ApiToken.created_at, ApiToken.expires_at,
               ApiToken.last_used_at, ApiToken.revoked_at)
        .where(ApiToken.employee_id == employee_id).order_by(ApiToken.id)))
    add("survey_answers", _survey_answers(employee_id))
    add("survey_receipts", _rows(
        select(SurveyReceipt.enrolment_id, Course.title_ja.label("course"), SurveyReceipt.answered_on)
        .join(Survey, Survey.id == SurveyReceipt.survey_id).join(Course, Course.id == Survey.course_id)
        .where(SurveyReceipt.enrolment_id.in_(own_enrolments)).order_by(SurveyReceipt.id)))
    add("audit_events", _audit_events(employee_id, own_submissions))
    record.notes.append(ANONYMOUS_SURVEYS_NOTE)
    return record


def _survey_answers(employee_id: int) -> Rows:
    """Named surveys only: an anonymous survey's answers hold no person id, so none can be found."""
    named = Survey.is_anonymous.is_(False)
    released = db_session.execute(
        select(SurveyResponse.survey_id, Course.title_ja.label("course"), SurveyResponse.released_on,
               SurveyResponse.answers)
        .join(Survey, Survey.id == SurveyResponse.survey_id).join(Course, Course.id == Survey.course_id)
        .where(SurveyResponse.employee_id == employee_id, named).order_by(SurveyResponse.released_on)
    ).mappings().all()
    waiting = db_session.execute(
        select(PendingSurveyResponse.survey_id, Course.title_ja.label("course"),
               literal(None).label("released_on"), PendingSurveyResponse.answers)
        .join(Survey, Survey.id == PendingSurveyResponse.survey_id).join(Course, Course.id == Survey.course_id)
        .where(PendingSurveyResponse.employee_id == employee_id, named)
    ).mappings().all()
    responses = [*released, *waiting]
    columns = ["course", "released_on", "question", "answer"]
    if not responses:
        return Rows(columns, [])
    questions = {str(q.id): q for q in db_session.scalars(
        select(SurveyQuestion).where(SurveyQuestion.survey_id.in_({r["survey_id"] for r in responses})))}
    rows = []
    for response in responses:
        for question_id, value in sorted(response["answers"].items(), key=lambda item: str(item[0])):
            question = questions.get(str(question_id))
            rows.append({"course": response["course"], "released_on": response["released_on"],
                         "question": question.text_ja if question is not None else str(question_id),
                         "answer": value})
    return Rows(columns, rows)


def _audit_events(employee_id: int, own_submissions: Select[Any]) -> Rows:
    """Events about the person (with their summary) and events they caused (action and time only:
    a summary of what they did to someone else's record is that person's data)."""
    own_enrolment_ids = select(cast(Enrolment.id, String)).where(Enrolment.employee_id == employee_id)
    own_applications = select(cast(Application.id, String)).where(Application.employee_id == employee_id)
    own_completions = select(cast(Completion.id, String)).where(Completion.employee_id == employee_id)
    about = or_(
        (AuditEvent.target_type == "employee") & (AuditEvent.target_id == str(employee_id)),
        (AuditEvent.target_type == "enrolment") & AuditEvent.target_id.in_(own_enrolment_ids),
        (AuditEvent.target_type == "cohort_application") & AuditEvent.target_id.in_(own_applications),
        (AuditEvent.target_type == "completion") & AuditEvent.target_id.in_(own_completions),
        (AuditEvent.target_type == "cohort_submission") & AuditEvent.target_id.in_(
            select(cast(Submission.id, String)).where(Submission.id.in_(own_submissions))),
    )
    rows = db_session.execute(
        select(AuditEvent.occurred_at, AuditEvent.action, AuditEvent.target_type, AuditEvent.summary,
               about.label("is_about_them"), (AuditEvent.actor_id == employee_id).label("by_self"))
        .where(or_(about, AuditEvent.actor_id == employee_id)).order_by(AuditEvent.occurred_at, AuditEvent.id)
    ).mappings().all()
    return Rows(["occurred_at", "action", "target_type", "about_them", "by_self", "summary"],
                [{"occurred_at": row["occurred_at"], "action": row["action"], "target_type": row["target_type"],
                  "about_them": bool(row["is_about_them"]), "by_self": bool(row["by_self"]),
                  "summary": row["summary"] if row["is_about_them"] else ""} for row in rows])


# --- the audit trail of exports (counts only, never the content) ---------------------------------


def record_self_export(person: Employee, file_format: str) -> None:
    record_event(person, "privacy.self_export", "employee", person.id, after={"format": file_format})


def record_disclosure(actor: Employee, person: Employee, reference: str, counts: dict[str, int],
                      files: int) -> None:
    record_event(actor, "privacy.disclosure_produced", "employee", person.id,
                 after={"reference": reference, "counts": counts, "files": files},
                 summary=f"reference {reference}")
