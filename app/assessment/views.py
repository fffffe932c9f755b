from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from app.assessment import queries, quizzes, surveys
from app.assessment.forms import GradingForm, QuizAnswersForm, SurveyForm, grading_form, quiz_answers_form, survey_form
from app.assessment.models import Question, QuestionType, Quiz, QuizAttempt, Survey
from app.assessment.quiz_editor import QuizEditorForm, questions_from_text, questions_to_text
from app.audit.services import record_event
from app.catalog.models import Course
from app.catalog.queries import course_by_code
from app.core.clock import now
from app.core.db import db_session
from app.elearning import queries as elearning_queries
from app.elearning import services as elearning_services
from app.enrollment.models import Enrolment
from app.org.models import Employee
from app.permissions import Permission, can_grade_attempt, can_view_course, is_own_enrolment, require, signed_in
from app.scheduling.queries import sessions_of_course
from app.web.charts import count_chart, render
from app.web.locale import current_language
from app.web.locale import gettext as _

bp = Blueprint("assessment", __name__)
GRADING_LIST_LIMIT = 200  # the oldest first; the page says how many more there are


def _own_enrolment(enrolment_id: int) -> Enrolment:
    """The signed-in person's own enrolment, or 404 (someone else's is not found, not forbidden)."""
    enrolment = db_session.get(Enrolment, enrolment_id)
    if enrolment is None or not is_own_enrolment(current_user, enrolment):
        abort(404)
    return enrolment


@dataclass(frozen=True)
class _Sitting:
    """Whose quiz a page is about: an enrolment's (the session's understanding quiz), or the
    signed-in person's own pace through an e-learning module that the course's quiz closes. The
    pages are the same; where they lead back to and how attempts are found differ."""

    quiz: Quiz
    back_url: str
    back_title: str
    take_url: str
    start_url: str
    result_url: str
    status: Callable[[], quizzes.QuizStatus]
    start_or_resume: Callable[[bool], QuizAttempt]  # the argument: resume only (answers being sent)


def _enrolment_sitting(enrolment_id: int) -> _Sitting:
    enrolment = _own_enrolment(enrolment_id)
    quiz = quizzes.quiz_for_course(enrolment.course_id)
    if quiz is None:
        abort(404)
    return _Sitting(
        quiz, url_for("enrollment.detail", enrolment_id=enrolment.id), enrolment.course.title(current_language()),
        url_for("assessment.take_quiz", enrolment_id=enrolment.id),
        url_for("assessment.start_quiz", enrolment_id=enrolment.id),
        url_for("assessment.quiz_result", enrolment_id=enrolment.id),
        lambda: quizzes.status_of(current_user, enrolment, quiz),
        lambda resume_only: quizzes.start_or_resume(current_user, enrolment, quiz, resume_only=resume_only))


def _self_paced_sitting(code: str, key: str) -> _Sitting:
    """The module's closing quiz, open once the person has read every page (app/elearning says)."""
    course = course_by_code(code)
    if course is None or not can_view_course(current_user, course):
        abort(404)
    module = elearning_services.module_of(course, key)
    quiz = quizzes.quiz_for_course(course.id) if module is not None and module.has_quiz else None
    if module is None or quiz is None:
        abort(404)
    progress = elearning_queries.progress_by_module(current_user.id, course.id).get(module.key)
    closed = elearning_services.quiz_closed_because(progress)
    return _Sitting(
        quiz, url_for("elearning.module", code=course.code, key=module.key), module.title(current_language()),
        url_for("assessment.self_paced_quiz", code=course.code, key=module.key),
        url_for("assessment.self_paced_start", code=course.code, key=module.key),
        url_for("assessment.self_paced_result", code=course.code, key=module.key),
        lambda: quizzes.self_paced_status(current_user, quiz, closed),
        lambda resume_only: quizzes.self_paced_start_or_resume(current_user, quiz, closed, resume_only=resume_only))


