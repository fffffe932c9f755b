from __future__ import annotations

from decimal import Decimal
from typing import Any

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    DecimalField,
    Field,
    IntegerField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, NumberRange, Optional, Regexp, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from app.catalog.course_files import CODE_PATTERN, CourseSpec
from app.catalog.labels import FORMAT_LABELS, KIND_LABELS, RECURRENCE_LABELS, THEME_LABELS, TRACK_LABELS
from app.core.text_safety import MultiLineText, SingleLineText
from app.org.labels import grade_label
from app.org.models import Grade
from app.web.confirmations import ConfirmForm, ConfirmMixin
from app.web.locale import lazy_gettext as _l

BODY_MAX = 50_000  # characters of a course's Markdown description


def _choices(labels: dict[str, Any]) -> list[SelectChoice]:
    return [SelectChoice(value, str(label)) for value, label in labels.items()]


def _codes(text: str | None) -> list[str]:
    return [part for part in (text or "").replace(",", " ").replace("、", " ").split() if part]


class CourseForm(FlaskForm):
    code = StringField(_l("Code"), validators=[
        DataRequired(message=_l("Enter a code.")), SingleLineText(),
        Regexp(CODE_PATTERN, message=_l("Use 1–40 letters, digits, '-', '_' or '.'."))])
    kind = SelectField(_l("Kind"), choices=[])
    title_ja = StringField(_l("Title (Japanese)"), validators=[
        DataRequired(message=_l("Enter the Japanese title.")), Length(max=200), SingleLineText()])
    title_en = StringField(_l("Title (English)"), validators=[
        DataRequired(message=_l("Enter the English title.")), Length(max=200), SingleLineText()])
    track = SelectField(_l("Track"), choices=[])
    theme = SelectField(_l("Theme"), choices=[])
    delivery_format = SelectField(_l("Format"), choices=[])
    hours = DecimalField(_l("Hours"), places=2, validators=[
        DataRequired(message=_l("Enter the hours.")),
        NumberRange(min=0, max=9999, message=_l("Enter hours from 0 to 9999."))])
    fiscal_year = IntegerField(_l("Fiscal year"), validators=[
        DataRequired(message=_l("Enter the fiscal year.")),
        NumberRange(min=2000, max=2100, message=_l("Enter a year such as 2020."))])
    target_grades = SelectMultipleField(_l("Target grades"), choices=[], option_widget=CheckboxInput(),
                                        widget=ListWidget(prefix_label=False))
    prerequisites = StringField(_l("Prerequisites (course codes)"), validators=[Optional(), Length(max=400),
                                                                                   SingleLineText()],
                                render_kw={"data-picker": "courses", "data-picker-multiple": "true"})
    min_attendance = IntegerField(_l("Minimum attendance (%)"), default=100, validators=[
        NumberRange(min=0, max=100, message=_l("Enter a percentage from 0 to 100."))])
    quiz_pass_mark = IntegerField(_l("Quiz pass mark (%)"), validators=[
        Optional(), NumberRange(min=0, max=100, message=_l("Enter a percentage from 0 to 100."))])
    survey_required = BooleanField(_l("Survey required for completion"))
    valid_for_months = IntegerField(_l("Completion valid for (months)"), validators=[
        Optional(),
        NumberRange(min=1, max=120, message=_l("Enter a number of months from 1 to 120, or leave it empty."))])
    required_courses = TextAreaField(_l("Required courses (codes)"), validators=[Optional(), Length(max=2000),
                                                                               MultiLineText()])
    elective_courses = TextAreaField(_l("Elective courses (codes)"), validators=[Optional(), Length(max=2000),
                                                                               MultiLineText()])
    electives_required = IntegerField(_l("Electives to complete"), default=0, validators=[
        Optional(), NumberRange(min=0, max=50, message=_l("Enter a number from 0 to 50."))])
    body_md = TextAreaField(_l("Description (Markdown)"), validators=[Length(max=BODY_MAX), MultiLineText()])
    change_note = StringField(_l("What changed (for the history)"), validators=[Optional(), Length(max=300),
                                                                                SingleLineText()])

    def __init__(self, grades: list[Grade], *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.kind.choices = _choices(KIND_LABELS)
        self.track.choices = _choices(TRACK_LABELS)
        self.theme.choices = _choices(THEME_LABELS)
        self.delivery_format.choices = _choices(FORMAT_LABELS)
        self.target_grades.choices = [SelectChoice(g.code, grade_label(g)) for g in grades]

    def validate(self, extra_validators: Any = None) -> bool:
        ok = super().validate(extra_validators)
        if self.kind.data == "programme":
            electives = len(_codes(self.elective_courses.data))
            if not _codes(self.required_courses.data) and not electives:
                self.required_courses.errors = [*self.required_courses.errors,
                                                _l("A programme needs at least one course.")]
                ok = False
            if (self.electives_required.data or 0) > electives:
                self.electives_required.errors = [*self.electives_required.errors,
                                                  _l("More than the elective courses listed.")]
                ok = False
        return ok

    def to_spec(self, quiz: dict[str, Any] | None = None) -> CourseSpec:
        is_programme = self.kind.data == "programme"
        items = ([(c, True) for c in _codes(self.required_courses.data)]
                 + [(c, False) for c in _codes(self.elective_courses.data)]) if is_programme else []
        hours = self.hours.data
        return CourseSpec(
            code=self.code.data.strip(), kind=self.kind.data, title_ja=self.title_ja.data.strip(),
            title_en=self.title_en.data.strip(), track=self.track.data, theme=self.theme.data,
            delivery_format=self.delivery_format.data, hours=format(hours.normalize(), "f"),
            fiscal_year=self.fiscal_year.data, target_grades=list(self.target_grades.data or []),
            prerequisites=_codes(self.prerequisites.data), min_attendance_pct=self.min_attendance.data,
            quiz_pass_mark=self.quiz_pass_mark.data, survey_required=bool(self.survey_required.data),
            body_md=(self.body_md.data or "").strip() + "\n", items=items,
            electives_required=(self.electives_required.data or 0) if is_programme else 0, quiz=quiz,
            valid_for_months=self.valid_for_months.data,
        )

    def fill_from(self, spec: CourseSpec) -> None:
        self.code.data, self.kind.data = spec.code, spec.kind
        self.title_ja.data, self.title_en.data = spec.title_ja, spec.title_en
        self.track.data, self.theme.data, self.delivery_format.data = spec.track, spec.theme, spec.delivery_format
        self.hours.data = Decimal(spec.hours)
        self.fiscal_year.data = spec.fiscal_year
        self.target_grades.data = list(spec.target_grades)
        self.prerequisites.data = " ".join(spec.prerequisites)
        self.min_attendance.data, self.quiz_pass_mark.data = spec.min_attendance_pct, spec.quiz_pass_mark
        self.survey_required.data = spec.survey_required
        self.valid_for_months.data = spec.valid_for_months
        self.required_courses.data = "\n".join(c for c, r in spec.items if r)
        self.elective_courses.data = "\n".join(c for c, r in spec.items if not r)
        self.electives_required.data = spec.electives_required
        self.body_md.data = spec.body_md


class AssignmentRuleForm(FlaskForm):
    course = SelectField(_l("Course or programme"), choices=[])
    grade = SelectField(_l("Grade"), choices=[])
    departments = SelectMultipleField(_l("Only these departments (none = all)"), choices=[],
                                      option_widget=CheckboxInput(), widget=ListWidget(prefix_label=False))
    fiscal_year = IntegerField(_l("Fiscal year"), validators=[
        DataRequired(message=_l("Enter the fiscal year.")),
        NumberRange(min=2000, max=2100, message=_l("Enter a year such as 2020."))])
    due_on = DateField(_l("Due date"), validators=[DataRequired(message=_l("Enter the due date."))])
    recurrence = SelectField(_l("Repeats"), choices=[], default="none")
    interval_months = IntegerField(_l("Every how many months"), validators=[
        Optional(), NumberRange(min=1, max=120, message=_l("Enter a number of months from 1 to 120."))])

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.recurrence.choices = _choices(RECURRENCE_LABELS)

    def validate(self, extra_validators: Any = None) -> bool:
        ok = super().validate(extra_validators)
        if self.recurrence.data == "months" and self.interval_months.data is None and not self.interval_months.errors:
            self.interval_months.errors = [*self.interval_months.errors,
                                           _l("Enter how many months apart the rule repeats.")]
            ok = False
        if self.recurrence.data != "months" and self.interval_months.data is not None:
            self.interval_months.errors = [*self.interval_months.errors,
                                           _l("Only a rule that repeats every N months takes a number of months.")]
            ok = False
        return ok


class RolloverForm(ConfirmMixin, FlaskForm):
    """Rolling the assignment rules of a fiscal year over to the next (catalog.rollover): the
    preview is a GET with `from_year`; applying it is a POST that needs `confirm` ticked and the
    preview's `fingerprint` (what it listed is what is created, or nothing is)."""

    from_year = IntegerField(_l("Fiscal year to roll over"), validators=[
        DataRequired(message=_l("Enter the fiscal year.")),
        NumberRange(min=2000, max=2099, message=_l("Enter a year such as 2026."))])
    confirm = BooleanField(_l("Create these rules for the next fiscal year"))

    def validate_confirm(self, field: Field) -> None:
        if (field.raw_data or [""])[0] != "y":
            raise ValidationError(_l("Tick the confirmation to roll the rules over."))


class RolloverPreviewForm(FlaskForm):
    """The preview's year (a GET: no CSRF, nothing is written)."""

    class Meta:
        csrf = False

    from_year = IntegerField(_l("Fiscal year to roll over"), validators=[
        DataRequired(message=_l("Enter the fiscal year.")),
        NumberRange(min=2000, max=2099, message=_l("Enter a year such as 2026."))])


class PreviewForm(FlaskForm):
    """The editor's live preview (catalog.preview): the Markdown body as typed, held to the rules of
    CourseForm.body_md, so that the preview refuses what saving would refuse."""

    body_md = TextAreaField(_l("Description (Markdown)"), validators=[
        Length(max=BODY_MAX, message=_l("Write at most %(max)d characters.")), MultiLineText()])


class RetireForm(ConfirmForm):
    """Retiring a course (catalog.retire) takes two submits: the first shows what it affects (its
    sessions ahead, its assignment rules), the second carries that preview's `fingerprint`."""
