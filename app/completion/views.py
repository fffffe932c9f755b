from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation

from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from app.catalog.models import Course
from app.completion.certificates import is_well_formed, normalise, render_pdf
from app.completion.models import Completion
from app.completion.services import record_manual_completion
from app.core.db import db_session
from app.web.external_urls import external_url
from app.org.models import Employee
from app.permissions import Permission, can_view_employee, public, require, signed_in
from app.web.spreadsheets import csv_response_rows

bp = Blueprint("completion", __name__)


def _completions_of(employee_id: int) -> list[Completion]:
    return list(db_session.scalars(select(Completion).where(Completion.employee_id == employee_id)
                                   .options(joinedload(Completion.course)).order_by(Completion.completed_on.desc())))


def _employee_or_404(employee_id: int) -> Employee:
    employee = db_session.get(Employee, employee_id)
    if employee is None:
        abort(404)
    if not can_view_employee(current_user, employee):
        abort(403)
    return employee


@bp.route("/transcript")
@signed_in
def my_transcript():  # type: ignore[no-untyped-def]
    return redirect(url_for("completion.transcript", employee_id=current_user.id))


@bp.route("/staff/<int:employee_id>/transcript")
@signed_in
def transcript(employee_id: int):  # type: ignore[no-untyped-def]
    employee = _employee_or_404(employee_id)
    completions = _completions_of(employee.id)
    valid = [c for c in completions if c.revoked_at is None]
    return render_template("completion/transcript.html", employee=employee, completions=completions,
                           total_hours=sum((c.hours for c in valid), Decimal(0)))


@bp.route("/staff/<int:employee_id>/transcript.csv")
@signed_in
def transcript_csv(employee_id: int):  # type: ignore[no-untyped-def]
    employee = _employee_or_404(employee_id)
    header = [_("Completed on"), _("Course code"), _("Course"), _("Hours"), _("How"), _("Certificate code"),
              _("Status")]
    rows = [[c.completed_on.isoformat(), c.course.code, c.course.title_ja, str(c.hours), c.source.value,
             c.certificate_code, "revoked" if c.revoked_at else "valid"] for c in _completions_of(employee.id)]
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
def certificate(code: str):  # type: ignore[no-untyped-def]
    completion = _certificate_or_404(code)
    return render_template("completion/certificate.html", completion=completion,
                           verify_url=external_url("completion.verify", code=completion.certificate_code))


@bp.route("/certificates/<code>.pdf")
@signed_in
def certificate_pdf(code: str):  # type: ignore[no-untyped-def]
    completion = _certificate_or_404(code)
    if completion.revoked_at is not None:
        abort(404)
    pdf = render_pdf(name=completion.employee.name, course_title=completion.course.title_ja,
                     course_title_en=completion.course.title_en, hours=f"{completion.hours.normalize():f}",
                     completed_on=completion.completed_on, code=completion.certificate_code,
                     verify_url=external_url("completion.verify", code=completion.certificate_code),
                     issuer=current_app.config.get("CERTIFICATE_ISSUER", "人事課長"))
    return Response(pdf, mimetype="application/pdf", headers={
        "Content-Disposition": f'attachment; filename="certificate-{completion.certificate_code}.pdf"'})


@bp.route("/verify", methods=["GET"])
@bp.route("/verify/<code>")
@public
def verify(code: str | None = None):  # type: ignore[no-untyped-def]
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
            state = "invalid" if completion is None else ("revoked" if completion.revoked_at else "valid")
    return render_template("completion/verify.html", code=code, state=state, completion=completion), \
        404 if state == "invalid" else 200


@bp.route("/completions/record", methods=["GET", "POST"])
@require(Permission.COMPLETION_RECORD)
def record():  # type: ignore[no-untyped-def]
    """HR records outside or offline training, with evidence notes."""
    errors: dict[str, str] = {}
    values = request.form if request.method == "POST" else {}
    if request.method == "POST":
        employee = db_session.scalar(select(Employee).where(
            Employee.employee_number == values.get("employee_number", "").strip()))
        course = db_session.scalar(select(Course).where(Course.code == values.get("course_code", "").strip()))
        if employee is None:
            errors["employee_number"] = _("No employee with this number.")
        if course is None:
            errors["course_code"] = _("No course with this code.")
        try:
            completed_on = date.fromisoformat(values.get("completed_on", ""))
        except ValueError:
            errors["completed_on"] = _("Enter a date.")
        try:
            hours = Decimal(values.get("hours", "") or "0")
            if hours < 0 or hours > 9999:
                raise InvalidOperation
        except InvalidOperation:
            errors["hours"] = _("Enter hours from 0 to 9999.")
        note = values.get("evidence_note", "").strip()
        if not note:
            errors["evidence_note"] = _("Describe the evidence (certificate, organiser, document number).")
        if not errors:
            try:
                completion = record_manual_completion(current_user, employee, course, completed_on, hours, note)
            except ValueError as error:
                errors["course_code"] = str(error)
            else:
                db_session.commit()
                flash(_("Completion recorded for %(name)s.", name=employee.name), "success")
                return redirect(url_for("completion.certificate", code=completion.certificate_code))
    return render_template("completion/record.html", errors=errors, values=values), 400 if errors else 200