def _render_quiz(sitting: _Sitting, attempt: QuizAttempt, ordered: list[Question], form: QuizAnswersForm) -> str:
    saved = {a.question_id: a.response for a in attempt.answers}
    if form.errors:  # a refused POST: show what was sent
        saved = form.shown_over(saved)
    remaining = None if attempt.deadline_at is None else max(0, int((attempt.deadline_at - now()).total_seconds()))
    return render_template("assessment/take_quiz.html", sitting=sitting, quiz=sitting.quiz, attempt=attempt,
                           questions=ordered, saved=saved, remaining=remaining, form=form)


@bp.route("/enrolments/<int:enrolment_id>/quiz", methods=["GET", "POST"])
@signed_in
def take_quiz(enrolment_id: int) -> ResponseReturnValue:
    """GET shows the open attempt, or a page whose button starts one (`start_quiz`): looking, or
    following a link from anywhere, never starts or closes an attempt. POST saves or submits."""
    return _take(_enrolment_sitting(enrolment_id))


@bp.route("/learn/<code>/<key>/quiz", methods=["GET", "POST"])
@signed_in
def self_paced_quiz(code: str, key: str) -> ResponseReturnValue:
    """The same, for an e-learning module's closing quiz."""
    return _take(_self_paced_sitting(code, key))


def _take(sitting: _Sitting) -> ResponseReturnValue:
    quiz = sitting.quiz
    if request.method != "POST":  # GET and HEAD only look
        status = sitting.status()
        if status.open_attempt is None:
            refused = status.closed_because  # not open yet, or not theirs to take
            if refused is None and status.expired_attempt is None and not status.can_start:
                refused = quizzes.no_new_attempt(quiz, status.attempts)  # passed, or every attempt used
            if refused:
                flash(refused, "info")
                return redirect(sitting.result_url)
            return render_template("assessment/start_quiz.html", sitting=sitting, quiz=quiz, status=status)
        attempt = status.open_attempt
    else:
        try:
            attempt = sitting.start_or_resume(True)
        except quizzes.QuizError as error:
            db_session.commit()  # a timed-out attempt may have been closed
            flash(str(error), "info")
            return redirect(sitting.result_url)
        db_session.commit()
    questions = queries.questions_by_id(attempt.question_order)
    ordered = [questions[i] for i in attempt.question_order if i in questions]
    form = quiz_answers_form(ordered)
    if request.method != "POST":
        return _render_quiz(sitting, attempt, ordered, form)
    if not form.validate():
        return _render_quiz(sitting, attempt, ordered, form), 400
    try:
        if form.is_save:
            quizzes.save_answers(attempt, form.responses())
            db_session.commit()
            flash(_("Your answers so far are saved."), "success")
            return redirect(sitting.take_url)
        quizzes.submit(attempt, form.responses())
    except quizzes.QuizError as error:
        db_session.commit()
        flash(str(error), "error")
    else:
        db_session.commit()
    return redirect(sitting.result_url)


@bp.route("/enrolments/<int:enrolment_id>/quiz/start", methods=["POST"])
@signed_in
def start_quiz(enrolment_id: int) -> ResponseReturnValue:
    """The button that starts an attempt (or resumes the open one: a double click starts one).
    An attempt past its time limit is closed and marked first."""
    return _start(_enrolment_sitting(enrolment_id))


@bp.route("/learn/<code>/<key>/quiz/start", methods=["POST"])
@signed_in
def self_paced_start(code: str, key: str) -> ResponseReturnValue:
    return _start(_self_paced_sitting(code, key))


def _start(sitting: _Sitting) -> ResponseReturnValue:
    try:
        sitting.start_or_resume(False)
    except quizzes.QuizError as error:
        db_session.commit()  # a timed-out attempt may have been closed
        flash(str(error), "info")
        return redirect(sitting.result_url)
    db_session.commit()
    return redirect(sitting.take_url)


@bp.route("/enrolments/<int:enrolment_id>/quiz/result")
@signed_in
def quiz_result(enrolment_id: int) -> ResponseReturnValue:
    return _result(_enrolment_sitting(enrolment_id))


