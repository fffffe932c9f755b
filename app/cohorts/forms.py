"""The forms of the cohort programme's pages. Every user-written string is checked here, at the
edge (app/core/text_safety.py); numbers and dates are parsed here (never with int(), which reads
"٣" as 3); the rules of the programme (themes, windows, quotas) stay with app/cohorts/services.py.

Pages whose number of fields depends on the data (the questions of a cohort, the departments'
caps, the criteria of a rubric) build their form class for that data: `application_form`,
`new_cohort_form`, `review_form`. Field names are those the pages have always posted.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from flask_wtf import FlaskForm
from flask_wtf.file import MultipleFileField
from werkzeug.datastructures import FileStorage
from wtforms import BooleanField, Field, SelectMultipleField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from app.catalog.models import Course
from app.core.clock import TOKYO
from app.core.text_safety import MultiLineText, SingleLineText
from app.org.labels import unit_label
from app.org.models import Grade, Unit
from app.web.confirmations import ConfirmMixin
from app.web.fields import WholeNumberField
from app.web.ids import parse_id, parse_ids, parse_int
from app.web.locale import lazy_gettext as _l

QUOTA_MAX = 100_000  # places in a cohort (or a department's cap): far more than any prefecture has staff


# --- fields ----------------------------------------------------------------------------------


class TokyoDateTimeField(StringField):
    """A date and time from an `<input type="datetime-local">`, meant in Asia/Tokyo. `data` keeps
    the text as typed; `at` is the timezone-aware instant, or None. Required: an empty or
    unreadable value is the field error `message`."""

    def __init__(self, label: Any = None, validators: Sequence[Any] | None = None, *, message: Any = None,
                 **kwargs: Any) -> None:
        super().__init__(label, validators, **kwargs)
        self.message = message or _l("Enter a date and time.")

    @property
    def at(self) -> datetime | None:
        try:
            return datetime.fromisoformat((self.data or "").strip()).replace(tzinfo=TOKYO)
        except ValueError:
            return None

    def pre_validate(self, form: Any) -> None:
        if self.at is None:
            raise ValidationError(str(self.message))


def _text(field: Field) -> str:
    return field.data if isinstance(field.data, str) else ""


# --- applying ----------------------------------------------------------------------------------


class ApplicationForm(FlaskForm):
    """Apply, change or withdraw (cohorts.detail). The theme and a missing statement are judged by
    the service, which names them; the answers are the fields `answer-0`, `answer-1` … (one per
    question of the cohort: see `application_form`)."""

    statement = TextAreaField(_l("Statement of motivation"), validators=[MultiLineText()])
    theme = StringField(_l("The theme you want to work on"), validators=[Length(max=40), SingleLineText()])
    intent = StringField(validators=[Length(max=20)])  # what the page showed: apply or edit
    action = StringField(validators=[Length(max=20)])  # the withdraw button

    question_count = 0

    def chosen_intent(self, has_application: bool) -> str:
        """"withdraw", "edit" or "apply" (what the page offered; other values count as apply)."""
        return _text(self.action) or _text(self.intent) or ("edit" if has_application else "apply")

    def answer_field(self, index: int) -> Field:
        return self[f"answer-{index}"]

    def answers(self) -> list[str]:
        return [_text(self.answer_field(i)) for i in range(self.question_count)]

    def fill_from(self, statement: str, theme: str, answers: Sequence[str]) -> None:
        self.statement.data, self.theme.data = statement, theme
        for index in range(self.question_count):
            self.answer_field(index).data = answers[index] if index < len(answers) else ""


def application_form(questions: Sequence[str], **kwargs: Any) -> ApplicationForm:
    """An ApplicationForm with one answer field per question of the cohort."""

    class CohortApplicationForm(ApplicationForm):
        question_count = len(questions)

    for index, question in enumerate(questions):
        setattr(CohortApplicationForm, f"answer-{index}", TextAreaField(question, validators=[MultiLineText()]))
    return CohortApplicationForm(**kwargs)


class EndorsementForm(FlaskForm):
    """A manager's endorsement (cohorts.endorsements); the application is loaded (404) before the
    form is judged."""

    application_id = StringField()
    decision = StringField(validators=[Length(max=20)])
    comment = StringField(_l("Comment"), validators=[Length(max=1000), MultiLineText()])

    @property
    def application_row_id(self) -> int | None:
        return parse_id(self.application_id.data)

    @property
    def is_endorsed(self) -> bool:
        return self.decision.data == "endorse"


# --- HR: opening a cohort, selection, teams, milestones ----------------------------------------


class NewCohortForm(FlaskForm):
    """Open a cohort (cohorts.manage); the department caps are the fields `cap-<unit id>` (see
    `new_cohort_form`)."""

    programme = StringField(_l("Programme"))
    name = StringField(_l("Name of the cohort"), validators=[
        DataRequired(message=_l("Give the cohort a name.")), Length(max=120), SingleLineText()])
    opens = TokyoDateTimeField(_l("Applications open"))
    closes = TokyoDateTimeField(_l("Applications close"))
    quota = WholeNumberField(_l("Quota"), minimum=1, maximum=QUOTA_MAX,
                             message=_l("Enter a quota from 1 to %(max)s.", max=QUOTA_MAX),
                             validators=[DataRequired(message=_l("Enter a quota from 1 to %(max)s.", max=QUOTA_MAX))])
    requires_endorsement = BooleanField(_l("Manager endorsement required"))
    grades = SelectMultipleField(_l("Eligible grades"), choices=[], validate_choice=False)
    questions = TextAreaField(_l("Questions on the application form (one per line)"),
                              validators=[Length(max=5000), MultiLineText()])

    programmes: Sequence[Course] = ()
    departments: Sequence[Unit] = ()

    def validate_programme(self, field: Field) -> None:
        if self.chosen_programme() is None:
            raise ValidationError(str(_l("Choose a cohort programme.")))

    def chosen_programme(self) -> Course | None:
        programme_id = parse_id(self.programme.data)
        return next((p for p in self.programmes if p.id == programme_id), None)

    def cap_field(self, department: Unit) -> WholeNumberField:
        field = self[f"cap-{department.id}"]
        assert isinstance(field, WholeNumberField)
        return field

    def caps(self) -> dict[Unit, int]:
        """The caps filled in (an empty field: no cap for that department)."""
        caps = {}
        for department in self.departments:
            cap = self.cap_field(department).number
            if cap is not None:
                caps[department] = cap
        return caps

    def chosen_grades(self, grades: Iterable[Grade]) -> list[Grade]:
        chosen = set(parse_ids(self.grades.data or []))
        return [g for g in grades if g.id in chosen]

    def question_lines(self) -> list[str]:
        return [q.strip() for q in _text(self.questions).splitlines() if q.strip()]


def new_cohort_form(programmes: Sequence[Course], departments: Sequence[Unit], **kwargs: Any) -> NewCohortForm:
    """A NewCohortForm offering these programmes, with a cap field per department."""

    class CohortOpeningForm(NewCohortForm):
        pass

    CohortOpeningForm.programmes, CohortOpeningForm.departments = tuple(programmes), tuple(departments)
    for department in departments:
        setattr(CohortOpeningForm, f"cap-{department.id}", WholeNumberField(
            unit_label(department), maximum=QUOTA_MAX, message=_l("Enter a whole number or leave it empty.")))
    return CohortOpeningForm(**kwargs)


class SelectionForm(ConfirmMixin, FlaskForm):
    """One button of the selection page (cohorts.selection): publish, or a move of one application.
    `from` is the decision the page showed; `reason` (a withdrawal's) is not typed on the page.
    Publishing takes two submits: the preview lists who is told what, its confirm carries the
    preview's `fingerprint`."""

    action = StringField(validators=[Length(max=20)])
    application_id = StringField()
    shown_decision = StringField(name="from", validators=[Length(max=20)])
    reason = StringField(_l("Reason"), validators=[Optional(), Length(max=500), SingleLineText()])

    @property
    def application_row_id(self) -> int | None:
        return parse_id(self.application_id.data)


class TeamForm(FlaskForm):
    """Form a fieldwork team (cohorts.teams). Unknown codes and numbers, a theme outside the three
    and members who are not participants are refused by the view and the service, by name."""

    name = StringField(_l("Team name"), validators=[Length(max=120), SingleLineText()])
    host_unit = StringField(_l("Host division (unit code)"), validators=[Length(max=40), SingleLineText()])
    theme = StringField(_l("Theme"), validators=[Length(max=40), SingleLineText()])
    mentors = StringField(_l("Mentors (employee numbers)"), validators=[Length(max=1000), SingleLineText()])
    members = SelectMultipleField(_l("Members"), choices=[], validate_choice=False)
    problem = TextAreaField(_l("The host division's problem"), validators=[MultiLineText()])

    def member_ids(self) -> list[int]:
        return parse_ids(self.members.data or [])

    def mentor_numbers(self) -> list[str]:
        return [n for n in _text(self.mentors).replace(",", " ").split() if n]

    def host_code(self) -> str:
        return _text(self.host_unit).strip()


class MilestoneForm(FlaskForm):
    """A milestone's due date and whether it is one per team (cohorts.set_milestone)."""

    milestone_id = StringField()
    due_at = TokyoDateTimeField(_l("Submission due"))
    per_team = BooleanField(_l("one per team"))

    @property
    def milestone_row_id(self) -> int | None:
        return parse_id(self.milestone_id.data)


# --- the work: submissions, reviews, the abstract ----------------------------------------------


class WorkForm(FlaskForm):
    """A new version of a milestone's work (cohorts.work); the files are checked by
    app/cohorts/uploads.py (size, type by content, name)."""

    milestone_id = StringField()
    text = TextAreaField(_l("Text (Markdown)"), validators=[MultiLineText()])
    files = MultipleFileField(_l("Files (PDF, Office documents, images; up to 10 MB each)"))

    @property
    def milestone_row_id(self) -> int | None:
        return parse_id(self.milestone_id.data)

    def uploads(self) -> list[FileStorage]:
        return [f for f in (self.files.data or []) if isinstance(f, FileStorage) and f.filename]


class AbstractForm(FlaskForm):
    abstract = TextAreaField(_l("Final abstract (shown on the showcase)"), validators=[MultiLineText()])


class ReviewForm(FlaskForm):
    """A mentor's review (cohorts.submission); one field `criterion-<n>` per criterion of the
    milestone's rubric (see `review_form`). A missing or unknown level is named by the service."""

    decision = StringField(validators=[Length(max=20)])
    comment = TextAreaField(_l("Comment"), validators=[MultiLineText()])

    criterion_count = 0

    @property
    def is_accepted(self) -> bool:
        return self.decision.data == "accept"

    def scores(self) -> dict[str, int]:
        """Criterion index → the level chosen, for the criteria given a level."""
        scores = {}
        for index in range(self.criterion_count):
            level = parse_int(self[f"criterion-{index}"].data)
            if level is not None:
                scores[str(index)] = level
        return scores


def review_form(rubric: Sequence[dict[str, Any]], **kwargs: Any) -> ReviewForm:
    """A ReviewForm with one level field per criterion of the rubric, and the rubric's digest
    (`rubric_version`, a hidden field) that says which rubric the page showed."""

    class RubricReviewForm(ReviewForm):
        criterion_count = len(rubric)
        rubric_version = StringField(validators=[Length(max=64)])

    for index, criterion in enumerate(rubric):
        setattr(RubricReviewForm, f"criterion-{index}", StringField(str(criterion.get("name", index + 1)),
                                                                    validators=[Length(max=10)]))
    return RubricReviewForm(**kwargs)


# --- HR: a milestone's rubric -----------------------------------------------------------------

RUBRIC_CRITERIA = 8  # slots on the page (the file format's limits: app/catalog/course_files.py)
RUBRIC_LEVELS = 5
_POINTS_MESSAGE = _l("Enter a whole number from 0 to 100.")


class RubricForm(FlaskForm):
    """A milestone's rubric: up to 8 criteria, each a name and up to 5 levels (label, points,
    description); blank rows are ignored, an all-blank form removes the rubric. Fields are
    `c<i>-name`, `c<i>-l<j>-label`, `c<i>-l<j>-points`, `c<i>-l<j>-description` (built by
    `rubric_edit_form`); every error names the criterion, the level and the field."""

    def criterion_rows(self) -> list[tuple[Field, list[tuple[Field, Field, Field]]]]:
        return [(self[f"c{i}-name"], [(self[f"c{i}-l{j}-label"], self[f"c{i}-l{j}-points"],
                                       self[f"c{i}-l{j}-description"]) for j in range(RUBRIC_LEVELS)])
                for i in range(RUBRIC_CRITERIA)]

    def fill_from(self, criteria: Sequence[dict[str, Any]]) -> None:
        for (name, levels), criterion in zip(self.criterion_rows(), criteria, strict=False):
            name.data = criterion.get("name", "")
            for (label, points, description), level in zip(levels, criterion.get("levels", []), strict=False):
                label.data, points.data = level.get("label", ""), str(level.get("points", ""))
                description.data = level.get("description", "")

    def validate(self, extra_validators: Any = None) -> bool:
        valid = super().validate(extra_validators)
        names: set[str] = set()
        for name, levels in self.criterion_rows():
            used = [row for row in levels if any(_text(f).strip() for f in row)]
            title = _text(name).strip()
            if not title and not used:
                continue  # a blank criterion
            if not title:
                name.errors = [*name.errors, _l("Enter a name for this criterion.")]
            elif title in names:
                name.errors = [*name.errors, _l("Another criterion has this name.")]
            elif len(used) < 2:
                name.errors = [*name.errors, _l("Give this criterion at least two levels.")]
            names.add(title)
            for label, points, description in used:
                if not _text(label).strip():
                    label.errors = [*label.errors, _l("Enter a label for this level.")]
                if not _text(points).strip():
                    points.errors = [*points.errors, _POINTS_MESSAGE]
                if not _text(description).strip():
                    description.errors = [*description.errors, _l("Describe what earns this level.")]
            valid = valid and not name.errors and not any(f.errors for row in used for f in row)
        return valid

    def criteria(self) -> list[dict[str, Any]]:
        """The filled criteria, in page order (call after `validate`)."""
        result = []
        for name, levels in self.criterion_rows():
            used = [row for row in levels if any(_text(f).strip() for f in row)]
            if _text(name).strip():
                result.append({"name": _text(name).strip(), "levels": [
                    {"label": _text(label).strip(), "points": parse_int(points.data, minimum=0, maximum=100) or 0,
                     "description": _text(description).strip()} for label, points, description in used]})
        return result


def rubric_edit_form(**kwargs: Any) -> RubricForm:
    """A RubricForm with its 8 × 5 slots; the labels say which criterion and level a field is."""

    class SlotsRubricForm(RubricForm):
        pass

    for i in range(RUBRIC_CRITERIA):
        setattr(SlotsRubricForm, f"c{i}-name", StringField(
            _l("Criterion %(n)s: name", n=i + 1), validators=[Length(max=100), SingleLineText()]))
        for j in range(RUBRIC_LEVELS):
            where = {"n": i + 1, "m": j + 1}
            setattr(SlotsRubricForm, f"c{i}-l{j}-label", StringField(
                _l("Criterion %(n)s, level %(m)s: label", **where), validators=[Length(max=40), SingleLineText()]))
            setattr(SlotsRubricForm, f"c{i}-l{j}-points", WholeNumberField(
                _l("Criterion %(n)s, level %(m)s: points", **where), message=_POINTS_MESSAGE, minimum=0, maximum=100))
            setattr(SlotsRubricForm, f"c{i}-l{j}-description", StringField(
                _l("Criterion %(n)s, level %(m)s: description", **where),
                validators=[Length(max=300), SingleLineText()]))
    return SlotsRubricForm(**kwargs)
