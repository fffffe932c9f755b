"""The forms of the assessment pages a person fills in: answering a quiz, grading short answers,
answering a survey. (The quiz editor's form lives with its text format, app/assessment/quiz_editor.py.)

Their fields depend on the data (the attempt's questions, the short answers to grade, the survey's
questions), so each is built for it: `quiz_answers_form`, `grading_form`, `survey_form`. Field
names are those the pages have always posted (`q<question id>`, `points-<answer id>`,
`q<position>` …). Every user-written string is checked here (app/core/text_safety.py); numbers
are read by app/web/ids.parse_int (never int(), which reads "٣" as 3).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flask_wtf import FlaskForm
from wtforms import Field, SelectMultipleField, StringField, TextAreaField
from wtforms.validators import Length, ValidationError

from app.assessment.models import Answer, Question, QuestionType, SurveyQuestion, SurveyQuestionKind
from app.core.text_safety import MultiLineText, SingleLineText
from app.web.ids import parse_int
from app.web.locale import current_language
from app.web.locale import lazy_gettext as _l

POINTS_MAX = 1000  # far above any question's points; a larger number is refused, not stored


def _sent(field: Field) -> bool:
    """Whether the page sent this field at all (an unticked radio button sends nothing)."""
    return bool(field.raw_data)


# --- answering a quiz ------------------------------------------------------------------------


class QuizAnswersForm(FlaskForm):
    """The answers of an open attempt (assessment.take_quiz): `q<question id>` per question; the
    button pressed is `action` ("save" keeps the attempt open, anything else submits it)."""

    action = StringField(validators=[Length(max=20)])

    questions: Sequence[Question] = ()

    @property
    def is_save(self) -> bool:
        return self.action.data == "save"

    def answer_field(self, question: Question) -> Field:
        return self[f"q{question.id}"]

    def responses(self) -> dict[int, object]:
        """Question id → the answer as sent, for app/assessment/quizzes.py to clean and store: the
        choices ticked of a multiple-choice question (none ticked: an empty list); any other
        question only when the page sent it (so that a saved answer is kept)."""
        responses: dict[int, object] = {}
        for question in self.questions:
            field = self.answer_field(question)
            if question.type == QuestionType.MULTIPLE:
                responses[question.id] = list(field.data or [])
            elif _sent(field):
                responses[question.id] = field.data or ""
        return responses

    def shown_over(self, saved: dict[int, Any]) -> dict[int, Any]:
        """The answers to show again after a refused POST: what was sent, in the shapes the page
        shows saved answers in, over the saved ones."""
        shown = dict(saved)
        for question in self.questions:
            field = self.answer_field(question)
            if question.type == QuestionType.MULTIPLE:
                shown[question.id] = [c for c in (parse_int(v) for v in field.data or []) if c is not None]
            elif not _sent(field):
                continue
            elif question.type == QuestionType.SINGLE:
                shown[question.id] = parse_int(field.data)
            elif question.type == QuestionType.TRUE_FALSE:
                shown[question.id] = {"true": True, "false": False}.get(field.data or "")
            else:
                shown[question.id] = field.data or ""
        return shown


def quiz_answers_form(questions: Sequence[Question], **kwargs: Any) -> QuizAnswersForm:
    """A QuizAnswersForm with a field per question of the attempt; a written answer is checked
    like any text a person writes."""

    class AttemptAnswersForm(QuizAnswersForm):
        pass

    AttemptAnswersForm.questions = tuple(questions)
    for question in questions:
        if question.type == QuestionType.MULTIPLE:
            field: Any = SelectMultipleField(question.text, choices=[], validate_choice=False)
        elif question.type == QuestionType.SHORT:
            field = TextAreaField(question.text, validators=[MultiLineText()])
        else:
            field = StringField(question.text, validators=[Length(max=10)])
        setattr(AttemptAnswersForm, f"q{question.id}", field)
    return AttemptAnswersForm(**kwargs)


# --- grading short answers ---------------------------------------------------------------------


class GradingForm(FlaskForm):
    """Points and a comment per short answer of an attempt (assessment.grade_attempt):
    `points-<answer id>`, `comment-<answer id>`, and `was-<answer id>`, the points the page
    showed (a grade saved meanwhile by someone else is not overwritten). Only the answers whose
    points were sent are graded."""

    answers: Sequence[Answer] = ()

    def points_field(self, answer: Answer) -> Field:
        return self[f"points-{answer.id}"]

    def comment_field(self, answer: Answer) -> Field:
        return self[f"comment-{answer.id}"]

    def grades(self) -> dict[int, tuple[int, str, int | None]]:
        """Answer id → (points, comment, points as the page showed them)."""
        grades: dict[int, tuple[int, str, int | None]] = {}
        for answer in self.answers:
            points_field = self.points_field(answer)
            points = parse_int(points_field.data, maximum=POINTS_MAX)
            if not _sent(points_field) or points is None:
                continue
            shown = parse_int(self[f"was-{answer.id}"].data or "", maximum=POINTS_MAX)
            grades[answer.id] = (points, self.comment_field(answer).data or "", shown)
        return grades


class _Points(StringField):
    """Points for one answer: when sent, a whole number (empty is not 0)."""

    def pre_validate(self, form: Any) -> None:
        if _sent(self) and parse_int(self.data, maximum=POINTS_MAX) is None:
            raise ValidationError(str(_l("Points must be a whole number.")))


def grading_form(answers: Sequence[Answer], **kwargs: Any) -> GradingForm:
    """A GradingForm for these answers (the short answers of one attempt)."""

    class AttemptGradingForm(GradingForm):
        pass

    AttemptGradingForm.answers = tuple(answers)
    for answer in answers:
        setattr(AttemptGradingForm, f"points-{answer.id}", _Points(_l("Points (0–%(n)s)", n=answer.question.points)))
        setattr(AttemptGradingForm, f"was-{answer.id}", StringField(validators=[Length(max=20)]))
        setattr(AttemptGradingForm, f"comment-{answer.id}", StringField(_l("Comment"), validators=[SingleLineText()]))
    return AttemptGradingForm(**kwargs)


# --- answering a survey ------------------------------------------------------------------------


class SurveyForm(FlaskForm):
    """A survey's answers (assessment.answer_survey): `q<position>` per question, a rating of 1–5
    or a text. A missing rating is named by app/assessment/surveys.py."""

    questions: Sequence[SurveyQuestion] = ()

    def answer_field(self, question: SurveyQuestion) -> Field:
        return self[f"q{question.position}"]

    def answers(self) -> dict[str, str]:
        """`q<position>` → the answer as sent ("" when nothing was chosen or written)."""
        return {f"q{q.position}": self.answer_field(q).data or "" for q in self.questions}


def survey_form(questions: Sequence[SurveyQuestion], **kwargs: Any) -> SurveyForm:
    """A SurveyForm for these questions (labelled in the page's language)."""

    class CourseSurveyForm(SurveyForm):
        pass

    CourseSurveyForm.questions = tuple(questions)
    japanese = current_language() == "ja"
    for question in questions:
        label = question.text_ja if japanese else question.text_en
        if question.kind == SurveyQuestionKind.SCALE:
            field: Any = StringField(label, validators=[Length(max=10)])
        else:
            field = TextAreaField(label, validators=[MultiLineText()])
        setattr(CourseSurveyForm, f"q{question.position}", field)
    return CourseSurveyForm(**kwargs)