@bp.route("/learn/<code>/<key>/quiz/result")
@signed_in
def self_paced_result(code: str, key: str) -> ResponseReturnValue:
    return _result(_self_paced_sitting(code, key))


def _result(sitting: _Sitting) -> ResponseReturnValue:
    quiz = sitting.quiz
    status = sitting.status()
    attempts = status.attempts
    last = next((a for a in reversed(attempts) if a.submitted_at is not None), None)
    questions = queries.questions_by_id(last.question_order) if last is not None else {}
    return render_template("assessment/quiz_result.html", sitting=sitting, quiz=quiz, attempts=attempts,
                           last=last, questions=questions, status=status,
                           show_answers=quizzes.answers_visible(quiz, attempts))


@bp.route("/grading")
@require(Permission.ASSESSMENT_GRADE)
def grading() -> ResponseReturnValue:
    """Attempts with short answers waiting, with whose they are and the course (one statement)."""
    attempts, total = queries.attempts_to_grade_for(current_user, GRADING_LIST_LIMIT)
    return render_template("assessment/grading.html", attempts=attempts, total=total)


@bp.route("/grading/attempts/<int:attempt_id>", methods=["GET", "POST"])
@require(Permission.ASSESSMENT_GRADE)
def grade_attempt(attempt_id: int) -> ResponseReturnValue:
    attempt = db_session.get(QuizAttempt, attempt_id)
    if attempt is None:
        abort(404)
    if not can_grade_attempt(current_user, attempt):
        abort(403)  # instructors grade their own sessions' attempts; HR grades any
    if not attempt.needs_grading or attempt.submitted_at is None:
        flash(_("This attempt has already been graded."), "error")
        return redirect(url_for("assessment.grading"))
    form = grading_form([a for a in attempt.answers if a.question.type == QuestionType.SHORT])
    if request.method != "POST":
        return _render_grading(attempt, form)
    if not form.validate():
        return _render_grading(attempt, form), 400
    try:
        quizzes.grade_attempt(current_user, attempt, form.grades())
    except quizzes.Stale as error:  # another grader saved first
        db_session.rollback()
        flash(str(error), "error")
        return redirect(url_for("assessment.grading"))
    except quizzes.QuizError as error:
        db_session.rollback()
        flash(str(error), "error")
        return redirect(url_for("assessment.grade_attempt", attempt_id=attempt.id))
    db_session.commit()
    flash(_("Grades saved."), "success")
    return redirect(url_for("assessment.grading"))


def _render_grading(attempt: QuizAttempt, form: GradingForm) -> str:
    quiz = db_session.get(Quiz, attempt.quiz_id)
    return render_template("assessment/grade_attempt.html", attempt=attempt, form=form,
                           employee=db_session.get(Employee, attempt.employee_id),
                           course=db_session.get(Course, quiz.course_id) if quiz is not None else None)


@bp.route("/enrolments/<int:enrolment_id>/survey", methods=["GET", "POST"])
@signed_in
def answer_survey(enrolment_id: int) -> ResponseReturnValue:
    enrolment = _own_enrolment(enrolment_id)
    survey = surveys.survey_to_show(enrolment.course)  # GET reads only: the survey is made by the first answer
    if survey.id is not None and surveys.has_answered(survey.id, enrolment.id):
        flash(_("You have already answered this survey. Thank you."), "info")
        return redirect(url_for("enrollment.detail", enrolment_id=enrolment.id))
    form = survey_form(survey.questions)
    if request.method != "POST":
        return _render_survey(enrolment, survey, form)
    if not form.validate():
        return _render_survey(enrolment, survey, form), 400
    try:
        surveys.answer(current_user, enrolment, surveys.ensure_survey(enrolment.course), form.answers())
    except surveys.SurveyAlreadyAnswered as error:  # a second click, or another tab
        db_session.rollback()
        flash(str(error), "info")
        return redirect(url_for("enrollment.detail", enrolment_id=enrolment.id))
    except surveys.SurveyError as error:
        db_session.rollback()
        flash(str(error), "error")
        return _render_survey(enrolment, surveys.survey_to_show(enrolment.course), form), 400
    db_session.commit()
    flash(_("Thank you for answering the survey."), "success")
    return redirect(url_for("enrollment.detail", enrolment_id=enrolment.id))


