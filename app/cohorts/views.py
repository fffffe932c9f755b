"""The cohort programme's pages: applying and endorsing, HR's selection, teams and milestones, the
participants' fieldwork and the mentors' reviews. Each view loads and authorises (app/permissions.py),
validates its form (app/cohorts/forms.py), calls one service, commits and redirects."""
from __future__ import annotations

from pathlib import Path
from typing import TypeVar

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, send_file, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from flask_wtf import FlaskForm

from app.catalog.services import CatalogError, save_rubric
from app.cohorts import queries, services
from app.cohorts.forms import (
    AbstractForm,
    ApplicationForm,
    EndorsementForm,
    MilestoneForm,
    ReviewForm,
    RubricForm,
    SelectionForm,
    TeamForm,
    WorkForm,
    application_form,
    new_cohort_form,
    review_form,
    rubric_edit_form,
)
from app.cohorts.handover import handed_over_notice
from app.cohorts.labels import MILESTONE_LABELS
from app.cohorts.models import (
    Application,
    Cohort,
    Decision,
    FieldworkTeam,
    Milestone,
    MilestoneKind,
    Submission,
    SubmissionFile,
    rubric_digest,
)
from app.cohorts.uploads import CheckedFile, UploadError, check_upload
from app.core.clock import now
from app.core.db import Base, db_session
from app.core.fiscal import fiscal_year_of
from app.permissions import (
    Permission,
    can_endorse_application,
    can_manage_cohorts,
    can_review_submission,
    can_see_submission,
    can_view_progress_board,
    is_cohort_participant,
    require,
    signed_in,
)
from app.web import confirmations
from app.web.confirmations import Step
from app.web.locale import gettext as _
from app.web.markdown import render_markdown

bp = Blueprint("cohorts", __name__, url_prefix="/cohorts")

M = TypeVar("M", bound=Base)


def _row_or_404(model: type[M], row_id: int | None) -> M:
    """The row with this id (from the path or a form field), or 404 (missing, not an id, no such row)."""
    row = None if row_id is None else db_session.get(model, row_id)
    if row is None:
        abort(404)
    return row


def _cohort_or_404(cohort_id: int) -> Cohort:
    return _row_or_404(Cohort, cohort_id)


def _flash_form_errors(form: FlaskForm) -> None:
    """For a form whose fields are not on the page (hidden values, buttons): say which field and why."""
    for field in form:
        for error in field.errors:
            flash(f"{field.label.text}: {error}" if field.label.text else str(error), "error")


@bp.route("/")
@signed_in
def index() -> ResponseReturnValue:
    return render_template("cohorts/index.html", cohorts=queries.cohorts_by_opening(),
                           mine=queries.applications_by_cohort(current_user.id), now=now(),
                           mentoring=queries.teams_mentored_by(current_user.id))


# --- applying and endorsing ----------------------------------------------------------------------


def _render_detail(cohort: Cohort, application: Application | None, form: ApplicationForm) -> str:
    return render_template("cohorts/detail.html", cohort=cohort, application=application, form=form,
                           body=render_markdown(cohort.programme.body_md),
                           is_participant=is_cohort_participant(current_user, cohort))


@bp.route("/<int:cohort_id>", methods=["GET", "POST"])
@signed_in
def detail(cohort_id: int) -> ResponseReturnValue:
    """The cohort page; employees apply, edit or withdraw here."""
    cohort = _cohort_or_404(cohort_id)
    application = queries.application_of(cohort.id, current_user.id)
    form = application_form(cohort.questions)
    if request.method != "POST":
        if application is not None:
            form.fill_from(application.statement, application.theme, application.answers)
        return _render_detail(cohort, application, form)
    if not form.validate():
        return _render_detail(cohort, application, form), 400
    # What the page offered: apply, or change or withdraw the application it showed.
    intent = form.chosen_intent(application is not None)
    statement, theme, answers = form.statement.data or "", form.theme.data or "", form.answers()
    try:
        if intent == "withdraw" and application is not None:
            services.withdraw_application(current_user, application)
            message = _("Your application was withdrawn.")
        elif intent == "edit" and application is not None:
            services.edit_application(current_user, application, statement, theme, answers)
            message = _("Your application was updated.")
        elif application is not None:  # applied already (a second click on Apply)
            raise services.Stale(_("You have already applied to this cohort."))
        else:
            services.apply(current_user, cohort, statement, theme, answers)
            message = _("Thank you for applying. Your manager is asked to endorse your application.") \
                if cohort.requires_endorsement else _("Thank you for applying.")
    except services.Stale as error:
        db_session.rollback()
        flash(str(error), "error")
        return redirect(url_for("cohorts.detail", cohort_id=cohort.id))
    except services.CohortError as error:
        db_session.rollback()
        flash(str(error), "error")
        return _render_detail(cohort, application, form), 400
    db_session.commit()
    flash(message, "success")
    return redirect(url_for("cohorts.detail", cohort_id=cohort.id))


