from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TypeVar

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from app.catalog.models import Course, CourseKind, Track
from app.core.clock import TOKYO, now
from app.cohorts import queries, services
from app.cohorts.models import Application, Cohort, Decision, Endorsement, FieldworkTeam, Milestone, Submission, SubmissionFile
from app.cohorts.uploads import UploadError, check_upload
from app.core.db import db_session
from app.web.ids import parse_id, parse_ids, parse_int
from app.web.markdown import render_markdown
from app.org.models import Employee, Grade, Unit, UnitKind
from app.permissions import Permission, has_permission, headed_units, require, signed_in, unit_in_subtree
from app.cohorts.models import team_mentors

bp = Blueprint("cohorts", __name__, url_prefix="/cohorts")

T = TypeVar("T")
QUOTA_MAX = 100_000  # places in a cohort (or a department's cap): far more than any prefecture has staff


def _get_by_form_id(model: type[T], field: str) -> T | None:
    """The row whose id the form field holds, or None (missing, not an id, or no such row)."""
    row_id = parse_id(request.form.get(field))
    return None if row_id is None else db_session.get(model, row_id)


def _cohort_or_404(cohort_id: int) -> Cohort:
    cohort = db_session.get(Cohort, cohort_id)
    if cohort is None:
        abort(404)
    return cohort


def _is_hr() -> bool:
    return has_permission(current_user, Permission.COHORT_MANAGE)


@bp.route("/")
@signed_in
def index():  # type: ignore[no-untyped-def]
    cohorts = list(db_session.scalars(select(Cohort).order_by(Cohort.applications_open_at.desc())))
    mine = {a.cohort_id: a for a in db_session.scalars(select(Application).where(
        Application.employee_id == current_user.id))}
    mentoring = list(db_session.scalars(select(FieldworkTeam).join(
        team_mentors, team_mentors.c.team_id == FieldworkTeam.id).where(team_mentors.c.employee_id == current_user.id)))
    return render_template("cohorts/index.html", cohorts=cohorts, mine=mine, now=now(), mentoring=mentoring)


@bp.route("/<int:cohort_id>", methods=["GET", "POST"])
@signed_in
def detail(cohort_id: int):  # type: ignore[no-untyped-def]
    """The cohort page; employees apply, edit or withdraw here."""
    cohort = _cohort_or_404(cohort_id)
    application = db_session.scalar(select(Application).where(Application.cohort_id == cohort.id,
                                                               Application.employee_id == current_user.id))
    if request.method == "POST":
        statement = request.form.get("statement", "")
        theme = request.form.get("theme", "")
        answers = [request.form.get(f"answer-{i}", "") for i in range(len(cohort.questions))]
        # What the page offered: apply, or change or withdraw the application it showed.
        intent = request.form.get("action") or request.form.get("intent") or ("edit" if application else "apply")
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
            return render_template("cohorts/detail.html", cohort=cohort, application=application,
                                   values=request.form, body=render_markdown(cohort.programme.body_md),
                                   is_participant=services.is_participant(current_user.id, cohort.id)), 400
        db_session.commit()
        flash(message, "success")
        return redirect(url_for("cohorts.detail", cohort_id=cohort.id))
    return render_template("cohorts/detail.html", cohort=cohort, application=application, values={},
                           body=render_markdown(cohort.programme.body_md),
                           team=services.team_of(current_user.id, cohort.id),
                           is_participant=services.is_participant(current_user.id, cohort.id))


@bp.route("/endorsements", methods=["GET", "POST"])
@require(Permission.COHORT_ENDORSE)
def endorsements():  # type: ignore[no-untyped-def]
    """A manager endorses or declines applications of their staff, with a comment."""
    roots = headed_units(current_user)
    pending = [a for a in db_session.scalars(select(Application).where(
        Application.endorsement == Endorsement.PENDING, Application.is_withdrawn.is_(False)))
        if a.employee_id != current_user.id and unit_in_subtree(a.employee.unit, roots)]
    if request.method == "POST":
        application = _get_by_form_id(Application, "application_id")
        if application is None:
            abort(404)
        if not services.may_endorse(current_user, application):
            abort(403)
        try:
            services.endorse(current_user, application, request.form.get("decision") == "endorse",
                             request.form.get("comment", ""))
        except services.CohortError as error:  # withdrawn, or endorsed by someone else meanwhile
            db_session.rollback()
            flash(str(error), "error")
            return redirect(url_for("cohorts.endorsements"))
        db_session.commit()
        flash(_("Your decision was recorded."), "success")
        return redirect(url_for("cohorts.endorsements"))
    return render_template("cohorts/endorsements.html", applications=pending)