def _render_survey(enrolment: Enrolment, survey: Survey, form: SurveyForm) -> str:
    return render_template("assessment/survey.html", enrolment=enrolment, survey=survey, form=form,
                           min_respondents=surveys.min_respondents())


@bp.route("/catalog/design/<code>/survey-results")
@require(Permission.ASSESSMENT_RESULTS_READ)
def survey_results(code: str) -> ResponseReturnValue:
    """Results in whole groups of at least SURVEY_MIN_RESPONDENTS (app/assessment/surveys.py)."""
    course = course_by_code(code)
    if course is None:
        abort(404)
    survey = surveys.survey_of_course(course.id)
    session_id = request.args.get("session", "")
    training_sessions = sessions_of_course(course.id)
    chosen = next((s.id for s in training_sessions if str(s.id) == session_id), None)
    result = surveys.results(course, chosen)
    language = current_language()
    charts = {q.question.position: render(count_chart(q.question.text_ja if language == "ja" else q.question.text_en,
                                                      [str(i) for i in range(1, 6)], q.counts, _("Answers by rating")))
              for q in result.questions if q.total}
    return render_template("assessment/survey_results.html", course=course, survey=survey, result=result,
                           charts=charts, training_sessions=training_sessions,
                           session_id=str(chosen) if chosen else "")


@bp.route("/catalog/design/<code>/quiz", methods=["GET", "POST"])
@require(Permission.CATALOG_COURSE_EDIT)
def edit_quiz(code: str) -> ResponseReturnValue:
    """HR authors the quiz in the browser (the same structure as a course file's quiz section)."""
    course = course_by_code(code)
    if course is None:
        abort(404)
    quiz = quizzes.quiz_for_course(course.id)
    form = QuizEditorForm()
    if request.method != "POST":
        if quiz is not None:
            form.pass_mark.data, form.attempts_allowed.data = quiz.pass_mark, quiz.attempts_allowed
            form.time_limit_minutes.data, form.shuffle.data = quiz.time_limit_minutes, quiz.shuffle
            form.show_answers.data, form.opens_after_session.data = quiz.show_answers, quiz.opens_after_session
            form.show_answers_between_attempts.data = quiz.show_answers_between_attempts
            form.questions.data = questions_to_text(quiz.questions)
        else:
            form.pass_mark.data = course.quiz_pass_mark or 70
            form.attempts_allowed.data, form.opens_after_session.data, form.show_answers.data = 2, True, True
    if form.validate_on_submit():
        parsed, problems = questions_from_text(form.questions.data)
        if problems:
            form.questions.errors = problems
        else:
            if quiz is None:
                quiz = Quiz(course_id=course.id, updated_at=now())
                db_session.add(quiz)
            quiz.pass_mark, quiz.attempts_allowed = form.pass_mark.data, form.attempts_allowed.data
            quiz.time_limit_minutes = form.time_limit_minutes.data or None
            quiz.shuffle, quiz.show_answers = bool(form.shuffle.data), bool(form.show_answers.data)
            quiz.show_answers_between_attempts = bool(form.show_answers_between_attempts.data)
            quiz.opens_after_session, quiz.updated_at = bool(form.opens_after_session.data), now()
            quiz.spec_hash = "web"
            db_session.flush()
            quizzes.replace_questions(quiz, parsed)
            if course.quiz_pass_mark is None:
                course.quiz_pass_mark = quiz.pass_mark
            record_event(current_user, "assessment.quiz_saved", "course", course.id, summary=course.code)
            db_session.commit()
            flash(_("Quiz saved (%(n)s questions).", n=len(parsed)), "success")
            return redirect(url_for("catalog.course", code=course.code))
    return render_template("assessment/edit_quiz.html", course=course, form=form), 400 if form.errors else 200