def _render_endorsements(form: EndorsementForm, failed_id: int | None = None) -> str:
    pending = [a for a in queries.pending_endorsements() if can_endorse_application(current_user, a.employee)]
    return render_template("cohorts/endorsements.html", applications=pending, form=form, failed_id=failed_id)


@bp.route("/endorsements", methods=["GET", "POST"])
@require(Permission.COHORT_ENDORSE)
def endorsements() -> ResponseReturnValue:
    """A manager endorses or declines applications of their staff, with a comment."""
    form = EndorsementForm()
    if request.method != "POST":
        return _render_endorsements(form)
    application = _row_or_404(Application, form.application_row_id)
    if not services.may_endorse(current_user, application):
        notice = handed_over_notice(current_user, application)  # a page opened before a transfer
        if notice is None:
            abort(403)
        flash(notice, "error")
        return redirect(url_for("cohorts.endorsements"))
    if not form.validate():
        return _render_endorsements(form, application.id), 400
    try:
        services.endorse(current_user, application, form.is_endorsed, form.comment.data or "")
    except services.CohortError as error:  # withdrawn, or endorsed by someone else meanwhile
        db_session.rollback()
        flash(str(error), "error")
        return redirect(url_for("cohorts.endorsements"))
    db_session.commit()
    flash(_("Your decision was recorded."), "success")
    return redirect(url_for("cohorts.endorsements"))


# --- HR: open, select, teams, milestones -----------------------------------------------------


@bp.route("/manage", methods=["GET", "POST"])
@require(Permission.COHORT_MANAGE)
def manage() -> ResponseReturnValue:
    grades = queries.grades()
    form = new_cohort_form(queries.cohort_programmes(), queries.departments())
    if form.validate_on_submit():
        programme, opens, closes, quota = form.chosen_programme(), form.opens.at, form.closes.at, form.quota.number
        assert programme is not None and opens is not None and closes is not None and quota is not None  # validated
        settings = services.CohortSettings(
            name=form.name.data.strip(), fiscal_year=fiscal_year_of(opens).year, applications_open_at=opens,
            applications_close_at=closes, quota=quota, requires_endorsement=bool(form.requires_endorsement.data),
            questions=form.question_lines())
        try:
            cohort = services.open_cohort(current_user, programme, settings, form.chosen_grades(grades), form.caps())
        except services.CohortError as error:
            db_session.rollback()
            form.closes.errors = [*form.closes.errors, str(error)]
        else:
            db_session.commit()
            flash(_("Cohort opened for applications."), "success")
            return redirect(url_for("cohorts.selection", cohort_id=cohort.id))
    return render_template("cohorts/manage.html", form=form, grades=grades,
                           cohorts=queries.cohorts_by_creation()), 400 if form.errors else 200


def _render_selection(cohort: Cohort) -> str:
    applications = queries.applications(cohort.id)
    by_department: dict[int | None, int] = {}
    for application in applications:
        if application.decision == Decision.SELECTED and not application.is_withdrawn:
            by_department[application.department_id] = by_department.get(application.department_id, 0) + 1
    return render_template("cohorts/selection.html", cohort=cohort, applications=applications,
                           by_department=by_department, reserve=services.first_reserve(cohort), now=now())