# --- HR: open, select, teams, milestones -----------------------------------------------------


def _local(name: str) -> datetime | None:
    raw = request.form.get(name, "")
    try:
        return datetime.fromisoformat(raw).replace(tzinfo=TOKYO)
    except ValueError:
        return None


@bp.route("/manage", methods=["GET", "POST"])
@require(Permission.COHORT_MANAGE)
def manage():  # type: ignore[no-untyped-def]
    programmes = list(db_session.scalars(select(Course).where(Course.kind == CourseKind.PROGRAMME,
                                                              Course.track == Track.COHORT_PROGRAMME)))
    departments = list(db_session.scalars(select(Unit).where(Unit.kind == UnitKind.DEPARTMENT).order_by(Unit.sort_order)))
    grades = list(db_session.scalars(select(Grade).order_by(Grade.rank)))
    errors: dict[str, str] = {}
    if request.method == "POST":
        programme = _get_by_form_id(Course, "programme")
        opens, closes = _local("opens"), _local("closes")
        quota = parse_int(request.form.get("quota", ""), minimum=1, maximum=QUOTA_MAX)
        if programme is None or programme not in programmes:
            errors["programme"] = _("Choose a cohort programme.")
        if not request.form.get("name", "").strip():
            errors["name"] = _("Give the cohort a name.")
        if opens is None:
            errors["opens"] = _("Enter a date and time.")
        if closes is None:
            errors["closes"] = _("Enter a date and time.")
        if quota is None:
            errors["quota"] = _("Enter a quota from 1 to %(max)s.", max=QUOTA_MAX)
        caps: dict[Unit, int] = {}
        for department in departments:
            raw = request.form.get(f"cap-{department.id}", "").strip()
            if raw:
                cap = parse_int(raw, maximum=QUOTA_MAX)
                if cap is None:
                    errors[f"cap-{department.id}"] = _("Enter a whole number or leave it empty.")
                else:
                    caps[department] = cap
        if not errors and quota is not None:
            settings = services.CohortSettings(
                name=request.form["name"].strip(), fiscal_year=(opens.year if opens.month >= 4 else opens.year - 1),
                applications_open_at=opens, applications_close_at=closes, quota=quota,
                requires_endorsement=request.form.get("requires_endorsement") == "y",
                questions=[q.strip() for q in request.form.get("questions", "").splitlines() if q.strip()])
            chosen = [g for g in grades if str(g.id) in request.form.getlist("grades")]
            try:
                cohort = services.open_cohort(current_user, programme, settings, chosen, caps)
            except services.CohortError as error:
                db_session.rollback()
                errors["closes"] = str(error)
            else:
                db_session.commit()
                flash(_("Cohort opened for applications."), "success")
                return redirect(url_for("cohorts.selection", cohort_id=cohort.id))
    cohorts = list(db_session.scalars(select(Cohort).order_by(Cohort.created_at.desc())))
    return render_template("cohorts/manage.html", programmes=programmes, departments=departments, grades=grades,
                           cohorts=cohorts, errors=errors, values=request.form), 400 if errors else 200


@bp.route("/<int:cohort_id>/selection", methods=["GET", "POST"])
@require(Permission.COHORT_MANAGE)
def selection(cohort_id: int):  # type: ignore[no-untyped-def]
    cohort = _cohort_or_404(cohort_id)
    if request.method == "POST":
        action = request.form.get("action", "")
        try:
            if action == "publish":
                count = services.publish_results(current_user, cohort)
                message = _("Results published; %(n)s applicants are told.", n=count)
            else:
                application = _get_by_form_id(Application, "application_id")
                if application is None or application.cohort_id != cohort.id:
                    abort(404)
                if action == "withdraw":
                    reserve = services.withdraw_participant(current_user, application, request.form.get("reason", ""))
                    message = (_("%(name)s withdrew. First reserve: %(reserve)s — promote them to fill the place.",
                                 name=application.employee.name, reserve=reserve.employee.name) if reserve
                               else _("%(name)s withdrew. There is no reserve.", name=application.employee.name))
                elif action == "promote":
                    services.promote_reserve(current_user, application)
                    message = _("%(name)s is now selected.", name=application.employee.name)
                elif action in {d.value for d in Decision}:
                    shown = request.form.get("from", "")  # the decision the page showed
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
    apps = queries.applications(cohort.id)
    by_department: dict[int | None, int] = {}
    for application in apps:
        if application.decision == Decision.SELECTED and not application.is_withdrawn:
            by_department[application.department_id] = by_department.get(application.department_id, 0) + 1
    return render_template("cohorts/selection.html", cohort=cohort, applications=apps, by_department=by_department,
                           reserve=services.first_reserve(cohort), now=now())


