from __future__ import annotations

import hashlib
import secrets
from datetime import date
from pathlib import Path

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from app.clock import today
from app.db import db_session
from app.hooks import after_staff_import
from app.org import queries
from app.org.forms import RolesForm, StaffImportApplyForm, StaffImportForm, TemporaryPasswordForm, role_label
from app.org.models import Employee, RoleName
from app.org.reference import ensure_grades
from app.org.services import grant_role, import_staff, revoke_role
from app.pagination import paginate
from app.permissions import Permission, can_view_employee, has_permission, require, signed_in, visible_employee_filter

bp = Blueprint("org", __name__, url_prefix="/org")


def _int_arg(name: str) -> int | None:
    raw = request.args.get(name, "")
    return int(raw) if raw.isdigit() else None


@bp.route("/staff")
@require(Permission.ORG_EMPLOYEE_READ)
def staff():  # type: ignore[no-untyped-def]
    q = request.args.get("q", "")[:100]
    stmt = queries.staff_directory(
        visible_employee_filter(current_user), q=q, unit_id=_int_arg("unit"), grade_id=_int_arg("grade"),
        include_inactive=request.args.get("inactive") == "1",
    )
    page = paginate(stmt, per_page=50)
    return render_template("org/staff.html", page=page, q=q, units=queries.units_in_tree_order(),
                           grades=queries.all_grades())


def _load_employee(employee_id: int) -> Employee:
    employee = db_session.get(Employee, employee_id)
    if employee is None:
        abort(404)
    if not can_view_employee(current_user, employee):
        abort(403)
    return employee


@bp.route("/staff/<int:employee_id>")
@signed_in
def employee_detail(employee_id: int):  # type: ignore[no-untyped-def]
    employee = _load_employee(employee_id)
    roles_form = RolesForm(data={"roles": [r.value for r in employee.roles]})
    return render_template(
        "org/employee.html", employee=employee, history=queries.placement_history(employee.id),
        manager=queries.manager_of(employee), roles_form=roles_form,
        password_form=TemporaryPasswordForm(), role_label=role_label,
    )


@bp.route("/staff/<int:employee_id>/temporary-password", methods=["POST"])
@require(Permission.AUTH_PASSWORD_RESET)
def temporary_password(employee_id: int):  # type: ignore[no-untyped-def]
    from app.auth.services import issue_temporary_password

    employee = _load_employee(employee_id)
    form = TemporaryPasswordForm()
    if not form.validate_on_submit():
        flash(_("Tick the confirmation to issue a temporary password."), "error")
        return redirect(url_for("org.employee_detail", employee_id=employee.id))
    password = issue_temporary_password(current_user, employee)
    db_session.commit()
    # Shown once, on this response only; never stored in the session or a flash message.
    return render_template("org/temporary_password.html", employee=employee, password=password)


@bp.route("/staff/<int:employee_id>/roles", methods=["POST"])
@require(Permission.AUTH_ROLE_ASSIGN)
def update_roles(employee_id: int):  # type: ignore[no-untyped-def]
    employee = _load_employee(employee_id)
    form = RolesForm()
    if not form.validate_on_submit():
        flash(_("Choose roles from the list."), "error")
        return redirect(url_for("org.employee_detail", employee_id=employee.id))
    wanted = {RoleName(value) for value in form.roles.data or []}
    if employee.id == current_user.id and RoleName.ADMIN not in wanted:
        flash(_("You cannot remove your own administrator role."), "error")
        return redirect(url_for("org.employee_detail", employee_id=employee.id))
    for role in RoleName:
        if role in wanted:
            grant_role(current_user, employee, role)
        else:
            revoke_role(current_user, employee, role)
    db_session.commit()
    flash(_("Roles updated."), "success")
    return redirect(url_for("org.employee_detail", employee_id=employee.id))


@bp.route("/units")
@require(Permission.ORG_EMPLOYEE_READ)
def units():  # type: ignore[no-untyped-def]
    return render_template("org/units.html", units=queries.units_in_tree_order())


# --- staff list import ----------------------------------------------------------------------


def _import_dir() -> Path:
    path = Path(current_app.config["UPLOAD_DIR"]) / "staff-imports"
    path.mkdir(parents=True, exist_ok=True)
    return path


@bp.route("/import", methods=["GET", "POST"])
@require(Permission.ORG_STAFF_IMPORT)
def staff_import():  # type: ignore[no-untyped-def]
    """Upload → preview (a dry run) → apply. The uploaded file waits under a random token."""
    form = StaffImportForm()
    if request.method == "GET":
        form.as_of.data = today()
        return render_template("org/import.html", form=form, report=None)
    if not form.validate_on_submit():
        return render_template("org/import.html", form=form, report=None), 400
    raw = form.file.data.read()
    as_of: date = form.as_of.data or today()
    ensure_grades()
    report = import_staff(raw, current_user, as_of=as_of, dry_run=True)
    db_session.rollback()
    apply_form = None
    if report.ok:
        token = secrets.token_hex(16)
        (_import_dir() / f"{token}.csv").write_bytes(raw)
        apply_form = StaffImportApplyForm(data={"token": token, "digest": hashlib.sha256(raw).hexdigest(),
                                                "as_of": as_of.isoformat()})
    status = 200 if report.ok else 422
    return render_template("org/import.html", form=form, report=report, apply_form=apply_form,
                           filename=form.file.data.filename), status


@bp.route("/import/apply", methods=["POST"])
@require(Permission.ORG_STAFF_IMPORT)
def staff_import_apply():  # type: ignore[no-untyped-def]
    form = StaffImportApplyForm()
    token = form.token.data or ""
    if not form.validate_on_submit() or not (len(token) == 32 and all(c in "0123456789abcdef" for c in token)):
        abort(400)
    path = _import_dir() / f"{token}.csv"
    if not path.exists():
        flash(_("The uploaded file has expired. Please upload it again."), "error")
        return redirect(url_for("org.staff_import"))
    raw = path.read_bytes()
    if hashlib.sha256(raw).hexdigest() != form.digest.data:
        abort(400)
    try:
        as_of = date.fromisoformat(form.as_of.data)
    except ValueError:
        abort(400)
    ensure_grades()  # the preview's were rolled back with it
    report = import_staff(raw, current_user, as_of=as_of, dry_run=False)
    if not report.ok:  # the organisation changed since the preview
        db_session.rollback()
        return render_template("org/import.html", form=StaffImportForm(), report=report,
                               apply_form=None, filename=""), 422
    after_staff_import(as_of)
    db_session.commit()
    path.unlink(missing_ok=True)
    counts = report.counts()
    flash(_("Staff list imported: %(added)s added, %(transferred)s transferred, %(updated)s updated, "
            "%(deactivated)s deactivated, %(reactivated)s reactivated.", **counts), "success")
    return redirect(url_for("org.staff"))
