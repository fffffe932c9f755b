from __future__ import annotations

from decimal import Decimal

from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from app.catalog.queries import assignments_with_courses
from app.completion.certificates import is_well_formed, normalise, render_pdf
from app.completion.forms import CompletionRecordForm
from app.completion.history import cycle_history
from app.completion.models import Completion
from app.completion.services import record_manual_completion
from app.core.clock import today
from app.core.db import db_session
from app.permissions import Permission, can_view_employee, public, require, signed_in, viewable_employee_or_abort
from app.web.external_urls import external_url
from app.web.locale import gettext as _
from app.web.spreadsheets import csv_response_rows

bp = Blueprint("completion", __name__)


def _completions_of(employee_id: int) -> list[Completion]:
    return list(db_session.scalars(select(Completion).where(Completion.employee_id == employee_id)
                                   .options(joinedload(Completion.course)).order_by(Completion.completed_on.desc())))


@bp.route("/transcript")
@signed_in
def my_transcript() -> ResponseReturnValue:
    return redirect(url_for("completion.transcript", employee_id=current_user.id))


@bp.route("/staff/<int:employee_id>/transcript")
@signed_in
def transcript(employee_id: int) -> ResponseReturnValue:
    employee = viewable_employee_or_abort(current_user, employee_id)
    completions = _completions_of(employee.id)
    valid = [c for c in completions if c.revoked_at is None]
    day = today()
    return render_template("completion/transcript.html", employee=employee, completions=completions,
                           total_hours=sum((c.hours for c in valid), Decimal(0)), today=day,
                           cycles=cycle_history(assignments_with_courses(employee.id), completions, day))


@bp.route("/staff/<int:employee_id>/transcript.csv")
@signed_in
def transcript_csv(employee_id: int) -> ResponseReturnValue:
    employee = viewable_employee_or_abort(current_user, employee_id)
    header = [_("Completed on"), _("Course code"), _("Course"), _("Hours"), _("How"), _("Certificate code"),
              _("Valid until"), _("Status")]
    day = today()
    rows = [[c.completed_on.isoformat(), c.course.code, c.course.title_ja, str(c.hours), c.source.value,
             c.certificate_code, c.valid_until.isoformat() if c.valid_until else "",
             "revoked" if c.revoked_at else ("expired" if c.is_expired_on(day) else "valid")]
            for c in _completions_of(employee.id)]
    return csv_response_rows(f"transcript-{employee.employee_number}.csv", header, rows)


def _certificate_or_404(code: str) -> Completion:
    completion = db_session.scalar(select(Completion).where(Completion.certificate_code == normalise(code))
                                   .options(joinedload(Completion.course), joinedload(Completion.employee)))
    if completion is None:
        abort(404)
    if not can_view_employee(current_user, completion.employee):
        abort(403)
    return completion


@bp.route("/certificates/<code>")
@signed_in
def certificate(code: str) -> ResponseReturnValue:
    completion = _certificate_or_404(code)
    return render_template("completion/certificate.html", completion=completion, today=today(),
                           verify_url=external_url("completion.verify", code=completion.certificate_code))


@bp.route("/certificates/<code>.pdf")
@signed_in
def certificate_pdf(code: str) -> ResponseReturnValue:
    completion = _certificate_or_404(code)
    if completion.revoked_at is not None:
        abort(404)
    pdf = render_pdf(name=completion.employee.name, course_title=completion.course.title_ja,
                     course_title_en=completion.course.title_en, hours=f"{completion.hours.normalize():f}",
                     completed_on=completion.completed_on, code=completion.certificate_code,
                     valid_until=completion.valid_until,
                     verify_url=external_url("completion.verify", code=completion.certificate_code),
                     issuer=current_app.config.get("CERTIFICATE_ISSUER", "人事課長"))
    return Response(pdf, mimetype="application/pdf", headers={
        "Content-Disposition": f'attachment; filename="certificate-{completion.certificate_code}.pdf"'})


@bp.route("/verify", methods=["GET"])
@bp.route("/verify/<code>")
@public
def verify(code: str | None = None) -> ResponseReturnValue:
    """Anyone can check a certificate: genuine, revoked, or not ours. Shows the minimum needed."""
    code = code or request.args.get("code", "")
    completion = None
    state = None
    if code:
        if not is_well_formed(current_app.config["SECRET_KEY"], code):
            state = "invalid"
        else:
            completion = db_session.scalar(select(Completion).where(Completion.certificate_code == normalise(code))
                                           .options(joinedload(Completion.course), joinedload(Completion.employee)))
            state = "invalid" if completion is None else (
                "revoked" if completion.revoked_at else ("expired" if completion.is_expired_on(today()) else "valid"))
    return render_template("completion/verify.html", code=code, state=state, completion=completion), \
        404 if state == "invalid" else 200


@bp.route("/completions/record", methods=["GET", "POST"])
@require(Permission.COMPLETION_RECORD)
def record() -> ResponseReturnValue:
    """HR records outside or offline training, with evidence notes."""
    form = CompletionRecordForm()
    if form.validate_on_submit() and form.employee is not None and form.course is not None:
        employee = form.employee
        try:
            completion = record_manual_completion(current_user, employee, form.course, form.completed_on.data,
                                                  form.hours.data, form.evidence_note.data)
        except ValueError as error:  # already completed: the service says so
            db_session.rollback()
            form.course_code.errors = [*form.course_code.errors, str(error)]
        else:
            db_session.commit()
            flash(_("Completion recorded for %(name)s.", name=employee.name), "success")
            return redirect(url_for("completion.certificate", code=completion.certificate_code))
    return render_template("completion/record.html", form=form), 400 if form.is_submitted() else 200