@bp.route("/<int:cohort_id>/teams", methods=["GET", "POST"])
@require(Permission.COHORT_MANAGE)
def teams(cohort_id: int):  # type: ignore[no-untyped-def]
    cohort = _cohort_or_404(cohort_id)
    participants = [a for a in queries.applications(cohort.id) if a.decision == Decision.SELECTED and not a.is_withdrawn]
    if request.method == "POST":
        members = [db_session.get(Employee, i) for i in parse_ids(request.form.getlist("members"))]
        numbers = [n for n in request.form.get("mentors", "").replace(",", " ").split() if n]
        mentors = list(db_session.scalars(select(Employee).where(Employee.employee_number.in_(numbers))))
        host = db_session.scalar(select(Unit).where(Unit.code == request.form.get("host_unit", "").strip()))
        try:
            if host is None:
                raise services.CohortError(_("Unknown host division code."))
            if len(mentors) != len(set(numbers)):
                raise services.CohortError(_("Unknown mentor employee number."))
            services.form_team(current_user, cohort, request.form.get("name", "") or _("Team"), host,
                               request.form.get("theme", ""), request.form.get("problem", ""),
                               [m for m in members if m is not None], mentors)
        except services.CohortError as error:
            db_session.rollback()
            flash(str(error), "error")
        else:
            db_session.commit()
            flash(_("Team formed."), "success")
        return redirect(url_for("cohorts.teams", cohort_id=cohort.id))
    return render_template("cohorts/teams.html", cohort=cohort, teams=queries.teams(cohort.id), participants=participants)


@bp.route("/<int:cohort_id>/milestones", methods=["POST"])
@require(Permission.COHORT_MANAGE)
def set_milestone(cohort_id: int):  # type: ignore[no-untyped-def]
    cohort = _cohort_or_404(cohort_id)
    milestone = _get_by_form_id(Milestone, "milestone_id")
    due = _local("due_at")
    if milestone is None or milestone.cohort_id != cohort.id or due is None:
        flash(_("Enter a date and time."), "error")
    else:
        milestone.due_at = due
        milestone.per_team = request.form.get("per_team") == "y"
        db_session.commit()
        flash(_("Milestone updated."), "success")
    return redirect(url_for("cohorts.board", cohort_id=cohort.id))


@bp.route("/<int:cohort_id>/board", methods=["GET", "POST"])
@signed_in
def board(cohort_id: int):  # type: ignore[no-untyped-def]
    """HR and mentors: every participant's attendance and milestone status at a glance."""
    cohort = _cohort_or_404(cohort_id)
    all_teams = queries.teams(cohort.id)
    if not (_is_hr() or any(services.is_mentor(current_user.id, t) for t in all_teams)):
        abort(403)
    if request.method == "POST" and _is_hr():
        count = services.evaluate_completions(cohort)
        db_session.commit()
        flash(_("Completion checked: %(n)s participants have completed.", n=count), "success")
        return redirect(url_for("cohorts.board", cohort_id=cohort.id))
    rows, stones = queries.progress_board(cohort)
    return render_template("cohorts/board.html", cohort=cohort, rows=rows, milestones=stones,
                           met={r.application.id: queries.completion_met(cohort, r) for r in rows})


# --- the work: submissions, files, reviews ---------------------------------------------------


