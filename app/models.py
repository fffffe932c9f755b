"""Every domain's models, imported once so Alembic and the mappers see the whole registry."""
from app.api.models import ApiIdempotencyKey, ApiRateWindow, ApiToken  # noqa: F401
from app.assessment.models import (  # noqa: F401
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
from app.attendance.models import AttendanceMark  # noqa: F401
from app.audit.models import AuditEvent  # noqa: F401
from app.auth.models import Credential, LoginThrottle, LoginUnlock, UserSession  # noqa: F401
from app.catalog.models import (  # noqa: F401
    Assignment,
    AssignmentRule,
    Course,
    CourseVersion,
    ProgrammeItem,
)
from app.cohorts.models import (  # noqa: F401
    Application,
    Cohort,
    DepartmentCap,
    FieldworkTeam,
    Milestone,
    Review,
    Submission,
    SubmissionFile,
    TeamMember,
)
from app.completion.models import Completion  # noqa: F401
from app.core.models import SchedulerJobRun, SchedulerLease  # noqa: F401
from app.elearning.models import Media, ModuleProgress, PageView  # noqa: F401
from app.enrollment.models import CalendarFeed, Enrolment, EnrolmentEvent  # noqa: F401
from app.jobs.models import BackgroundJob  # noqa: F401
from app.org.models import Employee, Grade, Placement, RoleGrant, Unit  # noqa: F401
from app.reminders.models import KindSetting, MessageTemplate, Notification, OptOut  # noqa: F401
from app.reports.models import CoursePlan, HalfYearReport  # noqa: F401
from app.scheduling.models import Meeting, TrainingSession  # noqa: F401