@bp.route("/<int:cohort_id>/selection", methods=["GET", "POST"])
@require(Permission.COHORT_MANAGE)
def selection(cohort_id: int) -> ResponseReturnValue:
    cohort = _cohort_or_404(cohort_id)
    if request.method != "POST":
        return _render_selection(cohort)
    form = SelectionForm()
    if not form.validate():
        _flash_form_errors(form)
        return _render_selection(cohort), 400
    action = form.action.data or ""
    if action == "publish" and cohort.results_published_at is None and now() >= cohort.applications_close_at:
        told = [a for a in queries.applications(cohort.id) if not a.is_withdrawn]
        shown = confirmations.fingerprint(cohort.id, [(a.id, a.decision.value, a.reserve_rank) for a in told])
        which = confirmations.step(form.fingerprint.data, shown)
        if which is not Step.CONFIRMED:  # who is told what; nothing is published yet
            if which is Step.STALE:
                flash(confirmations.stale_message(), "error")
            return render_template("cohorts/publish_confirm.html", cohort=cohort, told=told, fingerprint=shown,
                                   decisions=list(Decision)), \
                confirmations.STALE_STATUS if which is Step.STALE else 200
    try:
        if action == "publish":
            count = services.publish_results(current_user, cohort)
            message = _("Results published; %(n)s applicants are told.", n=count)
        else:
            application = _row_or_404(Application, form.application_row_id)
            if application.cohort_id != cohort.id:
                abort(404)
            if action == "withdraw":
                reserve = services.withdraw_participant(current_user, application, form.reason.data or "")
                message = (_("%(name)s withdrew. First reserve: %(reserve)s — promote them to fill the place.",
                             name=application.employee.name, reserve=reserve.employee.name) if reserve
                           else _("%(name)s withdrew. There is no reserve.", name=application.employee.name))
            elif action == "promote":
                services.promote_reserve(current_user, application)
                message = _("%(name)s is now selected.", name=application.employee.name)
            elif action in {d.value for d in Decision}:
                shown = form.shown_decision.data or ""  # the decision the page showed
                services.decide(current_user, application, Decision(action),
                                expected=Decision(shown) if shown in {d.value for d in Decision} else None)
                message = _("Saved: %(name)s.", name=application.employee.name)
            else:
                abort(400)
    except services.CohortError as error:
        db_session.rollback()
        flash(str(error), "error")
    else:
        db_session.commit()
        flash(message, "success")
    return redirect(url_for("cohorts.selection", cohort_id=cohort.id))


def _render_teams(cohort: Cohort, form: TeamForm) -> str:
    participants = [a for a in queries.applications(cohort.id)
                    if a.decision == Decision.SELECTED and not a.is_withdrawn]
    return render_template("cohorts/teams.html", cohort=cohort, teams=queries.teams(cohort.id),
                           participants=participants, form=form)


@bp.route("/<int:cohort_id>/teams", methods=["GET", "POST"])
@require(Permission.COHORT_MANAGE)
def teams(cohort_id: int) -> ResponseReturnValue:
    cohort = _cohort_or_404(cohort_id)
    form = TeamForm()
    if request.method != "POST":
        return _render_teams(cohort, form)
    if not form.validate():
        return _render_teams(cohort, form), 400
    numbers = form.mentor_numbers()
    mentors = queries.employees_by_number(numbers)
    host = queries.unit_by_code(form.host_code())
    try:
        if host is None:
            raise services.CohortError(_("Unknown host division code."), "host_unit")
        if len(mentors) != len(set(numbers)):
            raise services.CohortError(_("Unknown mentor employee number."), "mentors")
        services.form_team(current_user, cohort, form.name.data or _("Team"), host, form.theme.data or "",
                           form.problem.data or "", queries.employees_by_id(form.member_ids()), mentors)
    except services.CohortError as error:
        db_session.rollback()
        field = getattr(form, error.field, None) if error.field else None
        if field is None:
            flash(str(error), "error")
        else:  # beside its field, with everything typed kept
            field.errors = [*field.errors, str(error)]
        return _render_teams(cohort, form), 400
    db_session.commit()
    flash(_("Team formed."), "success")
    return redirect(url_for("cohorts.teams", cohort_id=cohort.id))


def _render_board(cohort: Cohort, milestone_form: MilestoneForm | None = None, failed_id: int | None = None) -> str:
    rows, stones = queries.progress_board(cohort)
    return render_template("cohorts/board.html", cohort=cohort, rows=rows, milestones=stones,
                           met={r.application.id: queries.completion_met(cohort, r) for r in rows},
                           milestone_form=milestone_form, failed_id=failed_id)