@bp.route("/<int:cohort_id>/work", methods=["GET", "POST"])
@signed_in
def work(cohort_id: int):  # type: ignore[no-untyped-def]
    """A participant's (team's) milestones and submissions."""
    cohort = _cohort_or_404(cohort_id)
    if not services.is_participant(current_user.id, cohort.id):
        abort(403)
    team = services.team_of(current_user.id, cohort.id)
    stones = queries.milestones(cohort.id)
    if request.method == "POST":
        milestone = next((m for m in stones if str(m.id) == request.form.get("milestone_id")), None)
        if milestone is None:
            abort(400)
        checked = []
        try:
            for upload in request.files.getlist("files"):
                if not upload or not upload.filename:
                    continue
                checked.append(check_upload(upload.filename, upload.read(), current_app.config["COHORT_UPLOAD_MAX_BYTES"]))
            services.submit_work(current_user, milestone, team, request.form.get("text", ""), checked,
                                 Path(current_app.config["UPLOAD_DIR"]))
        except (UploadError, services.CohortError) as error:
            db_session.rollback()
            flash(str(error), "error")
            return redirect(url_for("cohorts.work", cohort_id=cohort.id))
        db_session.commit()
        flash(_("Submitted. Your mentor is asked to review it."), "success")
        return redirect(url_for("cohorts.work", cohort_id=cohort.id))
    history = {m.id: list(db_session.scalars(select(Submission).where(
        Submission.milestone_id == m.id,
        (Submission.team_id == team.id) if (m.per_team and team) else (Submission.employee_id == current_user.id))
        .order_by(Submission.version.desc()))) for m in stones}
    return render_template("cohorts/work.html", cohort=cohort, team=team, milestones=stones, history=history, now=now())


def _may_see_submission(submission: Submission) -> bool:
    if _is_hr():
        return True
    team = db_session.get(FieldworkTeam, submission.team_id) if submission.team_id else None
    if team is not None:
        return services.is_mentor(current_user.id, team) or any(m.employee_id == current_user.id for m in team.members)
    if submission.employee_id == current_user.id:
        return True
    own_team = services.team_of(submission.employee_id, submission.milestone.cohort_id) if submission.employee_id else None
    return own_team is not None and services.is_mentor(current_user.id, own_team)


@bp.route("/submissions/<int:submission_id>", methods=["GET", "POST"])
@signed_in
def submission(submission_id: int):  # type: ignore[no-untyped-def]
    item = db_session.get(Submission, submission_id)
    if item is None:
        abort(404)
    if not _may_see_submission(item):
        abort(403)
    if request.method == "POST":
        scores = {key.split("-", 1)[1]: score for key, value in request.form.items()
                  if key.startswith("criterion-") and (score := parse_int(value)) is not None}
        try:
            services.review(current_user, item, request.form.get("decision") == "accept", scores,
                            request.form.get("comment", ""))
        except services.CohortError as error:
            db_session.rollback()
            flash(str(error), "error")
        else:
            db_session.commit()
            flash(_("Review saved."), "success")
        return redirect(url_for("cohorts.submission", submission_id=item.id))
    team = db_session.get(FieldworkTeam, item.team_id) if item.team_id else None
    may_review = _is_hr() or (team is not None and services.is_mentor(current_user.id, team))
    return render_template("cohorts/submission.html", submission=item, team=team, may_review=may_review,
                           text=render_markdown(item.text))


@bp.route("/files/<int:file_id>")
@signed_in
def download(file_id: int):  # type: ignore[no-untyped-def]
    """Files download only for the team, its mentors and HR."""
    stored = db_session.get(SubmissionFile, file_id)
    if stored is None:
        abort(404)
    item = db_session.get(Submission, stored.submission_id)
    if item is None or not _may_see_submission(item):
        abort(403)
    path = Path(current_app.config["UPLOAD_DIR"]) / "cohorts" / stored.stored_name
    if not path.is_file():
        abort(404)
    return send_file(path, mimetype=stored.content_type, as_attachment=True, download_name=stored.original_name)


@bp.route("/<int:cohort_id>/showcase")
@signed_in
def showcase(cohort_id: int):  # type: ignore[no-untyped-def]
    cohort = _cohort_or_404(cohort_id)
    return render_template("cohorts/showcase.html", cohort=cohort, teams=queries.teams(cohort.id),
                           render_markdown=render_markdown)




@bp.route("/<int:cohort_id>/abstract", methods=["POST"])
@signed_in
def abstract(cohort_id: int):  # type: ignore[no-untyped-def]
    """A team writes its final abstract for the showcase."""
    cohort = _cohort_or_404(cohort_id)
    team = services.team_of(current_user.id, cohort.id)
    if team is None:
        abort(403)
    team.abstract = request.form.get("abstract", "").strip()[:5000]
    db_session.commit()
    flash(_("Abstract saved."), "success")
    return redirect(url_for("cohorts.work", cohort_id=cohort.id))