@bp.route("/<int:cohort_id>/milestones", methods=["POST"])
@require(Permission.COHORT_MANAGE)
def set_milestone(cohort_id: int) -> ResponseReturnValue:
    cohort = _cohort_or_404(cohort_id)
    form = MilestoneForm()
    milestone = _row_or_404(Milestone, form.milestone_row_id)
    if milestone.cohort_id != cohort.id:
        abort(404)
    due_at = form.due_at.at
    if not form.validate() or due_at is None:
        return _render_board(cohort, form, milestone.id), 400
    services.set_milestone(current_user, milestone, due_at, bool(form.per_team.data))
    db_session.commit()
    flash(_("Milestone updated."), "success")
    return redirect(url_for("cohorts.board", cohort_id=cohort.id))


def _render_rubric(cohort: Cohort, milestone: str, form: RubricForm) -> str:
    return render_template("cohorts/rubric.html", cohort=cohort, milestone=milestone, form=form,
                           programme=cohort.programme)


@bp.route("/<int:cohort_id>/rubrics/<milestone>", methods=["GET", "POST"])
@require(Permission.CATALOG_COURSE_EDIT)
def rubric(cohort_id: int, milestone: str) -> ResponseReturnValue:
    """HR edits the rubric of one milestone. It belongs to the programme (its course file), so
    every cohort of the programme grades by it; the edit is a web edit of that file course."""
    cohort = _cohort_or_404(cohort_id)
    if milestone not in {kind.value for kind in MilestoneKind}:
        abort(404)
    form = rubric_edit_form()
    if request.method != "POST":
        form.fill_from((cohort.programme.rubrics or {}).get(milestone, []))
        return _render_rubric(cohort, milestone, form)
    if not form.validate():
        return _render_rubric(cohort, milestone, form), 400
    criteria = form.criteria()
    try:
        changed = save_rubric(current_user, cohort.programme, milestone, criteria)
    except CatalogError as error:  # the form checks the same rules: a last word, never a 500
        db_session.rollback()
        flash(str(error), "error")
        return _render_rubric(cohort, milestone, form), 400
    db_session.commit()
    label = MILESTONE_LABELS.get(milestone, milestone)
    if not changed:
        flash(_("No change to the rubric of %(milestone)s.", milestone=label), "success")
    elif criteria:
        flash(_("Rubric of %(milestone)s saved (%(n)s criteria).", milestone=label, n=len(criteria)), "success")
    else:
        flash(_("Rubric of %(milestone)s removed.", milestone=label), "success")
    return redirect(url_for("cohorts.board", cohort_id=cohort.id))


@bp.route("/<int:cohort_id>/board", methods=["GET", "POST"])
@signed_in
def board(cohort_id: int) -> ResponseReturnValue:
    """HR and mentors: every participant's attendance and milestone status at a glance."""
    cohort = _cohort_or_404(cohort_id)
    if not can_view_progress_board(current_user, cohort):
        abort(403)
    if request.method == "POST" and can_manage_cohorts(current_user):
        count = services.evaluate_completions(cohort)
        db_session.commit()
        flash(_("Completion checked: %(n)s participants have completed.", n=count), "success")
        return redirect(url_for("cohorts.board", cohort_id=cohort.id))
    return _render_board(cohort)


# --- the work: submissions, files, reviews ---------------------------------------------------


def _render_work(cohort: Cohort, team: FieldworkTeam | None, stones: list[Milestone], *,
                 work_form: WorkForm | None = None, failed_id: int | None = None,
                 abstract_form: AbstractForm | None = None) -> str:
    return render_template("cohorts/work.html", cohort=cohort, team=team, milestones=stones,
                           history=queries.submission_history(stones, team, current_user.id), now=now(),
                           rubrics=queries.rubrics_by_milestone(cohort, stones),
                           work_form=work_form, failed_id=failed_id, abstract_form=abstract_form)


@bp.route("/<int:cohort_id>/work", methods=["GET", "POST"])
@signed_in
def work(cohort_id: int) -> ResponseReturnValue:
    """A participant's (team's) milestones and submissions."""
    cohort = _cohort_or_404(cohort_id)
    if not is_cohort_participant(current_user, cohort):
        abort(403)
    team = services.team_of(current_user.id, cohort.id)
    stones = queries.milestones(cohort.id)
    if request.method != "POST":
        return _render_work(cohort, team, stones)
    form = WorkForm()
    milestone = next((m for m in stones if m.id == form.milestone_row_id), None)
    if milestone is None:
        abort(400)
    if not form.validate():
        return _render_work(cohort, team, stones, work_form=form, failed_id=milestone.id), 400
    checked: list[CheckedFile] = []
    try:
        for upload in form.uploads():
            checked.append(check_upload(upload.filename or "", upload.read(),
                                        current_app.config["COHORT_UPLOAD_MAX_BYTES"]))
        services.submit_work(current_user, milestone, team, form.text.data or "", checked,
                             Path(current_app.config["UPLOAD_DIR"]))
    except (UploadError, services.CohortError) as error:
        db_session.rollback()
        flash(str(error), "error")
        return redirect(url_for("cohorts.work", cohort_id=cohort.id))
    db_session.commit()
    flash(_("Submitted. Your mentor is asked to review it."), "success")
    return redirect(url_for("cohorts.work", cohort_id=cohort.id))


def _render_submission(item: Submission, form: ReviewForm, rubric: list[dict[str, object]]) -> str:
    team = db_session.get(FieldworkTeam, item.team_id) if item.team_id else None
    return render_template("cohorts/submission.html", submission=item, team=team, form=form, rubric=rubric,
                           rubric_version=rubric_digest(rubric),
                           may_review=can_review_submission(current_user, item), text=render_markdown(item.text))


@bp.route("/submissions/<int:submission_id>", methods=["GET", "POST"])
@signed_in
def submission(submission_id: int) -> ResponseReturnValue:
    item = _row_or_404(Submission, submission_id)
    if not can_see_submission(current_user, item):
        abort(403)
    rubric = queries.milestone_rubric(item.milestone)
    form = review_form(rubric)
    if request.method != "POST":
        return _render_submission(item, form, rubric)
    if not form.validate():
        return _render_submission(item, form, rubric), 400
    try:
        services.review(current_user, item, form.is_accepted, form.scores(), form.comment.data or "",
                        rubric_seen=form["rubric_version"].data or None)
    except services.CohortError as error:
        db_session.rollback()
        flash(str(error), "error")
    else:
        db_session.commit()
        flash(_("Review saved."), "success")
    return redirect(url_for("cohorts.submission", submission_id=item.id))


@bp.route("/files/<int:file_id>")
@signed_in
def download(file_id: int) -> ResponseReturnValue:
    """Files download only for the team, its mentors and HR."""
    stored = _row_or_404(SubmissionFile, file_id)
    item = db_session.get(Submission, stored.submission_id)
    if item is None or not can_see_submission(current_user, item):
        abort(403)
    path = Path(current_app.config["UPLOAD_DIR"]) / "cohorts" / stored.stored_name
    if not path.is_file():
        abort(404)
    return send_file(path, mimetype=stored.content_type, as_attachment=True, download_name=stored.original_name)


@bp.route("/<int:cohort_id>/showcase")
@signed_in
def showcase(cohort_id: int) -> ResponseReturnValue:
    cohort = _cohort_or_404(cohort_id)
    return render_template("cohorts/showcase.html", cohort=cohort, teams=queries.teams(cohort.id),
                           render_markdown=render_markdown)


@bp.route("/<int:cohort_id>/abstract", methods=["POST"])
@signed_in
def abstract(cohort_id: int) -> ResponseReturnValue:
    """A team writes its final abstract for the showcase."""
    cohort = _cohort_or_404(cohort_id)
    team = services.team_of(current_user.id, cohort.id)
    if team is None:
        abort(403)
    form = AbstractForm()
    if not form.validate():
        return _render_work(cohort, team, queries.milestones(cohort.id), abstract_form=form), 400
    try:
        services.save_abstract(current_user, team, form.abstract.data or "")
    except services.CohortError as error:
        db_session.rollback()
        flash(str(error), "error")
        return redirect(url_for("cohorts.work", cohort_id=cohort.id))
    db_session.commit()
    flash(_("Abstract saved."), "success")
    return redirect(url_for("cohorts.work", cohort_id=cohort.id))
